"""A pulled manifest nested too deeply, or holding a date out of range, is refused with the
file named, not an internal error (issue 26, item 4)."""

from __future__ import annotations

import pytest

from db import HubSyncError, Store
from db.hub.snapshot import build_manifest
from db.manifest import dump_manifest, parse_manifest
from tests.support.hub import make_session


def test_a_manifest_nested_200000_deep_is_refused() -> None:
    data = ("[" * 200_000 + "]" * 200_000).encode()
    with pytest.raises(HubSyncError, match="repo/demo/session.json.*nested too deeply"):
        parse_manifest(data, "repo/demo/session.json")


def test_a_date_out_of_range_is_refused(tmp_path) -> None:
    with Store.open(tmp_path / "home") as store:
        make_session(store)
        manifest = build_manifest(store, "demo").manifest
    parse_manifest(dump_manifest(manifest), "repo/demo/session.json")  # as made: accepted
    for time in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"):  # out in UTC
        manifest["session"]["created_at"] = time
        with pytest.raises(HubSyncError, match="session.json.*created_at is out of range"):
            parse_manifest(dump_manifest(manifest), "repo/demo/session.json")
