"""The shapes benchmark's scoring: per-attribute accuracy, the shape confusion table and
shape accuracy by size, on pictures whose true reading is known."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import shapes_quality  # noqa: E402

from training.shapes.dataset import Scene, draw  # noqa: E402


def test_the_score_counts_each_asked_shape_by_how_it_was_read_and_splits_by_size():
    asked = [
        Scene("red", "circle", "black", "large", "centre"),
        Scene("blue", "square", "white", "small", "top left"),
        Scene("yellow", "triangle", "gray", "large", "centre"),
        Scene("green", "star", "black", "small", "bottom right"),
    ]
    pictures = [draw(s, 128) for s in asked]
    # The star's picture is replaced by a circle drawn where the star was asked for: the
    # table must record that a star was asked for and a circle read.
    pictures[3] = draw(dataclasses.replace(asked[3], shape="circle"), 128)
    # A plain background (nothing drawn) reads as no shape at all.
    blank = np.zeros((128, 128, 3), np.uint8)
    asked.append(Scene("white", "square", "black", "small", "centre"))
    pictures.append(blank)

    got = shapes_quality.score(pictures, asked, details=True)

    assert got["shape"] == 3 / 5
    assert got["colour"] == 4 / 5  # the blank picture has no colour
    assert got["shapes"]["circle"]["circle"] == 1
    assert got["shapes"]["star"] == {
        "circle": 1,
        "square": 0,
        "triangle": 0,
        "star": 0,
        "none": 0,
    }
    assert got["shapes"]["square"]["none"] == 1 and got["shapes"]["square"]["square"] == 1
    # small: the square (right), the star (wrong), the blank (wrong); large: both right
    assert got["shape_by_size"] == {"small": round(1 / 3, 4), "large": 1.0}
    assert "shapes" not in shapes_quality.score(pictures, asked)


def test_the_benchmark_stops_guidance_where_the_engine_does(manager):
    from diffusers import StableDiffusionPipeline

    from studio.pipeline.schedulers import make_scheduler

    pipe = manager.load("builtin:tiny").pipe
    text2img = StableDiffusionPipeline(
        **{**pipe.components, "scheduler": make_scheduler(pipe, "ddim")}
    )
    text2img.set_progress_bar_config(disable=True)
    calls: list[tuple[int, int]] = []  # (timestep, latents the UNet took)

    def hook(module, args, out):
        calls.append((int(args[1]), (out[0] if isinstance(out, tuple) else out.sample).shape[0]))

    handle = pipe.unet.register_forward_hook(hook)
    scenes = [
        Scene("red", "circle", "black", "large", "centre"),
        Scene("blue", "star", "white", "small", "top left"),
    ]
    try:
        images = shapes_quality.generate(
            text2img, scenes, steps=10, guidance=5.0, stop=0.35, seed=0
        )
    finally:
        handle.remove()
    # Two images: 4 latents with guidance, the text half alone under t = 350, as in the engine.
    assert len(images) == 2 and len(calls) == 10
    assert [n for _, n in calls] == [2 if t < 350 else 4 for t, _ in calls]
    assert {n for _, n in calls} == {2, 4}
