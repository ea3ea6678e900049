"""A blend's soundtrack: the video's length, where each prompt is reached, how fast each
transition moves, how much crossfeed, and the sound in MP4 output (``spec.audio``).

Frames and times: video frame ``f`` is shown at ``f / fps`` seconds, the track's first
sample with frame 0 (as in ``studio.audio.analysis``). Prompt ``k`` is reached at video frame
``joins[k] = round(time_k * fps)``; the movie shows prompt 0 before ``joins[0]`` and the last
prompt after ``joins[-1]`` (held still). With ``timing``, the video frames of transition
``t`` pass its diffusion frames (ranks ``0 .. F - 1``) at the audio-driven progress
``p`` of ``studio.audio.analysis.timing_progress``: frame ``j`` shows rank ``p_j (F - 1)``,
crossfaded between the two ranks around it, so the movie moves faster where it is loud.
With ``crossfeed``, an in-between frame at prompt position ``q`` of transition ``t`` takes
the envelope ``e`` of the video frame where the movie passes ``q`` and its crossfeed power is
scaled by ``1 - crossfeed * e``.

The track is decoded by ``studio.media.audio`` (once per version of the file); onsets and
the envelope are ``studio.audio``'s, cached there, and only computed when the spec reads
them (onset placement; timing or crossfeed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from studio.errors import SpecError
from studio.spec import BlendSpec

if TYPE_CHECKING:
    from studio.events import OutputFile
    from studio.pipeline.common import Clock

__all__ = [
    "BlendTrack",
    "add_blend_soundtrack",
    "crossfeed_scale",
    "place_prompts",
    "timed_sources",
]


@dataclass(frozen=True)
class BlendTrack:
    """Where a blend's prompts fall on its track, and its loudness per video frame.

    ``source``: ``times`` (the user's), ``onsets`` or ``even``. ``seconds``: the track's
    length. ``times``: the second each prompt is reached (``joins / fps``). ``envelope``:
    ``(V,)`` in [0, 1] when timing or crossfeed reads it, else None. ``progress``:
    ``(joins[-1] + 1,)`` audio-driven progress within each transition when ``timing``, else
    None.
    """

    source: str
    seconds: float
    times: tuple[float, ...]
    envelope: np.ndarray | None = None
    progress: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "track_seconds": round(self.seconds, 4),
            "times": [round(t, 4) for t in self.times],
            "timing": self.progress is not None,
        }


def place_prompts(spec: BlendSpec, min_span: int) -> tuple[int, tuple[int, ...], BlendTrack]:
    """``(video frames, joins, track)`` of a checked ``spec`` with an audio file.

    The video is as long as the track (``ceil(seconds * fps)`` frames) or, when the spec
    gives a duration, that long. ``min_span``: the fewest video frames a transition needs
    (its tree's diffusion frames less one). Raises ``MediaError`` for a track that cannot be
    read and ``SpecError`` naming the time or the transition that does not fit.
    """
    from studio.audio.placement import check_times_in_track, strongest_onsets
    from studio.media.audio import cached_audio

    a, o = spec.audio, spec.output
    fps, count = o.fps, len(spec.prompts.keyframes)
    samples, rate = cached_audio(a.path)
    seconds = len(samples) / rate
    # The small tolerance keeps a track of exactly N frames from needing N + 1.
    video = round(o.duration * fps) if o.duration else max(1, math.ceil(seconds * fps - 1e-6))
    if video < count:
        raise SpecError(
            f"the video is {video} frames ({video / fps:.2f} s at {fps} fps), fewer than the "
            f"{count} prompts (each keyframe is a frame of its own)"
        )
    last = video - 1
    if a.times:
        check_times_in_track(a.times, seconds)
        times, source = a.times, "times"
    elif a.placement == "even":
        times = tuple(round(j * last / (count - 1)) / fps for j in range(count))
        source = "even"
    else:
        from studio.audio.analysis import file_onsets

        onsets = file_onsets(a.path, a.component)
        # One frame more than the tree needs, so that rounding to frames keeps it.
        gap = (max(min_span, 1) + 1) / fps
        picked = strongest_onsets(
            onsets.times,
            onsets.strength,
            count - 1,
            end=last / fps,
            min_gap=gap,
            even_gap=0.5 * last / fps / (count - 1),
        )
        times, source = (0.0, *picked), "onsets"
    joins = tuple(round(t * fps) for t in times)
    _check_joins(joins, times, last, fps, min_span, source)
    envelope = progress = None
    if a.timing or a.crossfeed:
        from studio.audio.analysis import audio_envelope, timing_progress

        envelope = audio_envelope(a.path, a.component, fps, video)
        if a.timing:
            progress = timing_progress(joins, envelope[: joins[-1] + 1], a.smoothing)
    track = BlendTrack(source, seconds, tuple(j / fps for j in joins), envelope, progress)
    return video, joins, track


def _check_joins(
    joins: tuple[int, ...],
    times: tuple[float, ...],
    last: int,
    fps: int,
    min_span: int,
    source: str,
) -> None:
    """Each prompt on a frame of its own within the video, each transition long enough."""
    what = "time" if source == "times" else "prompt"
    if joins[-1] > last:
        k = next(i for i, j in enumerate(joins) if j > last)
        raise SpecError(
            f"{what} {k + 1} ({times[k]:g} s) is after the video's last frame "
            f"({last / fps:.2f} s at {fps} fps); lengthen the duration or move it earlier"
        )
    for t in range(len(joins) - 1):
        span = joins[t + 1] - joins[t]
        if span < max(min_span, 1):
            raise SpecError(
                f"the transition from prompt {t + 1} ({times[t]:g} s) to prompt {t + 2} "
                f"({times[t + 1]:g} s) has {span} video frame(s) at {fps} fps, but its tree "
                f"needs {max(min_span, 1)}; space the times further apart or use a smaller tree"
            )


def timed_sources(progress: np.ndarray, frames: int, *, last: bool) -> list[tuple[int, float]]:
    """Which diffusion frames make each video frame of one audio-timed transition.

    ``progress``: shape ``(span,)``, the transition's progress at each of its video frames
    (0 at its first; ``timing_progress``). Returns ``(rank, alpha)`` per video frame: rank
    ``rank`` crossfaded ``alpha`` of the way to ``rank + 1``; the right keyframe (rank
    ``frames - 1``) is appended when ``last``, as in ``studio.blend.plan.segment_sources``.
    """
    out = []
    for p in np.asarray(progress, dtype=np.float64):
        x = min(max(float(p), 0.0), 1.0) * (frames - 1)
        rank = min(int(math.floor(x)), frames - 1)
        out.append((rank, x - rank if rank < frames - 1 else 0.0))
    if last:
        out.append((frames - 1, 0.0))
    return out


def crossfeed_scale(
    spec: BlendSpec, track: BlendTrack | None, joins: tuple[int, ...], t: int, position: float
) -> float:
    """The factor of an in-between frame's crossfeed power: ``1 - crossfeed * e``, with
    ``e`` the envelope where transition ``t`` passes ``position``; 1 without audio crossfeed."""
    amount = spec.audio.crossfeed
    if track is None or track.envelope is None or not amount:
        return 1.0
    a, b = joins[t], joins[t + 1]
    if track.progress is not None:
        within = int(np.searchsorted(track.progress[a:b], position, side="left"))
        frame = min(a + within, b)
    else:
        frame = a + round(position * (b - a))
    return 1.0 - amount * float(track.envelope[frame])


def add_blend_soundtrack(
    spec: BlendSpec, output: OutputFile, clock: Clock
) -> tuple[OutputFile, list[str]]:
    """Mux the spec's track into finished MP4 output; ``(output, notes)`` (GIF and PNG: a
    note, as for an animation)."""
    import contextlib

    from studio.media.writers import mux_soundtrack

    a = spec.audio
    if not a.path or not a.mux:
        return output, []
    with clock.stage("audio") if output.kind == "mp4" else contextlib.nullcontext():
        return mux_soundtrack(output, a.path, "places the transitions")
