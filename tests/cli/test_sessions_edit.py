"""``sessions edit``: what the Sessions page edits, from the command line (issue 29, item 7)."""

from __future__ import annotations

import json

import pytest

from db import Store, get_session
from tests.support.hub import make_session


@pytest.fixture
def home(studio_home):
    with Store.open(studio_home) as store:
        make_session(store, "demo", runs=1)
    return studio_home


def test_edit_changes_only_what_is_given(cli, home):
    proc = cli(
        home, "sessions", "edit", "demo", "--title", "Dusk", "--tags", "red, final", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["title"] == "Dusk"
    assert cli(home, "sessions", "edit", "demo", "--archive").returncode == 0
    with Store.open(home).session() as s:
        session = get_session(s, "demo")
        assert (session.title, session.tags, session.archived) == ("Dusk", ["red", "final"], True)
        assert session.notes == "dusk colours"  # not given: kept
    assert cli(home, "sessions", "edit", "demo", "--unarchive", "--notes", "").returncode == 0
    with Store.open(home).session() as s:
        session = get_session(s, "demo")
        assert (session.archived, session.notes, session.title) == (False, "", "Dusk")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo"], "give at least one of --title"),
        (["demo", "--title", "  "], "a session title must be 1-200 characters, got 0"),
        (["demo", "--tags", "x" * 65], "a tag must be at most 64 characters"),
        (["nope", "--title", "t"], "nope"),
        (["demo", "--archive", "--unarchive"], "not allowed with argument"),
    ],
)
def test_bad_edits_are_one_line_exit_2_and_change_nothing(cli, home, args, message):
    proc = cli(home, "sessions", "edit", *args)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr
    with Store.open(home).session() as s:
        assert get_session(s, "demo").title == "Demo session"
