"""ffmpeg: the one place that finds the executable, runs it and reads what it says.

The ffmpeg used is the one inside the ``imageio-ffmpeg`` wheel (``ffmpeg_exe``), so no system
ffmpeg is needed. Everything else in ``studio.media`` goes through this module:

- ``run`` runs one pass that reads and writes files (probing, muxing, palette passes,
  decoding audio to a pipe) with stderr in a temporary file, never a pipe nobody reads;
- ``Encoder`` is a long-lived process fed raw RGB frames on stdin (the mp4 and gif writers);
- ``read_frames`` streams decoded RGB frames out of a file (video input, output readers);
- ``parse_header`` reads duration, frame rate, size and streams from the log of ``-i FILE``;
- ``reason`` turns a log into the one line a ``MediaError`` quotes.

Nothing here knows what the file is for: callers build their messages (naming the file and
what they were doing) around ``reason``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np

from studio.errors import MediaError

__all__ = [
    "Encoder",
    "Header",
    "Result",
    "ffmpeg_command",
    "ffmpeg_exe",
    "frames_counted",
    "parse_header",
    "raw_rgb_input",
    "read_frames",
    "reason",
    "run",
]

# Lines of a log quoted by ``reason`` unless the caller asks for fewer.
REASON_LINES = 12
# The end of a log is where ffmpeg says why it stopped; earlier lines are the header.
_TAIL_BYTES = 8192


def ffmpeg_exe() -> str:
    """Path of the ffmpeg executable (tests replace this to simulate a failing ffmpeg)."""
    import imageio_ffmpeg  # lazily: the dashboard imports studio.media at start-up

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_command(loglevel: str = "error") -> list[str]:
    """``[exe, ...]``: no banner, no stdin prompts, ``loglevel``, overwrite outputs."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", loglevel, "-y"]


@dataclass(frozen=True)
class Result:
    """One finished ffmpeg pass: exit status, stderr text and (when asked for) stdout bytes."""

    returncode: int
    log: str
    output: bytes = b""


def run(
    args: list[str],
    *,
    what: str,
    loglevel: str = "error",
    timeout: float | None = None,
    check: bool = True,
    capture_output: bool = False,
    path: Path | None = None,
) -> Result:
    """Run one ffmpeg pass over files (stdin is closed) and return what it said.

    Args:
        args: everything after the common options of ``ffmpeg_command``.
        what: what the pass does, for messages (``"encoding a.gif"``).
        loglevel: ``error`` for passes whose log is only read on failure, ``info`` to read
            the header and the ``frame=`` counter.
        timeout: seconds, or None for no limit.
        check: raise when ffmpeg exits with a non-zero status.
        capture_output: keep stdout (e.g. decoded samples on ``pipe:1``) in ``Result.output``.
        path: the input file, left out of quoted log lines (the message names it already).

    Raises:
        MediaError: ffmpeg cannot start, runs past ``timeout``, or (``check``) fails; the
            message says ``what`` and ends with ``reason`` of the log.
    """
    stdout = subprocess.PIPE if capture_output else subprocess.DEVNULL
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                [*ffmpeg_command(loglevel), *args],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=err,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            log = _read_tail(err)
            raise MediaError(
                f"ffmpeg took over {timeout:g} s {what}: {reason(log, path)}"
            ) from None
        except OSError as exc:
            raise MediaError(f"could not start ffmpeg ({what}): {exc}") from exc
        log = _read_all(err)
    if check and proc.returncode != 0:
        raise MediaError(
            f"ffmpeg failed {what} (exit status {proc.returncode}): {reason(log, path)}"
        )
    return Result(proc.returncode, log, proc.stdout or b"")


class Encoder:
    """An ffmpeg process reading raw frames from stdin and writing a file.

    stderr goes to an anonymous temporary file: a pipe nobody reads could fill up and
    deadlock ffmpeg while we block writing to its stdin. Not thread-safe.
    """

    def __init__(self, args: list[str], *, what: str) -> None:
        """``args``: after the common options, e.g. ``raw_rgb_input(...) + [..., out]``."""
        self.what = what
        # Held open for the life of the process; finish() or kill() closes it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [*ffmpeg_command(), *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
            )
        except OSError as exc:
            self._stderr.close()
            raise MediaError(f"could not start ffmpeg ({what}): {exc}") from exc

    def write(self, frame: np.ndarray) -> None:
        """Send one C-contiguous frame; raises ``MediaError`` if ffmpeg has exited."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(frame.data)
        except OSError as exc:  # BrokenPipeError: ffmpeg has exited
            raise self._failure(wait=True) from exc

    def finish(self) -> None:
        """Close stdin, wait for ffmpeg to write the file, raise ``MediaError`` if it failed."""
        assert self._proc.stdin is not None
        # An OSError here means ffmpeg exited early; its exit status and stderr say why.
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        if self._proc.wait() != 0:
            raise self._failure(wait=False)
        self._stderr.close()

    def kill(self) -> None:
        """Stop ffmpeg at once (its output is the caller's to remove)."""
        if self._proc.poll() is None:
            self._proc.kill()
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):  # the pipe is broken: ffmpeg is gone
                self._proc.stdin.close()
        self._proc.wait()
        self._stderr.close()

    def _failure(self, *, wait: bool) -> MediaError:
        if wait:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        return MediaError(
            f"ffmpeg failed {self.what} (exit status {self._proc.returncode}): "
            + reason(_read_tail(self._stderr))
        )


