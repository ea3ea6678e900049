"""Audio decoding: read a soundtrack to mono samples, or say exactly why it cannot be read.

libsndfile (through soundfile) reads wav, flac, ogg and most mp3; an mp3 it cannot read gets a
second try with ffmpeg (``studio.media.ffmpeg``). soundfile is imported lazily, so the
dashboard starts without it. Paths follow ``studio.media.paths.resolve_media_path``.

Bad media raises ``studio.errors.MediaError`` naming the file and the problem: a missing or
empty file, a format other than ``AUDIO_SUFFIXES``, a file the decoder cannot read (not audio,
corrupt), a truncated file (fewer samples than its header promises), no samples at all, or
a track longer than ``MAX_AUDIO_SECONDS`` (one hour: the analysis in ``studio.audio`` holds
the whole track and its spectrogram in memory).

Decoded tracks are cached per version of the file (path, size, modification time):
``check_audio`` and ``cached_audio`` decode a file once however often a page reruns.
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from studio.errors import MediaError
from studio.media import ffmpeg
from studio.media.paths import resolve_media_path

__all__ = [
    "AUDIO_SUFFIXES",
    "MAX_AUDIO_SECONDS",
    "cached_audio",
    "check_audio",
    "file_version",
    "load_audio",
    "without_mpg123_xing_warning",
]

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac")
MAX_AUDIO_SECONDS = 3600.0

# libmpg123, built into libsndfile, prints this on the process's stderr when an MP3's Xing
# header states another size than the file holds (joined tracks, tags after the audio). The
# file decodes fine, and libsndfile offers no way to pass mpg123 its quiet flag.
_MPG123_XING_WARNING = b"Warning: Xing stream size off by more than 1%"
# File descriptor 2 is one per process: two threads swapping it at once would lose it.
_STDERR_SWAP = threading.Lock()


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
    _load_cached(*file_version(path))


class _Unreadable(Exception):
    """libsndfile could not open or decode the file (message: libsndfile's)."""


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    if path.suffix.lower() == ".mp3":
        with without_mpg123_xing_warning():
            return _read_soundfile_blocks(path)
    return _read_soundfile_blocks(path)


@contextlib.contextmanager
def without_mpg123_xing_warning() -> Iterator[None]:
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
    """Decode the first audio stream with ffmpeg, to mono float32 at the file's own rate."""
    # No output named: ffmpeg prints the header and exits with an error, which is expected.
    log = ffmpeg.run(
        ["-i", str(path)], what=f"reading {path.name}", loglevel="info", timeout=60, check=False
    ).log
    header = ffmpeg.parse_header(log)
    if header.audio_rate is None:
        raise MediaError(f"audio file {path} cannot be read as mp3: {reason}")
    rate = header.audio_rate
    expected = header.duration
    if expected is not None:
        _check_length(path, max(1, round(expected * rate)), rate)
    decoded = ffmpeg.run(
        ["-i", str(path), "-map", "0:a:0", "-ac", "1", "-f", "f32le", "-"],
        what=f"decoding {path.name}",
        timeout=600,
        check=False,
        capture_output=True,
    )
    if decoded.returncode != 0:
        raise MediaError(f"audio file {path} is corrupt: {ffmpeg.reason(decoded.log, path, 3)}")
    samples = np.frombuffer(decoded.output, dtype="<f4").astype(np.float32)
    _check_length(path, len(samples), rate)
    # mp3 headers (Xing/Info) state the length; far fewer samples means the file was cut.
    if expected is not None and len(samples) / rate < 0.95 * expected - 0.1:
        raise MediaError(
            f"audio file {path} is truncated: its header promises {expected:.2f} s, "
            f"the file holds {len(samples) / rate:.2f} s"
        )
    return samples, rate


def file_version(path: str | Path) -> tuple[str, int, int]:
    """``(absolute path, size, mtime_ns)`` of a spec's audio path: a cache key that changes
    when the file does. Raises ``MediaError`` if there is no such file."""
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


def cached_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """``load_audio`` once per version of the file; the samples are read-only."""
    return _load_cached(*file_version(path))
