"""The optional upscaling stage of a blend: every diffusion frame through an upscaler, as a tree.

An upscaler pipeline (``StableDiffusionUpscalePipeline``: a UNet that takes the latents
concatenated with a noised low-resolution image, and the noise level as class label) renders
each low-resolution diffusion frame again at ``vae_scale_factor`` times the size. The stage
repeats the transition's tree instead of rendering frames independently, so the upscaled
frames share their trajectories as the low-resolution ones do:

- a keyframe runs all the upscaler's steps from its own seeded noise (once: the right keyframe
  of a transition is the left one of the next);
- an in-between frame starts at its level's injection step rescaled to the upscaler's steps
  (``BlendTree.rescaled``) from the slerp, with its own weight, of its parents' upscaler
  latents there, conditioned on its own low-resolution image and its own text mix.

The upscaler itself (loading, the noised low-resolution image, the loop, decoding) is
``studio.pipeline.upscale.Upscaler``, which an animation's upscale stage shares.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from studio.blend.plan import BlendPlan
from studio.blend.transitions import Frame
from studio.pipeline.conditioning import TextStates
from studio.pipeline.interpolate import lerp, slerp
from studio.pipeline.latents import branch_seed, seeded_noise
from studio.pipeline.text import with_negative
from studio.pipeline.upscale import Upscaler

__all__ = ["UpscaleStage"]


class UpscaleStage:
    """Upscales the frames of each transition; keeps the keyframe shared by two."""

    def __init__(self, plan: BlendPlan, upscaler: Upscaler) -> None:
        spec = plan.spec
        self.plan, self.upscaler = plan, upscaler
        self.steps = upscaler.steps
        self.guidance = upscaler.guidance
        self.guided = upscaler.guided
        self.dampening = spec.blend.guidance_dampening
        embeddings = upscaler.embeddings
        self.cond = [embeddings[p] for p in plan.prompts]
        self.uncond = [embeddings[n] for n in plan.negatives] if self.guided else None
        self.mix = slerp if spec.blend.embeddings == "slerp" else lerp
        # Low-resolution injection step -> the upscaler's.
        rescaled = plan.upscale_tree
        self.inject = {
            low.injection_step: high.injection_step
            for low, high in zip(plan.tree.levels, rescaled.levels, strict=True)
        }
        self.keep = {*self.inject.values(), self.steps}
        self.factor = upscaler.factor
        self.latent_shape = upscaler.latent_shape
        self.denoise_steps = 0
        self.seconds = 0.0
        self._carried: tuple[dict[int, torch.Tensor], np.ndarray] | None = None

    def transition(self, t: int, frames: list[Frame]) -> list[np.ndarray]:
        """Upscaled images of transition ``t``'s frames (in prompt order)."""
        began = time.perf_counter()
        up = self.upscaler
        trajectories: dict[int, dict[int, torch.Tensor]] = {}
        images: dict[int, np.ndarray] = {}
        for frame in sorted(frames, key=lambda f: f.created):
            if frame.created == 0 and self._carried is not None:
                trajectories[id(frame)], images[id(frame)] = self._carried
                continue
            if frame.parents is None:  # a keyframe
                j = t + frame.created
                seed = self.plan.keyframe_seeds[j]
                start = seeded_noise(self.latent_shape, [seed], up.device, up.dtype)
                k = 0
                text = with_negative(self.cond[j], self.uncond[j] if self.guided else None)
                guidance = self.guidance
            else:
                a, b = frame.parents
                k = self.inject[frame.injection_step]
                start = slerp(trajectories[id(a)][k], trajectories[id(b)][k], frame.weight)
                p = frame.position
                text = with_negative(
                    TextStates.mix(self.cond[t], self.cond[t + 1], p, self.mix),
                    TextStates.mix(self.uncond[t], self.uncond[t + 1], p, self.mix)
                    if self.guided
                    else None,
                )
                guidance = self.guidance * (1 - self.dampening * 4 * p * (1 - p))
                branch = frame.created - 2  # 0 for the first in-between made
                seed = branch_seed(self.plan.keyframe_seeds[t], branch, stage=1)
            trajectory = up.denoise(
                start, text, frame.image, guidance=guidance, seed=seed, start=k, keep=self.keep
            ).trajectory
            self.denoise_steps += self.steps - k
            images[id(frame)] = up.decode(trajectory[self.steps])
            trajectories[id(frame)] = trajectory
        right = frames[-1]
        self._carried = (trajectories[id(right)], images[id(right)])
        self.seconds += time.perf_counter() - began
        return [images[id(f)] for f in frames]

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(JSON-safe fields, tensors)`` that ``restore`` needs to go on after the last
        transition: the counters and the carried right keyframe's trajectory and image."""
        trajectory, image = self._carried
        fields = {"denoise_steps": self.denoise_steps, "seconds": self.seconds}
        tensors = {
            "trajectory": trajectory,
            "image": torch.from_numpy(np.ascontiguousarray(image)),
        }
        return fields, tensors

    def restore(self, fields: dict[str, Any], tensors: dict[str, Any]) -> None:
        """Take up what ``state`` gave (its tensors on this stage's device)."""
        self.denoise_steps = fields["denoise_steps"]
        self.seconds = fields["seconds"]
        self._carried = (tensors["trajectory"], tensors["image"].cpu().numpy())
