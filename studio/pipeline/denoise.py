"""The one denoising loop every render kind runs, with classifier-free guidance.

``denoise`` steps a batch of latents through a copy of the run's scheduler, from the start
of the schedule or from part-way through it:

- text-to-image (``start == 0``, no ``init``): the noise is scaled by the scheduler's initial
  sigma and every step runs;
- img2img (``init`` given): the scheduler adds the noise to the clean ``init`` latents for
  the step the loop begins at (``start`` of ``steps``), as diffusers' img2img pipelines do;
- a branch (``start > 0``, no ``init``): the latents already are what enters step ``start``
  (a blend tree's in-between frame, an upscaler's branch). The loop runs from index
  ``start`` (``set_begin_index`` where the scheduler has one): DDIM and Euler step
  statelessly from there; DPM-Solver++ and UniPC restart their multistep history at first
  order, as an img2img start would.

Guidance is skipped for steps whose timestep lies under ``guidance_stop`` of the noise
schedule (``unguided_below``). InstructPix2Pix's three-way guidance (prompt, picture,
neither) is the same step with a third batch of rows (``guided_noise``). A hook may change
the latents after every step (a blend's crossfeed and inpainting); the steps a caller asks
for are kept (a blend tree's trajectory).
The loop checks ``cancel`` before every step and times the UNet under the clock's ``unet``
(a compiled UNet's first call with each new input shape, its compile, under ``compile``).

Fast mode (``reuse``, ``studio.pipeline.gpu.reuses_step``): the middle steps take turns
reusing the noise prediction of the step before instead of calling the UNet; the scheduler
still takes every step, so ``steps`` counts are unchanged and ``unet_calls`` falls. For
DDIM (deterministic) reusing the noise prediction is reusing the predicted clean latents.

Text conditioning is ``TextStates`` (hidden states, and SDXL's pooled embedding); ``extras``
add keyword arguments to every UNet call (SDXL's time ids, ControlNet residuals), so a model
family with more inputs plugs in here without a loop of its own
(``studio.pipeline.conditioning``).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from studio.errors import SpecError
from studio.pipeline.conditioning import TextStates, UNetExtra, as_text, extra_kwargs
from studio.pipeline.gpu import first_call, reuses_step
from studio.pipeline.memory import is_out_of_memory, out_of_memory

if TYPE_CHECKING:
    from studio.events import CancelToken
    from studio.pipeline.common import Clock
    from studio.pipeline.schedulers import Scheduler

__all__ = ["Denoised", "denoise", "guided_noise", "one_timestep_per_step", "unguided_below"]


@dataclass
class Denoised:
    """What one run of the loop gives back."""

    latents: torch.Tensor  # the final latents, (B, C, h, w)
    steps: int  # scheduler steps taken (per latent of the batch)
    trajectory: dict[int, torch.Tensor]  # step index -> latents entering it (see ``keep``)
    unet_calls: int = 0  # UNet calls made (a guided step's 2B rows are one call)


def unguided_below(scheduler: Scheduler, guidance_stop: float) -> float:
    """The timestep under which steps skip guidance: ``guidance_stop`` of the noise schedule."""
    return guidance_stop * scheduler.config.get("num_train_timesteps", 1000)


def guided_noise(
    call: Callable[[torch.Tensor, torch.Tensor, TextStates], torch.Tensor],
    x: torch.Tensor,
    t: torch.Tensor,
    text: TextStates,
    guidance: float,
    below: float = 0.0,
    image_guidance: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """The noise prediction for latents ``x`` (B, C, h, w) at timestep ``t``.

    ``text`` is (B, L, D), or (2B, L, D) ``[uncond; cond]`` for classifier-free guidance at
    ``guidance``. ``call(model_in, t, states)`` runs the UNet on a batch of latents and
    their text states. A step whose ``t`` is under ``below`` (``unguided_below``) is not guided:
    the cond rows alone, one UNet batch of B instead of 2B.

    Three-way guidance (InstructPix2Pix, ``studio.pipeline.edit``): ``text`` of 3B rows
    ``[uncond; image; cond]`` (the UNet's image channels, batched the same way, are zeros in
    the first B rows) and ``image_guidance`` (a number, or one per latent, (B, 1, 1, 1)):
    ``uncond + guidance * (cond - image) + image_guidance * (image - uncond)``.
    """
    n = x.shape[0]
    if text.rows == 3 * n and image_guidance is not None:
        if t < below:
            return call(x, t, text[2 * n :])
        eps_uncond, eps_image, eps_text = call(torch.cat([x, x, x]), t, text).chunk(3)
        return (
            eps_uncond
            + guidance * (eps_text - eps_image)
            + image_guidance * (eps_image - eps_uncond)
        )
    if text.rows != 2 * n:
        return call(x, t, text)
    if t < below:
        return call(x, t, text[n:])
    eps_uncond, eps_text = call(torch.cat([x, x]), t, text).chunk(2)
    return eps_uncond + guidance * (eps_text - eps_uncond)


def one_timestep_per_step(scheduler: Scheduler, steps: int) -> None:
    """Refuse a scheduler that makes other than ``steps`` timesteps for ``steps`` steps.

    A blend tree names the latents entering each step, so a step must be one timestep
    (PNDM and Heun make more). Raises ``SpecError`` naming the scheduler.
    """
    probe = copy.deepcopy(scheduler)
    probe.set_timesteps(steps)
    if len(probe.timesteps) != steps:
        raise SpecError(
            f"scheduler {type(probe).__name__} makes {len(probe.timesteps)} "
            f"timesteps for {steps} steps; blending needs one per step"
        )


def denoise(
    unet: torch.nn.Module,  # a diffusers UNet2DConditionModel: the pipeline's or an upscaler's
    scheduler: Scheduler,
    steps: int,
    x: torch.Tensor,
    text: TextStates | torch.Tensor,
    guidance: float,
    *,
    cancel: CancelToken,
    clock: Clock,
    start: int = 0,
    init: torch.Tensor | None = None,
    guidance_stop: float = 0.0,
    generator: torch.Generator | list[torch.Generator] | None = None,
    after_step: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
    keep: Collection[int] = (),
    image: torch.Tensor | None = None,
    class_labels: torch.Tensor | None = None,
    extras: Sequence[UNetExtra] = (),
    image_guidance: float | torch.Tensor | None = None,
    reuse: bool = False,
    watch: Callable[[torch.Tensor], None] | None = None,
) -> Denoised:
    """Denoise ``x`` (B, C, h, w) from step ``start`` of a ``steps``-step schedule to the end.

    ``scheduler`` is the run's own and is not changed: the loop steps a copy. ``text``:
    ``TextStates`` (or a bare hidden-states tensor) of B rows, or 2B ``[uncond; cond]`` for classifier-free guidance at ``guidance``,
    skipped in the last ``guidance_stop`` of the noise schedule (``guided_noise``).
    ``init``: clean latents (B, C, h, w) that ``x``, then the noise, is added to for step
    ``start`` (img2img). ``generator`` (one, or one per latent of the batch) goes to a scheduler step that
    draws noise (ancestral schedulers), when given. ``after_step(i, x)`` may change the latents entering step ``i``
    (``i == steps``: the final ones). ``image``/``class_labels``: an upscaler's extra input,
    concatenated to the latents along channels (batched like ``text``), and its noise level.
    ``extras``: keyword arguments for every UNet call (``studio.pipeline.conditioning``).
    ``image``, 3B rows of ``text`` and ``image_guidance``: an InstructPix2Pix model's picture
    and its three-way guidance (``guided_noise``; an inpainting model's mask and masked
    picture are ``image`` too: ``studio.pipeline.edit``). ``reuse``: fast mode (module
    docstring); the loop's first step always calls the UNet.
    ``watch(x0)`` sees, after every step, the scheduler's prediction of the clean latents
    (the latents themselves where the scheduler gives none): a live preview reads it and
    changes nothing.

    Returns the final latents, the steps taken (one latent through one scheduler step:
    ``steps - start`` for one-timestep schedulers) and the trajectory: the latents entering
    step ``start`` and each step index in ``keep``. Raises ``RenderCancelled`` between steps
    when ``cancel`` is set.
    """
    scheduler = copy.deepcopy(scheduler)
    scheduler.set_timesteps(steps, device=x.device)
    first = start * scheduler.order
    timesteps = scheduler.timesteps[first:]
    if init is None and start == 0:
        x = x * scheduler.init_noise_sigma
    else:
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(first)
        if init is not None:
            x = scheduler.add_noise(init, x, timesteps[:1].repeat(init.shape[0]))
    step_options = (
        {"generator": generator}
        if generator is not None and "generator" in inspect.signature(scheduler.step).parameters
        else {}
    )
    below = unguided_below(scheduler, guidance_stop)
    text = as_text(text)
    reuse = reuse and scheduler.order == 1  # Heun's second timestep per step must be its own

    calls = 0

    def call(latents: torch.Tensor, t: torch.Tensor, rows_text: TextStates) -> torch.Tensor:
        nonlocal calls
        calls += 1
        rows = latents.shape[0]  # the last rows of image and labels go with the cond
        compiling = first_call(unet, (tuple(latents.shape), tuple(rows_text.states.shape)))
        with clock.stage("compile" if compiling else "unet"):
            kwargs = extra_kwargs(extras, latents, t, rows_text)
            model_in = latents if image is None else torch.cat([latents, image[-rows:]], dim=1)
            labels = None if class_labels is None else class_labels[-rows:]
            try:
                return unet(
                    model_in,
                    t,
                    encoder_hidden_states=rows_text.states,
                    class_labels=labels,
                    **kwargs,
                ).sample
            except RuntimeError as exc:  # torch.OutOfMemoryError is one
                if is_out_of_memory(exc):
                    raise out_of_memory("a UNet call", model_in) from exc
                raise

    trajectory = {start: x}
    taken = 0
    eps = None
    with torch.no_grad():
        for t in timesteps:
            cancel.raise_if_cancelled()
            if eps is None or not (reuse and reuses_step(start + taken, steps)):
                model_in = scheduler.scale_model_input(x, t)
                eps = guided_noise(call, model_in, t, text, guidance, below, image_guidance)
            stepped = scheduler.step(eps, t, x, **step_options)
            x = stepped.prev_sample
            taken += 1
            if watch is not None:
                clean = getattr(stepped, "pred_original_sample", None)
                watch(x if clean is None else clean)
            i = start + taken
            if after_step is not None:
                x = after_step(i, x)
            if i in keep:
                trajectory[i] = x
    return Denoised(latents=x, steps=taken, trajectory=trajectory, unet_calls=calls)
