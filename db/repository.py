"""Reading and writing the store's rows.

Every function takes an open SQLAlchemy ``Session`` first and leaves the transaction to the
caller (``with store.begin() as s: create_run(s, ...)``). Functions that insert flush, so the
new row's defaults and id are filled in when they return, but nothing is committed here.
"""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, joinedload

from db.models import (
    ACTIVE_STATUSES,
    INTERRUPTED,
    QUEUED,
    RUN_STATUSES,
    ExperimentSession,
    InputMedia,
    Output,
    Run,
    utcnow,
)
from db.paths import resolve_in_home

__all__ = [
    "MAX_SEED",
    "SLUG_MAX_LENGTH",
    "NotFound",
    "add_input_media",
    "add_output",
    "create_run",
    "get_or_create_session",
    "get_run",
    "get_session",
    "list_outputs",
    "list_runs",
    "list_sessions",
    "mark_interrupted",
    "new_run_id",
    "output_to_dict",
    "run_to_dict",
    "session_to_dict",
    "slugify",
    "validate_slug",
]

SLUG_MAX_LENGTH = 64
MAX_SEED = 2**63 - 1
_SLUG = re.compile(rf"[a-z0-9_-]{{1,{SLUG_MAX_LENGTH}}}")
_NOT_SLUG = re.compile(r"[^a-z0-9_-]+")


class NotFound(LookupError):
    """No row has the id or slug asked for; the message names it."""


# -- sessions ------------------------------------------------------------------------------


def validate_slug(slug: str) -> str:
    """Return ``slug`` if it is 1 to 64 of ``a-z``, ``0-9``, ``-``, ``_``; else raise
    ``ValueError`` naming it (and suggesting ``slugify``'s version)."""
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        hint = f"; try {slugify(slug)!r}" if isinstance(slug, str) else ""
        raise ValueError(
            f"session slug must be 1-{SLUG_MAX_LENGTH} lowercase letters, digits, '-' or '_', "
            f"got {slug!r}{hint}"
        )
    return slug


def slugify(text: str) -> str:
    """A valid session slug made from any text: ``"Tokyo at Night #2" -> "tokyo-at-night-2"``.

    Accents are folded to ASCII, every run of other characters becomes one ``-``, and the
    result is cut to 64 characters. Text with nothing usable in it gives ``"session"``.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    slug = slug[:SLUG_MAX_LENGTH].rstrip("-")
    return slug or "session"


def get_session(s: Session, slug: str) -> ExperimentSession:
    """The session with this slug; raises ``NotFound`` naming the slug."""
    found = s.scalar(select(ExperimentSession).where(ExperimentSession.slug == slug))
    if found is None:
        raise NotFound(f"no session with slug {slug!r}")
    return found


def get_or_create_session(s: Session, slug: str, title: str | None = None) -> ExperimentSession:
    """The session with this slug, created (titled ``title`` or the slug) if there is none.

    An existing session keeps its title. Raises ``ValueError`` for an invalid slug.
    """
    validate_slug(slug)
    found = s.scalar(select(ExperimentSession).where(ExperimentSession.slug == slug))
    if found is not None:
        return found
    created = ExperimentSession(slug=slug, title=title or slug, notes="", tags=[])
    s.add(created)
    s.flush()
    return created


def list_sessions(s: Session, *, include_archived: bool = True) -> list[ExperimentSession]:
    """Every session, newest first."""
    query = select(ExperimentSession).order_by(
        ExperimentSession.created_at.desc(), ExperimentSession.id.desc()
    )
    if not include_archived:
        query = query.where(ExperimentSession.archived.is_(False))
    return list(s.scalars(query))


# -- runs ----------------------------------------------------------------------------------


def new_run_id(now: datetime | None = None) -> str:
    """A fresh run id, ``YYYYMMDD-HHMMSS-xxxxxx``: UTC time, then 24 random bits."""
    now = now or utcnow()
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def create_run(
    s: Session,
    *,
    session: ExperimentSession,
    kind: str,
    spec: dict[str, Any],
    schema_version: int,
    model_ref: str,
    seed: int,
    status: str = QUEUED,
    pid: int | None = None,
    hostname: str | None = None,
) -> Run:
    """Insert a run of ``session`` and return it (flushed, id set).

    ``spec`` is stored as JSON; what is stored is exactly what ``json.loads(json.dumps(spec))``
    gives (tuples become lists), which is what a later read returns.

    Raises ``ValueError`` for an unknown status, a seed outside ``0..2**63-1`` or a spec that
    is not JSON-serialisable.
    """
    _check_status(status)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and 2**63 - 1, got {seed}")
    try:
        stored_spec = json.loads(json.dumps(spec, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"spec is not JSON-serialisable: {e}") from e
    now = utcnow()
    run = Run(
        id=new_run_id(now),
        session=session,
        kind=kind,
        spec=stored_spec,
        schema_version=schema_version,
        model_ref=model_ref,
        seed=seed,
        status=status,
        frames_done=0,
        timings={},
        versions={},
        pid=pid,
        hostname=hostname,
        created_at=now,
    )
    s.add(run)
    s.flush()
    return run


def get_run(s: Session, run_id: str) -> Run:
    """The run with this id, its session and outputs loaded; raises ``NotFound`` naming it."""
    run = s.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run with id {run_id!r}")
    return run


def list_runs(
    s: Session,
    *,
    session_slug: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[Run]:
    """Runs, newest first, optionally of one session and/or one status, at most ``limit``.

    Raises ``ValueError`` for an unknown status. An unknown session slug gives ``[]``.
    """
    query: Select[tuple[Run]] = select(Run).order_by(Run.created_at.desc(), Run.id.desc())
    if session_slug is not None:
        query = query.join(Run.session).where(ExperimentSession.slug == session_slug)
    if status is not None:
        _check_status(status)
        query = query.where(Run.status == status)
    if limit is not None:
        query = query.limit(limit)
    return list(s.scalars(query).unique())


def mark_interrupted(s: Session, hostname: str, is_alive: Callable[[int], bool]) -> list[str]:
    """Mark ``interrupted`` each queued or running run of ``hostname`` whose process is gone.

    A run counts as orphaned when it has no pid or ``is_alive(pid)`` is false. Runs recorded
    on other hosts are left alone: their pids mean nothing here. Returns the ids marked.
    """
    candidates = s.execute(
        select(Run.id, Run.pid).where(Run.status.in_(ACTIVE_STATUSES), Run.hostname == hostname)
    ).all()
    marked: list[str] = []
    now = utcnow()
    for run_id, pid in candidates:
        if pid is not None and is_alive(pid):
            continue
        reason = (
            f"the process rendering it stopped (pid {pid})"
            if pid is not None
            else "the process rendering it stopped (no pid recorded)"
        )
        # Re-check the status in the UPDATE itself so a run that finished meanwhile is kept.
        result = s.execute(
            update(Run)
            .where(Run.id == run_id, Run.status.in_(ACTIVE_STATUSES))
            .values(status=INTERRUPTED, error=reason, error_type=None, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            marked.append(run_id)
    if marked:
        s.expire_all()
    return marked


# -- files ---------------------------------------------------------------------------------


def add_output(
    s: Session,
    run: Run,
    *,
    kind: str,
    path: str,
    sha256: str,
    bytes: int,  # named after the column; shadows the builtin only in here
    width: int,
    height: int,
    frames: int,
    fps: float,
    has_audio: bool,
) -> Output:
    """Record a file ``run`` wrote. ``path`` is relative to ``STUDIO_HOME``, POSIX form.

    Raises ``ValueError`` if ``path`` is absolute or climbs out with ``..``.
    """
    _check_relative(path)
    output = Output(
        run=run,
        kind=kind,
        path=path,
        sha256=sha256,
        bytes=bytes,
        width=width,
        height=height,
        frames=frames,
        fps=float(fps),
        has_audio=bool(has_audio),
    )
    s.add(output)
    s.flush()
    return output


def list_outputs(
    s: Session, *, session_slug: str | None = None, limit: int | None = None
) -> list[Output]:
    """Outputs, newest first, each with ``output.run`` (and ``output.run.session``) loaded."""
    query = (
        select(Output)
        .join(Output.run)
        .options(joinedload(Output.run))
        .order_by(Output.created_at.desc(), Output.id.desc())
    )
    if session_slug is not None:
        query = query.join(Run.session).where(ExperimentSession.slug == session_slug)
    if limit is not None:
        query = query.limit(limit)
    return list(s.scalars(query).unique())


def add_input_media(
    s: Session,
    session: ExperimentSession,
    *,
    kind: str,
    path: str,
    sha256: str,
    bytes: int,  # named after the column; shadows the builtin only in here
    meta: dict[str, Any] | None = None,
) -> InputMedia:
    """Record an input file of ``session``; ``path`` is relative to ``STUDIO_HOME``.

    Raises ``ValueError`` for a path that is not plain relative or ``meta`` that is not JSON.
    """
    _check_relative(path)
    try:
        stored_meta = json.loads(json.dumps(meta or {}, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"meta is not JSON-serialisable: {e}") from e
    media = InputMedia(
        session=session, kind=kind, path=path, sha256=sha256, bytes=bytes, meta=stored_meta
    )
    s.add(media)
    s.flush()
    return media


# -- JSON views ----------------------------------------------------------------------------


def session_to_dict(session: ExperimentSession) -> dict[str, Any]:
    """A JSON-safe dict of a session's own fields (not its runs)."""
    return {
        "slug": session.slug,
        "title": session.title,
        "notes": session.notes,
        "tags": list(session.tags),
        "archived": session.archived,
        "created_at": _iso(session.created_at),
        "hub_repo": session.hub_repo,
        "last_sync_at": _iso(session.last_sync_at),
    }


