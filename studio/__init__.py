"""Latent Studio: keyframed Stable Diffusion animation.

The Python API. Heavy libraries (torch, diffusers) load on first use, not on import::

    from studio import AnimationSpec, render, resume
    run_id, result = render(AnimationSpec(), session="sketches")   # recorded in the store
    run_id, result = resume(run_id)   # finish a run whose process was killed
    run_id, result = render(AnimationSpec(), workers=4)   # on 4 Ray workers, the same frames
    ideas = suggest_prompts("builtin:shapes", keyframes=4, seed=1)   # offline prompt ideas

``render_animation(spec, out_dir, manager=...)`` and ``render_blend(spec, out_dir, manager=...)``
are the bare engines: they record nothing. ``render`` takes either kind of spec. Importing
``studio`` imports neither the store (``db``) nor torch or diffusers; ``render`` and
``resume`` (``studio.app.runs``) bring in the store on first use, the engines when they run.
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
    from studio.app.runs import render, resume
    from studio.blend.render import render_blend
    from studio.pipeline.models import ModelManager
    from studio.pipeline.prompt_ideas import suggest_schedule as suggest_prompts

__all__ = [
    "AnimationSpec",
    "BlendSpec",
    "ModelManager",
    "StudioError",
    "load_spec",
    "render",
    "render_animation",
    "render_blend",
    "resume",
    "suggest_prompts",
]


def __getattr__(name: str) -> Any:
    # The heavy parts load on first use (PEP 562), each named here once.
    if name in ("render", "resume"):
        from studio.app import runs

        return getattr(runs, name)
    if name == "render_animation":
        from studio.animation.render import render_animation

        return render_animation
    if name == "render_blend":
        from studio.blend.render import render_blend

        return render_blend
    if name == "ModelManager":
        from studio.pipeline.models import ModelManager

        return ModelManager
    if name == "suggest_prompts":
        from studio.pipeline.prompt_ideas import suggest_schedule

        return suggest_schedule
    raise AttributeError(f"module 'studio' has no attribute {name!r}")
