"""The studio's store: experiment sessions, runs and their files in SQLite.

No torch, no diffusers, nothing from ``studio``: the store must import fast and on machines
without the engine's dependencies (Hub sync, the CLI's ``runs`` commands, tests).

Typical use::

    store = Store.open()                    # STUDIO_HOME/studio.db, migrated
    rec = RunRecorder.create(store, session_slug="demo", kind="animation", spec=spec.to_dict(),
                             schema_version=spec.schema_version, model_ref=..., seed=...)
    render(spec, out_dir=rec.output_dir, events=Fanout(progress_bar, rec))
    with store.session() as s:
        print(run_to_dict(get_run(s, rec.run_id)))

Hub sync lives in ``db.hub`` (``push_session``, ``pull_session``, ``list_remote_sessions``); it
is not imported here, so that opening the store never imports ``huggingface_hub``.
"""

from db.errors import HubSyncError, NotFound, RunTaken, SessionBusy, SlugTaken, StoreError
from db.files import digest
from db.models import (
    ACTIVE_STATUSES,
    CANCELLED,
    DONE,
    FAILED,
    FINISHED_STATUSES,
    INTERRUPTED,
    QUEUED,
    RUN_STATUSES,
    RUNNING,
    ExperimentSession,
    InputMedia,
    Output,
    Run,
)
from db.paths import (
    db_path,
    outputs_root,
    relative_to_home,
    resolve_in_home,
    run_output_dir,
    studio_home,
)
from db.recorder import RunRecorder
from db.repository import (
    SessionStats,
    add_input_media,
    add_output,
    create_run,
    delete_run,
    delete_session,
    get_or_create_session,
    get_run,
    get_session,
    list_outputs,
    list_runs,
    list_sessions,
    mark_interrupted,
    normalize_tags,
    output_to_dict,
    rename_session,
    run_to_dict,
    session_stats,
    session_to_dict,
    slugify,
    update_session,
    validate_slug,
)
from db.store import Store, open_store

__all__ = [
    "ACTIVE_STATUSES",
    "CANCELLED",
    "DONE",
    "FAILED",
    "FINISHED_STATUSES",
    "INTERRUPTED",
    "QUEUED",
    "RUNNING",
    "RUN_STATUSES",
    "ExperimentSession",
    "HubSyncError",
    "InputMedia",
    "NotFound",
    "Output",
    "Run",
    "RunRecorder",
    "RunTaken",
    "SessionBusy",
    "SessionStats",
    "SlugTaken",
    "Store",
    "StoreError",
    "add_input_media",
    "add_output",
    "create_run",
    "db_path",
    "delete_run",
    "delete_session",
    "digest",
    "get_or_create_session",
    "get_run",
    "get_session",
    "list_outputs",
    "list_runs",
    "list_sessions",
    "mark_interrupted",
    "normalize_tags",
    "open_store",
    "output_to_dict",
    "outputs_root",
    "relative_to_home",
    "rename_session",
    "resolve_in_home",
    "run_output_dir",
    "run_to_dict",
    "session_stats",
    "session_to_dict",
    "slugify",
    "studio_home",
    "update_session",
    "validate_slug",
]
