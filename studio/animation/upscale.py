"""An animation's upscale stage: each finished frame rendered again through an upscaler.

Every frame is upscaled on its own as soon as it is final (colours matched, inpainting's
unmasked pixels kept), one at a time, and only the upscaled frame goes on to the writer; the
low-resolution frame stays the render's own (motion feedback and colour matching read it),
so upscaling changes no low-resolution frame. A frame's upscaler run follows the
animation's own seed policy, as the blend's stage follows its tree
(``studio.pipeline.upscale`` holds what the two share):

- its start is the slerp, at the frame's weight, of its two keyframes' seeded noise in the
  upscaler's latent shape (each keyframe's own seed, as the frame's low-resolution latents);
- its text is the same interpolation of its keyframes' texts (slerp or lerp, as the
  spec's ``animation.interpolation``), encoded once by the upscaler's text encoder;
- an ancestral scheduler draws from ``step_seed(seed, frame, stage=1)``.

So a frame's upscaled image depends on the spec and that frame alone: a resumed render
makes the same frames. The checkpoint keeps the upscaled frames (what the file holds) and
the low-resolution frames the next ones read (``low_res``), which a resume gives back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from studio.animation.plan import AnimationPlan
from studio.pipeline.conditioning import TextStates
from studio.pipeline.interpolate import lerp, slerp
from studio.pipeline.latents import seeded_noise, step_seed
from studio.pipeline.text import with_negative
from studio.pipeline.upscale import open_spec_upscaler

if TYPE_CHECKING:
    from studio.animation.init_images import InitImages
    from studio.events import CancelToken
    from studio.pipeline.common import Clock
    from studio.pipeline.models import ModelManager
    from studio.pipeline.upscale import Upscaler

__all__ = ["AnimationUpscale", "open_animation_upscale"]


class AnimationUpscale:
    """Upscales the frames of one animation, one frame at a time, in any order."""

    def __init__(self, plan: AnimationPlan, upscaler: Upscaler) -> None:
        self.plan, self.upscaler = plan, upscaler
        up = upscaler
        self.factor = up.factor
        self.denoise_steps = 0
        self.mix = slerp if plan.spec.animation.interpolation == "slerp" else lerp
        self.cond = TextStates.cat([up.embeddings[p] for p in plan.prompts])
        self.uncond = (
            TextStates.cat([up.embeddings[n] for n in plan.negatives]) if up.guided else None
        )
        # One seeded noise per keyframe, (K, C, h, w): small beside the frames it makes.
        self.noise = seeded_noise(up.latent_shape, plan.keyframe_seeds, up.device, up.dtype)
        self.last_key = len(plan.schedule.keyframes) - 1

    def frame(self, f: int, image: np.ndarray) -> np.ndarray:
        """Frame ``f``'s low-resolution ``image`` (H, W, 3) uint8, upscaled:
        (H * factor, W * factor, 3) uint8. Counts its ``steps`` denoise steps."""
        up, plan = self.upscaler, self.plan
        seg = int(plan.weights.segment[f])
        nxt = min(seg + 1, self.last_key)
        w = torch.tensor([float(plan.weights.weight[f])], device=up.device)
        start = slerp(self.noise[seg : seg + 1], self.noise[nxt : nxt + 1], w)
        w_text = w.to(self.cond.states.device)
        text = TextStates.mix(self.cond[seg : seg + 1], self.cond[nxt : nxt + 1], w_text, self.mix)
        negative = None
        if self.uncond is not None:
            negative = TextStates.mix(
                self.uncond[seg : seg + 1], self.uncond[nxt : nxt + 1], w_text, self.mix
            )
        seed = step_seed(plan.spec.diffusion.seed, f, stage=1)
        done = up.denoise(
            start, with_negative(text, negative), image, guidance=up.guidance, seed=seed
        )
        self.denoise_steps += done.steps
        return up.decode(done.latents)

    def state(self, inits: InitImages) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(JSON-safe fields, tensors)`` for the checkpoint after a batch: this stage's
        steps, and the low-resolution frames the next frames read (the checkpoint's frames
        are the upscaled ones): the last made, and the first when colours match it."""
        low_res = {"last": torch.from_numpy(np.ascontiguousarray(inits.previous))}
        if inits.first is not None:
            low_res["first"] = torch.from_numpy(np.ascontiguousarray(inits.first))
        return {"upscale_denoise_steps": self.denoise_steps}, {"low_res": low_res}

    def restore(
        self, fields: dict[str, Any], tensors: dict[str, Any], inits: InitImages, done: int
    ) -> None:
        """Take up what ``state`` gave after ``done`` frames: the steps, and ``inits``'s
        low-resolution frames."""
        self.denoise_steps = fields["upscale_denoise_steps"]
        low_res = tensors["low_res"]
        if "first" in low_res:
            inits.made(0, low_res["first"].cpu().numpy())
        inits.made(done - 1, low_res["last"].cpu().numpy())


def open_animation_upscale(
    plan: AnimationPlan, manager: ModelManager, clock: Clock, cancel: CancelToken
) -> AnimationUpscale:
    """Load the spec's upscaler (with the drawing model's device, dtype and memory options)
    and encode the keyframes' texts with it."""
    upscaler = open_spec_upscaler(
        plan.spec, plan.prompts, plan.negatives, manager=manager, clock=clock, cancel=cancel
    )
    return AnimationUpscale(plan, upscaler)
