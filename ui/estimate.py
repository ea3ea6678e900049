"""How long a render will take: ``studio.app.estimate``, which the command line's ``--plan``
shares with the pages; re-exported here for the dashboard's modules, with the plan's one-line
caption that the pages show."""

from __future__ import annotations

from typing import Any

from studio.app.estimate import (
    MEASURED_RUNS,
    StepSpeed,
    first_guess,
    plan_report,
    remaining_seconds,
    step_speed,
)
from ui.history import duration

__all__ = [
    "MEASURED_RUNS",
    "StepSpeed",
    "first_guess",
    "plan_caption",
    "plan_report",
    "remaining_seconds",
    "step_speed",
]


def plan_caption(report: dict[str, Any]) -> str:
    """``plan_report``'s model, size and ETA in one sentence, as ``--plan`` prints them."""
    return (
        f"{report['model']} at {report['width']}×{report['height']}, {report['steps']} steps, "
        f"guidance {report['guidance']}: about {duration(report['eta_seconds'])} "
        f"(model loading not included). Time from {report['eta_basis']}"
    )
