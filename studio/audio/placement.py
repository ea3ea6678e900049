"""Where a blend's prompts fall on a track: the strongest onsets, spaced; the user's times.

Pure numpy, seconds in and seconds out; ``studio.blend.soundtrack`` puts them on video frames.
A movie through ``N`` prompts shows the first from the start and reaches each of the others
at one time, so it needs ``N - 1`` times after 0.

Spacing: onsets are taken strongest first (ties: the earlier), each at least ``even_gap``
seconds from the start and from every onset already taken, so a cluster of loud beats does
not crowd every transition into one bar; where the track has too few such onsets, the gap
falls to ``min_gap`` (what the transitions' frames need), and below that the track is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from studio.errors import SpecError

__all__ = ["check_times_in_track", "strongest_onsets"]


def strongest_onsets(
    times: np.ndarray,
    strength: np.ndarray,
    count: int,
    *,
    end: float,
    min_gap: float,
    even_gap: float,
) -> tuple[float, ...]:
    """``count`` onset times, increasing, for the prompts after the first.

    Args:
        times: onset times in seconds, shape ``(K,)``; strength: each one's strength, ``(K,)``.
        count: how many to pick, >= 1.
        end: the last time that may be picked (the last video frame's time); later onsets
            are left out.
        min_gap: the least distance in seconds between two picks, and from 0.
        even_gap: the distance tried first (``>= min_gap``), e.g. half an even transition.

    Raises:
        SpecError: the track has fewer than ``count`` onsets ``min_gap`` apart before ``end``.
    """
    times = np.asarray(times, dtype=np.float64)
    strength = np.asarray(strength, dtype=np.float64)
    if times.shape != strength.shape or times.ndim != 1:
        raise ValueError(f"times and strength must have one shape (K,), got {times.shape}")
    if count < 1:
        raise ValueError(f"count must be 1 or more, got {count}")
    order = sorted(range(len(times)), key=lambda i: (-strength[i], times[i]))
    for gap in dict.fromkeys((max(even_gap, min_gap), min_gap)):
        picked: list[float] = []
        for i in order:
            t = float(times[i])
            if t < gap or t > end + 1e-9 or any(abs(t - p) < gap for p in picked):
                continue
            picked.append(t)
            if len(picked) == count:
                return tuple(sorted(picked))
    # Strongest-first can strand a track whose onsets only just fit; the earliest-first
    # pass keeps the most apart, and any of them keep the gap: the strongest of those.
    spaced = _spaced(times, strength, min_gap, end)
    if len(spaced) >= count:
        return tuple(sorted(t for _, t in sorted(spaced, key=lambda s: (-s[0], s[1]))[:count]))
    raise SpecError(
        f"the track has {len(spaced)} onset(s) at least {min_gap:.2f} s apart (and from the start) "
        f"before {end:.2f} s, but the prompts after the first need {count}; give times "
        "(--times), fewer prompts, or placement 'even'"
    )


def check_times_in_track(times: Sequence[float], seconds: float) -> None:
    """Raise ``SpecError`` for a prompt time at or after the end of a ``seconds``-long track."""
    for i, t in enumerate(times):
        if t >= seconds:
            raise SpecError(
                f"time {i + 1} ({t:g} s) is not within the track, which lasts {seconds:.2f} s"
            )


def _spaced(
    times: np.ndarray, strength: np.ndarray, gap: float, end: float
) -> list[tuple[float, float]]:
    """``(strength, time)`` of the most onsets, earliest first, that keep ``gap`` from 0 and
    from each other."""
    kept: list[tuple[float, float]] = []
    for i in np.argsort(times, kind="stable"):
        t = float(times[i])
        if gap <= t <= end + 1e-9 and (not kept or t - kept[-1][1] >= gap):
            kept.append((float(strength[i]), t))
    return kept
