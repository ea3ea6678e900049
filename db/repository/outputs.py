"""Outputs: the files a run wrote, recorded by path relative to ``STUDIO_HOME`` and sha256.

Functions take an open SQLAlchemy ``Session`` first and leave the transaction to the caller.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from db.models import ExperimentSession, Output, Run, iso_or_none
from db.paths import check_relative

__all__ = ["add_output", "list_outputs", "output_to_dict"]


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
    """Record a file ``run`` wrote, once: a second record of the same ``path`` for ``run``
    (a resumed run that writes its file again) updates the first instead of adding a row.
    ``path`` is relative to ``STUDIO_HOME``, POSIX form.

    Raises ``ValueError`` if ``path`` is absolute or climbs out with ``..``.
    """
    check_relative(path)
    values = {
        "kind": kind,
        "sha256": sha256,
        "bytes": bytes,
        "width": width,
        "height": height,
        "frames": frames,
        "fps": float(fps),
        "has_audio": bool(has_audio),
    }
    output = s.scalars(
        select(Output).where(Output.run_id == run.id, Output.path == path)
    ).one_or_none()
    if output is None:
        output = Output(run=run, path=path, **values)
        s.add(output)
    else:
        for name, value in values.items():
            setattr(output, name, value)
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
        "created_at": iso_or_none(output.created_at),
    }
