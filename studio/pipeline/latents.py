"""Latents: their shape, the seeded noise they start from, and images in and out of the VAE.

Every draw of noise is made on the CPU from a generator seeded for what it is for, so the
same spec gives the same frames on every device and whatever the batch size:

- a keyframe draws from its own seed (``plan.keyframe_seeds``);
- a blend branch from ``branch_seed(keyframe seed, branch)``, for schedulers that draw noise
  at each step; an upscale stage offsets the branch by its ``stage`` so its noise is its own;
- an animation frame's extra init noise (the noise curve) from ``frame_seed(seed, frame)``,
  and its upscale stage's steps from ``step_seed(seed, frame, stage=1)``.

Latents are scaled by the VAE's own ``scaling_factor`` (0.18215 for SD 1.x/2.x, 0.13025 for
SDXL). SDXL's VAE overflows to NaN in float16; where its config sets ``force_upcast``, a
float16 SDXL VAE encodes and decodes through a float32 copy of itself, made once per VAE and
kept as long as it lives: the shared pipeline's VAE is never cast in place, as diffusers' SDXL
pipeline does. Other families keep their VAE's dtype, as diffusers' Stable Diffusion pipeline
does (``force_upcast`` is on by default in every VAE config, so it alone cannot tell). Any
reduced-precision (float16, bfloat16) decode whose pixels come out NaN or inf is done again
through the same float32 copy, for that batch only; the run's clock counts those batches
(``studio.pipeline.gpu.VAE_FLOAT32_COUNT``) and its notes say how many.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

import torch

from studio.pipeline.gpu import VAE_FLOAT32_COUNT
from studio.pipeline.memory import is_out_of_memory, out_of_memory

if TYPE_CHECKING:
    import numpy as np

    from studio.pipeline.common import Clock
    from studio.pipeline.models import Pipeline

__all__ = [
    "branch_seed",
    "decode",
    "encode_images",
    "frame_seed",
    "latent_shape",
    "seeded_noise",
    "step_seed",
]

_SEEDS = 2**63  # seeds are taken modulo this: torch's generators read a signed 64-bit seed

# A shared pipeline's VAE -> its float32 copy (see the module docstring).
_FLOAT32_VAES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_FLOAT32_LOCK = threading.Lock()


def latent_shape(pipe: Pipeline, width: int, height: int) -> tuple[int, int, int]:
    """(C, h, w) of the latents ``pipe``'s VAE decodes into a ``width`` x ``height`` frame.

    C is the VAE's latent channels: an upscaler's or inpainting UNet takes more (its extra
    inputs are concatenated to the latents), and the noise a render starts from has C.
    """
    return (
        pipe.vae.config.latent_channels,
        height // pipe.vae_scale_factor,
        width // pipe.vae_scale_factor,
    )


def seeded_noise(
    shape: tuple[int, ...], seeds: list[int], device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Standard Gaussian noise (len(seeds), *shape), one draw of ``shape`` per seed.

    Drawn on the CPU so every device starts from the same noise, then moved to ``device``.
    """
    draws = [torch.randn(shape, generator=torch.Generator().manual_seed(s)) for s in seeds]
    return torch.stack(draws).to(device=device, dtype=dtype)


def branch_seed(keyframe_seed: int, branch: int, stage: int = 0) -> int:
    """The seed of in-between frame ``branch`` (0, 1, ... in the order made) of a transition
    whose left keyframe has ``keyframe_seed``; ``stage`` 1 for the upscale stage."""
    return (keyframe_seed * 1_000_003 + 7919 * (branch + 1 + stage)) % _SEEDS


def step_seed(seed: int, frame: int, stage: int = 0) -> int:
    """The seed of the noise an ancestral scheduler (``euler_a``) draws in animation frame
    ``frame``'s steps: one generator per frame, so batching and resuming draw the same;
    ``stage`` 1 for the upscale stage."""
    return (seed * 1_000_003 + 0x85EBCA6B * (frame + 1) + 7919 * stage) % _SEEDS


def frame_seed(seed: int, frame: int) -> int:
    """The seed of animation frame ``frame``'s own draws (the noise curve) for spec ``seed``."""
    return (seed + 0x9E3779B9 * (frame + 1)) % _SEEDS


def encode_images(pipe: Pipeline, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels (B, 3, H, W) in [-1, 1], on the VAE's device and dtype -> latents (B, C, h, w)
    in the same dtype.

    The posterior's mean, not a sample: the same image always gives the same latents.
    """
    vae = _vae(pipe)
    with torch.no_grad():
        latents = vae.encode(pixels.to(vae.dtype)).latent_dist.mean
    return (latents * vae.config.scaling_factor).to(pixels.dtype)


def decode(pipe: Pipeline, latents: torch.Tensor, clock: Clock | None = None) -> list[np.ndarray]:
    """Latents (B, C, h, w) -> list of B frames (H, W, 3) uint8 on the CPU.

    A reduced-precision decode that gives NaN or inf is redone in float32 (the module
    docstring); ``clock``, when given, counts it.
    """
    vae = _vae(pipe)
    images = _decode_with(vae, latents)
    if vae.dtype in (torch.float16, torch.bfloat16) and not torch.isfinite(images).all():
        images = _decode_with(_float32_vae(pipe), latents)
        if clock is not None:
            clock.count(VAE_FLOAT32_COUNT)
    images = ((images.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return list(images.permute(0, 2, 3, 1).cpu().numpy())


def _decode_with(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    """The pixels (B, 3, H, W) in about [-1, 1], in the VAE's dtype."""
    with torch.no_grad():
        try:
            # Unscaled in the VAE's dtype: float16 latents over ~8500 would overflow on the way.
            return vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample
        except RuntimeError as exc:  # torch.OutOfMemoryError is one
            if is_out_of_memory(exc):
                raise out_of_memory("a VAE decode", latents) from exc
            raise


def _vae(pipe: Pipeline) -> Any:
    """The VAE to encode and decode with: ``pipe.vae``, or its float32 copy for an SDXL
    pipeline (two text encoders) whose float16 VAE asks for ``force_upcast``."""
    vae = pipe.vae
    xl = getattr(pipe, "text_encoder_2", None) is not None
    if not xl or vae.dtype != torch.float16 or not vae.config.get("force_upcast", False):
        return vae
    return _float32_vae(pipe)


def _float32_vae(pipe: Pipeline) -> Any:
    """A float32 copy of ``pipe.vae``, made once per VAE and kept as long as it lives."""
    vae = pipe.vae
    if vae.dtype == torch.float32:
        return vae
    with _FLOAT32_LOCK:
        upcast = _FLOAT32_VAES.get(vae)
        if upcast is None:
            # From the config and the weights, not deepcopy: CPU offload's hooks stay behind.
            upcast = type(vae).from_config(vae.config)
            upcast.load_state_dict(vae.state_dict())
            upcast.to(_device_of(pipe)).eval()  # float32: built in the default dtype
            upcast.use_slicing = getattr(vae, "use_slicing", False)
            upcast.use_tiling = getattr(vae, "use_tiling", False)
            _FLOAT32_VAES[vae] = upcast
    return upcast


def _device_of(pipe: Pipeline) -> torch.device:
    """Where ``pipe`` runs its models (the execution device under CPU offload)."""
    device = getattr(pipe, "_execution_device", None)
    return device if isinstance(device, torch.device) else pipe.vae.device
