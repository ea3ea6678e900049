"""Alembic migrations for the store, configured in code (no ``alembic.ini``).

``upgrade_to_head(connection)`` is what ``Store.open`` runs; it applies every pending
revision inside the caller's transaction, so an upgrade either completes or leaves the
database as it was (SQLite DDL is transactional once the driver's legacy transaction
handling is switched off, which ``db.store`` does).

To write a new revision, change ``db/models.py``, then from the repository root::

    .venv/bin/python -c "
    from pathlib import Path; from alembic import command
    from db import Store; from db.migrations import alembic_config
    store = Store.open(Path('/tmp/scratch-home'))  # a database at the current head
    command.revision(alembic_config(url=store.url), 'add foo', autogenerate=True,
                     rev_id='0002_add_foo')"

which writes ``versions/0002_add_foo.py``; read and fix what autogenerate wrote before keeping
it. Revisions never import ``db.models``: a migration describes the schema as it was at that
revision, not as the models are today. ``tests/store/test_store.py`` fails until models and
migrations agree.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

__all__ = ["MIGRATIONS_DIR", "alembic_config", "head_revision", "upgrade_to_head"]

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for these migrations.

    ``env.py`` uses ``connection`` when given (and runs inside its transaction), else it
    connects to ``url``.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Revision ids are the file names: 0001_initial.py, 0002_add_foo.py, ... (ordered, readable)
    config.set_main_option("file_template", "%%(rev)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision id (e.g. ``"0001_initial"``)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "db/migrations/versions holds no revision"
    return head


def upgrade_to_head(connection: Connection) -> None:
    """Apply every pending revision on ``connection``, inside its current transaction."""
    command.upgrade(alembic_config(connection=connection), "head")
