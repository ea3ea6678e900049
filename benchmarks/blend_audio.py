"""Where a blend's soundtrack puts its prompts, on a synthesised beat. Prints one JSON object.

The track: ``--seconds`` of a quiet 220 Hz tone with a 120 bpm click beat, every click soft
but an accent (six times louder) every 8 s from 2 s on. For each ``--prompts`` count the
blend is planned (``studio.blend.plan.plan_blend``, placement on onsets of the percussive
component, ``--fps``) and the prompts' times are checked: ``beat_error_frames`` is the
largest distance from a placed prompt to its nearest click, ``on_accents`` how many of the
placed prompts are on an accent (within a frame), ``even_error_seconds`` the largest distance
from an even spacing. The plan is timed twice: the first plan analyses the track (librosa
compiles on its first call: a one-second warm-up comes first), the second reads the caches.

    .venv/bin/python benchmarks/blend_audio.py                     # 60 s, 12 fps, 4 and 8 prompts
    .venv/bin/python benchmarks/blend_audio.py --seconds 180 --fps 24 --prompts 4 8 16
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

from studio.audio.analysis import onset_keyframes  # noqa: E402
from studio.blend.plan import plan_blend  # noqa: E402
from studio.spec import BlendAudioSettings, BlendKeyframe, BlendSpec  # noqa: E402

RATE = 22050


def beat_track(seconds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(samples, click times, accent times)``."""
    rng = np.random.default_rng(0)
    t = np.arange(int(RATE * seconds)) / RATE
    y = 0.05 * np.sin(2 * np.pi * 220 * t)
    beats = np.arange(0.5, seconds, 0.5)
    accents = np.arange(2.0, seconds, 8.0)
    n = int(0.01 * RATE)
    decay = np.exp(-np.arange(n) / (0.002 * RATE))
    for b in beats:
        i = int(b * RATE)
        loud = np.isclose(accents, b).any()
        y[i : i + n] += (0.9 if loud else 0.15) * rng.standard_normal(n) * decay
    return y.astype(np.float32), beats, accents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=12)
    parser.add_argument("--prompts", type=int, nargs="+", default=[4, 8])
    args = parser.parse_args()
    samples, beats, accents = beat_track(args.seconds)
    onset_keyframes(samples[:RATE], RATE, args.fps, "percussive")  # librosa's first compile
    out = {"seconds": args.seconds, "fps": args.fps, "plans": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "beat.wav"
        sf.write(path, samples, RATE, subtype="PCM_16")
        for count in args.prompts:
            base = BlendSpec()
            spec = base.replace(
                prompts=base.prompts.replace(
                    keyframes=tuple(BlendKeyframe(f"prompt {i}") for i in range(count))
                ),
                audio=BlendAudioSettings(path=str(path), component="percussive"),
                output=base.output.replace(fps=args.fps),
            )
            spec.check()
            began = time.perf_counter()
            plan = plan_blend(spec)
            first = time.perf_counter() - began
            began = time.perf_counter()
            plan_blend(spec)
            again = time.perf_counter() - began
            times = np.array(plan.track.times[1:])
            to_beat = np.abs(times[:, None] - beats[None, :]).min(axis=1) * args.fps
            to_accent = np.abs(times[:, None] - accents[None, :]).min(axis=1) * args.fps
            even = np.arange(count) * (plan.video_frames - 1) / args.fps / (count - 1)
            out["plans"].append(
                {
                    "prompts": count,
                    "video_frames": plan.video_frames,
                    "times": [round(t, 3) for t in plan.track.times],
                    "beat_error_frames": round(float(to_beat.max()), 3),
                    "on_accents": f"{int((to_accent <= 1).sum())}/{len(times)}",
                    "even_error_seconds": round(
                        float(np.abs(np.array(plan.track.times) - even).max()), 3
                    ),
                    "plan_seconds_first": round(first, 3),
                    "plan_seconds_cached": round(again, 4),
                }
            )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
