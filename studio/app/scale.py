"""Scale-out: one render over many Ray workers, the same frames as one process.

``shard_plan(spec)`` says how a spec splits (``studio.pipeline.shards``; pure but for
probing the input video, like ``--plan``). ``render_scaled`` is the render kinds' engine
when ``spec.diffusion.workers > 1`` or a cluster is named (``studio.app.registry``):

1. check and plan the render and its shards; a plan that does not split renders here,
   in one process, with a note saying why;
2. open the one writer and the resume checkpoint; replay the frames an earlier, killed
   attempt finished, and take up the shards it had finished ahead of them
   (a per-shard checkpoint each: ``<out_dir>/.<name>-shard-<i>.checkpoint/``);
3. connect to Ray (``studio.app.ray_runtime``), start one actor per worker, and hand out the
   shards, at most two a worker in flight (each holds at most ``batch_ranges``' frames);
4. as shards finish, write them in frame order into the writer (a shard finished ahead of
   its turn goes to its per-shard checkpoint on disk, not into memory), commit the
   checkpoint and report progress with the newest frame as the preview; a cancel kills
   every worker at once (their shards stop), and the file keeps the frames written;
5. finish the file and its soundtrack, and return the result with ``scale_out``: the plan,
   the workers, and each shard's worker, seconds and denoise steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.events import CancelToken, NullEvents, RenderEvents, RenderResult
from studio.pipeline.shards import ShardPlan
from studio.spec import AnimationSpec, Spec
from studio.spec.scale import without_scale

__all__ = ["render_scaled", "shard_plan"]


def shard_plan(spec: Spec) -> ShardPlan:
    """How ``spec`` (checked) splits over ``spec.diffusion.workers`` workers."""
    workers = spec.diffusion.workers
    if isinstance(spec, AnimationSpec):
        from studio.animation.frames import plan_with_media
        from studio.animation.shards import plan_animation_shards
        from studio.media.inputs import check_inputs

        plan = plan_with_media(spec, check_inputs(spec))[0]
        return plan_animation_shards(plan, workers, model_reason=_family_reason(spec))
    from studio.blend.plan import plan_blend
    from studio.blend.shards import plan_blend_shards

    return plan_blend_shards(plan_blend(spec), workers)


def _family_reason(spec: AnimationSpec) -> str | None:
    """Why an inpainting or InstructPix2Pix model keeps an animation's frames together."""
    from studio.pipeline.families import folder_family

    family = folder_family(spec.diffusion.model)
    if family is not None and family.name.split("-")[0] in ("inpaint", "pix2pix"):
        return f"{family.label} models read their pictures in frame order"
    return None


def render_scaled(
    spec: Spec,
    out_dir: Path,
    *,
    manager: Any,
    events: RenderEvents | None = None,
    cancel: CancelToken | None = None,
    resume: bool = False,
) -> RenderResult:
    """Render ``spec`` on Ray workers into ``out_dir`` (see the module docstring); the
    arguments and errors of the kinds' engines, ``ScaleOutError`` when Ray cannot start."""
    events = events or NullEvents()
    cancel = cancel or CancelToken()
    plan = shard_plan(spec)
    local = without_scale(spec)
    if plan.why_one is not None:
        note = f"rendered in one process, not on {spec.diffusion.workers} workers: {plan.why_one}"
        facts = {**plan.summary(), "ran": "one process"}
        told = _Told(events, note, facts)  # the record hears them with the result
        return _render_here(local, out_dir, manager, told, cancel, resume)
    if isinstance(spec, AnimationSpec):
        from studio.app.scale_animation import render_animation_shards

        return render_animation_shards(
            spec, plan, out_dir, manager=manager, events=events, cancel=cancel, resume=resume
        )
    from studio.app.scale_blend import render_blend_shards

    return render_blend_shards(
        spec, plan, out_dir, manager=manager, events=events, cancel=cancel, resume=resume
    )


def _render_here(
    spec: Spec,
    out_dir: Path,
    manager: Any,
    events: RenderEvents,
    cancel: CancelToken,
    resume: bool,
) -> RenderResult:
    if isinstance(spec, AnimationSpec):
        from studio.animation.render import render_animation

        return render_animation(
            spec, out_dir, manager=manager, events=events, cancel=cancel, resume=resume
        )
    from studio.blend.render import render_blend

    return render_blend(spec, out_dir, manager=manager, events=events, cancel=cancel, resume=resume)


class _Told:
    """``events``, with a note and the scale-out facts put on the result before
    ``finished`` hears it (a render that did not split says so in its record)."""

    def __init__(self, events: RenderEvents, note: str, facts: dict[str, Any]) -> None:
        self._events, self._note, self._facts = events, note, facts

    def finished(self, result: RenderResult) -> None:
        result.notes.append(self._note)
        result.scale_out = self._facts
        self._events.finished(result)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._events, name)