def raw_rgb_input(width: int, height: int, fps: float) -> list[str]:
    """ffmpeg input options for raw RGB24 frames of ``width``x``height`` on stdin at ``fps``."""
    rate = Fraction(fps).limit_denominator(1001)
    size = f"{width}x{height}"
    framerate = f"{rate.numerator}/{rate.denominator}"
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-framerate", framerate, "-i", "-"]


def read_frames(
    path: Path, output_params: list[str], *, what: str, size: tuple[int, int] | None = None
) -> tuple[tuple[int, int], Iterator[np.ndarray]]:
    """Open ``path`` for decoding to RGB24 and return ``((width, height), frames)``.

    ``frames`` yields read-only ``(height, width, 3)`` uint8 views of ffmpeg's buffers, one
    at a time (copy to keep one); closing it early stops ffmpeg. ``output_params`` go after
    the input (``-fps_mode passthrough``, ``-vf scale=...``); with ``size`` given, ffmpeg's
    warning that it differs from the source is expected and kept quiet, and a different size
    out of ffmpeg is an error. Raises ``MediaError`` starting with "ffmpeg could not read
    ``what``" when the file cannot be opened or decoding fails.
    """
    import imageio_ffmpeg

    logger = logging.getLogger("imageio_ffmpeg")
    quiet = _DropSizeWarning()
    if size is not None:
        logger.addFilter(quiet)  # it warns that we asked for another size, which we did on purpose
    try:
        reader = imageio_ffmpeg.read_frames(str(path), output_params=output_params)
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as exc:
        raise MediaError(f"ffmpeg could not read {what}: {exc}") from None
    finally:
        logger.removeFilter(quiet)
    width, height = meta["size"]
    if size is not None and (width, height) != tuple(size):
        reader.close()
        raise MediaError(f"ffmpeg gave {what} at {meta['size']}, not {tuple(size)}")

    def frames() -> Iterator[np.ndarray]:
        try:
            for buffer in reader:
                yield np.frombuffer(buffer, np.uint8).reshape(height, width, 3)
        except (OSError, RuntimeError) as exc:
            raise MediaError(f"ffmpeg could not read {what}: {exc}") from None
        finally:
            reader.close()

    return (width, height), frames()


class _DropSizeWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "different from the source frame size" not in record.getMessage()


# -- reading logs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """What the log of ``ffmpeg -i FILE`` says about the file's first streams.

    ``video``: the description of the first video stream (``"h264 (High) ..., 32x32, 30 fps,
    ..."``) or None; ``width``/``height``/``fps`` are read from it (None where it does not
    say). ``duration`` in seconds or None. ``audio_rate``: Hz of the first audio stream, or
    None when there is no audio stream (``has_audio``).
    """

    video: str | None
    width: int | None
    height: int | None
    fps: float | None
    duration: float | None
    has_audio: bool
    audio_rate: int | None


def parse_header(log: str) -> Header:
    """Read a ``Header`` from an ffmpeg log (``loglevel`` info); missing facts are None.

    Only the part before ``Stream mapping:`` is read, so an output's streams are never
    mistaken for the input's.
    """
    header = log.split("Stream mapping:", 1)[0]
    video = re.search(r"Stream #0:\d+\S*: Video: (.*)", header)
    width = height = fps = None
    if video is not None:
        description = video.group(1)
        size = re.search(r", (\d+)x(\d+)[ ,\[]", description + " ")
        if size is not None:
            width, height = int(size.group(1)), int(size.group(2))
        fps = _rate(description, "fps") or _rate(description, "tbr")
    audio = re.search(r"Stream #0:\d+\S*: Audio: [^\n]*", header)
    rate = audio and re.search(r"(\d+) Hz", audio.group(0))
    return Header(
        video=None if video is None else video.group(1),
        width=width,
        height=height,
        fps=fps,
        duration=_duration(header),
        has_audio=audio is not None,
        audio_rate=int(rate.group(1)) if rate else None,
    )


def frames_counted(log: str) -> int:
    """The last ``frame=`` count of an ffmpeg progress log; 0 when it has none."""
    counted = re.findall(r"frame=\s*(\d+)", log)
    return int(counted[-1]) if counted else 0


def reason(log: str, path: Path | str | None = None, lines: int = REASON_LINES) -> str:
    """The last ``lines`` meaningful lines of an ffmpeg log, on one line (`` | `` between).

    Progress lines (``frame=...``) and ffmpeg's closing hints are left out. The message
    around this names the file already, so ffmpeg's ``PATH: `` prefixes are cut and lines
    that only repeat ``path`` ("Error opening input file PATH.") are dropped.
    """
    name = None if path is None else str(path)
    kept = []
    for line in re.split(r"[\r\n]+", log):
        line = line.strip()
        if name is not None:
            line = line.removeprefix(f"{name}: ")
            if name in line:
                continue
        if line and not line.startswith(("frame=", "At least one output")):
            kept.append(line)
    return " | ".join(kept[-lines:]) or "(ffmpeg said nothing)"


def _rate(stream: str, unit: str) -> float | None:
    m = re.search(rf"(\d+(?:\.\d+)?)(k?) {unit}\b", stream)
    if m is None:
        return None
    return float(m.group(1)) * (1000 if m.group(2) else 1)


def _duration(header: str) -> float | None:
    m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", header)
    if m is None:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _read_all(stream: IO[bytes]) -> str:
    stream.flush()
    stream.seek(0)
    return stream.read().decode("utf-8", "replace")


def _read_tail(stream: IO[bytes]) -> str:
    stream.flush()
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(0, size - _TAIL_BYTES))
    return stream.read().decode("utf-8", "replace")
