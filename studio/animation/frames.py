"""How an animation's frames are made, batch by batch: the plan with its input media, the
keyframes' text states, the LoRAs and the coherence pull a render needs, and
``FrameBatches``, which turns one batch of frame indices into decoded images (interpolate,
denoise, pull, decode); ``open_frame_batches`` builds it and the parts it reads.

The one-process render (``studio.animation.render``) and a scale-out shard
(``studio.animation.shard``) both make their frames here, so a frame's bits do not depend on
which of them made it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from studio.animation.coherence import Coherence
from studio.animation.control import AnimationControl
from studio.animation.depth import FrameDepth
from studio.animation.editing import FrameEdit
from studio.animation.init_images import InitImages
from studio.animation.plan import AnimationPlan, plan_animation
from studio.animation.soundtrack import curve_variables
from studio.events import CancelToken
from studio.media.control import ControlSource, check_control_media
from studio.media.inputs import InputMedia, check_inputs
from studio.pipeline.common import Clock
from studio.pipeline.conditioning import TextStates, unet_extras
from studio.pipeline.denoise import denoise
from studio.pipeline.interpolate import lerp, slerp
from studio.pipeline.latents import (
    decode,
    encode_images,
    frame_seed,
    latent_shape,
    seeded_noise,
    step_seed,
)
from studio.pipeline.lora import LoraSession, open_loras
from studio.pipeline.models import LoadedModel, ModelManager, Pipeline
from studio.pipeline.schedulers import Scheduler
from studio.pipeline.text import encode_prompts, with_negative
from studio.spec import AnimationSpec

__all__ = [
    "AnimationInputs",
    "FrameBatches",
    "FrameMaking",
    "animation_inputs",
    "coherence_for",
    "encode_keyframes",
    "open_animation_loras",
    "open_frame_batches",
    "plan_with_media",
]


@dataclass(frozen=True)
class AnimationInputs:
    """A checked animation's plan and what it reads (``animation_inputs``)."""

    plan: AnimationPlan
    media: InputMedia  # the input image, video and soundtrack, probed
    variables: dict[str, np.ndarray] | None  # the curves' variables (audio envelope)
    control_media: list[ControlSource]  # one per ControlNet, probed

    @property
    def spec(self) -> AnimationSpec:
        return self.plan.spec


def animation_inputs(spec: AnimationSpec) -> AnimationInputs:
    """Step 1 of a render of ``spec`` (checked: ``spec.check()``), as the one-process render
    and a scale-out shard both take it: the input media probed once, the plan with them
    (``plan_with_media``), and each ControlNet's image or video probed against the plan's
    length. Raises ``StudioError`` subclasses for bad media, before any model work."""
    media = check_inputs(spec)
    plan, variables = plan_with_media(spec, media)
    control_media = check_control_media(spec.control, fps=spec.animation.fps, frames=plan.frames)
    return AnimationInputs(plan, media, variables, control_media)


def plan_with_media(
    spec: AnimationSpec, media: InputMedia
) -> tuple[AnimationPlan, dict[str, np.ndarray] | None]:
    """Every frame's plan; a video input sets the length, an audio track drives curves.
    Also the curves' variables (the audio envelope), for curves the plan does not hold."""
    input_frames = media.video.output_frames(spec.animation.fps) if media.video else None
    variables = curve_variables(spec, input_frames)
    plan = plan_animation(spec, input_frames=input_frames, curve_variables=variables)
    return plan, variables


def open_animation_loras(spec: AnimationSpec, plan: AnimationPlan, pipe: Pipeline) -> LoraSession:
    """The render's hold on ``pipe``, with the spec's LoRAs at their weights per frame."""
    from studio.languages.curves import naming_curve, parse_curve

    weights = []
    for i, lora in enumerate(spec.loras.adapters):
        with naming_curve(f"LoRA {i + 1} ({lora.source}) weight"):
            weights.append(parse_curve(lora.weight).values(plan.frames))
    return open_loras(pipe, spec.loras.adapters, weights)


def encode_keyframes(
    pipe: Pipeline, plan: AnimationPlan, device: torch.device
) -> tuple[TextStates, TextStates | None]:
    """Each keyframe's prompt and negative text states, K rows; negatives None unguided."""
    lines: dict[str, int] = {}
    for key in plan.schedule.keyframes:
        lines.setdefault(key.prompt, key.line)
        lines.setdefault(key.negative or "", key.line)
    embeddings = encode_prompts(pipe, plan.unique_prompts, device, lines=lines)
    cond = TextStates.cat([embeddings[p] for p in plan.prompts])
    guided = plan.spec.diffusion.guidance > 1.0
    uncond = TextStates.cat([embeddings[n] for n in plan.negatives]) if guided else None
    return cond, uncond


