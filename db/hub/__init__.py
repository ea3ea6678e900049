"""Hub sync: push experiment sessions to a Hugging Face Hub dataset repo and pull them back.

One dataset repo holds many sessions, one folder each::

    <slug>/session.json                 the manifest (``db.manifest``)
    <slug>/outputs/<run-id>/...         outputs/<slug>/<run-id>/... of STUDIO_HOME
    <slug>/inputs/...                   inputs/<slug>/... of STUDIO_HOME

Push (``push_session``, in ``db.hub.push``) makes one commit per session, private repo by
default, and uploads only the files whose content differs from what the repo holds. The
manifest it pushes is built and checked by ``db.hub.snapshot``.

Pull (``pull_session``, in ``db.hub.pull``) trusts nothing in the repo. Before it writes
anything it checks the manifest (JSON, format marker, schema version, every field's type),
every path (relative, inside the session folder, no ``..``, no backslash, no empty or hidden
segment), the size caps of ``db.manifest``, that every file is present with the declared size,
and after downloading, each file's sha256 and size (``db.hub.staging``). Only then does it
import: the rows in one transaction, the files moved in place by renaming whole folders,
undone if the transaction fails. A session that exists locally is never overwritten or merged
into: the pull refuses, or takes a new name.

``list_remote_sessions`` (``db.hub.remote``) reads the manifests of a repo without writing.

Login: the token is whatever ``huggingface_hub`` finds (``hf auth login`` or ``HF_TOKEN``);
this package never passes or stores one, it only checks that there is one before a push.
Talking to the Hub, and its errors, is ``db.hub.client``. Every error is a ``HubSyncError``
whose message says what to do.
"""

from db.hub.pull import pull_session
from db.hub.push import push_session
from db.hub.remote import list_remote_sessions
from db.hub.reports import PullReport, PushReport, RemoteSession
from db.hub.snapshot import LocalSession, build_manifest

__all__ = [
    "LocalSession",
    "PullReport",
    "PushReport",
    "RemoteSession",
    "build_manifest",
    "list_remote_sessions",
    "pull_session",
    "push_session",
]
