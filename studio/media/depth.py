"""Depth maps the user gives for 3D motion: a depth image, or a depth video streamed.

A depth map is read as *nearness* in [0, 1], 1 = nearest (white = near; see
``studio.animation.motion3d`` for how nearness becomes depth): an 8-bit picture's luma / 255,
a 16-bit or 32-bit grey picture's value over its type's largest (65535 for 16-bit), so the
precision of a 16-bit depth PNG is kept. Values are taken as they are, not stretched: a grey
picture of one level is a plane facing the camera at one depth.

A depth image serves every frame. A depth video gives frame ``f``'s depth map as its frame at
the same time (resampled to the animation's fps by timestamp, as a video input is, through
``studio.media.inputs.stream_video``); it must give one per output frame, and is read one
frame at a time, never whole. Everything fails with ``MediaError`` naming the depth input.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.errors import MediaError
from studio.media.inputs import (
    ImageInfo,
    VideoInfo,
    probe_image,
    resolve_input_path,
    stream_video,
    video_info,
)

__all__ = ["DEPTH_VIDEO_SUFFIXES", "DepthInput", "DepthStream", "check_depth_input", "read_depth"]

DEPTH_VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif")


@dataclass(frozen=True)
class DepthInput:
    """A probed depth input: an image or a video."""

    image: ImageInfo | None = None
    video: VideoInfo | None = None


def check_depth_input(path: str, *, fps: float, frames: int) -> DepthInput:
    """Probe the depth image or video at ``path`` (a video by its suffix; a video is decoded
    once per version of the file, however often it is checked).

    A depth video must give at least ``frames`` frames at ``fps``. Raises ``MediaError``
    naming the depth input and the problem.
    """
    resolved = resolve_input_path(path)
    video = resolved.suffix.lower() in DEPTH_VIDEO_SUFFIXES
    try:
        if not video:
            return DepthInput(image=probe_image(resolved))
        info = video_info(resolved)  # decoded once per version of the file
    except MediaError as exc:
        what = "video input" if video else "image input"
        raise MediaError(str(exc).replace(what, "depth input", 1)) from None
    given = info.output_frames(fps)
    if given < frames:
        raise MediaError(
            f"depth input {str(resolved)!r} gives {given} frames at {fps:g} fps, but the "
            f"animation has {frames}; give a longer depth video or fewer frames"
        )
    return DepthInput(video=info)


def read_depth(path: Path, width: int, height: int) -> np.ndarray:
    """The depth picture at ``path`` as nearness, float64 (height, width) in [0, 1], resized
    (bilinear) when its size differs. Raises ``MediaError``."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            if picture.mode in ("I;16", "I;16B", "I;16L", "I"):
                plane = np.asarray(picture, dtype=np.float64) / 65535.0
            elif picture.mode == "F":
                plane = np.asarray(picture, dtype=np.float64)
            else:
                plane = _luma(np.asarray(picture.convert("RGB"), dtype=np.uint8))
    except (OSError, ValueError) as exc:
        raise MediaError(f"depth input {str(path)!r} could not be read: {exc}") from None
    if plane.shape != (height, width):
        resized = Image.fromarray(plane.astype(np.float32)).resize(
            (width, height), Image.Resampling.BILINEAR
        )
        plane = np.asarray(resized, dtype=np.float64)
    return np.clip(plane, 0.0, 1.0)


def _luma(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float64 in [0, 1], Rec. 601 weights (grey stays grey)."""
    rgb = image.astype(np.float64) / 255.0
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


class DepthStream:
    """Each frame's nearness map from a probed ``DepthInput``, asked for in frame order.

    Holds the image's one map, or the open video stream and nothing else; frames not asked
    for (a resumed render's first ones) are read past. ``close`` stops the video.
    """

    def __init__(self, source: DepthInput, width: int, height: int, fps: float) -> None:
        self.fixed: np.ndarray | None = None
        self.stream: Iterator[np.ndarray] | None = None
        if source.video is not None:
            self.stream = stream_video(source.video, fps, width, height)
        else:
            assert source.image is not None
            self.fixed = read_depth(source.image.path, width, height)
        self.next_frame = 0

    def at(self, f: int) -> np.ndarray:
        """Frame ``f``'s nearness (H, W) float64; ``f`` never goes back."""
        if self.fixed is not None:
            return self.fixed
        assert self.stream is not None
        if f < self.next_frame:
            raise ValueError(f"depth frames go forward: frame {self.next_frame} is next, got {f}")
        while self.next_frame < f:
            next(self.stream)
            self.next_frame += 1
        self.next_frame += 1
        return _luma(next(self.stream))

    def close(self) -> None:
        """Stop reading the depth video, if there is one."""
        if self.stream is not None:
            self.stream.close()  # type: ignore[attr-defined]
