"""Training batches: scenes of ``training.shapes.dataset`` drawn as torch pixel tensors.

Pixels are ``(n, 3, IMAGE_SIZE, IMAGE_SIZE)`` float32 in [-1, 1], what the VAE reads. Scenes
whose (colour, shape, background) is in ``dataset.HELD_OUT`` are never drawn, so the quality
benchmark can ask for combinations the model never saw.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from training.shapes.config import IMAGE_SIZE
from training.shapes.dataset import Scene, draw, draw_between, training_scene

__all__ = ["in_between_pair", "mixed_batch", "scene_batch", "to_pixels"]


def to_pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(n, h, w, 3)`` pictures -> float32 ``(n, 3, h, w)`` in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def scene_batch(rng: np.random.Generator, n: int) -> tuple[list[Scene], torch.Tensor]:
    """``n`` random training scenes, jittered, and their pixels."""
    scenes = [training_scene(rng) for _ in range(n)]
    images = np.stack([draw(s, IMAGE_SIZE, rng) for s in scenes])
    return scenes, to_pixels(images)


def in_between_pair(rng: np.random.Generator) -> tuple[Scene, Scene, float]:
    """Two training scenes that differ in colour (and maybe place and size), and a mix."""
    a = training_scene(rng)
    b = training_scene(rng, shape=a.shape, background=a.background)
    while b.colour == a.colour:
        b = training_scene(rng, shape=a.shape, background=a.background)
    if rng.random() < 0.5:
        b = dataclasses.replace(b, position=a.position)
    if rng.random() < 0.7:
        b = dataclasses.replace(b, size=a.size)
    return a, b, float(rng.random())


def mixed_batch(
    rng: np.random.Generator, n: int, share: float
) -> tuple[list[tuple[Scene, Scene, float]], torch.Tensor]:
    """``n`` scenes, ``share`` of them drawn in between two captions (see ``draw_between``).

    Returns ``(pairs, pixels)``: ``pairs[i] = (a, b, w)``, with ``b = a, w = 0`` for a plain scene.
    """
    pairs = [
        in_between_pair(rng) if rng.random() < share else (s := training_scene(rng), s, 0.0)
        for _ in range(n)
    ]
    images = np.stack([draw_between(a, b, w, IMAGE_SIZE, rng) for a, b, w in pairs])
    return pairs, to_pixels(images)
