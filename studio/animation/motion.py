"""2D motion and img2img strength: the per-frame curves, where each frame starts, the warp.

How a frame starts (``init_kinds``):

- ``video``: from the video input's frame at the same time (every frame, with a video input);
- ``image``: from the image input (every frame without motion; frame 0 with motion);
- ``feedback``: from the previous output frame moved by the motion curves (frames 1.. when
  any motion curve is set; frame 0 is text-to-image, or the image input);
- ``noise``: text-to-image from the keyframes' seeded noise (no input and no motion).

A frame that starts from an image runs ``img2img_steps(steps, strength)`` of its ``steps``
denoise steps: its init image is encoded by the VAE, given ``noise`` (a seeded Gaussian, in
latent units), and noised to the step its strength starts at. Strength 0 keeps the init
image (through the VAE, no denoising); strength 1 ignores it (the frame is exactly the
text-to-image frame).

Motion values at frame ``f`` move frame ``f - 1`` into frame ``f``'s init: content is zoomed
by ``zoom`` and turned ``angle`` degrees counter-clockwise about the image centre, then moved
``translate_x`` px right and ``translate_y`` px down; pixels brought in from outside follow
``border``. Values at frame 0 are not used. The 3D curves (``translation_z``,
``rotation_3d_x/y/z``, ``fov``) move it through a depth map first
(``studio.animation.motion3d``); any of them set turns feedback on too.

Curve evaluation is numpy only (the plan and the pages use it); ``warp`` imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from studio.errors import SpecError
from studio.languages.curves import naming_curve, parse_curve

if TYPE_CHECKING:
    import torch

    from studio.spec import AnimationSpec, MotionSettings

__all__ = [
    "MOTION_3D_CURVES",
    "MOTION_CURVES",
    "FrameCurves",
    "evaluate_curves",
    "img2img_steps",
    "init_kinds",
    "resample",
    "source_coords",
    "warp",
]

MOTION_CURVES = ("zoom", "angle", "translate_x", "translate_y")
MOTION_3D_CURVES = ("translation_z", "rotation_3d_x", "rotation_3d_y", "rotation_3d_z")
_DEFAULTS = {
    "translation_z": 0.0,
    "rotation_3d_x": 0.0,
    "rotation_3d_y": 0.0,
    "rotation_3d_z": 0.0,
    "fov": 40.0,
    "zoom": 1.0,
    "angle": 0.0,
    "translate_x": 0.0,
    "translate_y": 0.0,
    "noise": 0.0,
    "coherence_noise": 0.0,
}
# grid_sample's names for the spec's border modes.
_PADDING = {"reflect": "reflection", "replicate": "border", "zero": "zeros"}


@dataclass(frozen=True)
class FrameCurves:
    """Every curve on frames ``0 .. F-1``: float64 arrays of shape ``(F,)``.

    ``feedback`` is True when a motion curve is set, i.e. frames after the first start from
    the previous frame; ``depth`` when a 3D curve is set (the move needs a depth map).
    """

    zoom: np.ndarray
    angle: np.ndarray
    translate_x: np.ndarray
    translate_y: np.ndarray
    strength: np.ndarray
    noise: np.ndarray
    coherence_noise: np.ndarray
    translation_z: np.ndarray
    rotation_3d_x: np.ndarray
    rotation_3d_y: np.ndarray
    rotation_3d_z: np.ndarray
    fov: np.ndarray
    feedback: bool
    depth: bool = False


def evaluate_curves(
    motion: MotionSettings, frames: int, variables: Mapping[str, np.ndarray] | None = None
) -> FrameCurves:
    """Evaluate a ``MotionSettings``' curves on ``frames`` frames.

    ``variables`` may give ``audio`` (shape ``(frames,)``, in [0, 1]); missing, it is zeros.
    Raises ``CurveError`` for a curve that cannot be evaluated and ``SpecError`` naming the
    curve, the frame and the value when a value is out of range: strength outside [0, 1],
    zoom outside (0, 10], noise or coherence noise below 0, fov outside (0, 180).
    """
    audio = (variables or {}).get("audio")
    given = {"audio": np.zeros(frames) if audio is None else np.asarray(audio, np.float64)}
    values = {}
    for name in (*MOTION_CURVES, "strength", "noise", "coherence_noise", *MOTION_3D_CURVES, "fov"):
        text = getattr(motion, name)
        if text.strip():
            with naming_curve(name.replace("_", " ")):
                values[name] = parse_curve(text, names=("t", "audio")).values(frames, given)
        else:
            values[name] = np.full(frames, _DEFAULTS[name])
    _check_range(values["strength"], "strength", lambda v: (v >= 0) & (v <= 1), "in [0, 1]")
    _check_range(values["zoom"], "zoom", lambda v: (v > 0) & (v <= 10), "in (0, 10]")
    _check_range(values["noise"], "noise", lambda v: v >= 0, "0 or more")
    _check_range(values["coherence_noise"], "coherence noise", lambda v: v >= 0, "0 or more")
    _check_range(values["fov"], "fov", lambda v: (v > 0) & (v < 180), "in (0, 180)")
    depth = any(getattr(motion, name).strip() for name in MOTION_3D_CURVES)
    feedback = depth or any(getattr(motion, name).strip() for name in MOTION_CURVES)
    return FrameCurves(**values, feedback=feedback, depth=depth)


def _check_range(
    values: np.ndarray, name: str, ok: Callable[[np.ndarray], np.ndarray], wanted: str
) -> None:
    bad = np.flatnonzero(~ok(values))
    if bad.size:
        f = int(bad[0])
        raise SpecError(f"{name} curve must be {wanted}, got {values[f]:g} at frame {f}")


def init_kinds(spec: AnimationSpec, frames: int, feedback: bool) -> tuple[str, ...]:
    """Where each frame starts: ``video``, ``image``, ``feedback`` or ``noise`` (see above)."""
    i = spec.input
    if i.video:
        return ("video",) * frames
    first = "image" if i.image else "noise"
    if feedback:
        return (first,) + ("feedback",) * (frames - 1)
    return (first,) * frames


def img2img_steps(steps: int, strength: float) -> int:
    """Denoise steps a frame that starts from an image runs: ``floor(steps * strength)``.

    As in diffusers' img2img: the frame enters the schedule at step ``steps - k`` and runs
    the last ``k`` steps. The epsilon keeps 0.3 * 10 at 3 despite float rounding.
    """
    return min(int(steps * float(strength) + 1e-9), steps)


def warp(
    image: torch.Tensor,
    zoom: float,
    angle: float,
    translate_x: float,
    translate_y: float,
    border: str,
) -> torch.Tensor:
    """Move ``image`` (B, C, H, W) float tensor by one frame's motion (see the module doc).

    Returns a tensor of the same shape, dtype and device. Rotation is done in pixel units,
    so any aspect ratio turns without shearing; sampling is bilinear at pixel centres, so
    whole-pixel translations and quarter turns move pixels without blur (to float32
    precision).
    """
    if border not in _PADDING:
        raise SpecError(f"border must be one of {', '.join(_PADDING)}, got {border!r}")
    _, _, height, width = image.shape
    if zoom == 1 and angle == 0 and translate_x == 0 and translate_y == 0:
        return image.clone()
    source_x, source_y = source_coords(height, width, zoom, angle, translate_x, translate_y)
    return resample(image, source_x, source_y, border)


def source_coords(
    height: int, width: int, zoom: float, angle: float, translate_x: float, translate_y: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each output pixel of the 2D move comes from: x and y, float64 (H, W) tensors in
    pixels (pixel i's centre at i)."""
    import torch

    # Built in float64: the source coordinates of a quarter turn must land on pixel centres.
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    cx, cy = (width - 1) / 2, (height - 1) / 2
    theta = np.deg2rad(angle)
    cos, sin = float(np.cos(theta)), float(np.sin(theta))
    # Inverse of: out = c + zoom * R(angle) (p - c) + translate, with y pointing down, so a
    # counter-clockwise turn on screen is R = [[cos, sin], [-sin, cos]] and R^-1 = R^T.
    u = xs - translate_x - cx
    v = ys - translate_y - cy
    source_x = cx + (cos * u - sin * v) / zoom
    source_y = cy + (sin * u + cos * v) / zoom
    return source_x, source_y


def resample(
    image: torch.Tensor, source_x: torch.Tensor, source_y: torch.Tensor, border: str
) -> torch.Tensor:
    """``image`` (B, C, H, W) sampled bilinearly at ``source_x``/``source_y`` (H, W), in
    pixels; points outside follow ``border``. Same shape, dtype and device out."""
    import torch
    import torch.nn.functional as F

    if border not in _PADDING:
        raise SpecError(f"border must be one of {', '.join(_PADDING)}, got {border!r}")
    batch, _, height, width = image.shape
    # grid_sample with align_corners=False: pixel i's centre is at (2i + 1) / size - 1.
    grid = torch.stack(
        [(2 * source_x + 1) / width - 1, (2 * source_y + 1) / height - 1], dim=-1
    ).expand(batch, height, width, 2)
    return F.grid_sample(
        image,
        grid.to(device=image.device, dtype=image.dtype),
        mode="bilinear",
        padding_mode=_PADDING[border],
        align_corners=False,
    )
