"""A model's own settings, given to the diffusion fields a spec leaves unset.

``studio.pipeline.builtin.model_defaults`` says what a model brings (native size, guidance,
guidance stop, steps). A spec built in Python (``AnimationSpec(diffusion={"model": FOLDER})``)
names only what its author chose: pydantic's ``model_fields_set`` tells those fields from
the ones left at the class default (builtin:shapes' 128 px, guidance 3), which would be
wrong for almost any other model. ``fill_model_defaults`` gives those the model's values.

The filled group keeps the model's values *out* of ``model_fields_set``, so filling twice
gives the same group and the same record: the CLI fills when it reads its flags (so what it
checks is what renders) and the app layer fills again before it records a run, and both
know which values came from the model. A value set explicitly (a flag, a field of a spec
file, a dashboard widget the user changed) is never replaced, unless ``replace`` names it
(the CLI's ``--model`` on top of a ``--spec`` file: the old model's size is not the new
one's).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from studio.pipeline.builtin import model_defaults
from studio.spec.common import DiffusionSettings

__all__ = ["fill_model_defaults", "with_explicit"]


def fill_model_defaults(
    d: DiffusionSettings, *, replace: Iterable[str] = ()
) -> tuple[DiffusionSettings, dict[str, int | float]]:
    """``d`` with the model's defaults in the fields it leaves unset, and those values.

    ``replace``: fields to take from the model even though they are set. Returns
    ``(settings, from_model)``: ``from_model`` maps each field filled to its value (empty
    when the spec set them all). The filled fields stay unset in ``settings``.
    """
    forced = set(replace)
    brought = model_defaults(d.model)
    explicit = set(d.model_fields_set) - forced
    from_model = {k: v for k, v in brought.items() if k not in explicit}
    if not from_model:
        return d, {}
    return _marked(d.replace(**from_model), explicit), from_model


def with_explicit(d: DiffusionSettings, changes: dict[str, Any]) -> DiffusionSettings:
    """``d.replace(**changes)`` that marks only ``changes`` as newly set: fields ``d`` left
    unset stay unset, so ``fill_model_defaults`` can still tell them apart."""
    if not changes:
        return d
    return _marked(d.replace(**changes), set(d.model_fields_set) | set(changes))


def _marked(d: DiffusionSettings, explicit: set[str]) -> DiffusionSettings:
    """A copy of ``d`` (already checked) whose set fields are ``explicit``."""
    copy = d.model_copy()
    # The one place pydantic keeps what was set; a frozen model still lets object set it.
    object.__setattr__(copy, "__pydantic_fields_set__", set(explicit))
    return copy
