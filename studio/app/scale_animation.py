"""An animation rendered as shards on Ray workers (``studio.app.scale`` steps 2-5): the one
writer here, frames in order, per-shard checkpoints, cancel, progress and the record."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from studio.app.ray_runtime import as_finished, worker_pool
from studio.app.scale_driver import device_of, replay, scale_out_facts, shard_timing
from studio.events import CancelToken, RenderEvents
from studio.pipeline.shards import Shard, ShardPlan
from studio.spec import AnimationSpec
from studio.spec.scale import without_scale

__all__ = ["render_animation_shards"]

_NAME = "animation"


def render_animation_shards(
    spec: AnimationSpec,
    plan: ShardPlan,
    out_dir: Path,
    *,
    manager: Any,
    events: RenderEvents,
    cancel: CancelToken,
    resume: bool,
) -> Any:
    """Render ``spec``'s shards (``plan``, one that splits) on Ray into ``out_dir``; returns
    an ``AnimationResult`` with ``scale_out``."""
    from studio.animation.frames import plan_with_media
    from studio.animation.render import AnimationResult
    from studio.animation.soundtrack import add_sound
    from studio.media.checkpoint import FrameCheckpoint
    from studio.media.inputs import check_inputs
    from studio.pipeline.common import Clock, finish_render, open_render_output, stop_early

    clock = Clock()
    local = without_scale(spec)  # what the checkpoints are of: workers do not change frames
    d, anim, o = spec.diffusion, spec.animation, spec.output
    writer = checkpoint = None
    spools: dict[int, tuple[Any, int]] = {}  # shard -> its spool (None: written), steps
    done = 0
    try:
        # 1. The plan (checked as the one-process render checks it).
        spec.check()
        media = check_inputs(spec)
        frames_plan, _ = plan_with_media(spec, media)
        total = frames_plan.frames
        checkpoint = FrameCheckpoint.open(out_dir, _NAME, local, resume=resume)
        events.started({**frames_plan.summary(), "device": d.device, "scale_out": plan.summary()})

        # 2. The one writer; the frames and the shards an earlier attempt finished.
        writer = open_render_output(
            out_dir,
            _NAME,
            o,
            fps=anim.fps,
            width=d.width,
            height=d.height,
            device=device_of(d.device),
        )
        denoise_steps = checkpoint.denoise_steps_before
        done = replay(checkpoint, writer, clock, events, total)
        todo: list[Shard] = []
        for s in plan.shards:
            if s.frames.stop <= done:
                continue
            if s.frames.start < done:  # an earlier attempt in one process stopped inside it
                s = Shard(s.index, s.stage, range(done, s.frames.stop), s.cost, s.label)
            spool = FrameCheckpoint.open(out_dir, _spool_name(s), local, resume=resume)
            if spool.frames_done == len(s.frames):  # finished ahead of its turn earlier
                spools[s.index] = (spool, spool.denoise_steps_before)
            else:
                spool.remove()
            todo.append(s)
        resumed_shards = sorted(spools)

        # 3.-4. The workers; the shards in flight; their frames in order into the writer.
        timings: list[dict[str, Any]] = []

        def write(shard: Shard, images: Any, steps: int) -> None:
            nonlocal done, denoise_steps
            image = None
            with clock.stage("write"):
                for image in images:
                    writer.write(image)
                    checkpoint.add_frame(image)
                denoise_steps += steps
                checkpoint.commit(denoise_steps=denoise_steps)
            done = shard.frames.stop
            events.progress(done, total, image)

        gpu = device_of(d.device) != "cpu"
        pool = worker_pool(d.workers, d.ray_address, cache_dir=manager.cache_dir, gpu=gpu)
        with pool as (ray, actors):  # a cancel or an error kills the workers
            spec_ref = ray.put(local)
            finished_shards = as_finished(
                ray,
                actors,
                deque(s for s in todo if s.index not in spools),
                lambda actor, s: actor.animation.remote(spec_ref, s.frames.start, s.frames.stop),
                cancel,
            )
            for shard in todo:
                while shard.index not in spools:
                    finished, result = next(finished_shards)
                    timings.append(shard_timing(finished.index, result, finished.frames))
                    steps = result["denoise_steps"]
                    if finished.index == shard.index:  # its turn: straight to the file
                        write(finished, result["frames"], steps)
                        spools[finished.index] = (None, 0)
                        continue
                    spool = FrameCheckpoint.open(  # ahead of its turn: to disk
                        out_dir, _spool_name(finished), local, resume=False
                    )
                    with clock.stage("write"):
                        for frame in result["frames"]:
                            spool.add_frame(frame)
                        spool.commit(denoise_steps=steps)
                    spools[finished.index] = (_reopened(out_dir, finished, local), steps)
                spool, steps = spools.pop(shard.index)
                if spool is not None:
                    write(shard, spool.frames(), steps)
                    spool.remove()
                cancel.raise_if_cancelled()

        # 5. The file, its soundtrack, the result.
        with clock.stage("write"):
            output = writer.close()
        writer = None
        output, notes = add_sound(spec, output, clock, media.video and media.video.path)
        timings.sort(key=lambda t: t["shard"])
        return finish_render(
            AnimationResult,
            output,
            checkpoint,
            clock,
            events,
            denoise_steps,
            notes=notes,
            scale_out=scale_out_facts(plan, d, resumed_shards, timings),
        )
    except BaseException as exc:
        for spool, _ in spools.values():
            if spool is not None:
                spool.remove()
        stop_early(
            exc, writer=writer, frames_written=bool(done), checkpoint=checkpoint, events=events
        )
        raise


def _spool_name(shard: Shard) -> str:
    return f"{_NAME}-shard-{shard.index}"


def _reopened(out_dir: Path, shard: Shard, spec: AnimationSpec) -> Any:
    """A shard's checkpoint as committed, opened again to be read back."""
    from studio.media.checkpoint import FrameCheckpoint

    return FrameCheckpoint.open(out_dir, _spool_name(shard), spec, resume=True)
