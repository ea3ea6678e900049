"""The extra inputs of the UNets that edit a picture: inpainting (9 channels) and
InstructPix2Pix (8 channels).

Both take the latents plus channels made from a picture, concatenated along channels after
the scheduler scales the latents (``denoise(..., image=...)``), as diffusers' own pipelines
build them:

- inpainting (``StableDiffusionInpaintPipeline``): latents (4), then the mask (1: the mask
  binarised at 0.5, white = repaint, shrunk to the latent grid by nearest-neighbour
  interpolation), then the masked picture's latents (4: the picture with the repainted region
  set to 0, i.e. grey in [-1, 1], through the VAE and its scaling factor). Batched for
  guidance like the text: ``[uncond; cond]`` rows carry the same inputs. One difference: the
  VAE's posterior mean is used, not a sample, so the same picture always gives the same
  frame. Without a picture (a text-only render) the whole frame is masked and the model draws
  from the text alone;
- InstructPix2Pix (``StableDiffusionInstructPix2PixPipeline``): latents (4), then the
  picture's latents (4: the VAE posterior's mode, *without* the scaling factor). Guidance is
  three-way (``studio.pipeline.denoise.guided_noise``): rows ``[uncond; image; cond]`` = text
  ``[negative; negative; prompt]`` with image latents ``[zeros; picture; picture]``, so
  ``eps = uncond + g_text * (cond - image) + g_image * (image - uncond)``. diffusers orders
  the rows ``[cond; image; uncond]``; the studio keeps its rule that the last rows go with
  the prompt (an unguided step runs them alone). Without text guidance (``guidance <= 1``)
  there is one row: prompt and picture.

``check_edit_model`` refuses what a loaded UNet cannot do with a spec, for models whose
family is not known before loading (``studio.pipeline.families.check_family_for`` refuses
the same from a folder's configs before a run is recorded).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from studio.errors import MediaError, SpecError
from studio.pipeline.conditioning import TextStates

if TYPE_CHECKING:
    from studio.pipeline.models import Pipeline

__all__ = [
    "INPAINT_CHANNELS",
    "PIX2PIX_CHANNELS",
    "InpaintInputs",
    "check_edit_model",
    "is_video_mask",
    "pix2pix_image",
    "pix2pix_text",
    "read_mask",
    "unet_channels",
]

INPAINT_CHANNELS = 9
PIX2PIX_CHANNELS = 8


def unet_channels(pipe: Pipeline) -> int:
    """The input channels of ``pipe``'s UNet: 4 (plain), 9 (inpainting), 8 (InstructPix2Pix)."""
    return int(pipe.unet.config.in_channels)


def check_edit_model(pipe: Pipeline, model: str, kind: str, has_input: bool, mask: str) -> None:
    """Raise ``SpecError`` (one line) when the loaded model cannot make this render:
    InstructPix2Pix with no input picture (a text-only animation, a blend), or a mask given
    to a model that is not an inpainting one (it would be silently ignored)."""
    channels = unet_channels(pipe)
    if channels == PIX2PIX_CHANNELS and not has_input:
        what = "a text-only animation" if kind == "animation" else f"a {kind}"
        raise SpecError(
            f"{model} is an InstructPix2Pix model: it edits an input picture, and {what} "
            "has none; give an input image or video, or choose another model"
        )
    if mask and channels != INPAINT_CHANNELS:
        raise SpecError(
            f"a mask is for inpainting models (9 UNet input channels); {model} has "
            f"{channels}: clear the mask or choose an inpainting model"
        )


_VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif"}


def is_video_mask(path: str | Path) -> bool:
    """Whether a mask file is a video (one mask per frame) rather than a picture, by its
    name, as the dashboard's uploads tell them apart."""
    return Path(path).suffix.lower() in _VIDEO_SUFFIXES


