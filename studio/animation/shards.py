"""Where an animation splits for scale-out (``studio.pipeline.shards``).

Without feedback every frame is a function of the spec alone (seeded noise, the schedule,
its own video frame): the frames split into ranges on batch boundaries, and a worker that
makes frames 40-79 gives the bits a one-process render gives them. A video input splits the
same way, each worker reading the stream from its first frame.

Some settings make a frame need frames made before it; those renders run as one shard, and
the plan says why: motion curves (2D or 3D: each frame starts from the one before it),
coherence (a pull toward earlier frames), colour matching to the first frame, an upscale
stage (it carries state from frame to frame), an inpainting mask (read in frame order).
"""

from __future__ import annotations

from studio.animation.plan import AnimationPlan
from studio.pipeline.shards import Shard, ShardPlan, batch_ranges

__all__ = ["feedback_reason", "plan_animation_shards"]


def feedback_reason(plan: AnimationPlan) -> str | None:
    """Why ``plan``'s frames cannot be made apart (one line), or None when they can."""
    spec = plan.spec
    m = spec.motion
    if plan.curves is not None and plan.curves.feedback:
        return "motion curves start each frame from the one before it"
    if m.coherence_scale > 0:
        return "coherence pulls each frame toward the frames before it"
    if m.color_match == "first":
        return "colour matching to the first frame needs frame 0 before the others"
    if spec.upscale.model:
        return "the upscale stage carries its state from frame to frame"
    if spec.edit.mask:
        return "an inpainting mask is read in frame order"
    return None


def plan_animation_shards(
    plan: AnimationPlan, workers: int, *, model_reason: str | None = None
) -> ShardPlan:
    """The shards of ``plan`` for ``workers`` workers: frame ranges on batch boundaries,
    or the whole render as one shard with the reason. ``model_reason``: why the model itself
    keeps the frames together (its family, read from its folder by the caller), if it does."""
    why = feedback_reason(plan) or model_reason
    steps = plan.frame_steps or (plan.spec.diffusion.steps,) * plan.frames
    ranges = [range(0, plan.frames)] if why else batch_ranges(plan.batches, workers)
    shards = tuple(
        Shard(
            index=i,
            stage=0,
            frames=r,
            cost=sum(steps[f] for f in r),
            label=f"frames {r.start}-{r.stop - 1}",
        )
        for i, r in enumerate(ranges)
    )
    notes = ()
    if why is None and plan.init_kinds and "video" in plan.init_kinds and len(shards) > 1:
        notes = ("each worker reads the video input from the start to its first frame",)
    return ShardPlan("animation", workers, shards, why_one=why, notes=notes)
