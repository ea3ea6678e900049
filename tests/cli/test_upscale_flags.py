"""``animate --upscale-model``: the upscale stage's flags, its steps and output size in the
plan, and upscale models that cannot work refused before a run (issue 29, item 4). Renders
are in tests/engine/test_animation_upscale.py."""

from __future__ import annotations

import json

import pytest

from tests.support.families import model_folder

SCHEDULE = ["--prompts", "0: a red circle\n9: a blue square", "--model", "builtin:tiny"]


def _runs(cli, home) -> list:
    return json.loads(cli(home, "runs", "list", "--json").stdout)


def test_the_plan_counts_the_upscale_steps_and_gives_the_upscaled_size(cli, studio_home, tmp_path):
    upscaler = model_folder(tmp_path, "upscale-x4", name="my-upscaler")
    args = [*SCHEDULE, "--steps", "3", "--upscale-model", upscaler, "--upscale-steps", "5"]
    plan = json.loads(cli(studio_home, "animate", *args, "--plan", "--json").stdout)
    assert plan["frames"] == 10 and plan["upscale_denoise_steps"] == 10 * 5
    assert plan["denoise_steps"] == 10 * 3 + 10 * 5
    assert (plan["output_width"], plan["output_height"]) == (64 * 4, 64 * 4)
    without = json.loads(
        cli(studio_home, "animate", *SCHEDULE, "--steps", "3", "--plan", "--json").stdout
    )
    assert without["upscale_denoise_steps"] == 0 and without["output_width"] == 64
    # Each upscale step works on 16 times the pixels.
    assert plan["eta_seconds"] > without["eta_seconds"] * 10
    assert _runs(cli, studio_home) == []


@pytest.mark.parametrize(
    "command", [["animate", *SCHEDULE], ["blend", "a", "b", "--model", "builtin:tiny"]]
)
@pytest.mark.parametrize(
    ("upscaler", "message"),
    [("builtin:tiny", "does not enlarge them"), ("sd1", "not an upscaler")],
)
def test_an_upscale_model_that_is_no_upscaler_is_refused_in_one_line(
    cli, studio_home, tmp_path, command, upscaler, message
):
    if upscaler == "sd1":
        upscaler = str(model_folder(tmp_path, "sd1", name="a-drawing-model"))
    proc = cli(studio_home, *command, "--upscale-model", upscaler, "--quiet")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and upscaler in lines[0]
    assert _runs(cli, studio_home) == []


def test_the_decode_memory_check_counts_the_upscaled_frames(
    cli, studio_home, tmp_path, monkeypatch
):
    import studio.pipeline.frame_memory as frame_memory

    monkeypatch.setattr(frame_memory, "device_memory", lambda device: ("cpu", 8 * 10**9))
    upscaler = str(model_folder(tmp_path, "upscale-x4", name="my-upscaler"))
    args = [*SCHEDULE, "--width", "512", "--height", "512", "--plan", "--json"]
    assert cli(studio_home, "animate", *args).returncode == 0  # 512 x 512 fits in 8 GB
    proc = cli(studio_home, "animate", *args, "--upscale-model", upscaler)
    assert proc.returncode == 2
    assert "2048x2048 frames need about 11 GB" in proc.stderr and "8 GB" in proc.stderr
