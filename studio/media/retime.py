"""A higher frame rate on the way to the file: frames interpolated between the rendered ones.

``open_output`` opens the writer of a render's file; with ``interpolate_fps`` it wraps it in a
``RetimingWriter`` that takes the rendered frames at ``source_fps`` and writes frames at
``interpolate_fps`` in their place: output frame ``j`` shows the moment ``j / interpolate_fps``
s, that is source position ``s = j * source_fps / interpolate_fps``, made between source
frames ``floor(s)`` and ``floor(s) + 1`` by ``flow`` (``studio.media.flow.FlowPair``),
``crossfade`` or ``learned`` (``studio.media.rife``: a RIFE-style network on weights the user
gives, run on the render's device); integer positions are the source frames themselves. The length in seconds is
kept: ``N`` source frames give ``output_frames(N, ...)`` frames, the last source frame held
to the end. Positions are exact integer ratios, so the frames depend on the source frames
alone.

It streams: only the previous source frame (and its flow to the new one) is kept. Renders
checkpoint their rendered frames, not the interpolated ones; on resume the replayed frames
pass through a fresh ``RetimingWriter`` and make the same in-between frames again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from studio.events import OutputFile
from studio.media.writers import FrameWriter, open_writer

if TYPE_CHECKING:
    from studio.media.rife import LearnedInterpolator

__all__ = [
    "INTERPOLATE_METHODS",
    "RetimingWriter",
    "crossfade",
    "file_rate",
    "in_between",
    "open_output",
    "output_frames",
]

INTERPOLATE_METHODS = ("flow", "crossfade", "learned")


def output_frames(frames: int, source_fps: int, fps: int) -> int:
    """Frames at ``fps`` that last as long as ``frames`` source frames at ``source_fps``
    (rounded, halves up; at least ``frames`` when ``fps >= source_fps``)."""
    return (2 * frames * fps + source_fps) // (2 * source_fps)


def file_rate(frames: int, fps: int, output: Any) -> dict[str, int]:
    """The plan's facts of an output group that interpolates (``{}`` when it does not):
    the file's ``file_fps`` and ``file_frames`` for ``frames`` rendered at ``fps``."""
    target = output.interpolate_fps
    if not target:
        return {}
    return {"file_fps": target, "file_frames": output_frames(frames, fps, target)}


def crossfade(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Pixel crossfade ``(1 - t) a + t b`` of two ``(H, W, 3)`` uint8 images, rounded."""
    mixed = (1.0 - t) * a.astype(np.float32) + t * b.astype(np.float32)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def in_between(
    a: np.ndarray, b: np.ndarray, method: str, learned: LearnedInterpolator | None = None
) -> _Between:
    """A maker of frames between ``a`` and ``b``: ``in_between(a, b, "flow").at(0.5)``;
    ``"learned"`` needs the loaded ``learned`` interpolator (``studio.media.rife``)."""
    if method not in INTERPOLATE_METHODS:
        raise ValueError(f"unknown interpolation method {method!r}")
    if method == "crossfade":
        return _Crossfade(a, b)
    if method == "learned":
        if learned is None:
            raise ValueError("the learned method needs a loaded interpolator")
        return learned.between(a, b)
    from studio.media.flow import FlowPair  # scipy: loaded by the first render that needs it

    return FlowPair(a, b)


class _Crossfade:
    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b = a, b

    def at(self, t: float) -> np.ndarray:
        return crossfade(self.a, self.b, t)


class _Between(Protocol):
    def at(self, t: float) -> np.ndarray: ...


class RetimingWriter:
    """A ``FrameWriter`` that takes frames at ``source_fps`` and gives ``writer`` (opened at
    ``fps``, more than ``source_fps``) the frames of the higher rate. ``close`` holds the last
    source frame to the end and returns the inner writer's ``OutputFile``. Method
    ``"learned"`` needs ``learned``, the loaded interpolator."""

    def __init__(
        self,
        writer: FrameWriter,
        *,
        source_fps: int,
        fps: int,
        method: str,
        learned: LearnedInterpolator | None = None,
    ) -> None:
        if not 0 < source_fps < fps:
            raise ValueError(f"need 0 < source_fps < fps, got {source_fps} and {fps}")
        if method not in INTERPOLATE_METHODS:
            raise ValueError(f"unknown interpolation method {method!r}")
        if method == "learned" and learned is None:
            raise ValueError("the learned method needs a loaded interpolator")
        self.writer = writer
        self.source_fps, self.fps, self.method = source_fps, fps, method
        self.learned = learned
        self.frames = 0  # source frames taken
        self._written = 0  # output frames given to the writer
        self._previous: np.ndarray | None = None

    def write(self, frame: np.ndarray) -> None:
        """Take source frame ``self.frames``; write the output frames before its moment."""
        if self._previous is not None:
            self._emit_until(self.frames, self._previous, frame)
        self._previous = np.array(frame, copy=True)
        self.frames += 1

    def close(self) -> OutputFile:
        if self._previous is not None:
            last = self._previous
            for _ in range(self._written, output_frames(self.frames, self.source_fps, self.fps)):
                self.writer.write(last)
                self._written += 1
        return self.writer.close()

    def abort(self) -> None:
        self.writer.abort()

    def _emit_until(self, k: int, a: np.ndarray, b: np.ndarray) -> None:
        """Write output frames whose source position is in ``[k - 1, k)``: between a and b."""
        between: _Between | None = None
        src, dst = self.source_fps, self.fps
        while self._written * src < k * dst:
            offset = self._written * src - (k - 1) * dst  # in [0, dst): t = offset / dst
            if offset == 0:
                image = a
            else:
                between = between or in_between(a, b, self.method, self.learned)
                image = between.at(offset / dst)
            self.writer.write(image)
            self._written += 1


def open_output(
    path: Path,
    fmt: str,
    *,
    fps: int,
    width: int,
    height: int,
    interpolate_fps: int = 0,
    method: str = "flow",
    interpolator: str = "",
    device: Any = "cpu",
) -> FrameWriter:
    """``open_writer`` at ``fps``, or, with ``interpolate_fps`` (0 = off), a ``RetimingWriter``
    that takes frames at ``fps`` and writes the file at ``interpolate_fps``. Method
    ``"learned"`` loads the ``interpolator`` weights onto ``device`` (the render's) first, so
    weights that do not fit raise ``ModelLoadError`` before the file is opened."""
    if not interpolate_fps:
        return open_writer(path, fmt, fps=fps, width=width, height=height)
    learned = None
    if method == "learned":
        from studio.media.rife import load_interpolator  # torch: only renders that need it

        learned = load_interpolator(interpolator, device)
    inner = open_writer(path, fmt, fps=interpolate_fps, width=width, height=height)
    return RetimingWriter(
        inner, source_fps=fps, fps=interpolate_fps, method=method, learned=learned
    )
