"""The store: one SQLite database in ``STUDIO_HOME``, one engine, one ``sessionmaker``.

``Store.open`` is the only way in. It creates ``studio.db`` if needed, brings the schema to
the newest migration, and marks as ``interrupted`` the runs whose rendering process died.

Use from several threads (a background render thread and the UI thread) is safe: every
thread takes its own SQLAlchemy ``Session`` from the store, and SQLite serialises writers.
Keep transactions short; a writer waits up to ``BUSY_TIMEOUT_S`` for another one to finish.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db import repository
from db.errors import StoreError
from db.migrations import upgrade_to_head
from db.paths import db_path, make_home, studio_home

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["BUSY_TIMEOUT_S", "ReadOnlyHome", "Store", "open_store", "pid_alive"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0

# Execution option that turns the next BEGIN into BEGIN IMMEDIATE (see _on_begin).
_WRITE = "studio_write"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine.

    On POSIX this is ``os.kill(pid, 0)``: no signal is sent, only the existence check. A
    process owned by another user counts as alive. Elsewhere (Windows, where signal 0 would
    be a Ctrl-C) every pid counts as alive, so no run is ever marked interrupted by mistake.
    """
    if pid <= 0:
        return False
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """An open studio database. Create it with ``Store.open`` (or ``open_store``).

    Attributes:
        home: the ``STUDIO_HOME`` folder (absolute).
        url: the SQLAlchemy URL of ``home/studio.db``, as a string.
        engine: the store's only ``Engine``.
    """

    def __init__(self, home: Path, engine: Engine) -> None:
        """Wrap an engine made by ``Store.open``; use ``Store.open`` instead."""
        self.home = home
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=False)
        # expire_on_commit=False: rows returned from a transaction stay readable after it
        # commits (the dashboard shows them after the Session is gone).
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.read_only = ""  # why this home cannot be written, or "" when it can

    @classmethod
    def open(cls, home: Path | None = None) -> Store:
        """Open (creating if needed) ``home/studio.db`` and bring it up to date.

        ``home`` defaults to ``db.paths.studio_home()``; it is created if missing. Opening
        applies pending migrations in one transaction, then marks every queued or running
        run recorded by this host whose process is gone as ``interrupted``. Opening the same
        database again, from this or another process, is safe and changes nothing else.
        """
        home = studio_home() if home is None else make_home(Path(home))
        problem = _unwritable(home)
        if problem is not None:
            return cls._open_read_only(home, problem)
        engine = _make_engine(db_path(home))
        try:
            with engine.connect() as conn:
                conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    upgrade_to_head(conn)
            store = cls(home, engine)
            store.mark_interrupted()
        except BaseException:
            engine.dispose()
            raise
        return store

    @classmethod
    def _open_read_only(cls, home: Path, problem: str) -> Store:
        """A store that reads a home it cannot write (a read-only disk or folder): listing and
        showing work; anything that writes raises ``ReadOnlyHome`` naming the folder."""
        path = db_path(home)
        if not path.is_file():
            raise ReadOnlyHome(home, problem)
        url = URL.create(
            "sqlite+pysqlite",
            database=f"file:{path}?mode=ro&immutable=1",
            query={"uri": "true"},
        )
        engine = create_engine(url, connect_args={"check_same_thread": False})
        store = cls(home, engine)
        store.read_only = problem
        return store

    def mark_interrupted(self) -> list[str]:
        """Mark queued or running runs of this host whose process is gone as ``interrupted``.

        Done at every open; a long-lived process (the dashboard) also calls it when it shows
        the history, so a CLI render killed meanwhile is reported too. Returns the run ids
        (none on a read-only home, which is not changed).
        """
        if self.read_only:
            return []
        with self.begin() as s:
            marked = repository.mark_interrupted(s, socket.gethostname(), pid_alive)
        if marked:
            log.info("marked %d run(s) interrupted: %s", len(marked), ", ".join(marked))
        return marked

    def session(self) -> Session:
        """A new ORM ``Session`` for reading: ``with store.session() as s: ...``.

        It begins a (deferred, read) transaction on first use; to write, prefer
        ``store.begin()``, which takes the write lock up front.
        """
        return self._sessions()

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A write transaction: ``with store.begin() as s:``; commits on exit, rolls back on
        an exception.

        The transaction starts with ``BEGIN IMMEDIATE``: it takes SQLite's write lock before
        reading anything, so two writers queue up (for up to ``BUSY_TIMEOUT_S``) instead of
        one failing with "database is locked" when it tries to upgrade a read lock.
        """
        if self.read_only:
            raise ReadOnlyHome(self.home, self.read_only)
        try:
            with self._sessions.begin() as s:
                s.connection(execution_options={_WRITE: True})
                yield s
        except OperationalError as exc:
            if "full" in str(exc.orig) or "readonly" in str(exc.orig).replace("-", ""):
                raise StoreError(
                    f"cannot write the database in STUDIO_HOME {self.home} ({exc.orig}); "
                    "free some space or make the folder writable"
                ) from None
            raise

    def close(self) -> None:
        """Close every pooled connection. The store must not be used afterwards."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store(home={str(self.home)!r})"


open_store = Store.open


class ReadOnlyHome(StoreError):
    """``STUDIO_HOME`` cannot be written; the message names the folder and why."""

    def __init__(self, home: Path, problem: str) -> None:
        super().__init__(
            f"STUDIO_HOME {home} cannot be written ({problem}); reading the history works, "
            "but rendering and editing need a writable folder: set STUDIO_HOME to one"
        )


def _unwritable(home: Path) -> str | None:
    """Why nothing can be written in ``home``, or None when a file can be made there."""
    try:
        with tempfile.NamedTemporaryFile(dir=home, prefix=".studio-probe-"):
            return None
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return exc.strerror or "not writable"
        return None  # a full disk still opens: reads work and writes say why they fail


def _make_engine(path: Path) -> Engine:
    url = URL.create("sqlite+pysqlite", database=str(path))
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def _on_connect(
    dbapi_connection: sqlite3.Connection, connection_record: ConnectionPoolEntry
) -> None:
    # Take transaction control away from the sqlite3 module (its legacy mode neither begins
    # before SELECT nor before DDL); _on_begin emits BEGIN itself. This is what makes
    # migrations atomic and reads repeatable.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers (the dashboard) never block the writer (a render) and vice versa.
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL is still crash-safe for the database; it only skips an fsync.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(_WRITE):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")
