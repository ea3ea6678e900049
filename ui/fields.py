"""Streamlit widgets generated from the spec's field descriptions.

A setting is described once (``studio.spec.fields.describe``); this module turns a
``FieldDescription`` into its widget: ``number`` -> ``st.number_input`` (or a slider),
``select`` -> ``st.selectbox`` (or radio buttons), ``checkbox`` -> ``st.checkbox``,
``textarea`` -> ``st.text_area``, and ``text``, ``curve``, ``file`` and ``list`` (comma
separated, converted by the form) -> ``st.text_input``; with the label, bounds, step, number
format, choices and help of the description. A page may override any of them (a label of its
own, a narrower range): overrides are explicit at the call.

Widgets are drawn with ``key=`` only, never ``value=``: their values live in ``ui.state``
(each form's ``keep_defaults`` keeps them before they are drawn), so a value the user typed
survives page switches. Keys are a page prefix plus a field's name (``ps.steps``,
``blend.steps``), renamed where older keys differ (``ps.negative``): ``form_keys`` builds a
form's table of widget key -> (group, field) from the descriptions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import streamlit as st
from pydantic import BaseModel

from studio.spec.common import DiffusionSettings
from studio.spec.fields import FieldDescription, describe

__all__ = [
    "ADVANCED_FIELDS",
    "DIFFUSION_FIELDS",
    "draw_diffusion",
    "draw_field",
    "field_drawer",
    "form_keys",
    "widget_options",
]

# The diffusion settings a page's form holds (model and device are the sidebar's).
DIFFUSION_FIELDS = ("scheduler", "steps", "guidance", "guidance_stop", "width", "height", "seed")
# Those of the Advanced settings expander (ui.advanced); scheduler options are converted there.
ADVANCED_FIELDS = (
    "memory",
    "attention_slicing",
    "vae_slicing",
    "vae_tiling",
    "cpu_offload",
    "variant",
    "revision",
    "custom_pipeline",
    "dtype",
    "compile",
    "fast",
    "preview",
    "preview_seconds",
)
# The browser holds numbers as doubles: larger integers would lose digits.
_BROWSER_MAX_INT = 2**53 - 1
# Fields a form draws its own way: mappings have none, the blend keyframes are the prompt
# list, LoRA adapters the picker of ui.loras, ControlNets the panel of ui.control_panel.
_NO_WIDGET = ("mapping", "keyframes", "loras", "controlnets")


def form_keys(
    prefix: str,
    model: type[BaseModel],
    *,
    rename: dict[str, str] | None = None,
    only: tuple[str, ...] | None = None,
    skip: tuple[str, ...] = (),
) -> dict[str, tuple[str, str]]:
    """Widget key -> (group, field) for the fields of settings group ``model``.

    The key is ``prefix`` plus the field's name, or its ``rename``; ``only`` and ``skip``
    choose fields; fields with no widget (mappings, keyframe lists) are left out.
    """
    rename = rename or {}
    table = {}
    for field in describe(model):
        if field.widget in _NO_WIDGET or field.name in skip:
            continue
        if only is not None and field.name not in only:
            continue
        table[prefix + rename.get(field.name, field.name)] = (str(field.group), field.name)
    return table


def widget_options(field: FieldDescription, step: float | None = None) -> dict[str, Any]:
    """``min_value``, ``max_value``, ``step`` and ``format`` of a number field's widget.

    Exclusive bounds become the nearest value the widget can show: ``lt 1`` with format
    ``%.2f`` is 0.99, with step 0.05 (and no format) 0.95; an integer's is one in.
    ``step``: the page's own step instead of the description's.
    """
    b, is_int = field.bounds, field.type == "int"
    step = step or field.step
    options: dict[str, Any] = {}
    if is_int:
        step = int(step or 1)
        resolution: int | float = 1
    else:
        step = float(step) if step else 0.01
        resolution = _resolution(field.format) or step
    if "multiple_of" in b:
        options["min_value"] = b["multiple_of"]
    elif "ge" in b:
        options["min_value"] = b["ge"]
    elif "gt" in b:
        options["min_value"] = b["gt"] + resolution
    if "le" in b:
        options["max_value"] = b["le"]
    elif "lt" in b:
        options["max_value"] = b["lt"] - resolution
    if is_int and options.get("max_value", 0) > _BROWSER_MAX_INT:
        options["max_value"] = _BROWSER_MAX_INT
    cast: Callable[[Any], Any] = int if is_int else lambda v: round(float(v), 10)
    options = {k: cast(v) for k, v in options.items()}
    options["step"] = step
    if field.format:
        options["format"] = field.format
    return options


def draw_field(
    where: Any,
    field: FieldDescription,
    key: str,
    *,
    label: str | None = None,
    widget: str | None = None,
    options: tuple[Any, ...] | list[Any] | None = None,
    **overrides: Any,
) -> Any:
    """Draw the widget of ``field`` with ``key`` in ``where`` (``st``, a column, a form...).

    ``widget``: ``slider`` or ``radio`` instead of the description's number or select
    widget. ``options``: the choices to offer (e.g. the schedulers a blend can use) instead
    of the description's. ``overrides``: any other keyword of the Streamlit widget
    (``min_value``, ``help``, ``disabled``...). Returns the widget's value.
    """
    kind = widget or field.widget
    kwargs: dict[str, Any] = {
        "key": key,
        "help": field.help,
        **_extra(field, kind, options, overrides.get("step")),
    }
    kwargs.update(overrides)
    shown = label or field.label[:1].upper() + field.label[1:]
    draw = {
        "number": where.number_input,
        "slider": where.slider,
        "select": where.selectbox,
        "radio": where.radio,
        "checkbox": where.checkbox,
        "textarea": where.text_area,
        "text": where.text_input,
        "curve": where.text_input,
        "file": where.text_input,
        "list": where.text_input,
    }.get(kind)
    if draw is None:
        raise ValueError(f"{field.name}: no widget for a {kind!r} setting")
    return draw(shown, **kwargs)


def field_drawer(
    spec_class: type[BaseModel], table: dict[str, tuple[str, str]]
) -> Callable[..., Any]:
    """``draw(where, key, **overrides)`` for the widgets of one form: ``key`` is looked up in
    ``table`` (widget key -> (group, field)) and the group's model in ``spec_class``."""

    def draw(where: Any, key: str, **overrides: Any) -> Any:
        group, name = table[key]
        model = spec_class.model_fields[group].annotation
        field = next(f for f in describe(model) if f.name == name)  # type: ignore[arg-type]
        return draw_field(where, field, key, **overrides)

    return draw


