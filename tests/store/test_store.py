"""The store: migrations, SQLite settings, repository functions, paths, interrupted runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text, update

from db import (
    INTERRUPTED,
    RUNNING,
    NotFound,
    Run,
    Store,
    add_output,
    create_run,
    get_or_create_session,
    get_run,
    list_outputs,
    list_runs,
    list_sessions,
    relative_to_home,
    resolve_in_home,
    run_output_dir,
    run_to_dict,
    slugify,
    studio_home,
    validate_slug,
)
from db.migrations import alembic_config, head_revision
from db.models import Base, ExperimentSession
from db.repository import MAX_SEED

TABLES = {"sessions", "runs", "outputs", "input_media"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with Store.open(home) as opened:
        yield opened


def _new_run(store: Store, slug: str = "demo", **overrides: object) -> str:
    fields: dict[str, object] = dict(
        kind="animation",
        spec={"kind": "animation", "diffusion": {"seed": 1}},
        schema_version=1,
        model_ref="builtin:tiny",
        seed=1,
    )
    fields.update(overrides)
    with store.begin() as s:
        run = create_run(s, session=get_or_create_session(s, slug), **fields)  # type: ignore[arg-type]
        return run.id


# -- opening and migrations ----------------------------------------------------------------


def test_open_creates_tables_and_records_the_migration(store: Store, home: Path) -> None:
    assert (home / "studio.db").is_file()
    assert set(inspect(store.engine).get_table_names()) >= TABLES
    with store.engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert versions == [head_revision()] == ["0004_output_once"]


def test_sqlite_settings(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_store_attributes(store: Store, home: Path) -> None:
    assert store.home == home.resolve()
    assert store.url.startswith("sqlite")
    assert store.url.endswith("studio.db")


def test_open_defaults_to_studio_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_HOME", str(home))
    with Store.open() as opened:
        assert opened.home == home.resolve()
    assert (home / "studio.db").is_file()


def test_reopen_is_idempotent(home: Path) -> None:
    with Store.open(home) as first:
        run_id = _new_run(first)
    with Store.open(home) as second, Store.open(home) as third:
        with second.session() as s:
            assert get_run(s, run_id).status == "queued"
        with third.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_models_match_migrations(store: Store) -> None:
    # A model change without a migration (or the reverse) shows up here.
    with store.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_downgrade_and_upgrade_again(store: Store) -> None:
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(connection=conn), "base")
    assert not TABLES & set(inspect(store.engine).get_table_names())
    with store.engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "head")
    assert set(inspect(store.engine).get_table_names()) >= TABLES


def test_ddl_rolls_back(store: Store) -> None:
    # Migrations rely on this: a failed upgrade must leave no half-made tables.
    with store.engine.connect() as conn:
        conn.begin()
        conn.exec_driver_sql("CREATE TABLE scratch (x INTEGER)")
        conn.rollback()
    assert "scratch" not in inspect(store.engine).get_table_names()


def test_foreign_keys_are_enforced(store: Store) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), store.begin() as s:
        s.execute(
            text(
                "INSERT INTO outputs (run_id, kind, path, sha256, bytes, width, height, frames,"
                " fps, has_audio, created_at) VALUES ('nope', 'mp4', 'a', 'b', 1, 8, 8, 1, 1.0,"
                " 0, '2026-01-01')"
            )
        )


# -- sessions ------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["a", "demo", "tokyo-night_2", "0", "x" * 64])
def test_valid_slugs(slug: str) -> None:
    assert validate_slug(slug) == slug


@pytest.mark.parametrize("slug", ["", "Demo", "with space", "a/b", "..", "é", "x" * 65, "a.b"])
def test_invalid_slugs_are_refused_by_name(slug: str) -> None:
    with pytest.raises(ValueError, match="session slug") as info:
        validate_slug(slug)
    assert repr(slug) in str(info.value)


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Tokyo at Night #2", "tokyo-at-night-2"),
        ("Café  Déjà-vu", "cafe-deja-vu"),
        ("already_a-slug", "already_a-slug"),
        ("!!!", "session"),
        ("", "session"),
        ("a" * 100, "a" * 64),
    ],
)
def test_slugify_examples(title: str, slug: str) -> None:
    assert slugify(title) == slug


@given(st.text())
def test_slugify_output_is_always_a_valid_slug(title: str) -> None:
    slug = slugify(title)
    assert validate_slug(slug) == slug
    assert slugify(slug) == slug


def test_get_or_create_session(store: Store) -> None:
    with store.begin() as s:
        created = get_or_create_session(s, "demo", title="My demo")
    with store.begin() as s:
        again = get_or_create_session(s, "demo", title="Another title")
        assert again.id == created.id
        assert again.title == "My demo"
        assert get_or_create_session(s, "other").title == "other"
    with store.session() as s:
        assert [x.slug for x in list_sessions(s)] == ["other", "demo"]
    with pytest.raises(ValueError, match="session slug"), store.begin() as s:
        get_or_create_session(s, "Bad Slug")


# -- runs ----------------------------------------------------------------------------------


def test_run_ids_are_readable_and_unique(store: Store) -> None:
    ids = {_new_run(store) for _ in range(20)}
    assert len(ids) == 20
    for run_id in ids:
        date, clock, rand = run_id.split("-")
        assert len(date) == 8 and len(clock) == 6 and len(rand) == 6


def test_create_run_stores_spec_and_big_seed(store: Store) -> None:
    run_id = _new_run(store, seed=MAX_SEED, spec={"values": (1, 2), "nested": {"a": None}})
    with store.session() as s:
        run = get_run(s, run_id)
        assert run.seed == MAX_SEED
        assert run.spec == {"values": [1, 2], "nested": {"a": None}}
        assert run.status == "queued"
        assert run.frames_done == 0
        assert run.session.slug == "demo"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seed", -1, "seed"),
        ("seed", MAX_SEED + 1, "seed"),
        ("status", "paused", "status"),
        ("spec", {"x": object()}, "JSON"),
        ("spec", {"x": float("nan")}, "JSON"),
    ],
)
def test_create_run_refuses_bad_values(
    store: Store, field: str, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _new_run(store, **{field: value})


def test_get_run_not_found_names_the_id(store: Store) -> None:
    with store.session() as s, pytest.raises(NotFound, match="nope-123"):
        get_run(s, "nope-123")
    assert issubclass(NotFound, LookupError)


def test_list_runs_newest_first_with_filters(store: Store) -> None:
    first = _new_run(store, "a")
    second = _new_run(store, "b")
    third = _new_run(store, "a")
    with store.begin() as s:
        s.execute(update(Run).where(Run.id == second).values(status=RUNNING))
    with store.session() as s:
        assert [r.id for r in list_runs(s)] == [third, second, first]
        assert [r.id for r in list_runs(s, session_slug="a")] == [third, first]
        assert [r.id for r in list_runs(s, status=RUNNING)] == [second]
        assert [r.id for r in list_runs(s, limit=2)] == [third, second]
        assert list_runs(s, session_slug="missing") == []
        with pytest.raises(ValueError, match="status"):
            list_runs(s, status="bogus")


def _add_output(store: Store, run_id: str, name: str) -> None:
    with store.begin() as s:
        add_output(
            s,
            get_run(s, run_id),
            kind="mp4",
            path=f"outputs/x/{run_id}/{name}",
            sha256="0" * 64,
            bytes=10,
            width=64,
            height=32,
            frames=24,
            fps=12,
            has_audio=False,
        )


def test_list_outputs_newest_first_with_run_loaded(store: Store) -> None:
    run_a = _new_run(store, "a")
    run_b = _new_run(store, "b")
    _add_output(store, run_a, "one.mp4")
    _add_output(store, run_b, "two.mp4")
    _add_output(store, run_a, "three.gif")
    with store.session() as s:
        outputs = list_outputs(s)
        only_a = list_outputs(s, session_slug="a", limit=1)
    # Read after the Session closed: the run and its session must already be loaded.
    assert [o.path.rsplit("/", 1)[1] for o in outputs] == ["three.gif", "two.mp4", "one.mp4"]
    assert [o.run.session.slug for o in outputs] == ["a", "b", "a"]
    assert [o.path.rsplit("/", 1)[1] for o in only_a] == ["three.gif"]


def test_add_output_refuses_paths_that_are_not_relative(store: Store) -> None:
    run_id = _new_run(store)
    for bad in ("/etc/passwd", "../outside.mp4", "outputs/../../x"):
        with pytest.raises(ValueError, match="relative"), store.begin() as s:
            add_output(
                s,
                get_run(s, run_id),
                kind="mp4",
                path=bad,
                sha256="0" * 64,
                bytes=1,
                width=8,
                height=8,
                frames=1,
                fps=1,
                has_audio=False,
            )


def test_run_to_dict_is_json_safe(store: Store) -> None:
    run_id = _new_run(store, seed=MAX_SEED)
    _add_output(store, run_id, "video.mp4")
    with store.session() as s:
        data = run_to_dict(get_run(s, run_id))
    assert json.loads(json.dumps(data)) == data
    assert data["id"] == run_id
    assert data["session"] == "demo"
    assert data["seed"] == MAX_SEED
    assert data["outputs"][0]["path"].endswith("video.mp4")
    assert datetime.fromisoformat(data["created_at"]).tzinfo is not None


def test_timestamps_are_aware_utc_and_naive_ones_are_refused(store: Store) -> None:
    run_id = _new_run(store)
    with store.session() as s:
        created = get_run(s, run_id).created_at
    assert created.tzinfo is not None and created.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60
    with pytest.raises(Exception, match="timezone-aware"), store.begin() as s:
        s.add(ExperimentSession(slug="naive", title="t", created_at=datetime(2026, 1, 1)))
        s.flush()


# -- paths ---------------------------------------------------------------------------------


def test_studio_home_from_env_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "custom" / "home"))
    home = studio_home()
    assert home == (tmp_path / "custom" / "home").resolve()
    assert home.is_dir()


def test_studio_home_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STUDIO_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert studio_home() == (tmp_path / ".latent-studio").resolve()


def test_run_output_dir(home: Path) -> None:
    assert run_output_dir(home, "demo", "20260101-000000-abcdef") == (
        home / "outputs" / "demo" / "20260101-000000-abcdef"
    )
    for slug, run_id in [("..", "x"), ("demo", "../x"), ("a/b", "x"), ("demo", "")]:
        with pytest.raises(ValueError):
            run_output_dir(home, slug, run_id)


def test_relative_to_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "outputs").mkdir(parents=True)
    assert relative_to_home(home, home / "outputs" / "a" / "b.mp4") == "outputs/a/b.mp4"
    assert resolve_in_home(home, "outputs/a/b.mp4") == home / "outputs" / "a" / "b.mp4"
    with pytest.raises(ValueError, match="outside STUDIO_HOME"):
        relative_to_home(home, tmp_path / "elsewhere.mp4")
    with pytest.raises(ValueError, match="outside STUDIO_HOME"):
        relative_to_home(home, home / ".." / "elsewhere.mp4")
    with pytest.raises(ValueError):
        relative_to_home(home, home)
    # A symlink inside home that points outside is still outside.
    (home / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="outside STUDIO_HOME"):
        relative_to_home(home, home / "link" / "x.mp4")


@pytest.mark.parametrize("bad", ["", "/abs/x", "../x", "a/../../x", "a\\b"])
def test_resolve_in_home_refuses_unsafe_paths(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        resolve_in_home(tmp_path, bad)


# -- interrupted runs ----------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _set_owner(store: Store, run_id: str, *, status: str, pid: int | None, host: str) -> None:
    with store.begin() as s:
        s.execute(update(Run).where(Run.id == run_id).values(status=status, pid=pid, hostname=host))


def test_runs_of_dead_processes_are_marked_interrupted_on_open(home: Path) -> None:
    here = socket.gethostname()
    dead = _dead_pid()
    with Store.open(home) as store:
        dead_running = _new_run(store)
        dead_queued = _new_run(store)
        alive = _new_run(store)
        elsewhere = _new_run(store)
        finished = _new_run(store)
        _set_owner(store, dead_running, status="running", pid=dead, host=here)
        _set_owner(store, dead_queued, status="queued", pid=dead, host=here)
        _set_owner(store, alive, status="running", pid=os.getpid(), host=here)
        _set_owner(store, elsewhere, status="running", pid=dead, host=here + "-other")
        _set_owner(store, finished, status="done", pid=dead, host=here)

    with Store.open(home) as store, store.session() as s:
        for run_id in (dead_running, dead_queued):
            run = get_run(s, run_id)
            assert run.status == INTERRUPTED
            assert run.error == f"the process rendering it stopped (pid {dead})"
            assert run.finished_at is not None
        assert get_run(s, alive).status == "running"
        assert get_run(s, elsewhere).status == "running"
        assert get_run(s, finished).status == "done"


# -- concurrency ---------------------------------------------------------------------------


def test_concurrent_writes_from_two_threads(store: Store) -> None:
    run_id = _new_run(store)
    errors: list[BaseException] = []

    def writer(slug: str) -> None:
        try:
            for i in range(40):
                # Read then write in one transaction: the pattern that fails with
                # "database is locked" under plain deferred BEGIN.
                with store.begin() as s:
                    run = get_run(s, run_id)
                    run.frames_done = run.frames_done + 1
                    get_or_create_session(s, f"{slug}-{i % 3}")
                with store.session() as s:
                    list_runs(s, limit=5)
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.session() as s:
        assert get_run(s, run_id).frames_done == 80
        assert len(s.scalars(select(ExperimentSession)).all()) == 7
