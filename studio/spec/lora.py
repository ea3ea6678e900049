"""LoRA adapters of a render: which low-rank adapters change the UNet, and by how much.

Each entry names a ``source`` (a ``.safetensors`` file, a folder with one LoRA in it, or a
Hub id used from the local Hugging Face cache; relative paths are looked up in the working
folder, then under ``STUDIO_HOME``, where the dashboard keeps ``loras/``) and a weight.

- In an animation the weight is a curve over frames (``studio.languages.curves``, variable
  ``t``): ``0.8`` is constant, ``0: (0), 24: (1)`` fades the style in over a second.
- In a blend it is a number. A blend's in-between frames branch off their parents'
  trajectories part-way through the schedule: a weight that changed with the movie's
  position would make a branch continue from latents denoised under another weight than its
  own, so the shared trajectories (what makes the transitions smooth) would no longer be
  shared. One weight per blend keeps the tree exact.

``check()`` (pure) parses each curve and names the LoRA and the position of a bad one;
whether each source exists is the render kind's ``check_inputs``
(``studio.pipeline.lora.check_lora_sources``).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import StrictFloat, StrictStr

from studio.errors import SpecError
from studio.spec.common import SettingsModel
from studio.spec.fields import setting

__all__ = ["MAX_LORAS", "AnimationLoras", "BlendLoras", "LoraCurve", "LoraNumber"]

MAX_LORAS = 8  # more would be a typing slip; each one costs a load and a set per group
_SOURCE_HELP = (
    "A .safetensors file, a folder with one LoRA in it, or a Hub id in the local Hugging "
    "Face cache; relative paths: the working folder, then STUDIO_HOME (loras/...)."
)


class LoraCurve(SettingsModel):
    """One LoRA of an animation: its source and its weight as a curve over frames."""

    source: StrictStr = setting(..., _SOURCE_HELP, flag=None)
    weight: StrictStr = setting(
        "1",
        "Its weight per frame, a curve of t: 0.8 (constant), or e.g. '0: (0), 24: (1)' to "
        "fade it in; 0 is the model without it.",
        widget="curve",
        flag=None,
    )


class LoraNumber(SettingsModel):
    """One LoRA of a blend: its source and one weight for the whole movie."""

    source: StrictStr = setting(..., _SOURCE_HELP, flag=None)
    weight: StrictFloat = setting(
        1.0, "Its weight for the whole blend; 0 is the model without it.", flag=None
    )


class AnimationLoras(SettingsModel):
    """LoRA adapters applied to the UNet, each with a weight curve over frames."""

    group: ClassVar[str] = "loras"

    adapters: tuple[LoraCurve, ...] = setting(
        (),
        "LoRA adapters, each a source and a weight curve over frames (--lora SOURCE[:WEIGHT]).",
        widget="loras",
        flag=None,  # --lora, written by hand (studio.app.cli.lora)
    )

    def check(self) -> None:
        """Raise ``SpecError``/``CurveError`` naming the LoRA (1-based) and what is wrong."""
        from studio.languages.curves import naming_curve, parse_curve

        _check_count(len(self.adapters))
        for i, lora in enumerate(self.adapters):
            _check_source(i, lora.source)
            if not lora.weight.strip():
                raise SpecError(f"LoRA {i + 1} ({lora.source}): weight is empty; e.g. 0.8")
            with naming_curve(f"LoRA {i + 1} ({lora.source}) weight"):
                parse_curve(lora.weight, names=("t",))


class BlendLoras(SettingsModel):
    """LoRA adapters applied to the UNet, each with one weight for the whole blend."""

    group: ClassVar[str] = "loras"

    adapters: tuple[LoraNumber, ...] = setting(
        (),
        "LoRA adapters, each a source and one weight (--lora SOURCE[:WEIGHT]).",
        widget="loras",
        flag=None,
    )

    def check(self) -> None:
        """Raise ``SpecError`` naming the LoRA (1-based) and what is wrong."""
        _check_count(len(self.adapters))
        for i, lora in enumerate(self.adapters):
            _check_source(i, lora.source)
            if not -10 <= lora.weight <= 10:
                raise SpecError(
                    f"LoRA {i + 1} ({lora.source}): weight must be between -10 and 10, "
                    f"got {lora.weight}"
                )


def _check_count(n: int) -> None:
    if n > MAX_LORAS:
        raise SpecError(f"at most {MAX_LORAS} LoRAs at once, got {n}")


def _check_source(i: int, source: str) -> None:
    if not source.strip():
        raise SpecError(
            f"LoRA {i + 1}: source is empty; give a .safetensors file, folder or Hub id"
        )
