"""One scale-out shard of an animation: a range of its frames, made as the one-process
render makes them (``studio.animation.render``), for the driver's one writer.

``render_frames`` runs steps 1-4 and 6 of ``render_animation`` for frames ``start`` to
``stop`` of a spec whose plan splits (``studio.animation.shards``): the same plan, the same
per-keyframe seeded noise and text states, the same batches (both open them with
``studio.animation.frames.open_frame_batches``; a shard starts on a batch boundary), the same per-frame step generators; a video input (and a control video) is read
from its start up to the shard's first frame. So each frame has the bits the one-process
render gives it on the same device type. Nothing is written: the driver
(``studio.app.scale``) writes, checkpoints and reports progress.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from studio.animation.frames import (
    animation_inputs,
    encode_keyframes,
    open_animation_loras,
    open_frame_batches,
)
from studio.animation.shards import feedback_reason
from studio.errors import SpecError
from studio.events import CancelToken, NullEvents
from studio.pipeline.common import Clock, open_model
from studio.pipeline.models import ModelManager
from studio.spec import AnimationSpec

__all__ = ["render_frames"]


def render_frames(
    spec: AnimationSpec,
    start: int,
    stop: int,
    *,
    manager: ModelManager,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[int, list[np.ndarray], int]]:
    """Frames ``start`` to ``stop - 1`` of ``spec``, a batch at a time:
    ``(first frame, [(H, W, 3) uint8 image per frame], denoise steps)``.

    ``start`` must be on a batch boundary of the plan. Raises ``SpecError`` for a spec
    whose frames need the frames before them (``feedback_reason``) or a bad range,
    ``RenderCancelled`` when ``cancel`` is set.
    """
    cancel = cancel or CancelToken()
    clock = Clock()
    # 1. Check and plan, as the one-process render does.
    spec.check()
    inputs = animation_inputs(spec)
    plan = inputs.plan
    why = feedback_reason(plan)
    if why is not None:
        raise SpecError(f"this animation cannot be split into shards: {why}")
    starts = {b.start for b in plan.batches}
    if start not in starts or not start < stop <= plan.frames:
        raise SpecError(
            f"shard frames {start}-{stop - 1} do not start on a batch of this "
            f"{plan.frames}-frame plan"
        )

    # 2. The model (loaded once per worker by its manager) and this shard's scheduler.
    loaded, scheduler = open_model(
        spec, plan.summary(), manager=manager, clock=clock, events=NullEvents()
    )
    loras = open_animation_loras(spec, plan, loaded.pipe)
    making = None
    try:
        # 3. Every keyframe's text states; 4. its seeded noise; the inputs, read to `start`.
        text = encode_keyframes(loaded.pipe, plan, loaded.device)
        making = open_frame_batches(inputs, loaded, scheduler, loras, text, manager=manager)
        inits, control = making.inits, making.control
        if making.edit.active:
            raise SpecError(
                "this animation cannot be split into shards: an inpainting or "
                "InstructPix2Pix model reads its pictures in frame order; use --workers 1"
            )
        inits.skip(start)
        if control is not None:
            control.skip(start)

        # 6. The shard's batches: denoise, decode, match colours (to the input, if asked).
        for batch in plan.batches:
            if batch.start < start:
                continue
            if batch.start >= stop:
                break
            cancel.raise_if_cancelled()
            images, steps = making.batches.make(batch, cancel, clock)  # a range, as the render's
            out = []
            for f, image in zip(batch, images, strict=True):
                image = inits.match_colors(f, image)
                inits.made(f, image)
                out.append(image)
            yield batch.start, out, steps
    finally:
        if making is not None:
            making.close()
        loras.close()
