"""Background jobs: renders that run on one worker thread per device.

The dashboard submits a render as a job and returns at once; pages then poll the job's
``status``, ``done`` / ``total`` and ``preview``. Each device key has its own worker with a
FIFO queue, so GPU work is serialised per device while jobs on different devices run side by
side. A job keeps running when the user switches pages, and ``cancel()`` stops it at the
engine's next cancellation check.

    runner = JobRunner()
    job = runner.submit(lambda job: render_animation(..., events=job, cancel=job.token),
                        device="cuda:0", label="animation", meta={"run_id": run_id})
    job.wait()
    job.status, job.result, job.error

Nothing here imports Streamlit, torch or the store.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from studio.errors import RenderCancelled, StudioError
from studio.events import CancelToken, OutputFile, RenderResult

__all__ = ["JOB_STATUSES", "Job", "JobRunner"]

logger = logging.getLogger(__name__)

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
_FINAL = frozenset({"done", "failed", "cancelled"})


class Job:
    """One unit of background work, and the ``RenderEvents`` sink its render reports into.

    Written by the worker thread, read by any other: each field is replaced whole (never
    mutated in place), so a reader always sees a complete value; ``snapshot()`` gives a
    consistent view of several fields at once.

    ``status`` follows ``fn``: ``done`` when it returns (its value becomes ``result``),
    ``cancelled`` when it raises ``RenderCancelled`` (or the job is cancelled while queued),
    ``failed`` when it raises anything else. The render events only fill in ``plan``,
    ``done`` / ``total``, ``preview`` and ``outputs``.
    """

    def __init__(
        self,
        fn: Callable[[Job], Any],
        *,
        device: str,
        label: str = "",
        meta: dict[str, Any] | None = None,
        on_skip: Callable[[], None] | None = None,
    ) -> None:
        self.id: str = uuid.uuid4().hex[:12]
        self.label: str = label
        self.device: str = device
        self.meta: dict[str, Any] = dict(meta or {})
        self.token = CancelToken()

        self.status: str = "queued"
        self.done: int = 0
        self.total: int = 0
        self.preview: np.ndarray | None = None  # newest preview frame, (H, W, 3) uint8
        self.plan: dict[str, Any] | None = None
        self.outputs: list[OutputFile] = []
        self.result: Any | None = None
        self.error: str | None = None
        self.error_type: str | None = None
        self.traceback: str | None = None

        self.created_at: float = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None

        self._fn: Callable[[Job], Any] | None = fn
        self._on_skip = on_skip  # told when the job is cancelled before it ever ran
        self._lock = threading.Lock()
        self._ended = threading.Event()

    # --- control, from any thread ---------------------------------------------------------

    def cancel(self) -> None:
        """Ask the job to stop.

        A queued job is cancelled at once and never runs. A running job stops when its
        ``fn`` next checks ``token`` (the engine does between denoise steps). A finished
        job is left as it is.
        """
        self.token.cancel()
        with self._lock:
            if self.status != "queued":
                return
            self.status = "cancelled"
            self.finished_at = time.time()
            self._fn = None
        self._ended.set()
        if self._on_skip is not None:
            try:
                self._on_skip()
            except Exception:
                logger.exception("on_skip of cancelled job %s failed", self.id)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is finished or ``timeout`` seconds pass; True if finished."""
        return self._ended.wait(timeout)

    @property
    def is_finished(self) -> bool:
        """True once the status is done, failed or cancelled."""
        return self._ended.is_set()

    def snapshot(self) -> dict[str, Any]:
        """A consistent, JSON-safe copy of the job's state (no preview, no result)."""
        with self._lock:
            return {
                "id": self.id,
                "label": self.label,
                "device": self.device,
                "status": self.status,
                "done": self.done,
                "total": self.total,
                "outputs": [str(o.path) for o in self.outputs],
                "error": self.error,
                "error_type": self.error_type,
                "created_at": self.created_at,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "meta": dict(self.meta),
            }

    # --- RenderEvents, called by the engine on the worker thread --------------------------

    def started(self, plan: dict[str, Any]) -> None:
        with self._lock:
            self.plan = dict(plan)
            frames = plan.get("frames")
            if isinstance(frames, int) and not isinstance(frames, bool):
                self.total = frames

    def progress(self, done: int, total: int, preview: np.ndarray | None = None) -> None:
        # A copy: the engine may reuse its buffer, and a view would keep a whole batch alive.
        frame = None if preview is None else np.array(preview, copy=True)
        with self._lock:
            self.done = done
            self.total = total
            if frame is not None:
                self.preview = frame

    def output(self, output: OutputFile) -> None:
        with self._lock:
            self.outputs = [*self.outputs, output]

    def finished(self, result: RenderResult) -> None:
        with self._lock:
            self.done = result.frames
            self.total = max(self.total, result.frames)

    def failed(self, error: BaseException) -> None:
        pass  # the worker records the exception that fn raises

    def cancelled(self) -> None:
        pass  # the worker records the RenderCancelled that fn raises

    # --- the worker's side ----------------------------------------------------------------

    def _start(self) -> Callable[[Job], Any] | None:
        """Mark the job running and hand over its fn; None if it was cancelled meanwhile."""
        with self._lock:
            if self.status != "queued":
                return None
            fn, self._fn = self._fn, None  # drop the closure once run: it may hold a lot
            self.status = "running"
            self.started_at = time.time()
            return fn

    def _end(self, status: str, **fields: Any) -> None:
        with self._lock:
            for name, value in fields.items():
                setattr(self, name, value)
            self.status = status
            self.finished_at = time.time()
        self._ended.set()

    def __repr__(self) -> str:
        return (
            f"Job(id={self.id!r}, label={self.label!r}, device={self.device!r}, "
            f"status={self.status!r}, done={self.done}, total={self.total})"
        )


