"""Control maps for ControlNets: the preprocessors, and each frame's map from an image or video.

The preprocessors run offline, with no weights: numpy for the filters (written here, no
OpenCV), ``scipy.ndimage.label`` for canny's edge linking. Each takes and returns an
(H, W, 3) uint8 RGB image, as a ControlNet's control image is:

- ``none``: the image as it is (a depth, pose or other map the user made already);
- ``grayscale``: luma (Rec. 601) in all three channels;
- ``edges``: the Sobel gradient magnitude of the blurred luma, white on black;
- ``canny``: Canny's detector: Gaussian blur, Sobel gradients, non-maximum suppression along
  the gradient, then a double threshold with hysteresis (a weak edge is kept where it
  touches a strong one); thin white edges on black.

Gradients are in units of luma in [0, 1] per pixel-pair (the Sobel sum divided by 4), so a
sharp black-to-white step measures about 0.8 after the blur and the thresholds read the same
at every frame size.

``ControlMaps`` gives each frame's control maps in frame order: an image is read and
preprocessed once; a video streams one frame at a time (``studio.media.inputs.stream_video``,
resampled to the animation's fps by timestamp, as the video input is), never whole in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from studio.errors import MediaError
from studio.media.inputs import (
    ImageInfo,
    VideoInfo,
    load_image,
    probe_image,
    resolve_input_path,
    stream_video,
    video_info,
)
from studio.spec.control import ControlNetItem, ControlSettings

__all__ = [
    "ControlMaps",
    "ControlSource",
    "canny",
    "check_control_media",
    "edges",
    "grayscale",
    "preprocess",
    "sobel",
]

_BLUR_SIGMA = 1.0


def _luma(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float64 in [0, 1], Rec. 601 weights."""
    rgb = image.astype(np.float64) / 255.0
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _rgb(plane: np.ndarray) -> np.ndarray:
    """(H, W) float in [0, 1] -> (H, W, 3) uint8."""
    out = np.clip(np.rint(plane * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2)


def _correlate_rows(plane: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``plane`` correlated with a 1-D ``kernel`` along axis 1, edges reflected."""
    r = len(kernel) // 2
    padded = np.pad(plane, ((0, 0), (r, r)), mode="reflect" if plane.shape[1] > r else "edge")
    out = np.zeros_like(plane)
    for i, k in enumerate(kernel):
        out += k * padded[:, i : i + plane.shape[1]]
    return out


def _separable(plane: np.ndarray, along_x: np.ndarray, along_y: np.ndarray) -> np.ndarray:
    """``plane`` correlated with the outer product ``along_y`` x ``along_x``."""
    return _correlate_rows(_correlate_rows(plane, along_x).T, along_y).T


def _gaussian_blur(plane: np.ndarray, sigma: float = _BLUR_SIGMA) -> np.ndarray:
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    return _separable(plane, kernel, kernel)


def sobel(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Sobel gradients (gx to the right, gy down) of an (H, W) plane, each divided by 4."""
    smooth = np.array([1.0, 2.0, 1.0]) / 4.0
    diff = np.array([-1.0, 0.0, 1.0])
    return _separable(plane, diff, smooth), _separable(plane, smooth, diff)


def grayscale(image: np.ndarray) -> np.ndarray:
    """Luma in all three channels; (H, W, 3) uint8 in and out."""
    return _rgb(_luma(image))


def edges(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the blurred luma, clipped to 1, white on black."""
    gx, gy = sobel(_gaussian_blur(_luma(image)))
    return _rgb(np.hypot(gx, gy))


def canny(image: np.ndarray, low: float = 0.1, high: float = 0.2) -> np.ndarray:
    """Canny edges of ``image`` (H, W, 3) uint8: white one-pixel edges on black.

    ``low`` <= ``high``: gradient magnitudes (module docstring's units). Pixels that are a
    local maximum along their gradient and measure at least ``high`` are edges; those at
    least ``low`` are edges where they connect (8-neighbours) to one of those.
    """
    from scipy import ndimage

    if not 0 <= low <= high:
        raise ValueError(f"canny needs 0 <= low <= high, got low {low}, high {high}")
    gx, gy = sobel(_gaussian_blur(_luma(image)))
    magnitude = np.hypot(gx, gy)
    thin = _non_maximum_suppression(magnitude, gx, gy)
    weak = thin >= max(low, 1e-12)  # a flat image has no edges, even at low = 0
    strong = thin >= max(high, 1e-12)
    labels, count = ndimage.label(weak, structure=np.ones((3, 3), dtype=bool))
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    return _rgb(keep[labels].astype(np.float64))


def _non_maximum_suppression(magnitude: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """``magnitude`` where it is a peak along the gradient (above the neighbour ahead, at
    least the one behind), else 0.

    The gradient's direction is rounded to one of four (0, 45, 90, 135 degrees); the image's
    border counts as zero.
    """
    padded = np.pad(magnitude, 1)
    h, w = magnitude.shape

    def shifted(dy: int, dx: int) -> np.ndarray:
        return padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    angle = (np.degrees(np.arctan2(gy, gx)) + 180.0) % 180.0
    sector = (np.floor((angle + 22.5) / 45.0).astype(np.int64)) % 4
    # Neighbours along each direction (rows grow downward, as gy does).
    steps = {0: (0, 1), 1: (1, 1), 2: (1, 0), 3: (1, -1)}
    keep = np.zeros_like(magnitude, dtype=bool)
    for s, (dy, dx) in steps.items():
        here = sector == s
        # Strictly above the forward neighbour: of two equal pixels across a step, one stays.
        peak = (magnitude > shifted(dy, dx)) & (magnitude >= shifted(-dy, -dx))
        keep |= here & peak
    return np.where(keep, magnitude, 0.0)


def preprocess(image: np.ndarray, net: ControlNetItem) -> np.ndarray:
    """``image`` (H, W, 3) uint8 through ``net``'s preprocessor (module docstring)."""
    if net.preprocess == "canny":
        return canny(image, net.low_threshold, net.high_threshold)
    if net.preprocess == "edges":
        return edges(image)
    if net.preprocess == "grayscale":
        return grayscale(image)
    return image


# -- sources -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlSource:
    """One ControlNet's control source as probed: an image or a video."""

    net: ControlNetItem
    image: ImageInfo | None = None
    video: VideoInfo | None = None


def check_control_media(
    control: ControlSettings, *, fps: float | None = None, frames: int | None = None
) -> list[ControlSource]:
    """Probe each ControlNet's control image or video once; one ``ControlSource`` per net.

    ``fps``/``frames``: the animation's rate and length; a control video must give at least
    ``frames`` frames at ``fps`` (one per output frame). Without them (a blend) a control
    video is refused. Raises ``MediaError`` naming the ControlNet, the file and the problem.
    """
    sources = []
    for n, net in enumerate(control.nets, start=1):
        where = f"ControlNet {n} ({net.model})"
        try:
            if net.video:
                if fps is None or frames is None:
                    raise MediaError(
                        f"{where}: a control video steers an animation's frames one by one; "
                        "a blend takes a control image"
                    )
                info = video_info(net.video)
                given = info.output_frames(fps)
                if given < frames:
                    raise MediaError(
                        f"{where}: control video {str(info.path)!r} gives {given} frames at "
                        f"{fps:g} fps, but the animation has {frames}; give a longer video or "
                        "fewer frames"
                    )
                sources.append(ControlSource(net, video=info))
            else:
                sources.append(ControlSource(net, image=probe_image(resolve_input_path(net.image))))
        except MediaError as exc:
            message = str(exc)
            raise MediaError(
                message if message.startswith(where) else f"{where}: {message}"
            ) from None
    return sources


class ControlMaps:
    """Each frame's preprocessed control maps, in frame order: one (H, W, 3) uint8 per net.

    Holds each image's map (made once) and each video's open stream (one frame read per
    frame asked for); ``close`` stops the streams. ``hook(net_index, frame, map)``, if given,
    sees every map made (the dashboard's preview, tests).
    """

    def __init__(
        self,
        sources: list[ControlSource],
        width: int,
        height: int,
        fps: float | None = None,
        hook: Callable[[int, int, np.ndarray], None] | None = None,
    ) -> None:
        self.sources = sources
        self.hook = hook
        self.fixed: list[np.ndarray | None] = []
        self.streams: list[Iterator[np.ndarray] | None] = []
        for s in sources:
            if s.video is not None:
                if fps is None:
                    raise ValueError("a control video needs the animation's fps")
                self.fixed.append(None)
                self.streams.append(stream_video(s.video, fps, width, height))
            else:
                assert s.image is not None
                self.fixed.append(preprocess(load_image(s.image, width, height), s.net))
                self.streams.append(None)
        self.next_frame = 0

    def frame(self, f: int) -> list[np.ndarray]:
        """Frame ``f``'s maps, one per net; frames must be asked for in order (``skip`` jumps)."""
        if f != self.next_frame:
            raise ValueError(f"control frames go in order: expected {self.next_frame}, got {f}")
        maps = []
        for i, (fixed, stream) in enumerate(zip(self.fixed, self.streams, strict=True)):
            made = fixed if stream is None else preprocess(next(stream), self.sources[i].net)
            assert made is not None
            if self.hook is not None:
                self.hook(i, f, made)
            maps.append(made)
        self.next_frame = f + 1
        return maps

    def skip(self, frames: int) -> None:
        """A resumed render: the first ``frames`` frames were made by an earlier attempt."""
        for stream in self.streams:
            if stream is not None:
                for _ in range(frames):
                    next(stream)
        self.next_frame += frames

    def close(self) -> None:
        """Stop reading the control videos."""
        for stream in self.streams:
            if stream is not None:
                stream.close()  # type: ignore[attr-defined]
