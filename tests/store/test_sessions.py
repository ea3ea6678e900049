"""Managing sessions in the store: rename, annotate, archive, delete, stats.

The Sessions page that does it through AppTest is tests/ui/test_sessions_page.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from db import (
    NotFound,
    SessionBusy,
    SessionStats,
    SlugTaken,
    Store,
    add_input_media,
    add_output,
    create_run,
    delete_session,
    get_or_create_session,
    get_run,
    get_session,
    list_sessions,
    normalize_tags,
    rename_session,
    session_stats,
    update_session,
)
from db.files import FolderMoves, follow_transaction


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "home") as opened:
        yield opened


def _session_with_files(store: Store, slug: str = "demo", status: str = "done") -> str:
    """A session with one run, its output file and an input file, all under ``slug``."""
    with store.begin() as s:
        session = get_or_create_session(s, slug)
        run = create_run(
            s,
            session=session,
            kind="animation",
            spec={"seed": 1},
            schema_version=1,
            model_ref="builtin:tiny",
            seed=1,
            status=status,
        )
        run_id = run.id
        video = store.home / "outputs" / slug / run_id / "video.mp4"
        video.parent.mkdir(parents=True)
        video.write_bytes(b"video")
        add_output(
            s,
            run,
            kind="mp4",
            path=f"outputs/{slug}/{run_id}/video.mp4",
            sha256="0" * 64,
            bytes=5,
            width=8,
            height=8,
            frames=1,
            fps=1,
            has_audio=False,
        )
        audio = store.home / "inputs" / slug / "beat.wav"
        audio.parent.mkdir(parents=True)
        audio.write_bytes(b"audio")
        add_input_media(
            s, session, kind="audio", path=f"inputs/{slug}/beat.wav", sha256="1" * 64, bytes=5
        )
    return run_id


def test_update_session_fields(store: Store) -> None:
    _session_with_files(store)
    with store.begin() as s:
        update_session(
            s,
            "demo",
            title="  Dusk studies ",
            notes="try warmer",
            tags=[" red ", "red", "", "to  do"],
            archived=True,
        )
    with store.session() as s:
        session = get_session(s, "demo")
        assert (session.title, session.notes, session.tags, session.archived) == (
            "Dusk studies",
            "try warmer",
            ["red", "to do"],
            True,
        )
        assert [x.slug for x in list_sessions(s, include_archived=False)] == []
    with store.begin() as s:
        update_session(s, "demo", archived=False)  # the rest is kept
        assert get_session(s, "demo").title == "Dusk studies"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title": "   "}, "title must be 1-200"),
        ({"title": "x" * 201}, "title must be 1-200"),
        ({"tags": "red,blue"}, "list of strings"),
        ({"tags": [1]}, "must be strings"),
        ({"tags": ["x" * 65]}, "at most 64"),
        ({"archived": "yes"}, "True or False"),
        ({"notes": 3}, "notes must be text"),
    ],
)
def test_update_session_refuses_bad_values(store: Store, changes: dict, message: str) -> None:
    _session_with_files(store)
    with pytest.raises(ValueError, match=message), store.begin() as s:
        update_session(s, "demo", **changes)
    with pytest.raises(NotFound, match="'nope'"), store.begin() as s:
        update_session(s, "nope", title="x")


def test_normalize_tags() -> None:
    assert normalize_tags(["a", " b ", "a", "c  d", ""]) == ["a", "b", "c d"]
    assert normalize_tags(()) == []


def test_rename_moves_folders_and_rewrites_paths(store: Store) -> None:
    run_id = _session_with_files(store)
    with store.begin() as s:
        rename_session(s, store.home, "demo", "dusk", title="Dusk")
    home = store.home
    assert not (home / "outputs" / "demo").exists() and not (home / "inputs" / "demo").exists()
    assert (home / "outputs" / "dusk" / run_id / "video.mp4").read_bytes() == b"video"
    assert (home / "inputs" / "dusk" / "beat.wav").read_bytes() == b"audio"
    with store.session() as s:
        session = get_session(s, "dusk")
        assert session.title == "Dusk"
        assert get_run(s, run_id).outputs[0].path == f"outputs/dusk/{run_id}/video.mp4"
        assert session.inputs[0].path == "inputs/dusk/beat.wav"
        with pytest.raises(NotFound):
            get_session(s, "demo")


def test_rename_is_undone_with_its_transaction(store: Store) -> None:
    run_id = _session_with_files(store)
    with pytest.raises(RuntimeError, match="later failure"), store.begin() as s:
        rename_session(s, store.home, "demo", "dusk")
        assert (store.home / "outputs" / "dusk" / run_id).is_dir()
        raise RuntimeError("later failure")
    assert (store.home / "outputs" / "demo" / run_id / "video.mp4").is_file()
    assert not (store.home / "outputs" / "dusk").exists()
    with store.session() as s:
        assert get_run(s, run_id).outputs[0].path.startswith("outputs/demo/")


def test_rename_refusals(store: Store) -> None:
    _session_with_files(store)
    _session_with_files(store, "taken")
    with pytest.raises(SlugTaken, match="'taken' already exists"), store.begin() as s:
        rename_session(s, store.home, "demo", "taken")
    (store.home / "outputs" / "leftover").mkdir()
    with pytest.raises(SlugTaken, match="leftover.*already exists"), store.begin() as s:
        rename_session(s, store.home, "demo", "leftover")
    for bad in ("Not a slug", "-leading-dash", "a/b"):
        with pytest.raises(ValueError, match="session slug"), store.begin() as s:
            rename_session(s, store.home, "demo", bad)
    with pytest.raises(NotFound), store.begin() as s:
        rename_session(s, store.home, "nope", "other")
    _session_with_files(store, "busy", status="running")
    with pytest.raises(SessionBusy, match="is running"), store.begin() as s:
        rename_session(s, store.home, "busy", "calm")
    assert issubclass(SlugTaken, ValueError)


def test_delete_removes_rows_and_folders_only_of_that_session(store: Store) -> None:
    run_id = _session_with_files(store)
    kept = _session_with_files(store, "kept")
    with store.begin() as s:
        assert delete_session(s, store.home, "demo") == 1
    home = store.home
    assert not (home / "outputs" / "demo").exists() and not (home / "inputs" / "demo").exists()
    assert not (home / ".trash").exists()
    assert (home / "outputs" / "kept" / kept / "video.mp4").is_file()
    with store.session() as s:
        assert [x.slug for x in list_sessions(s)] == ["kept"]
        with pytest.raises(NotFound):
            get_run(s, run_id)
        assert session_stats(s) == {"kept": SessionStats(runs=1, outputs=1, bytes=5)}


def test_delete_is_undone_with_its_transaction(store: Store) -> None:
    run_id = _session_with_files(store)
    with pytest.raises(RuntimeError), store.begin() as s:
        delete_session(s, store.home, "demo")
        assert not (store.home / "outputs" / "demo").exists()
        raise RuntimeError("later failure")
    assert (store.home / "outputs" / "demo" / run_id / "video.mp4").is_file()
    assert (store.home / "inputs" / "demo" / "beat.wav").is_file()
    with store.session() as s:
        assert get_run(s, run_id).session.slug == "demo"


def test_delete_refuses_a_session_with_a_run_in_progress(store: Store) -> None:
    _session_with_files(store, status="queued")
    with pytest.raises(SessionBusy, match="queued.*wait for it"), store.begin() as s:
        delete_session(s, store.home, "demo")
    with pytest.raises(NotFound), store.begin() as s:
        delete_session(s, store.home, "nope")


def test_session_stats_counts_empty_sessions(store: Store) -> None:
    _session_with_files(store)
    with store.begin() as s:
        get_or_create_session(s, "empty")
    with store.session() as s:
        assert session_stats(s) == {
            "demo": SessionStats(runs=1, outputs=1, bytes=5),
            "empty": SessionStats(),
        }


def test_follow_transaction_runs_exactly_one_callback(store: Store, tmp_path: Path) -> None:
    events: list[str] = []
    with store.begin() as s:
        get_or_create_session(s, "a")
        follow_transaction(
            s,
            on_commit=lambda: events.append("commit"),
            on_rollback=lambda: events.append("rollback"),
        )
        with s.begin_nested():  # a SAVEPOINT released is not the outer commit
            get_or_create_session(s, "b")
        assert events == []
    assert events == ["commit"]
    with pytest.raises(RuntimeError), store.begin() as s:
        get_or_create_session(s, "c")
        follow_transaction(
            s,
            on_commit=lambda: events.append("commit"),
            on_rollback=lambda: events.append("rollback"),
        )
        raise RuntimeError
    assert events == ["commit", "rollback"]

    source, target = tmp_path / "src", tmp_path / "dst"
    source.mkdir()
    (target).mkdir()
    with pytest.raises(FileExistsError):
        FolderMoves().move(source, target)  # never replaces, not even an empty folder
