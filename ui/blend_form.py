"""The Blend page's widgets <-> a ``BlendSpec``, both ways.

One table says which widget holds which spec field, so building a spec from the page and
restoring a recorded spec into the page ("restore settings" in History) cannot drift apart;
it is derived from the field descriptions (``ui.fields.form_keys``), and the page draws its
widgets from the same descriptions. Defaults for the model come from ``model_defaults``.
A few fields need a conversion (the prompt list, the manual tree's lists, the budget); they
are handled next to the table. The model and device live in the shared sidebar.
"""

from __future__ import annotations

from typing import Any

from studio.errors import SpecError
from studio.pipeline.builtin import model_defaults
from studio.spec import BlendSpec
from studio.spec.blend import (
    BlendAudioSettings,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    UpscaleSettings,
)
from studio.spec.common import DiffusionSettings
from studio.spec.prompt_list import format_prompt_lines, parse_prompt_lines
from ui.advanced import advanced_values, keep_advanced, restore_advanced
from ui.fields import ADVANCED_FIELDS, DIFFUSION_FIELDS, form_keys
from ui.loras import keep_lora_defaults, loras_from_state, restore_loras
from ui.model_defaults import diffusion_from_values, follow_model, followed
from ui.scale_panel import restore_scale, scale_values
from ui.sidebar import choose_model
from ui.state import get_value, keep, seed, set_value

__all__ = [
    "BUDGETS",
    "FIELDS",
    "GROUPS",
    "INJECTIONS",
    "PAGE",
    "keep_defaults",
    "restore",
    "spec_from_state",
]

PAGE = "pages/blend.py"
GROUPS = ("prompts", "diffusion", "blend", "upscale", "output", "audio", "loras")
INJECTIONS = ("strengths", "steps")  # how a manual tree gives its injection points
BUDGETS = ("none", "denoise steps", "seconds")
# Blend settings held by the converted widgets below, not by a widget of their own.
CONVERTED_FIELDS = (
    "branches",
    "injection_strengths",
    "injection_steps",
    "budget_steps",
    "budget_seconds",
)

# widget key -> (spec group, field), for the fields a widget holds as they are; from the
# field descriptions: "blend." plus the field's name, or the older key the tests know.
FIELDS: dict[str, tuple[str, str]] = {
    **form_keys("blend.", BlendPromptSettings, rename={"negative_prompt": "negative"}),
    **form_keys("blend.", DiffusionSettings, only=DIFFUSION_FIELDS),
    **form_keys("blend.", DiffusionSettings, only=ADVANCED_FIELDS),
    **form_keys(
        "blend.",
        BlendSettings,
        rename={
            "depth_strength": "depth",
            "diffusion_frames": "frames",
            "guidance_dampening": "dampening",
        },
        skip=CONVERTED_FIELDS,
    ),
    **form_keys("blend.upscale_", UpscaleSettings, rename={"noise_level": "noise"}),
    **form_keys("blend.", BlendOutputSettings),
    # The soundtrack panel (ui.audio_panel.BLEND); "blend.audio_path" is no widget: the
    # panel sets it to the uploaded file.
    **form_keys("blend.audio_", BlendAudioSettings, skip=("times",)),
}
_TRACK = "blend.audio_path"
# The widgets whose defaults come from the model (widget key -> diffusion field).
_MODEL_KEYS = {
    key: name
    for key, (group, name) in FIELDS.items()
    if group == "diffusion" and name in ("width", "height", "guidance", "guidance_stop", "steps")
}
# Widgets whose value is converted: prompts.keyframes, the manual tree, the budget.
CONVERTED = {
    "blend.prompts": "prompts",
    "blend.branches": "blend",
    "blend.injection_kind": "blend",
    "blend.injection": "blend",
    "blend.budget_kind": "blend",
    "blend.budget": "blend",
    "blend.audio_times": "audio",
}

EXAMPLE = (
    "# one prompt per line; [seed=N] first gives it a seed, '| negative: ...' a negative\n"
    "a large red circle on a black background\n"
    "a large blue square on a black background\n"
)


def _converted_values(spec: BlendSpec) -> dict[str, Any]:
    """The converted widgets' values for ``spec``."""
    b = spec.blend
    if b.injection_steps:
        kind, injection = "steps", ",".join(str(k) for k in b.injection_steps)
    else:
        kind, injection = "strengths", ",".join(f"{s:g}" for s in b.injection_strengths)
    if b.budget_steps:
        budget_kind, budget = "denoise steps", float(b.budget_steps)
    elif b.budget_seconds:
        budget_kind, budget = "seconds", float(b.budget_seconds)
    else:
        budget_kind, budget = "none", 0.0
    return {
        "blend.prompts": format_prompt_lines(spec.prompts.keyframes),
        "blend.branches": ",".join(str(n) for n in b.branches),
        "blend.injection_kind": kind,
        "blend.injection": injection,
        "blend.budget_kind": budget_kind,
        "blend.budget": budget,
        "blend.audio_times": ",".join(f"{t:g}" for t in spec.audio.times),
    }