def coherence_for(spec: AnimationSpec, plan: AnimationPlan) -> Coherence | None:
    """The pull toward earlier frames, when the spec asks for it."""
    m = spec.motion
    if m.coherence_scale <= 0:
        return None
    noise = plan.curves.coherence_noise if m.coherence_noise.strip() else None
    return Coherence(m.coherence_scale, m.coherence_alpha, noise=noise, seed=spec.diffusion.seed)


@dataclass
class FrameMaking:
    """``open_frame_batches``' result: the batches and the parts they read, which the
    caller closes (``close``) when it is done with them."""

    batches: FrameBatches
    inits: InitImages
    edit: FrameEdit
    control: AnimationControl | None

    def close(self) -> None:
        """Let go of the input and control video streams (and an editing model's)."""
        for part in (self.inits, self.edit, self.control):
            if part is not None:
                part.close()


def open_frame_batches(
    inputs: AnimationInputs,
    loaded: LoadedModel,
    scheduler: Scheduler,
    loras: LoraSession,
    text: tuple[TextStates, TextStates | None],
    *,
    manager: ModelManager,
    depth: FrameDepth | None = None,
    coherence: Coherence | None = None,
    watch: Callable[[torch.Tensor], None] | None = None,
) -> FrameMaking:
    """What makes the frames of ``inputs.plan`` on ``loaded`` with ``scheduler``, the
    render's hold on the pipeline (``loras``: ``open_animation_loras``) and the keyframes'
    text states (``text``: ``encode_keyframes``), step 4 of ``render_animation``: each
    keyframe's seeded noise, the init images (the input media; ``depth`` for 3D motion),
    the ControlNets' maps, an editing model's pictures and the ``FrameBatches`` that read
    them (``coherence``: the pull toward earlier frames; ``watch``: a live preview's hook).

    The one-process render and a scale-out shard (``studio.animation.shard_render``) both
    open them here, so a frame has the same bits whichever made it. A part that fails to
    open closes those opened before it."""
    spec, plan = inputs.spec, inputs.plan
    d = spec.diffusion
    pipe, device = loaded.pipe, loaded.device
    cond, uncond = text
    shape = latent_shape(pipe, d.width, d.height)
    noise = seeded_noise(shape, plan.keyframe_seeds, device, loaded.dtype)  # (K, C, h, w)
    inits = InitImages(spec, plan, inputs.media, depth)
    control = None
    try:
        if spec.control.nets:
            control = AnimationControl(
                spec.control,
                inputs.control_media,
                plan.frames,
                loaded=loaded,
                manager=manager,
                width=d.width,
                height=d.height,
                fps=spec.animation.fps,
            )
        edit = FrameEdit(plan, pipe, inputs.variables)  # inpainting / InstructPix2Pix inputs
    except BaseException:
        for part in (inits, control):
            if part is not None:
                part.close()
        raise
    batches = FrameBatches(
        plan,
        pipe,
        scheduler,
        noise,
        cond,
        uncond,
        inits,
        coherence,
        edit,
        loras,
        control=control,
        watch=watch,
    )
    return FrameMaking(batches, inits, edit, control)


