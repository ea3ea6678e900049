"""Video and image inputs, motion feedback and coherence on the real tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from studio.animation.plan import plan_animation
from studio.animation.render import render_animation
from studio.app.cli import main
from studio.errors import SpecError
from studio.media.readers import probe, read_frames
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    DiffusionSettings,
    InputSettings,
    MotionSettings,
    OutputSettings,
    PromptSettings,
)
from tests.support.media import bad_file, make_video

SIZE = 64  # builtin:tiny's latents are SIZE / 8 a side


def make_spec(schedule="0: a red circle", *, steps=2, batch=1, fmt="png", **groups):
    return AnimationSpec(
        prompts=PromptSettings(schedule=schedule),
        diffusion=DiffusionSettings(
            model="builtin:tiny", steps=steps, width=SIZE, height=SIZE, seed=5
        ),
        animation=AnimationSettings(fps=10, batch_size=batch),
        output=OutputSettings(format=fmt),
        **groups,
    )


def frames_of(result) -> list[np.ndarray]:
    return list(read_frames(result.outputs[0].path))


def differ(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


@pytest.fixture
def picture(tmp_path):
    """A red disc on blue, SIZE x SIZE."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[...] = (20, 40, 160)
    image[(yy - 30) ** 2 + (xx - 34) ** 2 < 15**2] = (220, 30, 30)
    path = tmp_path / "init.png"
    Image.fromarray(image).save(path)
    return path, image


# -- CLI: a video input sets frames, fps and size ---------------------------------------------


