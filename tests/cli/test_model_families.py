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
def test_an_upscaler_folder_is_refused_before_a_run_exists(tmp_path, command):
    folder = model_folder(tmp_path, "upscale-x4", name="my-upscaler")
    home = tmp_path / "home"
    proc = studio(home, *command, "--model", str(folder))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "x4 upscaler" in lines[0] and "blend's upscale model" in lines[0]
    listed = studio(home, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
