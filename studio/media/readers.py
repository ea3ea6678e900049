"""Readers for what the writers write: stream the frames of an output back, or describe it.

``read_frames`` and ``probe`` take an mp4 or gif (any video ffmpeg reads) or a png frame
folder (``frame_000000.png``, ...), the three forms of ``studio.media.writers``. Frames are
streamed one at a time, never held all in memory; ffmpeg is run through
``studio.media.ffmpeg``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import MediaError
from studio.media import ffmpeg

__all__ = ["probe", "read_frames"]

_PNG_FRAME = re.compile(r"^frame_(\d+)\.png$")


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """Stream the frames of an mp4 / gif (any video ffmpeg reads) or a png frame folder.

    Yields writable (H, W, 3) uint8 RGB arrays, one at a time, in stored order (no frame is
    duplicated or dropped to fit a frame rate).

    Raises:
        MediaError: the path does not exist, is a folder with no ``frame_*.png``, holds frames
            of different sizes, or ffmpeg cannot read it.
    """
    path = Path(path)
    if path.is_dir():
        return _read_png_folder(path)
    if not path.is_file():
        raise MediaError(f"no such media file: {str(path)!r}")
    # passthrough: every stored frame once, whatever the container's frame rate says.
    _, frames = ffmpeg.read_frames(path, ["-fps_mode", "passthrough"], what=repr(str(path)))
    return (frame.copy() for frame in frames)


def probe(path: Path) -> dict[str, Any]:
    """Describe a video file or png frame folder without decoding its frames.

    Returns ``{"frames", "fps", "width", "height", "has_audio", "duration"}``; ``duration``
    is in seconds. A png folder has no rate: its ``fps`` and ``duration`` are ``None``. A
    GIF's ``fps`` is its mean playback rate (frames / duration), since its frame delays are
    whole centiseconds.

    Raises:
        MediaError: the path does not exist, has no video stream, or ffmpeg cannot read it.
    """
    path = Path(path)
    if path.is_dir():
        return _probe_png_folder(path)
    if not path.is_file():
        raise MediaError(f"no such media file: {str(path)!r}")
    return _probe_video(path)


def _png_frames(folder: Path) -> list[Path]:
    numbered = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _PNG_FRAME.match(p.name))]
    if not numbered:
        raise MediaError(f"no frame_*.png files in {str(folder)!r}")
    return [p for _, p in sorted(numbered)]


def _read_png_folder(folder: Path) -> Iterator[np.ndarray]:
    from PIL import Image

    files = _png_frames(folder)  # checked now, before the first next()

    def frames() -> Iterator[np.ndarray]:
        size = None
        for file in files:
            try:
                with Image.open(file) as image:
                    array = np.asarray(image.convert("RGB")).copy()
            except OSError as exc:
                raise MediaError(f"could not read {file}: {exc}") from exc
            if size is not None and array.shape != size:
                raise MediaError(f"{file} has shape {array.shape}, earlier frames {size}")
            size = array.shape
            yield array

    return frames()


def _probe_png_folder(folder: Path) -> dict[str, Any]:
    from PIL import Image

    files = _png_frames(folder)
    try:
        with Image.open(files[0]) as image:
            width, height = image.size
    except OSError as exc:
        raise MediaError(f"could not read {files[0]}: {exc}") from exc
    return {
        "frames": len(files),
        "fps": None,
        "width": width,
        "height": height,
        "has_audio": False,
        "duration": None,
    }


def _probe_video(path: Path) -> dict[str, Any]:
    # Stream-copy into the null muxer: ffmpeg prints the header and counts every packet
    # without decoding a frame.
    log = ffmpeg.run(
        ["-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
        what=f"reading {path.name}",
        timeout=300,
        loglevel="info",
    ).log
    header = ffmpeg.parse_header(log)
    frames = ffmpeg.frames_counted(log)
    if header.video is None or header.width is None or "frame=" not in log:
        raise MediaError(
            f"could not read the video stream of {str(path)!r}: {ffmpeg.reason(log, path)}"
        )
    duration = header.duration
    if header.video.startswith("gif") and duration:
        fps = round(frames / duration, 3)
    else:
        fps = header.fps
        if fps is None and duration:
            fps = round(frames / duration, 3)
    if duration is None and fps:
        duration = frames / fps
    return {
        "frames": frames,
        "fps": fps,
        "width": header.width,
        "height": header.height,
        "has_audio": header.has_audio,
        "duration": duration,
    }
