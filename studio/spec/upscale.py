"""The upscale group: an optional second stage that renders every frame again through an
upscaler, shared by both render kinds (``AnimationSpec.upscale``, ``BlendSpec.upscale``).

The settings mean the same in both: the upscaler pipeline (``StableDiffusionUpscalePipeline``)
runs ``steps`` denoise steps at ``guidance`` on each frame, conditioned on the frame (noised
to ``noise_level``) and on the frame's own text. A blend follows its transitions' tree at the
upscaler's steps; an animation upscales each frame on its own (``studio.pipeline.upscale``).
``check_upscale`` is pure: the ranges count only when ``model`` is set.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import StrictFloat, StrictInt, StrictStr

from studio.errors import SpecError
from studio.spec.common import BLEND_SCHEDULERS, SettingsModel
from studio.spec.fields import check_ranges, setting

__all__ = ["UpscaleSettings", "check_upscale"]


class UpscaleSettings(SettingsModel):
    """An optional second stage: every frame rendered again through an upscaler.

    In a blend the stage follows the same tree: an in-between frame branches off its
    parents' upscaler trajectories at its injection step scaled to ``steps`` (guidance
    dampening applies to this stage too, crossfeed only to the first). In an animation each
    frame is upscaled as it is made, from its own interpolated noise and text. Its ranges are
    checked only when ``model`` is set.
    """

    group: ClassVar[str] = "upscale"

    model: StrictStr = setting(
        "",
        "The upscaler, e.g. stabilityai/stable-diffusion-x4-upscaler ('' = no upscaling).",
        flag="--upscale-model",
    )
    steps: StrictInt = setting(
        20, "Upscaler denoise steps.", ge=2, le=1000, step=1, flag="--upscale-steps"
    )
    guidance: StrictFloat = setting(
        7.5, "Upscaler guidance scale.", ge=0, le=50, step=0.5, flag="--upscale-guidance"
    )
    noise_level: StrictInt = setting(
        20,
        "Noise added to the low-resolution frame the upscaler is given.",
        ge=0,
        le=350,
        step=1,
        flag="--upscale-noise-level",
    )
    scheduler: StrictStr = setting(
        "ddim",
        "The upscaler's sampler (one that can start part-way through its schedule).",
        choices=BLEND_SCHEDULERS,
        widget="select",
        flag="--upscale-scheduler",
    )


def check_upscale(u: UpscaleSettings) -> None:
    """Raise ``SpecError`` naming a bad upscale setting; nothing to check without a model."""
    if not u.model:
        return
    check_ranges(u, prefix="upscale ")
    if u.scheduler not in BLEND_SCHEDULERS:
        raise SpecError(
            f"upscale scheduler {u.scheduler!r} cannot start part-way through its "
            f"schedule; choose one of {', '.join(BLEND_SCHEDULERS)}"
        )
