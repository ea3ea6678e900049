"""Spec schema versions: the current one, and how each older one is upgraded on load.

``UPGRADES[kind][n]`` turns the dict of a version-``n`` spec of that kind into the dict of
version ``n + 1``; ``upgrade`` applies them in order, so a spec stored by any earlier studio
loads as today's. An upgrade keeps what the old spec meant (a re-run gives the same frames).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.errors import SpecError

__all__ = ["SCHEMA_VERSION", "UPGRADES", "upgrade"]

SCHEMA_VERSION = 2  # 2: DiffusionSettings.guidance_stop


def _guided_every_step(data: dict[str, Any]) -> dict[str, Any]:
    """1 -> 2: before ``guidance_stop`` every step was guided; keep it so on a re-run."""
    diffusion = data.get("diffusion", {})
    if isinstance(diffusion, dict):
        data = {**data, "diffusion": {"guidance_stop": 0.0, **diffusion}}
    return data


# kind -> {from_version: function(dict) -> dict at from_version + 1}
UPGRADES: dict[str, dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "animation": {1: _guided_every_step},
    "blend": {1: _guided_every_step},
}


def upgrade(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a spec dict without its ``kind``) at ``SCHEMA_VERSION``, ``schema_version`` set.

    A missing ``schema_version`` means the current one. Raises ``SpecError`` for a version
    that is not a positive integer or is newer than this studio understands.
    """
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SpecError(f"schema_version must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise SpecError(
            f"spec schema_version {version} is newer than this studio understands "
            f"({SCHEMA_VERSION}); upgrade Latent Studio"
        )
    while version < SCHEMA_VERSION:
        data = UPGRADES[kind][version](data)
        version += 1
    return {**data, "schema_version": version}
