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

Every frame's low-resolution image gets the same seeded noise at ``noise_level``, so the
conditioning differs between frames only where the images do.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from studio.blend.plan import BlendPlan
from studio.blend.transitions import Frame
from studio.pipeline.conditioning import TextStates
from studio.pipeline.denoise import denoise, one_timestep_per_step
from studio.pipeline.interpolate import lerp, slerp
from studio.pipeline.latents import branch_seed, decode, latent_shape, seeded_noise
from studio.pipeline.text import with_negative

if TYPE_CHECKING:
    from studio.events import CancelToken
    from studio.pipeline.common import Clock
    from studio.pipeline.models import LoadedModel
    from studio.pipeline.schedulers import Scheduler

__all__ = ["UpscaleStage"]


class UpscaleStage:
    """Upscales the frames of each transition; keeps the keyframe shared by two."""

    def __init__(
        self,
        plan: BlendPlan,
        loaded: LoadedModel,
        scheduler: Scheduler,
        embeddings: dict[str, TextStates],
        clock: Clock,
        cancel: CancelToken,
    ) -> None:
        spec = plan.spec
        u, d = spec.upscale, spec.diffusion
        self.plan, self.clock, self.cancel = plan, clock, cancel
        self.pipe, self.device, self.dtype = loaded.pipe, loaded.device, loaded.dtype
        self.scheduler = scheduler
        self.steps = u.steps
        self.guidance = u.guidance
        self.guided = u.guidance > 1.0
        self.dampening = spec.blend.guidance_dampening
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
        self.factor = self.pipe.vae_scale_factor
        # The upscaler's latents are the size of a low-resolution frame.
        self.latent_shape = latent_shape(self.pipe, d.width * self.factor, d.height * self.factor)
        one_timestep_per_step(scheduler, self.steps)
        # A copy: add_noise moves the scheduler's tables to the device, and the pipeline's
        # own components are shared.
        low_res = copy.deepcopy(self.pipe.low_res_scheduler)
        noise = torch.randn(
            (1, 3, d.height, d.width), generator=torch.Generator().manual_seed(d.seed)
        )
        self._noise = noise.to(device=self.device, dtype=self.dtype)
        self._low_res = low_res
        self._level = torch.tensor([u.noise_level], dtype=torch.long, device=self.device)
        self.denoise_steps = 0
        self.seconds = 0.0
        self._carried: tuple[dict[int, torch.Tensor], np.ndarray] | None = None

    def transition(self, t: int, frames: list[Frame]) -> list[np.ndarray]:
        """Upscaled images of transition ``t``'s frames (in prompt order)."""
        began = time.perf_counter()
        trajectories: dict[int, dict[int, torch.Tensor]] = {}
        images: dict[int, np.ndarray] = {}
        for frame in sorted(frames, key=lambda f: f.created):
            if frame.created == 0 and self._carried is not None:
                trajectories[id(frame)], images[id(frame)] = self._carried
                continue
            if frame.parents is None:  # a keyframe
                j = t + frame.created
                seed = self.plan.keyframe_seeds[j]
                start = seeded_noise(self.latent_shape, [seed], self.device, self.dtype)
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
            image = self._condition(frame.image)
            trajectory = denoise(
                self.pipe.unet,
                self.scheduler,
                self.steps,
                start,
                text,
                guidance,
                cancel=self.cancel,
                clock=self.clock,
                start=k,
                generator=torch.Generator().manual_seed(seed),
                keep=self.keep,
                image=image,
                class_labels=self._level.repeat(image.shape[0]),
            ).trajectory
            self.denoise_steps += self.steps - k
            with self.clock.stage("vae"):
                images[id(frame)] = decode(self.pipe, trajectory[self.steps])[0]
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

    def _condition(self, image: np.ndarray) -> torch.Tensor:
        """A low-resolution frame as the upscaler's extra input: [-1, 1], noised, batched."""
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        pixels = pixels.to(device=self.device, dtype=self.dtype)
        noised = self._low_res.add_noise(pixels, self._noise, self._level)
        return torch.cat([noised, noised]) if self.guided else noised
