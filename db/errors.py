"""Errors the store reports to the user.

Every one is a ``StoreError``: the CLI prints its message on one line and exits with status 2,
the dashboard shows it with ``st.error``. The messages name the bad value and say what to do.
They are plain exceptions (not ``studio.errors.StudioError``) because ``db`` never imports
``studio``.
"""

from __future__ import annotations

__all__ = ["HubSyncError", "NotFound", "RunTaken", "SessionBusy", "SlugTaken", "StoreError"]


class StoreError(Exception):
    """Base class for every error the store reports to the user."""


class NotFound(StoreError, LookupError):
    """No row has the id or slug asked for; the message names it."""


class SlugTaken(StoreError, ValueError):
    """A session slug (or its folder) is already in use; the message names it."""


class SessionBusy(StoreError):
    """A session cannot be renamed, deleted or pushed while one of its runs is queued or
    running; the message names the run."""


class RunTaken(StoreError):
    """Another process took over a run between this one's check and its takeover (two resumes
    of one run at once); the message names the run."""


class HubSyncError(StoreError):
    """Pushing to or pulling from the Hugging Face Hub failed; the message says why.

    Raised for a missing or refused login, an unreachable Hub, a repo that does not exist or is
    not a Latent Studio repo, and a pulled session that fails any check (the message names the
    file and the check). Nothing has been written locally when a pull raises it.
    """
