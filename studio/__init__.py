"""Latent Studio: keyframed Stable Diffusion animation.

The Python API. Heavy libraries (torch, diffusers) load on first use, not on import::

    from studio import AnimationSpec, render
    run_id, result = render(AnimationSpec(), session="sketches")   # recorded in the store

``render_animation(spec, out_dir, manager=...)`` and ``render_blend(spec, out_dir, manager=...)``
are the bare engines: they record nothing. ``render`` takes either kind of spec.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# transformers warns at import that torchvision is missing (we never need it) and the like;
# the studio reports its own problems. A user who wants the chatter sets the variable.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from studio.errors import StudioError
from studio.spec import AnimationSpec, BlendSpec, load_spec

if TYPE_CHECKING:
    from studio.animation.render import render_animation
    from studio.app.cli import render
    from studio.blend.render import render_blend
    from studio.pipeline.models import ModelManager

__all__ = [
    "AnimationSpec",
    "BlendSpec",
    "ModelManager",
    "StudioError",
    "load_spec",
    "render",
    "render_animation",
    "render_blend",
]

_LAZY = {
    "render_animation": "studio.animation.render",
    "render_blend": "studio.blend.render",
    "ModelManager": "studio.pipeline.models",
    "render": "studio.app.cli",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'studio' has no attribute {name!r}")
