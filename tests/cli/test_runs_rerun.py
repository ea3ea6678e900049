"""``runs rerun``: a stored run rendered again, and whether it reproduced (issue 29, item 7)."""

from __future__ import annotations

import json

from studio.spec import AnimationSpec, DiffusionSettings, PromptSettings


def test_a_rerun_reproduces_the_run_byte_for_byte(cli, studio_home, tmp_path):
    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n2: a blue square"),
        diffusion=DiffusionSettings(model="builtin:tiny", steps=2, width=64, height=64, seed=4),
    )
    (tmp_path / "spec.json").write_text(spec.to_json())
    first = cli(studio_home, "animate", "--spec", str(tmp_path / "spec.json"), "--json", "--quiet")
    assert first.returncode == 0, first.stderr
    run_id = json.loads(first.stdout)["run_id"]

    proc = cli(studio_home, "runs", "rerun", run_id, "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["rerun_of"] == run_id and result["run_id"] != run_id
    assert result["reproduced"] is True, result["message"]
    assert "byte-identical" in result["message"]
    assert len(json.loads(cli(studio_home, "runs", "list", "--json").stdout)) == 2


def test_rerunning_an_unknown_run_is_one_line(cli, studio_home):
    proc = cli(studio_home, "runs", "rerun", "no-such-run")
    assert proc.returncode == 2 and "no-such-run" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
