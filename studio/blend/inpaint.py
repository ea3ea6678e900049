"""Inpainting transitions: a mask keeps part of every frame fixed while the rest blends.

The mask is a picture (any mode; read as grey, resized to the frame): white where the movie
transitions, black where it stays fixed, grey in between (a soft edge). What stays fixed is
the *reference*: a given image, or else the movie's first keyframe.

It works with any text-to-image UNet, no inpainting model needed, in two places:

- in latent space, after every denoise step of every trajectory, the fixed region is set to
  the reference's latent at that step, ``x = m * x + (1 - m) * ref[i]`` (``m``: the mask
  averaged down to the latent grid). For a given image ``ref[i]`` is its VAE latent noised to
  step ``i`` by the run's scheduler (``add_noise`` with one seeded noise); for the first
  keyframe it is that keyframe's own trajectory. So the transitioning region is denoised in
  the context of the fixed one, and edges match;
- in pixel space, each decoded frame is composited over the reference image with the full
  resolution mask, so the fixed region is exactly the reference, pixel for pixel.

An inpainting model (9-channel UNet) is given the mask and the reference's masked latents
as its own inputs at every step instead of the latent pull (``studio.blend.transitions``,
``studio.pipeline.edit``); the pixel composite stays.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from studio.errors import MediaError
from studio.pipeline.latents import encode_images

if TYPE_CHECKING:
    from studio.pipeline.models import Pipeline
    from studio.pipeline.schedulers import Scheduler

__all__ = ["InpaintGuide", "read_mask", "read_picture"]


def read_picture(path: str | Path, width: int, height: int, mode: str) -> np.ndarray:
    """The picture at ``path`` in PIL ``mode`` ("L" or "RGB"), resized to ``width`` x ``height``,
    as uint8 ``(H, W)`` or ``(H, W, 3)``. Raises ``MediaError`` naming the file."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(image).copy()
    except (OSError, ValueError) as exc:
        raise MediaError(f"cannot read the picture {str(path)!r}: {exc}") from exc


def read_mask(path: str | Path, width: int, height: int) -> np.ndarray:
    """The mask at ``path`` as float32 ``(H, W)`` in [0, 1]: 1 transitions, 0 stays fixed."""
    return read_picture(path, width, height, "L").astype(np.float32) / 255.0


class InpaintGuide:
    """Holds one movie's mask and reference; ``pull`` and ``composite`` apply them.

    Build with ``InpaintGuide.build``. With no reference image, ``set_reference`` must be
    given the first keyframe (its trajectory with every step, and its image) before ``pull``
    or ``composite`` is used on any other frame.
    """

    def __init__(self, mask: np.ndarray, latent_mask: torch.Tensor) -> None:
        self.mask = mask[..., None]  # (H, W, 1) float32
        self.latent_mask = latent_mask  # (1, 1, h, w) on the device
        self.image: np.ndarray | None = None  # reference (H, W, 3) uint8
        self._trajectory: dict[int, torch.Tensor] | None = None
        self._clean: torch.Tensor | None = None
        self._noise: torch.Tensor | None = None
        self._scheduler: Scheduler | None = None
        self._steps = 0

    @classmethod
    def build(
        cls,
        mask_path: str,
        image_path: str,
        *,
        pipe: Pipeline,
        scheduler: Scheduler,
        steps: int,
        width: int,
        height: int,
        device: torch.device,
        dtype: torch.dtype,
        seed: int,
    ) -> InpaintGuide:
        """Read the mask (and the reference image, when ``image_path`` is not empty) and
        prepare them on ``device``. ``scheduler`` is copied; ``seed`` draws the noise that
        takes the image's latent to each step."""
        import copy

        mask = read_mask(mask_path, width, height)
        h, w = height // pipe.vae_scale_factor, width // pipe.vae_scale_factor
        # Averaged over each latent cell: a cell half inside the mask is half pulled.
        small = torch.from_numpy(mask)[None, None]
        latent_mask = torch.nn.functional.adaptive_avg_pool2d(small, (h, w))
        guide = cls(mask, latent_mask.to(device=device, dtype=dtype))
        if image_path:
            picture = read_picture(image_path, width, height, "RGB")
            guide.image = picture
            pixels = torch.from_numpy(picture).permute(2, 0, 1)[None].float() / 127.5 - 1.0
            guide._clean = encode_images(pipe, pixels.to(device=device, dtype=dtype))
            noise = torch.randn(guide._clean.shape, generator=torch.Generator().manual_seed(seed))
            guide._noise = noise.to(device=device, dtype=dtype)
            guide._scheduler = copy.deepcopy(scheduler)
            guide._scheduler.set_timesteps(steps, device=device)
            guide._steps = steps
        return guide

    @property
    def needs_reference(self) -> bool:
        """True until the first keyframe is given as the reference (no image was)."""
        return self._clean is None and self._trajectory is None

    @property
    def reference(self) -> tuple[dict[int, torch.Tensor], np.ndarray] | None:
        """The first keyframe's trajectory and image once it is the reference; else None."""
        return None if self._trajectory is None else (self._trajectory, self.image)

    def set_reference(self, trajectory: dict[int, torch.Tensor], image: np.ndarray) -> None:
        """Use the first keyframe (every step of its trajectory, and its image) as reference."""
        self._trajectory = trajectory
        self.image = image

    def reference_at(self, i: int) -> torch.Tensor:
        """The reference latent entering step ``i`` (``i == steps``: the clean latent)."""
        if self._trajectory is not None:
            return self._trajectory[i]
        if i >= self._steps:
            return self._clean
        t = self._scheduler.timesteps[i : i + 1]
        return self._scheduler.add_noise(self._clean, self._noise, t)

    def pull(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """``x`` (entering step ``i``) with its fixed region set to the reference's."""
        m = self.latent_mask
        return m * x + (1 - m) * self.reference_at(i)

    def composite(self, image: np.ndarray) -> np.ndarray:
        """A decoded frame over the reference image through the full-resolution mask."""
        mixed = self.mask * image.astype(np.float32) + (1 - self.mask) * self.image
        return np.clip(np.round(mixed), 0, 255).astype(np.uint8)
