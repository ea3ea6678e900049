"""How long a render will take: ``studio.app.estimate``, which the command line's ``--plan``
shares with the pages; re-exported here for the dashboard's modules."""

from __future__ import annotations

from studio.app.estimate import (
    MEASURED_RUNS,
    StepSpeed,
    first_guess,
    remaining_seconds,
    step_speed,
)

__all__ = ["MEASURED_RUNS", "StepSpeed", "first_guess", "remaining_seconds", "step_speed"]
