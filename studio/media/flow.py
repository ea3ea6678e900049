"""In-between frames by motion-compensated interpolation: dense optical flow, no weights.

``FlowPair(a, b)`` estimates the optical flow both ways between two frames, once; then
``pair.at(t)`` is the frame a fraction ``t`` of the way from ``a`` to ``b``; it replaces the
plain pixel mix (``studio.media.retime.crossfade``) whose frames show both neighbours.
Everything is numpy and scipy on the CPU, deterministic (the same two frames give the same
in-between frames on one machine).

The method, in three parts:

1. Flow: coarse-to-fine Lucas-Kanade. An image pyramid (halving down to about 8 pixels);
   at each level the flow from the coarser one is doubled, ``b`` is warped back by it, and
   three Gauss-Newton updates solve the windowed (Gaussian, sigma 2 px) least squares of
   the brightness constancy over the three colour channels; a 5x5 median then removes
   outliers. Where a region has no texture (the flat inside of a shape, a black background)
   the fine levels add nothing and the coarse flow stays: a flat shape moves with its edges.
   Where the flow does not explain the change (a colour changing in place) it is set to
   zero there, so those pixels mix in place. Frames over 256 pixels on the short side are
   measured at a reduced size (block means).
2. Where each pixel of the in-between frame comes from: the pixel ``q`` at time ``t`` was
   the pixel ``p`` of ``a`` with ``p + t F_ab(p) = q`` and the pixel ``r`` of ``b`` with
   ``r + (1 - t) F_ba(r) = q``; both are solved by fixed-point iteration from ``p = r = q``.
3. Occlusion-aware blending: where the iteration does not meet ``q`` (the residual is more
   than about a pixel) the pixel is not seen from that side (it is being covered or
   uncovered), and its weight there falls off as ``exp(-(residual / 1 px)^2)``, smoothed
   over a few pixels; the two sides mix with weights ``(1 - t)`` and ``t`` times those.
   Where neither side sees it, the plain crossfade of the two warped pixels is used.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["FlowPair", "estimate_flow"]

_MIN_SIDE = 8  # the coarsest pyramid level is about this many pixels on its short side
_ITERATIONS = 3  # Gauss-Newton updates per level
_WINDOW_SIGMA = 2.0  # the Lucas-Kanade window, pixels of each level
# Added to the 2x2 systems' diagonal: keeps them solvable where there is no texture, where
# an update is then none and the coarser flow stays.
_RIDGE = 1e-4
# A flow is kept where the frames hardly differ (below this mean absolute difference, 0 to 1)
# or where it takes away at least half the difference and leaves less than this.
_EXPLAINED = 0.06
_MAX_STEP = 1.0  # pixels of a level per update: a brightness change cannot fling the flow
_FLOW_SIDE = 256  # larger frames have their flow measured at about this size
_FIXED_POINT_STEPS = 8
_VISIBLE_PX = 1.0
_SEEN_SIGMA = 1.5


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"need two (H, W, 3) images of one shape, got {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {a.dtype} and {b.dtype}")


def _sample(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` (H, W, C) at float positions, edges repeated."""
    coords = np.stack([ys, xs])
    return np.stack(
        [
            ndimage.map_coordinates(image[..., c], coords, order=1, mode="nearest")
            for c in range(image.shape[2])
        ],
        axis=-1,
    )


def _pyramid(image: np.ndarray) -> list[np.ndarray]:
    """Levels from full size down to about ``_MIN_SIDE`` pixels, finest first."""
    levels = [image]
    while min(levels[-1].shape[:2]) >= 2 * _MIN_SIDE:
        blurred = ndimage.gaussian_filter(levels[-1], sigma=(1.0, 1.0, 0.0))
        levels.append(blurred[::2, ::2])
    return levels


