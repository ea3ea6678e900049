"""The session manifest: ``<slug>/session.json`` in a Hub repo, built here and checked here.

Example (shortened)::

    {
     "format": "latent-studio-session",
     "schema_version": 1,
     "session": {"slug": "demo", "title": "Demo", "notes": "", "tags": ["red"],
                 "archived": false, "created_at": "2026-11-21T10:00:00.123456+00:00"},
     "runs": [{"id": "20261121-100001-a1b2c3", "kind": "animation", "status": "done",
               "spec": {...}, "seed": 7, "model_ref": "builtin:shapes", "timings": {...},
               "versions": {...}, "denoise_steps": 100, ...,
               "outputs": [{"kind": "mp4", "path": "outputs/20261121-100001-a1b2c3/video.mp4",
                            "sha256": "9f86...", "bytes": 48213, "width": 128, ...}]}],
     "inputs": [],
     "files": [{"path": "outputs/20261121-100001-a1b2c3/video.mp4", "sha256": "9f86...",
                "bytes": 48213}]
    }

Paths are relative to the session folder. ``files`` lists every file once: an output that is
a file, each frame of an output that is a folder of PNG frames (its row's sha256 is the folder
digest of ``db.files.digest``), and each input. Run and output rows are ``run_to_dict`` and
``output_to_dict`` without what only means something on one machine (row ids, pid, hostname,
the ``--out`` path a run also delivers to) and without ``hub_repo``/``last_sync_at``.

Schema versions: a reader refuses a manifest whose ``schema_version`` is newer than
``MANIFEST_SCHEMA_VERSION`` and ignores keys it does not know, so a later version may add
optional keys without a bump; anything a reader must understand needs a new version.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from db.errors import HubSyncError
from db.files import digest, folder_members
from db.models import RUN_STATUSES, Output
from db.paths import resolve_in_home
from db.repository import (
    MAX_SEED,
    SLUG_MAX_LENGTH,
    check_no_active_runs,
    get_session,
    list_runs,
    output_to_dict,
    run_to_dict,
    session_to_dict,
    validate_slug,
)
from db.store import Store

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA_VERSION",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_RUNS",
    "MAX_SESSION_BYTES",
    "LocalSession",
    "Manifest",
    "ManifestFile",
    "NotAManifest",
    "build_manifest",
    "dump_manifest",
    "parse_manifest",
    "refusal",
]

FORMAT = "latent-studio-session"
MANIFEST_NAME = "session.json"
MANIFEST_SCHEMA_VERSION = 1

# Caps on what a pull accepts, checked against the manifest before anything is downloaded.
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_FILE_BYTES = 8 * 2**30
MAX_SESSION_BYTES = 64 * 2**30
MAX_FILES = 100_000
MAX_RUNS = 100_000

_RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ManifestFile:
    """One file of a session: ``path`` relative to the session folder (POSIX), its sha256 and
    size in bytes."""

    path: str
    sha256: str
    bytes: int


# -- building a manifest from the store ----------------------------------------------------


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
            add(ManifestFile(relative, media.sha256, media.bytes), path)
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
        _check_manifest(json.loads(dump_manifest(manifest)), MANIFEST_SCHEMA_VERSION)
    except _Invalid as exc:
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
        return [(ManifestFile(relative, output.sha256, output.bytes), path)]
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
        members.append(
            (ManifestFile(f"{relative}/{member.name}", file_hash.hexdigest(), size), member)
        )
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


def dump_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest as UTF-8 JSON bytes."""
    # Deterministic bytes: an unchanged session gives an unchanged manifest, hence no commit.
    return (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


# -- reading a manifest, checked ---------------------------------------------------------


class NotAManifest(HubSyncError):
    """A ``session.json`` without the format marker: not a Latent Studio session at all."""


class _Invalid(Exception):
    """One failed check of a manifest; the message names the field."""


@dataclass
class Manifest:
    """A manifest that passed every check: timestamps are aware datetimes, paths are safe,
    every file belongs to an output or input row and every row is backed by its files."""

    schema_version: int
    session: dict[str, Any]
    runs: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    files: list[ManifestFile]


def refusal(source: str, problem: str) -> HubSyncError:
    """The error for a pull refused because ``source`` failed a check."""
    return HubSyncError(f"refused {source}: {problem}; nothing was written")


def parse_manifest(data: bytes, source: str) -> Manifest:
    """Parse and check a manifest completely (``source`` names it in messages).

    Raises ``NotAManifest`` if it lacks the format marker, and ``HubSyncError`` naming the
    field and the check for anything else: invalid JSON (NaN, duplicate keys included), a
    newer schema version, a missing or mistyped field, an unsafe path, a size over a cap, a
    file that belongs to no row or a row without its file.
    """
    try:
        raw = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_no_constants,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise refusal(source, f"it is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise NotAManifest(
            f"{source} is not a Latent Studio session (format {found!r}, expected {FORMAT!r})"
        )
    version = raw.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise refusal(source, f"schema_version must be a positive integer, got {version!r}")
    if version > MANIFEST_SCHEMA_VERSION:
        raise HubSyncError(
            f"{source} was written by a newer Latent Studio (manifest schema version {version}; "
            f"this version reads up to {MANIFEST_SCHEMA_VERSION}); update Latent Studio to pull it"
        )
    try:
        return _check_manifest(raw, version)
    except _Invalid as exc:
        raise refusal(source, str(exc)) from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _check_manifest(raw: dict[str, Any], version: int) -> Manifest:
    session = _object(raw, "session", _SESSION_FIELDS, "session")
    try:
        validate_slug(session["slug"])
    except ValueError as exc:
        raise _Invalid(f"session.slug: {exc}") from None

    runs = [
        _object(item, None, _RUN_FIELDS, f"runs[{i}]")
        for i, item in enumerate(_array(raw, "runs", "", MAX_RUNS))
    ]
    if len({run["id"] for run in runs}) != len(runs):
        raise _Invalid("two runs have the same id")
    outputs: dict[str, tuple[str, dict[str, Any]]] = {}
    for i, run in enumerate(runs):
        run["outputs"] = [
            _object(item, None, _OUTPUT_FIELDS, f"runs[{i}].outputs[{j}]")
            for j, item in enumerate(_list(run["outputs"], f"runs[{i}].outputs", MAX_FILES))
        ]
        for j, output in enumerate(run["outputs"]):
            where = f"runs[{i}].outputs[{j}].path"
            _check_path(output["path"], where, "outputs")
            if not output["path"].startswith(f"outputs/{run['id']}/"):
                raise _Invalid(f"{where} {output['path']!r} is not inside outputs/{run['id']}/")
            if output["path"] in outputs:
                raise _Invalid(f"{where} {output['path']!r} is listed twice")
            outputs[output["path"]] = (run["id"], output)

    inputs = [
        _object(item, None, _INPUT_FIELDS, f"inputs[{i}]")
        for i, item in enumerate(_array(raw, "inputs", "", MAX_FILES))
    ]
    for i, media in enumerate(inputs):
        _check_path(media["path"], f"inputs[{i}].path", "inputs")

    files: list[ManifestFile] = []
    for i, item in enumerate(_array(raw, "files", "", MAX_FILES)):
        entry = _object(item, None, _FILE_FIELDS, f"files[{i}]")
        _check_path(entry["path"], f"files[{i}].path", None)
        if entry["bytes"] > MAX_FILE_BYTES:
            raise _Invalid(
                f"files[{i}] ({entry['path']}) declares {entry['bytes']} bytes, over the cap "
                f"of {MAX_FILE_BYTES} bytes per file"
            )
        files.append(ManifestFile(entry["path"], entry["sha256"], entry["bytes"]))
    total = sum(f.bytes for f in files)
    if total > MAX_SESSION_BYTES:
        raise _Invalid(
            f"files total {total} bytes, over the cap of {MAX_SESSION_BYTES} per session"
        )
    _check_files_match_rows(files, outputs, inputs)
    return Manifest(version, session, runs, inputs, files)


def _check_files_match_rows(
    files: list[ManifestFile],
    outputs: dict[str, tuple[str, dict[str, Any]]],
    inputs: list[dict[str, Any]],
) -> None:
    """Every file belongs to an output or input row, and every row is backed by its files."""
    by_path = {f.path: f for f in files}
    if len(by_path) != len(files):
        raise _Invalid("a path is listed twice in files")
    folders = {str(parent) for path in by_path for parent in PurePosixPath(path).parents}
    for path in by_path:
        if path in folders:
            raise _Invalid(f"files lists {path} both as a file and as a folder")
    in_folder: dict[str, list[ManifestFile]] = {}
    for f in files:
        in_folder.setdefault(str(PurePosixPath(f.path).parent), []).append(f)
    input_paths = {media["path"]: media for media in inputs}
    for f in files:
        parent = str(PurePosixPath(f.path).parent)
        if f.path not in outputs and parent not in outputs and f.path not in input_paths:
            raise _Invalid(f"files lists {f.path}, which is no output or input of the session")
    for path, (run_id, output) in outputs.items():
        where = f"output {path} of run {run_id}"
        if path in by_path:
            f = by_path[path]
            if (f.sha256, f.bytes) != (output["sha256"], output["bytes"]):
                raise _Invalid(f"{where} has another sha256 or size than its entry in files")
        elif path in in_folder:
            if sum(f.bytes for f in in_folder[path]) != output["bytes"]:
                raise _Invalid(f"{where}: its frames' sizes do not add up to its bytes")
        elif (output["sha256"], output["bytes"]) != (_EMPTY_SHA256, 0):
            raise _Invalid(f"{where} has no file in files")
    for path, media in input_paths.items():
        f = by_path.get(path)
        if f is None or (f.sha256, f.bytes) != (media["sha256"], media["bytes"]):
            raise _Invalid(f"input {path} has no matching entry in files")


def _check_path(path: Any, where: str, top: str | None) -> None:
    """A path relative to the session folder: ``outputs/...`` or ``inputs/...``, POSIX, with
    no way out of it and nothing a file system would treat specially."""
    if not isinstance(path, str) or not path:
        raise _Invalid(f"{where} must be a non-empty string, got {_show(path)}")
    if len(path) > 1000:
        raise _Invalid(f"{where} is longer than 1000 characters")
    if "\\" in path:
        raise _Invalid(f"{where} {path!r} contains a backslash")
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):  # POSIX or Windows absolute
        raise _Invalid(f"{where} {path!r} is absolute")
    parts = path.split("/")
    for part in parts:
        if part == "":
            raise _Invalid(f"{where} {path!r} has an empty segment")
        if part in (".", ".."):
            raise _Invalid(f"{where} {path!r} climbs out of the session folder with {part!r}")
        if part.startswith("."):
            raise _Invalid(f"{where} {path!r} has a hidden name {part!r}")
        # Control characters, and what Windows forbids: a pulled session must fit any disk.
        if len(part) > 255 or any(ord(c) < 32 or c in '<>:"|?*\x7f' for c in part):
            raise _Invalid(f"{where} {path!r} has a name no file may have")
    allowed = (top,) if top else ("outputs", "inputs")
    if parts[0] not in allowed or len(parts) < 2:
        raise _Invalid(f"{where} {path!r} is not inside {' or '.join(a + '/' for a in allowed)}")
    if parts[0] == "outputs" and (len(parts) < 3 or not _RUN_ID.fullmatch(parts[1])):
        raise _Invalid(f"{where} {path!r} is not inside outputs/<run id>/")


