"""What the UNet is conditioned on besides the latents: text states and per-step extras.

``TextStates`` carries one batch's text conditioning: the encoder's hidden states (B, L, D)
and, for SDXL, the pooled text embedding (B, P) that goes in with the time ids. Every render
kind mixes, batches and slices it as one value (``mix``, ``cat``, ``[rows]``), so a family
with more text inputs changes this class, not the renders. Batches for classifier-free
guidance are ``[uncond; cond]``: the last rows go with the prompt.

A ``UNetExtra`` adds keyword arguments to every UNet call of the denoising loop: SDXL's
``added_cond_kwargs`` (``SDXLTimeIds``), a ControlNet's residuals. It is called with the
latents going in (rows: B, or 2B when guided), the timestep and the text states of those
rows, and picks the last rows of anything it holds per frame. ``unet_extras`` gives the ones a
model's UNet needs, so a render kind never asks which family it draws with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from studio.errors import ModelLoadError

__all__ = ["SDXLTimeIds", "TextStates", "UNetExtra", "as_text", "extra_kwargs", "unet_extras"]

Mix = Callable[[torch.Tensor, torch.Tensor, "float | torch.Tensor"], torch.Tensor]


@dataclass(frozen=True)
class TextStates:
    """Text conditioning of a batch: ``states`` (B, L, D) and SDXL's ``pooled`` (B, P)."""

    states: torch.Tensor
    pooled: torch.Tensor | None = None

    @property
    def rows(self) -> int:
        return int(self.states.shape[0])

    def __getitem__(self, index: int | slice | torch.Tensor) -> TextStates:
        if isinstance(index, int):
            index = slice(index, index + 1)
        pooled = None if self.pooled is None else self.pooled[index]
        return TextStates(self.states[index], pooled)

    def to(self, device: torch.device | str) -> TextStates:
        pooled = None if self.pooled is None else self.pooled.to(device)
        return TextStates(self.states.to(device), pooled)

    @staticmethod
    def cat(parts: Sequence[TextStates]) -> TextStates:
        """The rows of ``parts`` one after another (all with or all without ``pooled``)."""
        states = torch.cat([p.states for p in parts])
        pooled = [p.pooled for p in parts]
        if any(p is None for p in pooled):
            return TextStates(states)
        return TextStates(states, torch.cat(pooled))  # type: ignore[arg-type]

    @staticmethod
    def mix(a: TextStates, b: TextStates, w: float | torch.Tensor, how: Mix) -> TextStates:
        """``how(a, b, w)`` (``lerp``/``slerp``) on the states and the pooled embedding alike."""
        states = how(a.states, b.states, w)
        if a.pooled is None or b.pooled is None:
            return TextStates(states)
        return TextStates(states, how(a.pooled, b.pooled, w))


def as_text(text: TextStates | torch.Tensor) -> TextStates:
    """``text`` as ``TextStates`` (a bare tensor is the hidden states of a one-encoder model)."""
    return text if isinstance(text, TextStates) else TextStates(text)


class UNetExtra(Protocol):
    """Adds keyword arguments to a UNet call (see the module's docstring)."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor, text: TextStates) -> dict[str, Any]: ...


def extra_kwargs(
    extras: Sequence[UNetExtra], x: torch.Tensor, t: torch.Tensor, text: TextStates
) -> dict[str, Any]:
    """The keyword arguments every extra adds to one UNet call; ``added_cond_kwargs`` merge."""
    kwargs: dict[str, Any] = {}
    for extra in extras:
        for key, value in extra(x, t, text).items():
            if key == "added_cond_kwargs" and key in kwargs:
                kwargs[key] = {**kwargs[key], **value}
            else:
                kwargs[key] = value
    return kwargs


def unet_extras(pipe: Any, width: int, height: int) -> list[UNetExtra]:
    """The extras every UNet call of ``pipe`` (a loaded pipeline) needs for ``width`` x
    ``height`` frames: SDXL's time ids (a UNet with ``addition_embed_type`` "text_time"),
    else none.

    Raises ``ModelLoadError`` when the UNet's added embedding is not six time ids and the
    second text encoder's pooled projection (diffusers' ``_get_add_time_ids`` check): such a
    model (the refiner's five ids) would fail inside the UNet.
    """
    unet = pipe.unet
    if unet.config.get("addition_embed_type") != "text_time":
        return []
    encoder = getattr(pipe, "text_encoder_2", None)
    pooled = encoder.config.projection_dim if encoder is not None else 0
    given = unet.config.addition_time_embed_dim * 6 + pooled
    wanted = unet.add_embedding.linear_1.in_features
    if given != wanted:
        raise ModelLoadError(
            f"this SDXL UNet takes an added embedding of {wanted} values, but six time ids and "
            f"the pooled text embedding make {given}; only SDXL base and Turbo models are drawn"
        )
    return [SDXLTimeIds(width, height)]


@dataclass(frozen=True)
class SDXLTimeIds:
    """SDXL's micro-conditioning: the pooled text embedding and the time ids
    (original size, crop corner, target size) of every UNet call.

    As diffusers' SDXL pipelines make them by default: original and target size are the
    frame's ``(height, width)``, the crop corner ``(0, 0)``, the same for cond and uncond
    rows, in the dtype of the text embeddings.
    """

    width: int
    height: int

    def __call__(self, x: torch.Tensor, t: torch.Tensor, text: TextStates) -> dict[str, Any]:
        if text.pooled is None:
            raise ValueError("an SDXL UNet needs pooled text embeddings; encode with both encoders")
        ids = [self.height, self.width, 0, 0, self.height, self.width]
        time_ids = torch.tensor([ids], dtype=text.pooled.dtype, device=x.device)
        return {
            "added_cond_kwargs": {
                "text_embeds": text.pooled.to(x.device),
                "time_ids": time_ids.repeat(x.shape[0], 1),
            }
        }
