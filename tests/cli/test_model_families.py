"""A model family the render kinds cannot run is refused on the command line in one line,
exit 2, before a run is recorded or a weight is read."""

from __future__ import annotations

import json

import pytest

from tests.support.families import model_folder
from tests.support.run_cli import studio


@pytest.mark.parametrize(
    "command",
    [
        ["animate", "--prompts", "0: a red circle"],
        ["blend", "a red circle", "a blue square"],
    ],
)
def test_an_sdxl_folder_is_refused_before_a_run_exists(tmp_path, command):
    folder = model_folder(tmp_path, "sdxl", name="my-sdxl")
    home = tmp_path / "home"
    proc = studio(home, *command, "--model", str(folder))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "Stable Diffusion XL" in lines[0] and "two text encoders" in lines[0]
    listed = studio(home, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_a_text_only_instruct_pix2pix_animation_is_refused_before_a_run_exists(tmp_path):
    folder = model_folder(tmp_path, "pix2pix", name="my-pix2pix")
    home = tmp_path / "home"
    proc = studio(home, "animate", "--prompts", "0: make it blue", "--model", str(folder))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "InstructPix2Pix" in lines[0] and "text-only animation has none" in lines[0]
    listed = studio(home, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
