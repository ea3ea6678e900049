"""Input media: probe and stream a video input, load an image input.

Everything here fails with ``MediaError`` naming the file and the problem, and does so before
any model work: ``check_inputs(spec)`` probes the spec's inputs (a video is decoded once to
the null muxer, so a truncated or undecodable file is caught up front) and returns what the
engine, the CLI and the pages need to know (frames, fps, size and its rounding).

A video is never held in memory: ``stream_video`` yields one resampled, resized frame at a
time from imageio-ffmpeg's ``read_frames`` generator.

Resampling is by timestamp on the input's constant frame rate: output frame ``i`` (at time
``i / fps_out``) shows input frame ``floor(i * fps_in / fps_out)``, so a faster output repeats
frames and a slower one drops them; ``n`` input frames give ``ceil(n * fps_out / fps_in)``
output frames (``resample_indices``).

Relative paths (dashboard uploads are stored relative to ``STUDIO_HOME``) are resolved by
``studio.media.paths.resolve_media_path``, the one rule for every media path of a spec.
ffmpeg is run and its logs read by ``studio.media.ffmpeg``.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from studio.errors import MediaError
from studio.media import ffmpeg
from studio.media.paths import resolve_media_path

if TYPE_CHECKING:
    from studio.spec import AnimationSpec

__all__ = [
    "MAX_INPUT_FRAMES",
    "MAX_INPUT_SIDE",
    "ImageInfo",
    "InputMedia",
    "VideoInfo",
    "check_inputs",
    "load_image",
    "probe_image",
    "probe_video",
    "resample_indices",
    "resolve_input_path",
    "round_size",
    "stream_video",
    "video_info",
]

# Beyond these an input is a mistake (or an attack), not footage to animate.
MAX_INPUT_SIDE = 4096
MAX_INPUT_FRAMES = 100_000

# A video must decode within this; a 100 000-frame 4K file would not, and is refused above.
_DECODE_TIMEOUT_S = 1800
_EPS = 1e-9


@dataclass(frozen=True)
class VideoInfo:
    """A video input as probed: ``frames`` decodable frames at ``fps`` (constant), size in px."""

    path: Path
    frames: int
    fps: float
    width: int
    height: int
    has_audio: bool

    @property
    def duration(self) -> float:
        """Seconds: ``frames / fps``."""
        return self.frames / self.fps

    @property
    def rounded_size(self) -> tuple[int, int]:
        """``(width, height)`` each rounded to the nearest multiple of 8 (what the model needs)."""
        return round_size(self.width, self.height)

    @property
    def rounded(self) -> bool:
        """Whether ``rounded_size`` differs from the video's own size."""
        return self.rounded_size != (self.width, self.height)

    def output_frames(self, fps: float) -> int:
        """How many frames the video gives at ``fps`` (see ``resample_indices``)."""
        return _output_count(self.frames, self.fps, fps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe facts for the CLI's ``--json`` and the pages."""
        width, height = self.rounded_size
        return {
            "path": str(self.path),
            "frames": self.frames,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "has_audio": self.has_audio,
            "rounded_width": width,
            "rounded_height": height,
            "rounded": self.rounded,
        }


@dataclass(frozen=True)
class ImageInfo:
    """An image input as probed (decoded once, so a truncated file is caught)."""

    path: Path
    width: int
    height: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "width": self.width, "height": self.height}


@dataclass(frozen=True)
class InputMedia:
    """What ``check_inputs`` found: at most one of the two is set."""

    image: ImageInfo | None = None
    video: VideoInfo | None = None


def round_size(width: int, height: int) -> tuple[int, int]:
    """Each side to the nearest multiple of 8 (halves up), at least 8."""
    return (max(8, int(width / 8 + 0.5) * 8), max(8, int(height / 8 + 0.5) * 8))


def resolve_input_path(path: str | Path) -> Path:
    """Where a media path of a spec points (``studio.media.paths.resolve_media_path``)."""
    return resolve_media_path(path)


