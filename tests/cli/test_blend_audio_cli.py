"""``blend --audio FILE --times ...``: the prompts' times in the plan, and bad times or
tracks refused in one line, before a run is recorded (issue 29, item 3)."""

from __future__ import annotations

import json

import pytest

from tests.support.media import click_track

BLEND = ["blend", "a red circle", "a blue square", "a green star", "--model", "builtin:tiny"]
BLEND += ["--diffusion-frames", "3", "--steps", "2"]


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> str:
    """4 s with two clicks; the CLI tests give times, so nothing here runs librosa."""
    path = tmp_path_factory.mktemp("audio") / "clicks.wav"
    return str(click_track(path, {1.2: 0.8, 3.0: 0.8}, 4.0))


def test_times_place_the_prompts_and_the_track_sets_the_length(cli, studio_home, track):
    proc = cli(studio_home, *BLEND, "--audio", track, "--times", "0,1.5,3", "--plan", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["frames"] == 48  # 4 s at 12 fps
    assert plan["transition_times"] == [0.0, 1.5, 3.0]
    assert plan["audio"] == {
        "source": "times",
        "track_seconds": 4.0,
        "times": [0.0, 1.5, 3.0],
        "timing": False,
    }
    text = cli(studio_home, *BLEND, "--audio", track, "--times", "0,1,2", "--fps", "6", "--plan")
    assert text.returncode == 0, text.stderr
    assert "prompts reached at 0, 1, 2 s (times of the track)" in text.stdout
    assert "24 frames" in text.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--times", "0,1.5"], "times need one time per prompt (3), got 2"),
        (["--times", "0,2,1"], "times must increase: time 3 (1 s) is not after time 2 (2 s)"),
        (["--times", "0,1,4.5"], "time 3 (4.5 s) is not within the track, which lasts 4.00 s"),
        (["--times", "0,a,2"], "--times must be numbers like 0.4,0.7, got '0,a,2'"),
        (["--times", "0,1,3", "--duration", "2"], "time 3 (3 s) is after the video's last frame"),
        (
            ["--times", "0,0.05,2"],
            "the transition from prompt 1 (0 s) to prompt 2 (0.05 s) has 1 video frame(s)",
        ),
        (["--fill", "none"], "fill 'none' needs transitions of the tree's own length"),
        (["--audio-crossfeed", "0.5"], "audio crossfeed 0.5 scales the crossfeed, which is off"),
    ],
)
def test_bad_times_and_settings_are_refused_in_one_line(cli, studio_home, track, args, message):
    proc = cli(studio_home, *BLEND, "--audio", track, *args, "--quiet")
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert json.loads(cli(studio_home, "runs", "list", "--json").stdout) == []


def test_times_without_a_track_and_a_missing_track_are_refused(cli, studio_home, tmp_path):
    proc = cli(studio_home, *BLEND, "--times", "0,1,2", "--plan")
    assert proc.returncode == 2 and "prompt times need an audio file" in proc.stderr
    missing = tmp_path / "nowhere.wav"
    proc = cli(studio_home, *BLEND, "--audio", str(missing), "--quiet")
    assert proc.returncode == 2 and f"audio file {missing} does not exist" in proc.stderr
