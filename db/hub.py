"""Hub sync: push experiment sessions to a Hugging Face Hub dataset repo and pull them back.

One dataset repo holds many sessions, one folder each::

    <slug>/session.json                 the manifest (below)
    <slug>/outputs/<run-id>/...         outputs/<slug>/<run-id>/... of STUDIO_HOME
    <slug>/inputs/...                   inputs/<slug>/... of STUDIO_HOME

The manifest, its format and its checks are in ``db.manifest``.

Push (``push_session``) makes one commit per session, private repo by default, and uploads
only the files whose content differs from what the repo holds (compared with the repo's own
tree listing: git blob ids and LFS sha256s, not with what the remote manifest claims). A
push with nothing changed makes no commit at all.

Pull (``pull_session``) trusts nothing in the repo. Before it writes anything it checks the
manifest (JSON, format marker, schema version, every field's type), every path (relative,
inside the session folder, no ``..``, no backslash, no empty or hidden segment), the size
caps of ``db.manifest``, that every file is present with the declared size, and after downloading, each
file's sha256 and size. Only then does it import: the rows in one transaction, the files
moved in place by renaming whole folders, undone if the transaction fails. A session that
exists locally is never overwritten or merged into: the pull refuses, or takes a new name.

Login: the token is whatever ``huggingface_hub`` finds (``hf auth login`` or ``HF_TOKEN``); this
module never passes or stores one, it only checks that there is one before a push. ``HF_ENDPOINT`` is read at each call, so a process
can be pointed at another Hub (a mirror, the tests' local server) after it started.

Every error is a ``HubSyncError`` whose message says what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

# httpx2 is huggingface_hub's HTTP client; its transport errors are how "cannot connect" shows.
import httpx2
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.errors import HubSyncError
from db.files import FolderMoves, digest, human_bytes
from db.manifest import (
    FORMAT,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestFile,
    NotAManifest,
    build_manifest,
    dump_manifest,
    parse_manifest,
    refusal,
)
from db.models import (
    ACTIVE_STATUSES,
    INTERRUPTED,
    ExperimentSession,
    InputMedia,
    Output,
    Run,
    utcnow,
)
from db.paths import session_folders, staging_root
from db.repository import SLUG_MAX_LENGTH, get_session, normalize_tags, validate_slug
from db.store import Store

__all__ = [
    "PullReport",
    "PushReport",
    "RemoteSession",
    "list_remote_sessions",
    "pull_session",
    "push_session",
]

REPO_TYPE = "dataset"

_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_CHUNK = 1 << 20
_LOGIN_HINT = "run `hf auth login` (or set HF_TOKEN) and try again"


# -- reports -------------------------------------------------------------------------------


@dataclass
class PushReport:
    """What a push did. Paths are relative to the session folder in the repo.

    ``commit`` is ``None`` when the repo already held exactly this session (nothing changed).
    ``created_repo`` says the push created the repo, ``private`` whether it created it private.
    """

    repo_id: str
    slug: str
    commit: str | None
    created_repo: bool
    private: bool | None = None
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    uploaded_bytes: int = 0
    manifest_changed: bool = False

    def summary(self) -> str:
        """One line for a person."""
        if self.commit is None:
            return (
                f"session {self.slug!r} is already up to date in {self.repo_id}: nothing uploaded "
                f"({len(self.skipped)} files unchanged)"
            )
        created = ""
        if self.created_repo:
            created = f" (new {'private' if self.private else 'public'} repo)"
        return (
            f"pushed session {self.slug!r} to {self.repo_id}{created} in commit {self.commit[:8]}: "
            f"{len(self.uploaded)} files uploaded ({human_bytes(self.uploaded_bytes)}), "
            f"{len(self.skipped)} unchanged, {len(self.deleted)} deleted"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "slug": self.slug,
            "commit": self.commit,
            "created_repo": self.created_repo,
            "private": self.private,
            "uploaded": self.uploaded,
            "skipped": self.skipped,
            "deleted": self.deleted,
            "uploaded_bytes": self.uploaded_bytes,
            "manifest_changed": self.manifest_changed,
        }


@dataclass(frozen=True)
class RemoteSession:
    """A session a repo holds, as its manifest describes it.

    ``problem`` is set (and the counts may be zero) when the manifest is a Latent Studio one
    that this version cannot pull, e.g. one from a newer schema version.
    """

    slug: str
    title: str
    runs: int
    files: int
    bytes: int
    created_at: str | None
    schema_version: int | None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "title": self.title,
            "runs": self.runs,
            "files": self.files,
            "bytes": self.bytes,
            "created_at": self.created_at,
            "schema_version": self.schema_version,
            "problem": self.problem,
        }


@dataclass
class PullReport:
    """What a pull did.

    ``slug`` is the local name, ``source_slug`` the name in the repo; ``renamed`` says the
    local name was chosen because the wanted one was taken. ``run_ids`` maps a run id from the
    repo to the new id it got here, for the (rare) runs whose id was already in use locally.
    """

    repo_id: str
    revision: str
    source_slug: str
    slug: str
    renamed: bool
    with_outputs: bool
    runs: int
    outputs: int
    files: int
    bytes: int
    run_ids: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for a person."""
        name = repr(self.slug)
        if self.slug != self.source_slug:
            why = " (that name was taken here)" if self.renamed else ""
            name = f"{self.source_slug!r} as {self.slug!r}{why}"
        what = (
            f"{self.runs} runs, {self.outputs} outputs, {self.files} files "
            f"({human_bytes(self.bytes)})"
            if self.with_outputs
            else f"{self.runs} runs, settings only (no output files)"
        )
        return f"pulled session {name} from {self.repo_id}@{self.revision[:8]}: {what}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "source_slug": self.source_slug,
            "slug": self.slug,
            "renamed": self.renamed,
            "with_outputs": self.with_outputs,
            "runs": self.runs,
            "outputs": self.outputs,
            "files": self.files,
            "bytes": self.bytes,
            "run_ids": self.run_ids,
        }


