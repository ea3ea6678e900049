"""Latent-blending transitions: the render entry point for ``BlendSpec``.

A movie through prompts ``P_0 .. P_{K-1}`` is ``K - 1`` transitions, each a tree of diffusion
trajectories (``studio.blend.tree``). ``render_blend`` reads as the steps of the data flow:

1. check the spec and plan the movie (tree, seeds, video length, joins);
2. load the model and build one scheduler of this run's own; each trajectory runs on its own
   copy, because multistep schedulers keep state between steps;
3. encode each unique prompt once (compel weighting syntax);
4. per transition: the two keyframe trajectories (every keyframe is computed once and kept
   for the transition after it), then the in-between frames, each branching off its two
   neighbours at its level's injection step (adaptive: between the neighbours whose images
   differ most), each decoded as soon as it is made; with an inpainting mask, every
   trajectory's fixed region is held on the reference (``studio.blend.inpaint``);
5. with an upscale stage, render the transition's frames again through the upscaler with
   the same tree (``studio.blend.upscale``); stream the transition's video frames (the fill
   between diffusion frames) to the writer and drop everything of it but its right keyframe;
6. finish the file; the result carries the diffusion frames made and the tree.

Trajectories live on the device as ``{step index: latent entering that step}`` (the final
latent under index ``N``), holding only the steps a child or the crossfeed will read. A
branch at step ``k`` runs on a fresh scheduler copy from index ``k`` (``studio.pipeline.trajectory``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from studio.animation.render import open_model, output_path
from studio.blend.inpaint import InpaintGuide
from studio.blend.perceptual import ssim_distance
from studio.blend.plan import BlendPlan, plan_blend, segment_sources
from studio.blend.upscale import UpscaleStage
from studio.errors import SpecError
from studio.events import CancelToken, NullEvents, RenderEvents, RenderResult
from studio.media.checkpoint import FrameCheckpoint
from studio.media.writers import open_writer
from studio.pipeline.common import Clock, decode, load_options, stop_early
from studio.pipeline.interpolate import lerp, slerp
from studio.pipeline.models import ModelManager, make_scheduler
from studio.pipeline.trajectory import run_trajectory
from studio.spec import BlendSpec

__all__ = ["DISTANCES", "render_blend"]


@dataclass
class _Frame:
    """One diffusion frame of the current transition."""

    position: float  # prompt position in the transition, 0 (left keyframe) .. 1 (right)
    level: int  # 0 for keyframes
    injection_step: int  # 0 for keyframes
    trajectory: dict[int, torch.Tensor]  # step index -> latent (1, C, h, w) entering it
    latent: torch.Tensor  # the final latent, (1, C, h, w)
    image: np.ndarray  # decoded, (H, W, 3) uint8
    parents: tuple[_Frame, _Frame] | None = None  # an in-between's neighbours when made
    weight: float = 0.0  # its start: slerp(parents' latents, weight)
    created: int = 0  # order made in its transition: 0 left keyframe, 1 right, 2... branches

    def to_dict(self) -> dict:
        return {
            "position": round(self.position, 6),
            "level": self.level,
            "injection_step": self.injection_step,
        }


def _latent_distance(a: _Frame, b: _Frame) -> float:
    return float(torch.sqrt(torch.mean((a.latent.float() - b.latent.float()) ** 2)))


# Distances for adaptive insertion: name (spec.blend.distance) -> function of two frames.
DISTANCES = {
    "ssim": lambda a, b: ssim_distance(a.image, b.image),
    "latent": _latent_distance,
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
) -> RenderResult:
    """Render ``spec`` into ``out_dir`` and return what was made.

    ``result.extra`` has ``diffusion_frames`` (made, joins counted once),
    ``scratch_denoise_steps`` (those frames each rendered from its own noise) and ``tree``
    (``BlendTree.to_dict`` plus ``transitions``: per transition, its diffusion frames in
    order with position, level and injection step). Raises ``StudioError`` subclasses for bad
    specs, models or media, and ``RenderCancelled`` when ``cancel`` is set; ``events`` hears
    ``failed``/``cancelled`` before the error leaves. Frames already written when cancelled
    stay on disk as a playable file.

    Each finished transition is checkpointed (its video frames, and the trajectories the
    next transition reads: ``studio.media.checkpoint``); with ``resume``, a killed render of the
    same spec into the same ``out_dir`` goes on from its last finished transition and makes
    the same file an uninterrupted render makes. ``denoise_steps`` then counts every
    attempt's steps that made a frame, and ``extra["resume"]`` what this attempt did. The
    checkpoint is removed when the render ends.
    """
    events = events or NullEvents()
    cancel = cancel or CancelToken()
    clock = Clock()
    writer = checkpoint = None
    written = 0
    try:
        # 1. Plan; what an earlier, killed attempt finished.
        plan = plan_blend(spec)
        d, o = spec.diffusion, spec.output
        checkpoint = FrameCheckpoint.open(out_dir, name, spec, resume=resume)

        # 2. Model and a scheduler of this run's own (the cached pipeline is shared).
        loaded, scheduler = open_model(
            spec, plan.summary(), manager=manager, clock=clock, events=events
        )
        pipe, device = loaded.pipe, loaded.device

        # 3. Text embeddings, one encoder call per unique prompt.
        with clock.stage("text_encoder"):
            embeddings = _encode_texts(pipe, plan.unique_prompts, device)

        # An inpainting transition keeps the mask's black region on a reference.
        inpaint = None
        if spec.blend.inpaint_mask:
            inpaint = InpaintGuide.build(
                spec.blend.inpaint_mask,
                spec.blend.inpaint_image,
                pipe=pipe,
                scheduler=scheduler,
                steps=d.steps,
                width=d.width,
                height=d.height,
                device=device,
                dtype=loaded.dtype,
                seed=d.seed,
            )

        # An upscale stage: its own model, scheduler and embeddings; frames grow by its factor.
        upscale, width, height = None, d.width, d.height
        if spec.upscale.model:
            upscale = _upscale_stage(spec, plan, manager, clock, cancel)
            width, height = d.width * upscale.factor, d.height * upscale.factor

        # 4-5. Transitions, streamed one after the other.
        path = output_path(out_dir, name, o.format)
        out_dir.mkdir(parents=True, exist_ok=True)
        writer = open_writer(path, o.format, fps=o.fps, width=width, height=height)
        run = _Transitions(
            plan, pipe, loaded.dtype, device, scheduler, embeddings, clock, cancel, inpaint
        )
        realised, first = [], 0
        if checkpoint.state:  # resumed: the finished transitions' frames and what they carry
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
            events.progress(written, plan.video_frames, image)
        for t in range(first, plan.transitions):
            span = plan.joins[t + 1] - plan.joins[t]

            def computed(image, made, planned, done=written, span=span):
                # Each diffusion frame moves the count by its share of the transition's video
                # frames (short of all of them: those are counted as they are written).
                share = min(span - 1, made * span // planned)
                events.progress(done + share, plan.video_frames, image)

            frames = run.transition(t, computed)
            realised.append([f.to_dict() for f in frames])
            images = [f.image for f in frames] if upscale is None else upscale.transition(t, frames)
            with clock.stage("write"):
                for rank, num, den in segment_sources(
                    span, len(frames), last=t == plan.transitions - 1
                ):
                    image = images[rank]
                    if num:
                        image = _crossfade(image, images[rank + 1], num / den)
                    writer.write(image)
                    checkpoint.add_frame(image)
                    written += 1
                _commit(checkpoint, t + 1, realised, run, upscale)
            events.progress(written, plan.video_frames, image)

        # 6. Finish.
        with clock.stage("write"):
            output = writer.close()
        writer = None
        checkpoint.remove()
        events.output(output)
        made = sum(len(f) - 1 for f in realised) + 1
        denoise_steps = run.denoise_steps + (upscale.denoise_steps if upscale else 0)
        resumed = {"resume": checkpoint.resume_facts(denoise_steps)} if checkpoint.resumed else {}
        result = RenderResult(
            outputs=[output],
            frames=plan.video_frames,
            fps=float(o.fps),
            denoise_steps=denoise_steps,
            seconds=clock.total(),
            timings=clock.timings(),
            extra={
                "diffusion_frames": made,
                "scratch_denoise_steps": made * (d.steps + (spec.upscale.steps if upscale else 0)),
                "tree": {**plan.tree.to_dict(len(plan.prompts)), "transitions": realised},
                "upscale_denoise_steps": upscale.denoise_steps if upscale else 0,
                **resumed,
            },
        )
        events.finished(result)
        return result
    except BaseException as exc:
        stop_early(
            exc, writer=writer, frames_written=bool(written), checkpoint=checkpoint, events=events
        )
        raise


def _commit(checkpoint: FrameCheckpoint, transitions: int, realised, run, upscale) -> None:
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


class _Transitions:
    """Makes the diffusion frames of each transition; keeps the keyframe shared by two."""

    def __init__(
        self,
        plan: BlendPlan,
        pipe,
        dtype,
        device,
        scheduler,
        embeddings,
        clock,
        cancel,
        inpaint: InpaintGuide | None = None,
    ):
        spec = plan.spec
        self.plan, self.pipe, self.dtype, self.device = plan, pipe, dtype, device
        self.scheduler, self.clock, self.cancel = scheduler, clock, cancel
        self.blend = spec.blend
        self.steps = spec.diffusion.steps
        self.guidance = spec.diffusion.guidance
        self.guidance_stop = spec.diffusion.guidance_stop
        self.guided = self.guidance > 1.0
        self.cond = [embeddings[p] for p in plan.prompts]  # each (1, L, D)
        self.uncond = [embeddings[n] for n in plan.negatives] if self.guided else None
        self.mix = slerp if self.blend.embeddings == "slerp" else lerp
        self.distance = DISTANCES[self.blend.distance]
        self.inpaint = inpaint
        # Steps a later reader needs: children start at injection steps; crossfeed reads all,
        # and so does inpainting (the first keyframe may be the reference at every step).
        reads_all = self.blend.crossfeed_power > 0 or inpaint is not None
        self.keep: set[int] | None = None if reads_all else {*plan.tree.insertions(), self.steps}
        self.latent_shape = (
            1,
            pipe.unet.config.in_channels,
            spec.diffusion.height // pipe.vae_scale_factor,
            spec.diffusion.width // pipe.vae_scale_factor,
        )
        self.level_of = {lv.injection_step: i + 1 for i, lv in enumerate(plan.tree.levels)}
        self.denoise_steps = 0
        self.step_seconds = 0.0  # measured wall time per denoise step, decoding included
        self._seconds_spent = 0.0
        self._steps_timed = 0
        self._carried: _Frame | None = None  # the right keyframe of the last transition

    # -- checkpoints ---------------------------------------------------------------------

    def state(self) -> tuple[dict, dict]:
        """``(JSON-safe fields, tensors)`` that ``restore`` needs to go on after the last
        transition made: the carried right keyframe, the counters, the inpainting reference."""
        fields = {
            "denoise_steps": self.denoise_steps,
            "seconds_spent": self._seconds_spent,
            "steps_timed": self._steps_timed,
        }
        carried = self._carried
        tensors = {
            "trajectory": carried.trajectory,
            "image": torch.from_numpy(np.ascontiguousarray(carried.image)),
        }
        reference = None if self.inpaint is None else self.inpaint.reference
        if reference is not None:
            tensors["reference"] = {
                "trajectory": reference[0],
                "image": torch.from_numpy(np.ascontiguousarray(reference[1])),
            }
        return fields, tensors

    def restore(self, fields: dict, tensors: dict) -> None:
        """Take up the state ``state`` gave (its tensors on this run's device)."""
        self.denoise_steps = fields["denoise_steps"]
        self._seconds_spent = fields["seconds_spent"]
        self._steps_timed = fields["steps_timed"]
        self._measure(0.0, 0)
        trajectory = tensors["trajectory"]
        image = tensors["image"].cpu().numpy()
        self._carried = _Frame(1.0, 0, 0, trajectory, trajectory[self.steps], image, created=1)
        if "reference" in tensors:
            ref = tensors["reference"]
            self.inpaint.set_reference(ref["trajectory"], ref["image"].cpu().numpy())

    # -- one transition ------------------------------------------------------------------

    def transition(self, t: int, preview) -> list[_Frame]:
        """The diffusion frames of transition ``t`` in prompt order, keyframes included.

        ``preview(image, made, planned)`` hears each frame this call computes: ``made`` of
        the ``planned`` it will compute at most (a time budget may stop it sooner).
        """
        insertions = self.plan.tree.insertions()[: self.plan.in_betweens(t)]
        planned = len(insertions) + (1 if self._carried is not None else 2)
        made = 0
        if self._carried is None:
            left = self._keyframe(t)
            made += 1
            preview(left.image, made, planned)
        else:  # computed once, by the transition before, where it was the right end
            left = dataclasses.replace(self._carried, position=0.0, created=0)
        right = dataclasses.replace(self._keyframe(t + 1), position=1.0, created=1)
        made += 1
        preview(right.image, made, planned)
        frames = [left, right]
        adaptive = self.blend.insertion == "adaptive"
        gaps = [self._distance(left, right)] if adaptive else []
        budget = self.blend.budget_seconds
        start = time.perf_counter()
        for n, k in enumerate(insertions):
            if (
                budget
                and time.perf_counter() - start + (self.steps - k) * self.step_seconds > budget
            ):
                break
            if adaptive:
                i = int(np.argmax(gaps))
            else:
                widths = [b.position - a.position for a, b in zip(frames, frames[1:], strict=False)]
                i = int(np.argmax(widths))
            child = self._branch(t, n, frames[i], frames[i + 1], k)
            frames.insert(i + 1, child)
            if adaptive:
                gaps[i : i + 1] = [
                    self._distance(frames[i], child),
                    self._distance(child, frames[i + 2]),
                ]
            made += 1
            preview(child.image, made, planned)
        self._carried = right
        return frames

    def _keyframe(self, j: int) -> _Frame:
        """Keyframe ``j``: its full trajectory from its own seeded noise."""
        seed = self.plan.keyframe_seeds[j]
        # Drawn on the CPU so every device starts from the same noise.
        noise = torch.randn(self.latent_shape, generator=torch.Generator().manual_seed(seed))
        text = self._text(self.cond[j], self.uncond[j] if self.guided else None)
        # Without a reference image, the first keyframe is the reference: it runs unmasked.
        is_reference = self.inpaint is not None and self.inpaint.needs_reference and j == 0
        masked = self.inpaint is not None and not is_reference
        trajectory = self._run(
            noise.to(device=self.device, dtype=self.dtype),
            0,
            text,
            self.guidance,
            torch.Generator().manual_seed(seed),
            feed=None,
            masked=masked,
        )
        frame = self._finish(0.0, 0, 0, trajectory, masked=masked)
        if is_reference:
            self.inpaint.set_reference(trajectory, frame.image)
        return frame

    def _branch(self, t: int, n: int, a: _Frame, b: _Frame, k: int) -> _Frame:
        """A frame halfway between ``a`` and ``b`` in prompt position, branching at step ``k``."""
        position = (a.position + b.position) / 2
        w = (position - a.position) / (b.position - a.position)
        start = slerp(a.trajectory[k], b.trajectory[k], w)
        cond = self.mix(self.cond[t], self.cond[t + 1], position)
        uncond = self.mix(self.uncond[t], self.uncond[t + 1], position) if self.guided else None
        damp = self.blend.guidance_dampening * 4 * position * (1 - position)
        # A seed of its own per branch, for stochastic (ancestral) schedulers.
        seed = (self.plan.keyframe_seeds[t] * 1_000_003 + 7919 * (n + 1)) % 2**63
        feed = (a, b, w) if self.blend.crossfeed_power > 0 else None
        masked = self.inpaint is not None
        trajectory = self._run(
            start,
            k,
            self._text(cond, uncond),
            self.guidance * (1 - damp),
            torch.Generator().manual_seed(seed),
            feed=feed,
            masked=masked,
        )
        frame = self._finish(position, self.level_of[k], k, trajectory, masked=masked)
        return dataclasses.replace(frame, parents=(a, b), weight=w, created=n + 2)

    # -- denoising -----------------------------------------------------------------------

    def _text(self, cond: torch.Tensor, uncond: torch.Tensor | None) -> torch.Tensor:
        return cond if uncond is None else torch.cat([uncond, cond])

    def _run(self, x, start, text, guidance, generator, feed, masked) -> dict[int, torch.Tensor]:
        """Denoise ``x`` (entering step ``start``) to the end (``studio.pipeline.trajectory``).

        ``feed``: ``(parent_a, parent_b, w)`` for the parental crossfeed, or None.
        ``masked``: hold the inpainting mask's fixed region on the reference after each step.
        Returns the kept trajectory; counts one denoise step per step taken.
        """
        began = time.perf_counter()
        b = self.blend
        fed_steps = round(b.crossfeed_range * (self.steps - start)) if feed is not None else 0

        def after_step(i: int, x: torch.Tensor) -> torch.Tensor:
            own = i - start  # own steps taken so far
            if own <= fed_steps:
                a, c, w = feed
                pull = b.crossfeed_power * b.crossfeed_decay ** (own - 1)
                x = slerp(x, slerp(a.trajectory[i], c.trajectory[i], w), pull)
            if masked:
                x = self.inpaint.pull(x, i)
            return x

        trajectory = run_trajectory(
            self.pipe.unet,
            self.scheduler,
            self.steps,
            x,
            start,
            text,
            guidance,
            generator=generator,
            cancel=self.cancel,
            clock=self.clock,
            keep=self.keep,
            after_step=after_step if fed_steps or masked else None,
            guidance_stop=self.guidance_stop,
        )
        self.denoise_steps += self.steps - start
        self._measure(time.perf_counter() - began, self.steps - start)
        return trajectory

    def _finish(self, position, level, k, trajectory, masked) -> _Frame:
        began = time.perf_counter()
        latent = trajectory[self.steps]
        with self.clock.stage("vae"):
            image = decode(self.pipe, latent)[0]
        if masked:
            image = self.inpaint.composite(image)
        self._measure(time.perf_counter() - began, 0)
        return _Frame(position, level, k, trajectory, latent, image)

    def _distance(self, a: _Frame, b: _Frame) -> float:
        with self.clock.stage("distance"):
            return self.distance(a, b)

    def _measure(self, seconds: float, steps: int) -> None:
        # Decoding is charged to the steps around it, so a budget estimate includes it.
        self._seconds_spent += seconds
        self._steps_timed += steps
        if self._steps_timed:
            self.step_seconds = self._seconds_spent / self._steps_timed


def _upscale_stage(spec: BlendSpec, plan: BlendPlan, manager, clock, cancel) -> UpscaleStage:
    """Load the upscaler (like the main model, with its own pipeline class) and its stage."""
    u = spec.upscale
    with clock.stage("load"):
        options = dataclasses.replace(load_options(spec), pipeline="StableDiffusionUpscalePipeline")
        loaded = manager.load(u.model, options)
    scheduler = make_scheduler(loaded.pipe, u.scheduler)
    texts = dict.fromkeys(plan.prompts)
    if u.guidance > 1.0:
        texts.update(dict.fromkeys(plan.negatives))
    with clock.stage("text_encoder"):
        embeddings = _encode_texts(loaded.pipe, tuple(texts), loaded.device)
    return UpscaleStage(plan, loaded, scheduler, embeddings, clock, cancel)


def _crossfade(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """Pixel crossfade ``(1 - alpha) a + alpha b`` of two (H, W, 3) uint8 images."""
    mixed = (1.0 - alpha) * a.astype(np.float32) + alpha * b.astype(np.float32)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def _encode_texts(pipe, texts, device) -> dict[str, torch.Tensor]:
    """Embeddings (1, L, D) for each of ``texts``, through compel's weighting syntax."""
    from compel import Compel

    compel = Compel(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, device=str(device))
    embeddings = {}
    with torch.no_grad():
        for text in texts:
            try:
                embeddings[text] = compel(text).to(device)
            except Exception as exc:  # compel's parser raises its own assorted types
                raise SpecError(f"cannot read the prompt {text!r}: {exc}") from exc
    if len({e.shape for e in embeddings.values()}) > 1:
        # Long prompts split into chunks: pad so every keyframe mixes with every other.
        padded = compel.pad_conditioning_tensors_to_same_length(list(embeddings.values()))
        embeddings = dict(zip(embeddings, padded, strict=True))
    return embeddings
