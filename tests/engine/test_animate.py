"""The animation engine on the real tiny model (builtin:tiny)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.animation.render import render_animation
from studio.errors import DeviceMemoryError, ModelLoadError, RenderCancelled, ScheduleError
from studio.events import CancelToken, NullEvents
from studio.media.perceptual import consecutive_distances
from studio.media.readers import probe, read_frames
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    DiffusionSettings,
    OutputSettings,
    PromptSettings,
)


def make_spec(schedule: str, *, fmt: str = "png", steps: int = 3, batch: int = 1, **diffusion):
    return AnimationSpec(
        prompts=PromptSettings(schedule=schedule),
        diffusion=DiffusionSettings(
            model="builtin:tiny", steps=steps, width=64, height=64, seed=7, **diffusion
        ),
        animation=AnimationSettings(fps=8, batch_size=batch),
        output=OutputSettings(format=fmt),
    )


def frames_of(result) -> list[np.ndarray]:
    return list(read_frames(result.outputs[0].path))


class Recorder(NullEvents):
    def __init__(self):
        self.calls: list[str] = []
        self.progress_seen: list[tuple[int, int]] = []
        self.plan = None

    def started(self, plan):
        self.calls.append("started")
        self.plan = plan

    def progress(self, done, total, preview=None):
        self.progress_seen.append((done, total))
        assert preview is None or preview.shape == (64, 64, 3)

    def output(self, output):
        self.calls.append("output")

    def finished(self, result):
        self.calls.append("finished")

    def failed(self, error):
        self.calls.append("failed")

    def cancelled(self):
        self.calls.append("cancelled")


def test_mp4_has_last_keyframe_plus_one_frames(tmp_path, manager):
    spec = make_spec("0: a red circle\n12: a blue square\n24: a green triangle", fmt="mp4")
    events = Recorder()
    result = render_animation(spec, tmp_path, manager=manager, events=events)
    info = probe(result.outputs[0].path)
    assert result.frames == 25 and info["frames"] == 25
    assert info["fps"] == pytest.approx(8)
    assert (info["width"], info["height"]) == (64, 64)
    assert result.denoise_steps == 25 * 3
    assert events.calls == ["started", "output", "finished"]
    assert events.progress_seen[-1] == (25, 25)
    assert events.plan["predicted_denoise_steps"] == 75
    for stage in ("unet", "vae", "text_encoder", "total", "other"):
        assert stage in result.timings


def test_same_spec_gives_same_frames_and_the_same_smoothness(tmp_path, manager):
    spec = make_spec("0: a red circle\n4: a blue square")
    first = render_animation(spec, tmp_path / "a", manager=manager)
    second = render_animation(spec, tmp_path / "b", manager=manager)
    a, b = frames_of(first), frames_of(second)
    assert len(a) == len(b) == 5
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    # The writer scored the frames it wrote (issue 29, item 6): 1 - SSIM of neighbours.
    score = first.extra["smoothness"]
    on_disk = consecutive_distances(a)  # 64 px frames: scored unshrunk
    assert score == second.extra["smoothness"] == first.outputs[0].smoothness
    assert score["frames"] == 5 and score["mean"] > 0
    assert score["distances"] == pytest.approx(on_disk.tolist(), abs=1e-5)
    assert score["max_jump_frame"] == int(on_disk.argmax()) + 1


def test_keyframes_appear_once_and_match_their_own_render(tmp_path, manager):
    """Frame 4 is keyframe 1 itself: the same as rendering that keyframe alone, and not repeated."""
    spec = make_spec("0: a red circle\n4 [seed=11]: a blue square\n8: a green star")
    frames = frames_of(render_animation(spec, tmp_path / "walk", manager=manager))
    alone = frames_of(
        render_animation(
            make_spec("0 [seed=11]: a blue square"), tmp_path / "alone", manager=manager
        )
    )
    assert len(frames) == 9
    assert np.array_equal(frames[4], alone[0])
    for before, after in zip(frames, frames[1:], strict=False):
        assert not np.array_equal(before, after), "two consecutive frames are identical"


def test_batching_gives_the_same_frames(tmp_path, manager):
    schedule = "0: a red circle\n6: a blue square"
    one = frames_of(render_animation(make_spec(schedule), tmp_path / "one", manager=manager))
    four = frames_of(
        render_animation(make_spec(schedule, batch=4), tmp_path / "four", manager=manager)
    )
    assert len(one) == len(four) == 7
    for x, y in zip(one, four, strict=True):
        assert np.abs(x.astype(int) - y.astype(int)).max() <= 2


def test_an_ancestral_scheduler_draws_its_noise_from_the_seed(tmp_path, manager):
    """euler_a draws fresh noise every step: from per-frame generators seeded by the spec, so
    the frames do not depend on what else used torch's global generator, nor on batching."""
    schedule = "0: a red circle\n4: a blue square"
    spec = make_spec(schedule, scheduler="euler_a")
    torch.manual_seed(1)
    a = frames_of(render_animation(spec, tmp_path / "a", manager=manager))
    torch.manual_seed(2)
    torch.randn(1000)
    b = frames_of(render_animation(spec, tmp_path / "b", manager=manager))
    batched = make_spec(schedule, batch=3, scheduler="euler_a")
    c = frames_of(render_animation(batched, tmp_path / "c", manager=manager))
    other_seed = frames_of(
        render_animation(
            make_spec(schedule, scheduler="euler_a").replace(
                diffusion=spec.diffusion.replace(seed=8)
            ),
            tmp_path / "d",
            manager=manager,
        )
    )
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    for x, y in zip(a, c, strict=True):
        assert np.abs(x.astype(int) - y.astype(int)).max() <= 2
    assert any(
        np.abs(x.astype(int) - y.astype(int)).max() > 8 for x, y in zip(a, other_seed, strict=True)
    )


