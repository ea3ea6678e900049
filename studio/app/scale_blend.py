"""A blend rendered as shards on Ray workers (``studio.app.scale``): its keyframes first
(stage 0), then its transitions (stage 1), each transition's task given its two keyframes
straight from Ray's object store (a keyframe's trajectory is a few MB at most). The driver
fills each transition's video frames and writes them, in order, into the one writer.

At most two transitions a worker are in flight, so the frames waiting for their turn are
bounded. The checkpoint commits after each transition written: a killed render resumes
from the first transition not written (with the same workers and address; the checkpoint
holds no carried keyframe, so a one-process resume starts over)."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any

from studio.app.ray_runtime import connect, release, worker_actors
from studio.app.scale_animation import IN_FLIGHT_PER_WORKER, device_of, ray_result
from studio.events import CancelToken, RenderEvents
from studio.pipeline.shards import ShardPlan
from studio.spec import BlendSpec
from studio.spec.scale import without_scale

__all__ = ["render_blend_shards"]

_NAME = "blend"
_WAIT_S = 0.2


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
    from studio.media.retime import open_output
    from studio.pipeline.common import Clock, output_path, stop_early

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
        out_dir.mkdir(parents=True, exist_ok=True)
        writer = open_output(
            output_path(out_dir, _NAME, o.format),
            o.format,
            fps=o.fps,
            width=d.width,
            height=d.height,
            interpolate_fps=o.interpolate_fps,
            method=o.interpolate_method,
            interpolator=o.interpolator,
            device=device_of(d.device),
        )
        state = checkpoint.state or {}
        first, realised = state.get("transitions", 0), list(state.get("realised", []))
        denoise_steps = checkpoint.denoise_steps_before
        image = None
        with clock.stage("write"):
            for image in checkpoint.frames():
                writer.write(image)
                written += 1
        if written:
            events.progress(written, movie.video_frames, image)
        timings: list[dict[str, Any]] = []
        keys = len(movie.prompts)

        # 2. The keyframes the transitions left need (stage 0), then those transitions.
        with connect(d.workers, d.ray_address) as ray:
            actors = worker_actors(
                ray, d.workers, cache_dir=manager.cache_dir, gpu=device_of(d.device) != "cpu"
            )
            done_all = False
            try:
                local = ray.put(without_scale(spec))
                key_refs = {
                    j: actors[j % len(actors)].blend_keyframe.remote(local, j)
                    for j in range(first, keys)
                }
                waiting = deque(range(first, movie.transitions))
                in_flight: dict[Any, tuple[int, int]] = {}
                results: dict[int, Any] = {}
                load = [0] * len(actors)
                for t in range(first, movie.transitions):
                    while t not in results:
                        while waiting and len(in_flight) < IN_FLIGHT_PER_WORKER * len(actors):
                            n = waiting.popleft()
                            a = load.index(min(load))
                            ref = actors[a].blend_transition.remote(
                                local, n, key_refs[n], key_refs[n + 1]
                            )
                            in_flight[ref] = (n, a)
                            load[a] += 1
                        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=_WAIT_S)
                        cancel.raise_if_cancelled()
                        for ref in ready:
                            n, a = in_flight.pop(ref)
                            load[a] -= 1
                            results[n] = ray_result(ray, ref)
                    made = results.pop(t)
                    timings.append(_timing(f"transition {t}", made))
                    # 3. Its video frames (the fill between its diffusion frames), in order.
                    realised.append(made["realised"])
                    denoise_steps += made["denoise_steps"]
                    if t == first:  # the keyframes' steps, counted once each
                        for j, ref in sorted(key_refs.items()):
                            kf = ray_result(ray, ref)
                            denoise_steps += kf["denoise_steps"]
                            timings.append(_timing(f"keyframe {j}", kf))
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
                done_all = True
            finally:  # a cancel or an error kills the workers: every shard stops at once
                release(ray, actors, keep=done_all)

        # 4. The file, its soundtrack, the result.
        with clock.stage("write"):
            output = writer.close()
        writer = None
        output, notes = add_blend_soundtrack(spec, output, clock)
        checkpoint.remove()
        events.output(output)
        made_frames = sum(len(f) - 1 for f in realised) + 1
        result = BlendResult(
            outputs=[output],
            frames=output.frames,
            fps=output.fps,
            denoise_steps=denoise_steps,
            seconds=clock.total(),
            timings=clock.timings(),
            resume=checkpoint.resume_facts(denoise_steps) if checkpoint.resumed else None,
            diffusion_frames=made_frames,
            scratch_denoise_steps=made_frames * d.steps,
            tree={**movie.tree.to_dict(keys), "transitions": realised},
            notes=notes,
            scale_out={
                **plan.summary(),
                "ran": "ray",
                "address": d.ray_address or os.environ.get("RAY_ADDRESS", "") or "local",
                "resumed_shards": [],
                "shard_timings": timings,
            },
        )
        events.finished(result)
        return result
    except BaseException as exc:
        stop_early(
            exc, writer=writer, frames_written=bool(written), checkpoint=checkpoint, events=events
        )
        raise


def _timing(label: str, done: dict[str, Any]) -> dict[str, Any]:
    return {
        "shard": label,
        "seconds": round(float(done.get("seconds", 0.0)), 3),
        "denoise_steps": int(done.get("denoise_steps", 0)),
        "worker": done.get("pid"),
        "node": done.get("node", ""),
    }
