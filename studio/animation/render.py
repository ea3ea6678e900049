"""Keyframed prompt animation: the render entry point for ``AnimationSpec``.

``render_animation`` reads as the steps of the data flow in DESIGN.md:

1. check the spec and its input media, and plan every frame;
2. load the model and build this run's own scheduler;
3. encode each unique prompt once (compel weighting syntax);
4. draw one seeded initial latent per keyframe; open the inputs (image, video stream);
5. open the writer and replay what an earlier, killed attempt finished;
6. for each batch of frames: slerp latents, slerp/lerp embeddings; each frame's init image
   (input, video frame, or the previous frame moved by the motion curves, the 3D ones
   through its depth map) is encoded and noised to the step its strength gives (img2img), or the frame starts from noise; an
   inpainting or InstructPix2Pix model is also given it as extra UNet channels
   (``studio.animation.editing``); denoise (``studio.pipeline.denoise``, with the
   ControlNets' residuals: ``studio.animation.control``); pull toward the coherence
   reference; decode; match colours (inpainting: keep the unmasked pixels); stream each
   frame to the writer and report progress (between finished frames, a live preview of the
   latents being denoised: ``studio.pipeline.preview``); with an upscale stage, each final frame is
   rendered again through the upscaler first (``studio.animation.upscale``) and only the
   upscaled frame is written;
7. finish the file, add the soundtrack, and return an ``AnimationResult``.

Frames never pile up in memory: a batch is decoded, written and dropped, and a video input
is read one frame at a time. Colour matching, the writer and the checkpoint of a batch run on
a worker thread while the next batch is denoised, one batch there at a time
(``studio.animation.output``). With feedback (motion curves) every frame needs the one before
it, so those renders go one frame at a time whatever the batch size (``plan.batches``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.animation.depth import FrameDepth, check_depth
from studio.animation.frames import (
    animation_inputs,
    coherence_for,
    encode_keyframes,
    open_animation_loras,
    open_frame_batches,
)
from studio.animation.output import FrameOutput
from studio.animation.soundtrack import add_sound
from studio.animation.upscale import open_animation_upscale
from studio.errors import RenderCancelled
from studio.events import CancelToken, NullEvents, RenderEvents, RenderResult
from studio.media.checkpoint import FrameCheckpoint
from studio.pipeline.common import Clock, finish_render, open_model, open_render_output, stop_early
from studio.pipeline.gpu import frame_work_beside, path_notes
from studio.pipeline.models import ModelManager
from studio.pipeline.preview import LivePreview, open_preview
from studio.pipeline.text import truncated_prompts
from studio.spec import AnimationSpec

__all__ = ["AnimationResult", "render_animation"]


@dataclass
class AnimationResult(RenderResult):
    """What ``render_animation`` returns: the common facts of ``RenderResult``, with
    ``notes`` (e.g. a soundtrack a GIF cannot carry) and ``resume`` (what this attempt did
    when it went on from a killed one), and the upscale stage's share of ``denoise_steps``."""

    upscale_denoise_steps: int = 0

    def kind_facts(self) -> dict[str, Any]:
        return {"upscale_denoise_steps": self.upscale_denoise_steps} if self.upscaled else {}

    @property
    def upscaled(self) -> bool:
        return self.upscale_denoise_steps > 0


