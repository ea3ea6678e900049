"""Field descriptions: each setting of a spec described once, for checks, CLI flags and forms.

A settings field is declared with ``setting(default, help, ...)``: its type comes from the
annotation, its choices from a ``Literal`` (or ``choices=`` for text checked later), and its
help, bounds and UI/CLI hints from the arguments. Everything lands in the field's JSON Schema
(``description``, ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``/
``multipleOf``, ``enum``, and an ``x-studio`` object with label, widget, flag, step, format),
so the exported schema and ``describe()`` read the same single description.

Bounds are checked by ``check_ranges`` from a spec's ``check()``, not when a spec is built:
a stored spec with an out-of-range value still loads, and its check names the value, as
before. Types, unknown keys and ``Literal`` choices are enforced when a spec is built;
``spec_error`` turns pydantic's ``ValidationError`` into a ``SpecError`` that names the
setting's path (``animation.diffusion.steps must be an integer, got '20'``).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from studio.errors import SpecError

__all__ = [
    "FieldDescription",
    "check_ranges",
    "describe",
    "setting",
    "spec_error",
]

_BOUNDS = {
    "ge": "minimum",
    "gt": "exclusiveMinimum",
    "le": "maximum",
    "lt": "exclusiveMaximum",
    "multiple_of": "multipleOf",
}


@dataclass(frozen=True)
class FieldDescription:
    """One setting of a group, as CLI flags and dashboard forms need it.

    ``type``: ``int``, ``float``, ``bool``, ``str``, ``list[int]``, ``list[float]``,
    ``object`` (a JSON object) or ``list[<Model>]``. ``bounds``: any of ``ge``, ``gt``,
    ``le``, ``lt``, ``multiple_of``. ``choices``: the allowed values, or None for any.
    ``group``: the settings group the field belongs to (None for items such as a blend
    keyframe). ``widget``: ``text``, ``textarea``, ``curve``, ``file``, ``number``,
    ``select``, ``checkbox``, ``list`` or ``mapping``. ``flag``: the CLI option that sets
    it, or None where there is none. ``zero_means``/``unit``: how 0 and the value read.
    """

    name: str
    type: str
    default: Any
    bounds: dict[str, int | float]
    choices: tuple[Any, ...] | None
    help: str
    group: str | None
    label: str
    widget: str
    flag: str | None
    step: int | float | None
    format: str | None
    zero_means: str | None
    unit: str | None


def setting(
    default: Any,
    help: str,
    *,
    label: str | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    multiple_of: int | None = None,
    choices: tuple[str, ...] | None = None,
    widget: str | None = None,
    flag: str | None | bool = True,
    step: float | None = None,
    format: str | None = None,
    zero_means: str | None = None,
    unit: str | None = None,
) -> Any:
    """A pydantic ``Field`` carrying the one description of a setting.

    ``flag``: True (the default) for the CLI option ``--`` plus the name with dashes, an
    option's name where it differs, or None for a setting the CLI has no option for.
    ``choices``: allowed values of a text setting whose choice ``check()`` enforces (a
    ``Literal`` annotation, enforced on load, is the usual way to give choices). Bounds
    (``ge``...) are enforced by ``check_ranges``.
    """
    bounds = {"ge": ge, "gt": gt, "le": le, "lt": lt, "multiple_of": multiple_of}
    extra: dict[str, Any] = {_BOUNDS[k]: v for k, v in bounds.items() if v is not None}
    if choices is not None:
        extra["enum"] = list(choices)
    hints = {
        "label": label,
        "widget": widget,
        "step": step,
        "format": format,
        "zero_means": zero_means,
        "unit": unit,
    }
    studio = {k: v for k, v in hints.items() if v is not None}
    if flag is not True:
        studio["flag"] = flag
    if studio:
        extra["x-studio"] = studio
    if isinstance(default, dict):
        return Field(
            default_factory=lambda: dict(default), description=help, json_schema_extra=extra
        )
    return Field(default, description=help, json_schema_extra=extra)


def describe(model: type[BaseModel]) -> list[FieldDescription]:
    """Every field of ``model`` (a settings group or item), in declaration order."""
    group = getattr(model, "group", None)
    described = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        extra = extra if isinstance(extra, dict) else {}
        hints: dict[str, Any] = dict(extra.get("x-studio", {}))  # type: ignore[arg-type]
        hint = _unwrap(info.annotation)
        choices = _choices(hint, extra)
        type_name = _type_name(hint)
        flag = hints.get("flag", "--" + name.replace("_", "-"))
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        described.append(
            FieldDescription(
                name=name,
                type=type_name,
                default=list(default) if isinstance(default, tuple) else default,
                bounds={k: extra[v] for k, v in _BOUNDS.items() if v in extra},  # type: ignore[misc]
                choices=choices,
                help=info.description or "",
                group=group,
                label=hints.get("label", name.replace("_", " ")),
                widget=hints.get("widget") or _default_widget(type_name, choices),
                flag=flag,
                step=hints.get("step"),
                format=hints.get("format"),
                zero_means=hints.get("zero_means"),
                unit=hints.get("unit"),
            )
        )
    return described


def check_ranges(values: BaseModel, prefix: str = "") -> None:
    """Raise ``SpecError`` for the first field of ``values`` outside its described bounds.

    The message names the setting by ``prefix`` plus its label, the allowed range and the
    value: ``steps must be between 1 and 1000, got 0``. None (not set) is always allowed.
    """
    for field in describe(type(values)):
        value = getattr(values, field.name)
        if field.bounds and value is not None:
            problem = _out_of_bounds(value, field)
            if problem:
                raise SpecError(f"{prefix}{field.label} must be {problem}, got {value}")


def _out_of_bounds(value: float, field: FieldDescription) -> str | None:
    b = field.bounds
    if "multiple_of" in b:
        m = b["multiple_of"]
        if value <= 0 or value % m:
            return f"a positive multiple of {_shown(m)}"
        if "le" in b and value > b["le"]:
            return f"at most {_shown(b['le'])}"
        return None
    lo, hi = b.get("ge", b.get("gt")), b.get("le", b.get("lt"))
    low_ok = lo is None or (value >= lo if "ge" in b else value > lo)
    high_ok = hi is None or (value <= hi if "le" in b else value < hi)
    if low_ok and high_ok:
        return None
    zero = f" ({field.zero_means})" if field.zero_means and lo == 0 else ""
    unit = f" {field.unit}" if field.unit else ""
    if hi is None:
        return f"{_shown(lo)}{zero} or more{unit}" if "ge" in b else f"more than {_shown(lo)}"
    if lo is None:
        return f"at most {_shown(hi)}{unit}" if "le" in b else f"less than {_shown(hi)}{unit}"
    if "ge" in b and "le" in b:
        return f"between {_shown(lo)}{zero} and {_shown(hi)}{unit}"
    if "gt" in b and "lt" in b:
        return f"between {_shown(lo)} and {_shown(hi)} (exclusive)"
    if "ge" in b:
        return f"in [{_shown(lo)}, {_shown(hi)})"
    return f"in ({_shown(lo)}, {_shown(hi)}]"


def _shown(bound: float) -> str:
    return "2**63 - 1" if bound == 2**63 - 1 else str(bound)


# pydantic error type -> what the value must be
_MUST_BE = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def spec_error(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> SpecError:
    """The first problem of ``exc`` as a ``SpecError`` naming the setting's dotted path.

    ``prefix``: what the path starts with (the spec kind, e.g. ``"animation"``), or "".
    """
    errors = exc.errors()
    # An unknown key is reported first, as the hand-written loader did.
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = error["loc"]
    if error["type"] == "dict_type" and loc and isinstance(error.get("input"), dict):
        loc = loc[:-1]  # a non-text key of a mapping: the mapping is what is wrong
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part) != "[key]":
            path = f"{path}.{part}" if path else str(part)
    path = path or model.__name__
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        return SpecError(f"unknown setting {path}")
    if error["type"] == "literal_error":
        choices = typing.get_args(_annotation_at(model, loc)) or (error.get("ctx") or {}).get(
            "expected", ()
        )
        shown = ", ".join(map(str, choices)) if isinstance(choices, tuple) else choices
        return SpecError(f"{path} must be one of {shown}, got {value!r}")
    if error["type"] in _MUST_BE:
        return SpecError(f"{path} must be {_MUST_BE[error['type']]}, got {value!r}")
    return SpecError(f"{path}: {error['msg']}, got {value!r}")


def _annotation_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The (unwrapped) annotation of the value at ``loc`` inside ``model``, or None."""
    hint: Any = model
    for part in loc:
        hint = _unwrap(hint)
        if isinstance(part, int) and typing.get_origin(hint) is tuple:
            hint = typing.get_args(hint)[0]
        elif isinstance(hint, type) and issubclass(hint, BaseModel) and part in hint.model_fields:
            hint = hint.model_fields[part].annotation
        else:
            return None
    return _unwrap(hint)


def _unwrap(hint: Any) -> Any:
    """``X`` for ``Annotated[X, ...]`` and ``X | None``."""
    while True:
        if typing.get_origin(hint) is Annotated:
            hint = typing.get_args(hint)[0]
            continue
        args = typing.get_args(hint)
        if type(None) in args and len(args) == 2:
            hint = next(a for a in args if a is not type(None))
            continue
        return hint


def _choices(hint: Any, extra: dict[str, Any]) -> tuple[Any, ...] | None:
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    return tuple(extra["enum"]) if "enum" in extra else None


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return type(typing.get_args(hint)[0]).__name__
    if origin is tuple:
        return f"list[{_type_name(_unwrap(typing.get_args(hint)[0]))}]"
    if origin is dict:
        return "object"
    return getattr(hint, "__name__", str(hint))


def _default_widget(type_name: str, choices: tuple[Any, ...] | None) -> str:
    if choices is not None:
        return "select"
    if type_name.startswith("list["):
        return "list"
    return {"bool": "checkbox", "int": "number", "float": "number", "object": "mapping"}.get(
        type_name, "text"
    )
