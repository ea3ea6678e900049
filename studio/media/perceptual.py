"""Perceptual distances between frames, computed offline (numpy only, no learned weights).

``ssim(a, b)`` is the structural similarity of Wang et al. (2004): local means, variances and
covariance under an 11-tap Gaussian window (sigma 1.5), ``C1 = (0.01 L)^2``,
``C2 = (0.03 L)^2`` with ``L = 255``, computed per colour channel over the window positions
that fit inside the image ("valid"), and averaged. ``ssim_distance = 1 - ssim``: 0 for equal
images, larger for more different ones (at most 2).
"""

from __future__ import annotations

import numpy as np

__all__ = ["consecutive_distances", "coefficient_of_variation", "ssim", "ssim_distance"]

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _gaussian(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable "valid" filtering of ``x`` (H, W, C) by ``g`` along H and W."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = sliding_window_view(x, g.size, axis=0) @ g  # (H', W, C)
    return sliding_window_view(x, g.size, axis=1) @ g  # (H', W', C)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two ``(H, W, 3)`` uint8 images of the same shape, in [-1, 1] (1: identical).

    Images smaller than the 11-pixel window use a window as large as the smaller side
    (odd). Raises ``ValueError`` for other shapes or dtypes.
    """
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"need two (H, W, 3) images of one shape, got {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {a.dtype} and {b.dtype}")
    size = min(11, a.shape[0], a.shape[1])
    size -= 1 - size % 2
    g = _gaussian(size, 1.5)
    x, y = a.astype(np.float64), b.astype(np.float64)
    mx, my = _filter(x, g), _filter(y, g)
    vx = _filter(x * x, g) - mx * mx
    vy = _filter(y * y, g) - my * my
    cov = _filter(x * y, g) - mx * my
    num = (2 * mx * my + _C1) * (2 * cov + _C2)
    den = (mx * mx + my * my + _C1) * (vx + vy + _C2)
    return float(np.mean(num / den))


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
