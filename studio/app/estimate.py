"""How long a render will take: from what finished runs measured, or a first guess.

Pure functions over the JSON-safe run dicts of ``db.repository.run_to_dict`` and over the
numbers a job reports; the store remembers every run's timings, so a measurement made once
serves every later estimate.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studio.spec import Spec

__all__ = [
    "MEASURED_RUNS",
    "StepSpeed",
    "first_guess",
    "plan_report",
    "remaining_seconds",
    "render_seconds",
    "step_speed",
]

MEASURED_RUNS = 10  # the most recent matching runs that the median is taken over

# First guesses, in seconds per denoise step per megapixel of output, before anything was
# measured. The built-in models were timed on a 2-core CPU (builtin:shapes at 128 x 128:
# about 0.05 s a step with decoding and writing); a Stable Diffusion 1.5-sized UNet takes
# ~4 s a step at 512 x 512 on such a CPU and ~0.05 s on a current GPU.
_GUESS_PER_MEGAPIXEL = {
    ("builtin", "cpu"): 3.0,
    ("builtin", "gpu"): 0.3,
    ("checkpoint", "cpu"): 15.0,
    ("checkpoint", "gpu"): 0.2,
}


@dataclass(frozen=True)
class StepSpeed:
    """Seconds per denoise step, and where the number comes from.

    ``source`` is ``measured`` (finished runs of this model at this size), ``scaled`` (runs
    of this model at other sizes, scaled by pixel count) or ``guess`` (nothing measured).
    """

    seconds_per_step: float
    runs: int
    source: str = "measured"

    def estimate(self, denoise_steps: int) -> float:
        """Seconds for a render of ``denoise_steps`` steps (model loading not included)."""
        return denoise_steps * self.seconds_per_step

    def describe(self, model: str, width: int, height: int) -> str:
        """One sentence saying where the speed comes from, for a caption."""
        rate = f"{self.seconds_per_step:.3f} s per denoise step"
        if self.source == "measured":
            return (
                f"{rate}, measured over {self.runs} finished run(s) of {model} at {width}×{height}."
            )
        if self.source == "scaled":
            return (
                f"{rate}, scaled by pixel count from {self.runs} finished run(s) of {model} at "
                "other sizes."
            )
        return f"{rate} is a first guess: no finished run of {model} to measure yet."


def _rate(run: dict[str, Any]) -> tuple[float, int] | None:
    """(seconds per step, pixels) of a finished run, or None if it measured nothing."""
    d = (run.get("spec") or {}).get("diffusion") or {}
    timings = run.get("timings") or {}
    steps = run.get("denoise_steps")
    if run.get("status") != "done" or not steps or "seconds" not in timings:
        return None
    if not d.get("width") or not d.get("height"):
        return None
    seconds = float(timings["seconds"]) - float(timings.get("load", 0.0))
    return max(seconds, 0.0) / steps, int(d["width"]) * int(d["height"])


def step_speed(runs: list[dict[str, Any]], model: str, width: int, height: int) -> StepSpeed | None:
    """The median seconds per denoise step of the newest finished runs of ``model`` at
    ``width`` x ``height`` (any kind of render); failing that, of ``model`` at any size,
    scaled by pixel count; None when ``model`` has no finished run at all.

    A run's cost is its wall time less model loading (a one-off the cache pays once), so
    decoding, writing and text encoding are charged to its steps as a render charges them.
    ``runs`` is newest first, as ``db.repository.list_runs`` gives them.
    """
    exact, other = [], []
    pixels = width * height
    for run in runs:
        if run.get("model_ref") != model or (found := _rate(run)) is None:
            continue
        rate, their_pixels = found
        if their_pixels == pixels:
            exact.append(rate)
        else:
            other.append(rate * pixels / their_pixels)
        if len(exact) == MEASURED_RUNS:
            break
    if exact:
        return StepSpeed(statistics.median(exact), len(exact), "measured")
    if other:
        other = other[:MEASURED_RUNS]
        return StepSpeed(statistics.median(other), len(other), "scaled")
    return None


def first_guess(model: str, width: int, height: int, *, gpu: bool) -> StepSpeed:
    """A rough speed before anything was measured: by kind of model, device and size."""
    kind = "builtin" if model.startswith("builtin:") else "checkpoint"
    per_megapixel = _GUESS_PER_MEGAPIXEL[kind, "gpu" if gpu else "cpu"]
    return StepSpeed(per_megapixel * width * height / 1e6, 0, "guess")


def plan_report(spec: Spec, summary: dict[str, Any], speed: StepSpeed) -> dict[str, Any]:
    """What a render of ``spec`` (a spec with its model's defaults filled) would do and how
    long it would take, JSON-safe: what ``animate --plan --json`` and ``blend --plan --json``
    print and what the Prompt Schedule and Blend pages show. ``summary`` is its plan's
    ``summary()``; ``speed`` the step speed of its model (``step_speed`` or ``first_guess``).
    ``eta_seconds`` leaves model loading out and charges an upscale stage's steps by its
    larger frames (``render_seconds``). Raises ``SpecError`` for an upscaler that is not one."""
    from studio.pipeline.families import check_upscaler_ref

    d = spec.diffusion
    steps = int(summary.get("predicted_denoise_steps") or 0)
    upscale_steps = int(summary.get("upscale_denoise_steps") or 0)
    factor = check_upscaler_ref(spec.upscale.model) if spec.upscale.model else 1
    report = {
        "kind": spec.kind,
        "frames": summary.get("frames"),
        "denoise_steps": steps,
        "upscale_denoise_steps": upscale_steps,
        "model": d.model,
        "width": d.width,
        "height": d.height,
        "output_width": d.width * factor,
        "output_height": d.height * factor,
        "steps": d.steps,
        "guidance": d.guidance,
        "eta_seconds": round(render_seconds(speed, steps, upscale_steps, factor), 1),
        "eta_source": speed.source,
        "eta_basis": speed.describe(d.model, d.width, d.height),
    }
    # What only some plans have: a loop (animation: its closing segment's frames; blend: true
    # or false), what the file holds with --interpolate-to, and when a blend reaches each
    # prompt (and where its soundtrack put them).
    for key in ("loop", "file_frames", "file_fps", "transition_times", "audio"):
        if key in summary:
            report[key] = summary[key]
    return report


def remaining_seconds(
    *,
    done: int,
    total: int,
    elapsed: float | None,
    predicted_steps: int | None,
    seconds_per_step: float | None,
) -> float | None:
    """Seconds left of a render that has ``done`` of ``total`` frames after ``elapsed``
    seconds running (None: not started). Once frames are done, their pace tells; before
    that, the predicted steps at the estimated speed; None when neither is known."""
    if elapsed is not None and done > 0 and total >= done:
        return elapsed / done * (total - done)
    if predicted_steps is None or seconds_per_step is None:
        return None
    whole = predicted_steps * seconds_per_step
    return max(whole - (elapsed or 0.0), 0.0)


def render_seconds(speed: StepSpeed, steps: int, upscale_steps: int = 0, factor: int = 1) -> float:
    """Seconds for a render of ``steps`` denoise steps, ``upscale_steps`` of them an upscale
    stage's on frames ``factor`` times larger each way: charged ``factor**2`` times a step at
    the drawing size (the same speed per pixel; a rough guess, model loading not included)."""
    return speed.estimate(steps - upscale_steps) + speed.estimate(upscale_steps) * factor**2
