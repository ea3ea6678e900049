"""CLI options generated from the spec's field descriptions, and the group changes they give.

Each settings field that has a ``flag`` (``studio.spec.fields.describe``) becomes one
argparse option: its name is the flag, its ``dest`` what argparse derives from it, its type
the field's (``int``, ``float``, text; a ``file`` widget is a path, made absolute when
applied), its choices the field's, its help the field's with the bounds and what 0 means. A
true/false field is a switch: ``--name`` sets true, ``--no-name`` (for a field that is true
by default) sets false. Every generated option defaults to None, so "not given" changes
nothing: ``apply_flags`` applies only the options that were given (``group.replace``).

Fields a single option cannot carry (comma lists, prompts given by position) have no
generated option; their commands add those by hand, next to the generated ones.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from studio.spec.fields import FieldDescription, describe

__all__ = [
    "add_flag",
    "add_group_flags",
    "apply_flags",
    "described",
    "flag_dest",
    "flag_help",
    "given_values",
]

G = TypeVar("G", bound=BaseModel)

_TYPES: dict[str, type] = {"int": int, "float": float}


def described(model: type[BaseModel], name: str) -> FieldDescription:
    """The description of field ``name`` of settings group ``model``."""
    return next(f for f in describe(model) if f.name == name)


def flag_dest(field: FieldDescription) -> str:
    """The ``args`` attribute of a field's option: ``--audio-component`` -> ``audio_component``,
    ``--no-audio-mux`` -> ``audio_mux``."""
    if field.flag is None:
        raise ValueError(f"{field.name} has no CLI option")
    name = field.flag.removeprefix("--")
    if field.type == "bool" and name.startswith("no-"):
        name = name.removeprefix("no-")
    return name.replace("-", "_")


def flag_help(field: FieldDescription, open_choice: bool = False) -> str:
    """The field's help, with its bounds, what 0 means, and (``open_choice``) its choices."""
    parts = [field.help.rstrip(".") + "."]
    bounds = _bounds_text(field)
    if bounds:
        parts.append(bounds + ".")
    if field.zero_means and not re.search(r"\b0( =|:)", field.help):
        parts.append(f"0: {field.zero_means}.")
    if open_choice and field.choices:
        parts.append("One of " + ", ".join(map(str, field.choices)) + ".")
    return " ".join(parts).replace("%", "%%")  # argparse formats help with %


def add_flag(
    parser: argparse.ArgumentParser | argparse._ActionsContainer,
    field: FieldDescription,
    *,
    open_choice: bool = False,
) -> None:
    """Add the option of ``field`` to ``parser`` (or to a group of it).

    ``open_choice``: leave the choices to the spec's ``check()`` (its message names the
    choices this render kind allows), instead of argparse's.
    """
    if field.flag is None:
        raise ValueError(f"{field.name} has no CLI option")
    options: dict[str, Any] = {"default": None, "help": flag_help(field, open_choice)}
    if field.type == "bool":
        negated = field.flag.startswith("--no-")
        options.update(action="store_false" if negated else "store_true", dest=flag_dest(field))
    elif field.widget == "file":
        options["type"] = Path
    elif field.type in _TYPES:
        options["type"] = _TYPES[field.type]
    elif field.type != "str":
        raise ValueError(f"{field.flag}: a {field.type} setting needs a hand-written option")
    if field.choices is not None and not open_choice and field.type != "bool":
        options["choices"] = list(field.choices)
    parser.add_argument(field.flag, **options)


def add_group_flags(
    parser: argparse.ArgumentParser,
    model: type[BaseModel],
    *,
    skip: tuple[str, ...] = (),
    open_choices: tuple[str, ...] = (),
) -> None:
    """An option for every field of ``model`` that has a flag, except the ``skip`` fields
    (those a command adds by hand); ``open_choices`` as in ``add_flag``."""
    for field in _flag_fields(model, skip):
        add_flag(parser, field, open_choice=field.name in open_choices)


def given_values(
    args: argparse.Namespace, model: type[BaseModel], skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Field name -> value of each generated option of ``model`` that was given.

    A path (``file`` widget) is made absolute, so that a stored spec still finds the file
    when it is re-run from another folder.
    """
    values = {}
    for field in _flag_fields(model, skip):
        value = getattr(args, flag_dest(field), None)
        if value is None:
            continue
        if field.widget == "file":
            value = str(Path(value).expanduser().resolve())
        values[field.name] = value
    return values


def apply_flags(group: G, args: argparse.Namespace, skip: tuple[str, ...] = ()) -> G:
    """``group`` with the generated options that were given applied (``group.replace``)."""
    values = given_values(args, type(group), skip)
    return group.replace(**values) if values else group  # type: ignore[attr-defined]


def _flag_fields(model: type[BaseModel], skip: tuple[str, ...]) -> list[FieldDescription]:
    return [f for f in describe(model) if f.flag is not None and f.name not in skip]


def _bounds_text(field: FieldDescription) -> str:
    """``1 to 1000``, ``0 or more``, ``in (0, 1]``, ``a multiple of 8 up to 4096``, or ''."""
    b = field.bounds
    unit = f" {field.unit}" if field.unit else ""
    if "multiple_of" in b:
        top = f" up to {_shown(b['le'])}" if "le" in b else ""
        return f"A multiple of {_shown(b['multiple_of'])}{top}{unit}"
    lo, hi = b.get("ge", b.get("gt")), b.get("le", b.get("lt"))
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f"{_shown(lo)} or more{unit}" if "ge" in b else f"More than {_shown(lo)}{unit}"
    if lo is None:
        return f"At most {_shown(hi)}{unit}" if "le" in b else f"Less than {_shown(hi)}{unit}"
    if "ge" in b and "le" in b:
        return f"{_shown(lo)} to {_shown(hi)}{unit}"
    left = "[" if "ge" in b else "("
    right = "]" if "le" in b else ")"
    return f"In {left}{_shown(lo)}, {_shown(hi)}{right}{unit}"


def _shown(bound: float) -> str:
    return "2**63 - 1" if bound == 2**63 - 1 else f"{bound:g}"
