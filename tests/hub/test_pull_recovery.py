"""A pull or a session delete killed half-way is finished or undone when the home is next
used (db.recovery): the name is free again, no orphan folder or staging is left, and a
finished pull keeps its session (issue 26, item 3).

The pulls run in a subprocess that SIGKILLs itself at a named point, against the local Hub
(tests/support/hub_server.py) through the real huggingface_hub client.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from db import Store, list_sessions
from db.hub import pull_session, push_session
from db.paths import staging_root, trash_root
from db.recovery import recover
from studio.app.store import close_stores, store_for
from tests.support.hub import REPO, make_session

ROOT = Path(__file__).resolve().parents[2]

# Kill the pulling process at a point: "download" (inside the first file download) or
# "moved" (after the session's folders moved in, before the rows commit).
KILLER = """
import os, signal, sys
from pathlib import Path
from db import Store
from db.files import FolderMoves
from db.hub import pull_session
from huggingface_hub import HfApi

point = sys.argv[2]
if point == "download":
    real = HfApi.hf_hub_download
    def download(self, *args, **kwargs):
        real(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    HfApi.hf_hub_download = download
else:
    real_move = FolderMoves.move
    def move(self, source, destination):
        real_move(self, source, destination)
        if destination.parent.name == "inputs":  # both folders are in place now
            os.kill(os.getpid(), signal.SIGKILL)
    FolderMoves.move = move
pull_session(Store.open(Path(sys.argv[1])), sys.argv[3], "demo")
"""


def _pull_and_kill(home: Path, tmp_path: Path, point: str) -> None:
    (tmp_path / "killer.py").write_text(KILLER)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "killer.py"), str(home), point, REPO],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]


@pytest.fixture
def pushed(hub, tmp_path: Path) -> Path:
    """A repo holding session ``demo``; returns a fresh home to pull it into."""
    with Store.open(tmp_path / "source") as source:
        make_session(source, extras=True)
        push_session(source, "demo", REPO)
    home = tmp_path / "home"
    Store.open(home).close()
    return home


def test_a_pull_killed_after_moving_folders_in_is_undone_then_pulls_again(pushed, tmp_path):
    home = pushed
    _pull_and_kill(home, tmp_path, "moved")
    assert (home / "outputs" / "demo").is_dir()  # moved in, never recorded
    assert any(staging_root(home).iterdir())

    with Store.open(home) as store:
        notes = recover(store)
        assert any("undid the pull of session 'demo'" in n for n in notes)
        assert not (home / "outputs" / "demo").exists()
        assert not (home / "inputs" / "demo").exists()
        assert not staging_root(home).exists()
        report = pull_session(store, REPO, "demo")  # the name is free again
        assert report.slug == "demo"
        with store.session() as s:
            assert [x.slug for x in list_sessions(s)] == ["demo"]


def test_a_pull_killed_while_downloading_leaves_no_staging(pushed, tmp_path):
    home = pushed
    _pull_and_kill(home, tmp_path, "download")
    assert any(staging_root(home).iterdir())
    try:
        store_for(home)  # opening a home recovers it
        assert not staging_root(home).exists()
    finally:
        close_stores()


def test_a_live_pull_is_left_alone(pushed):
    live = staging_root(pushed) / "pull-live"
    live.mkdir(parents=True)
    (live / "owner.json").write_text(f'{{"pid": {os.getpid()}, "host": "{os.uname().nodename}"}}')
    with Store.open(pushed) as store:
        assert recover(store) == []
    assert live.is_dir()


def test_a_pull_that_committed_keeps_its_session(pushed):
    with Store.open(pushed) as store:
        pull_session(store, REPO, "demo")
        # As if killed after the commit, before the staging folder was removed.
        leftover = staging_root(pushed) / "pull-dead"
        leftover.mkdir(parents=True)
        (leftover / "moves.json").write_text(
            f'{{"slug": "demo", "destinations": ["{pushed / "outputs" / "demo"}"]}}'
        )
        (leftover / "owner.json").write_text(
            f'{{"pid": 999999999, "host": "{os.uname().nodename}"}}'
        )
        recover(store)
        assert (pushed / "outputs" / "demo").is_dir()  # the committed session's files stay
        assert not leftover.exists()


DELETE_KILLER = """
import os, signal, sys
from pathlib import Path
from db import Store, delete_session

home = Path(sys.argv[1])
store = Store.open(home)
with store.begin() as s:
    delete_session(s, home, "demo")  # folders moved to the trash; the commit is next
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_delete_cut_off_before_its_commit_moves_the_folders_back(tmp_path):
    home = tmp_path / "home"
    with Store.open(home) as store:
        make_session(store, extras=True)
    before = sorted(p.relative_to(home) for p in (home / "outputs").rglob("*"))
    (tmp_path / "delete.py").write_text(DELETE_KILLER)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "delete.py"), str(home)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert not (home / "outputs" / "demo").exists()  # in the trash, its rows still there

    with Store.open(home) as store:
        notes = recover(store)
        assert notes == ["moved the folders of session 'demo' back: its delete was cut off"]
        with store.session() as s:
            assert [x.slug for x in list_sessions(s)] == ["demo"]
    assert sorted(p.relative_to(home) for p in (home / "outputs").rglob("*")) == before
    assert not trash_root(home).exists()
