"""Deleting one run: its rows and folder go together, a busy run is refused, and a delete a
kill cut off before its commit is put back by the recovery (issue 29, item 7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from db import SessionBusy, Store, delete_run, get_run, list_outputs, list_runs
from db.paths import run_output_dir, trash_root
from db.recovery import recover
from tests.support.hub import make_session

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "home") as opened:
        make_session(opened, "demo", runs=2)
        yield opened


def test_a_deleted_run_takes_its_outputs_and_folder_and_nothing_else(store):
    with store.session() as s:
        gone, kept = (r.id for r in list_runs(s))
    folder = run_output_dir(store.home, "demo", gone)
    assert folder.is_dir()
    with store.begin() as s:
        assert delete_run(s, store.home, gone) == 1
    assert not folder.exists() and run_output_dir(store.home, "demo", kept).is_dir()
    with store.session() as s:
        assert [r.id for r in list_runs(s)] == [kept]
        assert [o.run_id for o in list_outputs(s)] == [kept]
    assert not trash_root(store.home).exists()


def test_a_running_run_is_not_deleted(store):
    with store.session() as s:
        run_id = list_runs(s)[0].id
    with store.begin() as s:
        get_run(s, run_id).status = "running"
    with pytest.raises(SessionBusy, match="running"), store.begin() as s:
        delete_run(s, store.home, run_id)
    assert run_output_dir(store.home, "demo", run_id).is_dir()


KILLER = """
import os, signal, sys
from pathlib import Path
from db import Store, delete_run

home = Path(sys.argv[1])
store = Store.open(home)
with store.begin() as s:
    delete_run(s, home, sys.argv[2])  # the folder is in the trash; the commit is next
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_delete_killed_before_its_commit_is_put_back(store, tmp_path):
    with store.session() as s:
        run_id = list_runs(s)[0].id
    folder = run_output_dir(store.home, "demo", run_id)
    files = sorted(p.name for p in folder.rglob("*"))
    (tmp_path / "kill.py").write_text(KILLER)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "kill.py"), str(store.home), run_id],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert not folder.exists()
    assert recover(store) == [f"moved the folder of run {run_id} back: its delete was cut off"]
    assert sorted(p.name for p in folder.rglob("*")) == files
    with store.session() as s:
        assert get_run(s, run_id).id == run_id
