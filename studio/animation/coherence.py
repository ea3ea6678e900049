"""Coherence: pull each frame's latents toward a running reference of the frames before it.

Closed form, on each frame's final (clean) latents, in frame order::

    pulled    = latent + scale * (reference - latent)
    reference = (1 - alpha) * reference + alpha * pulled

then ``noise[f]`` times a seeded Gaussian is added to the pulled frame ``f`` (its own
generator, seeded by the render's seed and the frame, so batching and resume draw the same):
a schedule of fresh detail that keeps a strong pull from freezing the picture.

The first frame sets the reference and is left as it is. ``scale`` 0 is off, 1 repeats the
reference; ``alpha`` is how fast the reference follows new frames. The pull runs after a
batch is denoised, frame by frame in order, so a batch of 4 gives the same frames as four
batches of 1 (up to the float rounding of batched convolutions): the reference only depends
on earlier frames' final latents, which the batch already has.

With feedback (motion) the next frame starts from the pulled frame's picture, so the pull
carries through img2img too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["Coherence"]


class Coherence:
    """The running reference; one instance per render, fed every frame in order."""

    def __init__(
        self, scale: float, alpha: float, noise: np.ndarray | None = None, seed: int = 0
    ) -> None:
        if not 0 <= scale <= 1:
            raise ValueError(f"coherence scale must be between 0 and 1, got {scale}")
        if not 0 < alpha <= 1:
            raise ValueError(f"coherence alpha must be in (0, 1], got {alpha}")
        self.scale = scale
        self.alpha = alpha
        self.noise = noise  # per-frame standard deviations, (F,), or None
        self.seed = seed
        self.reference: torch.Tensor | None = None

    def apply(self, latents: torch.Tensor, frames: Sequence[int] | None = None) -> torch.Tensor:
        """``latents`` (B, C, h, w): B consecutive frames -> the pulled latents, same shape.

        ``frames``: their frame numbers (needed when a noise schedule is set). Works in
        float32 (whatever the model's dtype) and returns ``latents``' dtype.
        """
        out = []
        for i, latent in enumerate(latents.float()):
            if self.reference is None:
                pulled = latent
                self.reference = latent.clone()
            else:
                pulled = latent + self.scale * (self.reference - latent)
                if self.noise is not None and frames is not None:
                    pulled = pulled + self._noise(int(frames[i]), pulled)
                self.reference = (1 - self.alpha) * self.reference + self.alpha * pulled
            out.append(pulled)
        return torch.stack(out).to(latents.dtype)

    def _noise(self, frame: int, like: torch.Tensor) -> torch.Tensor:
        amount = float(self.noise[frame])
        if amount <= 0:
            return torch.zeros_like(like)
        generator = torch.Generator().manual_seed((self.seed + 0x5851F42D * (frame + 1)) % 2**63)
        draw = torch.randn(tuple(like.shape), generator=generator)
        return amount * draw.to(device=like.device, dtype=like.dtype)