def run_to_dict(run: Run) -> dict[str, Any]:
    """A JSON-safe dict of a run with its session slug and outputs (``runs show --json``).

    Timestamps are ISO 8601 strings with ``+00:00``; ``spec`` is the stored dict.
    """
    return {
        "id": run.id,
        "session": run.session.slug,
        "kind": run.kind,
        "status": run.status,
        "error": run.error,
        "error_type": run.error_type,
        "model_ref": run.model_ref,
        "seed": run.seed,
        "schema_version": run.schema_version,
        "frames_done": run.frames_done,
        "frames_total": run.frames_total,
        "predicted_denoise_steps": run.predicted_denoise_steps,
        "denoise_steps": run.denoise_steps,
        "timings": dict(run.timings),
        "versions": dict(run.versions),
        "device": run.device,
        "pid": run.pid,
        "hostname": run.hostname,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "spec": run.spec,
        "outputs": [output_to_dict(o) for o in run.outputs],
    }


def output_to_dict(output: Output) -> dict[str, Any]:
    """A JSON-safe dict of an output row; ``path`` stays relative to ``STUDIO_HOME``."""
    return {
        "id": output.id,
        "run_id": output.run_id,
        "kind": output.kind,
        "path": output.path,
        "sha256": output.sha256,
        "bytes": output.bytes,
        "width": output.width,
        "height": output.height,
        "frames": output.frames,
        "fps": output.fps,
        "has_audio": output.has_audio,
        "created_at": _iso(output.created_at),
    }


# -- helpers -------------------------------------------------------------------------------


def _check_status(status: str) -> None:
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r}; one of {', '.join(RUN_STATUSES)}")


def _check_relative(path: str) -> None:
    # resolve_in_home refuses absolute paths and '..'; the home used here is irrelevant.
    resolve_in_home(Path("."), path)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