def draw_diffusion(prefix: str, schedulers: tuple[str, ...], *, min_steps: int = 1) -> Any:
    """The diffusion block every render page shares, in four columns; returns the fourth,
    empty, for the page's own settings.

    Steps, guidance and guidance stop; width and height; seed and scheduler, keyed
    ``prefix`` + field name (``ps.steps``). ``schedulers``: those the render kind can use;
    ``min_steps``: the fewest steps it can render.
    """
    described = {f.name: f for f in describe(DiffusionSettings)}
    c1, c2, c3, c4 = st.columns(4)
    layout = (
        (c1, ("steps", "guidance", "guidance_stop")),
        (c2, ("width", "height")),
        (c3, ("seed", "scheduler")),
    )
    for column, names in layout:
        for name in names:
            extra: dict[str, Any] = {}
            if name == "steps":
                extra["min_value"] = min_steps
            elif name == "scheduler":
                extra["options"] = schedulers
            draw_field(column, described[name], prefix + name, **extra)
    return c4


def _extra(field: FieldDescription, kind: str, options: Any, step: Any) -> dict[str, Any]:
    if kind in ("number", "slider"):
        return widget_options(field, step)
    if kind in ("select", "radio"):
        extra: dict[str, Any] = {"options": tuple(options or field.choices or ())}
        if kind == "radio":
            extra["horizontal"] = True
        return extra
    return {}


def _resolution(number_format: str | None) -> float | None:
    """The smallest step ``number_format`` shows: ``%.2f`` -> 0.01."""
    found = re.fullmatch(r"%0?\.(\d+)f", number_format or "")
    return 10.0 ** -int(found.group(1)) if found else None
