"""Streaming writers: round trips, determinism, atomicity, errors and bounded memory."""

from __future__ import annotations

import math
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from studio.errors import MediaError
from studio.media import ffmpeg
from studio.media.readers import probe, read_frames
from studio.media.writers import open_writer

W, H = 64, 64


def colour_frames(n: int = 12, width: int = W, height: int = H) -> list[np.ndarray]:
    """``n`` solid frames of clearly different colours."""
    colours = [((i * 20) % 256, (255 - i * 20) % 256, (i * 53) % 256) for i in range(n)]
    return [np.full((height, width, 3), c, np.uint8) for c in colours]


def write_all(path: Path, fmt: str, frames: list[np.ndarray], fps: float = 8):
    height, width = frames[0].shape[:2]
    writer = open_writer(path, fmt, fps=fps, width=width, height=height)
    for frame in frames:
        writer.write(frame)
    return writer.close()


def listing(folder: Path) -> list[str]:
    """Every name under ``folder``, hidden temporary files included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_mp4_round_trip(tmp_path):
    frames = colour_frames()
    out = write_all(tmp_path / "a.mp4", "mp4", frames)

    assert (out.path, out.kind, out.frames, out.fps) == (tmp_path / "a.mp4", "mp4", 12, 8.0)
    assert (out.width, out.height, out.has_audio) == (W, H, False)
    back = list(read_frames(out.path))
    assert len(back) == 12
    for original, decoded in zip(frames, back, strict=True):
        assert decoded.shape == (H, W, 3) and decoded.dtype == np.uint8
        # H.264 is lossy, but a flat colour must come back within a few levels.
        assert np.abs(decoded.astype(int) - original).mean() < 4
    info = probe(out.path)
    assert info == {
        "frames": 12,
        "fps": 8.0,
        "width": W,
        "height": H,
        "has_audio": False,
        "duration": pytest.approx(1.5, abs=0.01),
    }
    assert listing(tmp_path) == ["a.mp4"]


def test_mp4_keeps_sizes_that_are_not_multiples_of_16(tmp_path):
    out = write_all(tmp_path / "a.mp4", "mp4", colour_frames(3, width=72, height=40))

    assert next(read_frames(out.path)).shape == (40, 72, 3)
    assert (probe(out.path)["width"], probe(out.path)["height"]) == (72, 40)


@pytest.mark.parametrize("fmt", ["mp4", "gif"])
def test_same_frames_give_identical_bytes(tmp_path, fmt):
    frames = colour_frames()
    first = write_all(tmp_path / f"one.{fmt}", fmt, frames)
    second = write_all(tmp_path / f"two.{fmt}", fmt, frames)

    assert first.path.read_bytes() == second.path.read_bytes()


def test_gif_round_trip(tmp_path):
    frames = colour_frames()
    out = write_all(tmp_path / "a.gif", "gif", frames, fps=10)

    assert (out.kind, out.frames, out.fps) == ("gif", 12, 10.0)
    info = probe(out.path)
    assert (info["frames"], info["width"], info["height"]) == (12, W, H)
    assert info["fps"] == pytest.approx(10, abs=0.1)
    assert info["duration"] == pytest.approx(1.2, abs=0.02)
    back = list(read_frames(out.path))
    assert len(back) == 12
    for original, decoded in zip(frames, back, strict=True):
        # 12 flat colours fit a 256-colour palette exactly.
        assert np.abs(decoded.astype(int) - original).mean() < 2
    # Intermediate (mkv) and palette files are gone.
    assert listing(tmp_path) == ["a.gif"]


def test_gif_loops_forever(tmp_path):
    from PIL import Image

    out = write_all(tmp_path / "a.gif", "gif", colour_frames(3))

    with Image.open(out.path) as image:
        assert image.info.get("loop") == 0


def test_png_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(5)]
    out = write_all(tmp_path / "frames", "png", frames)

    assert (out.kind, out.frames, out.path) == ("png", 5, tmp_path / "frames")
    assert listing(out.path) == [f"frame_{i:06d}.png" for i in range(5)]
    back = list(read_frames(out.path))
    assert len(back) == 5
    for original, decoded in zip(frames, back, strict=True):
        np.testing.assert_array_equal(decoded, original)
    info = probe(out.path)
    assert (info["frames"], info["width"], info["height"], info["fps"]) == (5, W, H, None)


def test_png_folder_must_be_empty(tmp_path):
    (tmp_path / "frames").mkdir()
    write_all(tmp_path / "frames", "png", colour_frames(1))  # empty folder: fine

    with pytest.raises(MediaError, match="not empty"):
        open_writer(tmp_path / "frames", "png", fps=8, width=W, height=H)


@pytest.mark.parametrize(
    ("shape", "dtype", "message"),
    [
        ((32, 64, 3), np.uint8, r"\(32, 64, 3\)"),
        ((64, 64), np.uint8, r"\(64, 64\)"),
        ((64, 64, 4), np.uint8, r"\(64, 64, 4\)"),
        ((64, 64, 3), np.float32, "float32"),
    ],
)
@pytest.mark.parametrize("fmt", ["mp4", "png"])
def test_wrong_frame_is_refused(tmp_path, fmt, shape, dtype, message):
    path = tmp_path / ("out" if fmt == "png" else f"out.{fmt}")
    writer = open_writer(path, fmt, fps=8, width=W, height=H)
    try:
        with pytest.raises(MediaError, match=message):
            writer.write(np.zeros(shape, dtype))
        # The writer is still usable after refusing a frame.
        writer.write(np.zeros((H, W, 3), np.uint8))
        assert writer.close().frames == 1
    finally:
        writer.abort()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "webm"}, "'webm'"),
        ({"fps": 0}, "got 0"),
        ({"fps": -5.0}, "got -5.0"),
        ({"fps": math.nan}, "got nan"),
        ({"width": 63}, "63x64"),
        ({"height": 0}, "got 0"),
        ({"name": "a.gif"}, "a.gif"),
        ({"fmt": "gif", "name": "a.gif", "fps": 60}, "got 60"),
    ],
)
def test_bad_settings_are_named(tmp_path, kwargs, message):
    args = {"fmt": "mp4", "fps": 8, "width": 64, "height": 64, "name": "a.mp4"} | kwargs
    with pytest.raises(MediaError, match=message):
        open_writer(
            tmp_path / args["name"],
            args["fmt"],
            fps=args["fps"],
            width=args["width"],
            height=args["height"],
        )
    assert listing(tmp_path) == []


@pytest.mark.parametrize("fmt", ["mp4", "gif", "png"])
def test_abort_leaves_nothing(tmp_path, fmt):
    path = tmp_path / ("out" if fmt == "png" else f"out.{fmt}")
    writer = open_writer(path, fmt, fps=8, width=W, height=H)
    for frame in colour_frames(3):
        writer.write(frame)

    writer.abort()
    writer.abort()  # twice is harmless

    assert listing(tmp_path) == []
    with pytest.raises(MediaError, match="aborted"):
        writer.write(colour_frames(1)[0])


def test_abort_after_close_keeps_the_file(tmp_path):
    writer = open_writer(tmp_path / "a.mp4", "mp4", fps=8, width=W, height=H)
    writer.write(colour_frames(1)[0])
    writer.close()

    writer.abort()

    assert listing(tmp_path) == ["a.mp4"]


def test_nothing_at_path_until_close(tmp_path):
    writer = open_writer(tmp_path / "a.mp4", "mp4", fps=8, width=W, height=H)
    for frame in colour_frames(3):
        writer.write(frame)

    assert not (tmp_path / "a.mp4").exists()
    writer.close()
    assert (tmp_path / "a.mp4").exists()


def test_close_without_frames_fails_and_cleans_up(tmp_path):
    writer = open_writer(tmp_path / "a.mp4", "mp4", fps=8, width=W, height=H)

    with pytest.raises(MediaError, match="no frames"):
        writer.close()
    assert listing(tmp_path) == []


def test_exception_in_with_block_aborts(tmp_path):
    with (
        pytest.raises(RuntimeError),
        open_writer(tmp_path / "a.gif", "gif", fps=8, width=W, height=H) as w,
    ):
        w.write(colour_frames(1)[0])
        raise RuntimeError("render crashed")

    assert listing(tmp_path) == []


def fake_ffmpeg(tmp_path: Path, script: str) -> str:
    exe = tmp_path / "bin" / "ffmpeg"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


@pytest.mark.parametrize(
    "script",
    [
        # Dies at once, before reading a frame.
        "echo \"Unknown encoder 'libx264'\" >&2\nexit 3\n",
        # Dies mid-stream, after reading part of the input.
        "head -c 20000 >/dev/null\necho \"Unknown encoder 'libx264'\" >&2\nexit 3\n",
    ],
)
def test_ffmpeg_failure_is_a_media_error(tmp_path, monkeypatch, script):
    exe = fake_ffmpeg(tmp_path, script)
    monkeypatch.setattr(ffmpeg, "ffmpeg_exe", lambda: exe)
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(MediaError, match=r"exit status 3.*Unknown encoder 'libx264'"):
        writer = open_writer(out / "a.mp4", "mp4", fps=8, width=W, height=H)
        for frame in colour_frames(12):
            writer.write(frame)
        writer.close()
    assert listing(out) == []


def test_gif_pass_failure_is_a_media_error(tmp_path, monkeypatch):
    script = (
        'case "$*" in *palettegen*) echo "palette pass broke" >&2; exit 1;; esac\ncat >/dev/null\n'
    )
    exe = fake_ffmpeg(tmp_path, script)
    monkeypatch.setattr(ffmpeg, "ffmpeg_exe", lambda: exe)
    out = tmp_path / "out"
    out.mkdir()
    writer = open_writer(out / "a.gif", "gif", fps=8, width=W, height=H)
    for frame in colour_frames(3):
        writer.write(frame)

    with pytest.raises(MediaError, match="palette pass broke"):
        writer.close()
    assert listing(out) == []


def test_read_errors_are_media_errors(tmp_path):
    with pytest.raises(MediaError, match="no such media file"):
        read_frames(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(MediaError):
        list(read_frames(tmp_path / "junk.mp4"))
    with pytest.raises(MediaError):
        probe(tmp_path / "junk.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="no frame_"):
        probe(tmp_path / "empty")


def _peak_rss_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    # Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so the peak covers only this test.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def moving_gradient(n: int, size: int) -> Iterator[np.ndarray]:
    """``n`` distinct frames made one at a time, so the test itself holds only one."""
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    base = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], ramp[None, ::-1]), -1)
    for i in range(n):
        yield np.roll(base, 3 * i, axis=1).astype(np.uint8)


# Both cases hold over 60 MB of frames in all, twice the bound; the writers themselves use ~4 MB.
@pytest.mark.parametrize(
    ("fmt", "n", "size"),
    [("mp4", 300, 384), pytest.param("gif", 200, 320, marks=pytest.mark.slow)],
)
def test_memory_stays_flat_while_streaming(tmp_path, fmt, n, size):
    if not _reset_peak_rss() or _peak_rss_bytes() is None:
        pytest.skip("needs Linux /proc/self/clear_refs and VmHWM")
    write_all(tmp_path / f"warm.{fmt}", fmt, list(moving_gradient(2, size)))
    _reset_peak_rss()
    before = _peak_rss_bytes()

    writer = open_writer(tmp_path / f"a.{fmt}", fmt, fps=24, width=size, height=size)
    for frame in moving_gradient(n, size):
        writer.write(frame)
    out = writer.close()

    growth = _peak_rss_bytes() - before
    assert out.frames == n
    assert growth < 30 * 2**20, f"peak RSS grew by {growth / 2**20:.1f} MiB"


def test_probe_sees_audio(tmp_path):
    import subprocess

    path = tmp_path / "av.mp4"
    subprocess.run(
        [ffmpeg.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
        + ["-f", "lavfi", "-i", "testsrc=size=96x64:rate=25:duration=1"]
        + ["-f", "lavfi", "-i", "sine=duration=1", "-c:v", "libx264", "-c:a", "aac"]
        + ["-shortest", str(path)],
        check=True,
    )

    info = probe(path)

    assert (info["frames"], info["fps"], info["width"], info["height"]) == (25, 25.0, 96, 64)
    assert info["has_audio"] is True
    assert info["duration"] == pytest.approx(1.0, abs=0.05)
