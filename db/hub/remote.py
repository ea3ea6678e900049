"""Listing the sessions a repo holds, from their manifests; nothing is written locally."""

from __future__ import annotations

import tempfile

from huggingface_hub import HfApi

from db.errors import HubSyncError
from db.hub.client import (
    check_repo_id,
    download_manifest,
    head_commit,
    hub_api,
    hub_errors,
    manifest_entries,
    not_a_studio_repo,
)
from db.hub.reports import RemoteSession
from db.manifest import NotAManifest, parse_manifest

__all__ = ["list_remote_sessions"]


def list_remote_sessions(repo_id: str, *, api: HfApi | None = None) -> list[RemoteSession]:
    """The sessions ``repo_id`` holds, by slug, read from their manifests.

    Reading a public repo needs no login. Nothing is written to ``STUDIO_HOME``.

    Raises ``HubSyncError`` if the repo cannot be reached or read, or holds no Latent Studio
    session at all.
    """
    api = hub_api(api)
    check_repo_id(repo_id)
    sessions: list[RemoteSession] = []
    with hub_errors(api, repo_id, f"listing the sessions in {repo_id}"):
        head = head_commit(api, repo_id)
        entries = manifest_entries(api, repo_id, head)
        with tempfile.TemporaryDirectory(prefix="studio-list-") as tmp:
            for folder, entry in entries.items():
                source = f"{repo_id}/{entry.path}"
                try:
                    data = download_manifest(api, repo_id, entry.path, head, entry, tmp)
                    manifest = parse_manifest(data, source)
                except NotAManifest:
                    continue
                except HubSyncError as exc:
                    sessions.append(
                        RemoteSession(folder, folder, 0, 0, 0, None, None, problem=str(exc))
                    )
                    continue
                if manifest.session.slug != folder:
                    problem = (
                        f"{source} describes session {manifest.session.slug!r}, not {folder!r}"
                    )
                else:
                    problem = None
                sessions.append(
                    RemoteSession(
                        slug=folder,
                        title=manifest.session.title,
                        runs=len(manifest.runs),
                        files=len(manifest.files),
                        bytes=sum(f.bytes for f in manifest.files),
                        created_at=manifest.session.created_at.isoformat(),
                        schema_version=manifest.schema_version,
                        problem=problem,
                    )
                )
    if not sessions:
        raise not_a_studio_repo(repo_id)
    return sessions
