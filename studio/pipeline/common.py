"""Pieces every render entry point shares: the stage clock, VAE decoding, load options.

``studio.animation.render`` and ``studio.blend.render`` (and the blend's upscale stage) use these; they live
here so that no engine imports another's private helpers.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import torch

from studio.pipeline.models import LoadOptions

__all__ = ["Clock", "decode", "guided_noise", "load_options", "stop_early", "unguided_below"]


def load_options(spec) -> LoadOptions:
    """The model manager's options from ``spec.diffusion`` (device, dtype, memory savers)."""
    d = spec.diffusion
    return LoadOptions(
        device=d.device,
        dtype=d.dtype,
        attention_slicing=d.attention_slicing,
        vae_slicing=d.vae_slicing,
        vae_tiling=d.vae_tiling,
        cpu_offload=d.cpu_offload,
    )


def unguided_below(scheduler, guidance_stop: float) -> float:
    """The timestep under which steps skip guidance: ``guidance_stop`` of the noise schedule."""
    return guidance_stop * scheduler.config.get("num_train_timesteps", 1000)


def guided_noise(call, x, t, text, guidance: float, below: float = 0.0) -> torch.Tensor:
    """The noise prediction for latents ``x`` (B, C, h, w) at timestep ``t``.

    ``text`` is (B, L, D), or (2B, L, D) ``[uncond; cond]`` for classifier-free guidance at
    ``guidance``. ``call(model_in, t, states)`` runs the UNet on a batch of latents and
    their text states. A step whose ``t`` is under ``below`` (``unguided_below``) is not guided:
    the cond half alone, one UNet batch of B instead of 2B.
    """
    n = x.shape[0]
    if text.shape[0] != 2 * n:
        return call(x, t, text)
    if t < below:
        return call(x, t, text[n:])
    eps_uncond, eps_text = call(torch.cat([x, x]), t, text).chunk(2)
    return eps_uncond + guidance * (eps_text - eps_uncond)


def decode(pipe, latents) -> list:
    """Latents (B, C, h, w) -> list of B frames (H, W, 3) uint8 on the CPU."""
    with torch.no_grad():
        images = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    images = ((images.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return list(images.permute(0, 2, 3, 1).cpu().numpy())


class Clock:
    """Wall time per stage; on CUDA it waits for the GPU so a stage owns its own work.

    ``device`` (set once the model is loaded) decides whether to synchronise; ``timings()``
    gives seconds per stage plus ``total`` and ``other`` (time in no stage).
    """

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stages: dict[str, float] = {}
        self.device = None

    @contextmanager
    def stage(self, name: str):
        begin = time.perf_counter()
        try:
            yield
        finally:
            if self.device is not None and self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - begin

    def total(self) -> float:
        return time.perf_counter() - self.start

    def timings(self) -> dict[str, float]:
        total = self.total()
        timings = dict(self.stages)
        timings["total"] = total
        timings["other"] = total - sum(self.stages.values())
        return timings


def stop_early(exc: BaseException, *, writer, frames_written: bool, checkpoint, events) -> None:
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