def resample_indices(frames_in: int, fps_in: float, fps_out: float) -> np.ndarray:
    """Input frame shown by each output frame: int64, shape ``(ceil(frames_in * fps_out /
    fps_in),)``, non-decreasing, each in ``[0, frames_in)``. Equal rates give ``0..n-1``."""
    if frames_in < 1 or fps_in <= 0 or fps_out <= 0:
        raise ValueError(
            f"need frames_in >= 1 and positive rates, got {frames_in}, {fps_in}, {fps_out}"
        )
    count = _output_count(frames_in, fps_in, fps_out)
    index = np.floor(np.arange(count) * (fps_in / fps_out) + _EPS).astype(np.int64)
    return np.minimum(index, frames_in - 1)


def _output_count(frames_in: int, fps_in: float, fps_out: float) -> int:
    return max(1, math.ceil(frames_in * fps_out / fps_in - _EPS))


# -- probing -------------------------------------------------------------------------------


def check_inputs(spec: AnimationSpec) -> InputMedia:
    """Probe the image or video input of an ``AnimationSpec`` (free when there is none).

    Raises ``MediaError`` for a missing, empty, unreadable, truncated, undecodable, too large
    or too long input, naming the file and the problem.
    """
    i = spec.input
    if i.video:
        video = _cached(probe_video, resolve_input_path(i.video))
        if i.keep_audio and not video.has_audio:
            raise MediaError(
                f"video input {str(video.path)!r} has no audio stream to keep; turn keep audio off"
            )
        return InputMedia(video=video)
    if i.image:
        return InputMedia(image=_cached(probe_image, resolve_input_path(i.image)))
    return InputMedia()


def video_info(path: str | Path) -> VideoInfo:
    """``probe_video`` of a spec's video path (resolved), cached per version of the file."""
    return _cached(probe_video, resolve_input_path(path))


# (probe function, path, mtime_ns, size) -> what it returned. The app layer, the engine and the
# pages (which show the input on every rerun) all probe the inputs: a file is decoded once per
# version of it.
_PROBED: OrderedDict[tuple[str, str, int, int], VideoInfo | ImageInfo] = OrderedDict()
_PROBED_LOCK = threading.Lock()
_PROBED_MAX = 32

_Info = TypeVar("_Info", VideoInfo, ImageInfo)


def _cached(probe: Callable[[Path], _Info], path: Path) -> _Info:
    try:
        stat = path.stat()
    except OSError:
        return probe(path)  # it raises the right MediaError
    key = (probe.__name__, str(path), stat.st_mtime_ns, stat.st_size)
    with _PROBED_LOCK:
        if key in _PROBED:
            _PROBED.move_to_end(key)
            return cast(_Info, _PROBED[key])
    info = probe(path)  # errors are not cached: a fixed file is probed again
    with _PROBED_LOCK:
        _PROBED[key] = info
        while len(_PROBED) > _PROBED_MAX:
            _PROBED.popitem(last=False)
    return info


