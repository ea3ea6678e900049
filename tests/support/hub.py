"""Sessions with real runs and files, and a local Hub to push them to: shared by the Hub,
Sessions, History and dashboard tests.

Runs are made with the store's own ``RunRecorder`` (no torch): finished runs with a video (or
a folder of PNG frames) of random bytes. The ``hub`` fixture (tests/conftest.py) serves
``serve_hub``: a fresh ``tests.support.hub_server.FakeHub`` that this process and its subprocesses
reach through ``HF_ENDPOINT``, logged in with ``TOKEN``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from huggingface_hub import constants as hf_constants

from db import (
    RunRecorder,
    Store,
    add_input_media,
    digest,
    get_or_create_session,
    get_session,
    update_session,
)
from tests.support.hub_server import FakeHub

__all__ = ["REPO", "TOKEN", "StubOutput", "StubResult", "make_run", "make_session", "serve_hub"]

TOKEN = "hf_local_test_token"
REPO = "tester/studio-sessions"


def serve_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """Start a local Hub, point ``huggingface_hub`` at it (here and in subprocesses), yield
    it, stop it."""
    server = FakeHub({TOKEN})
    server.start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)  # read by db.hub at each call
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # read by huggingface_hub at each call
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # for subprocesses; conftest sets it to 1
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    # huggingface_hub read HF_HUB_OFFLINE at import; this process must reach the local Hub.
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    yield server
    server.stop()


@dataclass
class StubOutput:
    """What ``RunRecorder.output`` reads of an engine's output file."""

    path: Path
    kind: str
    frames: int = 3
    fps: float = 12.0
    width: int = 64
    height: int = 64
    has_audio: bool = False


@dataclass
class StubResult:
    """What ``RunRecorder.finished`` reads of an engine's result."""

    denoise_steps: int = 12
    timings: dict[str, float] = field(default_factory=lambda: {"denoise": 0.25})
    seconds: float = 0.5
    frames: int = 3


def make_run(store: Store, slug: str, seed: int, *, frames: bool = False) -> str:
    """A finished run with a video (or a folder of PNG frames) of random bytes."""
    recorder = RunRecorder.create(
        store,
        session_slug=slug,
        kind="animation",
        spec={"kind": "animation", "prompts": {"schedule": f"0: seed {seed}"}, "seed": seed},
        schema_version=1,
        model_ref="builtin:tiny",
        seed=seed,
    )
    recorder.started(
        {
            "frames": 3,
            "predicted_denoise_steps": 12,
            "device": "cpu",
            "versions": {"torch": "2.13.0"},
        }
    )
    if frames:
        folder = recorder.output_dir / "frames"
        folder.mkdir()
        for i in range(3):
            (folder / f"{i:05d}.png").write_bytes(os.urandom(300 + i))
        recorder.output(StubOutput(folder, "png"))
    else:
        video = recorder.output_dir / "video.mp4"
        video.write_bytes(os.urandom(2000 + seed))
        recorder.output(StubOutput(video, "mp4"))
    recorder.finished(StubResult())
    return recorder.run_id


def make_session(
    store: Store, slug: str = "demo", *, runs: int = 2, extras: bool = False
) -> list[str]:
    """A session with ``runs`` finished runs; with ``extras`` also a PNG-frames run, a failed
    run without outputs and an input file."""
    with store.begin() as s:
        get_or_create_session(s, slug, title=f"{slug.title()} session")
        update_session(s, slug, notes="dusk colours", tags=["red", "draft"])
    ids = [make_run(store, slug, seed) for seed in range(runs)]
    if extras:
        ids.append(make_run(store, slug, 40, frames=True))
        failed = RunRecorder.create(
            store,
            session_slug=slug,
            kind="animation",
            spec={"kind": "animation"},
            schema_version=1,
            model_ref="builtin:tiny",
            seed=41,
        )
        failed.failed(ValueError("width must be divisible by 8, got 100"))
        ids.append(failed.run_id)
        audio = store.home / "inputs" / slug / "beat.wav"
        audio.parent.mkdir(parents=True)
        audio.write_bytes(os.urandom(1500))
        sha256, size = digest(audio)
        with store.begin() as s:
            add_input_media(
                s,
                get_session(s, slug),
                kind="audio",
                path=f"inputs/{slug}/beat.wav",
                sha256=sha256,
                bytes=size,
                meta={"bpm": 120},
            )
    return ids
