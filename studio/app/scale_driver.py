"""What both kinds' scale-out drivers (``studio.app.scale_animation``,
``studio.app.scale_blend``) do alike: where the driver's writer runs, the replay of what an
earlier attempt wrote, and what the record says of the shards (``scale_out``).

The Ray side (workers, shards in flight, their results) is ``studio.app.ray_runtime``; the
end of the render (the result) is ``studio.pipeline.common.finish_render``, which the
one-process renders use too.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from studio.events import RenderEvents
from studio.media.checkpoint import FrameCheckpoint
from studio.media.writers import FrameWriter
from studio.pipeline.common import Clock
from studio.pipeline.shards import ShardPlan
from studio.spec.common import DiffusionSettings

__all__ = ["device_of", "replay", "scale_out_facts", "shard_timing"]


def device_of(device: str) -> str:
    """Where the driver runs a learned interpolator, and whether workers want a GPU: the
    spec's device, ``auto`` resolved as the model manager resolves it."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def replay(
    checkpoint: FrameCheckpoint,
    writer: FrameWriter,
    clock: Clock,
    events: RenderEvents,
    total: int,
) -> int:
    """Write the frames an earlier, killed attempt finished (``checkpoint``'s) into
    ``writer`` again, and report them (``total``: the render's frames) with the last as the
    preview; returns how many there were."""
    done = 0
    image: np.ndarray | None = None
    with clock.stage("write"):
        for image in checkpoint.frames():
            writer.write(image)
            done += 1
    if done:
        events.progress(done, total, image)
    return done


def shard_timing(
    shard: int | str, done: dict[str, Any], frames: range | None = None
) -> dict[str, Any]:
    """What the run records of one finished shard (``done``: a worker's result): its
    index or label, its ``frames`` (first, last) when it has a range of them, seconds,
    denoise steps and the worker (process id, node) that made it."""
    timing: dict[str, Any] = {"shard": shard}
    if frames is not None:
        timing["frames"] = [frames.start, frames.stop - 1]
    timing.update(
        seconds=round(float(done.get("seconds", 0.0)), 3),
        denoise_steps=int(done.get("denoise_steps", 0)),
        worker=done.get("pid"),
        node=done.get("node", ""),
    )
    return timing


def scale_out_facts(
    plan: ShardPlan,
    d: DiffusionSettings,
    resumed_shards: list[int],
    timings: list[dict[str, Any]],
) -> dict[str, Any]:
    """The result's ``scale_out``: the shard plan, that it ran on Ray and where (the spec's
    address, else ``RAY_ADDRESS``, else a local runtime), the shards an earlier attempt
    had finished, and each shard's timing (``shard_timing``)."""
    return {
        **plan.summary(),
        "ran": "ray",
        "address": d.ray_address or os.environ.get("RAY_ADDRESS", "") or "local",
        "resumed_shards": resumed_shards,
        "shard_timings": timings,
    }
