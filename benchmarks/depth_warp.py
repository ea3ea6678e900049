"""3D motion's warp (studio.animation.motion3d): its geometry on known scenes and its cost.

    .venv/bin/python benchmarks/depth_warp.py              # 512 x 512 and 1024 x 576
    .venv/bin/python benchmarks/depth_warp.py --sizes 256x256 --repeats 3

Prints JSON: for a plane facing the camera at depth d moved d/2 toward it, the measured scale
of a drawn square (expected 2); for a two-depth scene, the scale of the near and the far half
against the pinhole camera's prediction; for rotation_3d_z, the largest difference from the
2D warp's turn; and, per size, the median seconds of one frame's 2D warp and 3D warp on the
CPU (the 3D one includes its fixed-point steps over the depth map).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.animation.motion import warp  # noqa: E402
from studio.animation.motion3d import Move3D, nearness_to_depth, warp_3d  # noqa: E402


def _square(height: int, width: int, side: int) -> torch.Tensor:
    image = torch.zeros(1, 1, height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image[..., top : top + side, left : left + side] = 1
    return image


def _width(image: torch.Tensor) -> int:
    mask = image[0, 0].numpy() > 0.5
    return int(np.count_nonzero(mask[mask.shape[0] // 2]))


def geometry() -> dict[str, float]:
    height, width = 128, 192
    d = 300.0
    plane = nearness_to_depth(np.ones((height, width)), d, d * 50)
    scaled = warp_3d(_square(height, width, 20), plane, Move3D(translation_z=d / 2), "zero")
    nearness = np.zeros((height, width))
    nearness[:, : width // 2] = 1.0
    two = nearness_to_depth(nearness, 100.0, 400.0)
    image = torch.zeros(1, 1, height, width)
    image[..., 56:72, 72:88] = 1  # near half
    image[..., 56:72, 104:120] = 1  # far half
    moved = warp_3d(image, two, Move3D(translation_z=50), "zero")[0, 0].numpy() > 0.5
    rng = np.random.default_rng(0)
    picture = torch.from_numpy(rng.random((1, 3, height, width))).float()
    depth = nearness_to_depth(rng.random((height, width)), 200.0, 10000.0)
    roll = warp_3d(picture, depth, Move3D(rotation_3d_z=12.5), "reflect")
    return {
        "plane_scale_measured": _width(scaled) / 20,
        "plane_scale_expected": 2.0,
        "near_scale_measured": np.count_nonzero(moved[64, : width // 2]) / 16,
        "near_scale_expected": 100 / 50,
        "far_scale_measured": np.count_nonzero(moved[64, width // 2 :]) / 16,
        "far_scale_expected": 400 / 350,
        "roll_vs_2d_max_abs_diff": float(
            (roll - warp(picture, 1, 12.5, 0, 0, "reflect")).abs().max()
        ),
    }


def cost(height: int, width: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    image = torch.from_numpy(rng.random((1, 3, height, width))).float()
    depth = nearness_to_depth(rng.random((height, width)), 200.0, 10000.0)
    move = Move3D(translation_z=10, rotation_3d_y=0.5, rotation_3d_x=0.2)
    timings = {"warp_2d_s": [], "warp_3d_s": []}
    for _ in range(repeats):
        began = time.perf_counter()
        warp(image, 1.02, 0.5, 1.0, 0.0, "replicate")
        timings["warp_2d_s"].append(time.perf_counter() - began)
        began = time.perf_counter()
        warp_3d(image, depth, move, "replicate")
        timings["warp_3d_s"].append(time.perf_counter() - began)
    return {k: round(statistics.median(v), 4) for k, v in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["512x512", "1024x576"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    out = {"geometry": geometry(), "cost": {}}
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        out["cost"][size] = cost(height, width, args.repeats)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
