"""Audio: load a track, find its beats as key frames, and measure its loudness per frame.

Everything here is numpy in, numpy out; librosa (slow to import, and its first call compiles
for ~15 s) and soundfile are imported lazily, so the plan and the dashboard stay light until
a track is actually used.

Times and frames: video frame ``f`` is shown at ``f / fps`` seconds, and the audio is
aligned so that its first sample plays with frame 0. An event at ``t`` seconds belongs to
frame ``round(t * fps)``, the frame shown closest to it.

Components (``COMPONENTS``): ``percussive`` and ``harmonic`` are librosa's median-filtering
harmonic/percussive separation (HPSS) of the track; ``both`` is the track itself.

Bad media raises ``studio.errors.MediaError`` naming the file and the problem: a missing or
empty file, a format other than ``AUDIO_SUFFIXES``, a file the decoder cannot read (not audio,
corrupt), a truncated file (fewer samples than its header promises), no samples at all, or
a track longer than ``MAX_AUDIO_SECONDS`` (one hour: the analysis holds the whole track and
its spectrogram in memory).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from studio.errors import MediaError, ScheduleError

__all__ = [
    "ANALYSIS_RATE",
    "AUDIO_SUFFIXES",
    "COMPONENTS",
    "MAX_AUDIO_SECONDS",
    "AudioKeyframes",
    "analyse_audio",
    "audio_envelope",
    "cached_audio",
    "check_audio",
    "component_signal",
    "frame_envelope",
    "load_audio",
    "merge_keyframes",
    "onset_keyframes",
    "resolve_media_path",
    "timing_progress",
    "waveform",
]

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac")
COMPONENTS = ("percussive", "harmonic", "both")
Component = Literal["percussive", "harmonic", "both"]
MAX_AUDIO_SECONDS = 3600.0

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

# Same default as db.paths.DEFAULT_HOME (the engine does not import db).
_DEFAULT_HOME = "~/.latent-studio"

# libmpg123, built into libsndfile, prints this on the process's stderr when an MP3's Xing
# header states another size than the file holds (joined tracks, tags after the audio). The
# file decodes fine, and libsndfile offers no way to pass mpg123 its quiet flag.
_MPG123_XING_WARNING = b"Warning: Xing stream size off by more than 1%"
# File descriptor 2 is one per process: two threads swapping it at once would lose it.
_STDERR_SWAP = threading.Lock()


# -- files -----------------------------------------------------------------------------------


def resolve_media_path(path: str | Path) -> Path:
    """The file a spec's media ``path`` refers to.

    Absolute paths are used as they are. A relative path is looked up in the working
    directory first and, if no file is there, under ``STUDIO_HOME``, where dashboard uploads
    are kept (``inputs/<session>/<name>``). The result may not exist: loaders say so.
    """
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists():
        return given
    home = Path(os.environ.get("STUDIO_HOME") or _DEFAULT_HOME).expanduser()
    in_home = home / given
    return in_home if in_home.exists() else given


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode an audio file to mono.

    Args:
        path: a ``.wav``, ``.mp3``, ``.ogg`` or ``.flac`` file (``resolve_media_path`` rules).

    Returns:
        ``(samples, rate)``: float32 array of shape ``(N,)`` (channels averaged, nominally
        in [-1, 1]), ``N >= 1``, and the file's own sample rate in Hz.

    Raises:
        MediaError: naming the file, for each problem listed in the module docstring.
    """
    path = resolve_media_path(path)
    if not path.exists():
        raise MediaError(f"audio file {path} does not exist")
    if not path.is_file():
        raise MediaError(f"audio file {path} is not a file")
    suffix = path.suffix.lower()
    if suffix not in AUDIO_SUFFIXES:
        raise MediaError(
            f"audio file {path}: unsupported format {suffix or '(no extension)'!r}; "
            f"use {', '.join(s[1:] for s in AUDIO_SUFFIXES)}"
        )
    size = path.stat().st_size
    if size == 0:
        raise MediaError(f"audio file {path} is empty (0 bytes)")
    if suffix == ".wav":
        _check_wav_chunks(path, size)
    try:
        samples, rate = _read_soundfile(path)
    except _Unreadable as exc:
        if suffix != ".mp3":
            raise MediaError(
                f"audio file {path} cannot be read as {suffix[1:]} (not {suffix[1:]} audio, "
                f"or corrupt or truncated): {exc}"
            ) from None
        # libsndfile's MP3 support misses some files ffmpeg plays; it gets a second try.
        samples, rate = _read_ffmpeg(path, reason=str(exc))
    return samples, rate


