"""Keyframed prompt animation: the render entry point for ``AnimationSpec``.

``render_animation`` reads as the steps of the data flow in DESIGN.md:

1. check the spec and plan every frame;
2. load the model and build this run's own scheduler;
3. encode each unique prompt once (compel weighting syntax);
4. draw one seeded initial latent per keyframe;
5. for each batch of frames: slerp latents, slerp/lerp embeddings, denoise, decode;
6. stream each frame to the writer and report progress; finish the file.

Frames never pile up in memory: a batch is decoded, written and dropped.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import torch

from studio.errors import RenderCancelled, ScheduleError
from studio.events import CancelToken, NullEvents, RenderEvents, RenderResult
from studio.interpolate import lerp, slerp
from studio.models import LoadOptions, ModelManager, make_scheduler
from studio.plan import AnimationPlan, plan_animation
from studio.spec import AnimationSpec
from studio.versions import library_versions
from studio.writers import open_writer

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
) -> RenderResult:
    """Render ``spec`` into ``out_dir`` and return what was made.

    Raises ``StudioError`` subclasses for bad specs, models or media, and ``RenderCancelled``
    when ``cancel`` is set. ``events`` hears ``failed``/``cancelled`` before the error leaves.
    """
    events = events or NullEvents()
    cancel = cancel or CancelToken()
    clock = _Clock()
    writer = None
    done = 0
    try:
        # 1. Plan.
        plan = plan_animation(spec)
        d, anim = spec.diffusion, spec.animation

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

        # 5-6. Batches: interpolate, denoise, decode, stream.
        path = output_path(out_dir, name, spec.output.format)
        out_dir.mkdir(parents=True, exist_ok=True)
        writer = open_writer(path, spec.output.format, fps=anim.fps, width=d.width, height=d.height)
        embed_mix = slerp if anim.interpolation == "slerp" else lerp
        last_key = len(plan.schedule.keyframes) - 1
        denoise_steps = 0
        for batch in plan.batches:
            cancel.raise_if_cancelled()
            idx = torch.tensor(list(batch))
            seg = torch.from_numpy(plan.weights.segment[idx.numpy()])
            nxt = torch.clamp(seg + 1, max=last_key)
            w = torch.from_numpy(plan.weights.weight[idx.numpy()]).to(device)
            latents = slerp(noise[seg], noise[nxt], w)
            text = embed_mix(cond[seg], cond[nxt], w.to(cond.device))
            if guided:
                text = torch.cat([embed_mix(uncond[seg], uncond[nxt], w.to(cond.device)), text])
            latents, steps = _denoise(
                pipe, scheduler, latents, text, d.guidance, d.steps, cancel, clock
            )
            denoise_steps += steps * len(batch)
            with clock.stage("vae"):
                images = _decode(pipe, latents)
            with clock.stage("write"):
                for image in images:
                    writer.write(image)
            done += len(batch)
            events.progress(done, plan.frames, images[-1])
        with clock.stage("write"):
            output = writer.close()
        writer = None
        events.output(output)
        result = RenderResult(
            outputs=[output],
            frames=plan.frames,
            fps=float(anim.fps),
            denoise_steps=denoise_steps,
            seconds=clock.total(),
            timings=clock.timings(),
        )
        events.finished(result)
        return result
    except RenderCancelled:
        if writer is not None and done:
            # The frames already made are work the user paid for: keep them, playable.
            events.output(writer.close())
        elif writer is not None:
            writer.abort()
        events.cancelled()
        raise
    except BaseException as exc:
        if writer is not None:
            writer.abort()
        events.failed(exc)
        raise


def open_model(spec, summary: dict, *, manager: ModelManager, clock, events):
    """Load ``spec``'s model, build this run's own scheduler and report ``started``.

    Shared by every render kind; returns ``(LoadedModel, scheduler)``.
    """
    d = spec.diffusion
    with clock.stage("load"):
        loaded = manager.load(d.model, _load_options(spec))
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


def _load_options(spec) -> LoadOptions:
    d = spec.diffusion
    return LoadOptions(
        device=d.device,
        dtype=d.dtype,
        attention_slicing=d.attention_slicing,
        vae_slicing=d.vae_slicing,
        vae_tiling=d.vae_tiling,
        cpu_offload=d.cpu_offload,
    )


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


def _denoise(pipe, scheduler, latents, text, guidance, steps, cancel, clock):
    """Run the scheduler's loop over a batch; returns the latents and the steps taken."""
    scheduler.set_timesteps(steps, device=latents.device)
    latents = latents * scheduler.init_noise_sigma
    guided = text.shape[0] == 2 * latents.shape[0]
    taken = 0
    with torch.no_grad():
        for t in scheduler.timesteps:
            cancel.raise_if_cancelled()
            model_in = torch.cat([latents, latents]) if guided else latents
            model_in = scheduler.scale_model_input(model_in, t)
            with clock.stage("unet"):
                eps = pipe.unet(model_in, t, encoder_hidden_states=text).sample
            if guided:
                eps_uncond, eps_text = eps.chunk(2)
                eps = eps_uncond + guidance * (eps_text - eps_uncond)
            latents = scheduler.step(eps, t, latents).prev_sample
            taken += 1
    return latents, taken


def _decode(pipe, latents) -> list:
    """Latents (B, C, h, w) -> list of B frames (H, W, 3) uint8 on the CPU."""
    with torch.no_grad():
        images = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    images = ((images.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return list(images.permute(0, 2, 3, 1).cpu().numpy())


class _Clock:
    """Wall time per stage; on CUDA it waits for the GPU so a stage owns its own work."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stages: dict[str, float] = {}
        self.device = None

    @contextmanager
    def stage(self, name: str):
        begin = time.perf_counter()
        try:
            yield
        finally:
            if self.device is not None and self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - begin

    def total(self) -> float:
        return time.perf_counter() - self.start

    def timings(self) -> dict[str, float]:
        total = self.total()
        timings = dict(self.stages)
        timings["total"] = total
        timings["other"] = total - sum(self.stages.values())
        return timings
