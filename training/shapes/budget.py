"""A training stage's deadline (:class:`Budget`) and its learning-rate schedule (:func:`lr_at`).

A stage stops when its time is up, so a slower machine trains fewer steps. With a step
count as well (``TrainConfig.unet_steps``) and time to spare, the stage stops at that step
and its learning rate follows the steps, so the same seed, torch and thread count give the
same weights on a slower or faster CPU (a GPU may differ in the last bits).
"""

from __future__ import annotations

import math
import time

__all__ = ["Budget", "lr_at"]


def lr_at(step: int, progress: float, peak: float, warmup: int) -> float:
    """Warm-up over ``warmup`` steps, then cosine decay over the stage's ``Budget``.

    Scheduling by the budget's progress (elapsed time, or steps when a step count is set and
    comes first) rather than by a step count planned from the first steps' speed keeps the
    schedule right when the machine is busier than it was when the stage started.
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class Budget:
    """A stage's deadline; ``progress`` is the share of it used, 0 to 1.

    The deadline is ``seconds``, and also ``steps`` when that is set, whichever comes first
    (``done``: the steps the stage has taken). A step count makes a run repeat exactly on a
    slower or faster machine; the time keeps it within its budget.
    """

    def __init__(self, seconds: float, steps: int = 0) -> None:
        self.seconds = max(1.0, seconds)
        self.steps = steps
        self.start = time.perf_counter()

    def left(self, done: int = 0) -> float:
        """Seconds left, or 0 once ``done`` reaches the step count."""
        if self.steps and done >= self.steps:
            return 0.0
        return self.seconds - (time.perf_counter() - self.start)

    def progress(self, done: int = 0) -> float:
        """Share of the budget used after ``done`` steps: time or steps, whichever is further."""
        share = (time.perf_counter() - self.start) / self.seconds
        if self.steps:
            share = max(share, done / self.steps)
        return min(1.0, share)
