"""``prompts suggest``: a schedule proposed offline, printed ready for ``--prompts-file``."""

from __future__ import annotations

import json

from studio.languages.schedule import parse_schedule
from studio.pipeline.prompt_ideas import suggest_schedule


def test_prompts_suggest_prints_a_schedule_and_its_json(cli, tmp_path):
    text = cli(tmp_path, "prompts", "suggest", "--keyframes", "3", "--seed", "4")
    assert text.returncode == 0, text.stderr
    assert text.stdout == suggest_schedule("builtin:shapes", keyframes=3, seed=4).schedule
    assert [k.frame for k in parse_schedule(text.stdout).keyframes] == [0, 12, 24]
    proc = cli(
        tmp_path,
        "prompts",
        "suggest",
        "--model",
        "builtin:tiny",
        "--keyframes",
        "2",
        "--frames-per-keyframe",
        "30",
        "--theme",
        "a green star",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    ideas = json.loads(proc.stdout)
    assert ideas["frames"] == [0, 30] and ideas["source"] == "vocabulary of builtin:tiny"
    assert "green star" in ideas["prompts"][0] and ideas["schedule"].startswith("0: ")


def test_prompts_suggest_refuses_with_one_line(cli, tmp_path):
    proc = cli(tmp_path, "prompts", "suggest", "--model", "stabilityai/sd-turbo")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--text-model FOLDER" in proc.stderr and len(proc.stderr.splitlines()) == 1
    bad = cli(tmp_path, "prompts", "suggest", "--keyframes", "0")
    assert bad.returncode == 2 and "must be from 1 to 100, got 0" in bad.stderr
    missing = cli(tmp_path, "prompts", "suggest", "--text-model", tmp_path / "nope")
    assert missing.returncode == 2 and "nope does not exist" in missing.stderr
