"""Audio analysis: find a track's beats as key frames and measure its loudness per frame.

Everything here is numpy in, numpy out; librosa (slow to import, and its first call compiles
for ~15 s) is imported lazily, so the plan and the dashboard stay light until a track is
actually used. Files are decoded by ``studio.media.audio`` (``cached_audio``), whose
``MediaError`` for bad media passes through the file-based helpers at the end.

Times and frames: video frame ``f`` is shown at ``f / fps`` seconds, and the audio is
aligned so that its first sample plays with frame 0. An event at ``t`` seconds belongs to
frame ``round(t * fps)``, the frame shown closest to it.

Components (``COMPONENTS``): ``percussive`` and ``harmonic`` are librosa's median-filtering
harmonic/percussive separation (HPSS) of the track; ``both`` is the track itself.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from studio.media.audio import cached_audio, file_version

__all__ = [
    "ANALYSIS_RATE",
    "COMPONENTS",
    "AudioKeyframes",
    "Onsets",
    "analyse_audio",
    "audio_envelope",
    "component_signal",
    "detect_onsets",
    "file_onsets",
    "frame_envelope",
    "onset_keyframes",
    "timing_progress",
    "waveform",
]

COMPONENTS = ("percussive", "harmonic", "both")
Component = Literal["percussive", "harmonic", "both"]

# Analysis runs at one rate whatever the file's, so that settings mean the same for all.
ANALYSIS_RATE = 22050
# Onsets and energy: 256 samples = 11.6 ms per step, under one frame even at 60 fps.
_HOP = 256
_FFT = 1024
# HPSS: librosa's defaults; its median filters span 31 frames of this STFT (~0.7 s).
_HPSS_FFT = 2048
_HPSS_HOP = 512
# Envelope: decibels below the loudest frame that still count; quieter is 0.
TOP_DB = 60.0
# Onset strength is the rise of the mel spectrum in dB, averaged over bands, so it does not
# depend on the track's gain. librosa picks peaks 0.07 of the strongest above the local mean;
# on a steady tone that finds the analysis noise (peaks ~0.2 dB), so a peak must also rise
# at least this much. Harmonic note onsets, smoothed by the separation, measure ~0.5-1 dB.
MIN_ONSET_DB = 0.25

# -- analysis ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioKeyframes:
    """Key frames found in a track, with what the chart draws.

    ``frames``: sorted, unique frame numbers, starting with 0. ``timestamps``: seconds, one
    per frame: the onset that landed on it (the first, when several did), 0.0 for frame 0
    when no onset did. ``duration``: seconds of audio; ``end_frame``: the last frame shown
    while the track plays, ``ceil(duration * fps) - 1`` (a schedule ending there makes a
    video as long as the track). ``onset_times`` / ``onset_strength``: the
    onset-strength curve of the component (seconds; shape ``(T,)``, scaled to [0, 1]).
    """

    frames: tuple[int, ...]
    timestamps: tuple[float, ...]
    fps: float
    component: str
    duration: float
    onset_times: np.ndarray
    onset_strength: np.ndarray

    @property
    def end_frame(self) -> int:
        # The small tolerance keeps a track of exactly N frames from needing N + 1.
        return max(0, math.ceil(self.duration * self.fps - 1e-6) - 1)

    def to_dict(self) -> dict[str, Any]:
        """What ``python -m studio audio-keyframes --json`` prints."""
        return {
            "keyframes": list(self.frames),
            "timestamps": [round(t, 4) for t in self.timestamps],
            "fps": self.fps,
            "component": self.component,
            "duration": round(self.duration, 4),
            "end_frame": self.end_frame,
        }


def component_signal(samples: np.ndarray, rate: int, component: str) -> np.ndarray:
    """The chosen component of a track, resampled to ``ANALYSIS_RATE``.

    Args:
        samples: mono audio, shape ``(N,)``.
        rate: its sample rate in Hz.
        component: one of ``COMPONENTS``.

    Returns:
        float32 array, shape ``(round(N * ANALYSIS_RATE / rate),)``, read-only (results are
        shared: the separation takes seconds per minute of audio, so the last three are kept).
    """
    _check_component(component)
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"samples must have shape (N,), got {samples.shape}")
    key = (hashlib.blake2b(samples.tobytes(), digest_size=16).digest(), int(rate), component)
    if key in _SIGNALS:
        _SIGNALS.move_to_end(key)
        return _SIGNALS[key]
    import librosa

    y = samples
    if rate != ANALYSIS_RATE:
        y = librosa.resample(samples, orig_sr=rate, target_sr=ANALYSIS_RATE, res_type="soxr_hq")
    y = np.ascontiguousarray(y, dtype=np.float32)
    if component != "both":
        stft = librosa.stft(y, n_fft=_HPSS_FFT, hop_length=_HPSS_HOP)
        harmonic, percussive = librosa.decompose.hpss(stft)
        part = percussive if component == "percussive" else harmonic
        y = librosa.istft(part, hop_length=_HPSS_HOP, length=len(y)).astype(np.float32)
    y.flags.writeable = False
    _SIGNALS[key] = y
    while len(_SIGNALS) > 3:  # e.g. the three components of one track
        _SIGNALS.popitem(last=False)
    return y


_SIGNALS: OrderedDict[tuple, np.ndarray] = OrderedDict()


@dataclass(frozen=True)
class Onsets:
    """The onsets of a component of a track: ``times`` (seconds, increasing) and each one's
    ``strength`` in [0, 1], shape ``(K,)`` each; ``curve_times`` / ``curve``: the whole
    onset-strength curve, ``(T,)``, scaled so its peak is 1.

    An onset's strength is how sharp it is times how loud: its onset-strength peak (scaled
    to the track's sharpest) times the component's loudness just after it, in decibels
    below the loudest moment mapped from ``[-TOP_DB, 0]`` to ``[0, 1]`` as the envelope is.
    Onset strength alone hardly tells an accent from a soft beat over the same background
    (it measures the rise in dB), so the loudness is what ranks the accents first.
    """

    times: np.ndarray
    strength: np.ndarray
    curve_times: np.ndarray
    curve: np.ndarray


# The loudness of an onset: the loudest STFT frame in this many after its peak (~35 ms).
_ONSET_LOUDNESS_FRAMES = 3


def detect_onsets(samples: np.ndarray, rate: int, component: str) -> Onsets:
    """The onsets (beats, notes) of a component of the track (``onset_keyframes`` puts them
    on frames). Args as ``onset_keyframes``; a silent track has none."""
    import librosa

    y = component_signal(samples, rate, component)
    strength = librosa.onset.onset_strength(y=y, sr=ANALYSIS_RATE, hop_length=_HOP)
    spread = float(strength.max() - strength.min()) if strength.size else 0.0
    peaks = librosa.onset.onset_detect(
        onset_envelope=strength,
        sr=ANALYSIS_RATE,
        hop_length=_HOP,
        normalize=False,
        delta=max(0.07 * spread, MIN_ONSET_DB),
        units="frames",
    )
    peak = float(strength.max()) if strength.size else 0.0
    scaled = (strength / peak if peak > 0 else strength).astype(np.float64)
    loud = np.zeros(len(peaks))
    if len(peaks):
        mel = librosa.feature.melspectrogram(
            y=y, sr=ANALYSIS_RATE, n_fft=_FFT, hop_length=_HOP, power=2.0
        )
        energy = mel.sum(axis=0).astype(np.float64)  # (T,), frame i centred at i * hop
        after = [energy[p : p + _ONSET_LOUDNESS_FRAMES + 1].max(initial=0.0) for p in peaks]
        if energy.max() > 0:
            with np.errstate(divide="ignore"):
                db = 10.0 * np.log10(np.asarray(after) / energy.max())
            loud = np.clip(1.0 + db / TOP_DB, 0.0, 1.0)
    return Onsets(
        times=librosa.frames_to_time(peaks, sr=ANALYSIS_RATE, hop_length=_HOP).astype(np.float64),
        strength=scaled[peaks] * loud if len(peaks) else np.zeros(0),
        curve_times=librosa.times_like(strength, sr=ANALYSIS_RATE, hop_length=_HOP).astype(
            np.float64
        ),
        curve=scaled,
    )


def onset_keyframes(samples: np.ndarray, rate: int, fps: float, component: str) -> AudioKeyframes:
    """Key frames at the onsets (beats, notes) of a component of the track.

    Args:
        samples: mono audio, shape ``(N,)``, ``N >= 1``.
        rate: sample rate in Hz.
        fps: frames per second of the animation, > 0.
        component: ``percussive`` (drums, clicks), ``harmonic`` (notes, chords) or ``both``.

    Returns:
        ``AudioKeyframes``; ``frames`` always holds 0, since a schedule starts there. A
        silent track gives ``(0,)``.
    """
    _check_fps(fps)
    onsets = detect_onsets(samples, rate, component)
    found: dict[int, float] = {0: 0.0}
    for t in onsets.times:
        frame = round(float(t) * fps)
        if frame not in found or (frame == 0 and found[0] == 0.0):
            found[frame] = float(t)
    frames = sorted(found)
    return AudioKeyframes(
        frames=tuple(frames),
        timestamps=tuple(found[f] for f in frames),
        fps=float(fps),
        component=component,
        duration=len(samples) / rate,
        onset_times=onsets.curve_times,
        onset_strength=onsets.curve,
    )


def frame_envelope(
    samples: np.ndarray, sample_rate: int, fps: float, frames: int, component: str
) -> np.ndarray:
    """How loud the component is at each video frame.

    The mel-spectrogram energy of the component, averaged over each frame's time
    ``[(f - 0.5) / fps, (f + 0.5) / fps)``, in decibels below the loudest frame, mapped
    from ``[-TOP_DB, 0]`` to ``[0, 1]``: 1 is the loudest frame of the track, 0 is silence
    or anything ``TOP_DB`` dB quieter. Frames after the track ends are 0; a silent track is
    all 0.

    Args:
        samples: mono audio, shape ``(N,)``; sample_rate: its rate in Hz.
        fps: frames per second, > 0; frames: how many frames, >= 0.
        component: one of ``COMPONENTS``.

    Returns:
        float64 array of shape ``(frames,)`` in [0, 1].
    """
    _check_fps(fps)
    if isinstance(frames, bool) or not isinstance(frames, int | np.integer) or frames < 0:
        raise ValueError(f"frames must be a non-negative int, got {frames!r}")
    if frames == 0:
        return np.zeros(0, dtype=np.float64)
    import librosa

    y = component_signal(samples, sample_rate, component)
    mel = librosa.feature.melspectrogram(
        y=y, sr=ANALYSIS_RATE, n_fft=_FFT, hop_length=_HOP, power=2.0
    )
    energy = mel.sum(axis=0).astype(np.float64)  # (T,), STFT frame i centred at i * hop
    step = _HOP / ANALYSIS_RATE
    # Each STFT value holds for one hop around its centre; the running integral makes the
    # mean over any window exact, whether a video frame is shorter or longer than a hop.
    edges = (np.arange(len(energy) + 1) - 0.5) * step
    integral = np.concatenate([[0.0], np.cumsum(energy) * step])
    f = np.arange(frames, dtype=np.float64)
    lo, hi = (f - 0.5) / fps, (f + 0.5) / fps
    power = (np.interp(hi, edges, integral) - np.interp(lo, edges, integral)) * fps
    # Nothing plays after the track: frames whose window starts past it are silent.
    power[lo >= len(samples) / sample_rate] = 0.0
    loudest = power.max()
    if loudest <= 0:
        return np.zeros(frames, dtype=np.float64)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(power / loudest)
    return np.clip(1.0 + db / TOP_DB, 0.0, 1.0)


def timing_progress(
    key_frames: Sequence[int], envelope: np.ndarray, smoothing: float
) -> np.ndarray:
    """Audio-driven progress between keyframes: faster where the track is loud.

    Between keyframes ``a < b`` the step into frame ``j`` is proportional to
    ``envelope[j]``, so progress at frame ``f`` is
    ``sum(envelope[a+1 .. f]) / sum(envelope[a+1 .. b])`` (linear when that segment is
    silent), then blended: ``smoothing * linear + (1 - smoothing) * audio``.

    Args:
        key_frames: sorted, unique keyframe frames; the last is the last frame.
        envelope: shape ``(F,)`` with ``F = key_frames[-1] + 1``, values >= 0 (e.g.
            ``frame_envelope``).
        smoothing: in [0, 1]; 0 = from the audio alone, 1 = linear.

    Returns:
        float64 ``(F,)``: 0 on keyframes and before the first; inside a segment
        non-decreasing, in [0, 1], reaching 1 at its right keyframe (which itself is 0, as
        it starts the next segment). Feed it to ``studio.languages.easing.frame_weights(progress=...)``.
    """
    keys = np.asarray(key_frames, dtype=np.int64)
    envelope = np.asarray(envelope, dtype=np.float64)
    if keys.ndim != 1 or keys.size == 0 or np.any(np.diff(keys) <= 0) or keys[0] < 0:
        raise ValueError(f"key frames must be sorted, unique and >= 0, got {keys.tolist()}")
    if envelope.shape != (keys[-1] + 1,):
        raise ValueError(f"envelope must have shape ({keys[-1] + 1},), got {envelope.shape}")
    if not np.all(np.isfinite(envelope)) or np.any(envelope < 0):
        raise ValueError("envelope values must be finite and >= 0")
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"smoothing must be between 0 and 1, got {smoothing}")
    progress = np.zeros(len(envelope), dtype=np.float64)
    for a, b in zip(keys[:-1], keys[1:], strict=True):
        linear = np.arange(b - a + 1, dtype=np.float64) / (b - a)
        steps = envelope[a + 1 : b + 1]
        total = steps.sum()
        if total > 0:
            audio = np.concatenate([[0.0], np.cumsum(steps) / total])
            audio[-1] = 1.0  # exactly, whatever the rounding of the sum
        else:
            audio = linear
        blended = smoothing * linear + (1.0 - smoothing) * audio
        progress[a:b] = np.clip(blended[:-1], 0.0, 1.0)
    return progress


def waveform(samples: np.ndarray, rate: int, points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Peak amplitude in ``points`` equal slices of the track, for drawing it.

    Returns ``(times, peaks)``, float64, shape ``(min(points, N),)``: each slice's start
    in seconds and its largest absolute sample.
    """
    samples = np.asarray(samples, dtype=np.float32)
    n = min(points, len(samples))
    if n == 0:
        return np.zeros(0), np.zeros(0)
    bounds = np.linspace(0, len(samples), n + 1).astype(np.int64)
    peaks = np.maximum.reduceat(np.abs(samples), bounds[:-1]).astype(np.float64)
    return bounds[:-1] / rate, peaks


