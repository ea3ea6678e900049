"""How evenly a render moves: 1 - SSIM between neighbouring frames, scored as frames stream.

Every writer (``studio.media.writers``) feeds each frame it writes to a ``SmoothnessMeter``,
so every render kind is scored in one place and no video is held in memory: the meter keeps
only the previous frame, shrunk to at most ``SIDE`` pixels a side (a box mean over whole
blocks, so the score is a function of the frames alone), as its SSIM window statistics
(``studio.media.perceptual.ssim_stats``: each frame is filtered once, not twice), and one
number per neighbour pair.

A resumed render replays its finished frames into a fresh writer, so its score is the one an
uninterrupted render gets.

``facts()`` (JSON-safe; what a run records as ``smoothness``):

- ``distances``: ``1 - SSIM(frame k-1, frame k)`` for ``k = 1 .. frames-1`` (0: no change);
- ``mean`` and ``cv`` (standard deviation over mean: 0 for perfectly even motion);
- ``max_jump``: the largest distance, and ``max_jump_frame``: the ``k`` where it lands
  (the jump is from frame ``k-1`` to frame ``k``; None with fewer than two frames);
- ``frames``: the frames scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.media.perceptual import SsimStats, coefficient_of_variation, ssim_of, ssim_stats

__all__ = ["SIDE", "SmoothnessMeter", "shrink"]

SIDE = 128  # enough for SSIM's 11-pixel window to see shapes; a few ms per frame
_DIGITS = 5


def shrink(frame: np.ndarray, side: int = SIDE) -> np.ndarray:
    """``frame`` (H, W, 3) uint8 shrunk by the smallest whole factor that brings both sides
    to at most ``side``: each output pixel is the mean of a factor x factor block, rounded
    half up (rows and columns past the last whole block are dropped). Returned as is when
    it fits."""
    factor = -(-max(frame.shape[0], frame.shape[1]) // side)
    if factor <= 1:
        return frame
    h, w = frame.shape[0] // factor, frame.shape[1] // factor
    blocks = frame[: h * factor, : w * factor].reshape(h, factor, w, factor, 3)
    area = factor * factor  # integer sums: exact, and faster than float means
    return ((blocks.sum(axis=(1, 3), dtype=np.uint32) + area // 2) // area).astype(np.uint8)


class SmoothnessMeter:
    """Scores frames one at a time (see the module docstring). Not thread-safe."""

    def __init__(self, side: int = SIDE) -> None:
        self.side = side
        self.frames = 0
        self._previous: SsimStats | None = None  # kept for the next pair: 3 filters a frame
        self._distances: list[float] = []

    def add(self, frame: np.ndarray) -> None:
        """Score ``frame`` (H, W, 3) uint8 against the one added before it."""
        stats = ssim_stats(shrink(frame, self.side))
        if self._previous is not None:
            self._distances.append(1.0 - ssim_of(self._previous, stats))  # ssim_distance
        self._previous = stats
        self.frames += 1

    def facts(self) -> dict[str, Any]:
        """The score so far (JSON-safe; see the module docstring)."""
        d = np.asarray(self._distances, dtype=np.float64)
        top = int(d.argmax()) if d.size else None
        return {
            "frames": self.frames,
            "mean": round(float(d.mean()), _DIGITS) if d.size else 0.0,
            "cv": round(coefficient_of_variation(d), _DIGITS) if d.size else 0.0,
            "max_jump": round(float(d[top]), _DIGITS) if top is not None else 0.0,
            "max_jump_frame": None if top is None else top + 1,
            "distances": [round(float(x), _DIGITS) for x in d],
        }
