"""Media made for tests: small videos whose frames say their index, broken files, decoding.

Shared by the media, video-input, audio and page tests; ffmpeg is the engine's own
(``studio.media.ffmpeg.ffmpeg_exe``), so no system ffmpeg is needed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from studio.media.ffmpeg import ffmpeg_exe

__all__ = ["audio_seconds", "bad_file", "click_track", "ffmpeg", "index_of", "make_video"]


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


def click_track(path: Path, clicks: dict[float, float], seconds: float, rate: int = 22050) -> Path:
    """A wav of ``seconds`` of silence with a sharp noise click at each time of ``clicks``
    (seconds -> peak amplitude, e.g. ``{1.2: 0.8, 2.0: 0.02}``: a loud and a soft one)."""
    import soundfile as sf

    y = np.zeros(int(seconds * rate), np.float32)
    rng = np.random.default_rng(1)
    n = int(0.01 * rate)
    decay = np.exp(-np.arange(n) / (0.002 * rate))
    for at, amplitude in clicks.items():
        i = int(at * rate)
        y[i : i + n] += amplitude * rng.standard_normal(n) * decay
    sf.write(path, y, rate, subtype="PCM_16")
    return path


def index_of(frame: np.ndarray) -> int:
    """The index a ``make_video`` frame shows (its red level / 8)."""
    return round(float(frame[..., 0].mean()) / 8)


def bad_file(tmp_path: Path, kind: str) -> Path:
    """A video input that must be refused: ``empty``, ``text``, ``truncated``, ``huge``
    (4104x8 pixels) or, for any other ``kind``, a path with no file."""
    if kind == "empty":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
    elif kind == "text":
        path = tmp_path / "notes.mp4"
        path.write_text("this is a shopping list, not a video\n" * 40)
    elif kind == "truncated":
        whole = make_video(tmp_path / "whole.mp4", 30, 30).read_bytes()
        path = tmp_path / "cut.mp4"
        path.write_bytes(whole[: len(whole) // 2])
    elif kind == "huge":
        path = make_video(tmp_path / "wide.mp4", 1, 10, width=4104, height=8)
    else:
        path = tmp_path / "missing.mp4"
    return path


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly with ``args`` (outputs overwritten); fail the test if it fails."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def audio_seconds(path: Path) -> float:
    """Length of the first audio stream of ``path``, by decoding it (8 kHz mono)."""
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0"]
        + ["-ac", "1", "-ar", "8000", "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return len(out) / 4 / 8000
