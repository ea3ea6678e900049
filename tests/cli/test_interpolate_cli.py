"""``--interpolate-to FPS`` on animate and blend, and ``blend --fill flow`` (issue 29,
item 9): the file's frame count and rate, and refusals before any run is recorded."""

from __future__ import annotations

import json

from studio.media.readers import read_frames
from studio.media.retime import output_frames


def _runs(cli, home) -> list:
    return json.loads(cli(home, "runs", "list", "--json").stdout)


def test_animate_interpolates_its_frames_to_the_file_rate(cli, studio_home, tmp_path):
    out = tmp_path / "frames"
    args = ["animate", "--model", "builtin:tiny", "--prompts", "0: a red circle\n2: a star"]
    args += ["--steps", "1", "--fps", "6", "--interpolate-to", "15", "--format", "png"]
    proc = cli(studio_home, *args, "--interpolate-method", "crossfade", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # 3 rendered frames at 6 fps last 0.5 s: 7.5 -> 8 frames at 15 fps.
    assert (result["frames"], result["fps"]) == (output_frames(3, 6, 15), 15.0) == (8, 15.0)
    frames = list(read_frames(out))
    assert len(frames) == 8
    # Frame 5 is source position 2.0 (the last rendered frame); 1 and 2 lie between 0 and 1.
    assert not any(frames[i].tobytes() == frames[0].tobytes() for i in (1, 2))
    assert frames[5].tobytes() == frames[7].tobytes()
    (run,) = _runs(cli, studio_home)
    assert run["status"] == "done"


def test_blend_fill_flow_and_interpolate_to(cli, studio_home):
    args = ["blend", "a red circle", "a blue square", "--model", "builtin:tiny", "--steps", "2"]
    args += ["--diffusion-frames", "3", "--duration", "1", "--fps", "6", "--fill", "flow"]
    proc = cli(studio_home, *args, "--interpolate-to", "12", "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["frames"], result["fps"], result["diffusion_frames"]) == (12, 12.0, 3)


def test_bad_rates_and_fills_are_refused_in_one_line_and_record_nothing(cli, studio_home):
    proc = cli(studio_home, "animate", "--prompts", "0: a", "--fps", "12", "--interpolate-to", "10")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: interpolate to 10 fps must be more than the render's 12 fps and at most 120 "
        "(or 0 = off)"
    ]
    proc = cli(studio_home, "blend", "a", "b", "--fill", "ghosts")
    assert proc.returncode == 2 and "ghosts" in proc.stderr
    assert _runs(cli, studio_home) == []


def test_the_plan_says_what_the_file_will_hold(cli, studio_home):
    args = ["animate", "--model", "builtin:tiny", "--prompts", "0: a red circle\n12: a star"]
    proc = cli(studio_home, *args, "--fps", "6", "--interpolate-to", "24", "--plan", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert (plan["frames"], plan["file_frames"], plan["file_fps"]) == (13, 52, 24)
    plain = json.loads(cli(studio_home, *args, "--plan", "--json").stdout)
    assert "file_frames" not in plain