# -- push ----------------------------------------------------------------------------------


def push_session(
    store: Store,
    slug: str,
    repo_id: str,
    *,
    private: bool = True,
    replace: bool = False,
    api: HfApi | None = None,
) -> PushReport:
    """Push the local session ``slug`` to ``<repo_id>/<slug>/`` in one commit.

    The dataset repo is created if missing (private unless ``private=False``; an existing
    repo keeps its visibility). Only files whose content differs from the repo's are uploaded;
    files the repo holds for this session that are no longer part of it are deleted in the
    same commit. If the repo's folder ``<slug>/`` holds a *different* session (another
    creation time, e.g. another machine's ``default``), the push is refused unless
    ``replace=True``. On success the session's ``hub_repo`` and ``last_sync_at`` are set.

    Raises ``NotFound`` for an unknown slug, ``SessionBusy`` while one of its runs is queued or
    running, and ``HubSyncError`` for everything else (no login, Hub unreachable, a local file
    missing or changed since it was recorded, ...).
    """
    api = _api(api)
    _check_repo_id(repo_id)
    snapshot = build_manifest(store, slug)
    manifest_bytes = dump_manifest(snapshot.manifest)
    _require_login(api, f"push session {slug!r}")
    manifest_path = f"{slug}/{MANIFEST_NAME}"

    with _hub_errors(api, repo_id, f"pushing session {slug!r} to {repo_id}"):
        created = False
        head = _head_commit(api, repo_id, missing_ok=True)
        if head is None:
            api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
            created = True
            head = _head_commit(api, repo_id)
        remote = _remote_files(api, repo_id, slug, head)
        if not replace:
            _check_same_session(api, repo_id, slug, head, remote, snapshot.manifest)

        report = PushReport(
            repo_id=repo_id,
            slug=slug,
            commit=None,
            created_repo=created,
            private=private if created else None,
        )
        operations: list[CommitOperationAdd | CommitOperationDelete] = []
        for entry, local_path in snapshot.files:
            repo_path = f"{slug}/{entry.path}"
            if _same_content(remote.get(repo_path), entry.bytes, entry.sha256, local_path):
                report.skipped.append(entry.path)
            else:
                operations.append(CommitOperationAdd(repo_path, local_path))
                report.uploaded.append(entry.path)
                report.uploaded_bytes += entry.bytes
        wanted = {f"{slug}/{entry.path}" for entry, _ in snapshot.files} | {manifest_path}
        for repo_path in sorted(set(remote) - wanted):
            operations.append(CommitOperationDelete(repo_path))
            report.deleted.append(repo_path[len(slug) + 1 :])
        if not _same_bytes(remote.get(manifest_path), manifest_bytes):
            operations.append(CommitOperationAdd(manifest_path, manifest_bytes))
            report.manifest_changed = True
        if operations:
            info = api.create_commit(
                repo_id,
                operations,
                repo_type=REPO_TYPE,
                commit_message=f"Latent Studio: session {slug}",
                commit_description=(
                    f"{len(report.uploaded)} files uploaded, {len(report.skipped)} unchanged, "
                    f"{len(report.deleted)} deleted."
                ),
                parent_commit=head,
            )
            report.commit = info.oid

    with store.begin() as s:
        session = get_session(s, slug)
        session.hub_repo = repo_id
        session.last_sync_at = utcnow()
    return report


