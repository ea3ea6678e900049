"""Plan an animation before any model work: frames, keyframes, seeds, weights, batches, cost.

Pure and torch-free, so the dashboard can draw the interpolation chart and show the cost of a
render as the user types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.curves import parse_curve
from studio.easing import FrameWeights, frame_weights
from studio.schedule import PromptSchedule, parse_schedule
from studio.spec import AnimationSpec

__all__ = ["AnimationPlan", "plan_animation"]


@dataclass(frozen=True)
class AnimationPlan:
    spec: AnimationSpec
    schedule: PromptSchedule
    weights: FrameWeights  # per frame: keyframe segment and weight toward the next keyframe
    keyframe_seeds: tuple[int, ...]
    prompts: tuple[str, ...]  # positive prompt per keyframe
    negatives: tuple[str, ...]  # negative prompt per keyframe ("" for none)
    batches: tuple[range, ...]  # frame indices denoised together

    @property
    def frames(self) -> int:
        return self.schedule.frame_count

    @property
    def predicted_denoise_steps(self) -> int:
        """One latent through one scheduler step, for every frame."""
        return self.frames * self.spec.diffusion.steps

    @property
    def unique_prompts(self) -> tuple[str, ...]:
        """Each text the encoder must see, once; the unconditional "" only with guidance."""
        texts = dict.fromkeys(self.prompts)
        if self.spec.diffusion.guidance > 1.0:
            texts.update(dict.fromkeys(self.negatives))
        return tuple(texts)

    def summary(self) -> dict[str, Any]:
        """JSON-safe facts for events, the store and the page."""
        return {
            "frames": self.frames,
            "fps": self.spec.animation.fps,
            "seconds_of_video": round(self.frames / self.spec.animation.fps, 3),
            "keyframes": [k.frame for k in self.schedule.keyframes],
            "keyframe_seeds": list(self.keyframe_seeds),
            "unique_prompts": len(self.unique_prompts),
            "batches": len(self.batches),
            "predicted_denoise_steps": self.predicted_denoise_steps,
        }


def plan_animation(spec: AnimationSpec) -> AnimationPlan:
    """Check ``spec`` and work out every frame. Raises the spec's own errors, nothing else."""
    spec.check()
    schedule = parse_schedule(spec.prompts.schedule)
    anim = spec.animation
    curve = parse_curve(anim.easing_curve, names=("t", "s")) if anim.easing == "curve" else None
    weights = frame_weights(schedule, anim.easing, anim.sine_frequencies, curve)

    base = spec.diffusion.seed
    seeds = []
    for i, key in enumerate(schedule.keyframes):
        if key.seed is not None:
            seeds.append(key.seed)
        else:  # "fixed": every keyframe without its own seed shares the base latent
            seeds.append(base if anim.latents == "fixed" else (base + i) % 2**63)

    default_negative = schedule.negative or spec.prompts.negative_prompt
    negatives = tuple(
        k.negative if k.negative is not None else default_negative for k in schedule.keyframes
    )
    frames = schedule.frame_count
    size = anim.batch_size
    batches = tuple(range(i, min(i + size, frames)) for i in range(0, frames, size))
    return AnimationPlan(
        spec=spec,
        schedule=schedule,
        weights=weights,
        keyframe_seeds=tuple(seeds),
        prompts=tuple(k.prompt for k in schedule.keyframes),
        negatives=negatives,
        batches=batches,
    )


def blend_position(plan: AnimationPlan) -> np.ndarray:
    """Where each frame sits between keyframes as one number: segment + weight, shape (F,).

    The dashboard plots this: a straight staircase for linear easing, S-curves for sine.
    """
    return plan.weights.segment.astype(np.float64) + plan.weights.weight