def check_audio(path: str | Path) -> None:
    """Raise ``MediaError`` if ``path`` is not a track ``load_audio`` can use.

    Decodes the file once per version of it (path, size, modification time); later calls
    are free, so a page may call this on every rerun.
    """
    _load_cached(*_file_key(path))


class _Unreadable(Exception):
    """libsndfile could not open or decode the file (message: libsndfile's)."""


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    if path.suffix.lower() == ".mp3":
        with _without_mpg123_xing_warning():
            return _read_soundfile_blocks(path)
    return _read_soundfile_blocks(path)


@contextlib.contextmanager
def _without_mpg123_xing_warning():
    """Run the block with the C-level stderr (fd 2) caught, then write back every line of it
    but libmpg123's Xing size warning: other output is delayed, never lost."""
    with _STDERR_SWAP, tempfile.TemporaryFile() as caught:
        sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to keep clean
            yield
            return
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [
                line
                for line in caught.read().splitlines(keepends=True)
                if not line.startswith(_MPG123_XING_WARNING)
            ]
            if kept:
                os.write(2, b"".join(kept))


def _read_soundfile_blocks(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise _Unreadable(_sf_reason(exc, path)) from None
    _check_length(path, info.frames, info.samplerate)
    mono = np.empty(info.frames, dtype=np.float32)
    read = 0
    try:
        # Block by block, averaging channels as we go: a long stereo file never sits in
        # memory at twice the size of its mono mix. (Not sf.blocks: it pads a short file
        # with zeros up to the length its header promises, hiding a truncation.)
        with sf.SoundFile(str(path)) as f:
            while read < info.frames:
                block = f.read(min(1 << 16, info.frames - read), dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                mono[read : read + len(block)] = block.mean(axis=1)
                read += len(block)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise MediaError(
            f"audio file {path} is corrupt or truncated: {_sf_reason(exc, path)}"
        ) from None
    if read < info.frames:
        raise MediaError(
            f"audio file {path} is truncated: its header promises {info.frames} samples "
            f"({info.frames / info.samplerate:.2f} s), the file holds {read}"
        )
    return mono, int(info.samplerate)


def _sf_reason(exc: BaseException, path: Path) -> str:
    # soundfile starts with "Error opening '<path>': "; the message around this names the file.
    text = str(exc).replace(f"Error opening {str(path)!r}: ", "")
    return " ".join(text.replace(os.linesep, " ").split()) or type(exc).__name__


def _check_length(path: Path, frames: int, rate: float) -> None:
    if frames <= 0:
        raise MediaError(f"audio file {path} has no audio samples (length zero)")
    seconds = frames / rate
    if seconds > MAX_AUDIO_SECONDS:
        raise MediaError(
            f"audio file {path} is {seconds:.1f} s long; the limit is "
            f"{MAX_AUDIO_SECONDS:.0f} s ({MAX_AUDIO_SECONDS / 60:.0f} minutes)"
        )


def _check_wav_chunks(path: Path, size: int) -> None:
    """A WAV whose data chunk runs past the end of the file was cut short.

    libsndfile quietly plays what is there, so a half-copied file would otherwise pass.
    Streaming writers leave the size 0 or 0xFFFFFFFF ("unknown"): those are not judged.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return  # not RIFF/WAVE: libsndfile names the problem
        order = "<" if head[:4] == b"RIFF" else ">"
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack(order + "4sI", f.read(8))
            if chunk_id == b"data":
                if chunk_size not in (0, 0xFFFFFFFF) and offset + 8 + chunk_size > size:
                    raise MediaError(
                        f"audio file {path} is truncated: its data chunk declares "
                        f"{chunk_size} bytes, the file holds {size - offset - 8}"
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes


def _read_ffmpeg(path: Path, reason: str) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with the ffmpeg of imageio-ffmpeg, to mono float32."""
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    header = subprocess.run(
        [exe, "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
        check=False,
    ).stderr
    stream = re.search(r"Stream #0:\d+\S*: Audio: [^\n]*?(\d+) Hz", header)
    if stream is None:
        raise MediaError(f"audio file {path} cannot be read as mp3: {reason}")
    rate = int(stream.group(1))
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", header)
    expected = None
    if duration:
        h, m, s = duration.groups()
        expected = int(h) * 3600 + int(m) * 60 + float(s)
        _check_length(path, max(1, round(expected * rate)), rate)
    proc = subprocess.run(
        [exe, "-hide_banner", "-nostdin", "-v", "error", "-i", str(path)]
        + ["-map", "0:a:0", "-ac", "1", "-f", "f32le", "-"],
        capture_output=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.decode("utf-8", "replace").split()[-30:])
        raise MediaError(f"audio file {path} is corrupt: {tail or reason}")
    samples = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
    _check_length(path, len(samples), rate)
    # mp3 headers (Xing/Info) state the length; far fewer samples means the file was cut.
    if expected is not None and len(samples) / rate < 0.95 * expected - 0.1:
        raise MediaError(
            f"audio file {path} is truncated: its header promises {expected:.2f} s, "
            f"the file holds {len(samples) / rate:.2f} s"
        )
    return samples, rate


def _file_key(path: str | Path) -> tuple[str, int, int]:
    resolved = resolve_media_path(path)
    try:
        stat = resolved.stat()
    except OSError:
        raise MediaError(f"audio file {resolved} does not exist") from None
    return str(resolved.resolve()), stat.st_size, stat.st_mtime_ns


# Two tracks: the one in use and the one before it (an hour of 48 kHz audio is 700 MB).
@functools.lru_cache(maxsize=2)
def _load_cached(path: str, size: int, mtime_ns: int) -> tuple[np.ndarray, int]:
    samples, rate = load_audio(path)
    samples.flags.writeable = False  # shared by every caller of the cache
    return samples, rate


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

    def to_dict(self) -> dict:
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
    onset_times = librosa.times_like(strength, sr=ANALYSIS_RATE, hop_length=_HOP)
    found: dict[int, float] = {0: 0.0}
    for t in librosa.frames_to_time(peaks, sr=ANALYSIS_RATE, hop_length=_HOP):
        frame = round(float(t) * fps)
        if frame not in found or (frame == 0 and found[0] == 0.0):
            found[frame] = float(t)
    frames = sorted(found)
    peak = float(strength.max()) if strength.size else 0.0
    return AudioKeyframes(
        frames=tuple(frames),
        timestamps=tuple(found[f] for f in frames),
        fps=float(fps),
        component=component,
        duration=len(samples) / rate,
        onset_times=onset_times.astype(np.float64),
        onset_strength=(strength / peak if peak > 0 else strength).astype(np.float64),
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


# -- from files, cached ----------------------------------------------------------------------


def cached_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """``load_audio`` once per version of the file; the samples are read-only."""
    return _load_cached(*_file_key(path))


def analyse_audio(path: str | Path, fps: float, component: str) -> AudioKeyframes:
    """``onset_keyframes`` of a file; decoded and separated once per version of the file."""
    samples, rate = _load_cached(*_file_key(path))
    return onset_keyframes(samples, rate, fps, component)


def audio_envelope(path: str | Path, component: str, fps: float, frames: int) -> np.ndarray:
    """``frame_envelope`` of a file, shape ``(frames,)``; cached per file version and
    arguments (the plan asks for it on every rerun of a page). Raises ``MediaError``."""
    return _envelope_cached(*_file_key(path), component, float(fps), int(frames)).copy()


@functools.lru_cache(maxsize=8)
def _envelope_cached(
    path: str, size: int, mtime_ns: int, component: str, fps: float, frames: int
) -> np.ndarray:
    samples, rate = _load_cached(path, size, mtime_ns)
    return frame_envelope(samples, rate, fps, frames, component)


def _check_component(component: str) -> None:
    if component not in COMPONENTS:
        raise ValueError(f"component must be one of {', '.join(COMPONENTS)}, got {component!r}")


def _check_fps(fps: float) -> None:
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not np.isfinite(fps):
        raise ValueError(f"fps must be a finite number, got {fps!r}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")


# -- schedules -------------------------------------------------------------------------------

_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")  # studio.languages.schedule's line breaks, kept by split
_DIGITS = re.compile(r"[0-9]+")


def merge_keyframes(
    text: str,
    frames: Iterable[int],
    mode: Literal["add", "move"] = "add",
    keep_seeds_from: int | None = None,
) -> str:
    """Put detected key frames into a schedule's text, keeping what the user wrote.

    ``add``: every frame in ``frames`` that is not yet a keyframe gets a new line
    ``FRAME: prompt``, repeating the prompt (and per-keyframe negative prompt) in force
    there: that of the nearest keyframe at or before it, or of the first keyframe for frames
    before it. So the picture keeps its subject and changes on each beat (each keyframe draws
    its own starting noise), and prompt changes stay where the user put them. A new line goes
    just after the line of the keyframe whose prompt it repeats (before the first keyframe's
    line for earlier frames). Seeds are not copied: a copied seed would make the beat
    invisible.

    ``keep_seeds_from``: the render's base seed (``diffusion.seed``). Keyframes without their
    own ``[seed=N]`` draw ``base + index``, so a line inserted before one would shift its
    index and change how it looks; with a base seed, ``add`` writes each such keyframe's
    current seed onto its line (``N [seed=S]: ...``) when a new line comes before it, so what the user already had stays
    exactly as it was.

    ``move``: every keyframe moves to the nearest frame of ``frames`` after the one the
    previous keyframe moved to (so order is kept and no two meet); a keyframe with no such
    frame left stays where it is, or goes just after the previous one. Only the frame
    numbers on the keyframe lines change.

    Everything else (comments, blank lines, the ``negative:`` line, line endings, the order
    of lines) is kept. Frames outside ``0 .. studio.languages.schedule.MAX_FRAME`` are ignored.

    Returns the new text, which ``parse_schedule`` reads. Raises ``ScheduleError`` if
    ``text`` itself does not parse, ``ValueError`` for an unknown mode.
    """
    from studio.languages.schedule import (
        MAX_FRAME,
        Keyframe,
        PromptSchedule,
        format_schedule,
        parse_schedule,
    )

    if mode not in ("add", "move"):
        raise ValueError(f"mode must be 'add' or 'move', got {mode!r}")
    schedule = parse_schedule(text)
    wanted = sorted({int(f) for f in frames if 0 <= int(f) <= MAX_FRAME})
    parts = _LINE_BREAK.split(text)
    lines, breaks = parts[0::2], parts[1::2] + [""]  # line i ends with breaks[i]
    newline = breaks[0] or "\n"
    keys = schedule.keyframes

    if mode == "move":
        previous = -1
        for key in keys:
            later = [f for f in wanted if f > previous]
            if later:
                target = min(later, key=lambda f: (abs(f - key.frame), f))
            else:
                target = max(key.frame, previous + 1)
            if target > MAX_FRAME:
                raise ScheduleError(
                    f"no room to move frame {key.frame} after frame {previous}",
                    key.line,
                    1,
                )
            lines[key.line - 1] = _with_frame(lines[key.line - 1], target)
            previous = target
        return "".join(line + brk for line, brk in zip(lines, breaks, strict=True))

    existing = {k.frame for k in keys}
    added = [f for f in wanted if f not in existing]
    if keep_seeds_from is not None and added:
        for index, key in enumerate(keys):
            # Only keyframes after the first new line move to a later index.
            if key.seed is None and key.frame > added[0]:
                seed = (keep_seeds_from + index) % 2**63
                lines[key.line - 1] = _with_seed(lines[key.line - 1], seed)
    before_first: list[str] = []
    after: dict[int, list[str]] = {}  # source line number -> new lines, in frame order
    for frame in wanted:
        if frame in existing:
            continue
        in_force = [k for k in keys if k.frame <= frame]
        source = in_force[-1] if in_force else keys[0]
        new = Keyframe(frame=frame, prompt=source.prompt, negative=source.negative)
        line = format_schedule(PromptSchedule((new,))).rstrip("\n")
        if in_force:
            after.setdefault(source.line, []).append(line)
        else:
            before_first.append(line)
    out: list[str] = []
    for number, (line, brk) in enumerate(zip(lines, breaks, strict=True), start=1):
        if number == keys[0].line:
            out.extend(new + newline for new in before_first)
        out.append(line)
        if number in after:
            out.append(brk or newline)
            out.extend(new + newline for new in after[number][:-1])
            out.append(after[number][-1] + (brk if brk else ""))
        else:
            out.append(brk)
    return "".join(out)


def _frame_span(line: str) -> tuple[int, int]:
    """Where a parsed keyframe line's frame number starts and ends (after leading blanks)."""
    start = len(line) - len(line.lstrip())
    digits = _DIGITS.match(line, start)
    assert digits is not None, "a parsed keyframe line starts with its frame"
    return start, digits.end()


def _with_seed(line: str, seed: int) -> str:
    """A keyframe line (without a seed) with ``[seed=N]`` written after its frame number."""
    _, end = _frame_span(line)
    return line[:end] + f" [seed={seed}]" + line[end:]


def _with_frame(line: str, frame: int) -> str:
    """A keyframe line with its frame number replaced (the first token after blanks)."""
    start, end = _frame_span(line)
    return line[:start] + str(frame) + line[end:]
