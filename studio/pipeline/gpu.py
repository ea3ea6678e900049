"""The speed paths of a render: which are used, chosen where they help, and recorded.

Each path is optional and chosen automatically; the run's ``started`` event records them all
(``gpu_paths``: ``gpu_paths`` below), so a render says how it ran:

- precision: the weights' dtype (``float16`` on a GPU by default; ``bfloat16`` anywhere).
  A reduced-precision VAE decode that gives NaN or inf is done again in float32
  (``studio.pipeline.latents.decode``), and the run's notes count those batches;
- ``channels_last``: the UNet's and VAE's memory format, on CUDA (convolutions run in NHWC
  there; on the CPU it is slower, so it stays off);
- ``attention``: the attention processor the UNet runs: PyTorch's SDPA (diffusers'
  ``AttnProcessor2_0``, the default), xformers (only where installed, on CUDA) or sliced;
- ``compile``: ``torch.compile`` of the UNet (``studio.spec.speed``); each new input shape's
  first call (the compile) is timed under the ``compile`` stage, not ``unet``;
- ``fast``: step reuse (``reuses_step``).

Not recorded, as it changes no frame: whether an animation's frame work (colour matching,
the writer, the checkpoint) runs on a worker thread beside the model (``frame_work_beside``).

Compiling and channels-last are part of the model manager's load options: a pipeline is
changed for them once, when it is loaded, and every render that shares it asked for the same.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from studio.spec.speed import COMPILE_AUTO_FRAMES

if TYPE_CHECKING:
    import torch

# The loader and the clock import this module, so their types are named, not imported:
# ``loaded`` is a ``studio.pipeline.models.LoadedModel``, ``clock`` a ``common.Clock``,
# ``pipe`` a diffusers pipeline.
LoadedModel = Any
Clock = Any
Pipeline = Any

__all__ = [
    "VAE_FLOAT32_COUNT",
    "apply_load_paths",
    "compile_unet",
    "first_call",
    "frame_work_beside",
    "gpu_paths",
    "path_notes",
    "reuses_step",
    "unet_calls",
]

# The clock's count of batches whose reduced-precision decode was redone in float32.
VAE_FLOAT32_COUNT = "vae_float32_decodes"

# A compiled UNet -> the input shapes it has been called with (each new one compiles).
_SEEN: weakref.WeakKeyDictionary[Any, set[tuple]] = weakref.WeakKeyDictionary()
_SEEN_LOCK = threading.Lock()


def compile_unet(mode: str, device: torch.device, frames: int) -> bool:
    """Whether a render of ``frames`` frames on ``device`` compiles its UNet: ``on``,
    ``off``, or ``auto`` (CUDA and at least ``COMPILE_AUTO_FRAMES`` frames). Pure."""
    if mode == "auto":
        return device.type == "cuda" and frames >= COMPILE_AUTO_FRAMES
    return mode == "on"


def frame_work_beside(device: torch.device, *, encodes_here: bool) -> bool:
    """Whether a render on ``device`` does its frame work on a worker thread while the model
    works (``studio.animation.output``). ``encodes_here``: the frames are encoded in this
    process (PNG frames), not by ffmpeg in its own (MP4, GIF).

    Beside the model, except on a CPU whose cores all run torch's threads when the frames
    are encoded here: a worker thread making PNGs then makes torch's threads wait on it at
    every parallel operation, and doing that work between batches was 2.4% faster. Where
    ffmpeg encodes, the worker mostly waits on its pipe and the worker thread was 3.5%
    faster; with a core left free, 3.8% (2 cores, ``benchmarks/frame_work.py``,
    docs/benchmarks.md). An accelerator leaves the CPU free."""
    import torch

    if device.type != "cpu" or not encodes_here:
        return True
    return torch.get_num_threads() < usable_cores()


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def apply_load_paths(pipe: Pipeline, *, channels_last: bool, compile: bool) -> None:
    """Change a freshly loaded ``pipe`` (not yet shared) for the load options that ask."""
    import torch

    if channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    if compile:
        pipe.unet.compile()  # lazy: each new input shape compiles on its first call


def first_call(unet: torch.nn.Module, key: tuple) -> bool:
    """True the first time a compiled ``unet`` is called with inputs of ``key`` (shapes,
    dtype): that call compiles. Always False for a UNet that is not compiled."""
    if getattr(unet, "_compiled_call_impl", None) is None:
        return False
    with _SEEN_LOCK:
        seen = _SEEN.setdefault(unet, set())
        if key in seen:
            return False
        seen.add(key)
        return True


def reuses_step(i: int, steps: int) -> bool:
    """Whether fast mode reuses the previous noise prediction at step ``i`` of ``steps``.

    The first two steps (where the picture's layout forms) and the last one (its detail)
    always call the UNet; in between, every odd step reuses the step before it. For ``steps``
    of 10, 20, 30: 7, 12, 17 UNet calls (``unet_calls``); 4 steps or fewer: all of them.
    """
    return 2 <= i < steps - 1 and i % 2 == 1


def unet_calls(steps: int, start: int = 0, fast: bool = False) -> int:
    """UNet calls (per batch, a guided step is one call) of steps ``start``..``steps - 1``."""
    if not fast:
        return steps - start
    return sum(1 for i in range(start, steps) if i == start or not reuses_step(i, steps))


def gpu_paths(loaded: LoadedModel, *, fast: bool) -> dict[str, Any]:
    """The paths a render on ``loaded`` takes, JSON-safe, for its ``started`` event."""
    import torch

    unet = loaded.pipe.unet
    processors = {type(p).__name__ for p in getattr(unet, "attn_processors", {}).values()}
    attention = "xformers" if loaded.xformers else ", ".join(sorted(processors)) or "none"
    return {
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "channels_last": _channels_last(unet, torch),
        "attention": attention,
        "sdpa": any("2_0" in p for p in processors),
        "compile": getattr(unet, "_compiled_call_impl", None) is not None,
        "fast": fast,
    }


def path_notes(clock: Clock, frames: int) -> list[str]:
    """What the run's notes say of its speed paths: float32 decodes, the compile's cost."""
    notes = []
    redone = clock.counts.get(VAE_FLOAT32_COUNT, 0)
    if redone:
        notes.append(
            f"VAE decode gave NaN/inf in reduced precision; {redone} batch"
            f"{'es' if redone != 1 else ''} decoded again in float32"
        )
    seconds = clock.stages.get("compile", 0.0)
    if seconds:
        notes.append(
            f"torch.compile of the UNet took {seconds:.1f} s "
            f"({seconds / max(frames, 1):.2f} s a frame over {frames} frames)"
        )
    return notes


def _channels_last(unet: torch.nn.Module, torch: Any) -> bool:
    # conv_in's 3x3 kernel: its strides differ between the two formats (a 1x1 one's do not).
    weight = getattr(getattr(unet, "conv_in", None), "weight", None)
    if weight is None:
        return False
    return weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
