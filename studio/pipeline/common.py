"""Pieces every render entry point shares: the stage clock, loading the model, where the
output goes and its writer, how a render ends (its result), and what a render does when it
stops early.

``studio.animation.render`` and ``studio.blend.render`` (and the blend's upscale stage) use
these, and so do the scaled-out drivers (``studio.app.scale_animation``,
``studio.app.scale_blend``); they live here so that no render kind imports another's helpers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from studio.events import OutputFile, RenderEvents, RenderResult
from studio.media.retime import open_output
from studio.pipeline.defaults import fill_model_defaults
from studio.pipeline.gpu import compile_unet, gpu_paths
from studio.pipeline.memory import MemoryChoice, memory_choice
from studio.pipeline.models import LoadedModel, LoadOptions, ModelManager, resolve_device
from studio.pipeline.schedulers import make_scheduler
from studio.versions import library_versions

if TYPE_CHECKING:
    from studio.media.checkpoint import FrameCheckpoint
    from studio.media.writers import FrameWriter
    from studio.pipeline.schedulers import Scheduler
    from studio.spec import AnimationSpec, BlendSpec
    from studio.spec.animation import OutputSettings
    from studio.spec.blend import BlendOutputSettings

__all__ = [
    "Clock",
    "finish_render",
    "load_options",
    "open_model",
    "open_render_output",
    "output_path",
    "stop_early",
]

R = TypeVar("R", bound=RenderResult)


def output_path(out_dir: Path, name: str, fmt: str) -> Path:
    """Where a render named ``name`` writes: a file, or a folder of frames for ``png``."""
    return out_dir / (name if fmt == "png" else f"{name}.{fmt}")


def open_render_output(
    out_dir: Path,
    name: str,
    output: OutputSettings | BlendOutputSettings,
    *,
    fps: int,
    width: int,
    height: int,
    device: Any,
) -> FrameWriter:
    """The render's one streaming writer (``studio.media.retime.open_output``) for the spec's
    ``output`` settings, at ``output_path(out_dir, name, ...)``; ``out_dir`` is made first.
    ``fps``, ``width`` and ``height`` are the rendered frames'; with ``interpolate_fps`` the
    frames between them are made on the way (a learned interpolator runs on ``device``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return open_output(
        output_path(out_dir, name, output.format),
        output.format,
        fps=fps,
        width=width,
        height=height,
        interpolate_fps=output.interpolate_fps,
        method=output.interpolate_method,
        interpolator=output.interpolator,
        device=device,
    )


def finish_render(
    result_type: type[R],
    output: OutputFile,
    checkpoint: FrameCheckpoint,
    clock: Clock,
    events: RenderEvents,
    denoise_steps: int,
    **facts: Any,
) -> R:
    """The end of a render whose file ``output`` is finished (closed, its sound added): the
    resume checkpoint goes, ``events`` hears ``output``, then ``finished`` with the result.

    The result is ``result_type`` with the facts every render has (the file, its frames and
    fps, ``denoise_steps``, the clock's seconds and timings, what this attempt did when it
    resumed a killed one) and the kind's own ``facts`` (notes, tree, scale_out...).
    """
    checkpoint.remove()
    events.output(output)
    result = result_type(
        outputs=[output],
        frames=output.frames,
        fps=output.fps,
        denoise_steps=denoise_steps,
        seconds=clock.total(),
        timings=clock.timings(),
        resume=checkpoint.resume_facts(denoise_steps) if checkpoint.resumed else None,
        **facts,
    )
    events.finished(result)
    return result


def open_model(
    spec: AnimationSpec | BlendSpec,
    summary: dict[str, Any],
    *,
    manager: ModelManager,
    clock: Clock,
    events: RenderEvents,
) -> tuple[LoadedModel, Scheduler]:
    """Load ``spec``'s model, build this run's own scheduler and report ``started``.

    ``summary`` is the plan's (``plan.summary()``); ``started`` hears it with the device,
    dtype, model source and library versions added, and ``model_defaults``: the diffusion
    values that came from the model, not from the spec's author
    (``studio.pipeline.defaults``). Returns ``(LoadedModel, scheduler)``.
    """
    d = spec.diffusion
    from_model = {k: v for k, v in fill_model_defaults(d)[1].items() if getattr(d, k) == v}
    memory = memory_choice(d, batch=_batch(spec))
    with clock.stage("load"):
        loaded = manager.load(d.model, load_options(spec, memory, frames=summary.get("frames", 0)))
    clock.device = loaded.device
    scheduler = make_scheduler(loaded.pipe, d.scheduler, d.scheduler_kwargs)
    events.started(
        {
            **summary,
            "device": str(loaded.device),
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "model_source": loaded.source,
            "versions": library_versions(),
            "model_defaults": from_model,
            "memory": {"mode": d.memory, **memory.to_dict()},
            "gpu_paths": gpu_paths(loaded, fast=d.fast),
        }
    )
    return loaded, scheduler


def load_options(
    spec: AnimationSpec | BlendSpec, memory: MemoryChoice | None = None, frames: int = 0
) -> LoadOptions:
    """The model manager's options from ``spec.diffusion`` (device, dtype, memory savers,
    variant, revision, custom pipeline, speed paths). ``memory``: the savers to use (default:
    ``memory_choice`` of the spec, which reads the device for ``memory: auto``); ``frames``:
    the render's length, for ``compile: auto`` (``studio.pipeline.gpu.compile_unet``).
    Channels-last is chosen on CUDA, where convolutions run faster in it."""
    d = spec.diffusion
    memory = memory or memory_choice(d, batch=_batch(spec))
    device = resolve_device(d.device)
    return LoadOptions(
        device=d.device,
        dtype=d.dtype,
        attention_slicing=memory.attention_slicing,
        vae_slicing=memory.vae_slicing,
        vae_tiling=memory.vae_tiling,
        cpu_offload=memory.cpu_offload,
        variant=d.variant,
        revision=d.revision,
        custom_pipeline=d.custom_pipeline,
        channels_last=device.type == "cuda",
        compile=compile_unet(d.compile, device, frames),
    )


def _batch(spec: AnimationSpec | BlendSpec) -> int:
    """Frames per UNet call: an animation's batch size, a blend's one."""
    animation = getattr(spec, "animation", None)
    return int(getattr(animation, "batch_size", 1) or 1)


class Clock:
    """Wall time per stage; on CUDA it waits for the GPU so a stage owns its own work.

    ``device`` (set once the model is loaded) decides whether to synchronise; ``timings()``
    gives seconds per stage plus ``total`` and ``other`` (time in no stage of the thread
    that made the clock). A stage timed on another thread (a render's frame worker,
    ``studio.media.background``) counts in its stage but overlaps the others, so ``other``
    leaves it out. ``counts``: how often something worth a note happened (``count``; e.g. a
    float32 VAE decode).
    """

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stages: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.device: torch.device | None = None
        self._owner = threading.get_ident()
        self._overlapped = 0.0
        self._lock = threading.Lock()

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to ``counts[name]``; safe from worker threads."""
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + n

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        begin = time.perf_counter()
        try:
            yield
        finally:
            if self.device is not None and self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            took = time.perf_counter() - begin
            with self._lock:
                self.stages[name] = self.stages.get(name, 0.0) + took
                if threading.get_ident() != self._owner:
                    self._overlapped += took

    def total(self) -> float:
        return time.perf_counter() - self.start

    def timings(self) -> dict[str, float]:
        total = self.total()
        timings = dict(self.stages)
        timings["total"] = total
        timings["other"] = max(0.0, total - sum(self.stages.values()) + self._overlapped)
        return timings


def stop_early(
    exc: BaseException,
    *,
    writer: FrameWriter | None,
    frames_written: bool,
    checkpoint: FrameCheckpoint | None,
    events: RenderEvents,
) -> None:
    """What a render does when ``exc`` stops it before the end (the caller re-raises).

    Cancelled: the frames already made are work the user paid for, so a writer with frames
    is closed into a playable, shorter file; anything else aborts the writer (no partial file
    is left). The resume checkpoint goes either way: only a killed process leaves one.
    ``events`` hears ``cancelled`` or ``failed``.
    """
    from studio.errors import RenderCancelled

    if checkpoint is not None:
        checkpoint.remove()
    cancelled = isinstance(exc, RenderCancelled)
    if writer is not None and cancelled and frames_written:
        events.output(writer.close())
    elif writer is not None:
        writer.abort()
    if cancelled:
        events.cancelled()
    else:
        events.failed(exc)
