"""Keyframed prompt animation: the render entry point for ``AnimationSpec``.

``render_animation`` reads as the steps of the data flow in DESIGN.md:

1. check the spec and its input media, and plan every frame;
2. load the model and build this run's own scheduler;
3. encode each unique prompt once (compel weighting syntax);
4. draw one seeded initial latent per keyframe; open the inputs (image, video stream);
5. for each batch of frames: slerp latents, slerp/lerp embeddings; each frame's init image
   (input, video frame, or the previous frame moved by the motion curves) is encoded and
   noised to the step its strength gives (img2img), or the frame starts from noise; denoise;
   pull toward the coherence reference; decode; match colours;
6. stream each frame to the writer and report progress; finish the file.

Frames never pile up in memory: a batch is decoded, written and dropped, and a video input
is read one frame at a time. With feedback (motion curves) every frame needs the one before
it, so those renders go one frame at a time whatever the batch size (``plan.batches``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from studio.animation.coherence import Coherence
from studio.animation.motion import warp
from studio.animation.plan import AnimationPlan, plan_animation
from studio.errors import ScheduleError
from studio.events import CancelToken, NullEvents, RenderEvents, RenderResult
from studio.media.checkpoint import FrameCheckpoint
from studio.media.color import ColorReference
from studio.media.inputs import InputMedia, check_inputs, load_image, stream_video
from studio.media.writers import open_writer
from studio.pipeline.common import (
    Clock,
    decode,
    guided_noise,
    load_options,
    stop_early,
    unguided_below,
)
from studio.pipeline.interpolate import lerp, slerp
from studio.pipeline.models import ModelManager, make_scheduler
from studio.spec import AnimationSpec
from studio.versions import library_versions

__all__ = ["open_model", "output_path", "render_animation"]


def output_path(out_dir: Path, name: str, fmt: str) -> Path:
    """Where a render named ``name`` writes: a file, or a folder of frames for ``png``."""
    return out_dir / (name if fmt == "png" else f"{name}.{fmt}")


def render_animation(
    spec: AnimationSpec,
    out_dir: Path,
    *,
    manager: ModelManager,
    events: RenderEvents | None = None,
    cancel: CancelToken | None = None,
    name: str = "animation",
    resume: bool = False,
) -> RenderResult:
    """Render ``spec`` into ``out_dir`` and return what was made.

    Finished frames are kept in a checkpoint as they are written (``studio.media.checkpoint``);
    with ``resume``, a render of the same spec into the same ``out_dir`` that was killed
    goes on from its last finished batch and makes the same file an uninterrupted render
    makes. ``result.denoise_steps`` then counts the steps of every attempt that made a frame
    (a batch cut off by the kill is lost, uncounted), and ``result.extra["resume"]`` says
    how much this attempt did. The checkpoint is removed when the render ends.

    Raises ``StudioError`` subclasses for bad specs, models or media, and ``RenderCancelled``
    when ``cancel`` is set. ``events`` hears ``failed``/``cancelled`` before the error leaves.
    """
    events = events or NullEvents()
    cancel = cancel or CancelToken()
    clock = Clock()
    writer = checkpoint = None
    done = 0
    try:
        # 1. Plan, after the input media are probed: bad media fail here, before model work.
        #    Then what an earlier, killed attempt finished.
        spec.check()
        d, anim = spec.diffusion, spec.animation
        media = check_inputs(spec)
        input_frames = media.video.output_frames(anim.fps) if media.video else None
        plan = plan_animation(
            spec, input_frames=input_frames, curve_variables=_curve_variables(spec, input_frames)
        )
        checkpoint = FrameCheckpoint.open(out_dir, name, spec, resume=resume)

        # 2. Model and a scheduler of this run's own (the cached pipeline is shared).
        loaded, scheduler = open_model(
            spec, plan.summary(), manager=manager, clock=clock, events=events
        )
        pipe, device = loaded.pipe, loaded.device

        # 3. Text embeddings, one encoder call per unique prompt.
        guided = d.guidance > 1.0
        with clock.stage("text_encoder"):
            embeddings = _encode_prompts(pipe, plan, device)
        cond = torch.cat([embeddings[p] for p in plan.prompts])  # (K, L, D)
        uncond = torch.cat([embeddings[n] for n in plan.negatives]) if guided else None

        # 4. Initial latents, one per keyframe, drawn on the CPU so every device agrees.
        latent_shape = (
            pipe.unet.config.in_channels,
            d.height // pipe.vae_scale_factor,
            d.width // pipe.vae_scale_factor,
        )
        noise = torch.stack(
            [
                torch.randn(latent_shape, generator=torch.Generator().manual_seed(seed))
                for seed in plan.keyframe_seeds
            ]
        ).to(device=device, dtype=loaded.dtype)  # (K, C, h, w)
        inits = _InitImages(spec, plan, media)
        coherence = (
            Coherence(
                spec.motion.coherence_scale,
                spec.motion.coherence_alpha,
                noise=plan.curves.coherence_noise if spec.motion.coherence_noise.strip() else None,
                seed=d.seed,
            )
            if spec.motion.coherence_scale > 0
            else None
        )

        # 5-6. Batches: interpolate, denoise, decode, stream.
        path = output_path(out_dir, name, spec.output.format)
        out_dir.mkdir(parents=True, exist_ok=True)
        writer = open_writer(path, spec.output.format, fps=anim.fps, width=d.width, height=d.height)
        embed_mix = slerp if anim.interpolation == "slerp" else lerp
        last_key = len(plan.schedule.keyframes) - 1
        denoise_steps = checkpoint.denoise_steps_before
        with clock.stage("write"):
            for image in checkpoint.frames():
                writer.write(image)
                inits.made(done, image)
                done += 1
        if done:
            events.progress(done, plan.frames, image)
            inits.skip(done)
            if coherence is not None:
                coherence.reference = (checkpoint.load_tensors(device) or {}).get("coherence")
        for batch in plan.batches:
            if batch[-1] < done:  # made by an earlier attempt
                continue
            cancel.raise_if_cancelled()
            idx = torch.tensor(list(batch))
            seg = torch.from_numpy(plan.weights.segment[idx.numpy()])
            nxt = torch.clamp(seg + 1, max=last_key)
            w = torch.from_numpy(plan.weights.weight[idx.numpy()]).to(device)
            latents = slerp(noise[seg], noise[nxt], w)
            text = embed_mix(cond[seg], cond[nxt], w.to(cond.device))
            negative = None
            if guided:
                negative = embed_mix(uncond[seg], uncond[nxt], w.to(cond.device))
            latents, steps = _denoise_frames(
                pipe, scheduler, plan, batch, latents, text, negative, inits, cancel, clock
            )
            denoise_steps += steps
            if coherence is not None:
                latents = coherence.apply(latents, frames=batch)
            with clock.stage("vae"):
                images = decode(pipe, latents)
            with clock.stage("write"):
                for f, image in zip(batch, images, strict=True):
                    image = inits.match_colors(f, image)
                    writer.write(image)
                    checkpoint.add_frame(image)
                    inits.made(f, image)
                checkpoint.commit(
                    denoise_steps=denoise_steps,
                    tensors=None if coherence is None else {"coherence": coherence.reference},
                )
            done += len(batch)
            events.progress(done, plan.frames, images[-1])
        with clock.stage("write"):
            output = writer.close()
        writer = None
        inits.close()
        output, notes = _add_soundtrack(spec, output, clock)
        if spec.input.keep_audio and not _audio_path(spec):
            with clock.stage("write"):
                from studio.media.writers import mux_audio

                output = mux_audio(output, media.video.path)
        checkpoint.remove()
        events.output(output)
        result = RenderResult(
            outputs=[output],
            frames=plan.frames,
            fps=float(anim.fps),
            denoise_steps=denoise_steps,
            seconds=clock.total(),
            timings=clock.timings(),
            extra={"resume": checkpoint.resume_facts(denoise_steps)} if checkpoint.resumed else {},
        )
        if notes:
            result.extra["notes"] = notes
        events.finished(result)
        return result
    except BaseException as exc:
        stop_early(
            exc, writer=writer, frames_written=bool(done), checkpoint=checkpoint, events=events
        )
        raise


def open_model(spec, summary: dict, *, manager: ModelManager, clock, events):
    """Load ``spec``'s model, build this run's own scheduler and report ``started``.

    Shared by every render kind; returns ``(LoadedModel, scheduler)``.
    """
    d = spec.diffusion
    with clock.stage("load"):
        loaded = manager.load(d.model, load_options(spec))
    clock.device = loaded.device
    scheduler = make_scheduler(loaded.pipe, d.scheduler, d.scheduler_kwargs)
    events.started(
        {
            **summary,
            "device": str(loaded.device),
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "model_source": loaded.source,
            "versions": library_versions(),
        }
    )
    return loaded, scheduler


def _encode_prompts(pipe, plan: AnimationPlan, device) -> dict[str, torch.Tensor]:
    """Embeddings (1, L, D) for each unique text, through compel's weighting syntax."""
    from compel import Compel

    compel = Compel(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, device=str(device))
    lines = {}
    for key in plan.schedule.keyframes:
        lines.setdefault(key.prompt, key.line)
        lines.setdefault(key.negative or "", key.line)
    embeddings = {}
    with torch.no_grad():
        for text in plan.unique_prompts:
            try:
                embeddings[text] = compel(text).to(device)
            except Exception as exc:  # compel's parser raises its own assorted types
                raise ScheduleError(
                    f"cannot read the prompt {text!r}: {exc}", line=lines.get(text, 1), column=1
                ) from exc
    if len({e.shape for e in embeddings.values()}) > 1:
        # Long prompts split into chunks: pad so every keyframe mixes with every other.
        padded = compel.pad_conditioning_tensors_to_same_length(list(embeddings.values()))
        embeddings = dict(zip(embeddings, padded, strict=True))
    return embeddings


