"""Memory savers chosen by device: what ``memory: auto`` turns on, and why.

``choose_memory`` is a pure function of device facts (its type, free and total memory, the
model's weight size) and the render's frame size and batch, so it is tested with given facts
on any machine. ``device_facts`` reads them from torch (``torch.cuda.mem_get_info``) for the
device a render runs on; ``memory_choice`` puts the two together for a spec.

The rules, from what each saver costs:

- Any device, a batch whose decoding together needs more than 4 GiB, or a quarter of a
  GPU's free memory where that is more (the VAE estimate of ``studio.pipeline.frame_memory``):
  VAE slicing, one frame of the batch decoded at a time.
- CPU and MPS: nothing else. Attention slicing there saves memory the machine rarely lacks
  and costs time; CPU offload needs CUDA.
- CUDA, frames larger than 1024x1024 pixels: VAE tiling. The VAE decoder's activations grow
  with the frame's area and are what runs out first on large frames.
- CUDA, free memory short of the weights plus the attention of one UNet call: attention
  slicing (about an eighth of the attention memory); still short: model CPU offload (the
  weights wait on the CPU, one model at a time on the GPU), plus VAE slicing for a batch.

The numbers are estimates that err towards saving memory: a saver costs some speed, running
out of memory costs the render.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import DeviceMemoryError
from studio.pipeline.frame_memory import AUTO_SLICING_ABOVE_BYTES, auto_vae_slicing

if TYPE_CHECKING:
    from studio.spec.common import DiffusionSettings

__all__ = [
    "DeviceFacts",
    "is_out_of_memory",
    "out_of_memory",
    "MemoryChoice",
    "TILING_ABOVE_PIXELS",
    "choose_memory",
    "device_facts",
    "memory_choice",
    "weights_bytes",
]

TILING_ABOVE_PIXELS = 1024 * 1024
# Weights of a model whose size cannot be read before loading (a Hub id): SD 1.x in fp16.
ASSUMED_WEIGHTS_BYTES = 2 * 1024**3
_ATTENTION_HEADS = 8
_SLICED_SHARE = 1 / 8  # attention memory left with slicing
_HEADROOM = 1.2  # the rest of a UNet call, the VAE, the allocator's fragmentation
_GIB = 1024**3


@dataclass(frozen=True)
class DeviceFacts:
    """What the choice needs to know about the device: ``type`` (cpu, cuda, mps), free and
    total memory in bytes (None where unknown: the CPU and MPS)."""

    type: str
    free_bytes: int | None = None
    total_bytes: int | None = None


@dataclass(frozen=True)
class MemoryChoice:
    """The four savers, and one reason per saver turned on (or why none was)."""

    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False
    reasons: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons)}


def choose_memory(
    facts: DeviceFacts,
    *,
    width: int,
    height: int,
    batch: int = 1,
    weights_bytes: int | None = None,
    dtype_bytes: int = 2,
) -> MemoryChoice:
    """The savers ``memory: auto`` turns on for a render of ``batch`` frames of
    ``width`` x ``height`` pixels with weights of ``weights_bytes`` (None: unknown, assumed
    2 GiB) on a device described by ``facts``. Pure."""
    cuda = facts.type == "cuda"
    tiling = cuda and width * height > TILING_ABOVE_PIXELS
    half = cuda and dtype_bytes == 2
    # A roomy GPU decodes a batch together up to a quarter of its free memory.
    limit = max(AUTO_SLICING_ABOVE_BYTES, (facts.free_bytes or 0) // 4)
    batch_slicing = auto_vae_slicing(width, height, batch, half=half, tiling=tiling, limit=limit)
    reasons = []
    if tiling:
        reasons.append(f"VAE tiling: {width}x{height} is above 1024x1024")
    if batch_slicing:
        reasons.append(
            f"VAE slicing: decoding {batch} frames of {width}x{height} together needs more "
            f"than {limit / _GIB:.1f} GiB"
        )
    if not cuda:
        reasons = reasons or [f"{facts.type}: no memory savers needed"]
        return MemoryChoice(vae_slicing=batch_slicing, reasons=tuple(reasons))
    if facts.free_bytes is None:
        return MemoryChoice(vae_slicing=batch_slicing, vae_tiling=tiling, reasons=tuple(reasons))
    weights = ASSUMED_WEIGHTS_BYTES if weights_bytes is None else weights_bytes
    tokens = (width // 8) * (height // 8)
    # One attention map of the largest UNet level, for the guided batch (uncond + cond).
    attention = 2 * batch * _ATTENTION_HEADS * tokens * tokens * dtype_bytes
    need = (weights + attention) * _HEADROOM
    free = facts.free_bytes
    slicing = offload = False
    vae_slicing = batch_slicing
    if need > free:
        slicing = True
        sliced = (weights + attention * _SLICED_SHARE) * _HEADROOM
        reasons.append(
            f"attention slicing: {free / _GIB:.1f} GiB free, about {need / _GIB:.1f} GiB needed"
        )
        if sliced > free:
            offload = True
            reasons.append(
                f"CPU offload: still about {sliced / _GIB:.1f} GiB needed with slicing"
                + ("; VAE slicing for the batch" if batch > 1 and not vae_slicing else "")
            )
            vae_slicing = batch > 1
    if not reasons:
        reasons.append(f"cuda: {free / _GIB:.1f} GiB free is enough")
    return MemoryChoice(
        attention_slicing=slicing,
        vae_slicing=vae_slicing,
        vae_tiling=tiling,
        cpu_offload=offload,
        reasons=tuple(reasons),
    )


def device_facts(device_name: str) -> DeviceFacts:
    """The facts of the device ``device_name`` (auto, cpu, cuda:N...) resolves to."""
    import torch

    from studio.pipeline.models import resolve_device

    device = resolve_device(device_name)
    if device.type != "cuda":
        return DeviceFacts(device.type)
    free, total = torch.cuda.mem_get_info(device)
    return DeviceFacts("cuda", int(free), int(total))


def weights_bytes(ref: str) -> int | None:
    """Bytes of the weight files of a local folder or file (None for anything else)."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        files = [*path.rglob("*.safetensors"), *path.rglob("*.bin")]
        return sum(f.stat().st_size for f in files) or None
    return None


