"""An animation drawn by a model that edits a picture: inpainting (9-channel UNet) or
InstructPix2Pix (8-channel UNet).

Each frame's picture is its init image (``InitImages.init``: the input image, its video
frame, or the previous frame moved by the motion curves); the UNet's extra channels are made
from it (``studio.pipeline.edit``), batched for guidance like the text, so the one denoising
loop runs these models too:

- inpainting repaints the mask's white region of the picture (the spec's ``edit.mask``: a
  picture, or a video whose frames, resampled to the animation's fps by timestamp, are the
  masks of the frames in turn, its last one holding when it is shorter; no mask: the whole
  frame; no picture, as in a text-only animation: the whole frame, drawn from the text).
  The kept region of each finished frame is the picture's own pixels;
- InstructPix2Pix edits the picture as the prompt says, with three-way guidance whose image
  guidance scale is the spec's ``edit.image_guidance`` curve, frame by frame.

The img2img strength curve still says where each frame starts (1: from noise, as diffusers'
pipelines of these models do).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from studio.animation.plan import AnimationPlan
from studio.languages.curves import naming_curve, parse_curve
from studio.media.inputs import probe_video, resolve_input_path, stream_video
from studio.pipeline.conditioning import TextStates
from studio.pipeline.edit import (
    INPAINT_CHANNELS,
    PIX2PIX_CHANNELS,
    InpaintInputs,
    check_edit_model,
    is_video_mask,
    pix2pix_image,
    pix2pix_text,
    read_mask,
    unet_channels,
)
from studio.pipeline.models import Pipeline
from studio.pipeline.text import with_negative

__all__ = ["FrameEdit"]


class FrameEdit:
    """The extra UNet inputs of each batch of frames, and the inpainting composite."""

    def __init__(
        self,
        plan: AnimationPlan,
        pipe: Pipeline,
        variables: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        spec = plan.spec
        d = spec.diffusion
        self.pipe = pipe
        self.channels = unet_channels(pipe)
        has_input = bool(spec.input.image or spec.input.video)
        check_edit_model(pipe, d.model, "animation", has_input, spec.edit.mask)
        self.inpaint: InpaintInputs | None = None
        self.image_guidance: np.ndarray | None = None
        self.mask_video: Iterator[np.ndarray] | None = None  # one mask per frame, streamed
        self._mask_frame, self._mask = -1, None
        if self.channels == INPAINT_CHANNELS:
            mask = None
            path = resolve_input_path(spec.edit.mask) if spec.edit.mask else None
            if path is not None and is_video_mask(path):
                info = probe_video(path)
                self.mask_video = stream_video(info, spec.animation.fps, d.width, d.height)
            elif path is not None:
                mask = read_mask(path, d.width, d.height)
            self.inpaint = InpaintInputs(pipe, mask, d.width, d.height)
        elif self.channels == PIX2PIX_CHANNELS:
            frames = plan.frames
            audio = (variables or {}).get("audio")
            given = {"audio": np.zeros(frames) if audio is None else np.asarray(audio)}
            with naming_curve("image guidance"):
                curve = parse_curve(spec.edit.image_guidance, names=("t", "audio"))
                self.image_guidance = curve.values(frames, given)
        self.pictures: dict[int, torch.Tensor | None] = {}  # frame -> picture, until written
        self.masks: dict[int, torch.Tensor] = {}  # frame -> its mask video frame, until written

    @property
    def active(self) -> bool:
        """Whether the model takes extra inputs (else a plain text-to-image UNet)."""
        return self.inpaint is not None or self.image_guidance is not None

    def inputs(
        self,
        frames: tuple[int, ...],
        pictures: list[torch.Tensor | None],
        text: TextStates,
        negative: TextStates | None,
        like: torch.Tensor,
    ) -> tuple[TextStates, dict[str, Any]]:
        """The text rows and ``denoise`` keyword arguments (``image``, ``image_guidance``)
        of a group of ``frames`` with their ``pictures`` ((3, H, W) in [0, 1] or None);
        ``like``: latents on the run's device and dtype."""
        device, dtype = like.device, like.dtype
        guided = negative is not None
        if self.inpaint is not None:
            self.pictures.update(zip(frames, pictures, strict=True))
            masks = None
            if self.mask_video is not None:
                masks = [self._mask_of(f) for f in frames]
                self.masks.update(zip(frames, masks, strict=True))
            image = self.inpaint.condition(pictures, guided, device, dtype, masks)
            return with_negative(text, negative), {"image": image}
        stacked = torch.stack(pictures).to(device=device, dtype=dtype)  # every frame has one
        scale = torch.tensor([self.image_guidance[f] for f in frames], dtype=dtype)
        return pix2pix_text(text, negative), {
            "image": pix2pix_image(self.pipe, stacked, guided),
            "image_guidance": scale.view(-1, 1, 1, 1).to(device),
        }

    def finish(self, f: int, image: np.ndarray) -> np.ndarray:
        """Frame ``f`` as written: with inpainting, the kept region is its picture's."""
        if self.inpaint is None:
            return image
        return self.inpaint.composite(image, self.pictures.pop(f, None), self.masks.pop(f, None))

    def close(self) -> None:
        """Stop reading the mask video, if there is one."""
        if self.mask_video is not None:
            self.mask_video.close()  # type: ignore[attr-defined]  # a generator: stops ffmpeg

    def _mask_of(self, f: int) -> torch.Tensor:
        """Frame ``f``'s mask from the mask video (frames are asked for in order; a resumed
        render starts later, so the frames before are read and dropped)."""
        while self._mask_frame < f:
            frame = next(self.mask_video, None)
            if frame is None:  # a shorter video: its last mask holds
                break
            self._mask = InpaintInputs.binary(frame.mean(axis=2) / 255.0)
            self._mask_frame += 1
        return self._mask
