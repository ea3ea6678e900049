"""A blend rendered as shards on Ray workers (``studio.app.scale``): its keyframes first
(stage 0), then its transitions (stage 1), each transition's task given its two keyframes
straight from Ray's object store (a keyframe's trajectory is a few MB at most). The driver
fills each transition's video frames and writes them, in order, into the one writer.

At most two transitions a worker are in flight, so the frames waiting for their turn are
bounded. The checkpoint commits after each transition written: a killed render resumes
from the first transition not written (with the same workers and address; the checkpoint
holds no carried keyframe, so a one-process resume starts over)."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from studio.app.ray_runtime import as_finished, ray_result, worker_pool
from studio.app.scale_driver import device_of, replay, scale_out_facts, shard_timing
from studio.events import CancelToken, RenderEvents
from studio.pipeline.shards import ShardPlan
from studio.spec import BlendSpec
from studio.spec.scale import without_scale

__all__ = ["render_blend_shards"]

_NAME = "blend"


def render_blend_shards(
    spec: BlendSpec,
    plan: ShardPlan,
    out_dir: Path,
    *,
    manager: Any,
    events: RenderEvents,
    cancel: CancelToken,
    resume: bool,
) -> Any:
    """Render ``spec`` (a blend whose ``plan`` splits) on Ray into ``out_dir``; returns a
    ``BlendResult`` with ``scale_out``."""
    from studio.blend.plan import plan_blend
    from studio.blend.render import BlendResult, video_frames
    from studio.blend.soundtrack import add_blend_soundtrack
    from studio.media.checkpoint import FrameCheckpoint
    from studio.pipeline.common import Clock, finish_render, open_render_output, stop_early

    clock = Clock()
    d, o = spec.diffusion, spec.output
    writer = checkpoint = None
    written = 0
    try:
        # 1. The movie's plan; what an earlier attempt of the same spec and workers wrote.
        spec.check()
        movie = plan_blend(spec)
        checkpoint = FrameCheckpoint.open(out_dir, _NAME, spec, resume=resume)
        events.started({**movie.summary(), "device": d.device, "scale_out": plan.summary()})
        writer = open_render_output(
            out_dir, _NAME, o, fps=o.fps, width=d.width, height=d.height, device=device_of(d.device)
        )
        state = checkpoint.state or {}
        first, realised = state.get("transitions", 0), list(state.get("realised", []))
        denoise_steps = checkpoint.denoise_steps_before
        written = replay(checkpoint, writer, clock, events, movie.video_frames)
        timings: list[dict[str, Any]] = []
        keys = len(movie.prompts)

        # 2. The keyframes the transitions left need (stage 0), then those transitions.
        gpu = device_of(d.device) != "cpu"
        pool = worker_pool(d.workers, d.ray_address, cache_dir=manager.cache_dir, gpu=gpu)
        with pool as (ray, actors):  # a cancel or an error kills the workers
            local = ray.put(without_scale(spec))
            key_refs = {
                j: actors[j % len(actors)].blend_keyframe.remote(local, j)
                for j in range(first, keys)
            }
            finished_transitions = as_finished(
                ray,
                actors,
                deque(range(first, movie.transitions)),
                lambda actor, n: actor.blend_transition.remote(
                    local, n, key_refs[n], key_refs[n + 1]
                ),
                cancel,
            )
            results: dict[int, Any] = {}
            for t in range(first, movie.transitions):
                while t not in results:
                    n, made = next(finished_transitions)
                    results[n] = made
                made = results.pop(t)
                timings.append(shard_timing(f"transition {t}", made))
                # 3. Its video frames (the fill between its diffusion frames), in order.
                realised.append(made["realised"])
                denoise_steps += made["denoise_steps"]
                if t == first:  # the keyframes' steps, counted once each
                    for j, ref in sorted(key_refs.items()):
                        kf = ray_result(ray, ref)
                        denoise_steps += kf["denoise_steps"]
                        timings.append(shard_timing(f"keyframe {j}", kf))
                with clock.stage("write"):
                    for image in video_frames(movie, t, made["images"]):
                        writer.write(image)
                        checkpoint.add_frame(image)
                        written += 1
                    checkpoint.commit(
                        denoise_steps=denoise_steps,
                        engine={"transitions": t + 1, "realised": realised, "ray": True},
                    )
                events.progress(written, movie.video_frames, image)
                cancel.raise_if_cancelled()

        # 4. The file, its soundtrack, the result.
        with clock.stage("write"):
            output = writer.close()
        writer = None
        output, notes = add_blend_soundtrack(spec, output, clock)
        made_frames = sum(len(f) - 1 for f in realised) + 1
        return finish_render(
            BlendResult,
            output,
            checkpoint,
            clock,
            events,
            denoise_steps,
            diffusion_frames=made_frames,
            scratch_denoise_steps=made_frames * d.steps,
            tree={**movie.tree.to_dict(keys), "transitions": realised},
            notes=notes,
            scale_out=scale_out_facts(plan, d, [], timings),
        )
    except BaseException as exc:
        stop_early(
            exc, writer=writer, frames_written=bool(written), checkpoint=checkpoint, events=events
        )
        raise