def test_a_10_frame_video_gives_10_frames_at_its_fps_and_its_size_rounded(
    tmp_path, studio_home, capsys
):
    video = make_video(tmp_path / "clip.mp4", 10, 10, width=60, height=44)
    code = main(
        [
            "animate",
            "--prompts",
            "0: a red circle",
            "--model",
            "builtin:tiny",
            "--steps",
            "2",
            "--video-input",
            str(video),
            "--strength",
            "0: (0.5)",
            "--json",
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    payload = json.loads(captured.out)
    assert payload["frames"] == 10 and payload["fps"] == 10
    assert payload["denoise_steps"] == 10 * 1  # img2img at strength 0.5 runs 1 of 2 steps
    assert payload["input"]["rounded"] is True
    assert "rendered at 64x48" in captured.err and "64x48" in payload["input"]["notes"][0]
    info = probe(payload["outputs"][0])
    assert (info["frames"], info["fps"], info["width"], info["height"]) == (10, 10, 64, 48)


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "huge", "missing"])
def test_bad_media_exit_2_before_a_run_is_recorded(tmp_path, studio_home, capsys, kind):
    from db import Store
    from db.repository import list_runs

    path = bad_file(tmp_path, kind)
    code = main(
        ["animate", "--prompts", "0: a", "--model", "builtin:tiny", "--video-input", str(path)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and path.name in err
    store = Store.open(studio_home)
    with store.session() as s:
        assert list_runs(s) == []
    store.close()


# -- image input and strength ------------------------------------------------------------------


def test_strength_0_keeps_the_image_through_the_vae(tmp_path, manager, picture):
    path, image = picture
    spec = make_spec(input=InputSettings(image=str(path)), motion=MotionSettings(strength="0: (0)"))
    result = render_animation(spec, tmp_path / "out", manager=manager)
    assert result.denoise_steps == 0
    pipe = manager.load("builtin:tiny").pipe
    with torch.no_grad():
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1
        latents = pipe.vae.encode(x).latent_dist.mean
        round_trip = pipe.vae.decode(latents).sample
    expected = ((round_trip[0] / 2 + 0.5).clamp(0, 1) * 255).round().byte().permute(1, 2, 0)
    assert differ(frames_of(result)[0], expected.numpy()) <= 1


def test_strength_1_ignores_the_image(tmp_path, manager, picture):
    path, _ = picture
    plain = frames_of(render_animation(make_spec(), tmp_path / "plain", manager=manager))
    spec = make_spec(input=InputSettings(image=str(path)), motion=MotionSettings(strength="0: (1)"))
    ignored = frames_of(render_animation(spec, tmp_path / "ignored", manager=manager))
    assert np.array_equal(plain[0], ignored[0])


def test_strength_0_reproduces_the_image_closely_on_builtin_shapes(tmp_path, manager):
    yy, xx = np.mgrid[:128, :128]
    image = np.zeros((128, 128, 3), np.uint8)
    image[(yy - 64) ** 2 + (xx - 64) ** 2 < 30**2] = (230, 30, 30)
    path = tmp_path / "disc.png"
    Image.fromarray(image).save(path)
    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle on a black background"),
        diffusion=DiffusionSettings(steps=4, width=128, height=128),
        input=InputSettings(image=str(path)),
        motion=MotionSettings(strength="0: (0)"),
        output=OutputSettings(format="png"),
    )
    frame = frames_of(render_animation(spec, tmp_path / "out", manager=manager))[0].astype(int)
    # Only the VAE stands between them (shapes' small VAE blurs edges and tints black a bit).
    disc = image[..., 0] > 0
    assert np.abs(frame[disc].mean(axis=0) - (230, 30, 30)).max() < 25
    assert frame[~disc].mean() < 30
    assert np.abs(frame - image).mean() < 20


# -- motion feedback and coherence -------------------------------------------------------------


def test_motion_feeds_each_frame_into_the_next_one_at_a_time(tmp_path, manager):
    spec = make_spec(
        "0: a red circle\n3: a blue square",
        steps=4,
        batch=4,  # feedback needs the previous frame: the plan goes one frame at a time
        motion=MotionSettings(translate_x="0: (4)", strength="0: (0.5)", border="reflect"),
    )
    plan = plan_animation(spec)
    assert [len(b) for b in plan.batches] == [1, 1, 1, 1]
    assert plan.init_kinds == ("noise", "feedback", "feedback", "feedback")
    result = render_animation(spec, tmp_path, manager=manager)
    assert result.frames == 4
    assert result.denoise_steps == plan.predicted_denoise_steps == 4 + 3 * 2


def test_coherence_gives_the_same_frames_in_batches_of_1_and_4(tmp_path, manager):
    schedule = "0: a red circle\n4: a blue square"
    motion = MotionSettings(coherence_scale=0.6, coherence_alpha=0.5)
    one = frames_of(
        render_animation(make_spec(schedule, motion=motion), tmp_path / "one", manager=manager)
    )
    four = frames_of(
        render_animation(
            make_spec(schedule, batch=4, motion=motion), tmp_path / "four", manager=manager
        )
    )
    off = frames_of(render_animation(make_spec(schedule), tmp_path / "off", manager=manager))
    assert len(one) == len(four) == 5
    assert max(differ(a, b) for a, b in zip(one, four, strict=True)) <= 2
    assert np.array_equal(one[0], off[0])  # the first frame sets the reference
    assert max(differ(a, b) for a, b in zip(one[1:], off[1:], strict=True)) > 2


def test_coherence_noise_is_seeded_per_frame_and_batch_independent(tmp_path, manager):
    schedule = "0: a red circle\n4: a blue square"
    motion = MotionSettings(coherence_scale=0.6, coherence_alpha=0.5, coherence_noise="0: (0.5)")
    noisy = frames_of(
        render_animation(make_spec(schedule, motion=motion), tmp_path / "one", manager=manager)
    )
    batched = frames_of(
        render_animation(
            make_spec(schedule, batch=4, motion=motion), tmp_path / "four", manager=manager
        )
    )
    quiet = frames_of(
        render_animation(
            make_spec(schedule, motion=MotionSettings(coherence_scale=0.6, coherence_alpha=0.5)),
            tmp_path / "quiet",
            manager=manager,
        )
    )
    assert max(differ(a, b) for a, b in zip(noisy, batched, strict=True)) <= 2
    assert np.array_equal(noisy[0], quiet[0])  # the first frame is the reference, untouched
    assert max(differ(a, b) for a, b in zip(noisy[1:], quiet[1:], strict=True)) > 2


def test_a_negative_coherence_noise_is_refused():
    spec = make_spec("0: a", motion=MotionSettings(coherence_scale=0.5, coherence_noise="0: (-1)"))
    with pytest.raises(SpecError, match="coherence noise curve must be 0 or more"):
        plan_animation(spec)


# -- plans with inputs ------------------------------------------------------------------------


def test_a_keyframe_past_the_video_end_is_refused(tmp_path):
    video = make_video(tmp_path / "v.mp4", 30, 30)  # 10 frames at 10 fps
    spec = make_spec("0: a\n12: b", input=InputSettings(video=str(video)))
    with pytest.raises(SpecError, match="keyframe 12 .* past the end of the video input"):
        plan_animation(spec, input_frames=10)
    plan = plan_animation(
        make_spec("0: a\n4: b", input=InputSettings(video=str(video))), input_frames=10
    )
    assert plan.frames == 10 and plan.weights.segment[4:].tolist() == [1] * 6


def test_motion_with_a_video_input_is_refused(tmp_path):
    video = make_video(tmp_path / "v.mp4", 3, 10)
    spec = make_spec(input=InputSettings(video=str(video)), motion=MotionSettings(zoom="0: (1.1)"))
    with pytest.raises(SpecError, match="motion \\(zoom\\) moves the previous frame"):
        spec.check()


def test_the_audio_envelope_drives_a_motion_curve(tmp_path):
    import soundfile as sf

    from studio.animation.soundtrack import curve_variables
    from studio.spec import AudioSettings

    rate = 22050
    t = np.arange(rate * 2) / rate
    samples = np.where(t > 1.0, 0.8 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
    wav = tmp_path / "half_silent.wav"
    sf.write(wav, samples, rate)
    spec = make_spec(
        "0: a\n19: b",
        audio=AudioSettings(path=str(wav)),
        motion=MotionSettings(zoom="0: (1 + 0.1 * audio)"),
    )
    plan = plan_animation(spec, curve_variables=curve_variables(spec, None))
    zoom = plan.curves.zoom
    assert zoom.shape == (20,) and plan.curves.feedback
    assert zoom[:9].max() == pytest.approx(1.0)  # silence: no zoom
    assert zoom[12:].min() > 1.05  # the tone: zoom follows the envelope
