"""Reading and writing the store's rows, one module per table: sessions, runs, outputs, inputs.

Every function takes an open SQLAlchemy ``Session`` first and leaves the transaction to the
caller (``with store.begin() as s: create_run(s, ...)``). Functions that insert flush, so the
new row's defaults and id are filled in when they return, but nothing is committed here.

``rename_session`` and ``delete_session`` also move a session's folders; the move follows the
caller's transaction (undone if it rolls back), so rows and files never disagree.

Import from here (``from db.repository import list_runs``): the modules are how the code is
arranged, this package's ``__all__`` is the API.
"""

from db.errors import NotFound, SessionBusy, SlugTaken
from db.repository.inputs import add_input_media, input_to_dict
from db.repository.outputs import add_output, list_outputs, output_to_dict
from db.repository.runs import (
    MAX_SEED,
    create_run,
    get_run,
    list_runs,
    mark_interrupted,
    new_run_id,
    run_to_dict,
)
from db.repository.sessions import (
    SLUG_MAX_LENGTH,
    TAG_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    SessionStats,
    check_no_active_runs,
    delete_run,
    delete_session,
    get_or_create_session,
    get_session,
    list_sessions,
    normalize_tags,
    rename_session,
    session_stats,
    session_to_dict,
    slugify,
    update_session,
    validate_slug,
)

__all__ = [
    "MAX_SEED",
    "SLUG_MAX_LENGTH",
    "TAG_MAX_LENGTH",
    "TITLE_MAX_LENGTH",
    "NotFound",
    "SessionBusy",
    "SessionStats",
    "SlugTaken",
    "add_input_media",
    "add_output",
    "check_no_active_runs",
    "create_run",
    "delete_run",
    "delete_session",
    "get_or_create_session",
    "get_run",
    "get_session",
    "input_to_dict",
    "list_outputs",
    "list_runs",
    "list_sessions",
    "mark_interrupted",
    "new_run_id",
    "normalize_tags",
    "output_to_dict",
    "rename_session",
    "run_to_dict",
    "session_stats",
    "session_to_dict",
    "slugify",
    "update_session",
    "validate_slug",
]
