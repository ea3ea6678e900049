"""The render core in studio.pipeline: one denoising loop, prompt encoding, seeded latents."""

from __future__ import annotations

import pytest
import torch

from studio.errors import ScheduleError, SpecError
from studio.events import CancelToken
from studio.pipeline.common import Clock
from studio.pipeline.denoise import denoise, one_timestep_per_step
from studio.pipeline.latents import branch_seed, frame_seed, latent_shape, seeded_noise
from studio.pipeline.schedulers import BLEND_SCHEDULER_NAMES, SCHEDULER_NAMES, make_scheduler
from studio.pipeline.text import encode_prompts, unique_texts, with_negative
from studio.spec import BLEND_SCHEDULERS, SCHEDULERS

STEPS = 5


@pytest.fixture(scope="module")
def tiny(manager):
    loaded = manager.load("builtin:tiny")
    shape = latent_shape(loaded.pipe, 64, 64)
    noise = seeded_noise(shape, [3], loaded.device, loaded.dtype)
    text = encode_prompts(loaded.pipe, ["a red circle"], loaded.device)["a red circle"]
    return loaded.pipe, noise, text


def _run(pipe, scheduler, x, text, **options):
    return denoise(
        pipe.unet, scheduler, STEPS, x, text, 3.0, cancel=CancelToken(), clock=Clock(), **options
    )


def test_the_spec_offers_the_names_of_the_one_scheduler_table():
    assert SCHEDULERS == SCHEDULER_NAMES and BLEND_SCHEDULERS == BLEND_SCHEDULER_NAMES
    assert set(BLEND_SCHEDULER_NAMES) <= set(SCHEDULER_NAMES)


def test_a_branch_from_a_kept_step_ends_where_the_whole_trajectory_ends(tiny):
    pipe, noise, text = tiny
    scheduler = make_scheduler(pipe, "ddim")
    whole = _run(pipe, scheduler, noise, text, keep=set(range(STEPS + 1)))
    assert whole.steps == STEPS and sorted(whole.trajectory) == list(range(STEPS + 1))
    assert torch.equal(whole.trajectory[STEPS], whole.latents)
    branch = _run(pipe, scheduler, whole.trajectory[2], text, start=2, keep={STEPS})
    assert branch.steps == STEPS - 2
    assert torch.equal(branch.latents, whole.latents)  # DDIM steps statelessly
    assert scheduler.num_inference_steps is None  # the run's scheduler is only copied


def test_guidance_stopped_everywhere_is_the_unguided_prediction(tiny):
    pipe, noise, text = tiny
    scheduler = make_scheduler(pipe, "euler")
    negative = encode_prompts(pipe, [""], noise.device)[""]
    stopped = _run(pipe, scheduler, noise, with_negative(text, negative), guidance_stop=1.0)
    plain = _run(pipe, scheduler, noise, text)
    assert torch.equal(stopped.latents, plain.latents)
    guided = _run(pipe, scheduler, noise, with_negative(text, negative))
    assert not torch.equal(guided.latents, plain.latents)


def test_img2img_noises_its_init_to_the_start_step_and_runs_the_rest(tiny):
    pipe, noise, text = tiny
    scheduler = make_scheduler(pipe, "ddim")
    init = torch.zeros_like(noise)
    late = _run(pipe, scheduler, noise, text, start=STEPS - 1, init=init)
    assert late.steps == 1
    probe = make_scheduler(pipe, "ddim")
    probe.set_timesteps(STEPS)
    t = probe.timesteps[STEPS - 1 : STEPS]
    assert torch.equal(late.trajectory[STEPS - 1], probe.add_noise(init, noise, t))


def test_the_loop_stops_between_steps_when_cancelled(tiny):
    from studio.errors import RenderCancelled

    pipe, noise, text = tiny
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(RenderCancelled):
        scheduler = make_scheduler(pipe, "ddim")
        denoise(pipe.unet, scheduler, STEPS, noise, text, 1.0, cancel=cancel, clock=Clock())


def test_a_tree_refuses_a_scheduler_with_more_than_one_timestep_per_step(tiny):
    pipe, _, _ = tiny
    one_timestep_per_step(make_scheduler(pipe, "dpm++"), STEPS)
    with pytest.raises(SpecError, match="HeunDiscreteScheduler makes 9 timesteps for 5 steps"):
        one_timestep_per_step(make_scheduler(pipe, "heun"), STEPS)


def test_each_unique_prompt_is_encoded_once_and_a_bad_one_is_named(tiny):
    pipe, _, _ = tiny
    texts = unique_texts(["a", "b", "a"], ["n", "n", "n"], guidance=3.0)
    assert texts == ("a", "b", "n")
    assert unique_texts(["a"], ["n"], guidance=1.0) == ("a",)
    assert list(encode_prompts(pipe, ["a", "b", "a"], "cpu")) == ["a", "b"]
    bad = "(a, b).blend(1)"  # two prompts, one weight
    with pytest.raises(SpecError, match="cannot read the prompt '\\(a, b\\).blend\\(1\\)'"):
        encode_prompts(pipe, [bad], "cpu")
    with pytest.raises(ScheduleError, match="mismatched prompts/weights") as caught:
        encode_prompts(pipe, ["a", bad], "cpu", lines={"a": 1, bad: 4})
    assert caught.value.line == 4


def test_seeded_noise_does_not_depend_on_how_keyframes_are_batched():
    both = seeded_noise((4, 8, 8), [1, 2], "cpu", torch.float32)
    assert torch.equal(both[1:], seeded_noise((4, 8, 8), [2], "cpu", torch.float32))
    assert not torch.equal(both[0], both[1])


def test_seed_formulas_are_fixed():
    # Recorded renders depend on these numbers; changing them changes every output.
    assert branch_seed(11, 0) == 11 * 1_000_003 + 7919
    assert branch_seed(11, 0, stage=1) == branch_seed(11, 1)
    assert frame_seed(11, 0) == 11 + 0x9E3779B9
    assert 0 <= branch_seed(2**62, 5) < 2**63
