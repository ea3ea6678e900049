"""Talking to the Hub: the API client, login, the commit every read pins, listing a repo's
files, downloading a manifest, and turning what huggingface_hub raises into ``HubSyncError``.

``HF_ENDPOINT`` is read at each call, so a process can be pointed at another Hub (a mirror,
the tests' local server) after it started. The token is whatever ``huggingface_hub`` finds
(``hf auth login`` or ``HF_TOKEN``); nothing here passes or stores one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# httpx2 is huggingface_hub's HTTP client; its transport errors are how "cannot connect" shows.
import httpx2
from huggingface_hub import HfApi, get_token
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

from db.errors import HubSyncError
from db.manifest import FORMAT, MANIFEST_NAME, MAX_MANIFEST_BYTES, refusal
from db.repository import validate_slug

__all__ = [
    "REPO_TYPE",
    "check_repo_id",
    "check_slug",
    "download_manifest",
    "head_commit",
    "hub_api",
    "hub_errors",
    "manifest_entries",
    "not_a_studio_repo",
    "remote_files",
    "require_login",
]

REPO_TYPE = "dataset"

_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_LOGIN_HINT = "run `hf auth login` (or set HF_TOKEN) and try again"


def hub_api(api: HfApi | None) -> HfApi:
    if api is not None:
        return api
    # Read HF_ENDPOINT now: huggingface_hub read it once, when it was first imported.
    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, library_name="latent-studio")


def check_repo_id(repo_id: str) -> None:
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise HubSyncError(
            f"a Hub repo is named ORG/NAME (e.g. alice/studio-sessions), got {repo_id!r}"
        )


def check_slug(slug: str, what: str) -> None:
    try:
        validate_slug(slug)
    except ValueError as exc:
        raise HubSyncError(f"{what} name: {exc}") from None


def require_login(api: HfApi, doing: str) -> None:
    if not (isinstance(api.token, str) and api.token) and not _logged_in():
        raise HubSyncError(
            f"cannot {doing}: you are not logged in to the Hugging Face Hub; {_LOGIN_HINT}. "
            "Latent Studio never stores a token itself"
        )


def head_commit(api: HfApi, repo_id: str, *, missing_ok: bool = False) -> str | None:
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


def remote_files(api: HfApi, repo_id: str, folder: str, revision: str) -> dict[str, RepoFile]:
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


def download_manifest(
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


def manifest_entries(api: HfApi, repo_id: str, head: str) -> dict[str, RepoFile]:
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


def not_a_studio_repo(repo_id: str) -> HubSyncError:
    return HubSyncError(
        f"{repo_id} is not a Latent Studio repo: no folder in it holds a Latent Studio "
        f"{MANIFEST_NAME} (format {FORMAT!r})"
    )


@contextmanager
def hub_errors(api: HfApi, repo_id: str, doing: str) -> Iterator[None]:
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
