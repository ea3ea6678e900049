"""--workers and --ray-address on the command line: the plan they print, and bad values
refused in one line before anything is recorded (no Ray start: that is the slow tier's)."""

from __future__ import annotations

import json
import sys

PROMPTS = "0: a red circle\n8: a blue square"
TINY = ("--model", "builtin:tiny", "--steps", "2", "--width", "64", "--height", "64")


def test_plan_with_workers_prints_the_shards_and_the_expected_speedup(cli, tmp_path):
    ray_before = "ray" in sys.modules  # another tier in this process may have loaded it
    done = cli(
        tmp_path,
        "animate",
        "--prompts",
        PROMPTS,
        *TINY,
        "--batch-size",
        "2",
        "--workers",
        "2",
        "--plan",
    )
    assert done.returncode == 0, done.stderr
    assert "scale-out: 5 shard(s) in 1 stage(s) on 2 worker(s)" in done.stdout
    assert "shard 4 (stage 0): frames 8-8, 2 denoise steps" in done.stdout
    as_json = cli(
        tmp_path,
        "animate",
        "--prompts",
        PROMPTS,
        *TINY,
        "--zoom",
        "0: (1.01)",
        "--workers",
        "3",
        "--plan",
        "--json",
    )
    facts = json.loads(as_json.stdout)["scale_out"]
    assert facts["shards"] == 1 and facts["workers"] == 3
    assert "motion curves" in facts["why_one"]
    plain = cli(tmp_path, "animate", "--prompts", PROMPTS, *TINY, "--plan", "--json")
    assert "scale_out" not in json.loads(plain.stdout)  # one process: no Ray, no plan
    if not ray_before:
        assert "ray" not in sys.modules  # planning never imports Ray; only a Ray render does


def test_bad_workers_and_addresses_are_one_line_errors_and_no_run(cli, tmp_path):
    for flags, named in (
        (("--workers", "0"), "got 0"),
        (("--ray-address", "no such thing"), "'no such thing'"),
    ):
        done = cli(tmp_path, "animate", "--prompts", PROMPTS, *TINY, *flags)
        assert done.returncode == 2
        assert named in done.stderr and len(done.stderr.strip().splitlines()) == 1
    listed = cli(tmp_path, "runs", "list", "--json")
    assert json.loads(listed.stdout) == []
