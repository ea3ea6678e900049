"""``animate --plan`` and ``blend --plan``: the plan and an ETA, nothing rendered or recorded
(issue 29, item 5)."""

from __future__ import annotations

import json

import pytest


def _runs(cli, home) -> list:
    return json.loads(cli(home, "runs", "list", "--json").stdout)


@pytest.mark.parametrize(
    ("command", "frames", "steps"),
    [
        (["animate", "--prompts", "0: a red circle\n9: a blue square", "--steps", "3"], 10, 30),
        (
            ["blend", "a red circle", "a blue square", "--steps", "4", "--diffusion-frames", "5"],
            None,
            None,
        ),
    ],
)
def test_plan_prints_frames_steps_and_an_eta_and_records_nothing(
    cli, studio_home, command, frames, steps
):
    proc = cli(studio_home, *command, "--model", "builtin:tiny", "--plan", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["model"] == "builtin:tiny" and (plan["width"], plan["height"]) == (64, 64)
    if frames is not None:
        assert (plan["frames"], plan["denoise_steps"]) == (frames, steps)
    assert plan["denoise_steps"] > 0 and plan["eta_seconds"] > 0
    assert plan["eta_source"] == "guess"  # nothing measured in a new home
    assert _runs(cli, studio_home) == []


def test_the_eta_comes_from_a_finished_run_of_the_model_once_there_is_one(cli, studio_home):
    args = ["animate", "--prompts", "0: a red circle\n3: a star", "--model", "builtin:tiny"]
    args += ["--steps", "2", "--quiet"]
    assert cli(studio_home, *args).returncode == 0
    plan = json.loads(cli(studio_home, *args, "--plan", "--json").stdout)
    assert plan["eta_source"] == "measured" and plan["denoise_steps"] == 8
    assert len(_runs(cli, studio_home)) == 1


def test_a_bad_spec_is_refused_by_plan_too(cli, studio_home):
    proc = cli(studio_home, "animate", "--prompts", "0: a", "--width", "100", "--plan")
    assert proc.returncode == 2 and "width must be a positive multiple of 8" in proc.stderr
