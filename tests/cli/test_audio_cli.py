"""The audio commands and flags of the CLI, run as a user runs them (a subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from db import Store, list_runs
from studio.media.readers import probe
from tests.support.media import audio_seconds, ffmpeg
from tests.support.run_cli import studio

RATE = 22050
CLICKS = (0.5, 1.25, 2.0)


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


@pytest.mark.slow  # a second interpreter and librosa's first call; --into tests run in process
def test_audio_keyframes_prints_keyframes_and_timestamps(tmp_path, clicks):
    proc = studio(tmp_path, "audio-keyframes", str(clicks), "--fps", "24", "--json")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["keyframes"][0] == 0 and len(found["keyframes"]) == len(CLICKS) + 1
    for frame, seconds, click in zip(
        found["keyframes"][1:], found["timestamps"][1:], CLICKS, strict=True
    ):
        assert abs(frame - click * 24) <= 1 and abs(seconds - click) < 1 / 24
    text = studio(tmp_path, "audio-keyframes", str(clicks), "--component", "percussive")
    assert text.returncode == 0, text.stderr
    assert "4 key frames at 12 fps from the percussive component" in text.stdout


@pytest.mark.slow  # whole renders through CLI subprocesses (6-12 s)
def test_animate_with_audio_puts_a_track_as_long_as_the_video(tmp_path, clicks):
    home = tmp_path / "home"
    proc = studio(
        home,
        "animate",
        "--model",
        "builtin:tiny",
        "--prompts",
        "0: a red circle\n5: a blue square",
        "--width",
        "64",
        "--height",
        "64",
        "--steps",
        "1",
        "--fps",
        "12",
        "--audio",
        str(clicks),
        "--audio-component",
        "percussive",
        "--audio-timing",
        "--audio-smoothing",
        "0.25",
        "--json",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    video = Path(result["outputs"][0])
    facts = probe(video)
    assert facts["frames"] == 6 and facts["has_audio"]
    assert audio_seconds(video) == pytest.approx(6 / 12, abs=0.01)
    with Store.open(home).session() as s:
        (run,) = list_runs(s)
        assert run.status == "done" and run.outputs[0].has_audio
        audio = run.spec["audio"]
        assert audio == {
            "path": str(clicks.resolve()),
            "component": "percussive",
            "timing": True,
            "smoothing": 0.25,
            "mux": True,
        }


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.wav", b"", "is empty"),
        ("text.wav", b"this is not audio\n" * 20, "cannot be read as wav"),
        ("truncated.wav", None, "truncated"),
    ],
)
def test_bad_audio_is_one_line_exit_2_and_no_run(tmp_path, clicks, name, content, words):
    bad = tmp_path / name
    bad.write_bytes(content if content is not None else clicks.read_bytes()[:5000])
    home = tmp_path / "home"
    for args in (
        ("audio-keyframes", str(bad)),
        ("animate", "--model", "builtin:tiny", "--prompts", "0: a red circle", "--audio", str(bad)),
    ):
        proc = studio(home, *args)
        assert proc.returncode == 2, proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("error: audio file") and name in line and words in line
    if (home / "studio.db").exists():
        with Store.open(home).session() as s:
            assert list_runs(s) == []


@pytest.mark.slow  # a second interpreter and librosa's first call: seconds
def test_audio_keyframes_of_an_mp3_say_nothing_on_stderr(tmp_path):
    one = tmp_path / "one.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-ar", "44100", str(one))
    # Two tracks joined (cat a.mp3 b.mp3): the first one's Xing header now states a smaller
    # size than the file has, which libmpg123 (inside libsndfile) reports on stderr.
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(one.read_bytes() * 2)
    for track in (one, joined):
        proc = studio(tmp_path / "home", "audio-keyframes", str(track), "--json")
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        assert json.loads(proc.stdout)["keyframes"][0] == 0
