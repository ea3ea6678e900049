"""The session manifest: ``<slug>/session.json`` in a Hub repo, as pydantic models.

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
the ``--out`` path a run also delivers to) and without ``hub_repo``/``last_sync_at``. The
manifest of a local session is built by ``db.hub.snapshot.build_manifest``.

A manifest comes from a repo anyone may have written, so ``parse_manifest`` trusts nothing:
the models are strict (no coercion: ``"7"`` is not a seed), every string, list and size has a
cap, every path is checked to stay inside its folder of the session, and the files must match
the rows. A refusal names the field (``runs[3].seed must be an integer, got '7'``).

Schema versions: a reader refuses a manifest whose ``schema_version`` is newer than
``MANIFEST_SCHEMA_VERSION`` and ignores keys it does not know, so a later version may add
optional keys without a bump; anything a reader must understand needs a new version.
"""

from __future__ import annotations

import hashlib
import json
import re
import reprlib
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, NoReturn

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

from db.errors import HubSyncError
from db.models import RUN_STATUSES
from db.repository import MAX_SEED, SLUG_MAX_LENGTH, TAG_MAX_LENGTH, validate_slug

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA_VERSION",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_RUNS",
    "MAX_SESSION_BYTES",
    "InputEntry",
    "Manifest",
    "ManifestError",
    "ManifestFile",
    "NotAManifest",
    "OutputEntry",
    "RunEntry",
    "SessionEntry",
    "check_manifest",
    "dump_manifest",
    "parse_manifest",
    "refusal",
]

FORMAT = "latent-studio-session"
MANIFEST_NAME = "session.json"
MANIFEST_SCHEMA_VERSION = 1

# Caps on what a pull accepts, checked against the manifest before anything is downloaded.
# The byte caps are read when a manifest is checked (a test lowers them).
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_FILE_BYTES = 8 * 2**30
MAX_SESSION_BYTES = 64 * 2**30
MAX_FILES = 100_000
MAX_RUNS = 100_000
MAX_PATH_LENGTH = 1000
MAX_NAME_LENGTH = 255

_INT32 = 2**31 - 1
_RUN_ID_PATTERN = r"^\d{8}-\d{6}-[0-9a-f]{6}$"
_SHA256_PATTERN = r"^[0-9a-f]{64}$"
_RUN_ID = re.compile(_RUN_ID_PATTERN)
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class NotAManifest(HubSyncError):
    """A ``session.json`` without the format marker: not a Latent Studio session at all."""


class ManifestError(ValueError):
    """One failed check of a manifest; the message names the field (``runs[3].spec ...``)."""


def refusal(source: str, problem: str) -> HubSyncError:
    """The error for a pull refused because ``source`` failed a check."""
    return HubSyncError(f"refused {source}: {problem}; nothing was written")


# -- field types ---------------------------------------------------------------------------


