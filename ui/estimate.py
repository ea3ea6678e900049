"""How long a render will take, from what recent runs measured. Pure functions over the
JSON-safe run dicts of ``db.repository.run_to_dict``."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

__all__ = ["MEASURED_RUNS", "StepSpeed", "step_speed"]

MEASURED_RUNS = 10  # the most recent matching runs that the median is taken over


@dataclass(frozen=True)
class StepSpeed:
    """Seconds per denoise step, measured over ``runs`` finished runs."""

    seconds_per_step: float
    runs: int

    def estimate(self, denoise_steps: int) -> float:
        """Seconds for a render of ``denoise_steps`` steps (model loading not included)."""
        return denoise_steps * self.seconds_per_step


def step_speed(runs: list[dict[str, Any]], model: str, width: int, height: int) -> StepSpeed | None:
    """The median seconds per denoise step of the newest finished runs of ``model`` at
    ``width`` x ``height`` (any kind of render), or None when there is none to measure.

    A run's cost is its wall time less model loading (a one-off the cache pays once), so
    decoding, writing and text encoding are charged to its steps as a render charges them.
    ``runs`` is newest first, as ``db.repository.list_runs`` gives them.
    """
    rates = []
    for run in runs:
        d = (run.get("spec") or {}).get("diffusion") or {}
        timings = run.get("timings") or {}
        steps = run.get("denoise_steps")
        if (
            run.get("status") != "done"
            or run.get("model_ref") != model
            or d.get("width") != width
            or d.get("height") != height
            or not steps
            or "seconds" not in timings
        ):
            continue
        seconds = float(timings["seconds"]) - float(timings.get("load", 0.0))
        rates.append(max(seconds, 0.0) / steps)
        if len(rates) == MEASURED_RUNS:
            break
    if not rates:
        return None
    return StepSpeed(statistics.median(rates), len(rates))
