"""Streaming frame writers (MP4, GIF, PNG folder); ``studio.media.readers`` reads them back.

A writer takes frames one at a time and sends each to disk (or to an ffmpeg process that
writes to disk) at once: a whole video is never held in memory. Every file appears at its
final path only when it is complete: writers work under hidden temporary names in the same
folder and rename at the end, so a crash or an ``abort()`` never leaves a half file behind.
Every writer also scores how evenly its frames move (``studio.media.smoothness``); the
``OutputFile`` that ``close()`` returns carries the score.

    writer = open_writer(Path("out/anim.mp4"), "mp4", fps=12, width=512, height=512)
    try:
        for frame in frames:          # (512, 512, 3) uint8 each
            writer.write(frame)
        output = writer.close()       # studio.events.OutputFile
    except BaseException:
        writer.abort()                # removes every partial file; a no-op after close()
        raise

ffmpeg (the one inside the ``imageio-ffmpeg`` wheel) is run through ``studio.media.ffmpeg``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import secrets
from pathlib import Path
from typing import Protocol

import numpy as np

from studio.errors import MediaError
from studio.events import OutputFile
from studio.media import ffmpeg
from studio.media.smoothness import SmoothnessMeter

__all__ = ["FORMATS", "FrameWriter", "mux_audio", "mux_soundtrack", "open_writer"]

FORMATS = ("mp4", "gif", "png")

# GIF delays are whole centiseconds, and browsers play delays under 2 cs as 10 cs.
GIF_MAX_FPS = 50.0

# x264 output depends on its thread count, so a fixed count keeps files byte-identical across
# machines; four threads encode far faster than any diffusion model makes frames.
_X264_THREADS = 4
_X264_CRF = 18
_X264_PRESET = "medium"

# Flags that keep every byte of the output a function of the frames alone: no library
# version strings, no creation times, no metadata copied from the input.
_BITEXACT = ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"]


class FrameWriter(Protocol):
    """Writes frames of one size, one at a time, to one output.

    Not thread-safe: one producer calls ``write`` and then ``close`` or ``abort``.
    """

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame; raises ``MediaError`` for any other shape."""

    def close(self) -> OutputFile:
        """Finish the output, move it to its path and describe it.

        Raises ``MediaError`` when no frame was written or ffmpeg fails; the partial files
        are removed first.
        """

    def abort(self) -> None:
        """Stop and remove every partial file. A no-op once closed or aborted."""


