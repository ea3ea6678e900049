"""Perceptual distances between frames, computed offline (numpy only, no learned weights).

``ssim(a, b)`` is the structural similarity of Wang et al. (2004): local means, variances and
covariance under an 11-tap Gaussian window (sigma 1.5), ``C1 = (0.01 L)^2``,
``C2 = (0.03 L)^2`` with ``L = 255``, computed per colour channel over the window positions
that fit inside the image ("valid"), and averaged. ``ssim_distance = 1 - ssim``: 0 for equal
images, larger for more different ones (at most 2).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "SsimStats",
    "coefficient_of_variation",
    "consecutive_distances",
    "ssim",
    "ssim_distance",
    "ssim_of",
    "ssim_stats",
]

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _gaussian(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable "valid" filtering of ``x`` (C, H, W) by ``g`` along H and W, returned
    transposed: (C, W', H').

    Both passes run down the rows of a channels-first array (the second on the first's
    transpose), where each window's taps are one stride apart and numpy's matmul is about
    five times faster than along a row. SSIM's maps are all made so, and only their mean is
    read, so they need not be turned back."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = sliding_window_view(x, g.size, axis=1) @ g  # (C, H', W)
    x = np.ascontiguousarray(x.transpose(0, 2, 1))  # (C, W, H')
    return sliding_window_view(x, g.size, axis=1) @ g  # (C, W', H')


class SsimStats(NamedTuple):
    """One image's share of an SSIM: its pixels and their windowed mean and mean square.

    A stream of frames scores each frame against the one before (``SmoothnessMeter``): keeping
    a frame's stats for the next pair leaves three window filters per frame instead of five,
    with the same numbers as ``ssim``.
    """

    pixels: np.ndarray  # (3, H, W) float64, channels first
    mean: np.ndarray  # (3, W', H'): the window's mean of the pixels (``_filter``'s order)
    mean_sq: np.ndarray  # (3, W', H'): that mean squared
    var: np.ndarray  # (3, W', H'): the window's variance (mean of squares less mean_sq)
    window: np.ndarray  # the Gaussian taps


def ssim_stats(image: np.ndarray) -> SsimStats:
    """The stats ``ssim_of`` needs of an ``(H, W, 3)`` uint8 image; raises ``ValueError``
    for other shapes or dtypes."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"need an (H, W, 3) image, got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {image.dtype}")
    size = min(11, image.shape[0], image.shape[1])
    size -= 1 - size % 2
    g = _gaussian(size, 1.5)
    x = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float64)
    mean = _filter(x, g)
    mean_sq = mean * mean
    return SsimStats(x, mean, mean_sq, _filter(x * x, g) - mean_sq, g)


def ssim_of(a: SsimStats, b: SsimStats) -> float:
    """``ssim`` of the two images whose stats these are (they must have one shape)."""
    if a.pixels.shape != b.pixels.shape:
        raise ValueError(
            "need two (H, W, 3) images of one shape, got "
            f"{a.pixels.shape[1:] + (3,)} and {b.pixels.shape[1:] + (3,)}"
        )
    mxy = a.mean * b.mean
    cov = _filter(a.pixels * b.pixels, a.window) - mxy
    num = (2 * mxy + _C1) * (2 * cov + _C2)
    den = (a.mean_sq + b.mean_sq + _C1) * (a.var + b.var + _C2)
    return float(np.mean(num / den))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two ``(H, W, 3)`` uint8 images of the same shape, in [-1, 1] (1: identical).

    Images smaller than the 11-pixel window use a window as large as the smaller side
    (odd). Raises ``ValueError`` for other shapes or dtypes.
    """
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"need two (H, W, 3) images of one shape, got {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {a.dtype} and {b.dtype}")
    return ssim_of(ssim_stats(a), ssim_stats(b))


def ssim_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``1 - ssim(a, b)``: 0 for identical images."""
    return 1.0 - ssim(a, b)


def consecutive_distances(frames: list[np.ndarray]) -> np.ndarray:
    """``ssim_distance`` between each frame and the next, shape ``(len(frames) - 1,)``."""
    return np.array([ssim_distance(a, b) for a, b in zip(frames, frames[1:], strict=False)])


def coefficient_of_variation(values: np.ndarray) -> float:
    """Standard deviation over mean (population): 0 when all values are equal."""
    values = np.asarray(values, dtype=np.float64)
    mean = values.mean()
    return float(values.std() / mean) if mean > 0 else 0.0
