"""The blend engine on the real tiny model (builtin:tiny), the store and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio.blend import transitions as transitions_module
from studio.blend.plan import plan_blend
from studio.blend.render import render_blend
from studio.errors import RenderCancelled
from studio.events import CancelToken, NullEvents
from studio.media.readers import read_frames
from studio.spec import (
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    DiffusionSettings,
)
from tests.support.run_cli import TINY_64
from tests.support.run_cli import studio as studio_cli

PROMPTS = ("a red circle", "a blue square", "a green star")


def make_spec(
    prompts=PROMPTS[:2],
    *,
    steps=3,
    frames=3,
    fill="none",
    duration=0.0,
    fmt="png",
    guidance=1.0,
    **blend,
) -> BlendSpec:
    return BlendSpec(
        prompts=BlendPromptSettings(keyframes=tuple(BlendKeyframe(p) for p in prompts)),
        diffusion=DiffusionSettings(
            model="builtin:tiny",
            steps=steps,
            guidance=guidance,
            width=64,
            height=64,
            seed=7,
            scheduler=blend.pop("scheduler", "ddim"),
        ),
        blend=BlendSettings(setup="auto", diffusion_frames=frames, **blend),
        output=BlendOutputSettings(fps=8, duration=duration, fill=fill, format=fmt),
    )


def frames_of(result) -> list[np.ndarray]:
    return list(read_frames(result.outputs[0].path))


class Recorder(NullEvents):
    def __init__(self):
        self.calls: list[str] = []
        self.plan = None

    def started(self, plan):
        self.calls.append("started")
        self.plan = plan

    def output(self, output):
        self.calls.append("output")

    def finished(self, result):
        self.calls.append("finished")

    def cancelled(self):
        self.calls.append("cancelled")

    def failed(self, error):
        self.calls.append("failed")


@pytest.fixture(scope="module")
def movie(tmp_path_factory, manager):
    """A three-prompt movie with guidance, each UNet call counted with the latents it took."""
    spec = make_spec(PROMPTS, steps=4, frames=4, guidance=5.0)
    pipe = manager.load("builtin:tiny").pipe
    calls: list[tuple[int, int]] = []  # (timestep, latents)
    handle = pipe.unet.register_forward_hook(
        lambda m, args, out: calls.append((int(args[1]), out.sample.shape[0]))
    )
    events = Recorder()
    try:
        result = render_blend(
            spec, tmp_path_factory.mktemp("movie"), manager=manager, events=events
        )
    finally:
        handle.remove()
    return spec, result, calls, events


def test_denoise_steps_are_counted_exactly_and_keyframes_computed_once(movie):
    spec, result, calls, events = movie
    plan = plan_blend(spec)
    # 3 keyframes x 4 steps, and per transition 2 in-between frames (4 - 2 = 2 frames).
    expected = 3 * 4 + 2 * plan.tree.transition_steps
    assert result.denoise_steps == plan.predicted_denoise_steps == expected
    assert events.plan["predicted_denoise_steps"] == expected
    # One UNet call per denoise step, each on one latent, doubled for guidance except in the
    # last guidance_stop of the schedule: the middle keyframe's trajectory was computed once
    # and shared by both transitions.
    below = spec.diffusion.guidance_stop * 1000
    assert len(calls) == expected and below > 0
    assert [n for _, n in calls] == [1 if t < below else 2 for t, _ in calls]
    assert {n for _, n in calls} == {1, 2}
    assert result.denoise_steps < result.extra["scratch_denoise_steps"]


def test_fill_none_writes_every_diffusion_frame_once(movie):
    spec, result, _, events = movie
    frames = frames_of(result)
    assert result.frames == len(frames) == result.extra["diffusion_frames"] == 7
    assert events.calls == ["started", "output", "finished"]
    for before, after in zip(frames, frames[1:], strict=False):
        assert not np.array_equal(before, after), "a frame is repeated (a join duplicated?)"
    transitions = result.extra["tree"]["transitions"]
    assert [len(t) for t in transitions] == [4, 4]
    assert [f["level"] for f in transitions[0]][0] == [f["level"] for f in transitions[0]][-1] == 0
    positions = [f["position"] for f in transitions[0]]
    assert positions == sorted(positions) and positions[0] == 0 and positions[-1] == 1
    for stage in ("unet", "vae", "text_encoder", "total", "other"):
        assert stage in result.timings


def test_same_spec_gives_same_frames(tmp_path, manager):
    spec = make_spec(frames=4)
    a = frames_of(render_blend(spec, tmp_path / "a", manager=manager))
    b = frames_of(render_blend(spec, tmp_path / "b", manager=manager))
    assert len(a) == len(b) == 4
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_crossfade_shows_each_diffusion_frame_and_fades_between(tmp_path, manager):
    none = frames_of(render_blend(make_spec(frames=3), tmp_path / "none", manager=manager))
    faded = render_blend(
        make_spec(frames=3, fill="crossfade", duration=5 / 8), tmp_path / "fade", manager=manager
    )
    video = frames_of(faded)
    assert faded.frames == len(video) == 5 and faded.extra["diffusion_frames"] == 3
    assert faded.denoise_steps == plan_blend(make_spec(frames=3)).predicted_denoise_steps
    for rank, v in enumerate((0, 2, 4)):
        assert np.array_equal(video[v], none[rank])
    for v, (a, b) in ((1, (0, 1)), (3, (1, 2))):
        mean = (none[a].astype(np.float32) + none[b]) / 2
        assert np.abs(video[v] - mean).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("scheduler", ["euler", "dpm++", "euler_a", "unipc"])
def test_schedulers_that_restart_part_way(tmp_path, manager, scheduler):
    spec = make_spec(frames=4, steps=4, scheduler=scheduler)
    result = render_blend(spec, tmp_path, manager=manager)
    frames = frames_of(result)
    assert len(frames) == 4 and result.denoise_steps == plan_blend(spec).predicted_denoise_steps
    assert all(np.isfinite(f).all() for f in frames)


@pytest.mark.parametrize("scheduler", ["ddim", "euler"])
def test_a_branch_between_equal_parents_retraces_them(tmp_path, manager, scheduler):
    """Same prompt, same seed: every branch starts on its parents' latent at its injection
    step, so with a stateless scheduler it must end exactly where they do (this pins the
    step-index bookkeeping of a branch that starts part-way)."""
    spec = make_spec(frames=5, steps=4, scheduler=scheduler)
    same = BlendKeyframe("a red circle", seed=3)
    spec = spec.replace(prompts=BlendPromptSettings(keyframes=(same, same)))
    # One branch per UNet call: a batch of them may differ in the last float bits, which
    # the equality below would see (batches: test_a_batched_level_makes_the_frames_...).
    frames = frames_of(render_blend(spec, tmp_path, manager=manager, branch_batch=1))
    assert len(frames) == 5
    assert all(np.array_equal(f, frames[0]) for f in frames)


def test_adaptive_insertion_goes_where_the_distance_is_largest(tmp_path, manager, monkeypatch):
    # A distance that grows to the right: each wave's new frames land in its rightmost gaps,
    # one per gap (3 steps: every in-between branches at step 2, in waves of 1, 2 and 1).
    monkeypatch.setitem(transitions_module.DISTANCES, "ssim", lambda a, b: b.position)
    adaptive = render_blend(make_spec(frames=6), tmp_path / "a", manager=manager)
    uniform = render_blend(
        make_spec(frames=6, insertion="uniform"), tmp_path / "u", manager=manager
    )
    positions = [f["position"] for f in adaptive.extra["tree"]["transitions"][0]]
    assert positions == [0, 0.25, 0.5, 0.75, 0.875, 1]
    positions = [f["position"] for f in uniform.extra["tree"]["transitions"][0]]
    assert positions == [0, 0.125, 0.25, 0.5, 0.75, 1]
    assert adaptive.denoise_steps == uniform.denoise_steps


def test_a_wave_puts_several_evenly_spaced_frames_into_one_wide_gap(tmp_path, manager, monkeypatch):
    # All the change where the prompt position crosses 0.3 (a jump): the gap that holds it
    # takes every frame of a wave, evenly spaced (waves of 1, 2, 2 and 1 of the one level of
    # six: half of those left), where one frame per gap would have left the jump between
    # two neighbours; each wave goes where the one before left the jump.
    def jump(a, b):
        return 1.0 if a.position < 0.3 <= b.position else 0.01 * (b.position - a.position)

    monkeypatch.setitem(transitions_module.DISTANCES, "ssim", jump)
    result = render_blend(make_spec(frames=8), tmp_path, manager=manager)
    frames = result.extra["tree"]["transitions"][0]
    positions = [round(f["position"], 4) for f in frames]
    assert positions == [0, 0.1667, 0.2222, 0.2778, 0.3056, 0.3333, 0.5, 1]
    assert len(frames_of(result)) == 8


def test_a_batched_level_makes_the_frames_of_one_branch_at_a_time(tmp_path, manager):
    # Guidance dampening (a guidance per branch), crossfeed (parents per branch) and an
    # ancestral scheduler (noise per branch): batching changes at most the last float bits.
    spec = make_spec(PROMPTS[:2], steps=5, guidance=5.0, scheduler="euler_a")
    blend = BlendSettings(
        setup="manual",
        branches=(1, 2, 4),
        injection_steps=(2, 3, 4),
        crossfeed_power=0.5,
        guidance_dampening=0.5,
        insertion="uniform",
    )
    spec = spec.model_copy(update={"blend": blend})
    pipe = manager.load("builtin:tiny").pipe
    batches: list[int] = []
    handle = pipe.unet.register_forward_hook(
        lambda m, args, out: batches.append(out.sample.shape[0])
    )
    try:
        one = render_blend(spec, tmp_path / "one", manager=manager, branch_batch=1)
        calls_one = len(batches)
        batched = render_blend(spec, tmp_path / "batched", manager=manager)
    finally:
        handle.remove()
    # One UNet call per step of each trajectory (2 keyframes x 5, then 1 x 3, 2 x 2, 4 x 1),
    # against one per step of each wave (10 + 3, then 2 x 2 in waves of 1 and 1, then
    # 3 x 1 in waves of 2, 1 and 1: half the level's frames left, rounded up).
    assert calls_one == 21 and max(batches[:calls_one]) == 2  # one latent, guided
    assert len(batches) - calls_one == 20
    # The last level's waves at its one step (unguided there: the guidance stop).
    assert batches[calls_one - 4 : calls_one] == [1] * 4 and batches[-3:] == [2, 1, 1]
    assert one.denoise_steps == batched.denoise_steps == plan_blend(spec).predicted_denoise_steps
    assert one.extra["tree"] == batched.extra["tree"]
    a, b = frames_of(one), frames_of(batched)
    assert len(a) == len(b) == 9
    for x, y in zip(a, b, strict=True):
        assert np.abs(x.astype(int) - y.astype(int)).max() <= 2


def test_budgets(tmp_path, manager):
    cut = make_spec(frames=5, steps=4, budget_steps=2)  # level 1 costs 2: the rest is cut
    result = render_blend(cut, tmp_path / "steps", manager=manager)
    assert result.extra["diffusion_frames"] == 3 and result.denoise_steps == 2 * 4 + 2
    assert result.denoise_steps == plan_blend(cut).predicted_denoise_steps
    # No time for any in-between frame: the keyframes alone, crossfaded over the video.
    rushed = make_spec(frames=5, fill="crossfade", duration=0.5, budget_seconds=1e-6)
    result = render_blend(rushed, tmp_path / "seconds", manager=manager)
    assert result.extra["diffusion_frames"] == 2 and result.frames == 4
    assert len(frames_of(result)) == 4 and result.denoise_steps == 2 * 3


def test_crossfeed_and_guidance_dampening_change_in_betweens_only(tmp_path, manager):
    plain = frames_of(render_blend(make_spec(guidance=5.0), tmp_path / "p", manager=manager))
    fed = render_blend(
        make_spec(guidance=5.0, crossfeed_power=0.5, crossfeed_range=1.0, guidance_dampening=0.5),
        tmp_path / "f",
        manager=manager,
    )
    frames = frames_of(fed)
    assert np.array_equal(frames[0], plain[0]) and np.array_equal(frames[-1], plain[-1])
    assert not np.array_equal(frames[1], plain[1])
    assert fed.denoise_steps == plan_blend(make_spec()).predicted_denoise_steps


def half_mask(path: Path) -> Path:
    from PIL import Image

    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 255  # the left half stays fixed, the right half transitions
    Image.fromarray(mask).save(path)
    return path


def test_inpainting_keeps_the_masked_region_on_the_first_keyframe(tmp_path, manager):
    spec = make_spec(frames=4, guidance=5.0)
    spec = spec.replace(blend=spec.blend.replace(inpaint_mask=str(half_mask(tmp_path / "m.png"))))
    result = render_blend(spec, tmp_path / "out", manager=manager)
    frames = frames_of(result)
    assert len(frames) == 4 and result.denoise_steps == plan_blend(spec).predicted_denoise_steps
    for frame in frames[1:]:
        assert np.array_equal(frame[:, :32], frames[0][:, :32])
    assert not np.array_equal(frames[-1][:, 40:], frames[0][:, 40:])


def test_inpainting_keeps_the_masked_region_on_a_given_image(tmp_path, manager):
    from PIL import Image

    picture = np.zeros((64, 64, 3), np.uint8)
    picture[..., 0] = np.arange(64, dtype=np.uint8)[None, :] * 4
    Image.fromarray(picture).save(tmp_path / "image.png")
    spec = make_spec(frames=3)
    spec = spec.replace(
        blend=spec.blend.replace(
            inpaint_mask=str(half_mask(tmp_path / "m.png")),
            inpaint_image=str(tmp_path / "image.png"),
        )
    )
    frames = frames_of(render_blend(spec, tmp_path / "out", manager=manager))
    for frame in frames:
        assert np.array_equal(frame[:, :32], picture[:, :32])


def test_latent_distance_renders(tmp_path, manager):
    result = render_blend(make_spec(frames=4, distance="latent"), tmp_path, manager=manager)
    assert len(frames_of(result)) == 4


def test_cancel_stops_and_keeps_the_frames_written(tmp_path, manager):
    token = CancelToken()
    events = Recorder()

    spec = make_spec(PROMPTS, frames=3, fmt="mp4")
    first_join = plan_blend(spec).joins[1]

    def progress(done, total, preview=None):
        if done >= first_join:  # the first transition is written: stop in the second
            token.cancel()

    events.progress = progress
    with pytest.raises(RenderCancelled):
        render_blend(spec, tmp_path, manager=manager, events=events, cancel=token)
    assert events.calls[-2:] == ["output", "cancelled"]
    assert len(list(read_frames(tmp_path / "blend.mp4"))) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blend.mp4"]


def test_progress_moves_with_each_diffusion_frame(tmp_path, manager):
    """One transition of four diffusion frames: the count moves while the tree is computed,
    never goes back, and reaches every video frame when they are written. (Live previews
    are off: on a slow machine they add calls within a frame, at a second apart.)"""
    spec = make_spec(frames=4)
    spec = spec.replace(diffusion=spec.diffusion.replace(preview="off"))
    seen: list[tuple[int, int]] = []
    events = Recorder()
    events.progress = lambda done, total, preview=None: seen.append((done, total))
    result = render_blend(spec, tmp_path, manager=manager, events=events)
    done = [d for d, _ in seen]
    assert result.frames == 4 and {t for _, t in seen} == {4}
    assert done == sorted(done) and done[-1] == 4
    assert len(seen) == 5  # four diffusion frames computed, then the transition written
    assert 0 < done[2] < 4, f"no progress before the end: {done}"


def test_cancel_before_any_frame_leaves_nothing(tmp_path, manager):
    token = CancelToken()
    token.cancel()
    with pytest.raises(RenderCancelled):
        render_blend(make_spec(), tmp_path, manager=manager, cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_render_records_the_tree_in_the_store(studio_home, manager):
    import studio
    from db import Store, get_run, run_to_dict
    from studio.app.runs import with_model_defaults

    run_id, result = studio.render(make_spec(frames=3), session="blends", manager=manager)
    with Store.open(studio_home).session() as s:
        run = run_to_dict(get_run(s, run_id))
    assert run["kind"] == "blend" and run["status"] == "done"
    assert run["denoise_steps"] == result.denoise_steps == run["predicted_denoise_steps"]
    assert run["plan"]["tree"]["levels"] == result.extra["tree"]["levels"]
    assert run["extra"]["tree"]["transitions"] == result.extra["tree"]["transitions"]
    # Stored as rendered: what the spec leaves unset is the model's (studio.pipeline.defaults).
    assert run["spec"] == with_model_defaults(make_spec(frames=3)).to_dict()


@pytest.mark.slow  # whole renders through CLI subprocesses (6-12 s)
def test_cli_blend_end_to_end(studio_home, tmp_path):
    out = tmp_path / "movie.mp4"
    proc = studio_cli(
        studio_home,
        "blend",
        *PROMPTS,
        *TINY_64,
        "--steps",
        "3",
        "--guidance",
        "1",
        "--branches",
        "1",
        "--injection-steps",
        "2",
        "--fill",
        "none",
        "--fps",
        "4",
        "--json",
        "--quiet",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    for key in ("run_id", "outputs", "frames", "fps", "seconds", "denoise_steps"):
        assert key in payload
    assert payload["diffusion_frames"] == payload["frames"] == 5
    assert payload["denoise_steps"] == 3 * 3 + 2 * 1
    assert payload["outputs"] == [str(out)] and len(list(read_frames(out))) == 5
    shown = studio_cli(studio_home, "runs", "show", payload["run_id"], "--json")
    run = json.loads(shown.stdout)
    assert run["kind"] == "blend" and run["plan"]["tree"]["levels"][0]["injection_step"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["a"], "give two or more prompts to blend, got 1"),
        (
            ["a", "b", "--steps", "4", "--branches", "2", "--injection-steps", "5"],
            "between 1 and 3",
        ),
        (["a", "b", "--preset", "high", "--diffusion-frames", "9"], "give one tree setup"),
        (["a", "b", "--injection-steps", "3"], "give --branches too"),
        (["a", "b", "--fill", "none", "--duration", "9"], "fill 'none' shows only diffusion"),
        (["a", "b", "--scheduler", "heun"], "cannot start part-way"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(studio_home, args, message):
    proc = studio_cli(studio_home, "blend", *args, "--model", "builtin:tiny")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_upscale_stage_repeats_the_tree_at_four_times_the_size(tmp_path, manager, tiny_upscaler):
    from studio.spec import UpscaleSettings

    spec = make_spec(PROMPTS, frames=4, guidance=5.0).replace(
        upscale=UpscaleSettings(model=str(tiny_upscaler), steps=4, guidance=3.0)
    )
    plan = plan_blend(spec)
    result = render_blend(spec, tmp_path, manager=manager)
    frames = frames_of(result)
    assert len(frames) == 7 and frames[0].shape == (256, 256, 3)
    up_tree = plan.upscale_tree
    # Both stages share their keyframes between transitions and branch part-way.
    assert result.extra["upscale_denoise_steps"] == 3 * 4 + 2 * up_tree.transition_steps
    assert result.denoise_steps == plan.predicted_denoise_steps
    assert result.extra["upscale_denoise_steps"] < 7 * 4
    for before, after in zip(frames, frames[1:], strict=False):
        assert not np.array_equal(before, after)
