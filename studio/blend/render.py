"""Latent-blending transitions: the render entry point for ``BlendSpec``.

A movie through prompts ``P_0 .. P_{K-1}`` is ``K - 1`` transitions (a looped one ``K``: the
last leads back to ``P_0``, whose frame it does not show again), each a tree of diffusion
trajectories (``studio.blend.tree``). ``render_blend`` reads as the steps of the data flow:

1. check the spec and plan the movie (tree, seeds, video length, joins);
2. load the model and build one scheduler of this run's own; each trajectory runs on its own
   copy, because multistep schedulers keep state between steps;
3. encode each unique prompt once (compel weighting syntax);
4. prepare what every transition reads: an inpainting mask and its reference
   (``studio.blend.inpaint``), an upscale stage with its own model (``studio.blend.upscale``),
   and the maker of each transition's diffusion frames (``studio.blend.transitions``);
5. open the writer and replay what an earlier, killed attempt finished;
6. per transition: its diffusion frames (keyframes, then in-betweens branching off their
   neighbours), upscaled through the same tree when there is a stage; stream its video
   frames (the fill between diffusion frames) to the writer and checkpoint; drop everything
   of it but its right keyframe (with a soundtrack, the first keyframe is held before its
   time and the last after its own);
7. finish the file, mux the soundtrack, and return a ``BlendResult`` with the diffusion
   frames made and the tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.blend.inpaint import InpaintGuide
from studio.blend.plan import BlendPlan, plan_blend
from studio.blend.prepare import open_transitions
from studio.blend.soundtrack import add_blend_soundtrack
from studio.blend.transitions import BRANCH_BATCH, Transitions
from studio.blend.upscale import UpscaleStage
from studio.events import CancelToken, NullEvents, RenderEvents, RenderResult
from studio.media.checkpoint import FrameCheckpoint
from studio.media.retime import in_between
from studio.pipeline.common import Clock, finish_render, open_model, open_render_output, stop_early
from studio.pipeline.gpu import path_notes
from studio.pipeline.lora import open_loras
from studio.pipeline.models import LoadedModel, ModelManager
from studio.pipeline.preview import LivePreview, open_preview
from studio.pipeline.schedulers import Scheduler
from studio.pipeline.text import encode_prompts, truncated_prompts
from studio.pipeline.upscale import open_spec_upscaler
from studio.spec import BlendSpec

__all__ = ["BlendResult", "render_blend", "video_frames"]


@dataclass
class BlendResult(RenderResult):
    """What ``render_blend`` returns: the common facts of ``RenderResult`` and the blend's.

    ``tree`` is ``BlendTree.to_dict`` plus ``transitions``: per transition, its diffusion
    frames in order with position, level and injection step.
    """

    diffusion_frames: int = 0  # made, joins counted once
    scratch_denoise_steps: int = 0  # those frames each rendered from its own noise
    tree: dict[str, Any] = field(default_factory=dict)
    upscale_denoise_steps: int = 0  # of ``denoise_steps``, the upscale stage's

    def kind_facts(self) -> dict[str, Any]:
        return {
            "diffusion_frames": self.diffusion_frames,
            "scratch_denoise_steps": self.scratch_denoise_steps,
            "tree": self.tree,
            "upscale_denoise_steps": self.upscale_denoise_steps,
        }


def render_blend(
    spec: BlendSpec,
    out_dir: Path,
    *,
    manager: ModelManager,
    events: RenderEvents | None = None,
    cancel: CancelToken | None = None,
    name: str = "blend",
    resume: bool = False,
    branch_batch: int = BRANCH_BATCH,
) -> BlendResult:
    """Render ``spec`` into ``out_dir`` and return what was made (``BlendResult``).

    Raises ``StudioError`` subclasses for bad specs, models or media, and ``RenderCancelled``
    when ``cancel`` is set; ``events`` hears ``failed``/``cancelled`` before the error leaves.
    Frames already written when cancelled stay on disk as a playable file.

    Each finished transition is checkpointed (its video frames, and the trajectories the
    next transition reads: ``studio.media.checkpoint``); with ``resume``, a killed render of the
    same spec into the same ``out_dir`` goes on from its last finished transition and makes
    the same file an uninterrupted render makes. ``denoise_steps`` then counts every
    attempt's steps that made a frame, and ``result.resume`` what this attempt did. The
    checkpoint is removed when the render ends.
    """
    events = events or NullEvents()
    cancel = cancel or CancelToken()
    clock = Clock()
    writer = checkpoint = loras = None
    written = 0
    try:
        # 1. Check and plan; what an earlier, killed attempt finished.
        spec.check()
        plan = plan_blend(spec)
        d, o = spec.diffusion, spec.output
        checkpoint = FrameCheckpoint.open(out_dir, name, spec, resume=resume)

        # 2. Load the model; a scheduler of this run's own (the cached pipeline is shared).
        loaded, scheduler = open_model(
            spec, plan.summary(), manager=manager, clock=clock, events=events
        )
        pipe, device = loaded.pipe, loaded.device
        # The pipeline is shared: hold it (alone, with LoRAs: one weight each) until the end.
        adapters = spec.loras.adapters
        loras = open_loras(pipe, adapters, [np.array([a.weight]) for a in adapters])
        preview = open_preview(d.preview, loaded, manager)  # live previews' decoder
        live = LivePreview(preview, events, plan.video_frames, d.preview_seconds, clock)

        # 3. Encode prompts: one encoder call per unique text.
        with clock.stage("text_encoder"):
            embeddings = encode_prompts(pipe, plan.unique_prompts, device)
        where = {p: f"prompt {i + 1}" for i, p in reversed(list(enumerate(plan.prompts)))}
        text_notes = truncated_prompts(pipe, plan.unique_prompts, where)

        # 4. Prepare the inpainting guide, the upscale stage and the transitions' maker.
        inpaint = _inpaint_guide(spec, loaded, scheduler)
        upscale, width, height = None, d.width, d.height
        if spec.upscale.model:  # its own model, scheduler and embeddings; frames grow
            upscale = _upscale_stage(spec, plan, manager, clock, cancel)
            width, height = d.width * upscale.factor, d.height * upscale.factor
        writer = open_render_output(
            out_dir, name, o, fps=o.fps, width=width, height=height, device=device
        )
        run = open_transitions(
            plan,
            loaded,
            scheduler,
            embeddings,
            manager=manager,
            clock=clock,
            cancel=cancel,
            inpaint=inpaint,
            branch_batch=branch_batch,
            watch=live.step,
        )

        # 5. Replay what an earlier attempt finished: its frames and what they carry.
        realised, first = [], 0
        if checkpoint.state:
            state = checkpoint.state
            first, realised = state["transitions"], state["realised"]
            tensors = checkpoint.load_tensors(device)
            run.restore(state["run"], tensors["run"])
            if upscale is not None:
                upscale.restore(state["upscale"], tensors["upscale"])
            with clock.stage("write"):
                for image in checkpoint.frames():
                    writer.write(image)
                    written += 1
            live.progress(written, image)

        # 6. Each transition: its diffusion frames, upscaled, streamed as video frames.
        for t in range(first, plan.transitions):
            span = plan.joins[t + 1] - plan.joins[t]

            def computed(
                image: np.ndarray, made: int, planned: int, done: int = written, span: int = span
            ) -> None:
                # Each diffusion frame moves the count by its share of the transition's video
                # frames (short of all of them: those are counted as they are written).
                share = min(span - 1, made * span // planned)
                live.progress(done + share, image)

            frames = run.transition(t, computed)
            realised.append([f.to_dict() for f in frames])
            images = [f.image for f in frames] if upscale is None else upscale.transition(t, frames)
            with clock.stage("write"):
                for image in video_frames(plan, t, images):
                    writer.write(image)
                    checkpoint.add_frame(image)
                    written += 1
                _commit(checkpoint, t + 1, realised, run, upscale)
            live.progress(written, image)

        # 7. Finish the file and mux the soundtrack; the result.
        with clock.stage("write"):
            output = writer.close()
        writer = None
        output, audio_notes = add_blend_soundtrack(spec, output, clock)
        made = sum(len(f) - 1 for f in realised) + 1
        upscale_steps = upscale.denoise_steps if upscale else 0
        denoise_steps = run.denoise_steps + upscale_steps
        return finish_render(
            BlendResult,
            output,
            checkpoint,
            clock,
            events,
            denoise_steps,
            diffusion_frames=made,
            scratch_denoise_steps=made * (d.steps + (spec.upscale.steps if upscale else 0)),
            tree={
                **plan.tree.to_dict(len(plan.prompts), plan.computed_keyframes),
                "transitions": realised,
            },
            upscale_denoise_steps=upscale_steps,
            notes=text_notes + audio_notes + path_notes(clock, plan.diffusion_frames),
            preview=live.facts(),
        )
    except BaseException as exc:
        stop_early(
            exc, writer=writer, frames_written=bool(written), checkpoint=checkpoint, events=events
        )
        raise
    finally:
        if loras is not None:
            loras.close()  # the shared pipeline as it was, its lock let go


def _inpaint_guide(
    spec: BlendSpec, loaded: LoadedModel, scheduler: Scheduler
) -> InpaintGuide | None:
    """An inpainting transition keeps the mask's black region on a reference; else None."""
    b, d = spec.blend, spec.diffusion
    if not b.inpaint_mask:
        return None
    return InpaintGuide.build(
        b.inpaint_mask,
        b.inpaint_image,
        pipe=loaded.pipe,
        scheduler=scheduler,
        steps=d.steps,
        width=d.width,
        height=d.height,
        device=loaded.device,
        dtype=loaded.dtype,
        seed=d.seed,
    )