def memory_choice(d: DiffusionSettings, batch: int = 1) -> MemoryChoice:
    """The savers a render of ``d`` uses: its four switches, plus (``memory: auto``) what
    ``choose_memory`` picks for its device; reasons say which came from where."""
    set_ = MemoryChoice(d.attention_slicing, d.vae_slicing, d.vae_tiling, d.cpu_offload)
    if d.memory != "auto":
        return MemoryChoice(**{**set_.to_dict(), "reasons": ("memory: none (as set)",)})
    dtype_bytes = 4 if d.dtype == "float32" else 2
    auto = choose_memory(
        device_facts(d.device),
        width=d.width,
        height=d.height,
        batch=batch,
        weights_bytes=weights_bytes(d.model),
        dtype_bytes=dtype_bytes,
    )
    return MemoryChoice(
        attention_slicing=set_.attention_slicing or auto.attention_slicing,
        vae_slicing=set_.vae_slicing or auto.vae_slicing,
        vae_tiling=set_.vae_tiling or auto.vae_tiling,
        cpu_offload=set_.cpu_offload or auto.cpu_offload,
        reasons=auto.reasons,
    )


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation that failed: CUDA's ``torch.OutOfMemoryError`` or
    the CPU allocator's ``RuntimeError``."""
    text = str(error)
    return type(error).__name__ == "OutOfMemoryError" or (
        isinstance(error, RuntimeError)
        and ("out of memory" in text or "can't allocate memory" in text)
    )


def out_of_memory(what: str, latents: Any) -> DeviceMemoryError:
    """The error for ``what`` (a UNet call, a VAE decode) running out of memory on
    ``latents`` (B, C, h, w), saying what to lower."""
    rows, height, width = latents.shape[0], latents.shape[-2] * 8, latents.shape[-1] * 8
    return DeviceMemoryError(
        f"the {latents.device.type} device ran out of memory in {what} of {rows} latents "
        f"({width}x{height} pixels): lower the batch size (--batch-size), turn on "
        f"--memory auto, or use smaller frames"
    )
