"""An SDXL Turbo folder on the command line: its family's defaults (native size, no guidance,
4 steps) when no flag says otherwise, two text encoders and time ids inside, one JSON result."""

from __future__ import annotations

import json

import numpy as np

from studio.media.readers import read_frames
from tests.support.run_cli import studio
from tests.support.sdxl import SIZE, turbo_copy


def test_an_sdxl_turbo_folder_animates_with_its_own_defaults(tiny_sdxl, tmp_path):
    turbo = turbo_copy(tiny_sdxl, tmp_path)
    home, out = tmp_path / "home", tmp_path / "turbo.mp4"
    schedule = "0: a red circle\n2: a blue square"
    proc = studio(
        home, "animate", "--prompts", schedule, "--model", str(turbo), "--out", str(out),
        "--json", "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["frames"] == 3 and result["denoise_steps"] == 3 * 4
    shown = studio(home, "runs", "show", result["run_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    d = json.loads(shown.stdout)["spec"]["diffusion"]
    assert (d["width"], d["height"], d["guidance"], d["steps"]) == (SIZE, SIZE, 0.0, 4)
    frames = list(read_frames(out))
    assert len(frames) == 3 and frames[0].shape == (SIZE, SIZE, 3)
    assert np.abs(frames[0].astype(int) - frames[2].astype(int)).max() > 0