class FrameBatches:
    """Makes the frames of one batch: interpolate, denoise, pull, decode, match colours."""

    def __init__(
        self,
        plan: AnimationPlan,
        pipe: Pipeline,
        scheduler: Scheduler,
        noise: torch.Tensor,
        cond: TextStates,
        uncond: TextStates | None,
        inits: InitImages,
        coherence: Coherence | None,
        edit: FrameEdit,
        loras: LoraSession,
        *,
        control: AnimationControl | None = None,
        watch: Callable[[torch.Tensor], None] | None = None,
    ) -> None:
        self.plan, self.pipe, self.scheduler = plan, pipe, scheduler
        self.watch = watch  # the live preview: sees the latents after every step
        self.control = control
        self.noise, self.cond, self.uncond = noise, cond, uncond
        self.inits, self.coherence, self.edit = inits, coherence, edit
        self.loras = loras
        self.embed_mix = slerp if plan.spec.animation.interpolation == "slerp" else lerp
        d = plan.spec.diffusion
        self.extras = unet_extras(pipe, d.width, d.height)  # what the family's UNet needs

    def make(
        self, batch: tuple[int, ...], cancel: CancelToken, clock: Clock
    ) -> tuple[list[np.ndarray], int]:
        """The frames of ``batch`` as (H, W, 3) uint8 images, and the denoise steps taken.

        Colours are matched as each frame is written (``InitImages.match_colors``): the
        first frame made is the reference of the frames after it, in the same batch too.
        """
        plan, device = self.plan, self.noise.device
        if self.control is not None:
            self.control.read(batch)
        idx = torch.tensor(list(batch))
        segment = plan.weights.segment[idx.numpy()]
        seg = torch.from_numpy(segment)
        # Looped, the closing segment's frames move from the last keyframe toward the first.
        nxt = torch.from_numpy(plan.next_keyframe(segment))
        w = torch.from_numpy(plan.weights.weight[idx.numpy()]).to(device)
        latents = slerp(self.noise[seg], self.noise[nxt], w)
        w_text = w.to(self.cond.states.device)
        text = TextStates.mix(self.cond[seg], self.cond[nxt], w_text, self.embed_mix)
        negative = None
        if self.uncond is not None:
            negative = TextStates.mix(self.uncond[seg], self.uncond[nxt], w_text, self.embed_mix)
        latents, steps = self._denoise(batch, latents, text, negative, cancel, clock)
        if self.coherence is not None:
            latents = self.coherence.apply(latents, frames=batch)
        with clock.stage("vae"):
            images = decode(self.pipe, latents, clock)
        return images, steps

    def _denoise(
        self,
        batch: tuple[int, ...],
        noise: torch.Tensor,
        text: TextStates,
        negative: TextStates | None,
        cancel: CancelToken,
        clock: Clock,
    ) -> tuple[torch.Tensor, int]:
        """Denoise one batch of frames, each from noise or from its init image (img2img).

        ``noise`` (B, C, h, w): the frames' interpolated noise, which also noises an init
        image, so a frame at strength 1 is exactly its text-to-image frame. ``text``/
        ``negative``: B rows of text states; ``negative`` None without guidance. Consecutive frames that
        enter the schedule at the same step, with the same LoRA weights, are denoised
        together. Returns the latents and the denoise steps taken (one latent through one
        scheduler step).
        """
        plan, d = self.plan, self.plan.spec.diffusion
        images = [self.inits.init(f) for f in batch]
        starts = [
            None if image is None or plan.frame_steps[f] == d.steps else plan.frame_steps[f]
            for f, image in zip(batch, images, strict=True)
        ]
        out = torch.empty_like(noise)
        taken = 0
        begin = 0
        while begin < len(batch):
            end = begin + 1
            while (
                end < len(batch)
                and starts[end] == starts[begin]
                and self.loras.group_key(batch[end]) == self.loras.group_key(batch[begin])
            ):
                end += 1
            group = slice(begin, end)
            self.loras.use(batch[group])
            group_negative = None if negative is None else negative[group]
            group_text = with_negative(text[group], group_negative)
            extra = {}  # an inpainting or InstructPix2Pix model's picture (FrameEdit)
            if self.edit.active:
                with clock.stage("vae"):
                    group_text, extra = self.edit.inputs(
                        batch[group], images[group], text[group], group_negative, noise
                    )
            run = starts[begin]  # steps this group runs: None = all, from noise
            init, start = None, 0
            if run is not None:
                with clock.stage("vae"):
                    pixels = torch.stack(images[group]).to(device=noise.device, dtype=noise.dtype)
                    init = encode_images(self.pipe, pixels * 2 - 1)
                init = init + _init_noise(plan, batch[group], init)
                start = d.steps - run
            if run == 0:  # strength 0: the init image as it is
                latents, steps = init, 0
            else:
                done = denoise(
                    self.pipe.unet,
                    self.scheduler,
                    d.steps,
                    noise[group],
                    group_text,
                    d.guidance,
                    cancel=cancel,
                    clock=clock,
                    start=start,
                    init=init,
                    guidance_stop=d.guidance_stop,
                    generator=[
                        torch.Generator().manual_seed(step_seed(d.seed, f)) for f in batch[group]
                    ],
                    extras=self.extras
                    if self.control is None
                    else [*self.extras, *self.control.extras(batch[group])],
                    reuse=d.fast,
                    watch=self.watch,
                    **extra,
                )
                latents, steps = done.latents, done.steps
            out[group] = latents
            taken += steps * (end - begin)
            begin = end
        return out, taken


def _init_noise(plan: AnimationPlan, frames: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """The noise curve's seeded Gaussian for these frames, (B, C, h, w) like ``like``.

    Drawn on the CPU from a generator seeded by the spec's seed and the frame
    (``frame_seed``), so batching and devices do not change it.
    """
    seed = plan.spec.diffusion.seed
    out = torch.zeros_like(like)
    for i, f in enumerate(frames):
        amount = float(plan.curves.noise[f])
        if amount > 0:
            generator = torch.Generator().manual_seed(frame_seed(seed, f))
            draw = torch.randn(tuple(like.shape[1:]), generator=generator)
            out[i] = amount * draw.to(device=like.device, dtype=like.dtype)
    return out
