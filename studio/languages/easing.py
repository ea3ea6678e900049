"""Easing: how far each frame has moved from one keyframe towards the next.

numpy only (no torch): the dashboard imports this module to draw the easing chart.

Frames are ``0 .. schedule.last_frame``, exactly one per frame, so the frame where two
segments meet is rendered once (as the keyframe). A frame ``f`` between keyframes at ``ka``
and ``kb`` has linear progress ``u = (f - ka) / (kb - ka)`` in ``[0, 1)``, and its weight
``w`` (0 = keyframe ``ka``, 1 = keyframe ``kb``) is:

- ``linear``: ``w = u``;
- ``sine`` with frequencies ``f_1 .. f_n``: ``w = g(u) / g(1)`` with
  ``g(u) = u - mean_i(sin(2 pi f_i u) / (2 pi f_i))``. ``g`` never decreases, so neither does
  ``w``; ``w(0) = 0`` and ``w(1) = 1``. An integer frequency ``k`` gives ``k`` ease-in-out
  "pulses" per segment (``(1.0,)`` is the classic ease-in-out); mixing frequencies mixes the
  pulses;
- ``curve``: a curve (``studio.languages.curves``, parsed with ``names=("t", "s")``) evaluated on every
  frame with ``t`` = the frame and ``s`` = ``u``, clamped to ``[0, 1]``; e.g. ``0: (s**2)``
  eases in, ``0: (s), 48: (round(s*4)/4)`` switches to four steps from frame 48.

Keyframe frames and frames before the first keyframe have weight exactly 0.

A looped walk (``loop=True``) goes on past the last keyframe over a closing segment of
``closing_segment(schedule)`` frames (the average keyframe segment) toward the first
keyframe again, which it never reaches: the frame after the last is frame 0 of the next
pass, so the wrap is one ordinary step and frame 0 is not repeated. Its frames are
``0 .. last_frame + closing_segment - 1``; the closing frames have segment
``len(keyframes) - 1``, whose next keyframe is keyframe 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from studio.languages.curves import Curve
from studio.languages.schedule import PromptSchedule

__all__ = [
    "EASINGS",
    "FrameWeights",
    "closing_segment",
    "ease_linear",
    "ease_sine",
    "frame_weights",
    "walk_frame_count",
    "walk_key_frames",
]

EASINGS = ("linear", "sine", "curve")


@dataclass(frozen=True)
class FrameWeights:
    """Where every frame of a schedule lies between its keyframes.

    ``segment`` (int64, shape ``(F,)``): index ``i`` of the keyframe the frame starts from;
    the frame lies between keyframes ``i`` and ``i + 1`` (in a looped walk, keyframe
    ``len(keyframes)`` is keyframe 0 again). Keyframe ``i``'s own frame has
    segment ``i`` (so the last frame has segment ``len(keyframes) - 1``); frames before the
    first keyframe have segment 0.
    ``weight`` (float64, shape ``(F,)``, in ``[0, 1]``): 0 = keyframe ``i``, 1 = keyframe
    ``i + 1``; exactly 0 on keyframes and before the first keyframe.
    """

    segment: np.ndarray
    weight: np.ndarray

    @property
    def frame_count(self) -> int:
        return len(self.segment)


def ease_linear(u: np.ndarray) -> np.ndarray:
    """``w = u`` as a new float64 array of ``u``'s shape."""
    return np.array(u, dtype=np.float64)


def ease_sine(u: np.ndarray, frequencies: Sequence[float]) -> np.ndarray:
    """The sine easing ``g(u) / g(1)`` (see the module docstring), float64, ``u``'s shape.

    Non-decreasing in ``u``, 0 at 0 and 1 at 1. Raises ``ValueError`` unless ``frequencies``
    is a non-empty sequence of positive finite numbers.
    """
    frequencies = np.asarray(frequencies, dtype=np.float64)
    if frequencies.ndim != 1 or frequencies.size == 0:
        raise ValueError(f"sine easing needs at least one frequency, got {frequencies.tolist()}")
    if not np.all(np.isfinite(frequencies)) or np.any(frequencies <= 0):
        raise ValueError(
            f"sine easing frequencies must be positive and finite, got {frequencies.tolist()}"
        )
    angular = 2 * np.pi * frequencies
    u = np.asarray(u, dtype=np.float64)
    return _g(u, angular) / _g(np.float64(1.0), angular)


