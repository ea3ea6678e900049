"""One worker thread that runs a render's frame work in order, behind the model.

A render hands ``OrderedWorker.submit`` a job per batch of finished frames (colour matching,
the writer, the checkpoint) and goes on denoising the next batch while the worker runs it:
the model and the frame work overlap. The contract:

- order: jobs run one at a time, in the order submitted;
- memory: at most ``depth`` jobs wait; ``submit`` blocks while the queue is full, so a slow
  writer holds the render back instead of frames piling up;
- errors: the first job that raises stops the worker's work (later jobs are dropped) and its
  exception is raised again in the render's thread by the next ``submit`` or ``drain``;
- waiting: ``wait`` returns once every job submitted so far has run (the thread goes on);
- the end: ``drain`` waits until every job has run (a finished or cancelled render: the
  frames made are written), ``stop`` drops the waiting ones (a failed render). Either way the
  thread ends.

With ``threaded=False`` a job runs at once in the caller's thread, which keeps the order and
error contract without a thread (renders with feedback, whose next frame needs this one).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

__all__ = ["OrderedWorker"]

_END = None  # the job that ends the thread


class OrderedWorker:
    """Runs submitted jobs in order on one thread, at most ``depth`` waiting (see above)."""

    def __init__(self, *, depth: int = 2, threaded: bool = True, name: str = "frames") -> None:
        self.threaded = threaded
        self._error: BaseException | None = None
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=max(1, depth))
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name=f"studio-{name}", daemon=True)
            self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job`` (run it now, unthreaded); raises the error of an earlier job."""
        self._raise()
        if not self.threaded:
            job()
            return
        self._jobs.put(job)

    def wait(self) -> None:
        """Wait until every job submitted so far has run (the thread goes on); raise the
        first job error, if any."""
        if self._thread is not None:
            self._jobs.join()
        self._raise()

    def drain(self) -> None:
        """Wait for every submitted job; end the thread; raise the first job error, if any."""
        if self._thread is not None:
            self._jobs.put(_END)
            self._thread.join()
            self._thread = None
        self._raise()

    def stop(self) -> None:
        """Drop the jobs not yet started, wait for the running one, end the thread."""
        if self._thread is None:
            return
        while True:  # empty the queue, so the end marker fits
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
            self._jobs.task_done()
        self._error = self._error or _Stopped()
        self._jobs.put(_END)
        self._thread.join()
        self._thread = None

    def _raise(self) -> None:
        if self._error is not None and not isinstance(self._error, _Stopped):
            error, self._error = self._error, _Stopped()
            raise error

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is _END:
                    return
                if self._error is None:  # else a job failed (or the render stopped): drop
                    job()
            except BaseException as exc:  # handed to the render's thread
                self._error = exc
            finally:
                self._jobs.task_done()


class _Stopped(Exception):
    """Marks a worker whose error was raised already, or that was stopped: drop jobs."""
