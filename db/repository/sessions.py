"""Sessions: creating, finding, listing, editing, renaming and deleting experiment sessions.

Every function takes an open SQLAlchemy ``Session`` first and leaves the transaction to the
caller (``with store.begin() as s: rename_session(s, ...)``). ``rename_session`` and
``delete_session`` also move a session's folders; the move follows the caller's transaction
(undone if it rolls back), so rows and files never disagree.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.errors import NotFound, SessionBusy, SlugTaken
from db.files import FolderMoves, follow_transaction, write_moves, write_owner
from db.models import ACTIVE_STATUSES, ExperimentSession, Output, Run, iso_or_none
from db.paths import run_output_dir, session_folders, trash_root

__all__ = [
    "SLUG_MAX_LENGTH",
    "TAG_MAX_LENGTH",
    "TITLE_MAX_LENGTH",
    "SessionStats",
    "check_no_active_runs",
    "delete_run",
    "delete_session",
    "get_or_create_session",
    "get_session",
    "list_sessions",
    "normalize_tags",
    "rename_session",
    "session_stats",
    "session_to_dict",
    "slugify",
    "update_session",
    "validate_slug",
]

SLUG_MAX_LENGTH = 64
TITLE_MAX_LENGTH = 200  # the column's length
TAG_MAX_LENGTH = 64
# No leading '-': a slug is a folder name (db.paths) and a command-line argument.
_SLUG = re.compile(rf"[a-z0-9_][a-z0-9_-]{{0,{SLUG_MAX_LENGTH - 1}}}")
_NOT_SLUG = re.compile(r"[^a-z0-9_-]+")


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
    folders = zip(("outputs", "inputs"), session_folders(home, slug), strict=True)
    _to_trash(s, trash, {name: folder for name, folder in folders})
    return runs


def delete_run(s: Session, home: Path, run_id: str) -> int:
    """Delete one run, its output rows and its folder in ``home``, as ``delete_session`` does
    a session: the folder moves to ``home/.trash`` at once and is removed when the caller's
    transaction commits, or moves back if it rolls back. Returns the output rows deleted.

    Raises ``NotFound`` naming the id and ``SessionBusy`` while the run is queued or running
    (its process is still writing into the folder).
    """
    run = s.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run with id {run_id!r}")
    if run.status in ACTIVE_STATUSES:
        raise SessionBusy(
            f"cannot delete run {run_id}: it is {run.status}; wait for it to finish or cancel it"
        )
    folder = run_output_dir(home, run.session.slug, run_id)
    outputs = len(run.outputs)
    s.delete(run)
    s.flush()
    # "run-<id>-<hex>", with where it came from: a recovery puts it back if the delete of a
    # killed process never committed (db.recovery).
    trash = trash_root(home) / f"run-{run_id}-{secrets.token_hex(4)}"
    _to_trash(s, trash, {"run": folder}, slug=run.session.slug)
    return outputs


def _to_trash(s: Session, trash: Path, folders: dict[str, Path], slug: str = "") -> None:
    """Move ``folders`` (name in the trash -> folder) that exist into ``trash`` now; empty it
    when the transaction open on ``s`` commits, move them back if it rolls back. ``trash``
    says which process owns it (and, with ``slug``, where its folders came from), so that a
    recovery leaves a live delete alone and puts back a dead one's (``db.recovery``)."""
    moves = FolderMoves()
    try:
        write_owner(trash)
        if slug:
            write_moves(trash, slug, list(folders.values()))
        for name, folder in folders.items():
            if folder.exists() or folder.is_symlink():
                moves.move(folder, trash / name)
    except OSError:
        moves.undo()
        _empty_trash(trash)
        raise

    def undo() -> None:
        moves.undo()
        _empty_trash(trash)

    follow_transaction(s, on_commit=lambda: _empty_trash(trash), on_rollback=undo)


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


def session_to_dict(session: ExperimentSession) -> dict[str, Any]:
    """A JSON-safe dict of a session's own fields (not its runs)."""
    return {
        "slug": session.slug,
        "title": session.title,
        "notes": session.notes,
        "tags": list(session.tags),
        "archived": session.archived,
        "created_at": iso_or_none(session.created_at),
        "hub_repo": session.hub_repo,
        "last_sync_at": iso_or_none(session.last_sync_at),
    }


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


def _empty_trash(trash: Path) -> None:
    shutil.rmtree(trash, ignore_errors=True)
    with contextlib.suppress(OSError):  # other deletes may be using it
        trash.parent.rmdir()
