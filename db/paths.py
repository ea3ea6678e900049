"""Where the studio keeps its data, and how rows refer to files.

Layout of ``STUDIO_HOME``::

    studio.db                          SQLite (WAL mode), see ``db.store``
    outputs/<session-slug>/<run-id>/   every file a run writes
    inputs/<session-slug>/             input media of a session (audio, video, init images)
    .staging/                          pulls in progress (removed when they end)
    .trash/                            folders of deleted sessions until the delete commits

Rows never hold absolute paths: they hold the path relative to ``STUDIO_HOME`` in POSIX form,
so a home folder can be moved, copied to another machine or pushed to the Hub unchanged.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from db.errors import StoreError

__all__ = [
    "DB_FILENAME",
    "DEFAULT_HOME",
    "check_relative",
    "db_path",
    "inputs_root",
    "outputs_root",
    "relative_to_home",
    "resolve_in_home",
    "run_output_dir",
    "session_folders",
    "staging_root",
    "studio_home",
    "trash_root",
]

DB_FILENAME = "studio.db"
DEFAULT_HOME = "~/.latent-studio"

# One path component that cannot climb out of its parent or hide as a dotfile.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def studio_home() -> Path:
    """The data folder: ``$STUDIO_HOME`` if set (and non-empty), else ``~/.latent-studio``.

    The folder is created if it does not exist. The returned path is absolute and resolved,
    so that ``relative_to_home`` can compare it with other resolved paths.
    """
    raw = os.environ.get("STUDIO_HOME") or DEFAULT_HOME
    return make_home(Path(raw))


def make_home(home: Path) -> Path:
    """``home`` absolute and resolved, created if it does not exist; ``StoreError`` naming it
    and why when it cannot be."""
    home = home.expanduser().resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create STUDIO_HOME {home} ({exc.strerror}); set STUDIO_HOME to a folder "
            "you can write"
        ) from None
    return home


def db_path(home: Path) -> Path:
    """The SQLite file inside ``home``."""
    return home / DB_FILENAME


def outputs_root(home: Path) -> Path:
    """The folder holding every run's outputs: ``home/outputs``."""
    return home / "outputs"


def inputs_root(home: Path) -> Path:
    """The folder holding every session's input media: ``home/inputs``."""
    return home / "inputs"


def session_folders(home: Path, session_slug: str) -> tuple[Path, Path]:
    """``(home/outputs/<slug>, home/inputs/<slug>)``: every file of one session lives in these
    two folders (either may not exist).

    Raises ``ValueError`` if the slug could escape its parent folder.
    """
    if not _NAME.fullmatch(session_slug):
        raise ValueError(f"session slug {session_slug!r} cannot be used as a folder name")
    return outputs_root(home) / session_slug, inputs_root(home) / session_slug


def staging_root(home: Path) -> Path:
    """``home/.staging``: where a pull puts files until they are checked and moved in place."""
    return home / ".staging"


def trash_root(home: Path) -> Path:
    """``home/.trash``: where a deleted session's folders wait for the delete to commit."""
    return home / ".trash"


def run_output_dir(home: Path, session_slug: str, run_id: str) -> Path:
    """``home/outputs/<session_slug>/<run_id>`` (not created here).

    Raises ``ValueError`` if either name could escape its parent folder (``..``, separators).
    """
    for what, name in (("session slug", session_slug), ("run id", run_id)):
        if not _NAME.fullmatch(name):
            raise ValueError(f"{what} {name!r} cannot be used as a folder name")
    return outputs_root(home) / session_slug / run_id


def relative_to_home(home: Path, path: Path | str) -> str:
    """``path`` relative to ``home``, in POSIX form (``outputs/demo/<run>/video.mp4``).

    ``path`` may be absolute or relative to the current directory; both are resolved first,
    so symlinks and ``..`` cannot smuggle a file in from outside.

    Raises ``ValueError`` if ``path`` is ``home`` itself or lies outside it.
    """
    resolved_home = Path(home).resolve()
    resolved = Path(path).resolve()
    try:
        relative = resolved.relative_to(resolved_home)
    except ValueError:
        raise ValueError(f"{path} is outside STUDIO_HOME ({resolved_home})") from None
    if not relative.parts:
        raise ValueError(f"{path} is STUDIO_HOME itself, not a file inside it")
    return relative.as_posix()


def resolve_in_home(home: Path, relative: str) -> Path:
    """The absolute path of a stored relative path; the inverse of ``relative_to_home``.

    Raises ``ValueError`` if ``relative`` is absolute, contains ``..`` or is empty: such a
    value did not come from ``relative_to_home`` and must not be followed (it may come from a
    pulled Hub manifest).
    """
    posix = PurePosixPath(relative)
    if not relative or posix.is_absolute() or ".." in posix.parts or "\\" in relative:
        raise ValueError(f"stored path {relative!r} is not a plain relative path")
    return Path(home).joinpath(*posix.parts)


def check_relative(relative: str) -> str:
    """Return ``relative`` if ``resolve_in_home`` would follow it (plain, relative, no ``..``);
    else raise its ``ValueError``. For checking a path before it is stored."""
    resolve_in_home(Path("."), relative)
    return relative
