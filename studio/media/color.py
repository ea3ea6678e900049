"""Colour matching: move a frame's colours onto a reference's, in CIELAB.

Feedback animations drift in colour (each img2img pass shifts it a little, and the shifts add
up); matching every frame's LAB histograms to a fixed reference holds the palette. Each of the
L, a and b channels is matched on its own by CDF matching: a value at quantile ``q`` of the
frame becomes the reference's value at quantile ``q``.

numpy only. sRGB (D65) <-> CIELAB follows the standard formulas; out-of-gamut results are
clipped to RGB [0, 1].
"""

from __future__ import annotations

import numpy as np

__all__ = ["ColorReference", "lab_to_rgb", "match_histograms_lab", "rgb_to_lab"]

# sRGB (linear) -> XYZ, D65 white.
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = _RGB_TO_XYZ.sum(axis=1)  # XYZ of RGB (1, 1, 1)
_DELTA = 6 / 29


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 sRGB, or float in [0, 1] -> (..., 3) float64 L*a*b* (L in [0, 100])."""
    c = _unit(rgb)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _DELTA**3, np.cbrt(xyz), xyz / (3 * _DELTA**2) + 4 / 29)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], axis=-1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """(..., 3) L*a*b* -> (..., 3) float64 sRGB clipped to [0, 1]."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29)) * _WHITE
    linear = np.clip(xyz @ _XYZ_TO_RGB.T, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


class ColorReference:
    """The LAB distribution of one reference image, ready to match many frames to it."""

    def __init__(self, reference: np.ndarray) -> None:
        """``reference``: (H, W, 3) uint8 RGB, any size."""
        lab = rgb_to_lab(reference).reshape(-1, 3)
        self._values = []
        self._quantiles = []
        for channel in range(3):
            values, counts = np.unique(lab[:, channel], return_counts=True)
            self._values.append(values)
            self._quantiles.append(np.cumsum(counts) / counts.sum())

    def match(self, image: np.ndarray) -> np.ndarray:
        """``image`` (H, W, 3) uint8 -> the same shape, uint8, with the reference's LAB
        histograms (per channel; up to rounding to 8 bits)."""
        lab = rgb_to_lab(image)
        flat = lab.reshape(-1, 3)
        out = np.empty_like(flat)
        for channel in range(3):
            values, inverse, counts = np.unique(
                flat[:, channel], return_inverse=True, return_counts=True
            )
            quantiles = np.cumsum(counts) / counts.sum()
            mapped = np.interp(quantiles, self._quantiles[channel], self._values[channel])
            out[:, channel] = mapped[inverse.reshape(-1)]
        rgb = lab_to_rgb(out.reshape(lab.shape))
        return np.round(rgb * 255).astype(np.uint8)


def match_histograms_lab(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Match ``image``'s LAB histograms to ``reference``'s; both (H, W, 3) uint8 RGB."""
    return ColorReference(reference).match(image)


def _unit(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.shape[-1:] != (3,):
        raise ValueError(f"expected RGB values in a last axis of 3, got shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float64) / 255.0
    return np.clip(rgb.astype(np.float64), 0.0, 1.0)
