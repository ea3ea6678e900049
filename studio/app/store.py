"""The process's stores: one open ``db.Store`` per ``STUDIO_HOME`` folder, closed at exit.

Every part of one process (the Python API, the CLI, the dashboard's pages and its render
jobs) asks here instead of calling ``Store.open`` itself, so a process holds one engine and
one connection pool per database however many renders it records, and never leaves one for
the garbage collector: ``close_stores`` runs at interpreter exit (``atexit``).
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path

from db import Store, studio_home
from db.recovery import recover

__all__ = ["close_stores", "store_for"]

_stores: dict[Path, Store] = {}
_lock = threading.Lock()  # two threads (a page and a job) may ask for a new home at once


def store_for(home: Path | None = None) -> Store:
    """The open store of ``home`` (default: ``STUDIO_HOME``), opened on first use.

    Opening creates and migrates the database (``Store.open``); later calls return the same
    ``Store``. Raises what ``Store.open`` raises (a ``db.errors.StoreError`` for a database
    it cannot use).
    """
    key = (studio_home() if home is None else Path(home)).expanduser().resolve()
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = Store.open(key)
            if not store.read_only:
                recover(store)  # what a killed pull or delete left half-done (db.recovery)
        return store


def close_stores() -> None:
    """Close every store this process opened; a later ``store_for`` opens it again."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()


atexit.register(close_stores)