# Field checkers: (value, where) -> the value to keep (timestamps become datetimes).


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(max_length: int | None = None, *, empty: bool = True) -> Any:
    def check(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"{where} must be a string, got {_show(value)}")
        if not empty and not value:
            raise _Invalid(f"{where} must not be empty")
        if max_length is not None and len(value) > max_length:
            raise _Invalid(f"{where} is longer than {max_length} characters")
        return value

    return check


def _integer(low: int = 0, high: int = 2**63 - 1) -> Any:
    def check(value: Any, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise _Invalid(f"{where} must be an integer from {low} to {high}, got {_show(value)}")
        return value

    return check


def _number(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
        raise _Invalid(f"{where} must be a number, got {_show(value)}")
    return float(value)


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"{where} must be true or false, got {_show(value)}")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"{where} must be an object, got {_show(value)}")
    return value


def _timestamp(value: Any, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise _Invalid(f"{where} must be an ISO 8601 time with a UTC offset, got {_show(value)}")
    return parsed


def _sha(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise _Invalid(f"{where} must be 64 lowercase hex digits, got {_show(value)}")
    return value


def _run_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _RUN_ID.fullmatch(value):
        raise _Invalid(f"{where} must be a run id like 20260101-120000-abcdef, got {_show(value)}")
    return value


def _choice(*allowed: str) -> Any:
    def check(value: Any, where: str) -> str:
        if value not in allowed:
            raise _Invalid(f"{where} must be one of {', '.join(allowed)}, got {_show(value)}")
        return value

    return check


def _tags(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) and len(t) <= 64 for t in value):
        raise _Invalid(f"{where} must be a list of short strings, got {_show(value)}")
    return value


def _optional(check: Any) -> Any:
    def optional(value: Any, where: str) -> Any:
        return None if value is None else check(value, where)

    return optional


def _anything(value: Any, where: str) -> Any:
    return value


class _MayBeAbsent:
    """A field checker for a key that may be missing; ``default()`` gives its value then."""

    def __init__(self, check: Any, default: Any) -> None:
        self.check, self.default = check, default

    def __call__(self, value: Any, where: str) -> Any:
        return self.check(value, where)


_SESSION_FIELDS = {
    "slug": _text(SLUG_MAX_LENGTH, empty=False),
    "title": _text(200, empty=False),
    "notes": _text(),
    "tags": _tags,
    "archived": _boolean,
    "created_at": _timestamp,
}
_RUN_FIELDS = {
    "id": _run_id,
    "kind": _text(32, empty=False),
    "status": _choice(*RUN_STATUSES),
    "error": _optional(_text()),
    "error_type": _optional(_text(200)),
    "model_ref": _text(500),
    "seed": _integer(0, MAX_SEED),
    "schema_version": _integer(0, 2**31 - 1),
    "frames_done": _integer(0, 2**31 - 1),
    "frames_total": _optional(_integer(0, 2**31 - 1)),
    "predicted_denoise_steps": _optional(_integer()),
    "denoise_steps": _optional(_integer()),
    "timings": _mapping,
    "versions": _mapping,
    "device": _optional(_text(100)),
    "created_at": _timestamp,
    "started_at": _optional(_timestamp),
    "finished_at": _optional(_timestamp),
    "spec": _mapping,
    # Added after the first manifests were written (the run's plan, its result's extras):
    # absent in those, which read as empty.
    "plan": _MayBeAbsent(_mapping, dict),
    "extra": _MayBeAbsent(_mapping, dict),
    "outputs": _anything,  # checked item by item by _check_manifest
}
_OUTPUT_FIELDS = {
    "kind": _text(16, empty=False),
    "path": _text(1000, empty=False),
    "sha256": _sha,
    "bytes": _integer(0),
    "width": _integer(0, 2**31 - 1),
    "height": _integer(0, 2**31 - 1),
    "frames": _integer(0, 2**31 - 1),
    "fps": _number,
    "has_audio": _boolean,
    "created_at": _timestamp,
}
_INPUT_FIELDS = {
    "kind": _text(16, empty=False),
    "path": _text(1000, empty=False),
    "sha256": _sha,
    "bytes": _integer(0),
    "meta": _mapping,
    "created_at": _timestamp,
}
_FILE_FIELDS = {"path": _text(1000, empty=False), "sha256": _sha, "bytes": _integer(0)}


def _object(container: Any, key: str | None, fields: dict[str, Any], where: str) -> dict[str, Any]:
    """``container[key]`` (or ``container`` itself) checked field by field; extra keys are
    ignored (a later minor change may add some), missing ones refused unless they may be
    absent."""
    value = container if key is None else container.get(key)
    if not isinstance(value, dict):
        raise _Invalid(f"{where} must be an object, got {_show(value)}")
    checked = {}
    for name, check in fields.items():
        if name not in value and isinstance(check, _MayBeAbsent):
            checked[name] = check.default()
            continue
        if name not in value:
            raise _Invalid(f"{where}.{name} is missing")
        checked[name] = check(value[name], f"{where}.{name}")
    return checked


def _array(container: dict[str, Any], key: str, where: str, limit: int) -> list[Any]:
    if key not in container:
        raise _Invalid(f"{where}{key} is missing")
    return _list(container[key], f"{where}{key}", limit)


def _list(value: Any, where: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise _Invalid(f"{where} must be a list, got {_show(value)}")
    if len(value) > limit:
        raise _Invalid(f"{where} has {len(value)} entries, over the cap of {limit}")
    return value