def _check_same_session(
    api: HfApi,
    repo_id: str,
    slug: str,
    head: str,
    remote: dict[str, RepoFile],
    manifest: dict[str, Any],
) -> None:
    """Refuse to push over a folder that holds another session, or something else."""
    if not remote:
        return
    manifest_path = f"{slug}/{MANIFEST_NAME}"
    where = f"{repo_id}/{slug}"
    if manifest_path not in remote:
        raise HubSyncError(
            f"{where}/ already holds files that are not a Latent Studio session; "
            "push to another repo, or pass replace (--replace) to overwrite them"
        )
    with tempfile.TemporaryDirectory(prefix="studio-push-") as tmp:
        data = _download_manifest(api, repo_id, manifest_path, head, remote[manifest_path], tmp)
    try:
        theirs = json.loads(data)
        created = theirs["session"]["created_at"]
    except (ValueError, KeyError, TypeError):
        raise HubSyncError(
            f"{where}/{MANIFEST_NAME} cannot be read as a Latent Studio session; pass replace "
            "(--replace) to overwrite that folder"
        ) from None
    if created != manifest["session"]["created_at"]:
        raise HubSyncError(
            f"{where} holds a different session named {slug!r} (created {created}, yours "
            f"{manifest['session']['created_at']}); rename yours before pushing, or pass "
            "replace (--replace) to overwrite it"
        )


def _same_content(remote: RepoFile | None, size: int, sha256: str, path: Path) -> bool:
    """Whether the repo's file has this content: by LFS sha256, else by git blob id."""
    if remote is None or remote.size != size:
        return False
    if remote.lfs is not None:
        return remote.lfs.sha256 == sha256
    return remote.blob_id == _git_blob_id(path, size)


def _same_bytes(remote: RepoFile | None, data: bytes) -> bool:
    if remote is None or remote.size != len(data):
        return False
    if remote.lfs is not None:
        return remote.lfs.sha256 == hashlib.sha256(data).hexdigest()
    return remote.blob_id == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _git_blob_id(path: Path, size: int) -> str:
    """The id git gives a file's content (what the Hub's tree reports for non-LFS files)."""
    h = hashlib.sha1(b"blob %d\0" % size)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# -- list ----------------------------------------------------------------------------------


