"""The run recorder: a render's events written into its run row and output rows."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

import db.recorder
from db import Run, RunRecorder, Store, get_run, list_outputs, run_to_dict


@dataclass
class FakeOutput:
    path: Path
    kind: str = "mp4"
    frames: int = 4
    fps: float = 12.0
    width: int = 64
    height: int = 32
    has_audio: bool = False


@dataclass
class FakeResult:
    denoise_steps: int = 80
    timings: dict[str, float] = field(default_factory=lambda: {"denoise": 1.5, "decode": 0.25})
    seconds: float = 2.0
    frames: int = 4


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "studio-home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    return home


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with Store.open() as opened:
        yield opened


def _recorder(store: Store, slug: str = "demo", seed: int = 7) -> RunRecorder:
    return RunRecorder.create(
        store,
        session_slug=slug,
        kind="animation",
        spec={"kind": "animation", "diffusion": {"seed": seed}},
        schema_version=1,
        model_ref="builtin:tiny",
        seed=seed,
    )


def _run(store: Store, run_id: str) -> Run:
    with store.session() as s:
        return get_run(s, run_id)


def test_create_inserts_a_queued_run_owned_by_this_process(store: Store, home: Path) -> None:
    rec = _recorder(store)
    run = _run(store, rec.run_id)
    assert run.status == "queued"
    assert run.pid == os.getpid()
    assert run.hostname == socket.gethostname()
    assert run.session.slug == "demo"
    assert run.spec == {"kind": "animation", "diffusion": {"seed": 7}}
    assert rec.store is store
    assert rec.output_dir == home.resolve() / "outputs" / "demo" / rec.run_id
    assert rec.output_dir.is_dir()


def test_create_refuses_a_bad_slug(store: Store) -> None:
    with pytest.raises(ValueError, match="session slug"):
        _recorder(store, slug="Not A Slug")


def test_full_lifecycle(store: Store, home: Path) -> None:
    rec = _recorder(store)
    rec.started(
        {
            "frames": 4,
            "predicted_denoise_steps": 80,
            "device": "cpu",
            "versions": {"torch": "2.13.0", "diffusers": "0.42.1"},
        }
    )
    run = _run(store, rec.run_id)
    assert run.status == "running"
    assert run.started_at is not None
    assert (run.frames_total, run.predicted_denoise_steps, run.device) == (4, 80, "cpu")
    assert run.versions == {"torch": "2.13.0", "diffusers": "0.42.1"}

    for done in range(1, 5):
        rec.progress(done, 4, preview=None)
    assert _run(store, rec.run_id).frames_done == 4

    video = rec.output_dir / "video.mp4"
    payload = os.urandom(3 * 1024 * 1024 + 17)  # more than one read chunk
    video.write_bytes(payload)
    rec.output(FakeOutput(path=video))
    rec.finished(FakeResult())

    run = _run(store, rec.run_id)
    assert run.status == "done"
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.denoise_steps == 80
    assert run.timings == {"denoise": 1.5, "decode": 0.25, "seconds": 2.0}
    assert run.error is None
    (output,) = run.outputs
    assert output.path == f"outputs/demo/{rec.run_id}/video.mp4"
    assert output.sha256 == hashlib.sha256(payload).hexdigest()
    assert output.bytes == len(payload)
    assert (output.kind, output.frames, output.fps, output.width, output.height) == (
        "mp4",
        4,
        12.0,
        64,
        32,
    )
    assert output.has_audio is False
    assert json.loads(json.dumps(run_to_dict(run)))["status"] == "done"
    with store.session() as s:
        assert [o.run.id for o in list_outputs(s)] == [rec.run_id]


def test_png_folder_output_hashes_sorted_names_and_bytes(store: Store) -> None:
    rec = _recorder(store)
    frames = rec.output_dir / "frames"
    frames.mkdir()
    contents = {f"{i:05d}.png": os.urandom(100 + i) for i in (2, 0, 1)}
    for name, data in contents.items():
        (frames / name).write_bytes(data)
    (frames / ".00003.png.tmp").write_bytes(b"half written")  # ignored: dotfile

    rec.output(FakeOutput(path=frames, kind="png", frames=3))

    expected = hashlib.sha256()
    for name in sorted(contents):
        expected.update(name.encode() + b"\0" + contents[name] + b"\0")
    (output,) = _run(store, rec.run_id).outputs
    assert output.kind == "png"
    assert output.path == f"outputs/demo/{rec.run_id}/frames"
    assert output.sha256 == expected.hexdigest()
    assert output.bytes == sum(len(d) for d in contents.values())


def test_output_outside_home_is_rejected(store: Store, tmp_path: Path) -> None:
    rec = _recorder(store)
    stray = tmp_path / "stray.mp4"
    stray.write_bytes(b"x")
    with pytest.raises(ValueError, match="outside STUDIO_HOME"):
        rec.output(FakeOutput(path=stray))
    assert _run(store, rec.run_id).outputs == []


def test_progress_is_throttled_but_the_last_frame_is_written(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = _recorder(store)
    clock = [100.0]
    monkeypatch.setattr(db.recorder.time, "monotonic", lambda: clock[0])
    writes: list[dict[str, object]] = []
    real_write = rec._write

    def counting_write(event: str, **values: object) -> None:
        writes.append(values)
        real_write(event, **values)

    monkeypatch.setattr(rec, "_write", counting_write)

    rec.progress(1, 10)  # first one is written
    rec.progress(2, 10)  # same instant: skipped
    clock[0] += 0.2
    rec.progress(3, 10)  # 0.2 s later: skipped
    clock[0] += 0.4
    rec.progress(4, 10)  # 0.6 s after the first write: written
    rec.progress(10, 10)  # final: always written
    assert [w["frames_done"] for w in writes] == [1, 4, 10]
    assert _run(store, rec.run_id).frames_done == 10


def test_failed_run_keeps_its_error(store: Store) -> None:
    rec = _recorder(store)
    rec.started({"frames": 4})

    class SpecError(Exception):
        pass

    rec.failed(SpecError("width must be a positive multiple of 8, got 100"))
    run = _run(store, rec.run_id)
    assert run.status == "failed"
    assert run.error == "width must be a positive multiple of 8, got 100"
    assert run.error_type == "SpecError"
    assert run.finished_at is not None


def test_failed_with_an_empty_message_records_the_class_name(store: Store) -> None:
    rec = _recorder(store)
    rec.failed(MemoryError())
    run = _run(store, rec.run_id)
    assert (run.status, run.error, run.error_type) == ("failed", "MemoryError", "MemoryError")


def test_cancelled(store: Store) -> None:
    rec = _recorder(store)
    rec.started({"frames": 10})
    rec.progress(3, 10)
    rec.cancelled()
    run = _run(store, rec.run_id)
    assert run.status == "cancelled"
    assert run.frames_done == 3
    assert run.finished_at is not None


def test_a_database_hiccup_is_logged_not_raised(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rec = _recorder(store)
    video = rec.output_dir / "video.mp4"
    video.write_bytes(b"data")

    def locked() -> object:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    monkeypatch.setattr(store, "begin", locked)
    with caplog.at_level(logging.WARNING, logger="db.recorder"):
        rec.started({"frames": 1})
        rec.progress(1, 1)
        rec.output(FakeOutput(path=video))
        rec.finished(FakeResult())
        rec.failed(RuntimeError("boom"))
        rec.cancelled()
    assert len(caplog.records) == 6
    assert all(rec.run_id in r.getMessage() for r in caplog.records)


def test_a_missing_output_file_is_logged_not_raised(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    rec = _recorder(store)
    with caplog.at_level(logging.WARNING, logger="db.recorder"):
        rec.output(FakeOutput(path=rec.output_dir / "never-written.mp4"))
    assert "never-written.mp4" in caplog.text
    assert _run(store, rec.run_id).outputs == []


def test_a_killed_render_is_interrupted_on_next_open(home: Path) -> None:
    with Store.open() as store:
        rec = _recorder(store)
        rec.started({"frames": 10})
        rec.progress(4, 10)
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        # Pretend the render ran in that (now finished) process.
        with store.begin() as s:
            s.execute(update(Run).where(Run.id == rec.run_id).values(pid=proc.pid))
        alive = _recorder(store)
        alive.started({"frames": 10})

    with Store.open() as store:
        run = _run(store, rec.run_id)
        assert run.status == "interrupted"
        assert run.error == f"the process rendering it stopped (pid {proc.pid})"
        assert run.frames_done == 4
        assert _run(store, alive.run_id).status == "running"

        resumed = RunRecorder.attach(store, rec.run_id)
        assert resumed.output_dir == rec.output_dir
        run = _run(store, rec.run_id)
        assert (run.status, run.error, run.pid, run.frames_done) == ("queued", None, os.getpid(), 4)


def test_works_as_an_engine_events_sink(store: Store) -> None:
    # The recorder is duck-typed against studio.events; check it with the real dataclasses.
    events = pytest.importorskip("studio.events")
    rec = _recorder(store)
    sink = events.Fanout(events.NullEvents(), rec)
    sink.started({"frames": 2, "device": "cpu"})
    sink.progress(2, 2, None)
    gif = rec.output_dir / "anim.gif"
    gif.write_bytes(b"GIF89a")
    sink.output(events.OutputFile(path=gif, kind="gif", frames=2, fps=8, width=8, height=8))
    sink.finished(
        events.RenderResult(outputs=[], frames=2, fps=8, denoise_steps=4, seconds=0.5, timings={})
    )
    run = _run(store, rec.run_id)
    assert run.status == "done"
    assert run.outputs[0].kind == "gif"
    assert run.timings == {"seconds": 0.5}
