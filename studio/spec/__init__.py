"""Render specs: one versioned, JSON-serialisable description per kind of render.

A spec is what the dashboard builds from its widgets, what the CLI builds from its flags or
reads from ``--spec file.json``, what the store keeps, and what "re-run" executes. The round
trip ``spec -> to_json() -> load_spec() -> spec`` is exact.

Each spec kind is a frozen pydantic model of settings groups (prompts, diffusion, animation,
output, upscale, ...; for a blend: prompts, diffusion, blend, upscale, output) so that "restore
settings" can bring back one group without the others. Every field is described once
(``studio.spec.fields``): type, bounds, choices, help, group and UI/CLI hints; the JSON
Schema of each kind is exported by ``python -m studio.spec.schema``.

Modules: ``common`` (base models, diffusion settings), ``animation``, ``blend``, ``load``
(``load_spec``, ``diff_specs``), ``versions`` (schema version and upgrades), ``lora`` (LoRA adapters and their weights), ``upscale`` (the upscale stage of both kinds), ``fields``
(descriptions, range checks, error messages), ``schema`` (JSON Schema export).
"""

from studio.spec.animation import (
    AnimationSettings,
    AnimationSpec,
    AudioSettings,
    InputSettings,
    MotionSettings,
    OutputSettings,
    PromptSettings,
)
from studio.spec.blend import (
    BlendAudioSettings,
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
)
from studio.spec.common import (
    BLEND_PRESETS,
    BLEND_SCHEDULERS,
    DEFAULT_MODEL,
    SCHEDULERS,
    DiffusionSettings,
)
from studio.spec.edit import EditSettings
from studio.spec.load import Spec, diff_specs, load_spec
from studio.spec.lora import AnimationLoras, BlendLoras, LoraCurve, LoraNumber
from studio.spec.upscale import UpscaleSettings
from studio.spec.versions import SCHEMA_VERSION

__all__ = [
    "BLEND_PRESETS",
    "BLEND_SCHEDULERS",
    "DEFAULT_MODEL",
    "SCHEMA_VERSION",
    "SCHEDULERS",
    "AnimationLoras",
    "AnimationSettings",
    "AnimationSpec",
    "AudioSettings",
    "BlendAudioSettings",
    "BlendKeyframe",
    "BlendLoras",
    "BlendOutputSettings",
    "BlendPromptSettings",
    "BlendSettings",
    "BlendSpec",
    "DiffusionSettings",
    "EditSettings",
    "InputSettings",
    "LoraCurve",
    "LoraNumber",
    "MotionSettings",
    "OutputSettings",
    "PromptSettings",
    "Spec",
    "UpscaleSettings",
    "diff_specs",
    "load_spec",
]
