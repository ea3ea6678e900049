"""Accuracy ceiling of the shapes classifier, on drawings whose truth is known.

Draws ``N`` random scenes (``training.shapes.dataset.sample_scene``, with jitter), reads each with
``training.shapes.classifier.classify`` as drawn and after degradations like those a small
diffusion model's images show, and prints one JSON object:

- ``conditions``: for each condition, the share of images whose ``colour``, ``shape``,
  ``background``, ``size`` and ``position`` were read right, and ``all`` (every attribute
  right); plus ``errors``: up to five misread scenes with what was read;
- conditions: ``clean``; ``blur`` (Gaussian blur of standard deviation 2 px at 128 px, then
  Gaussian noise of 6/255); ``down_up`` (bicubic down to a quarter of the side and back up,
  like a lossy decoder); ``jpeg`` (JPEG at quality 40).

The benchmark in ``benchmarks/`` that scores generated images cannot do better than these
figures, so they are its ceiling. ``--all`` reads every drawable scene (2,592) instead of
``N`` random ones.

    python benchmarks/classifier_check.py              # 1000 random scenes
    python benchmarks/classifier_check.py --n 200 --size 256
    python benchmarks/classifier_check.py --all
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.shapes.classifier import classify  # noqa: E402
from training.shapes.dataset import (  # noqa: E402
    ATTRIBUTES,
    BACKGROUNDS,
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    Scene,
    draw,
    drawable,
    sample_scene,
)

Degrade = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def clean(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return image


def blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur (standard deviation 2 px at 128 px, scaled with the side), noise 6/255."""
    radius = 2.0 * image.shape[0] / 128
    blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)), float)
    return np.clip(blurred + rng.normal(0.0, 6.0, blurred.shape), 0, 255).round().astype(np.uint8)


def down_up(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    picture = Image.fromarray(image)
    small = picture.resize((image.shape[1] // 4, image.shape[0] // 4), Image.Resampling.BICUBIC)
    return np.asarray(small.resize(picture.size, Image.Resampling.BICUBIC))


def jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=40)
    return np.asarray(Image.open(buffer).convert("RGB"))


CONDITIONS: dict[str, Degrade] = {
    "clean": clean,
    "blur": blur,
    "down_up": down_up,
    "jpeg": jpeg,
}


def all_scenes() -> list[Scene]:
    """Every drawable scene: each (colour, shape, background) at every size and position."""
    return [
        Scene(c, s, b, size, position)
        for c, s, b, size, position in itertools.product(
            COLOURS, SHAPES, BACKGROUNDS, SIZES, POSITIONS
        )
        if drawable(c, b)
    ]


def check(scenes: list[Scene], side: int, seed: int) -> dict:
    """Accuracy per condition and attribute over ``scenes`` drawn at ``side`` pixels."""
    rng = np.random.default_rng(seed)
    right = {name: dict.fromkeys((*ATTRIBUTES, "all"), 0) for name in CONDITIONS}
    errors: dict[str, list[dict]] = {name: [] for name in CONDITIONS}
    for scene in scenes:
        image = draw(scene, size=side, rng=rng)
        for name, degrade in CONDITIONS.items():
            reading = classify(degrade(image, rng))
            wrong = {
                a: getattr(reading, a)
                for a in ATTRIBUTES
                if getattr(reading, a) != getattr(scene, a)
            }
            for attribute in ATTRIBUTES:
                right[name][attribute] += attribute not in wrong
            right[name]["all"] += not wrong
            if wrong and len(errors[name]) < 5:
                errors[name].append({"scene": scene.__dict__, "read": wrong})
    return {
        name: {
            **{k: round(v / len(scenes), 4) for k, v in right[name].items()},
            "errors": errors[name],
        }
        for name in CONDITIONS
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="random scenes (default 1000)")
    parser.add_argument("--all", action="store_true", help="every drawable scene instead")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be at least 1, got {args.n}")

    if args.all:
        scenes = all_scenes()
    else:
        rng = np.random.default_rng(args.seed)
        scenes = [sample_scene(rng) for _ in range(args.n)]
    start = time.perf_counter()
    conditions = check(scenes, args.size, args.seed + 1)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "scenes": len(scenes),
                "every_scene": args.all,
                "size": args.size,
                "seed": args.seed,
                "ms_per_image": round(1000 * seconds / (len(scenes) * len(CONDITIONS)), 2),
                "conditions": conditions,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
