"""The upscale stage's machinery, shared by the render kinds: an upscaler loaded for one
render, and one frame (or one branch of a frame) through it.

An upscaler pipeline (``StableDiffusionUpscalePipeline``: a UNet that takes the latents
concatenated with a noised low-resolution image, and the noise level as class label)
renders a low-resolution frame again at ``factor`` (its VAE's scale factor, 4 for the x4
upscaler) times the size, conditioned on the frame and on its text. What differs between
the kinds is where each frame's upscaler latents start: a blend follows its transitions'
tree (``studio.blend.upscale``), an animation slerps its keyframes' seeded noise as its
frames do (``studio.animation.upscale``). What they share lives here:

- loading (``open_upscaler``): through the model manager with the upscaler's pipeline class,
  the drawing model's device, dtype and memory options; a model that is no upscaler is
  refused in one line; the texts are encoded once, with the upscaler's own text encoder;
- every frame's low-resolution image gets the same noise at ``noise_level``, seeded by the
  spec's seed, so the conditioning differs between frames only where the images do;
- the loop is the one of ``studio.pipeline.denoise``, with the image and the noise level as
  the UNet's extra inputs; decoding is one frame at a time (the frames are large).

How much an upscaler enlarges is read from its configs before a render, for the checks that
run then (``studio.pipeline.families.upscale_factor``).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch

from studio.errors import ModelLoadError
from studio.pipeline.common import load_options
from studio.pipeline.denoise import Denoised, denoise, one_timestep_per_step
from studio.pipeline.latents import decode, latent_shape
from studio.pipeline.schedulers import make_scheduler
from studio.pipeline.text import encode_prompts, unique_texts

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from studio.events import CancelToken
    from studio.pipeline.common import Clock
    from studio.pipeline.conditioning import TextStates
    from studio.pipeline.models import LoadedModel, LoadOptions, ModelManager
    from studio.pipeline.schedulers import Scheduler
    from studio.spec import Spec
    from studio.spec.upscale import UpscaleSettings

__all__ = ["Upscaler", "open_spec_upscaler", "open_upscaler"]


class Upscaler:
    """An upscaler ready for the frames of one render (``width`` x ``height`` before it).

    Attributes: ``pipe``, ``device``, ``dtype`` (the loaded upscaler's), ``scheduler`` (this
    render's own), ``steps``, ``guidance``, ``guided`` (guidance above 1: texts come in
    ``[uncond; cond]`` pairs), ``embeddings`` (text -> ``TextStates`` from the upscaler's
    encoder), ``factor`` and ``latent_shape`` (C, h, w) of an upscaled frame's latents.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        settings: UpscaleSettings,
        scheduler: Scheduler,
        embeddings: dict[str, TextStates],
        *,
        width: int,
        height: int,
        seed: int,
        clock: Clock,
        cancel: CancelToken,
    ) -> None:
        self.pipe, self.device, self.dtype = loaded.pipe, loaded.device, loaded.dtype
        self.scheduler = scheduler
        self.steps = settings.steps
        self.guidance = settings.guidance
        self.guided = settings.guidance > 1.0
        self.embeddings = embeddings
        self.clock, self.cancel = clock, cancel
        self.factor = self.pipe.vae_scale_factor
        # The upscaler's latents are the size of a low-resolution frame.
        self.latent_shape = latent_shape(self.pipe, width * self.factor, height * self.factor)
        one_timestep_per_step(scheduler, self.steps)
        # A copy: add_noise moves the scheduler's tables to the device, and the pipeline's
        # own components are shared.
        self._low_res = copy.deepcopy(self.pipe.low_res_scheduler)
        noise = torch.randn((1, 3, height, width), generator=torch.Generator().manual_seed(seed))
        self._noise = noise.to(device=self.device, dtype=self.dtype)
        self._level = torch.tensor([settings.noise_level], dtype=torch.long, device=self.device)

    def denoise(
        self,
        x: torch.Tensor,
        text: TextStates,
        image: np.ndarray,
        *,
        guidance: float,
        seed: int,
        start: int = 0,
        keep: Collection[int] = (),
    ) -> Denoised:
        """One frame's upscaler latents ``x`` (1, C, h, w), entering step ``start``, through
        the rest of the upscaler's steps, conditioned on ``text`` (with its negative when
        guided) and on the low-resolution ``image`` (H, W, 3) uint8. ``seed``: of the noise an
        ancestral scheduler draws. Takes ``steps - start`` denoise steps."""
        condition = self._condition(image)
        return denoise(
            self.pipe.unet,
            self.scheduler,
            self.steps,
            x,
            text,
            guidance,
            cancel=self.cancel,
            clock=self.clock,
            start=start,
            generator=torch.Generator().manual_seed(seed),
            keep=keep,
            image=condition,
            class_labels=self._level.repeat(condition.shape[0]),
        )

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """One frame's final upscaler latents -> its (H * factor, W * factor, 3) uint8 image."""
        with self.clock.stage("vae"):
            return decode(self.pipe, latents, self.clock)[0]

    def _condition(self, image: np.ndarray) -> torch.Tensor:
        """A low-resolution frame as the upscaler's extra input: [-1, 1], noised, batched."""
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        pixels = pixels.to(device=self.device, dtype=self.dtype)
        noised = self._low_res.add_noise(pixels, self._noise, self._level)
        return torch.cat([noised, noised]) if self.guided else noised


