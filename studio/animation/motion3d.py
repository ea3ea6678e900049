"""3D motion: the previous frame moved through its depth map by a camera move (Deforum-style).

Depth convention. A depth source gives each frame's *nearness* ``n`` in [0, 1] per pixel:
1 is the nearest point, 0 the farthest (white = near, as in DPT / Depth Anything output,
MiDaS maps and ControlNet depth maps). A depth image or video is read as its luma / 255,
as it is; a model's prediction (relative inverse depth) is stretched per frame so that its
smallest value is 0 and its largest 1. Nearness becomes depth ``z`` (distance along the
camera's axis, in *depth units*) by interpolating inverse depth, as disparity is:
``1 / z = n / near + (1 - n) / far``, so ``n = 1`` is at ``depth_near`` and ``n = 0`` at
``depth_far``. ``translation_z`` is in the same depth units.

Camera. A pinhole camera with square pixels, its principal point at the image centre
``((W - 1) / 2, (H - 1) / 2)`` and focal length ``f = (W / 2) / tan(fov / 2)`` pixels
(``fov``: horizontal field of view, degrees). Camera coordinates: x right, y down, z forward.
A pixel ``p`` at depth ``z`` is the point ``((p - c) * z / f, z)``.

Move. Per frame the camera moves ``translation_z`` forward along its axis, then turns:
``X' = R (X - (0, 0, translation_z))`` takes a point from the previous frame's camera into the
new one's. ``R = Rz Rx Ry`` (pan, then tilt, then roll), each in degrees: ``rotation_3d_y`` pans
right (the picture moves left), ``rotation_3d_x`` tilts up (the picture moves down),
``rotation_3d_z`` turns the picture counter-clockwise about the centre, as 2D ``angle`` does.

Warp. Each output pixel ``q`` is sampled from the previous frame where its point was
(backward warping, so there are no holes): starting from ``p = q``, a few fixed-point steps
read the depth at ``p``, move that point into the new camera for the depth ``q`` sees it at,
and carry ``q`` at that depth back to the previous camera. For a scene of one depth (a plane
facing the camera) the first step is exact: moved ``translation_z = z / 2`` toward it, the
picture is scaled 2x about the centre. The 2D motion curves then apply on screen (their
inverse is composed into the same sampling grid, so the frame is resampled once), and pixels
brought in from outside (or from behind the camera) follow ``border``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from studio.animation.motion import resample, source_coords

if TYPE_CHECKING:
    import torch

__all__ = ["Move3D", "nearness_to_depth", "rotation", "source_points", "warp_3d"]

# Fixed-point steps of the backward warp: exact for planes after one; three settle the edges of
# nearer objects at the per-frame moves animations use.
_STEPS = 3
# Depth (in units of depth_near) below which a point counts as at or behind the camera.
_BEHIND = 1e-6


@dataclass(frozen=True)
class Move3D:
    """One frame's 3D move: the values of the 3D curves at that frame (module doc)."""

    translation_z: float = 0.0
    rotation_3d_x: float = 0.0
    rotation_3d_y: float = 0.0
    rotation_3d_z: float = 0.0
    fov: float = 40.0

    @property
    def still(self) -> bool:
        """True when the camera does not move (the fov alone moves nothing)."""
        return (
            self.translation_z == 0
            and self.rotation_3d_x == 0
            and self.rotation_3d_y == 0
            and self.rotation_3d_z == 0
        )


def nearness_to_depth(nearness: np.ndarray, near: float, far: float) -> np.ndarray:
    """Nearness in [0, 1] (clipped) -> depth in depth units, float64 of the same shape:
    ``1 / (n / near + (1 - n) / far)`` (see the module doc). ``0 < near < far``."""
    if not 0 < near < far:
        raise ValueError(f"depth needs 0 < near < far, got near {near}, far {far}")
    n = np.clip(np.asarray(nearness, dtype=np.float64), 0.0, 1.0)
    return 1.0 / (n / near + (1.0 - n) / far)