def _commit(
    checkpoint: FrameCheckpoint,
    transitions: int,
    realised: list[list[dict[str, Any]]],
    run: Transitions,
    upscale: UpscaleStage | None,
) -> None:
    """Checkpoint the movie after ``transitions`` finished transitions: the frames written
    (added already), the realised tree, and what the next transition reads (the carried
    keyframe, the inpainting reference, the upscaler's carried keyframe)."""
    state, tensors = run.state()
    engine = {"transitions": transitions, "realised": realised, "run": state}
    tensors = {"run": tensors}
    if upscale is not None:
        engine["upscale"], tensors["upscale"] = upscale.state()
    steps = run.denoise_steps + (upscale.denoise_steps if upscale is not None else 0)
    checkpoint.commit(denoise_steps=steps, engine=engine, tensors=tensors)


def _upscale_stage(
    spec: BlendSpec, plan: BlendPlan, manager: ModelManager, clock: Clock, cancel: CancelToken
) -> UpscaleStage:
    """Load the upscaler (``studio.pipeline.upscale``: like the main model, with its own
    pipeline class) and its stage."""
    upscaler = open_spec_upscaler(
        spec, plan.prompts, plan.negatives, manager=manager, clock=clock, cancel=cancel
    )
    return UpscaleStage(plan, upscaler)


def video_frames(plan: BlendPlan, t: int, images: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The video frames of transition ``t`` from its diffusion frames (in prompt order):
    the fill between them, and the held first and last keyframes of a soundtrack's movie."""
    if t == 0:
        yield from (images[0] for _ in range(plan.joins[0]))
    method = "flow" if plan.spec.output.fill == "flow" else "crossfade"
    between = None  # (rank, the maker of frames after diffusion frame ``rank``)
    for rank, alpha in plan.sources(t, len(images)):
        image = images[rank]
        if alpha:
            if between is None or between[0] != rank:
                between = (rank, in_between(image, images[rank + 1], method))
            image = between[1].at(alpha)
        yield image
    if t == plan.transitions - 1:
        yield from (images[-1] for _ in range(plan.video_frames - 1 - plan.joins[-1]))
