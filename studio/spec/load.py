"""Loading a spec of any kind from its dict or JSON text, and comparing two specs."""

from __future__ import annotations

import json
from typing import Any

from studio.errors import SpecError
from studio.spec.animation import AnimationSpec
from studio.spec.blend import BlendSpec
from studio.spec.common import SpecBase, build_spec

__all__ = ["KINDS", "Spec", "diff_specs", "load_spec"]

Spec = AnimationSpec | BlendSpec

# spec kind -> its model; ``kind`` absent from a spec dict means "animation" (the first kind).
KINDS: dict[str, type[SpecBase]] = {"animation": AnimationSpec, "blend": BlendSpec}


def load_spec(data: dict[str, Any] | str) -> Spec:
    """Build a spec from its dict or JSON text, upgrading older schema versions.

    Raises ``SpecError`` naming the first unknown key, wrong type or bad version.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec is not valid JSON: {exc}") from None
        except RecursionError:
            raise SpecError(_TOO_DEEP) from None
    if not isinstance(data, dict):
        raise SpecError(f"spec must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind", "animation")
    if not isinstance(kind, str) or kind not in KINDS:
        raise SpecError(f"unknown spec kind {kind!r}; known kinds: {', '.join(KINDS)}")
    try:
        return build_spec(KINDS[kind], data)  # type: ignore[return-value]
    except RecursionError:
        raise SpecError(_TOO_DEEP) from None


_TOO_DEEP = "spec is nested too deeply to be a spec (lists or objects inside each other)"


def diff_specs(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Settings that differ between two spec dicts: ``(dotted.path, value_a, value_b)``.

    A key missing on one side shows as ``None`` there. Paths are sorted, so the same two
    specs always give the same list.
    """
    flat_a, flat_b = _flatten(a), _flatten(b)
    return [
        (path, flat_a.get(path), flat_b.get(path))
        for path in sorted(set(flat_a) | set(flat_b))
        if flat_a.get(path) != flat_b.get(path)
    ]


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat
