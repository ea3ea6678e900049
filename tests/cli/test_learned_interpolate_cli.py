"""``--interpolate-method learned --interpolator PATH`` (issue 29, item 9: RIFE-style) on
animate and blend, with random weights of the published layout made in the test: the file's
frames, and weights of another layout refused naming the key before any run is recorded."""

from __future__ import annotations

import json

import numpy as np
import torch

from studio.media.readers import read_frames
from tests.support.interpolator import random_state_dict, save_random_interpolator


def _runs(cli, home) -> list:
    return json.loads(cli(home, "runs", "list", "--json").stdout)


def test_animate_interpolates_with_the_learned_method(cli, studio_home, tmp_path):
    weights = save_random_interpolator(tmp_path / "rife" / "flownet.pkl")
    out = tmp_path / "frames"
    args = ["animate", "--model", "builtin:tiny", "--prompts", "0: a red circle\n1: a star"]
    args += ["--steps", "1", "--fps", "4", "--interpolate-to", "8", "--format", "png"]
    args += ["--interpolate-method", "learned", "--interpolator", weights.parent]
    proc = cli(studio_home, *args, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # 2 rendered frames at 4 fps last 0.5 s: 4 frames at 8 fps, frame 1 made between them.
    assert (result["frames"], result["fps"]) == (4, 8.0)
    frames = list(read_frames(out))
    assert frames[2].tobytes() == frames[3].tobytes()
    assert not any(np.array_equal(frames[1], frames[i]) for i in (0, 2))
    (run,) = _runs(cli, studio_home)
    assert run["status"] == "done"
    output = run["spec"]["output"]
    assert output["interpolate_method"] == "learned"
    assert output["interpolator"] == str(weights.parent.resolve())  # re-runs from anywhere


def test_weights_of_another_layout_are_refused_naming_the_key(cli, studio_home, tmp_path):
    state = random_state_dict()
    state["block0.conv0.0.0.weight"] = state["block0.conv0.0.0.weight"][:, :7]  # RIFE 4.6's
    torch.save(state, tmp_path / "old.pkl")
    args = ["blend", "a", "b", "--interpolate-to", "60", "--interpolate-method", "learned"]
    proc = cli(studio_home, *args, "--interpolator", tmp_path / "old.pkl")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "not of the RIFE v4.2x flownet layout: key block0.conv0.0.0.weight has shape" in line
    assert _runs(cli, studio_home) == []
