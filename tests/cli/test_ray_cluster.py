"""A render on a Ray cluster the user started (``ray start --head``), joined with
``--ray-address HOST:PORT`` from the command line, gives the frames of a one-process render
(issue 28). The cluster is a real one on 127.0.0.1: a head with 2 CPUs, stopped after.

Slow tier: the head's start and two workers loading the model take tens of seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.run_cli import TINY_64, studio

pytestmark = pytest.mark.slow

SCHEDULE = "0: a red circle\n7: a blue square"  # 8 frames
ARGS = [
    "animate",
    "--prompts",
    SCHEDULE,
    *TINY_64,
    "--steps",
    "2",
    "--seed",
    "5",
    "--batch-size",
    "2",
    "--format",
    "png",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster() -> Iterator[str]:
    """``HOST:PORT`` of a Ray head with 2 CPUs started as a user starts one."""
    ray = str(Path(sys.executable).with_name("ray"))
    port = _free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # unix socket paths: <= 107 bytes
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = subprocess.run(
        [ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--num-cpus", "2", "--include-dashboard", "false",
         "--temp-dir", str(temp)],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    assert start.returncode == 0, start.stdout + start.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def frames(folder: Path) -> list[np.ndarray]:
    pngs = sorted(folder.rglob("frame_*.png"))
    assert pngs, f"no frames under {folder}"
    return [np.asarray(Image.open(p).convert("RGB")) for p in pngs]


def test_a_render_joined_to_a_cluster_by_address_gives_the_one_process_frames(cluster, tmp_path):
    # The reference: one process, one torch thread (what each worker uses).
    one = studio(
        tmp_path / "home-one", *ARGS, "--out", str(tmp_path / "one"),
        env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert one.returncode == 0, one.stderr
    on_cluster = studio(
        tmp_path / "home-ray", *ARGS, "--workers", "2", "--ray-address", cluster,
        "--out", str(tmp_path / "ray"), "--json",
    )  # fmt: skip
    assert on_cluster.returncode == 0, on_cluster.stderr
    a, b = frames(tmp_path / "one"), frames(tmp_path / "ray")
    assert len(a) == len(b) == 8
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    # The run says it ran on that cluster, split.
    assert on_cluster.stdout.strip(), on_cluster.stderr[-2000:]
    run_id = json.loads(on_cluster.stdout)["run_id"]
    shown = studio(tmp_path / "home-ray", "runs", "show", run_id)
    assert "scale-out:" in shown.stdout and "(ray;" in shown.stdout, shown.stdout + shown.stderr
