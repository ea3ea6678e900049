"""Background jobs: ordering per device, parallelism across devices, cancel, failure, progress."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from studio.app.jobs import Job, JobRunner
from studio.errors import MediaError, RenderCancelled
from studio.events import Fanout, NullEvents, OutputFile, RenderResult

TIMEOUT = 5.0  # seconds; every wait below normally ends in milliseconds


@pytest.fixture
def runner():
    runner = JobRunner()
    yield runner
    runner.shutdown(wait=True)


def blocker() -> tuple[threading.Event, threading.Event, object]:
    """A job fn that says when it has started and then waits to be released."""
    started, release = threading.Event(), threading.Event()

    def fn(job: Job) -> str:
        started.set()
        assert release.wait(TIMEOUT)
        return "released"

    return started, release, fn


def test_result_and_timestamps(runner):
    job = runner.submit(lambda job: 42, label="answer", meta={"run_id": "r1"})

    assert job.wait(TIMEOUT)
    assert (job.status, job.result, job.error, job.error_type) == ("done", 42, None, None)
    assert job.is_finished
    assert (job.label, job.device, job.meta) == ("answer", "cpu", {"run_id": "r1"})
    assert job.created_at <= job.started_at <= job.finished_at
    assert runner.get(job.id) is job
    assert runner.get("nope") is None


def test_jobs_on_one_device_run_one_at_a_time_in_order(runner):
    order: list[int] = []
    running = 0
    most = 0
    lock = threading.Lock()

    def make(i: int):
        def fn(job: Job) -> None:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.01)
            order.append(i)
            with lock:
                running -= 1

        return fn

    jobs = [runner.submit(make(i), device="cuda:0") for i in range(6)]

    assert all(job.wait(TIMEOUT) for job in jobs)
    assert order == list(range(6))
    assert most == 1


def test_jobs_on_different_devices_run_in_parallel(runner):
    # Each job waits for the other at a barrier: both finish only if they run at once.
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    cpu = runner.submit(lambda job: barrier.wait(), device="cpu")
    gpu = runner.submit(lambda job: barrier.wait(), device="cuda:0")

    assert cpu.wait(TIMEOUT) and gpu.wait(TIMEOUT)
    assert (cpu.status, gpu.status) == ("done", "done")


def test_device_key_maps_names_to_one_queue():
    runner = JobRunner(device_key=lambda d: "cuda:0" if d in ("auto", "cuda") else d)
    try:
        started, release, fn = blocker()
        first = runner.submit(fn, device="auto")
        second = runner.submit(lambda job: "second", device="cuda:0")
        assert started.wait(TIMEOUT)
        # Same queue as "auto": it waits behind the first job.
        assert not second.wait(0.05)
        assert (first.device, second.status) == ("cuda:0", "queued")
        release.set()
        assert second.wait(TIMEOUT) and second.result == "second"
    finally:
        runner.shutdown()


def test_ahead_is_the_running_and_earlier_queued_jobs_on_the_same_device(runner):
    started, release, fn = blocker()
    running = runner.submit(fn, device="cpu")
    assert started.wait(TIMEOUT)
    elsewhere = runner.submit(lambda job: None, device="gpu")
    second = runner.submit(lambda job: None, device="cpu")
    third = runner.submit(lambda job: None, device="cpu")
    assert runner.ahead(running) == []
    assert runner.ahead(second) == [running]
    assert runner.ahead(third) == [running, second]
    second.cancel()
    assert runner.ahead(third) == [running]
    release.set()
    assert third.wait(TIMEOUT) and elsewhere.wait(TIMEOUT)
    assert runner.ahead(third) == []


def test_cancel_a_queued_job(runner):
    started, release, fn = blocker()
    first = runner.submit(fn)
    ran = threading.Event()
    second = runner.submit(lambda job: ran.set())
    assert started.wait(TIMEOUT)

    second.cancel()

    # Cancelled at once, without waiting for the worker to reach it.
    assert second.status == "cancelled" and second.is_finished and second.token.cancelled
    release.set()
    assert first.wait(TIMEOUT) and first.status == "done"
    third = runner.submit(lambda job: "after")  # the worker passes over the cancelled job
    assert third.wait(TIMEOUT) and third.result == "after"
    assert not ran.is_set()
    assert second.started_at is None


def test_cancel_a_running_job(runner):
    started = threading.Event()

    def fn(job: Job) -> None:
        started.set()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            job.token.raise_if_cancelled()
            time.sleep(0.005)
        raise AssertionError("never cancelled")

    job = runner.submit(fn)
    assert started.wait(TIMEOUT)
    assert job.status == "running"

    job.cancel()

    assert job.wait(TIMEOUT)
    assert (job.status, job.error) == ("cancelled", None)


def test_failure_is_captured_and_logged(runner, caplog):
    def boom(job: Job) -> None:
        raise ValueError("bad value 7")

    with caplog.at_level(logging.ERROR, logger="studio.app.jobs"):
        job = runner.submit(boom, label="boom")
        assert job.wait(TIMEOUT)

    assert (job.status, job.error, job.error_type) == (
        "failed",
        "ValueError: bad value 7",
        "ValueError",
    )
    assert "raise ValueError" in job.traceback
    assert any(r.exc_info and "boom" in r.getMessage() for r in caplog.records)
    # The worker survives and runs the next job.
    after = runner.submit(lambda job: "ok")
    assert after.wait(TIMEOUT) and after.result == "ok"


def test_studio_errors_keep_their_own_message(runner):
    def fn(job: Job) -> None:
        raise MediaError("disk full writing out.mp4")

    job = runner.submit(fn)

    assert job.wait(TIMEOUT)
    assert (job.status, job.error, job.error_type) == (
        "failed",
        "disk full writing out.mp4",
        "MediaError",
    )


def test_render_cancelled_raised_by_fn_means_cancelled(runner):
    def fn(job: Job) -> None:
        raise RenderCancelled("render cancelled by the user")

    job = runner.submit(fn)

    assert job.wait(TIMEOUT) and job.status == "cancelled"


def test_progress_and_preview_are_visible_from_another_thread(runner):
    reported, release = threading.Event(), threading.Event()
    frame = np.full((8, 8, 3), 200, np.uint8)

    def fn(job: Job) -> None:
        job.started({"frames": 4, "device": "cpu"})
        job.progress(1, 4, frame)
        frame[:] = 0  # the engine reusing its buffer must not change the preview
        reported.set()
        assert release.wait(TIMEOUT)
        job.progress(2, 4)

    job = runner.submit(fn)
    assert reported.wait(TIMEOUT)

    assert (job.status, job.done, job.total) == ("running", 1, 4)
    assert job.plan == {"frames": 4, "device": "cpu"}
    assert job.preview is not None and int(job.preview.max()) == 200
    assert job.snapshot()["done"] == 1
    release.set()
    assert job.wait(TIMEOUT)
    assert (job.done, job.total) == (2, 4)
    assert int(job.preview.max()) == 200  # a progress call without a preview keeps the last


def test_job_is_a_render_events_sink(runner, tmp_path):
    output = OutputFile(
        path=Path(tmp_path / "a.mp4"), kind="mp4", frames=3, fps=8, width=8, height=8
    )
    result = RenderResult(outputs=[output], frames=3, fps=8, denoise_steps=6, seconds=0.1)

    def fn(job: Job) -> RenderResult:
        events = Fanout(NullEvents(), job)  # the way the dashboard wires the recorder and job
        events.started({"frames": 3})
        events.progress(3, 3, np.zeros((8, 8, 3), np.uint8))
        events.output(output)
        events.finished(result)
        return result

    job = runner.submit(fn)

    assert job.wait(TIMEOUT)
    assert (job.status, job.error) == ("done", None)
    assert job.result is result and job.outputs == [output]
    assert job.done == 3
    assert job.is_finished
    assert job.snapshot()["outputs"] == [str(output.path)]


def test_wait_times_out(runner):
    started, release, fn = blocker()
    job = runner.submit(fn)
    assert started.wait(TIMEOUT)

    t0 = time.monotonic()
    assert job.wait(timeout=0.05) is False
    assert time.monotonic() - t0 < 1
    assert not job.is_finished

    release.set()
    assert job.wait(TIMEOUT) is True


def test_only_the_newest_finished_jobs_are_kept():
    runner = JobRunner(max_finished=3)
    try:
        jobs = [runner.submit(lambda job, i=i: i) for i in range(6)]
        assert all(job.wait(TIMEOUT) for job in jobs)
        last = runner.submit(lambda job: "last")
        assert last.wait(TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while len(runner.jobs()) > 3 and time.monotonic() < deadline:
            time.sleep(0.005)  # the worker prunes just after it marks the job finished

        assert [job.result for job in runner.jobs()] == ["last", 5, 4]
        assert runner.get(jobs[0].id) is None
    finally:
        runner.shutdown()


def test_shutdown_cancels_and_refuses_new_jobs():
    runner = JobRunner()
    started = threading.Event()

    def fn(job: Job) -> None:
        started.set()
        while True:
            job.token.raise_if_cancelled()
            time.sleep(0.005)

    running = runner.submit(fn)
    queued = runner.submit(lambda job: "never")
    assert started.wait(TIMEOUT)

    runner.shutdown(wait=True)

    assert (running.status, queued.status) == ("cancelled", "cancelled")
    with pytest.raises(RuntimeError, match="shut down"):
        runner.submit(lambda job: None)