def keep_defaults(model: str) -> None:
    """Give every page widget its kept value, or the default of a new spec for ``model``."""
    spec = BlendSpec()
    brought = model_defaults(model)
    follow_model("blend", _MODEL_KEYS, model)
    for key, (group, name) in FIELDS.items():
        default = getattr(getattr(spec, group), name)
        if group == "diffusion" and name in brought:
            default = brought[name]
        (seed if key == _TRACK else keep)(key, default)
    converted = _converted_values(spec)
    converted["blend.prompts"] = EXAMPLE
    converted["blend.branches"] = "1,2"
    converted["blend.injection"] = "0.4,0.7"
    for key, value in converted.items():
        keep(key, value)
    keep_lora_defaults("blend.", drawn=True)
    keep_advanced("blend.")


def spec_from_state(model: str, device: str) -> BlendSpec:
    """The spec the widgets describe. Raises ``SpecError`` (or ``PromptListError``) naming
    the bad value or the impossible setup, exactly as the engine would."""
    values: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
    for key, (group, name) in FIELDS.items():
        values[group][name] = get_value(key)
    values["prompts"]["keyframes"] = parse_prompt_lines(get_value("blend.prompts"))
    blend = values["blend"]
    if get_value("blend.setup") == "manual":
        blend["branches"] = _numbers(get_value("blend.branches"), int, "branches per level", "2,3")
        if get_value("blend.injection_kind") == "steps":
            blend["injection_steps"] = _numbers(
                get_value("blend.injection"), int, "injection steps", "8,14"
            )
        else:
            blend["injection_strengths"] = _numbers(
                get_value("blend.injection"), float, "injection strengths", "0.4,0.7"
            )
    budget = float(get_value("blend.budget"))
    if get_value("blend.budget_kind") == "denoise steps":
        if budget != int(budget):
            raise SpecError(f"a budget in denoise steps must be a whole number, got {budget:g}")
        blend["budget_steps"] = int(budget)
    elif get_value("blend.budget_kind") == "seconds":
        blend["budget_seconds"] = budget
    values["audio"]["times"] = _numbers(get_value("blend.audio_times"), float, "times", "0,4.5,9")
    values["diffusion"].update(model=model, device=device, **scale_values())  # the sidebar's
    values["diffusion"].update(advanced_values("blend.", values["diffusion"]["scheduler"]))
    values["diffusion"]["seed"] = int(values["diffusion"]["seed"])
    base = BlendSpec()
    diffusion = diffusion_from_values(values.pop("diffusion"))  # the model's marked as such
    spec = base.replace(
        diffusion=diffusion,
        **{group: getattr(base, group).replace(**fields) for group, fields in values.items()},
    )
    spec = spec.replace(loras=loras_from_state("blend.", curve=False))
    spec.check()
    return spec


def restore(spec: BlendSpec, groups: tuple[str, ...] = GROUPS) -> list[str]:
    """Load the chosen groups of ``spec`` into the page (and the sidebar's model and device).

    Call from a button callback or before the widgets are drawn. Returns the groups restored.
    Raises ``SpecError`` for a group a blend spec does not have.
    """
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise SpecError(f"unknown settings group {unknown[0]!r}; groups: {', '.join(GROUPS)}")
    for key, (group, name) in FIELDS.items():
        if group in groups:
            set_value(key, getattr(getattr(spec, group), name))
    for key, value in _converted_values(spec).items():
        if CONVERTED[key] in groups:
            set_value(key, value)
    if "loras" in groups:
        restore_loras("blend.", spec.loras)
    if "diffusion" in groups:
        restore_advanced("blend.", spec.diffusion)
        followed("blend", spec.diffusion.model)  # the restored values are that model's
        choose_model(spec.diffusion.model)
        set_value("sidebar.device", spec.diffusion.device)
        restore_scale(spec.diffusion.workers, spec.diffusion.ray_address)
    return list(groups)


def _numbers(text: str, kind: type, what: str, example: str) -> tuple:
    """``"2, 3"`` -> ``(2, 3)``; an empty text is an empty tuple."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        return tuple(kind(p) for p in parts)
    except ValueError:
        raise SpecError(
            f"{what} must be numbers separated by commas, e.g. {example}; got {text!r}"
        ) from None