def closing_segment(schedule: PromptSchedule) -> int:
    """Frames of a looped walk's closing segment, last keyframe back to the first: the
    average keyframe segment ``(last - first) / (keyframes - 1)`` rounded half up (at least 1).

    Raises ``ValueError`` for a schedule of one keyframe (there is no segment to average).
    """
    keys = schedule.keyframes
    if len(keys) < 2:
        raise ValueError(f"a looped walk needs two or more keyframes, got {len(keys)}")
    average = (keys[-1].frame - keys[0].frame) / (len(keys) - 1)
    return max(1, int(np.floor(average + 0.5)))


def walk_frame_count(schedule: PromptSchedule, loop: bool = False) -> int:
    """Frames of the walk: ``last_frame + 1``, or ``last_frame + closing_segment`` looped."""
    if loop:
        return schedule.last_frame + closing_segment(schedule)
    return schedule.frame_count


def walk_key_frames(schedule: PromptSchedule, loop: bool = False) -> np.ndarray:
    """The keyframes' frames (int64, ``(K,)``); looped, one more: where keyframe 0 comes
    again (``walk_frame_count``, one past the last frame rendered), ``(K + 1,)``."""
    frames = [k.frame for k in schedule.keyframes]
    if loop:
        frames.append(walk_frame_count(schedule, loop=True))
    return np.array(frames, dtype=np.int64)


def frame_weights(
    schedule: PromptSchedule,
    easing: str = "linear",
    sine_frequencies: Sequence[float] = (1.0,),
    curve: Curve | None = None,
    progress: np.ndarray | None = None,
    variables: dict[str, np.ndarray] | None = None,
    *,
    loop: bool = False,
) -> FrameWeights:
    """Segment and weight of every frame ``0 .. schedule.last_frame`` (see the module
    docstring), or of ``walk_frame_count(schedule, loop=True)`` frames for a looped walk.

    ``sine_frequencies`` is used by ``easing="sine"``, ``curve`` by ``easing="curve"`` (then
    required). ``progress`` (shape ``(F,)``, e.g. ``studio.audio.analysis.timing_progress``) replaces
    the linear ``u`` inside segments before the easing is applied. ``variables`` are more
    arrays of shape ``(F,)`` for the curve (e.g. ``audio``). Raises ``ValueError`` for an
    unknown easing, a missing curve, bad frequencies or a ``progress`` of the wrong shape,
    and ``CurveError`` when the curve cannot be evaluated on these frames.
    """
    if easing not in EASINGS:
        raise ValueError(f"easing must be one of {', '.join(EASINGS)}, got {easing!r}")
    if easing == "curve" and curve is None:
        raise ValueError("easing 'curve' needs a curve")
    n_frames = walk_frame_count(schedule, loop)
    key_frames = walk_key_frames(schedule, loop)
    frames = np.arange(n_frames, dtype=np.int64)
    # side="right": a keyframe's own frame belongs to the segment it starts.
    segment = np.maximum(np.searchsorted(key_frames, frames, side="right") - 1, 0)
    start = key_frames[segment]
    end = key_frames[np.minimum(segment + 1, len(key_frames) - 1)]
    inside = (frames > start) & (end > start)
    u = np.zeros(n_frames, dtype=np.float64)
    u[inside] = (frames[inside] - start[inside]) / (end[inside] - start[inside])
    if progress is not None:
        progress = np.asarray(progress, dtype=np.float64)
        if progress.shape != (n_frames,):
            raise ValueError(f"progress must have shape ({n_frames},), got {progress.shape}")
        u[inside] = progress[inside]

    if easing == "linear":
        weight = ease_linear(u)
    elif easing == "sine":
        weight = ease_sine(u, sine_frequencies)
    else:
        assert curve is not None
        weight = curve.values(n_frames, {**(variables or {}), "s": u})
    # Rounding may leave the sine a hair outside [0, 1]; a curve may go anywhere.
    weight = np.where(inside, np.clip(weight, 0.0, 1.0), 0.0)
    return FrameWeights(segment=segment.astype(np.int64), weight=weight.astype(np.float64))


def _g(u: np.ndarray, angular: np.ndarray) -> np.ndarray:
    """``mean_i((a_i u - sin(a_i u)) / a_i)``, i.e. ``u - mean_i(sin(a_i u) / a_i)``."""
    y = np.asarray(u, dtype=np.float64)[..., None] * angular
    return np.mean(_y_minus_sin(y) / angular, axis=-1)


def _y_minus_sin(y: np.ndarray) -> np.ndarray:
    """``y - sin(y)`` without the cancellation that ruins it for small ``y`` (low frequencies
    or early frames): a Taylor series below 0.1, accurate there to ~1e-19 relative."""
    y2 = y * y
    series = y * y2 * (1 / 6 - y2 * (1 / 120 - y2 * (1 / 5040 - y2 * (1 / 362880 - y2 / 39916800))))
    return np.where(np.abs(y) < 0.1, series, y - np.sin(y))
