"""The Prompt Schedule page's widgets <-> an ``AnimationSpec``, both ways.

One table says which widget holds which spec field, so building a spec from the page and
restoring a recorded spec into the page ("restore settings" in History) cannot drift apart;
it is derived from the field descriptions (``ui.fields.form_keys``), and the page draws its
widgets from the same descriptions. Defaults for the model come from ``model_defaults``.
The model and device live in the shared sidebar.
"""

from __future__ import annotations

from typing import Any

from studio.errors import SpecError
from studio.pipeline.builtin import model_defaults
from studio.spec import AnimationSpec
from studio.spec.animation import (
    AnimationSettings,
    AudioSettings,
    InputSettings,
    MotionSettings,
    OutputSettings,
    PromptSettings,
)
from studio.spec.common import DiffusionSettings
from studio.spec.edit import EditSettings
from studio.spec.upscale import UpscaleSettings
from ui.advanced import advanced_values, keep_advanced, restore_advanced
from ui.control_panel import controlnets, set_controlnets
from ui.fields import ADVANCED_FIELDS, DIFFUSION_FIELDS, form_keys
from ui.loras import keep_lora_defaults, loras_from_state, restore_loras
from ui.model_defaults import diffusion_from_values, follow_model, followed
from ui.scale_panel import restore_scale, scale_values
from ui.sidebar import choose_model
from ui.state import get_value, keep, seed, set_value

__all__ = ["FIELDS", "GROUPS", "keep_defaults", "restore", "spec_from_state"]

# widget key -> (spec group, field), from the field descriptions: a page prefix plus the
# field's name, or the older key the browser tests and users' sessions know.
FIELDS: dict[str, tuple[str, str]] = {
    **form_keys("ps.", PromptSettings, rename={"negative_prompt": "negative"}),
    **form_keys("ps.", DiffusionSettings, only=DIFFUSION_FIELDS),
    **form_keys("ps.", DiffusionSettings, only=ADVANCED_FIELDS),
    **form_keys(
        "ps.",
        AnimationSettings,
        rename={"sine_frequencies": "frequencies", "easing_curve": "curve", "batch_size": "batch"},
    ),
    **form_keys("ps.", OutputSettings),
    # The Audio & Video page; "av.audio" is no widget: the page sets it to the uploaded file.
    **form_keys("av.", AudioSettings, rename={"path": "audio"}),
    # Video or image input (Audio & Video page; the paths are set by ui.media_input).
    **form_keys("av.", InputSettings),
    # Motion, strength, coherence and colour (Prompt Schedule's expander).
    **form_keys("ps.", MotionSettings),
    # Inpainting / InstructPix2Pix models (ui.edit_panel; "ps.mask" is set by its upload).
    **form_keys("ps.", EditSettings),
    # The upscale stage (Prompt Schedule's "Upscaling" expander), keyed as on the Blend page.
    **form_keys("ps.upscale_", UpscaleSettings, rename={"noise_level": "noise"}),
}
# The widgets whose defaults come from the model (widget key -> diffusion field).
_MODEL_KEYS = {
    key: name
    for key, (group, name) in FIELDS.items()
    if group == "diffusion" and name in ("width", "height", "guidance", "guidance_stop", "steps")
}
GROUPS = (
    "prompts",
    "diffusion",
    "animation",
    "output",
    "audio",
    "input",
    "motion",
    "edit",
    "loras",
    "control",
    "upscale",
)

EXAMPLE = (
    "# one keyframe per line: FRAME: prompt\n"
    "0: a large red circle on a black background\n"
    "12: a large blue square on a black background\n"
    "24: a small yellow star on a black background at the top left\n"
)


def _to_widget(key: str, value: Any) -> Any:
    if key == "ps.frequencies":
        return ",".join(f"{f:g}" for f in value)
    return value


def keep_defaults(model: str, drawn: str) -> None:
    """Give every field its kept value, or the default of a new spec for ``model``.

    ``drawn`` is the key prefix of the widgets the calling page draws (``"ps."`` on Prompt
    Schedule, ``"av."`` on Audio & Video): those are handed to their widgets, the others only
    given a default, so a page never re-creates the widget keys of another page.
    """
    spec = AnimationSpec()
    brought = model_defaults(model)
    follow_model("ps", _MODEL_KEYS, model)
    for key, (group, name) in FIELDS.items():
        default = getattr(getattr(spec, group), name)
        if group == "diffusion" and name in brought:
            default = brought[name]
        elif name == "schedule":
            default = EXAMPLE
        elif name == "easing_curve":
            default = "0: (s**2)"
        (keep if key.startswith(drawn) else seed)(key, _to_widget(key, default))
    keep_lora_defaults("ps.", drawn == "ps.")
    keep_advanced("ps.", drawn=drawn == "ps.")


def spec_from_state(model: str, device: str) -> AnimationSpec:
    """The spec the widgets describe. Raises ``SpecError`` (or the schedule's own errors)."""
    values: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
    for key, (group, name) in FIELDS.items():
        values[group][name] = get_value(key)
    text = values["animation"]["sine_frequencies"]
    try:
        values["animation"]["sine_frequencies"] = tuple(float(f) for f in text.split(","))
    except ValueError:
        raise SpecError(
            f"sine frequencies must be numbers separated by commas, e.g. 1,3; got {text!r}"
        ) from None
    values["diffusion"].update(model=model, device=device, **scale_values())  # the sidebar's
    values["control"]["nets"] = controlnets()  # the ControlNet panel's list (ui.control_panel)
    values["diffusion"].update(advanced_values("ps.", values["diffusion"]["scheduler"]))
    base = AnimationSpec()
    diffusion = diffusion_from_values(values.pop("diffusion"))  # the model's marked as such
    spec = base.replace(
        diffusion=diffusion,
        **{group: getattr(base, group).replace(**fields) for group, fields in values.items()},
    )
    spec = spec.replace(loras=loras_from_state("ps.", curve=True))
    spec.check()
    return spec


def restore(spec: AnimationSpec, groups: tuple[str, ...] = GROUPS) -> list[str]:
    """Load the chosen groups of ``spec`` into the page (and the sidebar's model and device).

    Call from a button callback or before the widgets are drawn. Returns the groups restored.
    """
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise SpecError(f"unknown settings group {unknown[0]!r}; groups: {', '.join(GROUPS)}")
    for key, (group, name) in FIELDS.items():
        if group in groups:
            set_value(key, _to_widget(key, getattr(getattr(spec, group), name)))
    if "loras" in groups:
        restore_loras("ps.", spec.loras)
    if "control" in groups:
        set_controlnets(spec.control.nets)
    if "diffusion" in groups:
        restore_advanced("ps.", spec.diffusion)
        followed("ps", spec.diffusion.model)  # the restored values are that model's
        choose_model(spec.diffusion.model)
        set_value("sidebar.device", spec.diffusion.device)
        restore_scale(spec.diffusion.workers, spec.diffusion.ray_address)
    return list(groups)
