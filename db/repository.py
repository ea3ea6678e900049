"""Reading and writing the store's rows.

Every function takes an open SQLAlchemy ``Session`` first and leaves the transaction to the
caller (``with store.begin() as s: create_run(s, ...)``). Functions that insert flush, so the
new row's defaults and id are filled in when they return, but nothing is committed here.

``rename_session`` and ``delete_session`` also move a session's folders; the move follows the
caller's transaction (undone if it rolls back), so rows and files never disagree.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shutil
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, joinedload

from db.errors import NotFound, SessionBusy, SlugTaken
from db.files import FolderMoves, follow_transaction
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
from db.paths import resolve_in_home, session_folders, trash_root

__all__ = [
    "MAX_SEED",
    "SLUG_MAX_LENGTH",
    "TAG_MAX_LENGTH",
    "TITLE_MAX_LENGTH",
    "NotFound",
    "SessionBusy",
    "SessionStats",
    "SlugTaken",
    "add_input_media",
    "add_output",
    "check_no_active_runs",
    "create_run",
    "delete_session",
    "get_or_create_session",
    "get_run",
    "get_session",
    "input_to_dict",
    "list_outputs",
    "list_runs",
    "list_sessions",
    "mark_interrupted",
    "new_run_id",
    "normalize_tags",
    "output_to_dict",
    "rename_session",
    "run_to_dict",
    "session_stats",
    "session_to_dict",
    "slugify",
    "update_session",
    "validate_slug",
]

SLUG_MAX_LENGTH = 64
TITLE_MAX_LENGTH = 200  # the column's length
TAG_MAX_LENGTH = 64
MAX_SEED = 2**63 - 1
# No leading '-': a slug is a folder name (db.paths) and a command-line argument.
_SLUG = re.compile(rf"[a-z0-9_][a-z0-9_-]{{0,{SLUG_MAX_LENGTH - 1}}}")
_NOT_SLUG = re.compile(r"[^a-z0-9_-]+")


# -- sessions ------------------------------------------------------------------------------


def validate_slug(slug: str) -> str:
    """Return ``slug`` if it is 1 to 64 of ``a-z``, ``0-9``, ``-``, ``_``, not starting with
    ``-``; else raise ``ValueError`` naming it (and suggesting ``slugify``'s version)."""
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        hint = f"; try {slugify(slug)!r}" if isinstance(slug, str) else ""
        raise ValueError(
            f"session slug must be 1-{SLUG_MAX_LENGTH} lowercase letters, digits, '-' or '_', "
            f"not starting with '-', got {slug!r}{hint}"
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


def update_session(
    s: Session,
    slug: str,
    *,
    title: str | None = None,
    notes: str | None = None,
    tags: Iterable[str] | None = None,
    archived: bool | None = None,
) -> ExperimentSession:
    """Change a session's title, notes, tags or archived flag; ``None`` leaves a field as is.

    ``title`` is stripped and must be 1-200 characters; ``tags`` go through
    ``normalize_tags``. Raises ``NotFound`` naming the slug and ``ValueError`` naming a bad
    value.
    """
    session = get_session(s, slug)
    if title is not None:
        session.title = _check_title(title)
    if notes is not None:
        if not isinstance(notes, str):
            raise ValueError(f"notes must be text, got {type(notes).__name__}")
        session.notes = notes
    if tags is not None:
        session.tags = normalize_tags(tags)
    if archived is not None:
        if not isinstance(archived, bool):
            raise ValueError(f"archived must be True or False, got {archived!r}")
        session.archived = archived
    s.flush()
    return session


def normalize_tags(tags: Iterable[str]) -> list[str]:
    """Tags as stored: each stripped, empty ones dropped, duplicates dropped (first kept).

    Raises ``ValueError`` for a tag that is not text or is longer than 64 characters, or for a
    single string (``"a,b"``) passed where a list of tags is expected.
    """
    if isinstance(tags, str):
        raise ValueError(f"tags must be a list of strings, got the string {tags!r}")
    result: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise ValueError(f"tags must be strings, got {tag!r}")
        tag = " ".join(tag.split())
        if len(tag) > TAG_MAX_LENGTH:
            raise ValueError(f"a tag must be at most {TAG_MAX_LENGTH} characters, got {tag!r}")
        if tag and tag not in result:
            result.append(tag)
    return result


def rename_session(
    s: Session, home: Path, slug: str, new_slug: str, *, title: str | None = None
) -> ExperimentSession:
    """Give a session a new slug (and, if given, a new title), moving its folders with it.

    ``outputs/<slug>/`` and ``inputs/<slug>/`` in ``home`` are renamed at once and the stored
    file paths rewritten; if the caller's transaction rolls back, the folders move back.

    Raises ``NotFound`` for an unknown slug, ``ValueError`` for an invalid new slug or title,
    ``SlugTaken`` if another session (or a leftover folder) already has the new slug, and
    ``SessionBusy`` while one of the session's runs is queued or running.
    """
    validate_slug(new_slug)
    session = get_session(s, slug)
    new_title = None if title is None else _check_title(title)
    if new_slug != slug:
        _check_slug_free(s, home, new_slug)
        check_no_active_runs(s, session, "rename")
        old_prefixes = [f"{folder}/{slug}/" for folder in ("outputs", "inputs")]
        new_prefixes = [f"{folder}/{new_slug}/" for folder in ("outputs", "inputs")]
        outputs = s.scalars(select(Output).join(Output.run).where(Run.session_id == session.id))
        for row in [*outputs, *session.inputs]:
            for old, new in zip(old_prefixes, new_prefixes, strict=True):
                if row.path.startswith(old):
                    row.path = new + row.path[len(old) :]
        session.slug = new_slug
    if new_title is not None:
        session.title = new_title
    s.flush()
    if new_slug != slug:
        moves = FolderMoves()
        try:
            for old, new in zip(
                session_folders(home, slug), session_folders(home, new_slug), strict=True
            ):
                if old.exists():
                    moves.move(old, new)
        except OSError:
            moves.undo()
            raise
        follow_transaction(s, on_rollback=moves.undo)
    return session


def delete_session(s: Session, home: Path, slug: str) -> int:
    """Delete a session, its runs, outputs and input rows, and its folders in ``home``.

    Ask the user first: nothing can bring it back (a copy pushed to the Hub stays there). The
    folders are moved to ``home/.trash`` at once and removed when the caller's transaction
    commits; if it rolls back they move back. Returns the number of runs deleted.

    Raises ``NotFound`` for an unknown slug and ``SessionBusy`` while one of its runs is queued
    or running.
    """
    session = get_session(s, slug)
    check_no_active_runs(s, session, "delete")
    runs = s.scalar(select(func.count(Run.id)).where(Run.session_id == session.id)) or 0
    s.delete(session)
    s.flush()
    trash = trash_root(home) / f"{slug}-{secrets.token_hex(4)}"
    moves = FolderMoves()
    try:
        for name, folder in zip(("outputs", "inputs"), session_folders(home, slug), strict=True):
            if folder.exists() or folder.is_symlink():
                moves.move(folder, trash / name)
    except OSError:
        moves.undo()
        raise
    follow_transaction(s, on_commit=lambda: _empty_trash(trash), on_rollback=moves.undo)
    return runs


def check_no_active_runs(s: Session, session: ExperimentSession, action: str) -> None:
    """Raise ``SessionBusy`` naming a queued or running run of ``session``, if there is one:
    its process is still writing into the session's folder."""
    busy = s.execute(
        select(Run.id, Run.status)
        .where(Run.session_id == session.id, Run.status.in_(ACTIVE_STATUSES))
        .limit(1)
    ).first()
    if busy is not None:
        raise SessionBusy(
            f"cannot {action} session {session.slug!r}: its run {busy.id} is {busy.status}; "
            "wait for it to finish or cancel it first"
        )


@dataclass(frozen=True)
class SessionStats:
    """How much a session holds: its runs, its output rows and their total size in bytes."""

    runs: int = 0
    outputs: int = 0
    bytes: int = 0


def session_stats(s: Session) -> dict[str, SessionStats]:
    """``{slug: SessionStats}`` for every session (zeros for an empty one), in two queries."""
    # Not dict(result): a Result has .keys(), so dict() would treat it as a mapping.
    runs = {
        slug: count
        for slug, count in s.execute(
            select(ExperimentSession.slug, func.count(Run.id))
            .outerjoin(Run, Run.session_id == ExperimentSession.id)
            .group_by(ExperimentSession.id)
        ).tuples()
    }
    files = {
        slug: (count, total)
        for slug, count, total in s.execute(
            select(
                ExperimentSession.slug,
                func.count(Output.id),
                func.coalesce(func.sum(Output.bytes), 0),
            )
            .join(Run, Run.session_id == ExperimentSession.id)
            .join(Output, Output.run_id == Run.id)
            .group_by(ExperimentSession.id)
        ).tuples()
    }
    return {
        slug: SessionStats(
            runs=count, outputs=files.get(slug, (0, 0))[0], bytes=files.get(slug, (0, 0))[1]
        )
        for slug, count in runs.items()
    }


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
        "plan": dict(run.plan),
        "extra": dict(run.extra),
        "device": run.device,
        "deliver_to": run.deliver_to,
        "pid": run.pid,
        "hostname": run.hostname,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "spec": run.spec,
        "outputs": [output_to_dict(o) for o in run.outputs],
    }


def input_to_dict(media: InputMedia) -> dict[str, Any]:
    """A JSON-safe dict of an input media row; ``path`` stays relative to ``STUDIO_HOME``."""
    return {
        "id": media.id,
        "kind": media.kind,
        "path": media.path,
        "sha256": media.sha256,
        "bytes": media.bytes,
        "meta": media.meta,
        "created_at": _iso(media.created_at),
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


def _empty_trash(trash: Path) -> None:
    shutil.rmtree(trash, ignore_errors=True)
    with contextlib.suppress(OSError):  # other deletes may be using it
        trash.parent.rmdir()


def _check_title(title: str) -> str:
    if not isinstance(title, str):
        raise ValueError(f"a session title must be text, got {type(title).__name__}")
    title = title.strip()
    if not 1 <= len(title) <= TITLE_MAX_LENGTH:
        raise ValueError(
            f"a session title must be 1-{TITLE_MAX_LENGTH} characters, got {len(title)}"
        )
    return title


def _check_slug_free(s: Session, home: Path, slug: str) -> None:
    if s.scalar(select(ExperimentSession.id).where(ExperimentSession.slug == slug)) is not None:
        raise SlugTaken(f"a session named {slug!r} already exists")
    for folder in session_folders(home, slug):
        if folder.exists() or folder.is_symlink():
            raise SlugTaken(
                f"folder {folder} already exists (left from an earlier session {slug!r}?); "
                "move it away or choose another name"
            )


def _check_relative(path: str) -> None:
    # resolve_in_home refuses absolute paths and '..'; the home used here is irrelevant.
    resolve_in_home(Path("."), path)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
