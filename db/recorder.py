"""Recording one render in the store, as a render-events sink.

``RunRecorder`` has the methods of ``studio.events.RenderEvents`` (``started``, ``progress``,
``output``, ``finished``, ``failed``, ``cancelled``) without importing ``studio``: the store
must stay importable without torch, and the protocol is structural, so a recorder can be
passed wherever the engine wants a sink (alone or inside ``studio.events.Fanout``).

Each event is one short write transaction. A database problem while recording (locked past
the timeout, disk full, ...) is logged as a warning and never raised into the render: a
finished video matters more than its row. Only ``create``/``attach`` raise, since without a
run row there is nothing to record into.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, update
from sqlalchemy.exc import SQLAlchemyError

from db import repository
from db.errors import RunTaken
from db.files import digest
from db.models import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Run, utcnow
from db.paths import relative_to_home, run_output_dir
from db.store import Store

__all__ = ["PROGRESS_INTERVAL_S", "OutputLike", "ResultLike", "RunRecorder"]

log = logging.getLogger(__name__)

# The render calls progress() once per frame; the dashboard polls far less often than that.
PROGRESS_INTERVAL_S = 0.5


class OutputLike(Protocol):
    """What ``RunRecorder.output`` reads (``studio.events.OutputFile`` has it)."""

    path: Path
    kind: str
    frames: int
    fps: float
    width: int
    height: int
    has_audio: bool
    # and, when it has one, ``smoothness`` (a dict: how evenly the frames move)


class ResultLike(Protocol):
    """What ``RunRecorder.finished`` reads (``studio.events.RenderResult`` has it)."""

    denoise_steps: int
    timings: dict[str, float]
    seconds: float
    frames: int


class RunRecorder:
    """Writes the life of one run into its ``runs`` row and its ``outputs`` rows.

    Make one with ``RunRecorder.create`` (a new run) or ``RunRecorder.attach`` (resuming an
    existing run). Events are expected from one thread (the render's); the store itself may
    be read from others meanwhile.

    Attributes:
        store: the ``Store`` written to.
        run_id: the run's id.
        session_slug: the slug of the run's session.
        output_dir: ``STUDIO_HOME/outputs/<session>/<run_id>``, created; render into it.
        deliver_to: where the caller also puts the result (the CLI's ``--out``), recorded
            with the run so that a resume can deliver there too; None for none.
    """

    def __init__(
        self, store: Store, run_id: str, session_slug: str, deliver_to: str | None = None
    ) -> None:
        """Wrap an existing run row; use ``create`` or ``attach`` instead."""
        self.store = store
        self.run_id = run_id
        self.session_slug = session_slug
        self.deliver_to = deliver_to
        self.output_dir = run_output_dir(store.home, session_slug, run_id)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._last_progress_write = -math.inf

    @classmethod
    def create(
        cls,
        store: Store,
        *,
        session_slug: str,
        kind: str,
        spec: dict[str, Any],
        schema_version: int,
        model_ref: str,
        seed: int,
        deliver_to: str | None = None,
    ) -> RunRecorder:
        """Insert a ``queued`` run owned by this process (pid, hostname) and return its
        recorder. The session is created if it does not exist. ``deliver_to`` (an absolute
        path) is stored with the run; delivering there is the caller's part.

        Raises ``ValueError`` for an invalid slug, seed or spec, and lets database errors
        through: the caller should not start a render it cannot record.
        """
        with store.begin() as s:
            session = repository.get_or_create_session(s, session_slug)
            run = repository.create_run(
                s,
                session=session,
                kind=kind,
                spec=spec,
                schema_version=schema_version,
                model_ref=model_ref,
                seed=seed,
                status=QUEUED,
                pid=os.getpid(),
                hostname=socket.gethostname(),
            )
            run.deliver_to = deliver_to
            run_id = run.id
        return cls(store, run_id, session_slug, deliver_to)

    @classmethod
    def attach(cls, store: Store, run_id: str, *, expect: str | None = None) -> RunRecorder:
        """Take over an existing run (to resume it): it becomes ``queued`` again, owned by this
        process, its error and finish time cleared; ``frames_done``, outputs and
        ``deliver_to`` are kept.

        ``expect``: the status the run must still have (``interrupted`` for a resume). The
        check and the takeover are one UPDATE, so of two processes resuming one run at the
        same moment exactly one gets it; the other gets ``RunTaken``.

        Raises ``repository.NotFound`` naming the id.
        """
        with store.begin() as s:
            run = repository.get_run(s, run_id)
            slug, deliver_to = run.session.slug, run.deliver_to
            query = update(Run).where(Run.id == run_id)
            if expect is not None:
                query = query.where(Run.status == expect)
            taken = s.execute(
                query.values(
                    status=QUEUED,
                    error=None,
                    error_type=None,
                    finished_at=None,
                    pid=os.getpid(),
                    hostname=socket.gethostname(),
                ).execution_options(synchronize_session=False)
            ).rowcount
        if not taken:
            raise RunTaken(
                f"run {run_id} was taken over by another process a moment ago; "
                "see `runs show` for its status"
            )
        return cls(store, run_id, slug, deliver_to)

    def complete_output(self) -> dict[str, Any] | None:
        """The output an earlier attempt of this run finished and recorded, when its file (or
        folder of frames) is still on disk with the recorded sha256: a kill after the output
        row and before ``finished`` leaves a run whose work is done. ``None`` otherwise.

        The dict has the output's facts (``path`` absolute) and the run's
        ``predicted_denoise_steps``.
        """
        with self.store.session() as s:
            run = repository.get_run(s, self.run_id)
            rows = [(o.path, o.sha256, o) for o in run.outputs]
            if len(rows) != 1:
                return None
            relative, sha256, o = rows[0]
            facts = {
                "kind": o.kind,
                "frames": o.frames,
                "fps": o.fps,
                "width": o.width,
                "height": o.height,
                "has_audio": o.has_audio,
                "smoothness": run.extra.get("smoothness"),
                "denoise_steps": run.predicted_denoise_steps or 0,
            }
        path = self.store.home / relative
        try:
            if not path.exists() or digest(path)[0] != sha256:
                return None
        except OSError:
            return None
        return {**facts, "path": path}

    # -- RenderEvents ----------------------------------------------------------------------

    def started(self, plan: dict[str, Any]) -> None:
        """The render began: status ``running``; frames, predicted denoise steps, device and
        library versions come from ``plan`` (``frames`` required, the rest optional), and the
        whole plan but its versions is kept in ``plan`` (a blend's tree, ...)."""
        device = plan.get("device")
        self._write(
            "started",
            status=RUNNING,
            started_at=utcnow(),
            frames_total=plan.get("frames"),
            predicted_denoise_steps=plan.get("predicted_denoise_steps"),
            device=None if device is None else str(device),
            versions=_json_safe(plan.get("versions") or {}),
            plan=_json_safe({k: v for k, v in plan.items() if k != "versions"}),
        )

    def progress(self, done: int, total: int, preview: object = None) -> None:
        """``done`` of ``total`` frames finished. Written at most every ``PROGRESS_INTERVAL_S``
        seconds, plus always when ``done >= total``; ``preview`` is not stored."""
        now = time.monotonic()
        if done < total and now - self._last_progress_write < PROGRESS_INTERVAL_S:
            return
        self._last_progress_write = now
        self._write("progress", frames_done=done, frames_total=total)

    def output(self, output: OutputLike) -> None:
        """A file (or, for ``kind == "png"``, a folder of frames) was written; record its path
        relative to ``STUDIO_HOME``, size and sha256 (see ``db.files.digest`` for folders).

        Its ``smoothness`` goes into the run's ``extra`` at once, so that a run cancelled or
        killed after its file was written keeps the score (``finished`` writes it again).

        Raises ``ValueError`` if ``output.path`` is outside ``STUDIO_HOME``: that is a wiring
        bug (render into ``output_dir``), not a hiccup. A file that cannot be read is logged.
        """
        relative = relative_to_home(self.store.home, output.path)
        try:
            sha256, size = digest(Path(output.path))
            with self.store.begin() as s:
                run = s.get(Run, self.run_id)
                if run is None:
                    raise SQLAlchemyError(f"run {self.run_id} is gone")
                repository.add_output(
                    s,
                    run,
                    kind=output.kind,
                    path=relative,
                    sha256=sha256,
                    bytes=size,
                    width=output.width,
                    height=output.height,
                    frames=output.frames,
                    fps=output.fps,
                    has_audio=output.has_audio,
                )
                smoothness = getattr(output, "smoothness", None)
                if smoothness is not None:
                    run.extra = {**run.extra, "smoothness": _json_safe(smoothness)}
        except (OSError, SQLAlchemyError):
            log.warning(
                "could not record output %s of run %s", relative, self.run_id, exc_info=True
            )

    def finished(self, result: ResultLike) -> None:
        """The render succeeded: status ``done``; denoise steps, frames and timings (plus
        ``"seconds"``, the wall time) are stored, and ``result.extra`` when it has one."""
        timings = {**_json_safe(dict(result.timings)), "seconds": float(result.seconds)}
        self._write(
            "finished",
            status=DONE,
            finished_at=utcnow(),
            denoise_steps=result.denoise_steps,
            frames_done=result.frames,
            frames_total=func.coalesce(Run.frames_total, result.frames),
            timings=timings,
            extra=_json_safe(dict(getattr(result, "extra", None) or {})),
        )

    def failed(self, error: BaseException) -> None:
        """The render raised: status ``failed``; ``error`` is the message (or the exception's
        class name when the message is empty) and ``error_type`` the class name."""
        self._write(
            "failed",
            status=FAILED,
            finished_at=utcnow(),
            error=str(error) or type(error).__name__,
            error_type=type(error).__name__,
        )

    def cancelled(self) -> None:
        """The user cancelled: status ``cancelled``; frames written so far stay on disk."""
        self._write("cancelled", status=CANCELLED, finished_at=utcnow())

    # -- helpers ---------------------------------------------------------------------------

    def _write(self, event: str, **values: Any) -> None:
        try:
            with self.store.begin() as s:
                s.execute(
                    update(Run)
                    .where(Run.id == self.run_id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
        except SQLAlchemyError:
            log.warning("could not record %r for run %s", event, self.run_id, exc_info=True)

    def __repr__(self) -> str:
        return f"RunRecorder(run_id={self.run_id!r}, session={self.session_slug!r})"


def _json_safe(value: Any) -> Any:
    # Plans and timings come from the engine and should already be JSON; a stray numpy
    # scalar or torch.device must not lose the whole event, so anything else becomes str.
    return json.loads(json.dumps(value, default=str))