# -- from files (studio.media.audio), cached ----------------------------------------------------------------------


def analyse_audio(path: str | Path, fps: float, component: str) -> AudioKeyframes:
    """``onset_keyframes`` of a file; decoded and separated once per version of the file."""
    samples, rate = cached_audio(path)
    return onset_keyframes(samples, rate, fps, component)


def file_onsets(path: str | Path, component: str) -> Onsets:
    """``detect_onsets`` of a file, cached per version of the file and component (a page
    plans a blend on every rerun). Raises ``MediaError``."""
    return _onsets_cached(*file_version(path), component)


@functools.lru_cache(maxsize=4)
def _onsets_cached(path: str, size: int, mtime_ns: int, component: str) -> Onsets:
    samples, rate = cached_audio(path)
    return detect_onsets(samples, rate, component)


def audio_envelope(path: str | Path, component: str, fps: float, frames: int) -> np.ndarray:
    """``frame_envelope`` of a file, shape ``(frames,)``; cached per file version and
    arguments (the plan asks for it on every rerun of a page). Raises ``MediaError``."""
    return _envelope_cached(*file_version(path), component, float(fps), int(frames)).copy()


@functools.lru_cache(maxsize=8)
def _envelope_cached(
    path: str, size: int, mtime_ns: int, component: str, fps: float, frames: int
) -> np.ndarray:
    samples, rate = cached_audio(path)
    return frame_envelope(samples, rate, fps, frames, component)


def _check_component(component: str) -> None:
    if component not in COMPONENTS:
        raise ValueError(f"component must be one of {', '.join(COMPONENTS)}, got {component!r}")


def _check_fps(fps: float) -> None:
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not np.isfinite(fps):
        raise ValueError(f"fps must be a finite number, got {fps!r}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
