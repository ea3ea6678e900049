"""Files of the store: content digests, and folder moves that follow a database transaction.

Files are read in chunks so a large video is never held in memory.

Rows and files must change together: a session renamed, deleted or pulled moves whole folders
inside ``STUDIO_HOME``. ``FolderMoves`` does those renames at once (a rename within one file
system is atomic) and ``follow_transaction`` undoes them if the database transaction rolls back,
or finishes them (e.g. empties the trash) once it commits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from sqlalchemy.orm import SessionTransaction

__all__ = [
    "MOVES_NAME",
    "OWNER_NAME",
    "FolderMoves",
    "digest",
    "folder_members",
    "follow_transaction",
    "human_bytes",
    "write_moves",
    "write_owner",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def digest(path: Path) -> tuple[str, int]:
    """``(sha256 hex, size in bytes)`` of a file, or of a folder of frames.

    For a file: the sha256 of its bytes, and its size.

    For a folder (``kind == "png"`` outputs are a folder of numbered frames): the regular files
    directly inside it, sorted by name, are hashed in one stream as, for each file,
    ``name (UTF-8) + b"\\0" + its bytes + b"\\0"``; the size is the sum of the files' sizes.
    Names are part of the hash so that renaming or reordering frames changes it. Sub-folders
    and dotfiles (e.g. a half-written ``.frame.png.tmp``) are ignored.

    Raises ``FileNotFoundError`` if ``path`` does not exist.
    """
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        total = 0
        for member in folder_members(path):
            h.update(member.name.encode("utf-8") + b"\0")
            total += _feed(h, member)
            h.update(b"\0")
        return h.hexdigest(), total
    size = _feed(h, path)  # raises FileNotFoundError for a missing path
    return h.hexdigest(), size


def folder_members(path: Path) -> list[Path]:
    """The files ``digest`` hashes for a folder: regular files directly inside it, no dotfiles,
    sorted by name."""
    return sorted(
        (p for p in Path(path).iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def human_bytes(size: int) -> str:
    """A size for people: ``512 -> "512 B"``, ``1536 -> "1.5 KiB"``, up to GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


class _Hasher(Protocol):
    """What ``_feed`` needs of a ``hashlib`` hash object."""

    def update(self, data: bytes, /) -> None: ...


def _feed(h: _Hasher, path: Path) -> int:
    """Stream ``path`` into the hash object ``h``; return the number of bytes read."""
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size


class FolderMoves:
    """Folder renames done now and undone, newest first, by ``undo``.

    Source and destination must be on one file system (both inside ``STUDIO_HOME``), where a
    rename is atomic: a folder is either at its old place or at its new one, never half-moved.
    """

    def __init__(self) -> None:
        self._done: list[tuple[Path, Path]] = []

    def move(self, source: Path, destination: Path) -> None:
        """Rename ``source`` to ``destination`` (its parent is created).

        Raises ``FileExistsError`` if ``destination`` exists: on POSIX a rename would silently
        replace an empty folder, and nothing here may be replaced.
        """
        if destination.exists() or destination.is_symlink():
            raise FileExistsError(f"{destination} already exists")
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, destination)
        self._done.append((source, destination))

    def undo(self) -> None:
        """Move every folder back, newest first. A failure is logged, not raised: this runs
        while another error is already being reported."""
        while self._done:
            source, destination = self._done.pop()
            try:
                os.rename(destination, source)
            except OSError:
                log.warning("could not move %s back to %s", destination, source, exc_info=True)


def follow_transaction(
    s: Session,
    *,
    on_commit: Callable[[], None] | None = None,
    on_rollback: Callable[[], None] | None = None,
) -> None:
    """Call ``on_commit`` once the outermost transaction now open on ``s`` commits, or
    ``on_rollback`` once it rolls back (either way exactly once).

    This is how a repository function that moves files, while its caller owns the
    transaction, keeps files and rows in step. A callback that raises is logged: by then the
    transaction's outcome is decided and cannot change.

    Raises ``RuntimeError`` if no transaction is open on ``s``.
    """
    root = s.get_transaction()
    if root is None:
        raise RuntimeError("follow_transaction needs a transaction in progress")
    state = {"committed": False, "done": False}

    def committed(session: Session) -> None:
        # after_commit also fires when a SAVEPOINT is released; only the outermost counts.
        if not session.in_nested_transaction():
            state["committed"] = True

    def ended(session: Session, transaction: SessionTransaction) -> None:
        if transaction is not root or state["done"]:
            return
        state["done"] = True
        action = on_commit if state["committed"] else on_rollback
        if action is None:
            return
        try:
            action()
        except Exception:
            log.warning("could not finish the file side of a transaction", exc_info=True)

    event.listen(s, "after_commit", committed)
    event.listen(s, "after_transaction_end", ended)


# -- who owns a folder a pull or a delete is working in (read by db.recovery) -----------

OWNER_NAME = "owner.json"
MOVES_NAME = "moves.json"


def write_owner(staging: Path) -> None:
    """Create ``staging`` and say which process owns it."""
    staging.mkdir(parents=True, exist_ok=True)
    owner = {"pid": os.getpid(), "host": socket.gethostname()}
    (staging / OWNER_NAME).write_text(json.dumps(owner))


def write_moves(staging: Path, slug: str, destinations: list[Path]) -> None:
    """Record, before moving them, the folders a pull is about to move in for ``slug``."""
    moves = {"slug": slug, "destinations": [str(d) for d in destinations]}
    path = staging / MOVES_NAME
    path.with_suffix(".tmp").write_text(json.dumps(moves))
    os.replace(path.with_suffix(".tmp"), path)
