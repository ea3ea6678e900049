"""Hostile command lines get one line naming the problem and exit 2, never "internal
error", never a hang, and record no run (issue 26, items 4 and 5).

Run in-process through ``studio.app.cli.main`` (the same code ``python -m studio`` runs) so
the table stays cheap; each case must end within a time bound.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from studio.app.cli import main


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "kind5.json").write_text('{"kind": 5}')
    (tmp_path / "blend.json").write_text('{"kind": "blend"}')
    (tmp_path / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (tmp_path / "deep_object.json").write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link.mp4").symlink_to(tmp_path / "elsewhere.mp4")
    return tmp_path


CASES = [
    (["runs", "list", "--limit", str(10**20)], "--limit: must be from 1 to 100,000"),
    (["runs", "list", "--limit", "0"], "--limit: must be from 1"),
    (["audio-keyframes", "{d}/x.wav", "--into", "{d}/fifo"], "is not a regular file"),
    (["audio-keyframes", "{d}/x.wav", "--into", "/dev/zero"], "is not a regular file"),
    (["prompts", "suggest", "--keyframes", str(10**20)], "--keyframes: must be from 1 to 100"),
    (["prompts", "suggest", "--frames-per-keyframe", "-1"], "must be from 1 to 100,000"),
    (["prompts", "suggest", "--keyframes", "100", "--frames-per-keyframe", "5000"], "end after"),
    (["prompts", "suggest", "--text-model", "{d}/fifo"], "is not a folder"),
    (["animate", "--prompts", "0: a red circle", "--mlflow-uri", " "], "must name a tracking"),
    (["runs", "list", "--status", "bogus"], "invalid choice: 'bogus'"),
    (["animate", "--spec", "{d}/kind5.json"], "unknown spec kind 5"),
    (["animate", "--spec", "{d}/blend.json"], "is a blend spec; render it with `blend`"),
    (["animate", "--spec", "{d}/deep.json"], "nested too deeply"),
    (["animate", "--spec", "{d}/deep_object.json"], "nested too deeply"),
    (["animate", "--prompts-file", "{d}/fifo"], "is not a regular file"),
    (["animate", "--prompts-file", "/dev/zero"], "is not a regular file"),
    (["animate", "--prompts", "0: a", "--width", "0"], "width must be a positive multiple of 8"),
    (["animate", "--prompts", "0: a", "--out", "{d}/link.mp4"], "is a symbolic link"),
    (["animate", "--prompts", "0: a", "--out", "{d}/missing/x.mp4"], "does not exist"),
    # Unbounded work from one input (issue 26, item 1): refused before anything is allocated.
    (
        ["blend", "a", "b", "--diffusion-frames", "1000000000"],
        "diffusion frames must be between 2 and 1000",
    ),
    (["animate", "--prompts", "0: " + "a" * 5_000], "this prompt is 5,000 characters long"),
    (["animate", "--prompts", "0: a", "--negative", "n" * 5_000], "negative prompt is 5,000"),
    (["blend", "a" * 5_000, "b"], "is 5,000 characters long"),
    (["blend", *["p"] * 1_001], "a blend takes 2 to 1,000 prompts"),
    (["animate", "--prompts", "0: a", "--zoom", "0: (1)" + ", 1: (1)" * 30_000], "limit is"),
    (
        ["animate", "--prompts", "0: a", "--width", "4096", "--height", "4096"]
        + ["--batch-size", "256", "--device", "cpu"],
        "need about",
    ),
    (["animate", "--prompts", "0: a", "--interpolate-to", "-5"], "between 0 (off) and 120"),
    (["blend", "a", "b", "--fps", "30", "--interpolate-to", "60", "--format", "gif"], "at most 50"),
    (
        [
            "animate",
            "--prompts",
            "0: a",
            "--interpolate-to",
            "24",
            "--interpolate-method",
            "learned",
        ],
        "'learned' needs its weights: give --interpolator PATH",
    ),
    (
        ["blend", "a", "b", "--interpolate-to", "60", "--interpolate-method", "learned"]
        + ["--interpolator", "{d}/kind5.json"],
        "interpolator weights {d}/kind5.json cannot be read",
    ),
    (["animate", "--prompts", "0: a", "--interpolator", "w.pkl"], "by the learned method only"),
    (["animate", "--prompts", "0: a red circle", "--compile", "sometimes"], "invalid choice"),
    # Live previews: a decoder the model has not, a folder without an AutoencoderTiny.
    (
        ["animate", "--prompts", "0: a", "--model", "builtin:tiny", "--preview", "tiny"],
        "no tiny preview decoder is trained for builtin:tiny",
    ),
    (["blend", "a", "b", "--preview", "{d}"], "nor a folder with an AutoencoderTiny"),
    (["animate", "--prompts", "0: a", "--preview-seconds", "-1"], "preview every must be"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(c[0])[:40] for c in CASES])
def test_a_hostile_command_line_is_refused_in_one_line(
    argv, message, files, studio_home, capsys
) -> None:
    began = time.monotonic()
    status = main([a.format(d=files) for a in argv])
    took = time.monotonic() - began
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert message.format(d=files) in err
    assert "internal error" not in err and "Traceback" not in err
    assert took < 20
    capsys.readouterr()
    assert main(["runs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing was recorded