class JobRunner:
    """Runs jobs on one lazily started daemon worker thread per device key.

    Args:
        max_finished: how many finished jobs to keep for ``get`` / ``jobs``; older finished
            ones are forgotten (unfinished jobs are always kept).
        device_key: maps a submitted device name to its worker key, e.g. so that ``auto``,
            ``cuda`` and ``cuda:0`` share one GPU queue; by default the name itself.
    """

    def __init__(
        self,
        *,
        max_finished: int = 50,
        device_key: Callable[[str], str] | None = None,
    ) -> None:
        if max_finished < 0:
            raise ValueError(f"max_finished must be >= 0, got {max_finished}")
        self.max_finished = max_finished
        self._device_key = device_key or (lambda device: device)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}  # in submission order
        self._queues: dict[str, queue.SimpleQueue[Job | None]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._closed = False

    def submit(
        self,
        fn: Callable[[Job], Any],
        *,
        device: str = "cpu",
        label: str = "",
        meta: dict[str, Any] | None = None,
        on_skip: Callable[[], None] | None = None,
    ) -> Job:
        """Queue ``fn(job)`` on ``device``'s worker and return the job at once.

        ``on_skip`` is called if the job is cancelled while still queued (``fn`` never runs),
        so whoever recorded it can say so.

        Raises ``RuntimeError`` after ``shutdown``; whatever ``device_key`` raises for a
        device it cannot map.
        """
        key = self._device_key(device)
        job = Job(
            fn,
            device=key,
            label=label or getattr(fn, "__name__", ""),
            meta=meta,
            on_skip=on_skip,
        )
        with self._lock:
            if self._closed:
                raise RuntimeError("the job runner has been shut down")
            self._jobs[job.id] = job
            self._queue_for(key).put(job)
            self._forget_old()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        """Every job still kept, newest first."""
        with self._lock:
            return list(reversed(self._jobs.values()))

    def ahead(self, job: Job) -> list[Job]:
        """The unfinished jobs that ``job``'s worker takes before it, oldest first: the one
        running, then those queued earlier on the same device. Empty once ``job`` runs."""
        with self._lock:
            if job.status != "queued":
                return []
            before = []
            for other in self._jobs.values():  # in submission order
                if other is job:
                    return before
                if other.device == job.device and not other.is_finished:
                    before.append(other)
            return []

    def shutdown(self, wait: bool = True, *, cancel: bool = True) -> None:
        """Stop accepting jobs and stop the workers.

        With ``cancel`` (the default) queued jobs are cancelled and running ones asked to
        stop; without it, the queues drain first. ``wait`` joins the worker threads.
        """
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
            queues = list(self._queues.values())
            workers = list(self._workers.values())
        if cancel:
            for job in jobs:
                job.cancel()
        for q in queues:
            q.put(None)  # after every queued job: the worker ends when it reaches it
        if wait:
            for worker in workers:
                worker.join()

    def _queue_for(self, key: str) -> queue.SimpleQueue[Job | None]:
        # Called with self._lock held.
        if key not in self._queues:
            q: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
            worker = threading.Thread(
                target=self._work, args=(q,), name=f"studio-jobs-{key}", daemon=True
            )
            self._queues[key] = q
            self._workers[key] = worker
            worker.start()
        return self._queues[key]

    def _work(self, q: queue.SimpleQueue[Job | None]) -> None:
        while (job := q.get()) is not None:
            _run(job)
            with self._lock:
                self._forget_old()

    def _forget_old(self) -> None:
        # Called with self._lock held.
        finished = [job_id for job_id, job in self._jobs.items() if job.is_finished]
        for job_id in finished[: max(0, len(finished) - self.max_finished)]:
            del self._jobs[job_id]


def _run(job: Job) -> None:
    """Run one job on the current (worker) thread and record how it ended; never raises."""
    fn = job._start()
    if fn is None:
        return  # cancelled while queued
    try:
        result = fn(job)
    except RenderCancelled:
        logger.info("job %s (%s) cancelled", job.id, job.label)
        job._end("cancelled")
    except BaseException as exc:  # a worker must survive anything its job raises
        logger.error("job %s (%s) failed", job.id, job.label, exc_info=exc)
        job._end(
            "failed",
            error=_error_text(exc),
            error_type=type(exc).__name__,
            traceback="".join(traceback.format_exception(exc)),
        )
    else:
        job._end("done", result=result)


def _error_text(exc: BaseException) -> str:
    """A StudioError's message as it is (it is written for users); otherwise "Type: message"."""
    if isinstance(exc, StudioError):
        return str(exc)
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
