"""The local side of a push: a session's manifest and its files, each checked against its row.

What is pushed must be pullable, so the manifest built here goes through the same checks as a
pulled one (``db.manifest.check_manifest``), and every file is hashed again: a file changed,
missing or turned into a link since it was recorded is refused, not pushed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from db.errors import HubSyncError
from db.files import digest, folder_members
from db.manifest import (
    FORMAT,
    MANIFEST_SCHEMA_VERSION,
    ManifestError,
    ManifestFile,
    check_manifest,
    dump_manifest,
)
from db.models import Output
from db.paths import resolve_in_home
from db.repository import (
    check_no_active_runs,
    get_session,
    list_runs,
    output_to_dict,
    run_to_dict,
    session_to_dict,
)
from db.store import Store

__all__ = ["LocalSession", "build_manifest"]

_CHUNK = 1 << 20


@dataclass
class LocalSession:
    """A local session ready to push: its manifest (as a dict) and, in path order, each file
    it lists with the local file that holds it."""

    manifest: dict[str, Any]
    files: list[tuple[ManifestFile, Path]]


def build_manifest(store: Store, slug: str) -> LocalSession:
    """The manifest of local session ``slug`` and its files, each checked against its row.

    The result passes the same checks as a pulled manifest: what is pushed can be pulled.

    Raises ``NotFound`` for an unknown slug, ``SessionBusy`` while a run of it is queued or
    running, and ``HubSyncError`` for a file that is missing, a link, outside the session's
    folders, changed since it was recorded (its sha256 or size differs from its row), over a
    size cap, or named in a way a pull would refuse.
    """
    home = store.home
    files: dict[str, tuple[ManifestFile, Path]] = {}

    def add(entry: ManifestFile, path: Path) -> None:
        if entry.path in files and files[entry.path][0] != entry:
            raise HubSyncError(f"two rows of session {slug!r} name {entry.path} differently")
        files[entry.path] = (entry, path)

    with store.session() as s:
        session = get_session(s, slug)
        check_no_active_runs(s, session, "push")
        runs = sorted(list_runs(s, session_slug=slug), key=lambda r: (r.created_at, r.id))
        run_entries = []
        for run in runs:
            entry = run_to_dict(run)
            for private in ("session", "pid", "hostname", "deliver_to"):
                del entry[private]
            entry["outputs"] = []
            for output in run.outputs:
                relative = _session_relative(output.path, "outputs", slug)
                if not relative.startswith(f"outputs/{run.id}/"):
                    raise HubSyncError(
                        f"output {output.path} of run {run.id} is not inside "
                        f"outputs/{slug}/{run.id}/, so it cannot be pushed"
                    )
                for member, path in _output_files(home, output, relative, run.id):
                    add(member, path)
                row = output_to_dict(output)
                del row["id"], row["run_id"]
                entry["outputs"].append({**row, "path": relative})
            run_entries.append(entry)
        input_entries = []
        for media in sorted(session.inputs, key=lambda m: m.id):
            relative = _session_relative(media.path, "inputs", slug)
            path = _checked_file(home, media.path, media.sha256, media.bytes, "input media")
            add(_entry(relative, media.sha256, media.bytes), path)
            input_entries.append(
                {
                    "kind": media.kind,
                    "path": relative,
                    "sha256": media.sha256,
                    "bytes": media.bytes,
                    "meta": media.meta,
                    "created_at": media.created_at.isoformat(),
                }
            )
        fields = session_to_dict(session)
        del fields["hub_repo"], fields["last_sync_at"]

    ordered = [files[path] for path in sorted(files)]
    manifest = {
        "format": FORMAT,
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "session": fields,
        "runs": run_entries,
        "inputs": input_entries,
        "files": [{"path": f.path, "sha256": f.sha256, "bytes": f.bytes} for f, _ in ordered],
    }
    try:
        check_manifest(json.loads(dump_manifest(manifest)))
    except ManifestError as exc:
        raise HubSyncError(f"session {slug!r} cannot be pushed: {exc}") from None
    return LocalSession(manifest=manifest, files=ordered)


def _session_relative(stored: str, folder: str, slug: str) -> str:
    """``outputs/<slug>/x/y`` -> ``outputs/x/y`` (the path inside the session folder)."""
    prefix = f"{folder}/{slug}/"
    if not stored.startswith(prefix):
        raise HubSyncError(
            f"{stored} is not inside {prefix} of STUDIO_HOME, so it cannot be pushed"
        )
    return f"{folder}/{stored[len(prefix) :]}"


def _output_files(
    home: Path, output: Output, relative: str, run_id: str
) -> list[tuple[ManifestFile, Path]]:
    """The files of one output row (one file, or a folder's frames), checked against it."""
    path = resolve_in_home(home, output.path)
    if path.is_symlink():
        raise HubSyncError(f"output {output.path} of run {run_id} is a link; links are not pushed")
    if path.is_file():
        _checked_file(home, output.path, output.sha256, output.bytes, f"output of run {run_id}")
        return [(_entry(relative, output.sha256, output.bytes), path)]
    if not path.is_dir():
        raise HubSyncError(
            f"output {output.path} of run {run_id} is missing from STUDIO_HOME; "
            "delete the run or restore the file before pushing"
        )
    # A folder of frames: hash each frame, and the folder as db.files.digest does, in one read.
    folder_hash = hashlib.sha256()
    members: list[tuple[ManifestFile, Path]] = []
    total = 0
    for member in folder_members(path):
        if member.is_symlink():
            raise HubSyncError(f"{member} is a link; links are not pushed")
        file_hash = hashlib.sha256()
        folder_hash.update(member.name.encode("utf-8") + b"\0")
        size = 0
        with member.open("rb") as f:
            while chunk := f.read(_CHUNK):
                file_hash.update(chunk)
                folder_hash.update(chunk)
                size += len(chunk)
        folder_hash.update(b"\0")
        total += size
        members.append((_entry(f"{relative}/{member.name}", file_hash.hexdigest(), size), member))
    if (folder_hash.hexdigest(), total) != (output.sha256, output.bytes):
        raise HubSyncError(
            f"frames in {output.path} (run {run_id}) changed since they were recorded; "
            "they no longer match their sha256, so they are not pushed"
        )
    return members


def _checked_file(home: Path, stored: str, sha256: str, size: int, what: str) -> Path:
    path = resolve_in_home(home, stored)
    if path.is_symlink() or not path.is_file():
        state = "a link" if path.is_symlink() else "missing from STUDIO_HOME"
        raise HubSyncError(f"{what} {stored} is {state}; it cannot be pushed")
    if digest(path) != (sha256, size):
        raise HubSyncError(
            f"{what} {stored} changed since it was recorded (its sha256 or size differs); "
            "it is not pushed"
        )
    return path


def _entry(path: str, sha256: str, size: int) -> ManifestFile:
    # Not checked one by one: build_manifest checks the whole manifest at the end, so that a
    # bad name is reported as "cannot be pushed" with the field, like any other refusal.
    return ManifestFile.model_construct(path=path, sha256=sha256, bytes=size)