def open_upscaler(
    settings: UpscaleSettings,
    options: LoadOptions,
    texts: Sequence[str],
    *,
    manager: ModelManager,
    width: int,
    height: int,
    seed: int,
    clock: Clock,
    cancel: CancelToken,
) -> Upscaler:
    """Load ``settings.model`` as an upscaler, with the drawing model's ``options`` (device,
    dtype, memory savers; not its files: variant, revision and custom code are its own), a
    scheduler of this render's own, and ``texts`` encoded once by its text encoder.

    Raises ``ModelLoadError`` when the model cannot load or is no upscaler (its UNet takes
    no low-resolution image), naming it and what to give instead.
    """
    with clock.stage("load"):
        options = dataclasses.replace(
            options,
            pipeline="StableDiffusionUpscalePipeline",
            variant="",
            revision="",
            custom_pipeline="",
        )
        loaded = manager.load(settings.model, options)
    pipe = loaded.pipe
    channels = pipe.unet.config.in_channels
    if getattr(pipe, "low_res_scheduler", None) is None or channels != (
        pipe.vae.config.latent_channels + 3
    ):
        raise ModelLoadError(
            f"upscale model {settings.model} is not an upscaler (its UNet takes {channels} "
            "channels, an upscaler's takes the latents and the low-resolution image); give "
            "one such as stabilityai/stable-diffusion-x4-upscaler"
        )
    scheduler = make_scheduler(pipe, settings.scheduler)
    with clock.stage("text_encoder"):
        embeddings = encode_prompts(pipe, list(texts), loaded.device)
    return Upscaler(
        loaded,
        settings,
        scheduler,
        embeddings,
        width=width,
        height=height,
        seed=seed,
        clock=clock,
        cancel=cancel,
    )


def open_spec_upscaler(
    spec: Spec,
    prompts: Sequence[str],
    negatives: Sequence[str],
    *,
    manager: ModelManager,
    clock: Clock,
    cancel: CancelToken,
) -> Upscaler:
    """``open_upscaler`` for a render kind's ``spec`` (its ``upscale`` group, the drawing
    model's loading options, size and seed) and the texts of its keyframes' ``prompts`` and
    ``negatives`` (the negatives only with upscale guidance)."""
    d, u = spec.diffusion, spec.upscale
    return open_upscaler(
        u,
        load_options(spec),
        unique_texts(prompts, negatives, u.guidance),
        manager=manager,
        width=d.width,
        height=d.height,
        seed=d.seed,
        clock=clock,
        cancel=cancel,
    )