def test_each_unique_prompt_is_encoded_once(tmp_path, manager):
    spec = make_spec("0: a red circle\n3: a blue square\n6: a red circle\n9: a blue square")
    pipe = manager.load("builtin:tiny").pipe
    calls = []
    handle = pipe.text_encoder.register_forward_hook(lambda *args: calls.append(1))
    try:
        render_animation(spec, tmp_path, manager=manager)
    finally:
        handle.remove()
    assert len(calls) == 3  # "a red circle", "a blue square", and the empty negative prompt


def test_guidance_off_skips_the_negative_prompt(tmp_path, manager):
    spec = make_spec("0: a red circle\n3: a blue square", guidance=1.0)
    pipe = manager.load("builtin:tiny").pipe
    calls = []
    handle = pipe.text_encoder.register_forward_hook(lambda *args: calls.append(1))
    try:
        result = render_animation(spec, tmp_path, manager=manager)
    finally:
        handle.remove()
    assert len(calls) == 2 and result.frames == 4


@pytest.mark.parametrize("scheduler", ["ddim", "euler", "dpm++"])
def test_guidance_stops_for_the_last_share_of_the_schedule(tmp_path, manager, scheduler):
    pipe = manager.load("builtin:tiny").pipe
    calls: list[tuple[int, int]] = []  # (timestep, latents the UNet took)
    handle = pipe.unet.register_forward_hook(
        lambda m, args, out: calls.append((int(args[1]), out.sample.shape[0]))
    )
    schedule = "0: a red circle\n1: a blue square"
    try:
        settings = dict(steps=10, guidance=5.0, batch=2, scheduler=scheduler)
        spec = make_spec(schedule, guidance_stop=0.35, **settings)
        render_animation(spec, tmp_path / "stop", manager=manager)
        stopped, calls[:] = list(calls), []
        spec = make_spec(schedule, guidance_stop=0.0, **settings)
        render_animation(spec, tmp_path / "all", manager=manager)
    finally:
        handle.remove()
    # Two frames in one batch: 4 latents with guidance, 2 (the text half) under t = 350.
    assert [n for _, n in stopped] == [2 if t < 350 else 4 for t, _ in stopped]
    assert {n for _, n in stopped} == {2, 4}
    assert len(calls) == 10 and {n for _, n in calls} == {4}