def rotation(rotation_3d_x: float, rotation_3d_y: float, rotation_3d_z: float) -> np.ndarray:
    """The (3, 3) float64 ``R = Rz Rx Ry`` of a move's rotations in degrees (module doc)."""
    ax, ay, az = np.deg2rad([rotation_3d_x, rotation_3d_y, rotation_3d_z])
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    # Tilting up by ax brings (0, 0, z) to (0, z sin ax, z cos ax): the picture moves down.
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, sx], [0.0, -sx, cx]])
    # Panning right by ay brings (0, 0, z) to (-z sin ay, 0, z cos ay): the picture moves left.
    ry = np.array([[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]])
    # The 2D warp's counter-clockwise turn on screen (y down), about the camera's axis.
    rz = np.array([[cz, sz, 0.0], [-sz, cz, 0.0], [0.0, 0.0, 1.0]])
    return rz @ rx @ ry


def warp_3d(
    image: torch.Tensor,
    depth: np.ndarray,
    move: Move3D,
    border: str,
    *,
    zoom: float = 1.0,
    angle: float = 0.0,
    translate_x: float = 0.0,
    translate_y: float = 0.0,
) -> torch.Tensor:
    """Move ``image`` (B, C, H, W) float by ``move`` through ``depth`` (H, W) in depth units
    (the depth of ``image``'s pixels, ``nearness_to_depth``), then by the 2D motion.

    Returns a tensor of the same shape, dtype and device. No move at all returns a copy.
    """
    _, _, height, width = image.shape
    if depth.shape != (height, width):
        raise ValueError(f"depth map is {depth.shape}, the image is {(height, width)}")
    # The 2D move is the last on screen, so its inverse comes first: where each output pixel
    # was in the 3D-moved picture.
    qx_t, qy_t = source_coords(height, width, zoom, angle, translate_x, translate_y)
    if move.still:
        if zoom == 1 and angle == 0 and translate_x == 0 and translate_y == 0:
            return image.clone()
        return resample(image, qx_t, qy_t, border)
    px, py = source_points(depth, move, qx_t.numpy(), qy_t.numpy())
    import torch

    return resample(image, torch.from_numpy(px), torch.from_numpy(py), border)


def source_points(
    depth: np.ndarray, move: Move3D, qx: np.ndarray, qy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where the points seen at pixels ``(qx, qy)`` (arrays of one shape, float64) after
    ``move`` were in the picture whose depth is ``depth`` (H, W): x and y in pixels.

    Points that end at or behind either camera get coordinates far outside the picture
    (they follow the border mode).
    """
    height, width = depth.shape
    f = (width / 2) / np.tan(np.deg2rad(move.fov) / 2)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    r = rotation(move.rotation_3d_x, move.rotation_3d_y, move.rotation_3d_z)
    tz = move.translation_z
    eps = _BEHIND * float(np.min(depth))
    # Rays of the output pixels in the new camera (z = 1).
    ray = np.stack([(qx - cx) / f, (qy - cy) / f, np.ones_like(qx)])
    px, py = qx.copy(), qy.copy()
    bad = np.zeros(qx.shape, dtype=bool)
    for _ in range(_STEPS):
        z = _bilinear(depth, px, py)
        point = np.stack([(px - cx) * z / f, (py - cy) * z / f, z])  # previous camera
        point[2] -= tz
        z_new = np.einsum("j,j...->...", r[2], point)  # its depth in the new camera
        back = np.einsum("ij,j...->i...", r.T, ray * z_new)  # q at that depth, previous camera
        back[2] += tz
        bad = (z_new <= eps) | (back[2] <= eps)
        safe = np.where(bad, 1.0, back[2])
        px = np.where(bad, px, f * back[0] / safe + cx)
        py = np.where(bad, py, f * back[1] / safe + cy)
    far = 4.0 * (width + height)
    return np.where(bad, -far, px), np.where(bad, -far, py)


def _bilinear(plane: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``plane`` (H, W) at pixel coordinates ``x``, ``y`` (bilinear, clamped to the edges)."""
    height, width = plane.shape
    x = np.clip(np.nan_to_num(x), 0, width - 1)
    y = np.clip(np.nan_to_num(y), 0, height - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), width - 1)
    y0 = np.minimum(np.floor(y).astype(np.int64), height - 1)
    x1 = np.minimum(x0 + 1, width - 1)
    y1 = np.minimum(y0 + 1, height - 1)
    fx, fy = x - x0, y - y0
    top = plane[y0, x0] * (1 - fx) + plane[y0, x1] * fx
    bottom = plane[y1, x0] * (1 - fx) + plane[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
