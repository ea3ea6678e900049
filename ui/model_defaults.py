"""The model's own settings in a page's form: they follow the sidebar's model, but never
over what the user typed.

``model_defaults`` says what a model brings (size, guidance, guidance stop, steps). When the
sidebar's model changes, ``follow_model`` gives each of those widgets the new model's value
if it still holds the old model's (the user left it alone), and leaves it if it holds
anything else (the user typed it). The model a form last followed is kept per form, and a
restored spec (History's *restore settings*) says which model its values belong to
(``followed``), so restoring is never undone by the next run.

``diffusion_from_values`` builds the spec's diffusion group from the form so that the
values equal to the model's are marked as the model's (``studio.pipeline.defaults``): the
run records them under ``model_defaults``, as it does for the CLI and the API.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.pipeline.builtin import model_defaults
from studio.pipeline.defaults import fill_model_defaults
from studio.spec.common import DiffusionSettings
from ui.state import get_value, set_value

__all__ = ["diffusion_from_values", "follow_model", "followed"]

_FOLLOWED = "_model_defaults_followed"


def followed(form: str, model: str) -> None:
    """Say that the values of ``form`` now belong to ``model`` (after a restore)."""
    st.session_state.setdefault(_FOLLOWED, {})[form] = model


def follow_model(form: str, keys: dict[str, str], model: str) -> None:
    """Move the widgets of ``form`` (widget key -> diffusion field, in ``keys``) to
    ``model``'s defaults where they hold the previously followed model's. Call before the
    widgets are drawn; the first call for a form only notes the model."""
    seen: dict[str, str] = st.session_state.setdefault(_FOLLOWED, {})
    before = seen.get(form)
    seen[form] = model
    if before is None or before == model:
        return
    old, new = model_defaults(before), model_defaults(model)
    for key, name in keys.items():
        if name not in new:
            continue
        value = get_value(key)
        if value is None or _same(value, old[name]):
            set_value(key, new[name])


def diffusion_from_values(values: dict[str, Any]) -> DiffusionSettings:
    """The diffusion group of ``values`` (field -> value, ``model`` included), with the
    values equal to the model's own marked as the model's."""
    brought = model_defaults(values["model"])
    typed = {k: v for k, v in values.items() if not (k in brought and _same(v, brought[k]))}
    d = DiffusionSettings().replace(**values)  # checked as the user gave them
    unset = DiffusionSettings.model_validate({k: getattr(d, k) for k in typed})
    return fill_model_defaults(unset)[0]


def _same(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return a == b
