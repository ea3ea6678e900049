"""Interpolating latents and prompt embeddings between keyframes.

Both functions take ``a`` and ``b`` of the same shape and a weight ``w`` that is either

- a number: the whole tensor is one vector, moved ``w`` of the way from ``a`` to ``b``; or
- a tensor of shape ``(B,)``: one weight per item along the first dimension of ``a``
  (shape ``(B, ...)``), each item its own vector.

``w = 0`` gives ``a`` exactly and ``w = 1`` gives ``b`` exactly (cast to ``a``'s dtype);
other weights are normally in ``[0, 1]`` (outside it, both extrapolate). The maths runs in
float64 for float64 inputs and float32 otherwise (half precision loses too much in the norms
and angles), and the result has ``a``'s dtype, shape and device.
"""

from __future__ import annotations

import torch

__all__ = ["lerp", "slerp"]


def lerp(a: torch.Tensor, b: torch.Tensor, w: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation ``(1 - w) * a + w * b``, per item when ``w`` is a tensor."""
    a_flat, b_flat, weight = _flatten(a, b, w)
    if a.numel() == 0:
        return a.clone()
    out = _exact_ends(_linear(a_flat, b_flat, weight), a_flat, b_flat, weight)
    return out.reshape(a.shape).to(a.dtype)


def slerp(
    a: torch.Tensor, b: torch.Tensor, w: float | torch.Tensor, dot_threshold: float = 0.9995
) -> torch.Tensor:
    """Spherical linear interpolation, per item when ``w`` is a tensor.

    Each vector moves along the great circle from ``a``'s direction to ``b``'s:
    ``sin((1 - w) theta) / sin(theta) * a + sin(w theta) / sin(theta) * b`` with ``theta`` the
    angle between them, so unit vectors stay unit vectors (Gaussian latents keep their norm,
    which plain lerp shrinks midway). Where ``|cos theta| > dot_threshold`` (nearly parallel
    or opposite, where the formula divides by almost zero) or either vector is zero, that
    item falls back to ``lerp``.
    """
    if not 0.0 <= dot_threshold <= 1.0:
        raise ValueError(f"dot_threshold must be between 0 and 1, got {dot_threshold}")
    a_flat, b_flat, weight = _flatten(a, b, w)
    if a.numel() == 0:
        return a.clone()
    dot = (a_flat * b_flat).sum(dim=1, keepdim=True)
    norms = torch.linalg.vector_norm(a_flat, dim=1, keepdim=True) * torch.linalg.vector_norm(
        b_flat, dim=1, keepdim=True
    )
    cos = dot / torch.where(norms > 0, norms, torch.ones_like(norms))
    fallback = (norms == 0) | ~torch.isfinite(cos) | (cos.abs() > dot_threshold)
    # Give the fallback items a harmless angle so no NaN is computed even in the unused branch.
    theta = torch.arccos(torch.where(fallback, torch.zeros_like(cos), cos.clamp(-1.0, 1.0)))
    sin_theta = torch.sin(theta)
    spherical = (torch.sin((1.0 - weight) * theta) / sin_theta) * a_flat + (
        torch.sin(weight * theta) / sin_theta
    ) * b_flat
    out = torch.where(fallback, _linear(a_flat, b_flat, weight), spherical)
    out = _exact_ends(out, a_flat, b_flat, weight)
    return out.reshape(a.shape).to(a.dtype)


def _flatten(
    a: torch.Tensor, b: torch.Tensor, w: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``a`` and ``b`` as ``(B, D)`` in the compute dtype, and the weight as ``(B, 1)``."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError("a and b must be torch tensors")
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if not a.is_floating_point() or not b.is_floating_point():
        raise TypeError(f"a and b must be floating point, got {a.dtype} and {b.dtype}")
    dtype = torch.float64 if a.dtype == torch.float64 else torch.float32
    if isinstance(w, torch.Tensor):
        if a.ndim == 0 or w.shape != (a.shape[0],):
            raise ValueError(
                f"a tensor weight must have shape (B,) = ({a.shape[0] if a.ndim else '?'},) "
                f"for a and b of shape {tuple(a.shape)}, got {tuple(w.shape)}"
            )
        batch = a.shape[0]
        weight = w.to(device=a.device, dtype=dtype).reshape(batch, 1)
    elif isinstance(w, int | float) and not isinstance(w, bool):
        batch = 1
        weight = torch.full((1, 1), float(w), dtype=dtype, device=a.device)
    else:
        raise TypeError(f"w must be a number or a tensor, got {type(w).__name__}")
    if a.numel() == 0:
        return a, b, weight
    a_flat = a.reshape(batch, -1).to(dtype)
    b_flat = b.reshape(batch, -1).to(device=a.device, dtype=dtype)
    return a_flat, b_flat, weight


def _linear(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (1.0 - weight) * a + weight * b


def _exact_ends(
    out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    # The formulas already give the ends up to rounding; callers (and resumed renders) rely on
    # keyframes being bit-identical, so pin them.
    out = torch.where(weight == 0, a, out)
    return torch.where(weight == 1, b, out)
