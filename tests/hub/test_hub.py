"""Hub sync through the real huggingface_hub client, against a local Hub (tests/support/hub_server.py).

Every test gets a fresh server on 127.0.0.1 and fresh STUDIO_HOMEs with real SQLite stores;
runs and their files are made with the store's own RunRecorder (no torch).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import constants as hf_constants
from hypothesis import given
from hypothesis import strategies as st

import db.manifest
from db import (
    HubSyncError,
    NotFound,
    RunRecorder,
    SessionBusy,
    Store,
    digest,
    get_run,
    get_session,
    list_runs,
    run_to_dict,
    session_to_dict,
)
from db.files import FolderMoves
from db.hub import list_remote_sessions, pull_session, push_session
from db.manifest import FORMAT, MAX_FILE_BYTES, parse_manifest
from tests.support.hub import REPO, TOKEN, StubOutput, StubResult, make_run, make_session
from tests.support.hub_server import FakeHub
from tests.support.run_cli import studio

# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "home-a") as opened:
        yield opened


@pytest.fixture
def other(tmp_path: Path) -> Iterator[Store]:
    """A second machine: a fresh STUDIO_HOME holding one unrelated session."""
    with Store.open(tmp_path / "home-b") as opened:
        make_session(opened, "unrelated", runs=1)
        yield opened


def state(home: Path) -> tuple[list[str], dict[str, list[tuple[Any, ...]]]]:
    """Every file under ``home`` (the database's own files aside) and every row."""
    files = sorted(
        str(p.relative_to(home)) for p in home.rglob("*") if not p.name.startswith("studio.db")
    )
    with closing(sqlite3.connect(f"file:{home / 'studio.db'}?mode=ro", uri=True)) as conn:
        rows = {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("sessions", "runs", "outputs", "input_media")
        }
    return files, rows


def comparable_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run as a pull must reproduce it: everything but machine-local fields and row ids."""
    kept = {k: v for k, v in run.items() if k not in ("pid", "hostname", "outputs")}
    kept["outputs"] = [
        {k: v for k, v in o.items() if k not in ("id", "run_id")} for o in run["outputs"]
    ]
    return kept


def session_view(
    store: Store, slug: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    with store.session() as s:
        session = get_session(s, slug)
        fields = {
            k: v
            for k, v in session_to_dict(session).items()
            if k not in ("hub_repo", "last_sync_at")
        }
        inputs = [
            {"kind": m.kind, "path": m.path, "sha256": m.sha256, "bytes": m.bytes, "meta": m.meta}
            for m in session.inputs
        ]
        runs = [comparable_run(run_to_dict(r)) for r in list_runs(s, session_slug=slug)]
    return fields, runs, inputs


def edit_manifest(
    hub: FakeHub, change: Callable[[dict[str, Any]], None], slug: str = "demo"
) -> None:
    path = f"{slug}/session.json"
    manifest = json.loads(hub.read(REPO, path))
    change(manifest)
    hub.put(REPO, path, json.dumps(manifest).encode())


def video_path(manifest: dict[str, Any]) -> str:
    return next(f["path"] for f in manifest["files"] if f["path"].endswith("video.mp4"))


# -- push and pull -------------------------------------------------------------------------


def test_round_trip_gives_the_same_session_runs_specs_and_files(
    hub: FakeHub, store: Store, other: Store
) -> None:
    make_session(store, extras=True)
    report = push_session(store, "demo", REPO)

    assert report.created_repo and report.commit is not None
    assert len(hub.commits) == 1  # one commit for the whole session
    assert hub.repos[REPO].private
    files = hub.files(REPO)
    assert "demo/session.json" in files
    assert "demo/inputs/beat.wav" in files
    assert sum(p.startswith("demo/outputs/") for p in files) == 2 + 3  # two videos, three frames
    manifest = json.loads(files["demo/session.json"])
    assert manifest["format"] == "latent-studio-session" and manifest["schema_version"] == 1
    assert "pid" not in manifest["runs"][0] and "hostname" not in manifest["runs"][0]
    with store.session() as s:
        pushed = get_session(s, "demo")
        assert pushed.hub_repo == REPO and pushed.last_sync_at is not None

    pulled = pull_session(other, REPO, "demo")

    assert (pulled.slug, pulled.runs, pulled.outputs, pulled.files) == ("demo", 4, 3, 6)
    assert pulled.revision == report.commit and not pulled.renamed and pulled.run_ids == {}
    assert session_view(other, "demo") == session_view(store, "demo")
    with other.session() as s:
        runs = list_runs(s, session_slug="demo")
        assert get_session(s, "demo").hub_repo == REPO
        assert {r.status for r in runs} == {"done", "failed"}
        outputs = [o for r in runs for o in r.outputs]
        inputs = get_session(s, "demo").inputs
    for row in [*outputs, *inputs]:
        here, there = other.home / row.path, store.home / row.path
        assert digest(here) == digest(there) == (row.sha256, row.bytes)
        members = sorted(here.iterdir()) if here.is_dir() else [here]
        for member in members:
            assert (
                member.read_bytes()
                == (there / member.name if here.is_dir() else there).read_bytes()
            )
    assert not (other.home / ".staging").exists()

    # The copy is the same session: pushed back from the other machine, nothing changes.
    back = push_session(other, "demo", REPO)
    assert back.commit is None and back.uploaded == [] and not back.manifest_changed


def test_a_second_push_uploads_nothing_and_a_change_uploads_only_the_change(
    hub: FakeHub, store: Store
) -> None:
    first_ids = make_session(store)
    push_session(store, "demo", REPO)

    again = push_session(store, "demo", REPO)
    assert again.commit is None and again.uploaded == [] and not again.manifest_changed
    assert len(again.skipped) == 2 and "up to date" in again.summary()
    assert len(hub.commits) == 1

    new_run = make_run(store, "demo", 7)
    third = push_session(store, "demo", REPO)
    assert third.uploaded == [f"outputs/{new_run}/video.mp4"]
    assert len(third.skipped) == 2 and third.manifest_changed
    assert sorted(hub.commits[-1].added) == sorted(
        [f"demo/outputs/{new_run}/video.mp4", "demo/session.json"]
    )

    # A run deleted here is deleted from the repo by the next push, in its one commit.
    with store.begin() as s:
        s.delete(get_run(s, first_ids[0]))
    fourth = push_session(store, "demo", REPO)
    assert fourth.deleted == [f"outputs/{first_ids[0]}/video.mp4"] and fourth.uploaded == []
    assert f"demo/outputs/{first_ids[0]}/video.mp4" not in hub.files(REPO)
    assert len(hub.commits) == 3


def test_push_refuses_a_file_changed_since_it_was_recorded(hub: FakeHub, store: Store) -> None:
    run_id = make_session(store, runs=1)[0]
    video = store.home / "outputs" / "demo" / run_id / "video.mp4"
    video.write_bytes(b"edited by hand")
    with pytest.raises(HubSyncError, match=r"video.mp4 changed since it was recorded"):
        push_session(store, "demo", REPO)
    video.unlink()
    with pytest.raises(HubSyncError, match=r"video.mp4 .*missing"):
        push_session(store, "demo", REPO)
    assert hub.repos == {}  # checked before any request


def test_push_refuses_what_a_pull_would_refuse(hub: FakeHub, store: Store) -> None:
    run_id = make_run(store, "demo", 1, frames=True)
    frames = store.home / "outputs" / "demo" / run_id / "frames"
    (frames / "00001.png").rename(frames / "a\\b.png")  # a legal name on Linux, not on the Hub
    with store.begin() as s:
        get_run(s, run_id).outputs[0].sha256, _ = digest(frames)
    with pytest.raises(HubSyncError, match=r"cannot be pushed: .*backslash"):
        push_session(store, "demo", REPO)
    assert hub.repos == {}


def test_push_refuses_a_session_with_a_run_in_progress(hub: FakeHub, store: Store) -> None:
    make_session(store, runs=1)
    RunRecorder.create(
        store,
        session_slug="demo",
        kind="animation",
        spec={},
        schema_version=1,
        model_ref="builtin:tiny",
        seed=1,
    )
    with pytest.raises(SessionBusy, match="queued"):
        push_session(store, "demo", REPO)


def test_push_refuses_another_machines_session_of_the_same_name(
    hub: FakeHub, store: Store, other: Store
) -> None:
    make_session(store, "default", runs=1)
    make_session(other, "default", runs=1)
    push_session(store, "default", REPO)
    with pytest.raises(HubSyncError, match="different session named 'default'.*--replace"):
        push_session(other, "default", REPO)
    replaced = push_session(other, "default", REPO, replace=True)
    assert len(replaced.deleted) == 1 and len(replaced.uploaded) == 1
    with pytest.raises(NotFound, match="nope"):
        push_session(store, "nope", REPO)


def test_list_remote_sessions_with_sizes(hub: FakeHub, store: Store) -> None:
    make_session(store, "demo", extras=True)
    make_session(store, "sketches", runs=1)
    push_session(store, "demo", REPO)
    push_session(store, "sketches", REPO)

    sessions = {r.slug: r for r in list_remote_sessions(REPO)}

    assert set(sessions) == {"demo", "sketches"}
    demo = sessions["demo"]
    assert (demo.title, demo.runs, demo.files, demo.problem) == ("Demo session", 4, 6, None)
    expected = sum(
        len(data)
        for path, data in hub.files(REPO).items()
        if path.startswith("demo/") and not path.endswith("session.json")
    )
    assert demo.bytes == expected
    assert sessions["sketches"].runs == 1

    # A session this version cannot read is listed with the reason, not hidden.
    edit_manifest(hub, lambda m: m.update(schema_version=2), slug="sketches")
    sketches = {r.slug: r for r in list_remote_sessions(REPO)}["sketches"]
    assert "newer Latent Studio" in sketches.problem and sketches.runs == 0


def test_pull_settings_only_imports_runs_without_files(
    hub: FakeHub, store: Store, other: Store
) -> None:
    make_session(store, extras=True)
    push_session(store, "demo", REPO)

    report = pull_session(other, REPO, "demo", with_outputs=False)

    assert (report.runs, report.outputs, report.files) == (4, 0, 0)
    assert "settings only" in report.summary()
    with other.session() as s, store.session() as s2:
        pulled = {r.id: r for r in list_runs(s, session_slug="demo")}
        original = {r.id: r for r in list_runs(s2, session_slug="demo")}
        assert pulled.keys() == original.keys()
        for run_id, run in pulled.items():
            assert run.spec == original[run_id].spec and run.seed == original[run_id].seed
            assert run.outputs == []
        assert get_session(s, "demo").inputs == []
    assert not (other.home / "outputs" / "demo").exists()


def test_pull_refuses_an_existing_session_then_imports_it_renamed(
    hub: FakeHub, store: Store
) -> None:
    make_session(store, extras=True)
    push_session(store, "demo", REPO)
    before = state(store.home)

    with pytest.raises(HubSyncError, match=r"'demo' already exists here.*--as NEW"):
        pull_session(store, REPO, "demo")
    assert state(store.home) == before

    # Back into the machine it came from: the run ids are taken too, so they change.
    report = pull_session(store, REPO, "demo", on_conflict="rename")
    assert report.slug == "demo-2" and report.renamed and len(report.run_ids) == 4
    assert "that name was taken" in report.summary()
    with store.session() as s:
        for run in list_runs(s, session_slug="demo-2"):
            assert run.id in report.run_ids.values()
            for output in run.outputs:
                assert output.path.startswith(f"outputs/demo-2/{run.id}/")
                assert digest(store.home / output.path) == (output.sha256, output.bytes)
        assert [m.path for m in get_session(s, "demo-2").inputs] == ["inputs/demo-2/beat.wav"]
    third = pull_session(store, REPO, "demo", as_slug="kept", on_conflict="rename")
    assert third.slug == "kept" and not third.renamed


def test_pulled_runs_that_were_in_progress_arrive_interrupted(
    hub: FakeHub, store: Store, other: Store
) -> None:
    make_session(store, runs=1)
    push_session(store, "demo", REPO)

    def running(manifest: dict[str, Any]) -> None:
        manifest["runs"][0]["status"] = "running"

    edit_manifest(hub, running)
    pull_session(other, REPO, "demo")
    with other.session() as s:
        run = list_runs(s, session_slug="demo")[0]
        assert run.status == "interrupted" and "running when pushed" in run.error


def test_a_pulled_blend_run_keeps_its_plan_and_tree(
    hub: FakeHub, store: Store, other: Store
) -> None:
    from studio.blend.plan import plan_blend  # torch-free: the plan a blend render records
    from studio.spec import BlendSpec

    spec = BlendSpec()
    plan = plan_blend(spec)
    recorder = RunRecorder.create(
        store,
        session_slug="demo",
        kind="blend",
        spec=spec.to_dict(),
        schema_version=spec.schema_version,
        model_ref=spec.diffusion.model,
        seed=spec.diffusion.seed,
    )
    recorder.started({**plan.summary(), "device": "cpu", "versions": {"torch": "2.13.0"}})
    video = recorder.output_dir / "blend.mp4"
    video.write_bytes(os.urandom(3000))
    recorder.output(StubOutput(video, "mp4", frames=plan.video_frames))
    tree = {**plan.tree.to_dict(2), "transitions": [[{"position": 0.0, "level": 0}]]}
    recorder.finished(StubResult(frames=plan.video_frames))
    with store.begin() as s:  # what render_blend's result.extra holds
        get_run(s, recorder.run_id).extra = {"diffusion_frames": 17, "tree": tree}

    push_session(store, "demo", REPO)
    report = pull_session(other, REPO, "demo")
    with store.session() as s:
        pushed = run_to_dict(get_run(s, recorder.run_id))
    with other.session() as s:
        (pulled,) = [run_to_dict(r) for r in list_runs(s, session_slug=report.slug)]
    assert pulled["kind"] == "blend" and pulled["spec"] == spec.to_dict()
    assert pulled["plan"] == pushed["plan"] and pulled["plan"]["tree"]["levels"]
    assert pulled["extra"] == pushed["extra"] == {"diffusion_frames": 17, "tree": tree}


# -- tampered and foreign repos: refused, nothing written -----------------------------------


def _set_first_path(value: str) -> Callable[[FakeHub], None]:
    def tamper(hub: FakeHub) -> None:
        def change(manifest: dict[str, Any]) -> None:
            manifest["files"][0]["path"] = value

        edit_manifest(hub, change)

    return tamper


def _edit(change: Callable[[dict[str, Any]], None]) -> Callable[[FakeHub], None]:
    return lambda hub: edit_manifest(hub, change)


def _flip_a_byte(hub: FakeHub) -> None:
    path = "demo/" + video_path(json.loads(hub.read(REPO, "demo/session.json")))
    data = bytearray(hub.read(REPO, path))
    data[100] ^= 0xFF
    hub.put(REPO, path, bytes(data))


def _grow_a_file(hub: FakeHub) -> None:
    path = "demo/" + video_path(json.loads(hub.read(REPO, "demo/session.json")))
    hub.put(REPO, path, hub.read(REPO, path) + b"more")


def _delete_a_file(hub: FakeHub) -> None:
    hub.delete(REPO, "demo/" + video_path(json.loads(hub.read(REPO, "demo/session.json"))))


def _wrong_checksum(manifest: dict[str, Any]) -> None:
    # The manifest and its output row agree with each other, not with the file.
    path = video_path(manifest)
    for f in manifest["files"]:
        if f["path"] == path:
            f["sha256"] = "0" * 64
    for run in manifest["runs"]:
        for o in run["outputs"]:
            if o["path"] == path:
                o["sha256"] = "0" * 64


def _file_and_folder(manifest: dict[str, Any]) -> None:
    frames = next(o for r in manifest["runs"] for o in r["outputs"] if o["kind"] == "png")
    manifest["files"].append({"path": frames["path"], "sha256": "a" * 64, "bytes": 1})


def _oversize(manifest: dict[str, Any]) -> None:
    manifest["files"][0]["bytes"] = MAX_FILE_BYTES + 1


def _extra_file(hub: FakeHub) -> None:
    manifest = json.loads(hub.read(REPO, "demo/session.json"))
    run_id = manifest["runs"][0]["id"]
    extra = f"outputs/{run_id}/payload.sh"
    hub.put(REPO, f"demo/{extra}", b"#!/bin/sh\n")
    manifest["files"].append({"path": extra, "sha256": "a" * 64, "bytes": 10})
    hub.put(REPO, "demo/session.json", json.dumps(manifest).encode())


TAMPERED = [
    ("dotdot", _set_first_path("outputs/../../../../etc/cron.d/x"), r"climbs out .*'\.\.'"),
    ("absolute", _set_first_path("/etc/cron.d/x"), "is absolute"),
    ("backslash", _set_first_path("outputs\\..\\x"), "backslash"),
    ("empty segment", _set_first_path("outputs//x"), "empty segment"),
    ("hidden name", _set_first_path("outputs/20260101-000000-abcdef/.git"), "hidden name"),
    ("outside the folders", _set_first_path("elsewhere/x"), "not inside outputs/ or inputs/"),
    (
        "wrong checksum",
        _edit(_wrong_checksum),
        r"video.mp4 has sha256 [0-9a-f]{64}, the manifest says 0{64}",
    ),
    ("file changed on the Hub", _flip_a_byte, "video.mp4 has sha256"),
    (
        "file grown on the Hub",
        _grow_a_file,
        r"video.mp4 is \d+ bytes in the repo but the manifest says",
    ),
    ("missing file", _delete_a_file, "video.mp4, which is not in the repo"),
    ("oversize declared", _edit(_oversize), "over the cap"),
    ("unlisted extra file", _extra_file, "payload.sh, which is no output or input"),
    ("file and folder", _edit(_file_and_folder), "both as a file and as a folder"),
    (
        "future schema",
        _edit(lambda m: m.update(schema_version=99)),
        "newer Latent Studio .*version 99",
    ),
    ("missing field", _edit(lambda m: m["runs"][0].pop("seed")), r"runs\[0\]\.seed is missing"),
    (
        "mistyped field",
        _edit(lambda m: m["runs"][0].update(seed="7")),
        r"runs\[0\]\.seed must be an integer",
    ),
    ("wrong slug", _edit(lambda m: m["session"].update(slug="other")), "describes session 'other'"),
    (
        "not a studio manifest",
        _edit(lambda m: m.update(format="something-else")),
        "not a Latent Studio session",
    ),
    ("not JSON", lambda hub: hub.put(REPO, "demo/session.json", b'{"format": '), "not valid JSON"),
    ("NaN", lambda hub: hub.put(REPO, "demo/session.json", b"[NaN]"), "not valid JSON"),
]


@pytest.mark.parametrize(
    ("tamper", "message"), [t[1:] for t in TAMPERED], ids=[t[0] for t in TAMPERED]
)
def test_a_tampered_repo_is_refused_and_nothing_is_written(
    hub: FakeHub, store: Store, other: Store, tamper: Callable[[FakeHub], None], message: str
) -> None:
    make_session(store, extras=True)
    push_session(store, "demo", REPO)
    tamper(hub)
    before = state(other.home)

    with pytest.raises(HubSyncError, match=message):
        pull_session(other, REPO, "demo")

    assert state(other.home) == before


def test_a_failure_while_moving_files_in_leaves_nothing(
    hub: FakeHub, store: Store, other: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_session(store, extras=True)
    push_session(store, "demo", REPO)
    before = state(other.home)
    move = FolderMoves.move

    def failing(self: FolderMoves, source: Path, destination: Path) -> None:
        if destination.parent.name == "inputs":  # after the outputs folder has moved in
            raise OSError(28, "No space left on device")
        move(self, source, destination)

    monkeypatch.setattr(FolderMoves, "move", failing)
    with pytest.raises(HubSyncError, match="No space left on device.*nothing was written"):
        pull_session(other, REPO, "demo")
    assert state(other.home) == before


def test_the_session_cap_is_checked_before_downloading(
    hub: FakeHub, store: Store, other: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_session(store)
    push_session(store, "demo", REPO)
    monkeypatch.setattr(db.manifest, "MAX_SESSION_BYTES", 1000)
    before = state(other.home)
    with pytest.raises(HubSyncError, match="over the cap of 1000 per session"):
        pull_session(other, REPO, "demo")
    assert not any("/resolve/" in path and "video" in path for _, path in hub.requests)
    assert state(other.home) == before


def test_a_repo_that_is_not_a_studio_repo_is_refused(hub: FakeHub, other: Store) -> None:
    hub.create_repo("tester/plain", {"README.md": b"# data\n", "data/train.csv": b"a,b\n"})
    before = state(other.home)
    with pytest.raises(HubSyncError, match="tester/plain is not a Latent Studio repo"):
        pull_session(other, "tester/plain", "data")
    with pytest.raises(HubSyncError, match="tester/plain is not a Latent Studio repo"):
        list_remote_sessions("tester/plain")
    assert state(other.home) == before


def test_pulling_a_session_the_repo_does_not_hold_names_those_it_holds(
    hub: FakeHub, store: Store, other: Store
) -> None:
    make_session(store, runs=1)
    push_session(store, "demo", REPO)
    with pytest.raises(HubSyncError, match="holds no session 'nope'; it holds: demo"):
        pull_session(other, REPO, "nope")
    with pytest.raises(HubSyncError, match="tester/missing was not found"):
        pull_session(other, "tester/missing", "demo")


# -- the manifest's path checks ------------------------------------------------------------

RUN_ID = "20260101-120000-abcdef"
WHEN = "2026-01-01T12:00:00+00:00"


def minimal_manifest(path: str) -> bytes:
    """A valid manifest of one run with one output file at ``path``."""
    output = {
        "kind": "mp4",
        "path": path,
        "sha256": "a" * 64,
        "bytes": 1,
        "width": 8,
        "height": 8,
        "frames": 1,
        "fps": 1.0,
        "has_audio": False,
        "created_at": WHEN,
    }
    run = {
        "id": RUN_ID,
        "kind": "animation",
        "status": "done",
        "error": None,
        "error_type": None,
        "model_ref": "builtin:tiny",
        "seed": 1,
        "schema_version": 1,
        "frames_done": 1,
        "frames_total": 1,
        "predicted_denoise_steps": None,
        "denoise_steps": None,
        "timings": {},
        "versions": {},
        "device": None,
        "created_at": WHEN,
        "started_at": None,
        "finished_at": None,
        "spec": {},
        "outputs": [output],
    }
    session = {
        "slug": "demo",
        "title": "Demo",
        "notes": "",
        "tags": [],
        "archived": False,
        "created_at": WHEN,
    }
    return json.dumps(
        {
            "format": FORMAT,
            "schema_version": 1,
            "session": session,
            "runs": [run],
            "inputs": [],
            "files": [{"path": path, "sha256": "a" * 64, "bytes": 1}],
        }
    ).encode()


def test_a_minimal_manifest_parses() -> None:
    manifest = parse_manifest(minimal_manifest(f"outputs/{RUN_ID}/video.mp4"), "test")
    assert manifest.runs[0].plan == {} and manifest.files[0].bytes == 1
    assert manifest.session.created_at.tzinfo is not None


def _run(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda manifest: manifest["runs"][0].update(changes)


REFUSED_FIELDS = [
    ("bool seed", _run(seed=True), r"runs\[0\]\.seed must be an integer, got True"),
    ("negative seed", _run(seed=-1), r"runs\[0\]\.seed must be at least 0, got -1"),
    ("unknown status", _run(status="done!"), r"runs\[0\]\.status must be one of .*'done!'"),
    ("naive time", _run(created_at="2026-01-01T12:00:00"), "created_at must be an ISO 8601"),
    ("spec not an object", _run(spec=[1]), r"runs\[0\]\.spec must be an object"),
    ("run id", _run(id="x"), r"runs\[0\]\.id must be a run id like"),
    ("long tag", lambda m: m["session"].update(tags=["x" * 65]), r"session\.tags\[0\] is longer"),
    ("bad slug", lambda m: m["session"].update(slug="A B"), "session.slug is not a valid slug"),
    ("sha256", lambda m: m["files"][0].update(sha256="A" * 64), "64 lowercase hex digits"),
    ("not a list", lambda m: m.update(inputs={}), "inputs must be a list, got {}"),
    ("item not an object", lambda m: m["runs"].append(7), r"runs\[1\] must be an object, got 7"),
    ("two runs one id", lambda m: m["runs"].append(m["runs"][0]), "two runs have the same id"),
    (
        "several problems",
        lambda m: [m["runs"][0].pop(key) for key in ("seed", "spec", "kind")],
        r"runs\[0\]\.kind is missing \(and 2 more problems\)",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [r[1:] for r in REFUSED_FIELDS], ids=[r[0] for r in REFUSED_FIELDS]
)
def test_a_refused_field_is_named_with_the_check_it_failed(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    manifest = json.loads(minimal_manifest(f"outputs/{RUN_ID}/video.mp4"))
    change(manifest)
    with pytest.raises(HubSyncError, match=f"^refused test: .*{message}.*; nothing was written$"):
        parse_manifest(json.dumps(manifest).encode(), "test")


def test_duplicate_keys_are_refused_and_unknown_keys_ignored() -> None:
    text = minimal_manifest(f"outputs/{RUN_ID}/video.mp4").decode()
    with pytest.raises(HubSyncError, match="not valid JSON .*duplicate key 'format'"):
        parse_manifest(('{"format": 1, ' + text[1:]).encode(), "test")
    later = json.loads(text)
    later["runs"][0]["added_by_a_later_version"] = {"x": 1}
    manifest = parse_manifest(json.dumps(later).encode(), "test")
    assert manifest.runs[0].id == RUN_ID


SEGMENTS = [
    "outputs",
    "inputs",
    RUN_ID,
    "video.mp4",
    "..",
    ".",
    "",
    ".git",
    "a\\b",
    "C:",
    "~",
    "é",
    "\x00",
    " ",
]


@given(
    st.one_of(
        st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6).map("/".join),
        st.text(max_size=40),
    )
)
def test_an_accepted_path_never_leaves_the_run_folder(path: str) -> None:
    try:
        parse_manifest(minimal_manifest(path), "test")
    except HubSyncError:
        return
    root = Path("/session")
    resolved = Path(os.path.normpath(root.joinpath(*path.split("/"))))
    assert (
        resolved.is_relative_to(root / "outputs" / RUN_ID) and resolved != root / "outputs" / RUN_ID
    )
    assert "\\" not in path and not any(part.startswith(".") for part in path.split("/"))


# -- login and network ---------------------------------------------------------------------


def test_an_unreachable_hub_is_reported_at_once(
    hub: FakeHub, store: Store, other: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_session(store, runs=1)
    push_session(store, "demo", REPO)  # the client now holds a pooled connection
    url = hub.url
    hub.stop()  # nothing listens on that port any more, and that connection is cut
    monkeypatch.setenv("HF_ENDPOINT", url)
    for call in (
        lambda: push_session(store, "demo", REPO),
        lambda: list_remote_sessions(REPO),
        lambda: pull_session(other, REPO, "demo"),
    ):
        started = time.monotonic()
        with pytest.raises(
            HubSyncError, match=f"cannot reach the Hugging Face Hub at {url}.*HF_ENDPOINT"
        ):
            call()
        assert time.monotonic() - started < 5


def test_a_missing_login_asks_to_log_in(
    hub: FakeHub, store: Store, other: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    make_session(store, runs=1)
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "empty-hf-home" / "token"))
    with pytest.raises(HubSyncError, match=r"not logged in .*hf auth login.*HF_TOKEN"):
        push_session(store, "demo", REPO)
    assert hub.requests == []

    # A private repo is invisible without a login; the error says why it may be.
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    push_session(store, "demo", REPO)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubSyncError, match="not found .*private.*not logged in"):
        pull_session(other, REPO, "demo")


def test_a_refused_token_says_so(
    hub: FakeHub, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_session(store, runs=1)
    monkeypatch.setenv("HF_TOKEN", "hf_revoked")
    with pytest.raises(HubSyncError, match=r"refused your login \(401"):
        push_session(store, "demo", REPO)


def test_bad_repo_ids_and_slugs(hub: FakeHub, store: Store) -> None:
    for repo in ("no-slash", "a/b/c", "../x", "a/"):
        with pytest.raises(HubSyncError, match="ORG/NAME"):
            list_remote_sessions(repo)
    with pytest.raises(ValueError, match="session slug"):
        pull_session(store, REPO, "demo", as_slug="Not A Slug")
    with pytest.raises(HubSyncError, match="session name"):
        pull_session(store, REPO, "../etc")


# -- CLI -----------------------------------------------------------------------------------


def test_cli_sessions_list_and_show(store: Store) -> None:
    run_ids = make_session(store, extras=True)
    listed = studio(store.home, "sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["slug"] == "demo" and row["runs"] == 4 and row["outputs"] == 3 and row["bytes"] > 0
    plain = studio(store.home, "sessions", "list")
    assert "demo" in plain.stdout and "4 runs" in plain.stdout

    shown = studio(store.home, "sessions", "show", "demo", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["session"]["tags"] == ["red", "draft"]
    assert sorted(r["id"] for r in data["runs"]) == sorted(run_ids)
    assert data["inputs"][0]["path"] == "inputs/demo/beat.wav"

    missing = studio(store.home, "sessions", "show", "nope")
    assert (
        missing.returncode == 2 and missing.stderr.strip() == "error: no session with slug 'nope'"
    )


@pytest.mark.slow  # three command-line processes; the in-process push and pull tests stay
def test_cli_push_remote_and_pull(hub: FakeHub, store: Store, other: Store) -> None:
    make_session(store, extras=True)
    pushed = studio(store.home, "sessions", "push", "demo", "--repo", REPO)
    assert pushed.returncode == 0, pushed.stderr
    assert "pushed session 'demo'" in pushed.stdout and hub.repos[REPO].private

    remote = studio(other.home, "sessions", "remote", "--repo", REPO, "--json")
    assert remote.returncode == 0, remote.stderr
    assert [r["slug"] for r in json.loads(remote.stdout)] == ["demo"]
    assert "4 runs" in studio(other.home, "sessions", "remote", "--repo", REPO).stdout

    pulled = studio(other.home, "sessions", "pull", "--repo", REPO, "--session", "demo", "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["slug"] == "demo"
    assert session_view(other, "demo") == session_view(store, "demo")

    again = studio(other.home, "sessions", "pull", "--repo", REPO, "--session", "demo")
    assert again.returncode == 2 and "already exists here" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    renamed = studio(
        other.home,
        "sessions",
        "pull",
        "--repo",
        REPO,
        "--session",
        "demo",
        "--settings-only",
        "--rename-if-exists",
    )
    assert renamed.returncode == 0, renamed.stderr
    assert "'demo' as 'demo-2'" in renamed.stdout and "settings only" in renamed.stdout
    named = studio(
        other.home, "sessions", "pull", "--repo", REPO, "--session", "demo", "--as", "copy"
    )
    assert named.returncode == 0 and "as 'copy'" in named.stdout


def test_cli_errors_are_one_line_with_status_2(hub: FakeHub, store: Store, tmp_path: Path) -> None:
    make_session(store, runs=1)
    no_login = studio(
        store.home,
        "sessions",
        "push",
        "demo",
        "--repo",
        REPO,
        env={"HF_TOKEN": "", "HF_HOME": str(tmp_path / "empty-hf-home")},
    )
    assert no_login.returncode == 2
    assert no_login.stderr.startswith("error: cannot push session 'demo': you are not logged in")
    assert len(no_login.stderr.strip().splitlines()) == 1

    url = hub.url
    hub.stop()
    offline = studio(store.home, "sessions", "remote", "--repo", REPO, env={"HF_ENDPOINT": url})
    assert offline.returncode == 2 and "cannot reach the Hugging Face Hub" in offline.stderr
    assert len(offline.stderr.strip().splitlines()) == 1
