"""Render speed, overhead and memory of the animation engine on builtin:tiny.

Renders the same fixed schedule at several lengths, each in its own process (so peak memory
is that render's own), and prints one JSON object:

- ``fps``: rendered frames per second of wall time (model load excluded);
- ``denoise_steps`` and ``predicted_denoise_steps``;
- ``peak_rss_mb``: the process's peak resident memory;
- ``outside_share``: the share of render wall time spent outside the UNet, VAE and
  text-encoder calls (scheduler, interpolation, frame conversion, the writer...);
- ``rss_ratio``: peak memory of the longest render over the shortest (flat means ~1.0).

Targets (issue 2): ``outside_share`` <= 0.10, and memory that does not grow with frames.

    python benchmarks/render_speed.py                      # 50 and 500 frames
    python benchmarks/render_speed.py --frames 50 500 2000 --size 128 --steps 10
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _child import run_child  # noqa: E402  (benchmarks/ is on the path when run as a script)

PROMPTS = ("a red circle", "a blue square", "a green triangle", "a yellow star")


def schedule(frames: int) -> str:
    """Four keyframes spread over ``frames`` frames (the last keyframe is frame frames-1)."""
    last = frames - 1
    keys = [round(i * last / (len(PROMPTS) - 1)) for i in range(len(PROMPTS))]
    return "\n".join(f"{k}: {p}" for k, p in zip(keys, PROMPTS, strict=True))


def one_render(frames: int, size: int, steps: int, batch: int, fmt: str, cache: str) -> dict:
    from studio.animation.render import render_animation
    from studio.pipeline.models import ModelManager
    from studio.spec import (
        AnimationSettings,
        AnimationSpec,
        DiffusionSettings,
        OutputSettings,
        PromptSettings,
    )

    spec = AnimationSpec(
        prompts=PromptSettings(schedule=schedule(frames)),
        diffusion=DiffusionSettings(model="builtin:tiny", steps=steps, width=size, height=size),
        animation=AnimationSettings(fps=24, batch_size=batch),
        output=OutputSettings(format=fmt),
    )
    manager = ModelManager(cache_dir=Path(cache))
    manager.load("builtin:tiny")  # load outside the measured render
    with tempfile.TemporaryDirectory() as out:
        result = render_animation(spec, Path(out), manager=manager)
    t = result.timings
    render_seconds = t["total"] - t.get("load", 0.0)
    inside = t.get("unet", 0.0) + t.get("vae", 0.0) + t.get("text_encoder", 0.0)
    return {
        "frames": result.frames,
        "size": size,
        "steps": steps,
        "batch_size": batch,
        "format": fmt,
        "seconds": round(render_seconds, 3),
        "fps": round(result.frames / render_seconds, 3),
        "denoise_steps": result.denoise_steps,
        "predicted_denoise_steps": result.frames * steps,
        "outside_share": round((render_seconds - inside) / render_seconds, 4),
        "timings": {k: round(v, 3) for k, v in t.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--format", default="mp4", choices=["mp4", "gif", "png"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        (frames,) = args.frames
        print(
            json.dumps(
                one_render(frames, args.size, args.steps, args.batch_size, args.format, args.cache)
            )
        )
        return

    cache = args.cache or tempfile.mkdtemp(prefix="studio-bench-cache-")
    runs = []
    for frames in args.frames:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--frames",
            str(frames),
            "--size",
            str(args.size),
            "--steps",
            str(args.steps),
            "--batch-size",
            str(args.batch_size),
            "--format",
            args.format,
            "--cache",
            cache,
        ]
        runs.append(run_child(cmd))
    shortest, longest = runs[0], runs[-1]
    print(
        json.dumps(
            {
                "benchmark": "render_speed",
                "model": "builtin:tiny",
                "runs": runs,
                "rss_ratio": round(longest["peak_rss_mb"] / shortest["peak_rss_mb"], 3),
                "max_outside_share": max(r["outside_share"] for r in runs),
                "targets": {"outside_share_max": 0.10, "rss_ratio_about": 1.0},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
