"""Finishing or undoing what a killed process left half-done in ``STUDIO_HOME``.

Two operations move folders and commit rows that describe them, and a kill can fall between
the two:

- a pull (``db.hub.pull``) downloads into ``.staging/pull-*``, moves the checked session
  folders to ``outputs/<slug>`` and ``inputs/<slug>`` and commits the rows. Its staging folder
  holds ``owner.json`` (process id and host) from the start, and ``moves.json`` (the slug and
  the folders moved in) from just before the first move. A staging folder of a dead process
  is recovered: when the session's row exists the pull committed and only the staging folder
  is left to remove; when it does not, the folders it moved in are removed (nothing refers
  to them) so the name is free again. A staging folder without ``moves.json`` died while
  downloading: it is removed.
- a session delete (``db.repository.sessions``) moves the folders to ``.trash/<slug>-<hex>``
  (``owner.json`` first) and empties it when the delete commits. A dead process's trash
  folder whose session still has a row was cut off before the commit: it moves back;
  otherwise it is emptied.

``recover`` runs both; ``studio.app.store`` calls it when it opens a home, and a pull calls
it before it starts, so a user never meets a name that is taken by nothing they can see.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from db.files import MOVES_NAME, OWNER_NAME
from db.models import ExperimentSession, Run
from db.paths import session_folders, staging_root, trash_root

if TYPE_CHECKING:
    from db.store import Store

__all__ = ["recover"]

log = logging.getLogger(__name__)


def recover(store: Store) -> list[str]:
    """Recover every pull and delete a dead process left half-done; what was done, in words."""
    done: list[str] = []
    for staging in _children(staging_root(store.home), "pull-"):
        if _alive(staging):
            continue
        done.append(_recover_pull(store, staging))
    for trash in _children(trash_root(store.home), ""):
        if not _alive(trash):
            done.append(_recover_delete(store, trash))
    for root in (staging_root(store.home), trash_root(store.home)):
        with contextlib.suppress(OSError):  # not empty (a live pull), or not there
            root.rmdir()
    return done


def _recover_pull(store: Store, staging: Path) -> str:
    moves = _read_json(staging / MOVES_NAME)
    note = f"removed the staging folder {staging.name} of a pull that was cut off"
    if moves is not None:
        slug = str(moves.get("slug", ""))
        if not _session_exists(store, slug):
            for destination in moves.get("destinations", []):
                folder = Path(destination)
                if folder.is_relative_to(store.home) and folder.exists():
                    shutil.rmtree(folder, ignore_errors=True)
            note = f"undid the pull of session {slug!r} that was cut off before it was recorded"
    shutil.rmtree(staging, ignore_errors=True)
    log.info(note)
    return note


def _recover_delete(store: Store, trash: Path) -> str:
    if trash.name.startswith("run-"):
        return _recover_run_delete(store, trash)
    slug = trash.name.rsplit("-", 1)[0]
    if _session_exists(store, slug):
        try:
            folders = session_folders(store.home, slug)
            for name, folder in zip(("outputs", "inputs"), folders, strict=True):
                if (trash / name).exists() and not folder.exists():
                    folder.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(trash / name, folder)
            shutil.rmtree(trash)
        except (OSError, ValueError):
            log.warning("could not move %s back", trash, exc_info=True)
        return f"moved the folders of session {slug!r} back: its delete was cut off"
    shutil.rmtree(trash, ignore_errors=True)
    return f"emptied the trash of deleted session {slug!r}"


def _recover_run_delete(store: Store, trash: Path) -> str:
    """A run's folder in the trash (``delete_run``): back in place if its row is still there
    (the delete never committed), else emptied."""
    run_id = trash.name.removeprefix("run-").rsplit("-", 1)[0]
    moves = _read_json(trash / MOVES_NAME) or {}
    with store.session() as s:
        kept = s.get(Run, run_id) is not None
    destinations = moves.get("destinations") or []
    if kept and destinations and (trash / "run").exists():
        folder = Path(destinations[0])
        if folder.is_relative_to(store.home) and not folder.exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            os.rename(trash / "run", folder)
        shutil.rmtree(trash, ignore_errors=True)
        return f"moved the folder of run {run_id} back: its delete was cut off"
    shutil.rmtree(trash, ignore_errors=True)
    return f"emptied the trash of deleted run {run_id}"


def _children(root: Path, prefix: str) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(prefix))
    except OSError:
        return []


def _alive(staging: Path) -> bool:
    """Whether the process that owns ``staging`` may still be using it."""
    owner = _read_json(staging / OWNER_NAME)
    if owner is None:
        return False
    if owner.get("host") != socket.gethostname():
        return True  # another machine's process: it cannot be checked from here
    try:
        os.kill(int(owner.get("pid", 0)), 0)
    except (OSError, ValueError):
        return False
    return True


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _session_exists(store: Store, slug: str) -> bool:
    with store.session() as s:
        found = s.scalar(select(ExperimentSession.id).where(ExperimentSession.slug == slug))
    return found is not None
