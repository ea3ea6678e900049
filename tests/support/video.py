"""Small video files for tests: frames whose red channel tells their index, and bad files."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np

__all__ = ["bad_file", "index_of", "make_video"]


def make_video(path: Path, frames: int, fps: float, width: int = 32, height: int = 32) -> Path:
    """A lossless video whose frame i has red = 8 * i, so a decoded frame tells its index."""
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        macro_block_size=1,
        quality=None,
        output_params=["-crf", "0", "-pix_fmt", "yuv444p"],
        pix_fmt_out="yuv444p",
        ffmpeg_log_level="error",
    )
    writer.send(None)
    for i in range(frames):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[..., 0] = 8 * i
        writer.send(frame)
    writer.close()
    return path


def index_of(frame: np.ndarray) -> int:
    """The index ``make_video`` wrote into ``frame``."""
    return round(float(frame[..., 0].mean()) / 8)


def bad_file(folder: Path, kind: str) -> Path:
    """A file in ``folder`` that is not a usable video: ``empty``, ``text``, ``truncated``,
    ``huge`` (too wide to decode), or anything else for one that does not exist."""
    if kind == "empty":
        path = folder / "empty.mp4"
        path.write_bytes(b"")
    elif kind == "text":
        path = folder / "notes.mp4"
        path.write_text("this is a shopping list, not a video\n" * 40)
    elif kind == "truncated":
        whole = make_video(folder / "whole.mp4", 30, 30).read_bytes()
        path = folder / "cut.mp4"
        path.write_bytes(whole[: len(whole) // 2])
    elif kind == "huge":
        path = make_video(folder / "wide.mp4", 1, 10, width=4104, height=8)
    else:
        path = folder / "missing.mp4"
    return path