def _denoise_frames(pipe, scheduler, plan, batch, noise, text, negative, inits, cancel, clock):
    """Denoise one batch of frames, each from noise or from its init image (img2img).

    ``noise`` (B, C, h, w): the frames' interpolated noise, which also noises an init image,
    so a frame at strength 1 is exactly its text-to-image frame. ``text``/``negative``
    (B, L, D); ``negative`` None without guidance. Consecutive frames that enter the schedule
    at the same step are denoised together. Returns the latents and the denoise steps taken
    (one latent through one scheduler step).
    """
    d = plan.spec.diffusion
    images = [inits.init(f) for f in batch]
    starts = [
        None if image is None or plan.frame_steps[f] == d.steps else plan.frame_steps[f]
        for f, image in zip(batch, images, strict=True)
    ]
    out = torch.empty_like(noise)
    taken = 0
    begin = 0
    while begin < len(batch):
        end = begin + 1
        while end < len(batch) and starts[end] == starts[begin]:
            end += 1
        group = slice(begin, end)
        group_text = text[group]
        if negative is not None:
            group_text = torch.cat([negative[group], group_text])
        run = starts[begin]  # steps this group runs: None = all, from noise
        init, start = None, 0
        if run is not None:
            with clock.stage("vae"):
                init = _encode(pipe, torch.stack(images[group]), noise)
            init = init + _init_noise(plan, batch[group], init)
            start = d.steps - run
        if run == 0:  # strength 0: the init image as it is
            latents, steps = init, 0
        else:
            latents, steps = _denoise(
                pipe, scheduler, noise[group], group_text, d, cancel, clock, init=init, start=start
            )
        out[group] = latents
        taken += steps * (end - begin)
        begin = end
    return out, taken


