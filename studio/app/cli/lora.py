"""``--lora SOURCE[:WEIGHT]`` on ``animate`` and ``blend``: LoRA adapters from the command line.

The option repeats, one adapter each. An animation's weight is a curve, which holds colons
(``0: (0), 24: (1)``), and a source may hold one (``C:\\loras\\x.safetensors``), so the split is:

1. a value that names an existing file or folder as a whole is the source, weight 1;
2. otherwise the source ends at the first colon, not counting a drive letter's (``C:\\``,
   ``C:/``), and the rest is the weight; with no such colon the weight is 1.

So ``style.safetensors:0.8``, ``loras/ink:0: (0), 24: (1)`` and ``org/name:0.5`` read as
meant; a bad weight is then reported by the spec's check, naming the LoRA and the position.
A blend takes one number per adapter. ``--lora`` adapters replace those of a ``--spec``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from studio.errors import SpecError
from studio.spec.lora import AnimationLoras, BlendLoras, LoraCurve, LoraNumber

__all__ = ["add_lora_flag", "animation_loras", "blend_loras", "split_lora"]

_HELP = (
    "a LoRA adapter: a .safetensors file, a folder or a Hub id in the local cache, then "
    "optionally ':' and its weight (default 1); {weight}; repeat for more"
)


def add_lora_flag(command: argparse.ArgumentParser, *, curve: bool) -> None:
    """``--lora`` on ``command``; ``curve``: the weight may be a curve over frames."""
    weight = (
        "a number or a curve over frames, e.g. 0.8 or '0: (0), 24: (1)'" if curve else ("a number")
    )
    command.add_argument(
        "--lora",
        action="append",
        metavar="SOURCE[:WEIGHT]",
        help=_HELP.format(weight=weight),
    )


def split_lora(text: str) -> tuple[str, str]:
    """``(source, weight)`` of one ``--lora`` value (rule in the module docstring)."""
    from studio.media.paths import resolve_media_path

    if resolve_media_path(text).exists():
        return text, "1"
    drive = re.match(r"^[A-Za-z]:[\\/]", text)
    colon = text.find(":", drive.end() if drive else 0)
    if colon == -1:
        return text, "1"
    source, weight = text[:colon], text[colon + 1 :].strip()
    if not source.strip() or not weight:
        raise SpecError(
            f"--lora {text!r}: give SOURCE or SOURCE:WEIGHT, e.g. style.safetensors:0.8"
        )
    return source, weight


def animation_loras(given: list[str] | None, current: AnimationLoras) -> AnimationLoras:
    """The animation's LoRAs: those of ``--lora`` when given, else ``current``."""
    if not given:
        return current
    adapters = [LoraCurve(source=s, weight=w) for s, w in map(split_lora, given)]
    return current.replace(adapters=tuple(adapters))


def blend_loras(given: list[str] | None, current: BlendLoras) -> BlendLoras:
    """The blend's LoRAs: those of ``--lora`` (one number each) when given, else ``current``."""
    if not given:
        return current
    adapters: list[Any] = []
    for text in given:
        source, weight = split_lora(text)
        try:
            number = float(weight)
        except ValueError:
            raise SpecError(
                f"--lora {text!r}: a blend's LoRA weight is one number (its frames share "
                f"trajectories across the movie), got {weight!r}"
            ) from None
        adapters.append(LoraNumber(source=source, weight=number))
    return current.replace(adapters=tuple(adapters))
