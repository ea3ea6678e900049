"""The render's frame worker (order, bounded queue, errors, drain and stop) and the resume
checkpoint's frame file (raw frames appended, counted only once committed)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from studio.errors import MediaError
from studio.media.background import OrderedWorker
from studio.media.checkpoint import FrameCheckpoint
from studio.spec import AnimationSpec, PromptSettings


@pytest.mark.parametrize("threaded", [True, False])
def test_jobs_run_in_the_order_submitted(threaded):
    seen = []
    worker = OrderedWorker(threaded=threaded)
    for i in range(20):
        worker.submit(lambda i=i: seen.append(i))
    worker.drain()
    assert seen == list(range(20))


def test_submit_blocks_while_the_queue_is_full():
    release = threading.Event()
    worker = OrderedWorker(depth=2)
    worker.submit(release.wait)  # running: the worker holds it
    worker.submit(lambda: None)
    worker.submit(lambda: None)  # two waiting: the queue is full
    third = threading.Thread(target=worker.submit, args=(lambda: None,))
    third.start()
    third.join(timeout=0.2)
    assert third.is_alive()  # held back: frames do not pile up behind a slow writer
    release.set()
    third.join(timeout=5)
    assert not third.is_alive()
    worker.drain()


def test_a_failed_job_is_raised_in_the_caller_and_the_later_ones_dropped():
    seen = []
    worker = OrderedWorker()

    def fail():
        raise OSError("disk full")

    worker.submit(fail)
    worker.submit(lambda: seen.append("after"))
    with pytest.raises(OSError, match="disk full"):
        worker.drain()
    assert seen == []


def test_stop_drops_the_jobs_not_started():
    release = threading.Event()
    seen = []
    worker = OrderedWorker(depth=4)
    worker.submit(release.wait)
    for i in range(3):
        worker.submit(lambda i=i: seen.append(i))
    threading.Timer(0.1, release.set).start()
    worker.stop()
    assert seen == []
    worker.drain()  # stopped: nothing to raise


SPEC = AnimationSpec(prompts=PromptSettings(schedule="0: a red circle\n3: a blue square"))


def frame(i: int) -> np.ndarray:
    return np.full((4, 6, 3), i, np.uint8)


def test_only_committed_frames_are_resumed(tmp_path):
    first = FrameCheckpoint.open(tmp_path, "animation", SPEC, resume=False)
    for i in range(3):
        first.add_frame(frame(i))
    first.commit(denoise_steps=7)
    first.add_frame(frame(3))  # cut off by a kill before its commit
    first._file.flush()

    second = FrameCheckpoint.open(tmp_path, "animation", SPEC, resume=True)
    assert second.frames_done == 3 and second.denoise_steps_before == 7
    assert [int(f[0, 0, 0]) for f in second.frames()] == [0, 1, 2]
    second.add_frame(frame(9))  # overwrites the uncommitted frame
    second.commit(denoise_steps=9)

    third = FrameCheckpoint.open(tmp_path, "animation", SPEC, resume=True)
    assert [int(f[0, 0, 0]) for f in third.frames()] == [0, 1, 2, 9]
    assert (tmp_path / ".animation.checkpoint" / "frames.rgb").stat().st_size == 4 * 72


def test_a_short_frame_file_is_not_taken_up(tmp_path):
    first = FrameCheckpoint.open(tmp_path, "animation", SPEC, resume=False)
    first.add_frame(frame(1))
    first.add_frame(frame(2))
    first.commit(denoise_steps=2)
    first.remove()  # closes the file
    assert not (tmp_path / ".animation.checkpoint").exists()

    again = FrameCheckpoint.open(tmp_path, "animation", SPEC, resume=False)
    again.add_frame(frame(1))
    again.add_frame(frame(2))
    again.commit(denoise_steps=2)
    with open(tmp_path / ".animation.checkpoint" / "frames.rgb", "r+b") as f:
        f.truncate(72)  # a frame the state counts is missing
    assert FrameCheckpoint.open(tmp_path, "animation", SPEC, resume=True).frames_done == 0


def test_a_frame_of_another_size_is_refused(tmp_path):
    checkpoint = FrameCheckpoint.open(tmp_path, "animation", SPEC, resume=False)
    checkpoint.add_frame(frame(0))
    with pytest.raises(MediaError, match=r"checkpoint frame 1 is \(2, 2, 3\), not \(4, 6, 3\)"):
        checkpoint.add_frame(np.zeros((2, 2, 3), np.uint8))
    checkpoint.remove()


def test_wait_returns_once_the_jobs_so_far_have_run():
    seen = []
    worker = OrderedWorker(depth=1)
    for i in range(3):
        worker.submit(lambda i=i: seen.append(i))
    worker.wait()
    assert seen == [0, 1, 2]
    worker.submit(lambda: seen.append(3))  # the thread goes on
    worker.drain()
    assert seen == [0, 1, 2, 3]