def list_remote_sessions(repo_id: str, *, api: HfApi | None = None) -> list[RemoteSession]:
    """The sessions ``repo_id`` holds, by slug, read from their manifests.

    Reading a public repo needs no login. Nothing is written to ``STUDIO_HOME``.

    Raises ``HubSyncError`` if the repo cannot be reached or read, or holds no Latent Studio
    session at all.
    """
    api = _api(api)
    _check_repo_id(repo_id)
    sessions: list[RemoteSession] = []
    with _hub_errors(api, repo_id, f"listing the sessions in {repo_id}"):
        head = _head_commit(api, repo_id)
        entries = _manifest_entries(api, repo_id, head)
        with tempfile.TemporaryDirectory(prefix="studio-list-") as tmp:
            for folder, entry in entries.items():
                source = f"{repo_id}/{entry.path}"
                try:
                    data = _download_manifest(api, repo_id, entry.path, head, entry, tmp)
                    manifest = parse_manifest(data, source)
                except NotAManifest:
                    continue
                except HubSyncError as exc:
                    sessions.append(
                        RemoteSession(folder, folder, 0, 0, 0, None, None, problem=str(exc))
                    )
                    continue
                if manifest.session["slug"] != folder:
                    problem = (
                        f"{source} describes session {manifest.session['slug']!r}, not {folder!r}"
                    )
                else:
                    problem = None
                sessions.append(
                    RemoteSession(
                        slug=folder,
                        title=manifest.session["title"],
                        runs=len(manifest.runs),
                        files=len(manifest.files),
                        bytes=sum(f.bytes for f in manifest.files),
                        created_at=manifest.session["created_at"].isoformat(),
                        schema_version=manifest.schema_version,
                        problem=problem,
                    )
                )
    if not sessions:
        raise _not_a_studio_repo(repo_id)
    return sessions


def _manifest_entries(api: HfApi, repo_id: str, head: str) -> dict[str, RepoFile]:
    """``{folder: its session.json entry}`` for each top-level folder that has one."""
    folders = [
        entry.path
        for entry in api.list_repo_tree(repo_id, repo_type=REPO_TYPE, revision=head)
        if isinstance(entry, RepoFolder)
    ]
    if not folders:
        return {}
    infos = api.get_paths_info(
        repo_id, [f"{d}/{MANIFEST_NAME}" for d in folders], repo_type=REPO_TYPE, revision=head
    )
    found = {
        info.path.split("/", 1)[0]: info
        for info in infos
        if isinstance(info, RepoFile) and info.path.count("/") == 1
    }
    return dict(sorted(found.items()))


def _not_a_studio_repo(repo_id: str) -> HubSyncError:
    return HubSyncError(
        f"{repo_id} is not a Latent Studio repo: no folder in it holds a Latent Studio "
        f"{MANIFEST_NAME} (format {FORMAT!r})"
    )


# -- pull ----------------------------------------------------------------------------------


