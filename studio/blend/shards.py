"""Where a blend splits for scale-out (``studio.pipeline.shards``): its keyframes first
(stage 0: each keyframe is its own prompt and seed, needing nothing else), then its
transitions (stage 1: each needs only its two keyframes' trajectories). Inside a
transition, the branches of one tree level need only the level above them; those are
left to the one worker of the transition (a finer split would send trajectories, a few
MB each, between workers for every level).

A seconds budget (``blend.budget_seconds``) sizes each transition by the time the ones
before it took, so such a blend runs as one shard.
"""

from __future__ import annotations

from studio.blend.plan import BlendPlan
from studio.pipeline.shards import Shard, ShardPlan

__all__ = ["blend_reason", "plan_blend_shards"]


def blend_reason(plan: BlendPlan) -> str | None:
    """Why ``plan``'s transitions cannot be made apart (one line), or None."""
    if not plan.fixed_size:
        return "a seconds budget sizes each transition by the time the ones before it took"
    if plan.spec.blend.inpaint_mask:
        return "an inpainting blend's frames follow keyframe 0, its reference"
    if plan.spec.upscale.model:
        return "the upscale stage carries its state from transition to transition"
    if plan.transitions < 2:
        return "one transition: nothing to make at the same time"
    return None


def plan_blend_shards(plan: BlendPlan, workers: int) -> ShardPlan:
    """The shards of ``plan`` for ``workers``: a shard per keyframe, then a shard per
    transition; or the whole blend as one shard with the reason."""
    tree, keys = plan.tree, len(plan.prompts)
    why = blend_reason(plan)
    if why is not None:
        total = tree.movie_denoise_steps(keys) if plan.fixed_size else 0
        one = Shard(0, 0, range(plan.video_frames), total, "the whole blend")
        return ShardPlan("blend", workers, (one,), why_one=why)
    shards = [Shard(j, 0, range(0), tree.steps, f"keyframe {j}") for j in range(keys)]
    for t in range(plan.transitions):
        a, b = plan.joins[t], plan.joins[t + 1] + (1 if plan.shows_last_keyframe(t) else 0)
        shards.append(
            Shard(
                keys + t,
                1,
                range(a, min(b, plan.video_frames)),
                tree.transition_steps,
                f"transition {t}: prompts {t}-{t + 1}, video frames {a}-{min(b, plan.video_frames) - 1}",
            )
        )
    return ShardPlan("blend", workers, tuple(shards))
