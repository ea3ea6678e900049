"""A .safetensors file that is no Stable Diffusion checkpoint is refused on the command line
in one line, exit 2, before a run is recorded or a weight is read."""

from __future__ import annotations

import json

import pytest

from tests.support.ldm_checkpoint import HEADERS, write_header_only


@pytest.mark.parametrize("header", ["vae-only", "lora"])
def test_a_file_that_is_no_sd_checkpoint_is_refused_before_a_run_exists(cli, tmp_path, header):
    path = write_header_only(tmp_path / "weights.safetensors", HEADERS[header])
    home = tmp_path / "home"
    proc = cli(home, "animate", "--prompts", "0: a red circle", "--model", str(path))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(path) in lines[0] and "original layout's UNet" in lines[0]
    listed = cli(home, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
