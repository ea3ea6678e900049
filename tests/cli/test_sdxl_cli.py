"""An SDXL Turbo folder on the command line: its family's defaults (native size, no guidance,
4 steps) when no flag says otherwise, two text encoders and time ids inside, one JSON result."""

from __future__ import annotations

import json

import numpy as np

from studio.app.cli import build_parser, spec_from_args
from studio.media.readers import read_frames
from tests.support.sdxl import SIZE, turbo_copy


def test_an_sdxl_turbo_folder_animates_with_its_own_defaults(cli, tiny_sdxl, tmp_path):
    turbo = turbo_copy(tiny_sdxl, tmp_path)
    home, out = tmp_path / "home", tmp_path / "turbo.mp4"
    schedule = "0: a red circle\n2: a blue square"
    proc = cli(
        home, "animate", "--prompts", schedule, "--model", str(turbo), "--out", str(out),
        "--json", "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["frames"] == 3 and result["denoise_steps"] == 3 * 4
    # The spec those flags make (the same parser, in this process): the family's defaults.
    args = build_parser().parse_args(["animate", "--prompts", schedule, "--model", str(turbo)])
    d = spec_from_args(args).diffusion
    assert (d.width, d.height, d.guidance, d.steps) == (SIZE, SIZE, 0.0, 4)
    frames = list(read_frames(out))
    assert len(frames) == 3 and frames[0].shape == (SIZE, SIZE, 3)
    assert np.abs(frames[0].astype(int) - frames[2].astype(int)).max() > 0
