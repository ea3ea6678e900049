"""Scale-out shards of a blend (``studio.blend.shards``): a keyframe (stage 0), or one
transition's in-between frames from its two keyframes (stage 1), made as the one-process
render makes them (``studio.blend.render``).

``BlendShards(spec, manager)`` does steps 1-4 of ``render_blend`` once per worker and spec
(plan, model, LoRAs, every prompt's text states, and the transitions' maker with the still
ControlNet maps: ``studio.blend.prepare``, as the render opens it) and keeps them for the
shards that follow. A keyframe is its own seeded trajectory, so the one a worker makes
and hands to two transitions is the one a one-process render makes and carries from one
transition to the next; a transition's in-betweens read only those two. Nothing is written:
the driver (``studio.app.scale_blend``) fills the video frames and writes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.blend.plan import plan_blend
from studio.blend.prepare import open_transitions
from studio.blend.shards import blend_reason
from studio.blend.transitions import Frame
from studio.errors import SpecError
from studio.events import CancelToken, NullEvents
from studio.pipeline.common import Clock, open_model
from studio.pipeline.lora import open_loras
from studio.pipeline.models import ModelManager
from studio.pipeline.text import encode_prompts
from studio.spec import BlendSpec

__all__ = ["BlendShards"]


class BlendShards:
    """One worker's hold on a blend: what every shard of ``spec`` needs, made once.

    Hold it while making shards and ``close`` it after (the shared pipeline's LoRA lock)."""

    def __init__(
        self, spec: BlendSpec, manager: ModelManager, cancel: CancelToken | None = None
    ) -> None:
        spec.check()
        self.spec, self.plan = spec, plan_blend(spec)
        why = blend_reason(self.plan)
        if why is not None:
            raise SpecError(f"this blend cannot be split into shards: {why}")
        clock = Clock()
        loaded, scheduler = open_model(
            spec, self.plan.summary(), manager=manager, clock=clock, events=NullEvents()
        )
        pipe, device = loaded.pipe, loaded.device
        adapters = spec.loras.adapters
        self.loras = open_loras(pipe, adapters, [np.array([a.weight]) for a in adapters])
        try:
            embeddings = encode_prompts(pipe, self.plan.unique_prompts, device)
            self.run = open_transitions(
                self.plan,
                loaded,
                scheduler,
                embeddings,
                manager=manager,
                clock=clock,
                cancel=cancel or CancelToken(),
            )
        except BaseException:
            self.loras.close()
            raise

    def keyframe(self, j: int) -> tuple[Frame, int]:
        """Keyframe ``j`` (trajectory, latent, image) and the denoise steps it took."""
        before = self.run.denoise_steps
        frame = self.run.keyframe(j)
        return frame, self.run.denoise_steps - before

    def transition(self, t: int, left: Frame, right: Frame) -> dict[str, Any]:
        """Transition ``t``'s diffusion frames from its keyframes: ``{"images": [(H, W, 3)
        uint8 in prompt order], "realised": [Frame.to_dict()], "denoise_steps"}`` (the
        in-betweens' steps: the keyframes were counted where they were made)."""
        before = self.run.denoise_steps
        frames = self.run.transition(t, lambda *_: None, keys=(left, right))
        return {
            "images": [f.image for f in frames],
            "realised": [f.to_dict() for f in frames],
            "denoise_steps": self.run.denoise_steps - before,
        }

    def close(self) -> None:
        self.loras.close()
