"""Scale-out speed-up: the same animation on 2 Ray workers over 1 (issue 28).

Starts one local Ray runtime (``--cpus``, default 2: one torch thread a worker), renders
once on the largest worker count to start the workers and load the model in each (not
timed: a long render pays it once), then times ``--repeats`` rounds of renders alternating
1 worker and ``--workers`` workers (A B A B ...), and, for scale, the one-process render
with one torch thread (no Ray). Every render's frames are compared with the first one's.
Prints a JSON line per render on stderr and one JSON object at the end: the median seconds
of each and ``speedup`` = median(1 worker) / median(N workers), measured in the same run.

    python benchmarks/ray_speedup.py                         # builtin:shapes, 128 px, 24 frames
    python benchmarks/ray_speedup.py --frames 48 --steps 10 --repeats 3
    python benchmarks/ray_speedup.py --device cuda --workers 1 --cpus 4   # GPU workers
                                                             # (one GPU each: --gpus N)

On a CUDA machine ``--device cuda`` gives each worker a whole GPU (``--gpus``, default all
the machine has), so ``--workers`` can be at most that; with one GPU it measures what Ray
costs a render (1 GPU worker over the one-process render).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="builtin:shapes")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--gpus", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    import numpy as np
    import ray
    import torch

    from studio.animation.render import render_animation
    from studio.app.ray_runtime import forget_workers, start_local
    from studio.app.registry import kind_for
    from studio.media.readers import read_frames
    from studio.pipeline.models import ModelManager
    from studio.spec import AnimationSpec

    torch.set_num_threads(1)  # the one-process render as one worker runs
    began = time.perf_counter()
    gpus = args.gpus if args.gpus is not None else torch.cuda.device_count()
    start_local(args.cpus, gpus if args.device.startswith("cuda") else 0)
    ray_start = time.perf_counter() - began
    manager = ModelManager()
    tmp = Path(tempfile.mkdtemp(prefix="ray-speedup-"))

    def spec(workers: int, address: str = "local") -> AnimationSpec:
        return AnimationSpec.model_validate(
            {
                "prompts": {"schedule": f"0: a red circle\n{args.frames - 1}: a blue square"},
                "diffusion": {
                    "model": args.model,
                    "steps": args.steps,
                    "width": args.size,
                    "height": args.size,
                    "seed": 7,
                    "device": args.device,
                    "workers": workers,
                    "ray_address": address,
                },
                "animation": {"batch_size": args.batch, "fps": 12},
                "output": {"format": "png"},
            }
        )

    runs: dict[str, list[float]] = {}
    reference: list | None = None
    same = True

    def timed(label: str, run) -> None:
        nonlocal reference, same
        t = time.perf_counter()
        result = run(tmp / f"{label}-{len(runs.get(label, []))}")
        seconds = time.perf_counter() - t
        frames = list(read_frames(result.outputs[0].path))
        if reference is None:
            reference = frames
        same = same and all(np.array_equal(a, b) for a, b in zip(reference, frames, strict=True))
        runs.setdefault(label, []).append(seconds)
        print(json.dumps({"run": label, "seconds": round(seconds, 3)}), file=sys.stderr)

    def on_ray(workers: int):
        return lambda out: kind_for("animation").render(spec(workers), out, manager=manager)

    def here(out):
        return render_animation(spec(1, ""), out, manager=manager)

    # Warm-up, not timed: every worker started and its model loaded; the one-process load.
    t = time.perf_counter()
    on_ray(args.workers)(tmp / "warm-ray")
    warm = time.perf_counter() - t
    here(tmp / "warm-here")
    order = [("1 worker", on_ray(1)), (f"{args.workers} workers", on_ray(args.workers))]
    for _ in range(args.repeats):
        for label, run in order:  # A B A B ...
            timed(label, run)
        timed("one process", here)
    forget_workers()
    ray.shutdown()
    medians = {k: round(statistics.median(v), 3) for k, v in runs.items()}
    one, many = medians["1 worker"], medians[f"{args.workers} workers"]
    print(
        json.dumps(
            {
                "model": args.model,
                "size": args.size,
                "frames": args.frames,
                "steps": args.steps,
                "batch": args.batch,
                "device": args.device,
                "cpus": args.cpus,
                "ray_start_seconds": round(ray_start, 2),
                "warm_up_seconds": round(warm, 2),
                "median_seconds": medians,
                "runs": {k: [round(x, 3) for x in v] for k, v in runs.items()},
                "speedup": round(one / many, 3),
                "ray_over_one_process": round(medians["one process"] / one, 3),
                "frames_identical": same,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
