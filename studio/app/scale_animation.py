"""An animation rendered as shards on Ray workers (``studio.app.scale`` steps 2-5): the one
writer here, frames in order, per-shard checkpoints, cancel, progress and the record."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any

from studio.app.ray_runtime import ScaleOutError, connect, release, worker_actors
from studio.errors import RenderCancelled, StudioError
from studio.events import CancelToken, RenderEvents
from studio.pipeline.shards import Shard, ShardPlan
from studio.spec import AnimationSpec
from studio.spec.scale import without_scale

__all__ = [
    "IN_FLIGHT_PER_WORKER",
    "device_of",
    "ray_result",
    "render_animation_shards",
    "shard_timing",
]

_NAME = "animation"
# Shards handed to Ray and not yet back, per worker: one running, one queued behind it.
IN_FLIGHT_PER_WORKER = 2
_WAIT_S = 0.2  # how often a wait for shards looks at the cancel token


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
    from studio.media.retime import open_output
    from studio.pipeline.common import Clock, output_path, stop_early

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
        out_dir.mkdir(parents=True, exist_ok=True)
        writer = open_output(
            output_path(out_dir, _NAME, o.format),
            o.format,
            fps=anim.fps,
            width=d.width,
            height=d.height,
            interpolate_fps=o.interpolate_fps,
            method=o.interpolate_method,
            interpolator=o.interpolator,
            device=device_of(d.device),
        )
        denoise_steps = checkpoint.denoise_steps_before
        image = None
        with clock.stage("write"):
            for image in checkpoint.frames():
                writer.write(image)
                done += 1
        if done:
            events.progress(done, total, image)
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
            nonlocal done, denoise_steps, image
            with clock.stage("write"):
                for image in images:
                    writer.write(image)
                    checkpoint.add_frame(image)
                denoise_steps += steps
                checkpoint.commit(denoise_steps=denoise_steps)
            done = shard.frames.stop
            events.progress(done, total, image)

        workers = d.workers
        with connect(workers, d.ray_address) as ray:
            actors = worker_actors(
                ray, workers, cache_dir=manager.cache_dir, gpu=device_of(d.device) != "cpu"
            )
            finished_all = False
            try:
                spec_ref = ray.put(local)
                waiting = deque(s for s in todo if s.index not in spools)
                in_flight: dict[Any, tuple[Shard, int]] = {}
                load = [0] * len(actors)
                for shard in todo:
                    while shard.index not in spools:
                        while waiting and len(in_flight) < IN_FLIGHT_PER_WORKER * workers:
                            nxt = waiting.popleft()
                            a = load.index(min(load))
                            ref = actors[a].animation.remote(
                                spec_ref, nxt.frames.start, nxt.frames.stop
                            )
                            in_flight[ref] = (nxt, a)
                            load[a] += 1
                        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=_WAIT_S)
                        cancel.raise_if_cancelled()
                        for ref in ready:
                            finished, a = in_flight.pop(ref)
                            load[a] -= 1
                            result = ray_result(ray, ref)
                            timings.append(shard_timing(finished.index, finished, result))
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
                finished_all = True
            finally:  # a cancel or an error kills the workers: every shard stops at once
                release(ray, actors, keep=finished_all)

        # 5. The file, its soundtrack, the result.
        with clock.stage("write"):
            output = writer.close()
        writer = None
        output, notes = add_sound(spec, output, clock, media.video and media.video.path)
        checkpoint.remove()
        events.output(output)
        result = AnimationResult(
            outputs=[output],
            frames=output.frames,
            fps=output.fps,
            denoise_steps=denoise_steps,
            seconds=clock.total(),
            timings=clock.timings(),
            notes=notes,
            resume=checkpoint.resume_facts(denoise_steps) if checkpoint.resumed else None,
            scale_out={
                **plan.summary(),
                "ran": "ray",
                "address": d.ray_address or os.environ.get("RAY_ADDRESS", "") or "local",
                "resumed_shards": resumed_shards,
                "shard_timings": sorted(timings, key=lambda t: t["shard"]),
            },
        )
        events.finished(result)
        return result
    except BaseException as exc:
        for spool, _ in spools.values():
            if spool is not None:
                spool.remove()
        stop_early(
            exc, writer=writer, frames_written=bool(done), checkpoint=checkpoint, events=events
        )
        raise


def shard_timing(index: int, shard: Shard, done: dict[str, Any]) -> dict[str, Any]:
    """What the run records of one finished shard: its frames, seconds, denoise steps and
    the worker (process id, node) that made it."""
    return {
        "shard": index,
        "frames": [shard.frames.start, shard.frames.stop - 1],
        "seconds": round(float(done.get("seconds", 0.0)), 3),
        "denoise_steps": int(done.get("denoise_steps", 0)),
        "worker": done.get("pid"),
        "node": done.get("node", ""),
    }


def _spool_name(shard: Shard) -> str:
    return f"{_NAME}-shard-{shard.index}"


def _reopened(out_dir: Path, shard: Shard, spec: AnimationSpec) -> Any:
    """A shard's checkpoint as committed, opened again to be read back."""
    from studio.media.checkpoint import FrameCheckpoint

    return FrameCheckpoint.open(out_dir, _spool_name(shard), spec, resume=True)


def ray_result(ray: Any, ref: Any) -> dict[str, Any]:
    """A shard's result; a worker's own error (a bad spec, a cancel) as itself, one line."""
    try:
        return ray.get(ref)
    except StudioError as exc:  # Ray's error type subclasses the worker's: unwrap it
        cause = getattr(exc, "cause", None)
        raise (cause if isinstance(cause, StudioError | RenderCancelled) else exc) from None
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScaleOutError(f"a Ray worker failed: {first}") from None


def device_of(device: str) -> str:
    """Where the driver runs a learned interpolator, and whether workers want a GPU: the
    spec's device, ``auto`` resolved as the model manager resolves it."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
