"""Seamless loops on the real tiny model (builtin:tiny): an animation whose walk returns from
its last keyframe to its first, and a blend whose last transition leads back to its first
prompt (issue 29, item 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.animation import frames as frames_module
from studio.animation.plan import plan_animation
from studio.animation.render import render_animation
from studio.blend.plan import plan_blend
from studio.blend.render import render_blend
from studio.events import NullEvents
from studio.media.checkpoint import FrameCheckpoint
from studio.media.perceptual import ssim_distance
from studio.media.readers import read_frames
from studio.pipeline.interpolate import slerp
from studio.pipeline.latents import seeded_noise
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    DiffusionSettings,
    OutputSettings,
    PromptSettings,
)

SCHEDULE = "0: a red circle\n2: a blue square\n4: a green star"
DIFFUSION = DiffusionSettings(
    model="builtin:tiny", steps=2, guidance=1.0, width=64, height=64, seed=11
)


def animation(loop: bool) -> AnimationSpec:
    return AnimationSpec(
        prompts=PromptSettings(schedule=SCHEDULE),
        diffusion=DIFFUSION,
        animation=AnimationSettings(fps=8, batch_size=2, loop=loop),
        output=OutputSettings(format="png"),
    )


def frames_of(result) -> list[np.ndarray]:
    return list(read_frames(result.outputs[0].path))


@pytest.fixture(scope="module")
def looped(tmp_path_factory, manager):
    """The looped render (batches of two), with the starting latents of every frame."""
    starts: list[torch.Tensor] = []
    real = frames_module.denoise

    def spy(unet, scheduler, steps, noise, *args, **kwargs):
        # Every frame starts from noise, batches in order: rows come in frame order.
        starts.extend(row.detach().clone() for row in noise)
        return real(unet, scheduler, steps, noise, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(frames_module, "denoise", spy)
        result = render_animation(
            animation(True), tmp_path_factory.mktemp("looped"), manager=manager
        )
    return result, frames_of(result), starts


def test_a_looped_walk_adds_a_closing_segment_as_long_as_the_average(looped):
    result, frames, _ = looped
    plan = plan_animation(animation(True))
    # Keyframes 0, 2, 4: segments of 2, so the closing segment is frames 4 and 5.
    assert plan.closing_frames == 2
    assert result.frames == len(frames) == plan.frames == 6
    assert result.denoise_steps == plan.predicted_denoise_steps == 6 * 2


def test_the_last_frame_leads_into_frame_0_without_repeating_it(looped):
    _, frames, _ = looped
    steps = [ssim_distance(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    wrap = ssim_distance(frames[-1], frames[0])
    assert not np.array_equal(frames[-1], frames[0])
    assert 0 < wrap <= 2 * max(steps)
    # Without the loop the video ends on the last keyframe (frame 4), and playing it again
    # jumps from there straight to frame 0.
    assert ssim_distance(frames[4], frames[0]) > 1.5 * wrap


def test_the_closing_segment_slerps_from_the_last_keyframe_to_the_first(looped):
    _, _, starts = looped
    plan = plan_animation(animation(True))
    assert len(starts) == 6
    shape = tuple(starts[0].shape)
    keys = seeded_noise(shape, list(plan.keyframe_seeds), torch.device("cpu"), torch.float32)
    assert torch.equal(starts[4], keys[2])  # the last keyframe itself
    expected = slerp(keys[2:3], keys[0:1], torch.tensor([0.5]))[0]
    torch.testing.assert_close(starts[5], expected, rtol=1e-5, atol=1e-5)

    # The wrap is one step like the others: the angle from frame 5 to keyframe 0 (frame 0)
    # is the angle from frame 4 to frame 5.
    def angle(a, b):
        cos = torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0)
        return float(torch.arccos(cos.clamp(-1, 1)))

    assert angle(starts[5], keys[0]) == pytest.approx(angle(starts[4], starts[5]), rel=0.05)


class _Killed(Exception):
    """Stands for the process being killed mid-render."""


def test_a_killed_looped_render_resumes_to_the_same_frames(looped, tmp_path, manager):
    result, frames, _ = looped

    class KillInTheClosingSegment(NullEvents):
        def progress(self, done, total, preview=None):
            if done >= 4:
                raise _Killed

    # A killed process never removes its checkpoint: keep it, as the kill would.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FrameCheckpoint, "remove", lambda self: None)
        with pytest.raises(_Killed):
            render_animation(
                animation(True), tmp_path, manager=manager, events=KillInTheClosingSegment()
            )
    resumed = render_animation(animation(True), tmp_path, manager=manager, resume=True)
    # The batch of the closing segment (frames 4 and 5) is made by the resumed render.
    assert resumed.resume is not None and resumed.resume["from_frame"] == 4
    assert resumed.denoise_steps == result.denoise_steps == 6 * 2
    again = frames_of(resumed)
    assert len(again) == 6
    assert all(np.array_equal(a, b) for a, b in zip(again, frames, strict=True))


def blend(loop: bool) -> BlendSpec:
    return BlendSpec(
        prompts=BlendPromptSettings(
            keyframes=tuple(BlendKeyframe(p) for p in ("a red circle", "a blue square"))
        ),
        diffusion=DIFFUSION.replace(scheduler="ddim"),
        blend=BlendSettings(setup="auto", diffusion_frames=3),
        output=BlendOutputSettings(fps=8, fill="none", format="png", loop=loop),
    )


def test_a_looped_blend_walks_back_to_its_first_prompt(tmp_path, manager):
    plan = plan_blend(blend(True))
    looped = render_blend(blend(True), tmp_path / "looped", manager=manager)
    plain = frames_of(render_blend(blend(False), tmp_path / "plain", manager=manager))
    frames = frames_of(looped)
    # Two transitions of three diffusion frames; the closing keyframe (frame 0) not shown.
    assert looped.frames == plan.video_frames == len(frames) == 4 and len(plain) == 3
    assert looped.denoise_steps == plan.predicted_denoise_steps
    assert [len(t) for t in looped.extra["tree"]["transitions"]] == [3, 3]
    for a, b in zip(frames[:3], plain, strict=True):
        assert np.array_equal(a, b)
    # The last frame is the in-between of the closing transition: between the last prompt
    # and the first, not the first itself.
    assert not np.array_equal(frames[-1], frames[0])
    steps = [ssim_distance(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    assert 0 < ssim_distance(frames[-1], frames[0]) <= 2 * max(steps)


def test_a_looped_blend_computes_its_first_keyframe_once_even_across_a_resume(tmp_path, manager):
    spec = blend(True).replace(
        prompts=BlendPromptSettings(
            keyframes=tuple(BlendKeyframe(p) for p in ("a red circle", "a blue square", "a star"))
        )
    )
    plan = plan_blend(spec)
    # The closing keyframe is keyframe 0 again: kept from the start, not computed twice.
    assert plan.keyframe_twins == (0, 1, 2, 0) and plan.computed_keyframes == 3
    assert plan.predicted_denoise_steps == 3 * 2 + 3 * plan.tree.transition_steps
    whole = render_blend(spec, tmp_path / "whole", manager=manager)
    assert whole.denoise_steps == plan.predicted_denoise_steps

    class KillAfterTheFirstTransition(NullEvents):
        def progress(self, done, total, preview=None):
            if done >= 2:  # the first transition's two video frames are written
                raise _Killed

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FrameCheckpoint, "remove", lambda self: None)
        with pytest.raises(_Killed):
            render_blend(
                spec, tmp_path / "killed", manager=manager, events=KillAfterTheFirstTransition()
            )
    resumed = render_blend(spec, tmp_path / "killed", manager=manager, resume=True)
    assert resumed.resume is not None and resumed.resume["from_frame"] == 2
    assert resumed.denoise_steps == whole.denoise_steps
    again, frames = frames_of(resumed), frames_of(whole)
    assert len(again) == len(frames) == 6
    assert all(np.array_equal(a, b) for a, b in zip(again, frames, strict=True))
