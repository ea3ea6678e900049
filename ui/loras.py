"""The LoRA picker of the Prompt Schedule and Blend pages <-> a spec's ``loras`` group.

The user picks LoRAs found in ``$STUDIO_HOME/loras/`` (``.safetensors`` files and folders:
put them there to list them) and types others (a path or a Hub id per line); each chosen
LoRA gets a weight widget: a curve over frames on Prompt Schedule, a number on Blend
(``studio.spec.lora`` says why). Picked LoRAs are stored in the spec as ``loras/NAME``,
relative to STUDIO_HOME as dashboard uploads are, so a spec names the same file on another
machine with the same home.

Kept widget values (``ui.state``): ``PREFIX + "lora.pick"`` (names picked),
``PREFIX + "lora.other"`` (the typed sources) and ``PREFIX + "lora.w." + SOURCE`` (a
weight); so a weight typed for a LoRA comes back when it is picked again.
"""

from __future__ import annotations

import streamlit as st

from studio.media.paths import studio_home
from studio.spec.fields import describe
from studio.spec.lora import AnimationLoras, BlendLoras, LoraCurve, LoraNumber
from ui.fields import draw_field
from ui.state import get_value, keep, seed, set_value

__all__ = [
    "FOLDER",
    "draw_loras",
    "found_loras",
    "keep_lora_defaults",
    "loras_from_state",
    "restore_loras",
]

FOLDER = "loras"  # under STUDIO_HOME


def found_loras() -> list[str]:
    """Names of the ``.safetensors`` files and the folders in ``$STUDIO_HOME/loras/``."""
    folder = studio_home() / FOLDER
    if not folder.is_dir():
        return []
    return sorted(
        p.name
        for p in folder.iterdir()
        if (p.is_file() and p.suffix == ".safetensors") or p.is_dir()
    )


def keep_lora_defaults(prefix: str, drawn: bool) -> None:
    """Give the picker's values their kept value or none; ``drawn``: this page draws it."""
    (keep if drawn else seed)(prefix + "lora.pick", [])
    (keep if drawn else seed)(prefix + "lora.other", "")


def _sources(prefix: str) -> list[str]:
    picked = [f"{FOLDER}/{name}" for name in get_value(prefix + "lora.pick", [])]
    typed = [line.strip() for line in get_value(prefix + "lora.other", "").splitlines()]
    return picked + [s for s in typed if s]


def draw_loras(prefix: str, *, curve: bool) -> None:
    """The *LoRA adapters* expander: the picker, the typed sources and a weight for each."""
    spec_class = AnimationLoras if curve else BlendLoras
    entry = LoraCurve if curve else LoraNumber
    weight_field = next(f for f in describe(entry) if f.name == "weight")
    with st.expander("LoRA adapters"):
        found = found_loras()
        picked = get_value(prefix + "lora.pick", [])
        # A picked LoRA whose file went away stays listed: the check then names it missing.
        options = found + [name for name in picked if name not in found]
        c1, c2 = st.columns(2)
        c1.multiselect(
            f"In {FOLDER}/ of the studio's home",
            options,
            key=prefix + "lora.pick",
            help=f"The .safetensors files and folders in {studio_home() / FOLDER}",
        )
        c2.text_area(
            "Other LoRAs",
            key=prefix + "lora.other",
            height=80,
            help="A .safetensors file, a folder or a Hub id in the local cache, one per line.",
        )
        st.caption(spec_class.model_fields["adapters"].description or "")
        for source in _sources(prefix):
            key = prefix + "lora.w." + source
            keep(key, "1" if curve else 1.0)
            draw_field(st, weight_field, key, label=f"Weight of {source}")


def loras_from_state(prefix: str, *, curve: bool) -> AnimationLoras | BlendLoras:
    """The spec's ``loras`` group the picker describes (checked with the spec)."""
    if curve:
        return AnimationLoras(
            adapters=tuple(
                LoraCurve(source=s, weight=str(get_value(prefix + "lora.w." + s, "1")))
                for s in _sources(prefix)
            )
        )
    return BlendLoras(
        adapters=tuple(
            LoraNumber(source=s, weight=float(get_value(prefix + "lora.w." + s, 1.0)))
            for s in _sources(prefix)
        )
    )


def restore_loras(prefix: str, loras: AnimationLoras | BlendLoras) -> None:
    """Load a spec's LoRAs into the picker: ``loras/NAME`` picked, the others typed."""
    picked, typed = [], []
    for lora in loras.adapters:
        name = lora.source.removeprefix(FOLDER + "/")
        if name != lora.source and "/" not in name:
            picked.append(name)
        else:
            typed.append(lora.source)
        set_value(prefix + "lora.w." + lora.source, lora.weight)
    set_value(prefix + "lora.pick", picked)
    set_value(prefix + "lora.other", "\n".join(typed))