def open_writer(path: Path, fmt: str, *, fps: float, width: int, height: int) -> FrameWriter:
    """Open a streaming writer for ``fmt`` at ``path``.

    Args:
        path: the output file (``mp4``: ``*.mp4``, ``gif``: ``*.gif``; an existing file is
            replaced atomically at ``close``) or, for ``png``, a folder that does not exist
            yet or is empty. Missing parent folders are created.
        fmt: one of ``FORMATS``.
        fps: frames per second, > 0 (at most ``GIF_MAX_FPS`` for GIF, whose frame delays are
            whole centiseconds: rates that do not divide 100 get alternating delays).
        width, height: frame size in pixels; even for mp4 (yuv420p halves the chroma planes).

    Raises:
        MediaError: naming the bad value, for an unknown format, a bad fps or size, a path
            suffix that does not match the format, or an occupied png folder.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise MediaError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps):
        raise MediaError(f"fps must be a finite number, got {fps!r}")
    if fps <= 0:
        raise MediaError(f"fps must be positive, got {fps!r}")
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise MediaError(f"{name} must be a positive integer, got {value!r}")
    width, height = int(width), int(height)
    if fmt == "png":
        return _PngWriter(path, fps=fps, width=width, height=height)
    if path.suffix.lower() != f".{fmt}":
        raise MediaError(f"a {fmt} output needs a .{fmt} file name, got {str(path)!r}")
    if path.is_dir():
        raise MediaError(f"{fmt} output path is a folder: {str(path)!r}")
    if fmt == "mp4":
        if width % 2 or height % 2:
            raise MediaError(
                f"mp4 (H.264, yuv420p) needs an even width and height, got {width}x{height}"
            )
        return _Mp4Writer(path, fps=fps, width=width, height=height)
    if fps > GIF_MAX_FPS:
        raise MediaError(f"gif fps must be at most {GIF_MAX_FPS:g}, got {fps!r}")
    return _GifWriter(path, fps=fps, width=width, height=height)


def mux_audio(output: OutputFile, source: Path) -> OutputFile:
    """Put the first audio stream of ``source`` into the finished MP4 ``output``.

    The track starts with frame 0 (its first sample plays with the first frame, whatever
    start time its container gives it) and lasts exactly as long as the video,
    ``output.frames / output.fps`` seconds: cut where longer, padded with silence where
    shorter. The video stream is copied, not re-encoded; the audio becomes AAC at 192 kb/s.
    The file is rewritten under a temporary name and renamed over ``output.path``, so it is
    never seen half-written.

    Args:
        output: what an mp4 writer's ``close()`` returned.
        source: an audio file (wav, mp3, ogg, flac, ...) or a video with sound.

    Returns:
        ``output`` with ``has_audio=True``.

    Raises:
        MediaError: ``output`` is not an MP4, ``source`` does not exist or has no audio
            stream, or ffmpeg fails; ``output.path`` is then left as it was.
    """
    if output.kind != "mp4":
        raise MediaError(f"only mp4 output can carry audio, got {output.kind} ({output.path})")
    source = Path(source)
    if not source.is_file():
        raise MediaError(f"audio source {str(source)!r} does not exist")
    path = Path(output.path)
    duration = output.frames / output.fps
    tmp = _temp_sibling(path, "audio.mp4")
    try:
        ffmpeg.run(
            ["-i", str(path), "-i", str(source), "-map", "0:v:0", "-map", "1:a:0"]
            + ["-c:v", "copy", "-c:a", "aac", "-b:a", "192k"]
            # Restart the track's clock at 0 (frame 0), pad it with silence, then cut both
            # streams at the end of the last frame.
            + ["-af", "asetpts=PTS-STARTPTS,apad", "-t", f"{duration:.6f}"]
            + [*_BITEXACT, "-flags:a", "+bitexact", "-movflags", "+faststart"]
            + ["-f", "mp4", str(tmp)],
            what=f"adding the audio of {source.name} to {path.name}",
        )
        _commit(tmp, path)
    except MediaError as exc:
        _unlink(tmp)
        if "matches no streams" in str(exc):
            raise MediaError(
                f"{str(source)!r} has no audio stream to put into {path.name}"
            ) from None
        raise
    except BaseException:
        _unlink(tmp)
        raise
    return dataclasses.replace(output, has_audio=True)


def mux_soundtrack(output: OutputFile, track: str, uses: str) -> tuple[OutputFile, list[str]]:
    """A render's soundtrack ``track`` (a spec's path, ``resolve_media_path`` rules) into its
    finished ``output``: ``(output, notes)``. MP4 gets the track (``mux_audio``); GIF and PNG
    cannot carry sound, so they are left as they are and a note says so, and what the track
    still does (``uses``, e.g. "drives timing and curves")."""
    if output.kind != "mp4":
        return output, [
            f"{output.kind.upper()} output has no sound, so the audio track was not added "
            f"(it still {uses}); choose mp4 to hear it"
        ]
    from studio.media.paths import resolve_media_path

    return mux_audio(output, resolve_media_path(track)), []


# --- writers ------------------------------------------------------------------------------


class _Writer:
    """Shared bookkeeping: frame checks, the open/closed/aborted state, context manager."""

    kind = ""

    def __init__(self, path: Path, *, fps: float, width: int, height: int) -> None:
        self.path = path
        self.fps = float(fps)
        self.width = width
        self.height = height
        self.frames = 0
        self._state = "open"  # open | closed | aborted
        self._smoothness = SmoothnessMeter()  # every render kind is scored here, once

    def write(self, frame: np.ndarray) -> None:
        if self._state != "open":
            raise MediaError(f"cannot write to a {self._state} {self.kind} writer ({self.path})")
        expected = (self.height, self.width, 3)
        if not isinstance(frame, np.ndarray) or frame.shape != expected:
            got = frame.shape if isinstance(frame, np.ndarray) else type(frame).__name__
            raise MediaError(f"frame must have shape {expected}, got {got}")
        if frame.dtype != np.uint8:
            raise MediaError(f"frame must be uint8, got {frame.dtype}")
        try:
            self._write(np.ascontiguousarray(frame))
        except BaseException:
            # A writer that failed mid-frame cannot be trusted to finish a valid file.
            self.abort()
            raise
        self.frames += 1
        self._smoothness.add(frame)

    def close(self) -> OutputFile:
        if self._state != "open":
            raise MediaError(f"cannot close a {self._state} {self.kind} writer ({self.path})")
        if self.frames == 0:
            self.abort()
            raise MediaError(f"no frames were written to {self.path}")
        try:
            self._finish()
        except BaseException:
            self.abort()
            raise
        self._state = "closed"
        return OutputFile(
            path=self.path,
            kind=self.kind,
            frames=self.frames,
            fps=self.fps,
            width=self.width,
            height=self.height,
            smoothness=self._smoothness.facts(),
        )

    def abort(self) -> None:
        if self._state != "open":
            return
        self._state = "aborted"
        self._cleanup()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        # Leaving the block by an exception must not leave partial files; leaving it normally
        # finishes the file (call close() inside the block to get the OutputFile).
        if exc_type is not None:
            self.abort()
        elif self._state == "open":
            self.close()

    def _write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _cleanup(self) -> None:
        raise NotImplementedError


class _Mp4Writer(_Writer):
    """H.264 (libx264, yuv420p, BT.709) in MP4, encoded by one ffmpeg fed through stdin."""

    kind = "mp4"

    def __init__(self, path: Path, *, fps: float, width: int, height: int) -> None:
        super().__init__(path, fps=fps, width=width, height=height)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = _temp_sibling(path, "part.mp4")
        self._encoder = ffmpeg.Encoder(
            [
                *ffmpeg.raw_rgb_input(width, height, fps),
                "-an",
                # Tag and convert with the same matrix so players show the colours written.
                "-vf",
                "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv,"
                "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
                "-c:v",
                "libx264",
                "-preset",
                _X264_PRESET,
                "-crf",
                str(_X264_CRF),
                "-threads",
                str(_X264_THREADS),
                *_BITEXACT,
                "-movflags",
                "+faststart",
                "-f",
                "mp4",
                str(self._tmp),
            ],
            what=f"encoding {path.name}",
        )

    def _write(self, frame: np.ndarray) -> None:
        self._encoder.write(frame)

    def _finish(self) -> None:
        self._encoder.finish()
        _commit(self._tmp, self.path)

    def _cleanup(self) -> None:
        self._encoder.kill()
        _unlink(self._tmp)


class _GifWriter(_Writer):
    """Looping GIF with a palette fitted to the whole animation, in bounded memory.

    Frames stream into a lossless FFV1 intermediate; ``close`` then runs two ffmpeg passes
    over it (palettegen, then paletteuse), each reading the frames one at a time.
    """

    kind = "gif"

    def __init__(self, path: Path, *, fps: float, width: int, height: int) -> None:
        super().__init__(path, fps=fps, width=width, height=height)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = _temp_sibling(path, "part.gif")
        self._lossless = _temp_sibling(path, "part.mkv")
        self._palette = _temp_sibling(path, "palette.png")
        self._encoder = ffmpeg.Encoder(
            [*ffmpeg.raw_rgb_input(width, height, fps), "-an", "-c:v", "ffv1", "-f", "matroska"]
            + [str(self._lossless)],
            what=f"buffering frames for {path.name}",
        )

    def _write(self, frame: np.ndarray) -> None:
        self._encoder.write(frame)

    def _finish(self) -> None:
        self._encoder.finish()
        ffmpeg.run(
            ["-i", str(self._lossless), "-vf", "palettegen=stats_mode=full"]
            + ["-frames:v", "1", "-c:v", "png", "-f", "image2", str(self._palette)],
            what=f"making the palette for {self.path.name}",
        )
        ffmpeg.run(
            ["-i", str(self._lossless), "-i", str(self._palette)]
            # diff_mode=rectangle re-dithers only what changed, so still areas do not shimmer.
            + ["-lavfi", "[0:v][1:v]paletteuse=dither=sierra2_4a:diff_mode=rectangle"]
            + ["-loop", "0", *_BITEXACT, "-f", "gif", str(self._tmp)],
            what=f"encoding {self.path.name}",
        )
        _commit(self._tmp, self.path)
        _unlink(self._lossless)
        _unlink(self._palette)

    def _cleanup(self) -> None:
        self._encoder.kill()
        for tmp in (self._tmp, self._lossless, self._palette):
            _unlink(tmp)


class _PngWriter(_Writer):
    """A folder of ``frame_000000.png``, ``frame_000001.png``, ... each renamed into place."""

    kind = "png"

    def __init__(self, path: Path, *, fps: float, width: int, height: int) -> None:
        super().__init__(path, fps=fps, width=width, height=height)
        if path.exists() and not path.is_dir():
            raise MediaError(f"png output must be a folder, but a file is there: {str(path)!r}")
        self._created = not path.exists()
        if not self._created and any(path.iterdir()):
            raise MediaError(f"png output folder is not empty: {str(path)!r}")
        path.mkdir(parents=True, exist_ok=True)
        self._written: list[Path] = []

    def _write(self, frame: np.ndarray) -> None:
        from PIL import Image  # lazily: the dashboard imports this module at start-up

        final = self.path / f"frame_{self.frames:06d}.png"
        tmp = self.path / f".frame_{self.frames:06d}.part.png"
        try:
            Image.fromarray(frame).save(tmp, format="PNG")
            _commit(tmp, final)
        except OSError as exc:
            _unlink(tmp)
            raise MediaError(f"could not write {final}: {exc}") from exc
        self._written.append(final)

    def _finish(self) -> None:
        pass

    def _cleanup(self) -> None:
        for frame in self._written:
            _unlink(frame)
        for tmp in self.path.glob(".frame_*.part.png"):
            _unlink(tmp)
        if self._created:
            # If something else was put there meanwhile, it is not ours to delete.
            with contextlib.suppress(OSError):
                self.path.rmdir()


# --- files --------------------------------------------------------------------------------


def _temp_sibling(path: Path, suffix: str) -> Path:
    """A hidden, unique name next to ``path``: same folder, so the final rename is atomic."""
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.{suffix}")


def _commit(tmp: Path, final: Path) -> None:
    """Flush ``tmp`` to disk, then atomically rename it onto ``final``."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


def _unlink(path: Path) -> None:
    # Best effort: cleanup must not hide the error that caused it.
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
