"""Whether a frame size can be decoded on the chosen device at all, checked before a run.

The VAE decoder is what runs out of memory first on large frames: its last blocks work at
the full frame size with 128-256 channels. For Stable Diffusion's VAE that peaks at about
2.5 KB of activations per pixel in float32 (half in float16), per frame of the batch that is
decoded together; with VAE tiling the decoder works on 512-pixel tiles whatever the frame,
and with VAE slicing on one frame of the batch at a time. A render whose estimate is larger
than all the memory of its device cannot finish: it is refused at check time, before
anything is recorded or allocated, with what to change. Smaller estimates pass: the device
may still be short (other programs, the weights), and the render then says so itself.
"""

from __future__ import annotations

import os

from studio.errors import SpecError

__all__ = [
    "AUTO_SLICING_ABOVE_BYTES",
    "BYTES_PER_PIXEL",
    "auto_vae_slicing",
    "check_frame_memory",
    "decode_bytes",
    "device_memory",
]

BYTES_PER_PIXEL = 2560  # the SD VAE decoder's peak activations per pixel, float32
# ``memory: auto`` decodes a batch frame by frame above this estimate, on any device.
AUTO_SLICING_ABOVE_BYTES = 4 * 1024**3
_TILE = 512 * 512  # pixels of one decoder tile with VAE tiling
_GB = 1e9


def decode_bytes(
    width: int, height: int, batch: int, *, half: bool, tiling: bool, slicing: bool
) -> int:
    """The estimated peak bytes of decoding ``batch`` frames of ``width`` x ``height``."""
    pixels = min(width * height, _TILE) if tiling else width * height
    frames = 1 if slicing else batch
    return int(pixels * frames * BYTES_PER_PIXEL * (0.5 if half else 1.0))


def auto_vae_slicing(
    width: int,
    height: int,
    batch: int,
    *,
    half: bool,
    tiling: bool,
    limit: int = AUTO_SLICING_ABOVE_BYTES,
) -> bool:
    """Whether ``memory: auto`` decodes a batch one frame at a time (VAE slicing): when
    decoding it together would need more than ``limit`` bytes. The frames are the same; a
    large batch of large frames then needs the memory of one frame, not of all."""
    together = decode_bytes(width, height, batch, half=half, tiling=tiling, slicing=False)
    return batch > 1 and together > limit


def device_memory(device: str) -> tuple[str, int | None]:
    """``(device type, total bytes)`` of the device a render would run on (None: unknown)."""
    kind = device.split(":")[0]
    if kind in ("auto", "cuda"):
        try:
            import torch

            if torch.cuda.is_available():
                index = int(device.split(":")[1]) if ":" in device else 0
                return "cuda", torch.cuda.get_device_properties(index).total_memory
        except Exception:  # no torch build with CUDA, a bad index: the render will say
            return kind, None
        if kind == "cuda":
            return "cuda", None
    if kind in ("auto", "cpu"):
        try:
            return "cpu", os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return "cpu", None
    return kind, None


def check_frame_memory(
    width: int,
    height: int,
    batch: int,
    *,
    device: str,
    dtype: str,
    tiling: bool,
    slicing: bool,
    auto_memory: bool = False,
) -> None:
    """Refuse (``SpecError``) a frame size whose decoding needs more memory than its device
    has, naming the size, the estimate, the device's memory and what to change.
    ``auto_memory``: the spec's ``memory: auto``, which tiles large frames on CUDA and
    decodes a large batch frame by frame on any device (``auto_vae_slicing``)."""
    kind, total = device_memory(device)
    if total is None:
        return
    tiling = tiling or (auto_memory and kind == "cuda")
    half = dtype in ("float16", "bfloat16") or (dtype == "auto" and kind == "cuda")
    if auto_memory and auto_vae_slicing(width, height, batch, half=half, tiling=tiling):
        slicing = True  # memory: auto slices such a batch (studio.pipeline.memory)
    need = decode_bytes(width, height, batch, half=half, tiling=tiling, slicing=slicing)
    if need <= total:
        return
    advice = ["VAE tiling (--vae-tiling)"] if not tiling else []
    if batch > 1 and not slicing:
        advice.append("a batch size of 1 or VAE slicing (--vae-slicing)")
    advice.append("smaller frames")
    raise SpecError(
        f"{width}x{height} frames{f' in batches of {batch}' if batch > 1 else ''} need about "
        f"{need / _GB:.0f} GB to decode, more than the {total / _GB:.0f} GB of this {kind} "
        f"device; use {', or '.join(advice)}"
    )