def _resize(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A field (h, w, C) bilinearly resampled to ``shape``, pixel centres aligned."""
    h, w = field.shape[:2]
    ys = (np.arange(shape[0]) + 0.5) * h / shape[0] - 0.5
    xs = (np.arange(shape[1]) + 0.5) * w / shape[1] - 0.5
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    return _sample(field, grid_y.astype(np.float32), grid_x.astype(np.float32))


def _upsample(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A coarse flow (h, w, 2) at a finer ``shape``, its vectors scaled with it."""
    h, w = flow.shape[:2]
    up = _resize(flow, shape)
    up[..., 0] *= shape[0] / h
    up[..., 1] *= shape[1] / w
    return up


def estimate_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow from ``a`` to ``b`` (both ``(H, W, 3)`` uint8): ``(H, W, 2)`` float32 of
    ``(dy, dx)`` in pixels, so that ``a[y, x]`` is seen at ``b[y + dy, x + dx]``."""
    _check(a, b)
    pa = _pyramid(a.astype(np.float32) / 255.0)
    pb = _pyramid(b.astype(np.float32) / 255.0)
    flow = np.zeros((*pa[-1].shape[:2], 2), dtype=np.float32)
    for level_a, level_b in zip(reversed(pa), reversed(pb), strict=True):
        shape = level_a.shape[:2]
        if flow.shape[:2] != shape:
            flow = _upsample(flow, shape)
        grid_y, grid_x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        for _ in range(_ITERATIONS):
            warped = _sample(level_b, grid_y + flow[..., 0], grid_x + flow[..., 1])
            mean = 0.5 * (level_a + warped)
            gy, gx = np.gradient(mean, axis=(0, 1))
            gt = warped - level_a

            def window(x: np.ndarray) -> np.ndarray:
                return ndimage.gaussian_filter(x.sum(axis=-1), _WINDOW_SIGMA)

            sxx, sxy, syy = window(gx * gx) + _RIDGE, window(gx * gy), window(gy * gy) + _RIDGE
            sxt, syt = window(gx * gt), window(gy * gt)
            det = sxx * syy - sxy * sxy
            du_x = -(syy * sxt - sxy * syt) / det
            du_y = -(sxx * syt - sxy * sxt) / det
            scale = _MAX_STEP / np.maximum(np.hypot(du_x, du_y), _MAX_STEP)
            du_x, du_y = du_x * scale, du_y * scale
            flow[..., 0] += du_y
            flow[..., 1] += du_x
            flow[..., 0] = ndimage.median_filter(flow[..., 0], size=5, mode="nearest")
            flow[..., 1] = ndimage.median_filter(flow[..., 1], size=5, mode="nearest")
    return _explained(flow, pa[0], pb[0])


def _explained(flow: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``flow`` where it explains the change from ``a`` to ``b`` better than no motion, else
    zero: a colour that changes in place (a background turning from green to black) has no
    motion to find, and the frames between should mix there, not move."""
    h, w = a.shape[:2]
    grid_y, grid_x = np.mgrid[0:h, 0:w].astype(np.float32)
    warped = _sample(b, grid_y + flow[..., 0], grid_x + flow[..., 1])
    moved = ndimage.gaussian_filter(np.abs(warped - a).mean(axis=-1), _WINDOW_SIGMA)
    still = ndimage.gaussian_filter(np.abs(b - a).mean(axis=-1), _WINDOW_SIGMA)
    keep = (still < _EXPLAINED) | ((moved < 0.5 * still) & (moved < _EXPLAINED))
    return flow * keep[..., None]


def _reduce(image: np.ndarray, factor: int) -> np.ndarray:
    """Block means of ``factor`` x ``factor`` pixels (the edges cropped to whole blocks)."""
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor, 3)
    return np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)


class FlowPair:
    """Two frames and their flow both ways; ``at(t)`` gives the frames between them.

    Args:
        a, b: ``(H, W, 3)`` uint8 frames of one shape (``ValueError`` otherwise).
    """

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        _check(a, b)
        self.a, self.b = a, b
        self._fa = a.astype(np.float32)
        self._fb = b.astype(np.float32)
        # Frames over _FLOW_SIDE pixels on the short side are measured at a reduced size
        # (block means), where the sources of each pixel are found too; only the sampling
        # of the frames is at full size. The motion of a picture is coarse, and the cost
        # stops growing with the pixels.
        factor = -(-min(a.shape[:2]) // _FLOW_SIDE)  # ceiling
        small = (a, b) if factor <= 1 else (_reduce(a, factor), _reduce(b, factor))
        self.forward = estimate_flow(*small)  # at the measured size, in its pixels
        self.backward = estimate_flow(small[1], small[0])
        h, w = self.forward.shape[:2]
        self._grid = np.mgrid[0:h, 0:w].astype(np.float32)
        full_h, full_w = a.shape[:2]
        self._full_grid = np.mgrid[0:full_h, 0:full_w].astype(np.float32)

    def at(self, t: float) -> np.ndarray:
        """The ``(H, W, 3)`` uint8 frame a fraction ``t`` (0 to 1) of the way from a to b."""
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be between 0 and 1, got {t!r}")
        if t == 0.0:
            return self.a.copy()
        if t == 1.0:
            return self.b.copy()
        from_a, seen_a = self._source(self._fa, self.forward, t)
        from_b, seen_b = self._source(self._fb, self.backward, 1.0 - t)
        wa, wb = (1.0 - t) * seen_a, t * seen_b
        total = wa + wb
        mixed = (wa[..., None] * from_a + wb[..., None] * from_b) / np.maximum(total, 1e-6)[
            ..., None
        ]
        unseen = total < 1e-3
        mixed[unseen] = ((1.0 - t) * from_a + t * from_b)[unseen]
        return np.clip(np.round(mixed), 0, 255).astype(np.uint8)

    def _source(
        self, image: np.ndarray, flow: np.ndarray, s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The pixels of ``image`` that move (by ``s`` times their flow) onto each pixel,
        and how well each is seen (1: the fixed point met the pixel, toward 0: it did not).
        The fixed point is solved at the flow's size; the displacement is scaled up."""
        qy, qx = self._grid
        py, px = qy.copy(), qx.copy()
        for _ in range(_FIXED_POINT_STEPS):
            moved = _sample(flow, py, px)
            py, px = qy - s * moved[..., 0], qx - s * moved[..., 1]
        moved = _sample(flow, py, px)
        residual = np.hypot(py + s * moved[..., 0] - qy, px + s * moved[..., 1] - qx)
        # Smoothed, so that a side is dropped over a region, not pixel by pixel (speckles).
        seen = ndimage.gaussian_filter(np.exp(-((residual / _VISIBLE_PX) ** 2)), _SEEN_SIGMA)
        shift = np.stack([py - qy, px - qx], axis=-1)
        if shift.shape[:2] != image.shape[:2]:
            shift = _upsample(shift, image.shape[:2])
            seen = _resize(seen[..., None], image.shape[:2])[..., 0]
        fy, fx = self._full_grid
        return _sample(image, fy + shift[..., 0], fx + shift[..., 1]), seen
