"""Library versions recorded with every run, so a re-run can say why frames differ."""

from __future__ import annotations

import platform
from functools import cache
from importlib import metadata

__all__ = ["library_versions"]

_PACKAGES = ("torch", "diffusers", "transformers", "compel", "numpy", "imageio-ffmpeg")


@cache
def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
