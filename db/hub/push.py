"""Push: one local session to ``<repo>/<slug>/`` in one commit, uploading only what changed.

What changed is decided against the repo's own tree listing (git blob ids and LFS sha256s),
not against what the remote manifest claims. A push with nothing changed makes no commit.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.hf_api import RepoFile

from db.errors import HubSyncError
from db.hub.client import (
    REPO_TYPE,
    check_repo_id,
    download_manifest,
    head_commit,
    hub_api,
    hub_errors,
    remote_files,
    require_login,
)
from db.hub.reports import PushReport
from db.hub.snapshot import build_manifest
from db.manifest import MANIFEST_NAME, dump_manifest
from db.models import utcnow
from db.repository import get_session
from db.store import Store

__all__ = ["push_session"]

_CHUNK = 1 << 20


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
    api = hub_api(api)
    check_repo_id(repo_id)
    snapshot = build_manifest(store, slug)
    manifest_bytes = dump_manifest(snapshot.manifest)
    require_login(api, f"push session {slug!r}")
    manifest_path = f"{slug}/{MANIFEST_NAME}"

    with hub_errors(api, repo_id, f"pushing session {slug!r} to {repo_id}"):
        created = False
        head = head_commit(api, repo_id, missing_ok=True)
        if head is None:
            api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
            created = True
            head = head_commit(api, repo_id)
        remote = remote_files(api, repo_id, slug, head)
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
        data = download_manifest(api, repo_id, manifest_path, head, remote[manifest_path], tmp)
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
