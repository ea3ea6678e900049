"""3D motion on the command line: refused in one line before a run is recorded without a
usable depth source, and one render through a depth image whose stored spec holds it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from db import Store, list_runs

BASE = ["animate", "--prompts", "0: a red circle\n1: a blue square", "--model", "builtin:tiny"]
SMALL = ["--steps", "2", "--width", "32", "--height", "32", "--fps", "8"]


@pytest.fixture
def depth_png(tmp_path) -> Path:
    nearness = np.full((32, 32), 64, np.uint8)
    nearness[8:24, 8:24] = 255  # a near square in front of a far wall
    Image.fromarray(nearness).save(tmp_path / "depth.png")
    return tmp_path / "depth.png"


def runs(home: Path) -> list:
    if not (home / "studio.db").exists():
        return []
    store = Store.open(home)
    try:
        with store.session() as s:
            return list_runs(s)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "3D motion (translation_z) needs a depth source: give --depth-model"),
        (["--depth-model", "{d}/no-such-model"], "depth model '{d}/no-such-model' is neither"),
        (["--depth-input", "{d}/missing.png"], "depth input '{d}/missing.png' does not exist"),
    ],
)
def test_3d_motion_without_a_usable_depth_source_is_refused(cli, tmp_path, extra, message):
    home = tmp_path / "home"
    args = [a.format(d=tmp_path) for a in extra]
    done = cli(home, *BASE, *SMALL, "--translation-z", "0: (20)", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert message.format(d=tmp_path) in done.stderr
    assert "Traceback" not in done.stderr
    assert runs(home) == []


def test_an_animation_moves_through_a_depth_image(cli, tmp_path, depth_png):
    home = tmp_path / "home"
    done = cli(
        home,
        *BASE,
        *SMALL,
        "--json",
        "--quiet",
        "--translation-z",
        "0: (40)",
        "--rotation-3d-y",
        "0: (1.5)",
        "--fov",
        "0: (55)",
        "--depth-input",
        depth_png,
        "--depth-near",
        "100",
        "--depth-far",
        "800",
        "--strength",
        "0: (0.5)",
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["frames"] == 2 and "depth" in out["timings"]
    (run,) = runs(home)
    motion = run.spec["motion"]
    assert motion["depth_input"] == str(depth_png.resolve())
    assert (motion["translation_z"], motion["rotation_3d_y"], motion["fov"]) == (
        "0: (40)",
        "0: (1.5)",
        "0: (55)",
    )
    assert (motion["depth_near"], motion["depth_far"]) == (100.0, 800.0)