def render_animation(
    spec: AnimationSpec,
    out_dir: Path,
    *,
    manager: ModelManager,
    events: RenderEvents | None = None,
    cancel: CancelToken | None = None,
    name: str = "animation",
    resume: bool = False,
) -> AnimationResult:
    """Render ``spec`` into ``out_dir`` and return what was made.

    Finished frames are kept in a checkpoint as they are written (``studio.media.checkpoint``);
    with ``resume``, a render of the same spec into the same ``out_dir`` that was killed
    goes on from its last finished batch and makes the same file an uninterrupted render
    makes. ``result.denoise_steps`` then counts the steps of every attempt that made a frame
    (a batch cut off by the kill is lost, uncounted), and ``result.resume`` says how much
    this attempt did. The checkpoint is removed when the render ends.

    Raises ``StudioError`` subclasses for bad specs, models or media, and ``RenderCancelled``
    when ``cancel`` is set. ``events`` hears ``failed``/``cancelled`` before the error leaves.
    """
    events = events or NullEvents()
    cancel = cancel or CancelToken()
    clock = Clock()
    writer = checkpoint = loras = frames_out = None
    done = 0
    try:
        # 1. Check and plan, after the input media are probed: bad media fail here, before
        #    model work. Then what an earlier, killed attempt finished.
        spec.check()
        d, anim = spec.diffusion, spec.animation
        inputs = animation_inputs(spec)
        plan, media = inputs.plan, inputs.media
        depth_source = check_depth(spec, plan.frames)  # 3D motion's depth model or input
        checkpoint = FrameCheckpoint.open(out_dir, name, spec, resume=resume)

        # 2. Load the model; a scheduler of this run's own (the cached pipeline is shared).
        loaded, scheduler = open_model(
            spec, plan.summary(), manager=manager, clock=clock, events=events
        )
        pipe, device = loaded.pipe, loaded.device
        # The pipeline is shared: hold it (alone, with LoRAs) until the render ends.
        loras = open_animation_loras(spec, plan, pipe)
        preview = open_preview(d.preview, loaded, manager)  # live previews' decoder
        live = LivePreview(preview, events, plan.frames, d.preview_seconds, clock)

        # 3. Encode prompts: one encoder call per unique text.
        with clock.stage("text_encoder"):
            text = encode_keyframes(pipe, plan, device)
        where = {k.prompt: f"line {k.line}" for k in reversed(plan.schedule.keyframes)}
        text_notes = truncated_prompts(pipe, plan.unique_prompts, where)

        # 4. Prepare latents (one seeded noise per keyframe), init images (3D motion: through
        #    each frame's depth), coherence, ControlNets and an editing model's pictures.
        depth = None
        if plan.curves.depth:
            depth = FrameDepth(spec, depth_source, loaded=loaded, manager=manager, clock=clock)
        coherence = coherence_for(spec, plan)
        making = open_frame_batches(
            inputs,
            loaded,
            scheduler,
            loras,
            text,
            manager=manager,
            depth=depth,
            coherence=coherence,
            watch=live.step,
        )
        batches, inits, edit, control = making.batches, making.inits, making.edit, making.control

        # The upscale stage: its own model, scheduler and texts; the file's frames grow.
        upscale = (
            open_animation_upscale(plan, manager, clock, cancel) if spec.upscale.model else None
        )
        scale = upscale.factor if upscale is not None else 1

        # 5. Open the writer; replay the frames an earlier attempt finished (upscaled ones:
        #    the low-resolution frames that later frames read come from the checkpoint's tensors).
        writer = open_render_output(
            out_dir,
            name,
            spec.output,
            fps=anim.fps,
            width=d.width * scale,
            height=d.height * scale,
            device=loaded.device,
        )
        denoise_steps = checkpoint.denoise_steps_before
        image = None
        with clock.stage("write"):
            for image in checkpoint.frames():
                writer.write(image)
                if upscale is None:
                    inits.made(done, image)
                done += 1
        if done:
            live.progress(done, image)
            tensors = checkpoint.load_tensors(device) or {}
            if upscale is not None:
                upscale.restore(checkpoint.state, tensors, inits, done)
            inits.skip(done)
            if control is not None:
                control.skip(done)
            if coherence is not None:
                coherence.reference = tensors.get("coherence")

        # 6. Denoise and decode each batch of frames; colour matching, the writer and the
        #    checkpoint run on a worker thread meanwhile, where no later frame needs them and
        #    the device leaves the CPU room (``frame_work_beside``).
        frames_out = FrameOutput(
            plan,
            writer=writer,
            checkpoint=checkpoint,
            inits=inits,
            edit=edit,
            coherence=coherence,
            upscale=upscale,
            progress=live.progress,
            clock=clock,
            done=done,
            denoise_steps=denoise_steps,
            preview=image if done else None,
            beside_model=frame_work_beside(loaded.device, encodes_here=spec.output.format == "png"),
        )
        for batch in plan.batches:
            if batch[-1] < done:  # made by an earlier attempt
                continue
            cancel.raise_if_cancelled()
            images, steps = batches.make(batch, cancel, clock)
            frames_out.add(batch, images, steps, cancel)
        frames_out.finish()
        done, denoise_steps = frames_out.done, frames_out.denoise_steps

        # 7. Finish the file; its soundtrack; the result.
        with clock.stage("write"):
            output = writer.close()
        writer = None
        making.close()
        output, notes = add_sound(spec, output, clock, media.video and media.video.path)
        return finish_render(
            AnimationResult,
            output,
            checkpoint,
            clock,
            events,
            denoise_steps,
            notes=[*text_notes, *notes, *path_notes(clock, plan.frames)],
            upscale_denoise_steps=upscale.denoise_steps if upscale is not None else 0,
            preview=live.facts(),
        )
    except BaseException as exc:
        if frames_out is not None:  # the worker's frames first: then the writer can close
            frames_out.stop(cancelled=isinstance(exc, RenderCancelled))
            done = frames_out.done
        stop_early(
            exc, writer=writer, frames_written=bool(done), checkpoint=checkpoint, events=events
        )
        raise
    finally:
        if loras is not None:
            loras.close()  # the shared pipeline as it was, its lock let go
