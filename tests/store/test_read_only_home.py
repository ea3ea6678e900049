"""A STUDIO_HOME that cannot be written: reading the history works, writing says which
folder and why in one line (exit 2), and nothing is changed (issue 26, item 4).

The home is made read-only the way the machine allows: a read-only tmpfs mount when the
tests run as root (root writes through file modes), else file modes.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from db import Store
from db.store import ReadOnlyHome
from tests.support.hub import make_session
from tests.support.run_cli import studio


def _freeze(folder: Path) -> bool:
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        return True
    done = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def read_only_home(tmp_path: Path) -> Iterator[Path]:
    """A home with one session of two runs, then made read-only."""
    mount = tmp_path / "mount"
    mount.mkdir()
    mounted = False
    if os.geteuid() == 0:
        made = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True
        )
        if made.returncode != 0:
            pytest.skip("cannot mount a tmpfs to make a read-only home here")
        mounted = True
    home = mount / "home"
    with Store.open(home) as store:
        make_session(store, runs=2)
    if not _freeze(mount if mounted else home):
        pytest.skip("cannot make a folder read-only here")
    try:
        yield home
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        else:
            for path in [home, *home.rglob("*")]:
                path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_reading_works_and_writing_is_refused_with_the_folder_named(read_only_home):
    listed = studio(read_only_home, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 2
    sessions = studio(read_only_home, "sessions", "list")
    assert sessions.returncode == 0, sessions.stderr

    render = studio(read_only_home, "animate", "--prompts", "0: a red circle", "--steps", "1")
    assert render.returncode == 2, render.stderr
    (line,) = render.stderr.strip().splitlines()
    assert f"STUDIO_HOME {read_only_home} cannot be written" in line


def test_the_store_opens_read_only_and_refuses_a_write(read_only_home):
    with Store.open(read_only_home) as store:
        assert store.read_only
        assert store.mark_interrupted() == []
        with pytest.raises(ReadOnlyHome, match="cannot be written"), store.begin():
            pass
