"""The animation's frame work (colour matching, writer, checkpoint) runs on a worker thread
while the next batch denoises, except where a frame feeds the next (motion) or PNG frames
are made on a CPU torch's threads fill; an error on the worker fails the render as one in its own thread
would (builtin:tiny, 4 frames of 32 px)."""

from __future__ import annotations

import threading

import pytest
import torch

from studio.animation.render import render_animation
from studio.errors import MediaError
from studio.events import NullEvents
from studio.media.checkpoint import FrameCheckpoint
from studio.pipeline import gpu
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    DiffusionSettings,
    MotionSettings,
    OutputSettings,
    PromptSettings,
)

SPEC = AnimationSpec(
    prompts=PromptSettings(schedule="0: a red circle\n3: a blue square"),
    diffusion=DiffusionSettings(model="builtin:tiny", steps=2, width=32, height=32, seed=4),
    animation=AnimationSettings(fps=8, batch_size=2),
    output=OutputSettings(format="mp4"),
)


@pytest.fixture(autouse=True)
def spare_core(monkeypatch) -> None:
    """A core free beside torch's threads, whatever this machine has: the worker thread is
    used (``studio.pipeline.gpu.frame_work_beside``)."""
    monkeypatch.setattr(gpu, "usable_cores", lambda: torch.get_num_threads() + 1)


@pytest.fixture
def kept_by(monkeypatch) -> list[str]:
    """The names of the threads that keep each checkpoint frame, in order."""
    threads: list[str] = []
    add_frame = FrameCheckpoint.add_frame

    def recording(self, image):
        threads.append(threading.current_thread().name)
        add_frame(self, image)

    monkeypatch.setattr(FrameCheckpoint, "add_frame", recording)
    return threads


def test_frames_are_written_on_the_worker_and_in_order(tmp_path, manager, kept_by):
    progress = []

    class Progress(NullEvents):
        def progress(self, done, total, preview=None):
            progress.append(done)

    result = render_animation(SPEC, tmp_path, manager=manager, events=Progress())
    assert result.frames == 4 and kept_by == ["studio-frames"] * 4
    assert progress == sorted(progress) and progress[-1] == 4
    assert result.timings["other"] >= 0


def test_png_frames_on_a_cpu_torch_fills_are_written_between_batches(
    tmp_path, manager, kept_by, monkeypatch
):
    monkeypatch.setattr(gpu, "usable_cores", lambda: torch.get_num_threads())
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not gpu.frame_work_beside(cpu, encodes_here=True)
    assert gpu.frame_work_beside(cpu, encodes_here=False)  # ffmpeg encodes MP4 and GIF
    assert gpu.frame_work_beside(cuda, encodes_here=True)  # the model leaves the CPU free
    png = SPEC.replace(output=OutputSettings(format="png"))
    result = render_animation(png, tmp_path / "png", manager=manager)
    assert result.frames == 4 and kept_by == [threading.main_thread().name] * 4
    kept_by.clear()
    render_animation(SPEC, tmp_path / "mp4", manager=manager)
    assert kept_by == ["studio-frames"] * 4


def test_with_motion_feedback_frames_are_written_in_the_render_thread(tmp_path, manager, kept_by):
    spec = SPEC.replace(motion=MotionSettings(zoom="0: (1.05)"))
    render_animation(spec, tmp_path, manager=manager)
    assert kept_by == [threading.main_thread().name] * 4


def test_an_error_on_the_worker_fails_the_render_and_leaves_nothing(tmp_path, manager, monkeypatch):
    def full(self, image):
        raise MediaError("could not write checkpoint frame 0: disk full")

    monkeypatch.setattr(FrameCheckpoint, "add_frame", full)
    seen = []

    class Failed(NullEvents):
        def failed(self, error):
            seen.append(str(error))

    with pytest.raises(MediaError, match="disk full"):
        render_animation(SPEC, tmp_path, manager=manager, events=Failed())
    assert seen == ["could not write checkpoint frame 0: disk full"]
    assert list(tmp_path.iterdir()) == []  # no partial video, no checkpoint
