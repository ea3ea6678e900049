"""Each file of a run is recorded once, even when a resumed run records it again, and stores
made before the constraint lose their duplicate rows when they are upgraded (issue 26)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from db import Store, add_output, create_run, get_or_create_session, get_run, list_outputs
from db.migrations import alembic_config


def _run(store: Store) -> str:
    with store.begin() as s:
        run = create_run(
            s,
            session=get_or_create_session(s, "demo"),
            kind="animation",
            spec={"kind": "animation"},
            schema_version=2,
            model_ref="builtin:tiny",
            seed=1,
        )
        return run.id


def _output(store: Store, run_id: str, sha: str, frames: int = 24) -> None:
    with store.begin() as s:
        add_output(
            s,
            get_run(s, run_id),
            kind="mp4",
            path=f"outputs/demo/{run_id}/animation.mp4",
            sha256=sha,
            bytes=10,
            width=64,
            height=64,
            frames=frames,
            fps=12,
            has_audio=False,
        )


def test_recording_a_file_again_updates_its_row(tmp_path: Path) -> None:
    with Store.open(tmp_path / "home") as store:
        run_id = _run(store)
        _output(store, run_id, "a" * 64, frames=24)
        _output(store, run_id, "b" * 64, frames=30)
        with store.session() as s:
            (output,) = list_outputs(s)
            assert (output.sha256, output.frames) == ("b" * 64, 30)


def test_the_database_refuses_a_second_row_for_one_file(tmp_path: Path) -> None:
    with Store.open(tmp_path / "home") as store:
        run_id = _run(store)
        _output(store, run_id, "a" * 64)
        insert = text(
            "INSERT INTO outputs (run_id, kind, path, sha256, bytes, width, height, frames, "
            "fps, has_audio, created_at) SELECT run_id, kind, path, sha256, bytes, width, "
            "height, frames, fps, has_audio, created_at FROM outputs"
        )
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(insert)


def test_upgrading_a_store_with_duplicate_rows_keeps_the_newest(tmp_path: Path) -> None:
    with Store.open(tmp_path / "home") as store:
        run_id = _run(store)
        _output(store, run_id, "a" * 64)
        with store.engine.begin() as conn:  # back to before the constraint, then duplicate
            command.downgrade(alembic_config(connection=conn), "0003_run_deliver_to")
            conn.execute(
                text(
                    "INSERT INTO outputs (run_id, kind, path, sha256, bytes, width, height, "
                    "frames, fps, has_audio, created_at) SELECT run_id, kind, path, :sha, "
                    "bytes, width, height, frames, fps, has_audio, created_at FROM outputs"
                ),
                {"sha": "c" * 64},
            )
            assert conn.execute(text("SELECT count(*) FROM outputs")).scalar() == 2
            command.upgrade(alembic_config(connection=conn), "head")
        with store.session() as s:
            (output,) = list_outputs(s)
            assert output.sha256 == "c" * 64  # the newer row: what the resumed render wrote