def _encode(pipe, images: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Images (B, 3, H, W) in [0, 1] -> latents (B, C, h, w) on ``like``'s device and dtype.

    The posterior's mean, not a sample: the same image always gives the same latents.
    """
    x = images.to(device=like.device, dtype=like.dtype) * 2 - 1
    with torch.no_grad():
        latents = pipe.vae.encode(x).latent_dist.mean
    return latents * pipe.vae.config.scaling_factor


def _init_noise(plan, frames, like: torch.Tensor) -> torch.Tensor:
    """The noise curve's seeded Gaussian for these frames, (B, C, h, w) like ``like``.

    Drawn on the CPU from a generator seeded by the spec's seed and the frame, so batching
    and devices do not change it.
    """
    seed = plan.spec.diffusion.seed
    out = torch.zeros_like(like)
    for i, f in enumerate(frames):
        amount = float(plan.curves.noise[f])
        if amount > 0:
            generator = torch.Generator().manual_seed((seed + 0x9E3779B9 * (f + 1)) % 2**63)
            draw = torch.randn(tuple(like.shape[1:]), generator=generator)
            out[i] = amount * draw.to(device=like.device, dtype=like.dtype)
    return out


def _denoise(pipe, scheduler, latents, text, d, cancel, clock, *, init=None, start=0):
    """Run the scheduler's loop over a batch; returns the latents and the steps taken.

    ``d``: the spec's diffusion settings (steps, guidance, guidance stop). ``text`` is
    (B, L, D), or (2B, L, D) ``[negative; text]`` to guide (see ``guided_noise``).

    Without ``init``, ``latents`` is the starting noise (text-to-image). With ``init``
    (B, C, h, w clean latents), ``latents`` is the noise that the scheduler adds to ``init``
    for step ``start`` of ``d.steps``, where the loop then begins (img2img, as in diffusers).
    """
    scheduler.set_timesteps(d.steps, device=latents.device)
    timesteps = scheduler.timesteps
    if init is None:
        latents = latents * scheduler.init_noise_sigma
    else:
        first = start * scheduler.order
        timesteps = timesteps[first:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(first)
        latents = scheduler.add_noise(init, latents, timesteps[:1].repeat(init.shape[0]))
    below = unguided_below(scheduler, d.guidance_stop)

    def call(model_in, t, states):
        with clock.stage("unet"):
            return pipe.unet(model_in, t, encoder_hidden_states=states).sample

    taken = 0
    with torch.no_grad():
        for t in timesteps:
            cancel.raise_if_cancelled()
            model_in = scheduler.scale_model_input(latents, t)
            eps = guided_noise(call, model_in, t, text, d.guidance, below)
            latents = scheduler.step(eps, t, latents).prev_sample
            taken += 1
    return latents, taken


class _InitImages:
    """Each frame's init image, made in frame order, and the colour-match reference.

    Holds one image input, the open video stream (one frame read per frame made), and the
    last frame made (the source of feedback); never more.
    """

    def __init__(self, spec: AnimationSpec, plan: AnimationPlan, media: InputMedia):
        d = spec.diffusion
        self.plan = plan
        self.border = spec.motion.border
        self.color = spec.motion.color_match
        self.image = load_image(media.image, d.width, d.height) if media.image else None
        self.video = (
            stream_video(media.video, spec.animation.fps, d.width, d.height)
            if media.video
            else None
        )
        self.video_frames: dict[int, object] = {}  # frame -> its video frame, until made
        self.previous = None  # the last frame made, (H, W, 3) uint8
        self.reference = (
            ColorReference(self.image) if self.color == "input" and self.image is not None else None
        )

    def init(self, f: int) -> torch.Tensor | None:
        """Frame ``f``'s init image (3, H, W) float32 in [0, 1], or None (from noise)."""
        kind = self.plan.init_kinds[f]
        if kind == "noise":
            return None
        if kind == "video":
            self.video_frames[f] = next(self.video)
            return _to_tensor(self.video_frames[f])
        if kind == "image":
            return _to_tensor(self.image)
        c = self.plan.curves
        moved = warp(
            _to_tensor(self.previous)[None],
            float(c.zoom[f]),
            float(c.angle[f]),
            float(c.translate_x[f]),
            float(c.translate_y[f]),
            self.border,
        )
        return moved[0]

    def match_colors(self, f: int, image):
        """``image`` with the reference's LAB histograms (as it is when matching is off)."""
        if self.color == "first" and f > 0:
            return self.reference.match(image)
        if self.color == "input":
            if self.video is not None:
                return ColorReference(self.video_frames[f]).match(image)
            return self.reference.match(image)
        return image

    def made(self, f: int, image) -> None:
        """Frame ``f`` is final (made now, or replayed from a checkpoint)."""
        self.previous = image
        self.video_frames.pop(f, None)
        if f == 0 and self.color == "first":
            self.reference = ColorReference(image)

    def skip(self, frames: int) -> None:
        """A resumed render: the video's first ``frames`` frames were used by an earlier try."""
        if self.video is not None:
            for _ in range(frames):
                next(self.video)

    def close(self) -> None:
        if self.video is not None:
            self.video.close()  # stops ffmpeg


def _to_tensor(image) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255


def _audio_path(spec) -> str:
    """The spec's audio track, if the audio group (issue 5, AUDIO) exists and sets one."""
    return getattr(getattr(spec, "audio", None), "path", "") or ""


def _add_soundtrack(spec: AnimationSpec, output, clock):
    """Mux the spec's audio track into finished MP4 output; ``(output, notes)``.

    GIF and PNG cannot carry sound: they are left as they are, and a note says so.
    """
    a = spec.audio
    if not a.path or not a.mux:
        return output, []
    if output.kind != "mp4":
        return output, [
            f"{output.kind.upper()} output has no sound, so the audio track was not added "
            "(it still drives timing and curves); choose mp4 to hear it"
        ]
    from studio.media.paths import resolve_media_path
    from studio.media.writers import mux_audio

    with clock.stage("audio"):
        return mux_audio(output, resolve_media_path(a.path)), []


def _curve_variables(spec: AnimationSpec, input_frames: int | None):
    """``{"audio": envelope}`` for the motion curves when the spec has an audio track."""
    path = _audio_path(spec)
    if not path:
        return None
    from studio.audio.analysis import audio_envelope
    from studio.languages.schedule import parse_schedule
    from studio.media.inputs import resolve_input_path

    frames = input_frames or parse_schedule(spec.prompts.schedule).frame_count
    envelope = audio_envelope(
        resolve_input_path(path), spec.audio.component, spec.animation.fps, frames
    )
    return {"audio": envelope}
