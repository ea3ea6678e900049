"""Runs: creating, finding and listing render runs, and marking orphaned ones interrupted.

Functions take an open SQLAlchemy ``Session`` first and leave the transaction to the caller;
``create_run`` flushes, so the new run's id and defaults are set when it returns.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from db.errors import NotFound
from db.models import (
    ACTIVE_STATUSES,
    INTERRUPTED,
    QUEUED,
    RUN_STATUSES,
    ExperimentSession,
    Run,
    iso_or_none,
    utcnow,
)
from db.repository.outputs import output_to_dict

__all__ = [
    "MAX_SEED",
    "create_run",
    "get_run",
    "list_runs",
    "mark_interrupted",
    "new_run_id",
    "run_to_dict",
]

MAX_SEED = 2**63 - 1


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
        "plan": dict(run.plan),
        "extra": dict(run.extra),
        "device": run.device,
        "deliver_to": run.deliver_to,
        "pid": run.pid,
        "hostname": run.hostname,
        "created_at": iso_or_none(run.created_at),
        "started_at": iso_or_none(run.started_at),
        "finished_at": iso_or_none(run.finished_at),
        "spec": run.spec,
        "outputs": [output_to_dict(o) for o in run.outputs],
    }


def _check_status(status: str) -> None:
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r}; one of {', '.join(RUN_STATUSES)}")
