"""``audio-keyframes FILE --into SCHEDULE_FILE``: a track's key frames merged into a schedule
file, keeping the user's prompts and seeds, as the Audio & Video page does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.languages.schedule import parse_schedule

RATE = 22050
CLICKS = (0.5, 1.25, 2.0)  # seconds: frames 6, 15, 24 at 12 fps; the track ends at frame 29


@pytest.fixture(scope="module")
def clicks(tmp_path_factory) -> Path:
    """2.5 s of silence with three sharp clicks."""
    path = tmp_path_factory.mktemp("audio") / "clicks.wav"
    y = np.zeros(int(2.5 * RATE), np.float32)
    rng = np.random.default_rng(1)
    n = int(0.01 * RATE)
    for click in CLICKS:
        i = int(click * RATE)
        y[i : i + n] = 0.8 * rng.standard_normal(n) * np.exp(-np.arange(n) / (0.002 * RATE))
    sf.write(path, y, RATE, subtype="PCM_16")
    return path


SCHEDULE = (
    "# my song\r\n0: a red circle\r\nnegative: blurry\r\n20: a blue square | negative: dark\r\n"
)


def test_into_adds_beats_keeping_prompts_seeds_comments_and_line_endings(cli, tmp_path, clicks):
    schedule = tmp_path / "song.txt"
    schedule.write_bytes(SCHEDULE.encode())
    proc = cli(tmp_path, "audio-keyframes", clicks, "--into", schedule, "--seed", "7", "--json")
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    text = schedule.read_bytes().decode()
    assert facts["schedule"] == text and facts["written"] == str(schedule)
    assert text.count("\r\n") == len(text.splitlines()) and text.startswith("# my song\r\n")
    keys = {k.frame: k for k in parse_schedule(text).keyframes}
    beats = [f for f in facts["keyframes"] if f not in (0, 20)] + [facts["end_frame"]]
    assert sorted(keys) == sorted({0, 20, *beats})
    assert facts["keyframes_before"] == 2 and facts["keyframes_after"] == len(keys)
    for frame, key in keys.items():  # each beat repeats the prompt in force there
        assert key.prompt == ("a red circle" if frame < 20 else "a blue square")
        assert key.negative == (None if frame < 20 else "dark")
    # Keyframe 20 was the second (seed 7 + 1); with beats before it, its seed is pinned.
    assert keys[20].seed == 8 and keys[0].seed is None
    assert "negative: blurry\r\n" in text
    assert not list(tmp_path.glob(".song.txt.*"))  # no temporary file left behind


def test_dry_run_prints_the_merge_and_writes_nothing(cli, tmp_path, clicks):
    schedule = tmp_path / "s.txt"
    schedule.write_text("0: a red circle\n12: a blue square\n")
    proc = cli(
        tmp_path, "audio-keyframes", clicks, "--into", schedule, "--merge", "move", "--dry-run"
    )
    assert proc.returncode == 0, proc.stderr
    assert schedule.read_text() == "0: a red circle\n12: a blue square\n"
    moved = parse_schedule(proc.stdout).keyframes
    assert [k.prompt for k in moved] == ["a red circle", "a blue square"]
    assert moved[1].frame != 12  # moved to the nearest beat (frame 15 at 12 fps)
    assert abs(moved[1].frame - 1.25 * 12) <= 1
    # With fixed latents, keyframes share one latent: no seed is written onto a line.
    fixed = cli(
        tmp_path,
        "audio-keyframes",
        clicks,
        "--into",
        schedule,
        "--dry-run",
        "--latents",
        "fixed",
        "--seed",
        "9",
    )
    assert fixed.returncode == 0, fixed.stderr
    assert all(k.seed is None for k in parse_schedule(fixed.stdout).keyframes)
    assert "[seed=" not in fixed.stdout and len(parse_schedule(fixed.stdout).keyframes) > 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0: a red circle\nxx: a blue square\n", "schedule line 2, column 1"),
        (None, "does not exist"),
        (b"\xff\xfe0: a", "cannot read --into schedule file"),
    ],
)
def test_a_bad_schedule_file_is_one_line_naming_it_and_nothing_changes(
    cli, tmp_path, clicks, content, expected
):
    schedule = tmp_path / "bad.txt"
    if isinstance(content, str):
        schedule.write_text(content)
    elif content is not None:
        schedule.write_bytes(content)
    proc = cli(tmp_path, "audio-keyframes", clicks, "--into", schedule)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and str(schedule) in proc.stderr
    assert expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    if content is not None:
        assert (schedule.read_bytes() if isinstance(content, bytes) else schedule.read_text()) == (
            content
        )