def probe_video(path: Path) -> VideoInfo:
    """Read a video's header, then decode it once (to nothing) to count its frames.

    The decode pass is what catches truncated or corrupt files and codecs ffmpeg cannot
    decode; the header is checked first so that an absurd file is refused without decoding.
    Raises ``MediaError`` naming ``path`` and the problem.
    """
    path = Path(path)
    what = f"video input {str(path)!r}"
    _check_file(path, what)
    # No output named: ffmpeg prints the header and exits with an error, which is expected.
    log = ffmpeg.run(["-i", str(path)], what=f"reading {what}", loglevel="info", check=False).log
    if "Error opening input" in log or "Invalid data found" in log:
        raise MediaError(f"{what} is not a video ffmpeg can read: {_reason(log, path)}")
    header = ffmpeg.parse_header(log)
    if header.video is None:
        raise MediaError(f"{what} has no video stream")
    if header.width is None or header.height is None:
        raise MediaError(f"{what}: cannot read the frame size from {header.video!r}")
    _check_side(header.width, header.height, what)
    fps = header.fps
    if fps is None or fps <= 0:
        raise MediaError(f"{what} does not say its frame rate")
    duration = header.duration
    if duration is not None and duration * fps > MAX_INPUT_FRAMES * 1.01:
        raise MediaError(
            f"{what} is about {duration * fps:.0f} frames long; at most {MAX_INPUT_FRAMES} "
            "frames can be used"
        )
    decoded = ffmpeg.run(
        ["-xerror", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough"]
        + ["-f", "null", "-"],
        what=f"decoding {what}",
        loglevel="info",
        timeout=_DECODE_TIMEOUT_S,
        check=False,
    )
    frames = ffmpeg.frames_counted(decoded.log)
    if decoded.returncode != 0:
        raise MediaError(
            f"{what} is truncated, corrupt or in a codec ffmpeg cannot decode "
            f"(decoding stopped after {frames} frames): {_reason(decoded.log, path)}"
        )
    if frames == 0:
        raise MediaError(f"{what} has no frames that can be decoded")
    if frames > MAX_INPUT_FRAMES:
        raise MediaError(f"{what} has {frames} frames; at most {MAX_INPUT_FRAMES} can be used")
    return VideoInfo(path, frames, fps, header.width, header.height, header.has_audio)


def probe_image(path: Path) -> ImageInfo:
    """Open an image input and decode it once; raises ``MediaError`` naming the problem."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    what = f"image input {str(path)!r}"
    _check_file(path, what)
    try:
        with Image.open(path) as image:
            _check_side(*image.size, what)  # before decoding: the header is enough
            image.load()  # a truncated file fails here
            return ImageInfo(path, *image.size)
    except UnidentifiedImageError:
        raise MediaError(f"{what} is not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{what} is truncated or corrupt: {exc}") from None


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise MediaError(f"{what} does not exist")
    if not path.is_file():
        raise MediaError(f"{what} is not a file")
    if path.stat().st_size == 0:
        raise MediaError(f"{what} is empty (0 bytes)")


def _check_side(width: int, height: int, what: str) -> None:
    if width > MAX_INPUT_SIDE or height > MAX_INPUT_SIDE or width < 1 or height < 1:
        raise MediaError(
            f"{what} is {width}x{height} pixels; each side must be between 1 and {MAX_INPUT_SIDE}"
        )


def _reason(log: str, path: Path) -> str:
    # Three lines: the message around it is shown in a form, next to the file's name.
    return ffmpeg.reason(log, path, lines=3)


# -- reading -------------------------------------------------------------------------------


def stream_video(info: VideoInfo, fps: float, width: int, height: int) -> Iterator[np.ndarray]:
    """Yield ``info.output_frames(fps)`` frames, (height, width, 3) uint8, one at a time.

    ffmpeg scales each frame (bicubic; the picture is stretched to the requested size) and
    this generator repeats or drops frames by timestamp (``resample_indices``). Only the
    current frame is in memory. Raises ``MediaError`` if the file now has fewer frames than
    probed. Closing the generator early stops ffmpeg.
    """
    wanted = resample_indices(info.frames, info.fps, fps)
    params = ["-fps_mode", "passthrough"]
    if (width, height) != (info.width, info.height):
        params += ["-vf", f"scale={width}:{height}:flags=bicubic"]
    what = f"video input {str(info.path)!r}"
    _, decoded = ffmpeg.read_frames(info.path, params, what=what, size=(width, height))
    out = 0
    try:
        for index, frame in enumerate(decoded):
            if out == len(wanted):
                break
            if wanted[out] != index:
                continue  # dropped: the output runs slower than the input
            while out < len(wanted) and wanted[out] == index:
                yield frame.copy()  # each consumer owns its array
                out += 1
    finally:
        decoded.close()
    if out < len(wanted):
        raise MediaError(
            f"{what} ended after input frame {wanted[out - 1] if out else 0} but was probed "
            f"with {info.frames} frames; was it changed during the render?"
        )


def load_image(info: ImageInfo, width: int, height: int) -> np.ndarray:
    """The image as (height, width, 3) uint8 RGB, resized (Lanczos) when its size differs.

    Transparency is composited on black. Raises ``MediaError`` if it cannot be read.
    """
    from PIL import Image

    try:
        with Image.open(info.path) as image:
            rgba = image.convert("RGBA")
            flat = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
            flat.alpha_composite(rgba)
            rgb = flat.convert("RGB")
    except (OSError, ValueError) as exc:
        raise MediaError(f"image input {str(info.path)!r} could not be read: {exc}") from None
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8).copy()
