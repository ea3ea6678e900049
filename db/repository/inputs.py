"""Input media: the files a session was given (audio, video, init images), by path relative
to ``STUDIO_HOME`` and sha256.

Functions take an open SQLAlchemy ``Session`` first and leave the transaction to the caller.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from db.models import ExperimentSession, InputMedia, iso_or_none
from db.paths import check_relative

__all__ = ["add_input_media", "input_to_dict"]


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
    check_relative(path)
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


def input_to_dict(media: InputMedia) -> dict[str, Any]:
    """A JSON-safe dict of an input media row; ``path`` stays relative to ``STUDIO_HOME``."""
    return {
        "id": media.id,
        "kind": media.kind,
        "path": media.path,
        "sha256": media.sha256,
        "bytes": media.bytes,
        "meta": media.meta,
        "created_at": iso_or_none(media.created_at),
    }
