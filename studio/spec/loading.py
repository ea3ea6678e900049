"""How a model is loaded: memory savers chosen by device, weight variant, Hub revision and an
opt-in custom pipeline; the fields of the diffusion group that say so, described once here.

``memory``: ``none`` uses exactly the four memory switches of the spec (attention slicing,
VAE slicing, VAE tiling, CPU offload); ``auto`` adds what the device needs
(``studio.pipeline.memory.choose_memory``: nothing on the CPU; on CUDA VAE tiling for large
frames, attention slicing and then CPU offload when free memory is short), and the run
records what was chosen.

``variant`` (``fp16``) picks ``*.fp16.safetensors`` weight files of a diffusers folder or Hub
repo; ``revision`` a branch, tag or commit of a Hub id. ``custom_pipeline`` names code to
run (a Hub id, or a local ``pipeline.py`` or folder): off by default, and the CLI refuses a
stored or pulled spec that sets it unless its own command line names it too
(``docs/models.md#custom-pipelines``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from studio.errors import SpecError
from studio.spec.fields import setting

__all__ = [
    "CUSTOM_PIPELINE_FIELD",
    "MEMORY_FIELD",
    "MEMORY_MODES",
    "REVISION_FIELD",
    "VARIANT_FIELD",
    "MemoryMode",
    "check_loading",
    "custom_pipeline_warning",
    "parse_option",
    "options_text",
    "parse_options",
]

MemoryMode = Literal["none", "auto"]
MEMORY_MODES: tuple[str, ...] = ("none", "auto")

MEMORY_FIELD: Any = setting(
    "none",
    "Memory savers: none uses the four switches as set; auto adds what the device needs "
    "(CUDA: VAE tiling above 1024x1024, attention slicing or CPU offload when free GPU "
    "memory is short; nothing on the CPU); the run records what was chosen.",
    widget="select",
)
VARIANT_FIELD: Any = setting(
    "",
    "Weight files to load, e.g. fp16 (diffusion_pytorch_model.fp16.safetensors) from a "
    "diffusers folder or Hub id; empty: the plain files.",
)
REVISION_FIELD: Any = setting(
    "", "Branch, tag or commit of a Hub id to load; empty: main. Folders and files ignore it."
)
CUSTOM_PIPELINE_FIELD: Any = setting(
    "",
    "Runs the Python code of a community pipeline (a Hub id, or a local pipeline.py or its "
    "folder) to load the model; empty: none. Only set it for code you trust.",
    label="custom pipeline",
)

# A variant is part of a file name (diffusion_pytorch_model.<variant>.safetensors).
_VARIANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def check_loading(d: Any) -> None:
    """``d``: a ``DiffusionSettings`` (not imported: the diffusion group imports this module).
    ``SpecError`` for a variant that cannot be part of a file name, or blank padding."""
    if d.variant and not _VARIANT.match(d.variant):
        raise SpecError(
            f"variant must be a word like fp16 (part of a weight file's name), got {d.variant!r}"
        )
    for name in ("revision", "custom_pipeline"):
        value = getattr(d, name)
        if value != value.strip():
            raise SpecError(f"{name} has spaces around it: {value!r}")


def custom_pipeline_warning(source: str) -> str:
    """The one line the CLI and the dashboard show whenever a custom pipeline is set."""
    return (
        f"custom pipeline {source!r}: loading this model runs the Python code found there, "
        "with your permissions; use it only if you trust that code"
    )


def parse_option(text: str) -> tuple[str, Any]:
    """A scheduler option ``"KEY=VALUE"`` -> ``(KEY, value)``: the value read as a JSON
    scalar (``true``, ``3``, ``0.5``, ``"text"``), a bare word as text. ``SpecError``
    without a key or ``=``, or for a JSON list or object (an option is one value)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError(
            f"a scheduler option is KEY=VALUE, e.g. use_karras_sigmas=true, got {text!r}"
        )
    raw = raw.strip()
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # a bare word: text
    if isinstance(value, list | dict):
        raise SpecError(f"scheduler option {key} takes one value, not {raw!r}")
    return key, value


def parse_options(text: str) -> dict[str, Any]:
    """One ``KEY=VALUE`` a line (blank lines skipped) -> a dict of options."""
    return dict(parse_option(line) for line in text.splitlines() if line.strip())


def options_text(options: dict[str, Any]) -> str:
    """The lines ``parse_options`` reads back into ``options``."""
    return "\n".join(
        f"{k}={v}" if isinstance(v, str) and _BARE.match(v) else f"{k}={json.dumps(v)}"
        for k, v in options.items()
    )


# Text that reads back as itself without quotes: not JSON, no spaces at its ends.
_BARE = re.compile(r"^(?!true$|false$|null$)[A-Za-z_][\w.+-]*$")
