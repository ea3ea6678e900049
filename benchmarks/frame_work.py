"""Where an animation's frame work runs: on a worker thread beside the model, or in between
batches. Prints one JSON object.

The frame work of a batch (colour matching, the writer, the smoothness score, the resume
checkpoint) runs on a worker thread while the next batch denoises where
``studio.pipeline.gpu.frame_work_beside`` says the device leaves the CPU room: always on an
accelerator, on the CPU only where torch's threads leave a core free. This script renders
the same walk (``builtin:shapes``, DDIM, guidance 3 on every step, ``--format``: MP4 by
default, as a render's) both ways in
one process, runs alternating after one warm-up of each, by telling the render that a core
is free (``beside``) or that none is (``between``), and prints the medians and
``between_over_beside``: the wall time with the frame work between batches over the time
with it on the worker (below 1: between batches is faster).

    python benchmarks/frame_work.py                       # 128 px, 16 frames, batch 4
    python benchmarks/frame_work.py --batch 1 --frames 8 --repeats 8
    python benchmarks/frame_work.py --threads 1           # a core left free: beside should win
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--threads", type=int, help="torch's CPU threads (default: torch's own)")
    parser.add_argument("--format", default="mp4", choices=["mp4", "gif", "png"])
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from studio.animation.render import render_animation
    from studio.pipeline import gpu
    from studio.pipeline.models import ModelManager
    from studio.spec import (
        AnimationSettings,
        AnimationSpec,
        DiffusionSettings,
        OutputSettings,
        PromptSettings,
    )

    spec = AnimationSpec(
        prompts=PromptSettings(schedule=f"0: a red circle\n{args.frames - 1}: a blue square"),
        diffusion=DiffusionSettings(
            model="builtin:shapes",
            scheduler="ddim",
            steps=args.steps,
            guidance=3.0,
            guidance_stop=0.0,
            width=args.size,
            height=args.size,
        ),
        animation=AnimationSettings(fps=24, batch_size=args.batch, interpolation="lerp"),
        output=OutputSettings(format=args.format),
    )
    cores = gpu.usable_cores()
    modes = {"beside": 1, "between": 0}  # cores free beside torch's threads, as told
    manager = ModelManager(cache_dir=Path(tempfile.gettempdir()) / "studio-bench-cache")
    runs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
    try:
        with tempfile.TemporaryDirectory(prefix="frame-work-") as tmp:
            for r in range(args.repeats + 1):  # the first round warms up, not counted
                order = list(modes) if r % 2 == 0 else list(reversed(modes))
                for mode in order:
                    free = modes[mode]
                    gpu.usable_cores = lambda free=free: torch.get_num_threads() + free
                    wall, cpu = time.perf_counter(), time.process_time()
                    render_animation(spec, Path(tmp) / f"{mode}-{r}", manager=manager)
                    if r:
                        runs[mode].append((time.perf_counter() - wall, time.process_time() - cpu))
    finally:
        gpu.usable_cores = lambda: cores
    wall = {mode: statistics.median(w for w, _ in runs[mode]) for mode in modes}
    cpu = {mode: statistics.median(c for _, c in runs[mode]) for mode in modes}
    print(
        json.dumps(
            {
                "benchmark": "frame_work",
                "date": date.today().isoformat(),
                "machine": f"{platform.machine()}, {cores} usable cores",
                "threads": torch.get_num_threads(),
                "size": args.size,
                "frames": args.frames,
                "steps": args.steps,
                "batch": args.batch,
                "format": args.format,
                "repeats": args.repeats,
                "wall_seconds": {m: [round(w, 3) for w, _ in runs[m]] for m in modes},
                "cpu_seconds": {m: [round(c, 3) for _, c in runs[m]] for m in modes},
                "between_over_beside": round(wall["between"] / wall["beside"], 3),
                "cpu_between_over_beside": round(cpu["between"] / cpu["beside"], 3),
                "studio_chooses": "beside" if torch.get_num_threads() < cores else "between",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