def pull_session(
    store: Store,
    repo_id: str,
    slug: str,
    *,
    with_outputs: bool = True,
    as_slug: str | None = None,
    on_conflict: Literal["error", "rename"] = "error",
    api: HfApi | None = None,
) -> PullReport:
    """Import session ``slug`` of ``repo_id`` into the store, checking everything first.

    The session is imported as ``as_slug`` (default: its own slug). If that name is taken
    here (a session, or a leftover folder), ``on_conflict="error"`` refuses and
    ``"rename"`` imports it as ``<name>-2`` (``-3``, ...). Nothing local is ever overwritten.

    ``with_outputs=False`` imports the session and its runs (specs, statuses, timings, seeds,
    versions) without downloading any file; such a session has no output or input rows.

    Runs that were queued or running when pushed are imported as ``interrupted``: nothing
    renders them here. A run whose id is already used locally (the same session pulled twice
    under two names) gets a new id with the same time prefix; ``PullReport.run_ids`` lists
    those.

    Raises ``HubSyncError`` for any failed check (naming the file and the check), a name that
    is taken with ``on_conflict="error"``, or a Hub problem; nothing is written then. Raises
    ``ValueError`` for an invalid ``as_slug`` or ``on_conflict``.
    """
    api = _api(api)
    _check_repo_id(repo_id)
    if on_conflict not in ("error", "rename"):
        raise ValueError(f"on_conflict must be 'error' or 'rename', got {on_conflict!r}")
    _check_slug(slug, "session")
    wanted = validate_slug(as_slug) if as_slug is not None else slug
    with store.session() as s:
        _free_slug(s, store.home, wanted, on_conflict)  # fail before downloading anything

    staging = staging_root(store.home) / f"pull-{secrets.token_hex(6)}"
    try:
        with _hub_errors(api, repo_id, f"pulling session {slug!r} from {repo_id}"):
            head = _head_commit(api, repo_id)
            manifest = _fetch_manifest(api, repo_id, slug, head, staging / "manifest")
            files = manifest.files if with_outputs else []
            if files:
                _check_remote_files(api, repo_id, slug, head, files, store.home)
                for entry in files:
                    api.hf_hub_download(
                        repo_id,
                        f"{slug}/{entry.path}",
                        repo_type=REPO_TYPE,
                        revision=head,
                        local_dir=staging / "download",
                    )
        try:
            if with_outputs:
                _verify_and_arrange(
                    manifest, staging / "download" / slug, staging / "session", slug
                )
            local_slug, run_ids = _import(
                store, manifest, wanted, on_conflict, repo_id, staging / "session", with_outputs
            )
        except OSError as exc:  # a full disk, a permission, ...: the import was undone
            raise HubSyncError(
                f"pulling session {slug!r} failed while writing to STUDIO_HOME ({exc}); "
                "nothing was written"
            ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(staging_root(store.home))

    outputs = sum(len(run["outputs"]) for run in manifest.runs) if with_outputs else 0
    return PullReport(
        repo_id=repo_id,
        revision=head,
        source_slug=slug,
        slug=local_slug,
        renamed=local_slug != wanted,
        with_outputs=with_outputs,
        runs=len(manifest.runs),
        outputs=outputs,
        files=len(files),
        bytes=sum(f.bytes for f in files),
        run_ids={old: new for old, new in run_ids.items() if old != new},
    )


def _fetch_manifest(api: HfApi, repo_id: str, slug: str, head: str, folder: Path) -> Manifest:
    path = f"{slug}/{MANIFEST_NAME}"
    infos = api.get_paths_info(repo_id, [path], repo_type=REPO_TYPE, revision=head)
    entry = next((i for i in infos if isinstance(i, RepoFile) and i.path == path), None)
    if entry is None:
        held = sorted(_manifest_entries(api, repo_id, head))
        if not held:
            raise _not_a_studio_repo(repo_id)
        raise HubSyncError(
            f"{repo_id} holds no session {slug!r}; it holds: {', '.join(held)} "
            f"(see `python -m studio sessions remote --repo {repo_id}`)"
        )
    source = f"{repo_id}/{path}"
    data = _download_manifest(api, repo_id, path, head, entry, folder)
    try:
        manifest = parse_manifest(data, source)
    except NotAManifest as exc:
        raise HubSyncError(f"{exc}; is {repo_id} a Latent Studio repo?") from None
    if manifest.session["slug"] != slug:
        raise refusal(source, f"it describes session {manifest.session['slug']!r}, not {slug!r}")
    return manifest


def _check_remote_files(
    api: HfApi, repo_id: str, slug: str, head: str, files: list[ManifestFile], home: Path
) -> None:
    """Every listed file present in the repo with its declared size, and room for them here."""
    remote = _remote_files(api, repo_id, slug, head)
    source = f"{repo_id}/{slug}/{MANIFEST_NAME}"
    for entry in files:
        found = remote.get(f"{slug}/{entry.path}")
        if found is None:
            raise refusal(source, f"it lists {entry.path}, which is not in the repo")
        if found.size != entry.bytes:
            raise refusal(
                source,
                f"{entry.path} is {found.size} bytes in the repo but the manifest says "
                f"{entry.bytes}",
            )
    needed = sum(f.bytes for f in files)
    free = shutil.disk_usage(home).free
    if needed > free:
        raise HubSyncError(
            f"session {slug!r} needs {human_bytes(needed)} but STUDIO_HOME has only "
            f"{human_bytes(free)} free; free some space or pull settings only"
        )


def _verify_and_arrange(manifest: Manifest, downloaded: Path, session_dir: Path, slug: str) -> None:
    """Check each downloaded file (a regular file, its size and sha256) and move it to
    ``session_dir/<path>``; then check every output folder's digest."""
    source = f"{slug}/{MANIFEST_NAME}"
    root = downloaded.resolve()
    for entry in manifest.files:
        path = downloaded.joinpath(*PurePosixPath(entry.path).parts)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            raise refusal(source, f"{entry.path} was not downloaded") from None
        if not stat.S_ISREG(info.st_mode) or not path.resolve().is_relative_to(root):
            raise refusal(source, f"{entry.path} is not a regular file inside the session folder")
        sha256, size = digest(path)
        if size != entry.bytes:
            raise refusal(source, f"{entry.path} is {size} bytes, the manifest says {entry.bytes}")
        if sha256 != entry.sha256:
            raise refusal(
                source,
                f"{entry.path} has sha256 {sha256}, the manifest says {entry.sha256} "
                "(the file or the manifest was changed)",
            )
        target = session_dir.joinpath(*PurePosixPath(entry.path).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(path, target)
    for run in manifest.runs:
        for output in run["outputs"]:
            path = session_dir.joinpath(*PurePosixPath(output["path"]).parts)
            if not path.exists():  # an empty folder of frames: nothing was listed to download
                path.mkdir(parents=True)
            if digest(path) != (output["sha256"], output["bytes"]):
                raise refusal(
                    source,
                    f"output {output['path']} of run {run['id']} does not match its sha256",
                )


def _import(
    store: Store,
    manifest: Manifest,
    wanted: str,
    on_conflict: str,
    repo_id: str,
    session_dir: Path,
    with_outputs: bool,
) -> tuple[str, dict[str, str]]:
    """Insert the rows and move the checked files in place, all or nothing."""
    moves = FolderMoves()
    try:
        with store.begin() as s:
            slug = _free_slug(s, store.home, wanted, on_conflict)
            run_ids = _new_run_ids(s, [run["id"] for run in manifest.runs])
            fields = manifest.session
            session = ExperimentSession(
                slug=slug,
                title=fields["title"],
                notes=fields["notes"],
                tags=normalize_tags(fields["tags"]),
                archived=fields["archived"],
                created_at=fields["created_at"],
                hub_repo=repo_id,
                last_sync_at=utcnow(),
            )
            s.add(session)
            for entry in manifest.runs:
                run_id = run_ids[entry["id"]]
                status, error = entry["status"], entry["error"]
                if status in ACTIVE_STATUSES:
                    status, error = INTERRUPTED, f"was {status} when pushed to the Hub"
                run = Run(
                    id=run_id,
                    session=session,
                    **{key: entry[key] for key in _RUN_COPIED},
                    status=status,
                    error=error,
                    pid=None,
                    hostname=None,
                )
                s.add(run)
                if not with_outputs:
                    continue
                for output in entry["outputs"]:
                    rest = output["path"].split("/", 2)[2]  # outputs/<old run id>/<rest>
                    s.add(
                        Output(
                            run=run,
                            path=f"outputs/{slug}/{run_id}/{rest}",
                            **{key: output[key] for key in _OUTPUT_COPIED},
                        )
                    )
            if with_outputs:
                for media in manifest.inputs:
                    rest = media["path"].split("/", 1)[1]
                    s.add(
                        InputMedia(
                            session=session,
                            path=f"inputs/{slug}/{rest}",
                            **{key: media[key] for key in ("kind", "sha256", "bytes", "meta")},
                            created_at=media["created_at"],
                        )
                    )
            s.flush()
            if with_outputs:
                staged_outputs = session_dir / "outputs"
                for old, new in run_ids.items():
                    if old != new and (staged_outputs / old).exists():
                        os.rename(staged_outputs / old, staged_outputs / new)
                outputs_dir, inputs_dir = session_folders(store.home, slug)
                if staged_outputs.exists():
                    moves.move(staged_outputs, outputs_dir)
                if (session_dir / "inputs").exists():
                    moves.move(session_dir / "inputs", inputs_dir)
    except BaseException:
        moves.undo()
        raise
    return slug, run_ids


_RUN_COPIED = (
    "kind",
    "spec",
    "schema_version",
    "model_ref",
    "seed",
    "error_type",
    "frames_done",
    "frames_total",
    "predicted_denoise_steps",
    "denoise_steps",
    "timings",
    "versions",
    "plan",
    "extra",
    "device",
    "created_at",
    "started_at",
    "finished_at",
)
_OUTPUT_COPIED = (
    "kind",
    "sha256",
    "bytes",
    "width",
    "height",
    "frames",
    "fps",
    "has_audio",
    "created_at",
)


def _free_slug(s: Session, home: Path, wanted: str, on_conflict: str) -> str:
    """``wanted`` if no session and no folder has it; else refuse, or the first free
    ``wanted-N``."""
    if _slug_free(s, home, wanted):
        return wanted
    if on_conflict == "error":
        raise HubSyncError(
            f"a session named {wanted!r} already exists here; it is not overwritten. Pull it "
            "under another name (as_slug / --as NEW) or let the studio pick one "
            "(on_conflict='rename' / --rename-if-exists)"
        )
    for n in range(2, 10_000):
        suffix = f"-{n}"
        candidate = wanted[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix
        if _slug_free(s, home, candidate):
            return candidate
    raise HubSyncError(f"no free name like {wanted!r}-N; pull with as_slug")


def _slug_free(s: Session, home: Path, slug: str) -> bool:
    if s.scalar(select(ExperimentSession.id).where(ExperimentSession.slug == slug)) is not None:
        return False
    return not any(f.exists() or f.is_symlink() for f in session_folders(home, slug))


def _new_run_ids(s: Session, ids: list[str]) -> dict[str, str]:
    """Keep each run id unless it is used here already; then keep its time, new random part."""
    taken = set(s.scalars(select(Run.id).where(Run.id.in_(ids))))
    used = set(ids) | taken
    result = {}
    for run_id in ids:
        new = run_id
        while new in taken or (new != run_id and new in used):
            new = f"{run_id[:15]}-{secrets.token_hex(3)}"
        used.add(new)
        result[run_id] = new
    return result


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):
        folder.rmdir()


# -- talking to the Hub --------------------------------------------------------------------


def _api(api: HfApi | None) -> HfApi:
    if api is not None:
        return api
    # Read HF_ENDPOINT now: huggingface_hub read it once, when it was first imported.
    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, library_name="latent-studio")


def _check_repo_id(repo_id: str) -> None:
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise HubSyncError(
            f"a Hub repo is named ORG/NAME (e.g. alice/studio-sessions), got {repo_id!r}"
        )


def _check_slug(slug: str, what: str) -> None:
    try:
        validate_slug(slug)
    except ValueError as exc:
        raise HubSyncError(f"{what} name: {exc}") from None


def _require_login(api: HfApi, doing: str) -> None:
    if not (isinstance(api.token, str) and api.token) and not _logged_in():
        raise HubSyncError(
            f"cannot {doing}: you are not logged in to the Hugging Face Hub; {_LOGIN_HINT}. "
            "Latent Studio never stores a token itself"
        )


def _head_commit(api: HfApi, repo_id: str, *, missing_ok: bool = False) -> str | None:
    """The commit ``main`` points at; every later read uses it, so the manifest and the files
    come from one commit even if someone pushes meanwhile. This is also the first request of
    each operation, and it is not retried: an unreachable Hub is reported at once."""
    try:
        info = api.repo_info(repo_id, repo_type=REPO_TYPE)
    except RepositoryNotFoundError:
        if missing_ok:
            return None
        raise
    if not info.sha:
        raise HubSyncError(f"the Hub gave no commit for {repo_id}; is it empty?")
    return info.sha


def _remote_files(api: HfApi, repo_id: str, folder: str, revision: str) -> dict[str, RepoFile]:
    """``{path in repo: entry}`` for every file under ``folder/`` (empty if there is none)."""
    try:
        entries = list(
            api.list_repo_tree(
                repo_id, folder, recursive=True, repo_type=REPO_TYPE, revision=revision
            )
        )
    except RemoteEntryNotFoundError:
        return {}
    return {e.path: e for e in entries if isinstance(e, RepoFile)}


def _download_manifest(
    api: HfApi, repo_id: str, path: str, revision: str, entry: RepoFile, folder: Path | str
) -> bytes:
    source = f"{repo_id}/{path}"
    if entry.size > MAX_MANIFEST_BYTES:
        raise refusal(source, f"it is {entry.size} bytes, over the cap of {MAX_MANIFEST_BYTES}")
    local = Path(
        api.hf_hub_download(repo_id, path, repo_type=REPO_TYPE, revision=revision, local_dir=folder)
    )
    if local.is_symlink() or local.stat().st_size > MAX_MANIFEST_BYTES:
        raise refusal(source, "it is not a small regular file")
    return local.read_bytes()


@contextmanager
def _hub_errors(api: HfApi, repo_id: str, doing: str) -> Iterator[None]:
    """Turn what huggingface_hub and its HTTP client raise into one clear HubSyncError."""
    try:
        yield
    except HubSyncError:
        raise
    except OfflineModeIsEnabled:
        raise HubSyncError(
            f"{doing} failed: huggingface_hub is in offline mode (HF_HUB_OFFLINE is set); "
            "unset it to reach the Hub"
        ) from None
    except RepositoryNotFoundError:
        hint = "" if _logged_in() else f"; you are not logged in: {_LOGIN_HINT}"
        raise HubSyncError(
            f"{doing} failed: dataset repo {repo_id} was not found on {api.endpoint} "
            f"(or it is private and this login cannot see it){hint}"
        ) from None
    except RevisionNotFoundError:
        raise HubSyncError(f"{doing} failed: {repo_id} has no main branch; is it empty?") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            message = f"the Hub refused your login (401 Unauthorized); {_LOGIN_HINT}"
        elif status == 403:
            message = (
                f"your login may not write to {repo_id} (403 Forbidden); use a token with "
                "write access to it"
            )
        elif status in (409, 412):
            message = f"{repo_id} changed while this was running ({status}); try again"
        else:
            detail = exc.server_message or str(exc).splitlines()[0]
            message = f"the Hub answered {status}: {detail}"
        raise HubSyncError(f"{doing} failed: {message}") from None
    except (httpx2.TransportError, LocalEntryNotFoundError, ConnectionError) as exc:
        # LocalEntryNotFoundError: hf_hub_download's way of saying its HEAD request failed.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HubSyncError(
            f"{doing} failed: cannot reach the Hugging Face Hub at {api.endpoint} ({reason}); "
            "check the network connection and proxy, and HF_ENDPOINT if you set it"
        ) from None
    except HFValidationError as exc:
        raise HubSyncError(f"{doing} failed: {exc}") from None
    except OSError as exc:  # a download cut short, a full disk, ...
        raise HubSyncError(f"{doing} failed: {exc}") from None


def _logged_in() -> bool:
    try:
        return bool(get_token())
    except Exception:  # e.g. an OIDC exchange that failed: no usable login either way
        return False
