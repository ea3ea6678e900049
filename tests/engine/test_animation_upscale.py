"""An animation's upscale stage on the real engine: builtin:tiny draws 32 x 32 frames, a tiny
random x4 upscaler (tests/support/upscaler.py) renders each again at 128 x 128 (issue 29,
item 4). The blend's stage, which shares the upscaler, is tested in test_blend.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.animation.plan import plan_animation
from studio.animation.render import render_animation
from studio.events import NullEvents
from studio.media.checkpoint import FrameCheckpoint
from studio.media.readers import read_frames
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    DiffusionSettings,
    InputSettings,
    MotionSettings,
    OutputSettings,
    PromptSettings,
    UpscaleSettings,
)
from studio.spec.common import OutputFormat
from tests.support.media import make_video

SIZE, FACTOR = 32, 4


def make_spec(upscaler: Path, *, fmt: OutputFormat = "png", **groups) -> AnimationSpec:
    """Three frames, the second and third moved from the one before (motion feedback) and
    colour-matched to the first: what a resumed upscaled render must give back."""
    return AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n2: a blue square"),
        diffusion=DiffusionSettings(
            model="builtin:tiny", steps=3, guidance=3.0, width=SIZE, height=SIZE, seed=5
        ),
        animation=AnimationSettings(fps=8),
        output=OutputSettings(format=fmt),
        upscale=UpscaleSettings(model=str(upscaler), steps=2, guidance=3.0),
        **groups,
    )


MOTION = MotionSettings(zoom="0: (1.1)", strength="0: (0.7)", color_match="first")


@pytest.fixture(scope="module")
def uninterrupted(tiny_upscaler, manager, tmp_path_factory):
    spec = make_spec(tiny_upscaler, motion=MOTION)
    result = render_animation(spec, tmp_path_factory.mktemp("whole"), manager=manager)
    return spec, result, list(read_frames(result.outputs[0].path))


def test_every_frame_is_written_upscaled_and_its_steps_are_counted(uninterrupted):
    spec, result, frames = uninterrupted
    plan = plan_animation(spec)
    assert len(frames) == 3
    assert {f.shape for f in frames} == {(SIZE * FACTOR, SIZE * FACTOR, 3)}
    # Both stages: the drawing model's steps (img2img on the moved frames), then all the
    # upscaler's for each frame.
    assert plan.upscale_denoise_steps == result.extra["upscale_denoise_steps"] == 3 * 2
    assert result.denoise_steps == plan.predicted_denoise_steps == sum(plan.frame_steps) + 3 * 2
    for before, after in zip(frames, frames[1:], strict=False):
        assert not np.array_equal(before, after)


class Killed(Exception):
    """Stands for SIGKILL: the render stops after a frame and its checkpoint stays."""


class KillAfterTwo(NullEvents):
    def progress(self, done, total, preview=None):
        if done >= 2:
            raise Killed


def test_a_killed_upscaled_render_resumes_to_the_same_frames(
    uninterrupted, manager, tmp_path, monkeypatch
):
    spec, whole, frames = uninterrupted
    with monkeypatch.context() as m:  # a kill leaves the checkpoint; an error would not
        m.setattr(FrameCheckpoint, "remove", lambda self: None)
        with pytest.raises(Killed):
            render_animation(spec, tmp_path, manager=manager, events=KillAfterTwo())
    result = render_animation(spec, tmp_path, manager=manager, resume=True)
    # Frame 2 is moved from the low-resolution frame 1 and colour-matched to frame 0: both
    # come back from the checkpoint, whose frames are the upscaled ones.
    assert result.resume["from_frame"] == 2
    resumed = list(read_frames(result.outputs[0].path))
    assert len(resumed) == len(frames)
    for a, b in zip(resumed, frames, strict=True):
        np.testing.assert_array_equal(a, b)
    assert result.denoise_steps == whole.denoise_steps
    assert result.extra["upscale_denoise_steps"] == whole.extra["upscale_denoise_steps"]


def test_a_video_input_is_upscaled_frame_by_frame(tiny_upscaler, manager, tmp_path):
    video = make_video(tmp_path / "clip.mp4", 2, 8, width=SIZE, height=SIZE)
    spec = make_spec(
        tiny_upscaler,
        fmt="mp4",
        input=InputSettings(video=str(video)),
        motion=MotionSettings(strength="0: (0.5)"),
    ).replace(
        prompts=PromptSettings(schedule="0: a red circle"),
        upscale=UpscaleSettings(model=str(tiny_upscaler), steps=2, guidance=1.0),
    )
    plan = plan_animation(spec, input_frames=2)
    result = render_animation(spec, tmp_path / "out", manager=manager)
    frames = list(read_frames(result.outputs[0].path))
    assert len(frames) == 2 and frames[0].shape == (SIZE * FACTOR, SIZE * FACTOR, 3)
    assert result.extra["upscale_denoise_steps"] == 2 * 2
    assert result.denoise_steps == plan.predicted_denoise_steps
