"""What a blend's transitions are made with, opened the same way by the one-process render
(``studio.blend.render``) and a scale-out worker (``studio.blend.shard_render``): the still
ControlNet maps and the maker of the transitions' diffusion frames (``Transitions``). So a
keyframe or an in-between has the same bits whichever of them made it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from studio.blend.inpaint import InpaintGuide
from studio.blend.plan import BlendPlan
from studio.blend.transitions import BRANCH_BATCH, Transitions
from studio.events import CancelToken
from studio.media.control import check_control_media
from studio.pipeline.common import Clock
from studio.pipeline.conditioning import TextStates
from studio.pipeline.control import still_controls
from studio.pipeline.models import LoadedModel, ModelManager
from studio.pipeline.schedulers import Scheduler

__all__ = ["open_transitions"]


def open_transitions(
    plan: BlendPlan,
    loaded: LoadedModel,
    scheduler: Scheduler,
    embeddings: dict[str, TextStates],
    *,
    manager: ModelManager,
    clock: Clock,
    cancel: CancelToken,
    inpaint: InpaintGuide | None = None,
    branch_batch: int = BRANCH_BATCH,
    watch: Callable[[torch.Tensor], None] | None = None,
) -> Transitions:
    """The maker of ``plan``'s diffusion frames on ``loaded`` with ``scheduler`` (each
    trajectory runs on a copy) and every prompt's text states (``embeddings``), steered by
    the spec's ControlNets' still maps (probed and preprocessed here, loaded through
    ``manager``). ``inpaint``: the inpainting guide, if any; ``branch_batch``: in-between
    frames per UNet call at most; ``watch``: a live preview's hook on every step's latents."""
    spec, d = plan.spec, plan.spec.diffusion
    controls = still_controls(
        spec.control,
        check_control_media(spec.control),
        loaded=loaded,
        manager=manager,
        width=d.width,
        height=d.height,
    )
    return Transitions(
        plan,
        loaded.pipe,
        loaded.dtype,
        loaded.device,
        scheduler,
        embeddings,
        clock,
        cancel,
        inpaint,
        extras=controls,
        branch_batch=branch_batch,
        watch=watch,
    )
