"""Speed of the learned interpolator against flow: seconds per in-between frame. Prints one
JSON object.

The learned method runs the RIFE-style network (``studio.media.rife``) on the weights given
with ``--weights``, or, without them, on seeded random weights of the same layout (the
studio ships none): its cost does not depend on the values, so random weights time it
fairly; its pictures with random weights mean nothing, and none are scored here.

For each size, two frames of moving discs are made; each round times ``--frames`` new
frames (at evenly spaced moments) by ``flow`` then by ``learned`` (``studio.media.retime.
in_between``, what ``--interpolate-to`` uses), alternating A B A B for ``--rounds`` rounds
after one warm-up of each. Figures per size: the median seconds per new frame of each method
and their ratio ``learned / flow``; with the machine's load (``os.getloadavg``) at the start
and end, since other work on the machine slows both. On a loaded machine give
``--threads 1``: torch's threads wait on each other when the cores are busy with other work
(measured: 0.2 s per 128 px frame on one thread, 3-5 s on two, at a load of 15 on 2 cores).

    .venv/bin/python benchmarks/interpolator_speed.py                      # 128, 256, 512 px on the CPU
    .venv/bin/python benchmarks/interpolator_speed.py --threads 1           # on a busy machine
    .venv/bin/python benchmarks/interpolator_speed.py --device cuda --sizes 512 1024
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.media.retime import in_between  # noqa: E402
from studio.media.rife import IFNet, load_interpolator  # noqa: E402


def discs(side: int, shift: int) -> np.ndarray:
    """A red and a blue disc on grey, moved ``shift`` pixels to the right."""
    y, x = np.mgrid[0:side, 0:side]
    image = np.full((side, side, 3), 90, np.uint8)
    r = side // 8
    image[(x - side // 3 - shift) ** 2 + (y - side // 3) ** 2 < r * r] = (220, 60, 40)
    image[(x - side // 2 - shift) ** 2 + (y - 2 * side // 3) ** 2 < r * r] = (40, 80, 220)
    return image


def per_frame(make, a: np.ndarray, b: np.ndarray, frames: int) -> float:
    began = time.perf_counter()
    pair = make(a, b)
    for k in range(1, frames + 1):
        pair.at(k / (frames + 1))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - began) / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a RIFE v4.22-v4.26 flownet state dict")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--frames", type=int, default=3, help="new frames per pair and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0: torch's default)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights
        if not weights:
            torch.manual_seed(0)
            weights = str(Path(tmp) / "random.pkl")
            torch.save(IFNet().state_dict(), weights)
        model = load_interpolator(weights, args.device)
    methods = {
        "flow": lambda a, b: in_between(a, b, "flow"),
        "learned": lambda a, b: in_between(a, b, "learned", model),
    }
    load_before = os.getloadavg()[0]
    sizes = {}
    for side in args.sizes:
        a, b = discs(side, 0), discs(side, side // 16)
        for make in methods.values():  # warm-up: first calls build kernels and caches
            per_frame(make, a, b, 1)
        times: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(args.rounds):
            for name, make in methods.items():
                times[name].append(per_frame(make, a, b, args.frames))
        medians = {f"{name}_s": round(statistics.median(t), 4) for name, t in times.items()}
        ratio = round(medians["learned_s"] / medians["flow_s"], 2)
        sizes[str(side)] = {**medians, "learned_over_flow": ratio}
    report = {
        "device": args.device,
        "weights": "given" if args.weights else "random (layout only)",
        "torch_threads": torch.get_num_threads(),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "sizes": sizes,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
