"""How long the audio features take, on a synthesised track. Prints one JSON object.

A ``--seconds`` long track (a 120 bpm click beat over a chord that changes every two
seconds, 44.1 kHz stereo WAV) is loaded, separated and analysed at ``--fps``; each stage is
timed after a warm-up on one second of audio (librosa compiles on its first call). Then a
``--seconds`` MP4 at 64x64 px gets the track muxed in. The beat's key frames are checked
against the clicks: ``keyframe_error_frames`` is the largest distance from a click to its
nearest key frame.

    .venv/bin/python benchmarks/audio_speed.py                   # 60 s of audio, 12 fps
    .venv/bin/python benchmarks/audio_speed.py --seconds 180 --fps 24
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from studio.audio.analysis import component_signal, frame_envelope, onset_keyframes  # noqa: E402
from studio.media.audio import load_audio  # noqa: E402
from studio.media.writers import mux_audio, open_writer  # noqa: E402

RATE = 44100


def track(seconds: float) -> tuple[np.ndarray, list[float]]:
    t = np.arange(int(seconds * RATE)) / RATE
    chords = ((220, 277, 330), (196, 247, 294), (175, 220, 262), (165, 208, 247))
    y = np.zeros_like(t)
    for i, start in enumerate(np.arange(0, seconds, 2.0)):
        part = (t >= start) & (t < start + 2.0)
        y[part] = sum(0.05 * np.sin(2 * np.pi * f * t[part]) for f in chords[i % 4])
    clicks = list(np.arange(0.25, seconds - 0.1, 0.5))
    rng = np.random.default_rng(0)
    n = int(0.01 * RATE)
    for c in clicks:
        i = int(c * RATE)
        y[i : i + n] += 0.6 * rng.standard_normal(n) * np.exp(-np.arange(n) / (0.002 * RATE))
    stereo = np.stack([y, 0.8 * y], axis=1).astype(np.float32)
    return stereo, clicks


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return value, round(time.perf_counter() - start, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=12.0)
    args = parser.parse_args()
    onset_keyframes(np.zeros(RATE, np.float32) + 1e-3, RATE, args.fps, "percussive")  # warm-up

    folder = Path(tempfile.mkdtemp())
    stereo, clicks = track(args.seconds)
    sf.write(folder / "track.wav", stereo, RATE, subtype="PCM_16")
    (samples, rate), load_s = timed(load_audio, folder / "track.wav")
    frames = int(args.seconds * args.fps)
    report: dict = {"seconds_of_audio": args.seconds, "fps": args.fps, "load_s": load_s}
    for component in ("percussive", "harmonic", "both"):
        _, separate_s = timed(component_signal, samples, rate, component)
        found, onsets_s = timed(onset_keyframes, samples, rate, args.fps, component)
        _, envelope_s = timed(frame_envelope, samples, rate, args.fps, frames, component)
        entry = {
            "separation_s": separate_s,
            "keyframes_s_after_separation": onsets_s,
            "envelope_s_after_separation": envelope_s,
            "keyframes": len(found.frames),
        }
        if component == "percussive":
            keys = np.array(found.frames)
            entry["keyframe_error_frames"] = max(
                float(np.abs(keys - c * args.fps).min()) for c in clicks
            )
            entry["clicks"] = len(clicks)
        report[component] = entry

    writer = open_writer(folder / "video.mp4", "mp4", fps=args.fps, width=64, height=64)
    for i in range(frames):
        writer.write(np.full((64, 64, 3), i % 256, np.uint8))
    output = writer.close()
    _, report["mux_s"] = timed(mux_audio, output, folder / "track.wav")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