def read_mask(path: str | Path, width: int, height: int) -> np.ndarray:
    """The mask picture at ``path`` as float32 (H, W) in [0, 1] (grey levels; 1 = white),
    resized to ``width`` x ``height``. Raises ``MediaError`` naming the file."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            grey = picture.convert("L").resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(grey).astype(np.float32) / 255.0
    except (OSError, ValueError) as exc:
        raise MediaError(f"cannot read the mask {str(path)!r}: {exc}") from exc


class InpaintInputs:
    """A 9-channel UNet's mask and masked-picture latents for frames of one render.

    ``mask``: (H, W) in [0, 1] (``read_mask``), or None for the whole frame; a frame may
    bring its own (a mask video). A mask is binarised at 0.5 as diffusers does; ``composite``
    puts the picture's own pixels back where the mask keeps them, so the kept region of a
    frame is exactly the input's (the VAE would otherwise shift it by a few levels).
    """

    def __init__(self, pipe: Pipeline, mask: np.ndarray | None, width: int, height: int) -> None:
        self.pipe = pipe
        full = np.ones((height, width), np.float32) if mask is None else mask
        self.repaint = self.binary(full)
        self.latent_size = (height // pipe.vae_scale_factor, width // pipe.vae_scale_factor)

    @staticmethod
    def binary(mask: np.ndarray) -> torch.Tensor:
        """A mask (H, W) in [0, 1] as diffusers uses it: (1, 1, H, W), 1 where >= 0.5."""
        return torch.from_numpy((mask >= 0.5).astype(np.float32))[None, None]

    def condition(
        self,
        pictures: list[torch.Tensor | None],
        guided: bool,
        device: torch.device,
        dtype: torch.dtype,
        masks: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The extra channels (B, 5, h, w) of B frames, or (2B, ...) ``[uncond; cond]`` when
        ``guided``. ``pictures``: each frame's (3, H, W) in [0, 1], or None (no picture: the
        whole frame is repainted). ``masks``: each frame's own (``binary``), else the one
        given when built."""
        from studio.pipeline.latents import encode_images

        rows = []
        for i, picture in enumerate(pictures):
            if picture is None:
                mask = torch.ones_like(self.repaint)
                pixels = torch.zeros((1, 3, *self.repaint.shape[-2:]))
            else:
                mask = self.repaint if masks is None else masks[i]
                pixels = (picture[None] * 2 - 1) * (mask < 0.5)
            small = torch.nn.functional.interpolate(mask, size=self.latent_size)
            latents = encode_images(self.pipe, pixels.to(device=device, dtype=dtype))
            rows.append(torch.cat([small.to(device=device, dtype=dtype), latents], dim=1))
        image = torch.cat(rows)
        return torch.cat([image, image]) if guided else image

    def composite(
        self, image: np.ndarray, picture: torch.Tensor | None, mask: torch.Tensor | None = None
    ) -> np.ndarray:
        """A decoded frame (H, W, 3) uint8 with the kept region set to ``picture``'s pixels
        ((3, H, W) in [0, 1]; None: nothing is kept); ``mask``: the frame's own, if any."""
        if picture is None:
            return image
        keep = (self.repaint if mask is None else mask)[0, 0].numpy()[..., None] < 0.5
        source = (picture.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        return np.where(keep, source, image)


def pix2pix_image(pipe: Pipeline, pictures: torch.Tensor, guided: bool) -> torch.Tensor:
    """An InstructPix2Pix UNet's extra channels for pictures (B, 3, H, W) in [0, 1] on the
    VAE's device and dtype: (B, 4, h, w) unscaled latents, or (3B, ...) ``[zeros; picture;
    picture]`` when ``guided`` (the rows of ``pix2pix_text``)."""
    with torch.no_grad():
        latents = pipe.vae.encode(pictures * 2 - 1).latent_dist.mode()
    if not guided:
        return latents
    return torch.cat([torch.zeros_like(latents), latents, latents])


def pix2pix_text(text: TextStates, negative: TextStates | None) -> TextStates:
    """Text rows for three-way guidance: ``[negative; negative; prompt]`` (3B), or the
    prompt alone (B) without guidance (``negative`` None)."""
    return text if negative is None else TextStates.cat([negative, negative, text])
