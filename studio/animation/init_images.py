"""Each animation frame's init image: an input image, a video frame, or the frame before it
moved by the motion curves (the 3D ones through its depth: ``studio.animation.depth``); and
the reference its colours are matched to.

``InitImages`` is fed the frames in the order they are made (``made``), so it holds one
image input, the open video stream (one frame read per frame made) and the last frame made
(the source of feedback); never more.
"""

from __future__ import annotations

import numpy as np
import torch

from studio.animation.depth import FrameDepth
from studio.animation.motion import warp
from studio.animation.motion3d import Move3D, warp_3d
from studio.animation.plan import AnimationPlan
from studio.media.color import ColorReference
from studio.media.inputs import InputMedia, load_image, stream_video
from studio.spec import AnimationSpec

__all__ = ["InitImages", "to_tensor"]


class InitImages:
    """Each frame's init image, made in frame order, and the colour-match reference.

    Holds one image input, the open video stream (one frame read per frame made), and the
    last frame made (the source of feedback); never more.
    """

    def __init__(
        self,
        spec: AnimationSpec,
        plan: AnimationPlan,
        media: InputMedia,
        depth: FrameDepth | None = None,
    ) -> None:
        d = spec.diffusion
        self.plan = plan
        self.depth = depth  # 3D motion's depth of each frame (None without 3D curves)
        self.border = spec.motion.border
        self.color = spec.motion.color_match
        self.image = load_image(media.image, d.width, d.height) if media.image else None
        self.video = (
            stream_video(media.video, spec.animation.fps, d.width, d.height)
            if media.video
            else None
        )
        self.video_frames: dict[int, np.ndarray] = {}  # frame -> its video frame, until made
        self.previous = None  # the last frame made, (H, W, 3) uint8
        self.reference = (
            ColorReference(self.image) if self.color == "input" and self.image is not None else None
        )

    def init(self, f: int) -> torch.Tensor | None:
        """Frame ``f``'s init image (3, H, W) float32 in [0, 1], or None (from noise)."""
        kind = self.plan.init_kinds[f]
        if kind == "noise":
            return None
        if kind == "video":
            self.video_frames[f] = next(self.video)
            return to_tensor(self.video_frames[f])
        if kind == "image":
            return to_tensor(self.image)
        c = self.plan.curves
        if c.depth:
            if self.depth is None:
                raise ValueError("3D motion needs a FrameDepth")
            move = Move3D(
                float(c.translation_z[f]),
                float(c.rotation_3d_x[f]),
                float(c.rotation_3d_y[f]),
                float(c.rotation_3d_z[f]),
                float(c.fov[f]),
            )
            moved = warp_3d(
                to_tensor(self.previous)[None],
                self.depth.at(f - 1, self.previous),
                move,
                self.border,
                zoom=float(c.zoom[f]),
                angle=float(c.angle[f]),
                translate_x=float(c.translate_x[f]),
                translate_y=float(c.translate_y[f]),
            )
            return moved[0]
        moved = warp(
            to_tensor(self.previous)[None],
            float(c.zoom[f]),
            float(c.angle[f]),
            float(c.translate_x[f]),
            float(c.translate_y[f]),
            self.border,
        )
        return moved[0]

    def match_colors(self, f: int, image: np.ndarray) -> np.ndarray:
        """``image`` with the reference's LAB histograms (as it is when matching is off)."""
        if self.color == "first" and f > 0:
            return self.reference.match(image)
        if self.color == "input":
            if self.video is not None:
                return ColorReference(self.video_frames[f]).match(image)
            return self.reference.match(image)
        return image

    def made(self, f: int, image: np.ndarray) -> None:
        """Frame ``f`` is final (made now, or replayed from a checkpoint)."""
        self.previous = image
        self.video_frames.pop(f, None)
        if f == 0 and self.color == "first":
            self.reference = ColorReference(image)

    def skip(self, frames: int) -> None:
        """A resumed render: the video's first ``frames`` frames were used by an earlier try."""
        if self.video is not None:
            for _ in range(frames):
                next(self.video)

    def close(self) -> None:
        """Stop reading the video input and the depth video, if there are any."""
        if self.video is not None:
            self.video.close()  # stops ffmpeg
        if self.depth is not None:
            self.depth.close()


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255
