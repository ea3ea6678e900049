"""``runs search`` and ``runs compare``: the History page's filters and comparison on the
command line (issue 29, item 7), over a real store."""

from __future__ import annotations

import json

import pytest

from db import Store, update_session
from tests.support.hub import make_run, make_session


@pytest.fixture
def home(studio_home):
    with Store.open(studio_home) as store:
        make_session(store, "demo", runs=2)  # seeds 0 and 1, tags red, draft
        make_session(store, "other", runs=0)
        make_run(store, "other", 7)
        with store.begin() as s:
            update_session(s, "other", tags=["blue"])
    return studio_home


def _ids(cli, home, *args):
    proc = cli(home, "runs", "search", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return [(r["session"], r["spec"]["seed"]) for r in json.loads(proc.stdout)]


def test_search_filters_as_the_history_page_does(cli, home):
    assert sorted(_ids(cli, home)) == [("demo", 0), ("demo", 1), ("other", 7)]
    assert _ids(cli, home, "--text", "SEED 7") == [("other", 7)]
    assert sorted(_ids(cli, home, "--tag", "red")) == [("demo", 0), ("demo", 1)]
    assert _ids(cli, home, "--tag", "red", "--tag", "blue") == []
    assert sorted(_ids(cli, home, "--session", "demo", "--model", "TINY")) == [
        ("demo", 0),
        ("demo", 1),
    ]
    assert _ids(cli, home, "--status", "failed") == []
    assert len(_ids(cli, home, "--limit", "1")) == 1
    assert _ids(cli, home, "--until", "2000-01-01") == []


def test_search_sorts_and_filters_by_smoothness(cli, home):
    """Issue 29, item 6: ``--sort`` and ``--max-jump`` over the runs' recorded scores."""
    from sqlalchemy import select

    from db.models import Run

    scores = {0: (0.3, 0.5), 1: (0.1, 0.2)}  # seed -> (cv, largest jump); seed 7 has none
    with Store.open(home).begin() as s:
        for run in s.scalars(select(Run)):
            if run.seed in scores:
                cv, jump = scores[run.seed]
                score = {"mean": 0.1, "cv": cv, "max_jump": jump, "max_jump_frame": 3}
                run.extra = {**run.extra, "smoothness": score}
    assert _ids(cli, home, "--sort", "evenness") == [("demo", 1), ("demo", 0), ("other", 7)]
    assert _ids(cli, home, "--sort", "jump", "--limit", "1") == [("demo", 1)]
    assert _ids(cli, home, "--max-jump", "0.5") == [("demo", 1), ("demo", 0)]
    assert _ids(cli, home, "--max-jump", "0.25") == [("demo", 1)]
    lines = cli(home, "runs", "search", "--sort", "evenness").stdout.splitlines()
    assert lines[0].endswith("cv 0.100  jump 0.200 at frame 3") and "cv" not in lines[2]


def test_compare_lists_the_settings_that_differ(cli, home):
    runs = json.loads(cli(home, "runs", "list", "--json").stdout)
    by_seed = {r["spec"]["seed"]: r["id"] for r in runs}
    proc = cli(home, "runs", "compare", by_seed[0], by_seed[7], "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [
        ["prompts.schedule", "0: seed 0", "0: seed 7"],
        ["seed", 0, 7],
    ]
    same = cli(home, "runs", "compare", by_seed[0], by_seed[0])
    assert same.stdout.strip() == "the two runs have the same settings"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--since", "yesterday"], "is not a date like"),
        (["search", "--status", "bogus"], "invalid choice"),
        (["search", "--max-jump", "3"], "must be from 0 to 2 (1 - SSIM), got 3"),
        (["search", "--max-jump", "nan"], "got nan"),
        (["search", "--sort", "smoothest"], "invalid choice: 'smoothest'"),
        (["compare", "nope", "nope2"], "nope"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(cli, home, args, message):
    proc = cli(home, "runs", *args)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert message in proc.stderr
