"""One diffusion trajectory that may start part-way through its schedule (for blend trees).

``run_trajectory`` denoises a latent that enters step ``start`` of an ``steps``-step schedule
down to the end, on a fresh copy of a scheduler template, and returns the latents it passed
through. Starting at ``start > 0`` calls ``set_timesteps(steps)`` and runs the loop from index
``start`` (``set_begin_index`` where the scheduler has one): DDIM and Euler step statelessly
from there; DPM-Solver++ and UniPC restart their multistep history at first order, as an
img2img start would. Schedulers that make other than one timestep per step (PNDM, Heun) are
refused.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable

import torch

from studio.errors import SpecError
from studio.pipeline.common import guided_noise, unguided_below

__all__ = ["run_trajectory"]


def run_trajectory(
    unet,
    template,
    steps: int,
    x: torch.Tensor,
    start: int,
    text: torch.Tensor,
    guidance: float,
    *,
    generator: torch.Generator,
    cancel,
    clock,
    keep: set[int] | None = None,
    after_step: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
    image: torch.Tensor | None = None,
    class_labels: torch.Tensor | None = None,
    guidance_stop: float = 0.0,
) -> dict[int, torch.Tensor]:
    """Denoise ``x`` (1, C, h, w), entering step ``start``, to the end of the schedule.

    ``text``: (1, L, D), or (2, L, D) ``[uncond, cond]`` for classifier-free guidance at
    ``guidance``, skipped in the last ``guidance_stop`` of the noise schedule (see
    ``studio.pipeline.common.guided_noise``). ``image``/``class_labels``: an upscaler's extra
    input, concatenated to the latents along channels (batched like ``text``), and its noise
    level. ``after_step(i, x)``
    may change the latent that enters step ``i`` (crossfeed, inpainting). ``start == 0``
    scales ``x`` by the scheduler's initial noise sigma first.

    Returns ``{i: latent entering step i}`` for ``i`` in ``start`` and the steps in ``keep``
    (all when None; ``steps`` is the final latent). Every step taken is one denoise step:
    ``steps - start`` of them. Raises ``RenderCancelled`` between steps when ``cancel`` is set.
    """
    scheduler = copy.deepcopy(template)
    device = x.device
    scheduler.set_timesteps(steps, device=device)
    if len(scheduler.timesteps) != steps:
        raise SpecError(
            f"scheduler {type(scheduler).__name__} makes {len(scheduler.timesteps)} "
            f"timesteps for {steps} steps; blending needs one per step"
        )
    if start == 0:
        x = x * scheduler.init_noise_sigma
    elif hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(start)
    kwargs = (
        {"generator": generator}
        if "generator" in inspect.signature(scheduler.step).parameters
        else {}
    )
    below = unguided_below(scheduler, guidance_stop)

    def call(model_in, t, states):
        rows = model_in.shape[0]  # the last rows of image and labels go with the cond
        if image is not None:
            model_in = torch.cat([model_in, image[-rows:]], dim=1)
        labels = None if class_labels is None else class_labels[-rows:]
        with clock.stage("unet"):
            return unet(model_in, t, encoder_hidden_states=states, class_labels=labels).sample

    trajectory = {start: x}
    with torch.no_grad():
        for i in range(start, steps):
            cancel.raise_if_cancelled()
            t = scheduler.timesteps[i]
            eps = guided_noise(call, scheduler.scale_model_input(x, t), t, text, guidance, below)
            x = scheduler.step(eps, t, x, **kwargs).prev_sample
            if after_step is not None:
                x = after_step(i + 1, x)
            if keep is None or i + 1 in keep:
                trajectory[i + 1] = x
    return trajectory
