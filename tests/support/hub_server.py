"""A small Hugging Face Hub on 127.0.0.1, for tests: the real ``huggingface_hub`` client talks
to it through ``HF_ENDPOINT``.

It implements what Hub sync uses, for dataset repos, as the Hub answers it:

- ``POST /api/repos/create`` (409 if the repo exists; the first commit holds ``.gitattributes``)
- ``GET /api/datasets/<id>[/revision/<rev>]``: repo info with the head commit ``sha``
- ``POST /api/datasets/<id>/preupload/<rev>``: every file ``"regular"``, so contents arrive
  inline (base64) in the commit; ``oid`` is given for files the repo already holds
- ``POST /api/datasets/<id>/commit/<rev>``: the NDJSON payload (header, file, deletedFile,
  deletedFolder); ``parentCommit`` is enforced (412); LFS files are refused (this Hub has no
  LFS or Xet storage)
- ``GET /api/datasets/<id>/tree/<rev>[/<path>]?recursive=``: paginated with a ``Link`` header
- ``POST /api/datasets/<id>/paths-info/<rev>`` (form-encoded ``paths``)
- ``HEAD``/``GET /datasets/<id>/resolve/<rev>/<path>`` with ``ETag``, ``X-Repo-Commit``,
  ``Content-Length`` (and ``Range``)
- ``GET /api/whoami-v2``

Auth: write endpoints need ``Authorization: Bearer <token>`` with a known token; reading a
private repo too. An unknown token is refused with 401 everywhere, like the Hub does. Errors
carry the Hub's ``X-Error-Code`` headers (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``) so the client raises its usual exceptions.

Each commit is a full snapshot (``{path: bytes}``); ``revision`` may be ``main`` or any
commit sha. Tests tamper with a repo through ``put``/``delete`` (they change the head commit's
files in place, as if the repo had been edited behind the studio's back), inspect it with
``files``/``read``, and see what was sent in ``commits`` and ``requests``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

__all__ = ["FakeHub", "blob_id"]

_REPO = r"(?P<repo>[^/]+/[^/]+)"
_ROUTES = [
    ("POST", re.compile(r"/api/repos/create"), "create"),
    ("GET", re.compile(rf"/api/datasets/{_REPO}(?:/revision/(?P<rev>[^/]+))?"), "info"),
    ("POST", re.compile(rf"/api/datasets/{_REPO}/preupload/(?P<rev>[^/]+)"), "preupload"),
    ("POST", re.compile(rf"/api/datasets/{_REPO}/commit/(?P<rev>[^/]+)"), "commit"),
    ("GET", re.compile(rf"/api/datasets/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?"), "tree"),
    ("POST", re.compile(rf"/api/datasets/{_REPO}/paths-info/(?P<rev>[^/]+)"), "paths_info"),
    ("GET", re.compile(rf"/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)"), "resolve"),
    ("HEAD", re.compile(rf"/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)"), "resolve"),
    ("GET", re.compile(r"/api/whoami-v2"), "whoami"),
]


def blob_id(data: bytes) -> str:
    """The git blob id of ``data`` (what the Hub calls a regular file's ``oid``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    sha: str
    files: dict[str, bytes]
    message: str = ""
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: list[Commit]

    @property
    def head(self) -> Commit:
        return self.commits[-1]


class _HubError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = dict(headers or {})


class FakeHub:
    """The server; ``start()`` returns its URL (``http://127.0.0.1:<free port>``)."""

    def __init__(self, tokens: set[str], *, page_size: int = 5) -> None:
        self.tokens = set(tokens)
        self.page_size = page_size
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self.url = ""

    # -- life ------------------------------------------------------------------------------

    def start(self) -> str:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        """Stop listening and cut open keep-alive connections: afterwards the port is dead,
        even for a client that pooled a connection to it."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            for connection in self._connections:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()

    # -- for tests -------------------------------------------------------------------------

    def create_repo(self, repo_id: str, files: dict[str, bytes], *, private: bool = False) -> None:
        """A repo made directly (e.g. one that is not a studio repo)."""
        with self.lock:
            self.repos[repo_id] = Repo(repo_id, private, [])
            self._add_commit(self.repos[repo_id], dict(files), "initial commit")

    def files(self, repo_id: str) -> dict[str, bytes]:
        """The head commit's files."""
        with self.lock:
            return dict(self.repos[repo_id].head.files)

    def read(self, repo_id: str, path: str) -> bytes:
        return self.files(repo_id)[path]

    def put(self, repo_id: str, path: str, data: bytes) -> None:
        """Change a file of the head commit in place (tampering: no new commit)."""
        with self.lock:
            self.repos[repo_id].head.files[path] = data

    def delete(self, repo_id: str, path: str) -> None:
        with self.lock:
            del self.repos[repo_id].head.files[path]

    @property
    def commits(self) -> list[Commit]:
        """Every commit made through the API (not the initial ones), oldest first."""
        with self.lock:
            return [c for r in self.repos.values() for c in r.commits[1:]]

    # -- endpoints (called with self.lock held) --------------------------------------------

    def _create(self, req: _Request) -> tuple[int, Any, dict[str, str]]:
        req.require_token()
        body = req.json()
        repo_id = f"{body.get('organization') or 'tester'}/{body['name']}"
        if body.get("type") != "dataset":
            raise _HubError(400, "this fake Hub only holds dataset repos")
        url = f"{self.url}/datasets/{repo_id}"
        if repo_id in self.repos:
            return 409, {"error": "You already created this dataset repo", "url": url}, {}
        private = body.get("visibility") == "private" or bool(body.get("private"))
        self.create_repo(
            repo_id,
            {".gitattributes": b"*.mp4 filter=lfs diff=lfs merge=lfs -text\n"},
            private=private,
        )
        return 200, {"url": url, "name": repo_id, "id": repo_id}, {}

    def _info(self, req: _Request, repo: str, rev: str | None) -> tuple[int, Any, dict[str, str]]:
        found, commit = self._read(req, repo, rev or "main")
        return (
            200,
            {
                "id": found.repo_id,
                "author": found.repo_id.split("/")[0],
                "sha": commit.sha,
                "private": found.private,
                "disabled": False,
                "gated": False,
                "tags": [],
                "lastModified": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            },
            {},
        )

    def _preupload(self, req: _Request, repo: str, rev: str) -> tuple[int, Any, dict[str, str]]:
        req.require_token()
        _, commit = self._read(req, repo, rev)
        answer = []
        for item in req.json()["files"]:
            existing = commit.files.get(item["path"])
            answer.append(
                {
                    "path": item["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": None if existing is None else blob_id(existing),
                }
            )
        return 200, {"files": answer, "commitOid": commit.sha}, {}

    def _commit(self, req: _Request, repo: str, rev: str) -> tuple[int, Any, dict[str, str]]:
        req.require_token()
        found, head = self._read(req, repo, rev)
        if rev != "main":
            raise _HubError(400, "this fake Hub commits to main only")
        lines = [json.loads(line) for line in req.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise _HubError(400, "the commit payload must start with a header")
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        if parent is not None and parent != head.sha:
            raise _HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(head.files)
        added: list[str] = []
        deleted: list[str] = []
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                if value.get("encoding") != "base64":
                    raise _HubError(400, "file content must be base64")
                files[value["path"]] = base64.b64decode(value["content"])
                added.append(value["path"])
            elif key == "deletedFile":
                if value["path"] not in files:
                    raise _HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                del files[value["path"]]
                deleted.append(value["path"])
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                for path in [p for p in files if p.startswith(prefix)]:
                    del files[path]
                    deleted.append(path)
            else:
                raise _HubError(422, f"this fake Hub has no LFS or Xet storage: {key} refused")
        commit = self._add_commit(found, files, header.get("summary", ""), added, deleted)
        return (
            200,
            {
                "success": True,
                "commitOid": commit.sha,
                "commitUrl": f"{self.url}/datasets/{found.repo_id}/commit/{commit.sha}",
                "pullRequestUrl": None,
            },
            {},
        )

    def _tree(
        self, req: _Request, repo: str, rev: str, path: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        _, commit = self._read(req, repo, rev)
        folder = unquote(path or "").strip("/")
        recursive = req.query.get("recursive", ["false"])[0].lower() == "true"
        entries = _entries(commit.files)
        if folder and folder not in entries:
            raise _HubError(404, f"{folder} does not exist", "EntryNotFound")
        if folder and entries[folder]["type"] == "file":
            listed = [entries[folder]]
        else:
            prefix = f"{folder}/" if folder else ""
            listed = [
                e
                for p, e in sorted(entries.items())
                if p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])
            ]
        cursor = int(req.query.get("cursor", ["0"])[0])
        page = listed[cursor : cursor + self.page_size]
        headers = {}
        if cursor + self.page_size < len(listed):
            query = {"recursive": str(recursive), "cursor": cursor + self.page_size}
            next_url = f"{self.url}{req.path}?{urlencode(query)}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        return 200, page, headers

    def _paths_info(self, req: _Request, repo: str, rev: str) -> tuple[int, Any, dict[str, str]]:
        _, commit = self._read(req, repo, rev)
        form = parse_qs(req.body.decode())
        entries = _entries(commit.files)
        return 200, [entries[p] for p in form.get("paths", []) if p in entries], {}

    def _resolve(
        self, req: _Request, repo: str, rev: str, path: str
    ) -> tuple[int, Any, dict[str, str]]:
        _, commit = self._read(req, repo, rev)
        path = unquote(path)
        headers = {"X-Repo-Commit": commit.sha}
        if path not in commit.files:
            raise _HubError(404, f"{path} does not exist", "EntryNotFound", headers)
        data = commit.files[path]
        headers.update(
            {
                "ETag": f'"{blob_id(data)}"',
                "Content-Type": "application/octet-stream",
                "Accept-Ranges": "bytes",
            }
        )
        status = 200
        ranged = re.fullmatch(r"bytes=(\d+)-", req.headers.get("Range", ""))
        if ranged and int(ranged.group(1)) < len(data):
            start = int(ranged.group(1))
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            data, status = data[start:], 206
        return status, data, headers

    def _whoami(self, req: _Request) -> tuple[int, Any, dict[str, str]]:
        req.require_token()
        return 200, {"type": "user", "name": "tester", "orgs": []}, {}

    # -- helpers ---------------------------------------------------------------------------

    def _read(self, req: _Request, repo_id: str, rev: str) -> tuple[Repo, Commit]:
        found = self.repos.get(repo_id)
        if found is None or (found.private and not req.authorized):
            # The Hub answers 401 to anonymous requests and 404 to others, with the same code.
            status = 404 if req.authorized else 401
            raise _HubError(status, "Repository not found", "RepoNotFound")
        rev = unquote(rev)
        if rev == "main":
            return found, found.head
        for commit in found.commits:
            if commit.sha == rev:
                return found, commit
        raise _HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def _add_commit(
        self,
        repo: Repo,
        files: dict[str, bytes],
        message: str,
        added: list[str] | None = None,
        deleted: list[str] | None = None,
    ) -> Commit:
        parent = repo.head.sha if repo.commits else ""
        h = hashlib.sha1(f"{parent}\n{message}\n".encode())
        for path in sorted(files):
            h.update(f"{path}\0{blob_id(files[path])}\n".encode())
        h.update(str(len(repo.commits)).encode())
        commit = Commit(h.hexdigest(), files, message, added or [], deleted or [])
        repo.commits.append(commit)
        return commit


def _entries(files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """Tree entries, as the Hub lists them, for every file and every folder."""
    entries: dict[str, dict[str, Any]] = {}
    for path, data in files.items():
        entries[path] = {"type": "file", "oid": blob_id(data), "size": len(data), "path": path}
        parts = path.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            oid = hashlib.sha1(folder.encode()).hexdigest()
            entries.setdefault(folder, {"type": "directory", "oid": oid, "size": 0, "path": folder})
    return entries


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes
    token: str | None
    hub: FakeHub

    @property
    def authorized(self) -> bool:
        return self.token is not None and self.token in self.hub.tokens

    def require_token(self) -> None:
        if not self.authorized:
            raise _HubError(401, "Invalid username or password.")

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    hub: FakeHub

    def setup(self) -> None:
        super().setup()
        with self.hub.lock:
            self.hub._connections.add(self.connection)

    def finish(self) -> None:
        with self.hub.lock:
            self.hub._connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization") or ""
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        req = _Request(
            method, split.path, parse_qs(split.query), self.headers, body, token, self.hub
        )
        with self.hub.lock:
            self.hub.requests.append((method, split.path))
        try:
            if token is not None and not req.authorized:
                raise _HubError(401, "Invalid credentials in Authorization header")
            for route_method, pattern, name in _ROUTES:
                match = pattern.fullmatch(split.path)
                if match and route_method == method:
                    with self.hub.lock:
                        status, payload, headers = getattr(self.hub, f"_{name}")(
                            req, **match.groupdict()
                        )
                    break
            else:
                raise _HubError(404, f"no route for {method} {split.path}")
        except _HubError as exc:
            status, payload, headers = exc.status, {"error": exc.message}, exc.headers
            headers["X-Error-Message"] = exc.message
            if exc.code:
                headers["X-Error-Code"] = exc.code
        self._send(method, status, payload, headers)

    def _send(self, method: str, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        if not isinstance(payload, bytes):
            self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)