def test_a_step_past_the_guidance_stop_is_an_unguided_step(tmp_path, manager):
    # Every step of a 10-step DDIM schedule (t = 901 down to 1) lies under 0.95 of it, so
    # the frames are those of no guidance at all.
    schedule = "0: a red circle\n1: a blue square"
    specs = {
        "stopped": make_spec(schedule, steps=10, guidance=5.0, guidance_stop=0.95),
        "unguided": make_spec(schedule, steps=10, guidance=1.0),
        "guided": make_spec(schedule, steps=10, guidance=5.0, guidance_stop=0.0),
    }
    got = {
        name: frames_of(render_animation(spec, tmp_path / name, manager=manager))
        for name, spec in specs.items()
    }
    assert all(np.array_equal(x, y) for x, y in zip(got["stopped"], got["unguided"], strict=True))
    assert not any(np.array_equal(x, y) for x, y in zip(got["stopped"], got["guided"], strict=True))


@pytest.mark.parametrize("scheduler", ["euler", "dpm++", "euler_a"])
def test_other_schedulers_render(tmp_path, manager, scheduler):
    spec = make_spec("0: a red circle\n2: a blue square", scheduler=scheduler)
    result = render_animation(spec, tmp_path, manager=manager)
    frames = frames_of(result)
    assert len(frames) == 3 and result.denoise_steps == 9
    assert all(np.isfinite(f).all() for f in frames)


def test_cancel_stops_and_keeps_the_frames_made(tmp_path, manager):
    token = CancelToken()
    events = Recorder()
    original = events.progress

    def progress(done, total, preview=None):
        original(done, total, preview)
        if done == 2:
            token.cancel()

    events.progress = progress
    spec = make_spec("0: a red circle\n20: a blue square", fmt="mp4")
    with pytest.raises(RenderCancelled):
        render_animation(spec, tmp_path, manager=manager, events=events, cancel=token)
    assert events.calls[-2:] == ["output", "cancelled"]
    assert probe(tmp_path / "animation.mp4")["frames"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["animation.mp4"]  # no temp files


def test_cancel_before_any_frame_leaves_nothing(tmp_path, manager):
    token = CancelToken()
    token.cancel()
    with pytest.raises(RenderCancelled):
        render_animation(make_spec("0: a red circle"), tmp_path, manager=manager, cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_is_reported_to_events(tmp_path, manager):
    events = Recorder()
    spec = make_spec("0: a red circle").replace(
        diffusion=DiffusionSettings(model="builtin:nope", width=64, height=64)
    )
    with pytest.raises(ModelLoadError, match="builtin:nope"):
        render_animation(spec, tmp_path, manager=manager, events=events)
    assert events.calls == ["failed"]


def test_bad_compel_syntax_names_the_line(tmp_path, manager):
    spec = make_spec("0: a red circle\n3: a (blue square")
    try:
        render_animation(spec, tmp_path, manager=manager)
    except ScheduleError as exc:
        assert exc.line == 2
    # compel may accept an unbalanced bracket as text; then the render must simply succeed
    else:
        assert (tmp_path / "animation").is_dir()


@pytest.mark.parametrize(
    ("cls", "method", "what"),
    [
        ("UNet2DConditionModel", "forward", "a UNet call"),
        ("AutoencoderKL", "decode", "a VAE decode"),
    ],
)
def test_running_out_of_memory_says_what_to_lower(
    tmp_path, manager, monkeypatch, cls, method, what
):
    """An allocation that fails in the model (CUDA's OutOfMemoryError) ends the render with a
    one-line error naming the call, its latents and the batch size to lower."""
    import diffusers

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(getattr(diffusers, cls), method, out_of_memory)
    events = Recorder()
    with pytest.raises(DeviceMemoryError) as caught:
        render_animation(
            make_spec("0: a red circle\n3: a blue square", batch=2),
            tmp_path,
            manager=manager,
            events=events,
        )
    message = str(caught.value)
    assert f"ran out of memory in {what} of " in message
    assert "(64x64 pixels): lower the batch size (--batch-size)" in message
    assert "\n" not in message and events.calls[-1] == "failed"
