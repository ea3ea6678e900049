"""``runs delete ID``: asks for ``--yes`` first, then deletes (issue 29, item 7)."""

from __future__ import annotations

import json

from db import Store
from tests.support.hub import make_session


def test_delete_asks_first_then_deletes(cli, studio_home):
    with Store.open(studio_home) as store:
        make_session(store, "demo", runs=2)
    run_id = json.loads(cli(studio_home, "runs", "list", "--json").stdout)[0]["id"]
    asked = cli(studio_home, "runs", "delete", run_id)
    assert asked.returncode == 1 and "Add --yes" in asked.stdout
    assert len(json.loads(cli(studio_home, "runs", "list", "--json").stdout)) == 2
    done = cli(studio_home, "runs", "delete", run_id, "--yes")
    assert done.returncode == 0, done.stderr
    left = json.loads(cli(studio_home, "runs", "list", "--json").stdout)
    assert [r["id"] for r in left] != [] and run_id not in [r["id"] for r in left]
    missing = cli(studio_home, "runs", "delete", run_id, "--yes")
    assert missing.returncode == 2 and run_id in missing.stderr
