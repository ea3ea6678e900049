"""Pull: one session of a repo into the store, checking everything before writing anything.

The order is what makes a pull safe: the manifest is checked completely (``db.manifest``),
then the repo's files against it (present, declared sizes, room on disk), then the files are
downloaded into ``STUDIO_HOME/.staging`` and checked one by one (``db.hub.staging``), and only
then are the rows inserted and the folders moved in, all or nothing.
"""

from __future__ import annotations

import secrets
import shutil
from contextlib import suppress
from pathlib import Path
from typing import Literal

from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoFile

from db.errors import HubSyncError
from db.files import human_bytes, write_owner
from db.hub.client import (
    REPO_TYPE,
    check_repo_id,
    check_slug,
    download_manifest,
    head_commit,
    hub_api,
    hub_errors,
    manifest_entries,
    not_a_studio_repo,
    remote_files,
)
from db.hub.reports import PullReport
from db.hub.staging import free_slug, import_session, verify_and_arrange
from db.manifest import MANIFEST_NAME, Manifest, ManifestFile, NotAManifest, parse_manifest, refusal
from db.paths import staging_root
from db.recovery import recover
from db.repository import validate_slug
from db.store import Store

__all__ = ["pull_session"]


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
    api = hub_api(api)
    check_repo_id(repo_id)
    if on_conflict not in ("error", "rename"):
        raise ValueError(f"on_conflict must be 'error' or 'rename', got {on_conflict!r}")
    check_slug(slug, "session")
    wanted = validate_slug(as_slug) if as_slug is not None else slug
    recover(store)  # a pull a killed process left half-done must not hold the name
    with store.session() as s:
        free_slug(s, store.home, wanted, on_conflict)  # fail before downloading anything

    staging = staging_root(store.home) / f"pull-{secrets.token_hex(6)}"
    try:
        write_owner(staging)
        with hub_errors(api, repo_id, f"pulling session {slug!r} from {repo_id}"):
            head = head_commit(api, repo_id)
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
                verify_and_arrange(manifest, staging / "download" / slug, staging / "session", slug)
            local_slug, run_ids = import_session(
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

    outputs = sum(len(run.outputs) for run in manifest.runs) if with_outputs else 0
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
        held = sorted(manifest_entries(api, repo_id, head))
        if not held:
            raise not_a_studio_repo(repo_id)
        raise HubSyncError(
            f"{repo_id} holds no session {slug!r}; it holds: {', '.join(held)} "
            f"(see `python -m studio sessions remote --repo {repo_id}`)"
        )
    source = f"{repo_id}/{path}"
    data = download_manifest(api, repo_id, path, head, entry, folder)
    try:
        manifest = parse_manifest(data, source)
    except NotAManifest as exc:
        raise HubSyncError(f"{exc}; is {repo_id} a Latent Studio repo?") from None
    if manifest.session.slug != slug:
        raise refusal(source, f"it describes session {manifest.session.slug!r}, not {slug!r}")
    return manifest


def _check_remote_files(
    api: HfApi, repo_id: str, slug: str, head: str, files: list[ManifestFile], home: Path
) -> None:
    """Every listed file present in the repo with its declared size, and room for them here."""
    remote = remote_files(api, repo_id, slug, head)
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


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):
        folder.rmdir()