def _aware_time(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise ManifestError(f"must be an ISO 8601 time with a UTC offset, got {_show(value)}")
    try:  # the store keeps UTC: a time its offset moves out of years 1-9999 cannot be kept
        return parsed.astimezone(UTC) and parsed
    except OverflowError:
        raise ManifestError(f"is out of range in UTC, got {_show(value)}") from None


def _session_path(*tops: str) -> AfterValidator:
    """A path relative to the session folder under one of ``tops`` (``outputs``/``inputs``),
    POSIX, with no way out of it and nothing a file system would treat specially."""

    def check(path: str) -> str:
        def refuse(why: str) -> ManifestError:
            return ManifestError(f"{path!r} {why}")

        if "\\" in path:
            raise refuse("contains a backslash")
        if path.startswith("/") or re.match(r"[A-Za-z]:", path):  # POSIX or Windows absolute
            raise refuse("is absolute")
        parts = path.split("/")
        for part in parts:
            if part == "":
                raise refuse("has an empty segment")
            if part in (".", ".."):
                raise refuse(f"climbs out of the session folder with {part!r}")
            if part.startswith("."):
                raise refuse(f"has a hidden name {part!r}")
            # Control characters, and what Windows forbids: a pulled session must fit any disk.
            if len(part) > MAX_NAME_LENGTH or any(ord(c) < 32 or c in '<>:"|?*\x7f' for c in part):
                raise refuse("has a name no file may have")
        if parts[0] not in tops or len(parts) < 2:
            raise refuse(f"is not inside {' or '.join(top + '/' for top in tops)}")
        if parts[0] == "outputs" and (len(parts) < 3 or not _RUN_ID.fullmatch(parts[1])):
            raise refuse("is not inside outputs/<run id>/")
        return path

    return AfterValidator(check)


def _slug(value: str) -> str:
    try:
        return validate_slug(value)
    except ValueError as exc:
        raise ManifestError(f"is not a valid slug: {exc}") from None


def _file_size(size: int) -> int:
    if size > MAX_FILE_BYTES:
        raise ManifestError(
            f"declares {size} bytes, over the cap of {MAX_FILE_BYTES} bytes per file"
        )
    return size


def _text(max_length: int, *, min_length: int = 0) -> Any:
    return Annotated[str, Field(min_length=min_length, max_length=max_length)]


Slug = Annotated[str, Field(min_length=1, max_length=SLUG_MAX_LENGTH), AfterValidator(_slug)]
Title = _text(200, min_length=1)
Tag = _text(TAG_MAX_LENGTH)
RunKind = _text(32, min_length=1)
FileKind = _text(16, min_length=1)
ModelRef = _text(500)
ErrorType = _text(200)
Device = _text(100)
Count = Annotated[int, Field(ge=0, le=_INT32)]
Size = Annotated[int, Field(ge=0, le=2**63 - 1)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Sha256 = Annotated[str, Field(pattern=_SHA256_PATTERN)]
RunId = Annotated[str, Field(pattern=_RUN_ID_PATTERN)]
Timestamp = Annotated[datetime, PlainValidator(_aware_time)]
RelativePath = _text(MAX_PATH_LENGTH, min_length=1)
OutputPath = Annotated[RelativePath, _session_path("outputs")]
InputPath = Annotated[RelativePath, _session_path("inputs")]
SessionPath = Annotated[RelativePath, _session_path("outputs", "inputs")]
# What the studio stores as it is (a spec, timings, versions): any JSON object.
JsonObject = dict[str, Any]


class _Strict(BaseModel):
    # Strict: no coercion of a wrong type; keys a later version adds are ignored.
    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False, frozen=True)


# -- the models ----------------------------------------------------------------------------


class ManifestFile(_Strict):
    """One file of a session: ``path`` relative to the session folder (POSIX), its sha256 and
    size in bytes."""

    path: SessionPath
    sha256: Sha256
    bytes: Annotated[Size, AfterValidator(_file_size)]


class SessionEntry(_Strict):
    """The session's own fields."""

    slug: Slug
    title: Title
    notes: str
    tags: list[Tag]
    archived: bool
    created_at: Timestamp


class OutputEntry(_Strict):
    """A file (or a folder of frames) a run wrote; ``path`` is under ``outputs/<run id>/``."""

    kind: FileKind
    path: OutputPath
    sha256: Sha256
    bytes: Size
    width: Count
    height: Count
    frames: Count
    fps: float
    has_audio: bool
    created_at: Timestamp


class InputEntry(_Strict):
    """An input file of the session (audio, video, an init image), under ``inputs/``."""

    kind: FileKind
    path: InputPath
    sha256: Sha256
    bytes: Size
    meta: JsonObject
    created_at: Timestamp


class RunEntry(_Strict):
    """A run: its spec, status, seed, timings and outputs."""

    id: RunId
    kind: RunKind
    status: Literal[RUN_STATUSES]
    error: str | None
    error_type: ErrorType | None
    model_ref: ModelRef
    seed: Seed
    schema_version: Count
    frames_done: Count
    frames_total: Count | None
    predicted_denoise_steps: Size | None
    denoise_steps: Size | None
    timings: JsonObject
    versions: JsonObject
    device: Device | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    spec: JsonObject
    # Added after the first manifests were written (the run's plan, its result's extras):
    # absent in those, which read as empty.
    plan: JsonObject = Field(default_factory=dict)
    extra: JsonObject = Field(default_factory=dict)
    outputs: Annotated[list[OutputEntry], Field(max_length=MAX_FILES)]


class Manifest(_Strict):
    """A manifest that passed every check: timestamps are aware datetimes, paths are safe,
    every file belongs to an output or input row and every row is backed by its files."""

    format: Literal[FORMAT]
    schema_version: Annotated[int, Field(ge=1, le=MANIFEST_SCHEMA_VERSION)]
    session: SessionEntry
    runs: Annotated[list[RunEntry], Field(max_length=MAX_RUNS)]
    inputs: Annotated[list[InputEntry], Field(max_length=MAX_FILES)]
    files: Annotated[list[ManifestFile], Field(max_length=MAX_FILES)]

    @model_validator(mode="after")
    def _rows_match_files(self) -> Manifest:
        outputs = _outputs_by_path(self.runs)
        total = sum(f.bytes for f in self.files)
        if total > MAX_SESSION_BYTES:
            raise ManifestError(
                f"files total {total} bytes, over the cap of {MAX_SESSION_BYTES} per session"
            )
        _check_files_match_rows(self.files, outputs, self.inputs)
        return self


def _outputs_by_path(runs: list[RunEntry]) -> dict[str, tuple[str, OutputEntry]]:
    """``{path: (run id, output)}``; each output inside its own run's folder, listed once."""
    if len({run.id for run in runs}) != len(runs):
        raise ManifestError("two runs have the same id")
    outputs: dict[str, tuple[str, OutputEntry]] = {}
    for i, run in enumerate(runs):
        for j, output in enumerate(run.outputs):
            where = f"runs[{i}].outputs[{j}].path {output.path!r}"
            if not output.path.startswith(f"outputs/{run.id}/"):
                raise ManifestError(f"{where} is not inside outputs/{run.id}/")
            if output.path in outputs:
                raise ManifestError(f"{where} is listed twice")
            outputs[output.path] = (run.id, output)
    return outputs


def _check_files_match_rows(
    files: list[ManifestFile],
    outputs: dict[str, tuple[str, OutputEntry]],
    inputs: list[InputEntry],
) -> None:
    """Every file belongs to an output or input row, and every row is backed by its files."""
    by_path = {f.path: f for f in files}
    if len(by_path) != len(files):
        raise ManifestError("a path is listed twice in files")
    folders = {str(parent) for path in by_path for parent in PurePosixPath(path).parents}
    for path in by_path:
        if path in folders:
            raise ManifestError(f"files lists {path} both as a file and as a folder")
    in_folder: dict[str, list[ManifestFile]] = {}
    for f in files:
        in_folder.setdefault(str(PurePosixPath(f.path).parent), []).append(f)
    input_paths = {media.path: media for media in inputs}
    for f in files:
        parent = str(PurePosixPath(f.path).parent)
        if f.path not in outputs and parent not in outputs and f.path not in input_paths:
            raise ManifestError(f"files lists {f.path}, which is no output or input of the session")
    for path, (run_id, output) in outputs.items():
        where = f"output {path} of run {run_id}"
        if path in by_path:
            f = by_path[path]
            if (f.sha256, f.bytes) != (output.sha256, output.bytes):
                raise ManifestError(f"{where} has another sha256 or size than its entry in files")
        elif path in in_folder:
            if sum(f.bytes for f in in_folder[path]) != output.bytes:
                raise ManifestError(f"{where}: its frames' sizes do not add up to its bytes")
        elif (output.sha256, output.bytes) != (_EMPTY_SHA256, 0):
            raise ManifestError(f"{where} has no file in files")
    for path, media in input_paths.items():
        f = by_path.get(path)
        if f is None or (f.sha256, f.bytes) != (media.sha256, media.bytes):
            raise ManifestError(f"input {path} has no matching entry in files")


# -- reading and writing -------------------------------------------------------------------


def check_manifest(raw: Any) -> Manifest:
    """Check a decoded manifest completely; raises ``ManifestError`` naming the first failed
    field and check (and how many more failed)."""
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ManifestError(_describe(exc)) from None


def parse_manifest(data: bytes, source: str) -> Manifest:
    """Parse and check a manifest completely (``source`` names it in messages).

    Raises ``NotAManifest`` if it lacks the format marker, and ``HubSyncError`` naming the
    field and the check for anything else: invalid JSON (NaN, duplicate keys included), a
    newer schema version, a missing or mistyped field, an unsafe path, a size over a cap, a
    file that belongs to no row or a row without its file.
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise refusal(source, f"it is {len(data)} bytes, over the cap of {MAX_MANIFEST_BYTES}")
    try:
        raw = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_no_constants,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise refusal(source, f"it is not valid JSON ({exc})") from None
    except RecursionError:
        raise refusal(source, _TOO_DEEP) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise NotAManifest(
            f"{source} is not a Latent Studio session (format {found!r}, expected {FORMAT!r})"
        )
    version = raw.get("schema_version")
    if type(version) is int and version > MANIFEST_SCHEMA_VERSION:
        raise HubSyncError(
            f"{source} was written by a newer Latent Studio (manifest schema version {version}; "
            f"this version reads up to {MANIFEST_SCHEMA_VERSION}); update Latent Studio to pull it"
        )
    try:
        return check_manifest(raw)
    except ManifestError as exc:
        raise refusal(source, str(exc)) from None
    except RecursionError:
        raise refusal(source, _TOO_DEEP) from None
    except (OverflowError, ValueError) as exc:  # a date its time zone moves past 9999
        raise refusal(source, f"it holds a value out of range ({exc})") from None


_TOO_DEEP = "it is nested too deeply (lists or objects inside each other)"


def dump_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest as UTF-8 JSON bytes."""
    # Deterministic bytes: an unchanged session gives an unchanged manifest, hence no commit.
    return (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed")


# -- pydantic's errors, in the words of the rest of the studio ------------------------------

# "<field> <message>"; {input} is the refused value, the rest comes from the error's context.
_MESSAGES = {
    "missing": "is missing",
    "string_too_short": "must not be empty",
    "string_too_long": "is longer than {max_length} characters",
    "too_long": "has {actual_length} entries, over the cap of {max_length}",
    "string_type": "must be a string, got {input}",
    "int_type": "must be an integer, got {input}",
    "float_type": "must be a number, got {input}",
    "finite_number": "must be a finite number, got {input}",
    "bool_type": "must be true or false, got {input}",
    "dict_type": "must be an object, got {input}",
    "model_type": "must be an object, got {input}",
    "list_type": "must be a list, got {input}",
    "greater_than_equal": "must be at least {ge}, got {input}",
    "less_than_equal": "must be at most {le}, got {input}",
    "literal_error": "must be one of {expected}, got {input}",
    "string_pattern_mismatch": "must be {pattern}, got {input}",
}
_PATTERNS = {
    _SHA256_PATTERN: "64 lowercase hex digits",
    _RUN_ID_PATTERN: "a run id like 20260101-120000-abcdef",
}


def _describe(exc: ValidationError) -> str:
    """The first error as ``runs[3].seed must be an integer, got '7'``."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    context = dict(first.get("ctx") or {})
    if first["type"] == "value_error":  # a ManifestError: one of our own checks
        text = str(context["error"])
    elif first["type"] in _MESSAGES:
        context["input"] = _show(first["input"])
        if "pattern" in context:
            context["pattern"] = _PATTERNS.get(context["pattern"], repr(context["pattern"]))
        text = _MESSAGES[first["type"]].format_map(context)
    else:  # anything rarer: pydantic's own message
        text = first["msg"]
    where = _where(first["loc"])
    message = f"{where} {text}" if where else text
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    return message


def _where(loc: tuple[int | str, ...]) -> str:
    """``("runs", 3, "seed")`` -> ``runs[3].seed``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _show(value: Any) -> str:
    text = reprlib.repr(value) if isinstance(value, dict | list) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
