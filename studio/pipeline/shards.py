"""Shard plans: how one render splits into pieces that Ray workers make at the same time,
and what that should gain. Pure and torch-free: the CLI's ``--plan`` and the dashboard show
a plan before anything is loaded.

A shard is a unit of work that depends on nothing made in the same stage: a range of an
animation's frames (``studio.animation.shards``), a blend's keyframe or transition
(``studio.blend.shards``). Stages run one after another; the shards of a stage run on the
workers in any order, and their frames are put back in order by the one writer. A plan
that cannot split says why (``why_one``), and runs as one shard.

``expected_speedup`` places each stage's shards, largest first, on the worker free
earliest (cost: predicted denoise steps) and divides the one-worker time by that. It leaves
out what a worker pays once (loading the model, a few seconds) and what the driver pays
(encoding the file): a short render gains less.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Shard", "ShardPlan", "batch_ranges", "expected_speedup"]


@dataclass(frozen=True)
class Shard:
    """One piece of work.

    Attributes:
        index: its place in the plan (the order its frames are written in).
        stage: the stage it belongs to (0 first; a stage waits for the one before).
        frames: the output frames it makes (an animation's frame range); a blend's shards
            say what they make in ``label``.
        cost: predicted denoise steps.
        label: a short name for the plan's table, e.g. ``frames 0-15``.
    """

    index: int
    stage: int
    frames: range
    cost: int
    label: str


@dataclass(frozen=True)
class ShardPlan:
    """How a render splits: its shards, the workers asked for, and why it does not split
    (``why_one``, None when it does)."""

    kind: str
    workers: int
    shards: tuple[Shard, ...]
    why_one: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def stages(self) -> int:
        return 1 + max((s.stage for s in self.shards), default=0)

    @property
    def busy_workers(self) -> int:
        """Workers that get work: no more than the largest stage's shards."""
        largest = max(
            (sum(1 for s in self.shards if s.stage == k) for k in range(self.stages)), default=1
        )
        return max(1, min(self.workers, largest))

    @property
    def speedup(self) -> float:
        return expected_speedup(self.shards, self.workers)

    def summary(self) -> dict[str, Any]:
        """JSON-safe facts for ``--plan``, the run's started event and the store."""
        return {
            "kind": self.kind,
            "workers": self.workers,
            "busy_workers": self.busy_workers,
            "shards": len(self.shards),
            "stages": self.stages,
            "expected_speedup": round(self.speedup, 2),
            "why_one": self.why_one,
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        """The plan as the CLI prints it: a line of totals, why it does not split, then
        each shard."""
        s = self.summary()
        out = [
            f"scale-out: {s['shards']} shard(s) in {s['stages']} stage(s) on {self.workers} "
            f"worker(s) ({s['busy_workers']} busy), expected speed-up {s['expected_speedup']}x"
        ]
        if self.why_one:
            out.append(f"  one shard: {self.why_one}")
        out.extend(f"  note: {n}" for n in self.notes)
        out.extend(
            f"  shard {x.index} (stage {x.stage}): {x.label}, {x.cost} denoise steps"
            for x in self.shards
        )
        return out


def batch_ranges(
    batches: tuple[range, ...], workers: int, *, per_worker: int = 4, max_frames: int = 32
) -> list[range]:
    """Consecutive ``batches`` (frame ranges) grouped into shards: about ``per_worker``
    shards a worker, so a slow worker does not hold the end back, each of at most
    ``max_frames`` frames (a shard's frames come back in one piece: this bounds the memory
    a shard in flight holds) but never less than one batch. A shard starts and ends on a
    batch boundary, so every frame is denoised in the batch it has in a one-process render.
    """
    if not batches:
        return []
    frames = batches[-1].stop - batches[0].start
    target = max(1, workers * per_worker)
    size = max(len(batches[0]), min(max_frames, -(-frames // target)))
    shards: list[range] = []
    start = batches[0].start
    for b in batches:
        if b.stop - start > size and b.start > start:
            shards.append(range(start, b.start))
            start = b.start
    shards.append(range(start, batches[-1].stop))
    return shards


def expected_speedup(shards: tuple[Shard, ...] | list[Shard], workers: int) -> float:
    """One worker's time over ``workers``' time for ``shards`` (see the module docstring);
    1.0 for no work."""
    total = sum(s.cost for s in shards)
    if total == 0:
        return 1.0
    span = 0
    for stage in sorted({s.stage for s in shards}):
        free = [0] * max(1, workers)
        for cost in sorted((s.cost for s in shards if s.stage == stage), reverse=True):
            heapq.heapreplace(free, free[0] + cost)
        span += max(free)
    return total / span
