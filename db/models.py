"""The tables of the store, as SQLAlchemy 2 typed declarative models.

The schema itself is created and changed only by the Alembic migrations in
``db/migrations/versions``; these classes must match them (``tests/store/test_store.py`` checks
that autogenerate finds no difference).

Every timestamp is a timezone-aware ``datetime`` in UTC. SQLite has no time-zone type, so
``UTCDateTime`` stores naive UTC and hands back aware UTC; a naive value is refused rather
than guessed at.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "ACTIVE_STATUSES",
    "CANCELLED",
    "DONE",
    "FAILED",
    "FINISHED_STATUSES",
    "INTERRUPTED",
    "NAMING_CONVENTION",
    "QUEUED",
    "RUNNING",
    "RUN_STATUSES",
    "Base",
    "ExperimentSession",
    "InputMedia",
    "Output",
    "Run",
    "UTCDateTime",
    "iso_or_none",
    "utcnow",
]

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
RUN_STATUSES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED)
# A run in one of these is owned by a live process; anything else is final.
ACTIVE_STATUSES = (QUEUED, RUNNING)
FINISHED_STATUSES = (DONE, FAILED, CANCELLED, INTERRUPTED)

# Named constraints are what lets Alembic's batch mode (table copy on SQLite) find and alter
# them later; the migrations spell out the same names.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso_or_none(value: datetime | None) -> str | None:
    """A stored time as JSON shows it: ISO 8601 with ``+00:00``, or ``None``."""
    return None if value is None else value.isoformat()


class UTCDateTime(TypeDecorator[datetime]):
    """A ``DateTime`` that only accepts aware datetimes and always returns UTC ones."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamps must be timezone-aware, got naive {value.isoformat()}")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


def _repr(obj: object, *fields: str) -> str:
    inner = ", ".join(f"{name}={getattr(obj, name)!r}" for name in fields)
    return f"{type(obj).__name__}({inner})"


class ExperimentSession(Base):
    """A named group of runs and input media (``sessions`` table); the unit of Hub sync."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(default=list)
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    hub_repo: Mapped[str | None] = mapped_column(String(200))
    last_sync_at: Mapped[datetime | None]

    runs: Mapped[list[Run]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True
    )
    inputs: Mapped[list[InputMedia]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return _repr(self, "id", "slug", "title")


class Run(Base):
    """One render: its spec, where it stands, and what it cost (``runs`` table).

    ``id`` is ``YYYYMMDD-HHMMSS-xxxxxx`` (UTC creation time + 6 random hex digits): unique,
    readable, and sorting by it sorts by creation time to the second.
    """

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in RUN_STATUSES)), name="status"
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]]
    schema_version: Mapped[int]
    model_ref: Mapped[str] = mapped_column(String(500))
    # Seeds go up to 2**63 - 1: exactly SQLite's signed 64-bit INTEGER.
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    error_type: Mapped[str | None] = mapped_column(String(200))
    frames_done: Mapped[int] = mapped_column(default=0)
    frames_total: Mapped[int | None]
    predicted_denoise_steps: Mapped[int | None] = mapped_column(BigInteger)
    denoise_steps: Mapped[int | None] = mapped_column(BigInteger)
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the engine planned (``RenderEvents.started``, less the versions kept above) and
    # the extra facts of its result (``RenderResult.extra``: a blend's realised tree, ...).
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    device: Mapped[str | None] = mapped_column(String(100))
    # Where the command line's --out also puts the result: absolute, on this machine, so a
    # resume delivers there too. Never synced to or from the Hub: a path means nothing on
    # another machine, and a pulled run must not choose where this one writes.
    deliver_to: Mapped[str | None] = mapped_column(String(1000))
    pid: Mapped[int | None]
    hostname: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    # A run is nearly always shown with its session's slug and its outputs, so load both
    # eagerly; this also keeps ``run_to_dict`` safe on a run whose Session has closed.
    session: Mapped[ExperimentSession] = relationship(back_populates="runs", lazy="joined")
    outputs: Mapped[list[Output]] = relationship(
        back_populates="run",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        order_by="Output.id",
    )

    def __repr__(self) -> str:
        return _repr(self, "id", "kind", "status", "seed")


class Output(Base):
    """A file (or a folder of PNG frames) a run wrote (``outputs`` table).

    ``path`` is relative to ``STUDIO_HOME``, POSIX form; ``sha256`` and ``bytes`` are as
    computed by ``db.files.digest``.
    """

    __tablename__ = "outputs"
    # One row per file of a run: a resume that writes the file again updates it.
    __table_args__ = (UniqueConstraint("run_id", "path", name="uq_outputs_run_path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int]
    height: Mapped[int]
    frames: Mapped[int]
    fps: Mapped[float] = mapped_column(Float)
    has_audio: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    run: Mapped[Run] = relationship(back_populates="outputs")

    def __repr__(self) -> str:
        return _repr(self, "id", "run_id", "kind", "path")


class InputMedia(Base):
    """An input file (audio, video, init image) used by a session (``input_media`` table)."""

    __tablename__ = "input_media"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    session: Mapped[ExperimentSession] = relationship(back_populates="inputs")

    def __repr__(self) -> str:
        return _repr(self, "id", "session_id", "kind", "path")
