"""training.shapes: a seconds-long run writes a folder the studio renders from, the options
are the ones that made the shipped weights, and the parts that make position words work do
what they claim."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.pipeline.vocab import build_tokenizer
from training.shapes import batches, budget, config, text, unet
from training.shapes.config import MAX_TOKENS, TrainConfig
from training.shapes.dataset import COLOURS, Scene, draw
from training.shapes.train import parse_config

ROOT = Path(__file__).resolve().parents[2]


def run_training(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "training.shapes.train", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def tiny_cache(rng: np.random.Generator, n: int, share: float):
    """Scenes and stand-in 'latents' (pixels pooled to 16x16x4), without a VAE."""
    pairs, pixels = batches.mixed_batch(rng, n, share)
    latents = torch.nn.functional.avg_pool2d(pixels, 8).repeat(1, 2, 1, 1)[:, :4]
    return pairs, latents


def test_the_config_defaults_are_the_shipped_runs_settings():
    # studio/weights/shapes/training.json records every option of the run that made the
    # shipped weights (v7); those it did not set on its command line are today's defaults.
    shipped = json.loads((config.SHIPPED_WEIGHTS / "training.json").read_text())["args"]
    set_on_v7_command_line = {"out", "minutes", "seed", "unet_steps", "uncond", "mix_share"}
    set_on_v7_command_line |= {"unet_from", "vae_from"}
    defaults = TrainConfig().record()
    assert set(defaults) <= set(shipped), set(defaults) - set(shipped)
    assert {
        name: (value, shipped[name])
        for name, value in defaults.items()
        if name not in set_on_v7_command_line and shipped[name] != value
    } == {}


def test_the_command_line_is_the_config_with_dashes():
    parsed = parse_config(["--mix-share", "0.3", "--unet-steps", "6000", "--no-self-check"])
    assert parsed == dataclasses.replace(
        TrainConfig(), mix_share=0.3, unet_steps=6000, self_check=False
    )
    assert parse_config([]) == TrainConfig()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--unet-from", "no-such-folder"), "not a folder training.shapes.train wrote"),
        (("--unet-from", "studio/weights/shapes/unet"), "not a folder training.shapes.train"),
        (("--vae-from", "no-such-folder"), "vae_from"),
        (("--uncond", "1"), "uncond"),
        (("--uncond", "-0.1"), "uncond"),
        (("--mix-share", "1.5"), "mix_share is a share from 0 to 1, got 1.5"),
        (("--minutes", "0"), "minutes"),
        (("--cache", "0"), "cache"),
        (("--unet-steps", "-1"), "unet_steps"),
    ],
)
def test_options_that_would_do_nothing_or_the_wrong_thing_are_refused(args, named, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_config(args)
    assert stopped.value.code == 2
    assert named in capsys.readouterr().err


def test_the_module_runs_from_the_command_line_and_refuses_before_any_work():
    done = run_training("--uncond", "1", timeout=120)
    assert done.returncode == 2 and "uncond" in done.stderr, done.stderr[-2000:]


def test_the_position_code_is_a_clean_coordinate_ramp_over_pure_noise():
    torch.manual_seed(0)
    model = unet.make_unet()
    assert model.config.center_input_sample and model.config.conv_in_kernel == 15
    noise = torch.randn(512, 4, 16, 16)
    with torch.no_grad():
        code = model.conv_in(2 * noise - 1)  # what the UNet does with center_input_sample
    x_ramp = code[:, 0].mean(0) - code[:, 0].mean()
    y_ramp = code[:, 1].mean(0) - code[:, 1].mean()
    # Channel 0 changes one way from left to right in every row, channel 1 the same down
    # the image; the two ends of a row differ far more than one sample's noise.
    steps = x_ramp[:, 1:] - x_ramp[:, :-1]
    assert (steps >= -0.05).all() or (steps <= 0.05).all(), steps
    assert torch.allclose(y_ramp, x_ramp.T, atol=0.1)
    assert (x_ramp[:, 0] - x_ramp[:, -1]).abs().min() > 10 * code[:, 0, 0, 0].std()


def test_without_layers_each_word_keeps_its_own_vector():
    tokenizer = build_tokenizer(max_length=MAX_TOKENS)
    encoder = text.make_text_encoder(len(tokenizer)).eval()
    ids = tokenizer(
        ["a red circle at the top left", "a blue circle at the top left"],
        padding="max_length",
        max_length=MAX_TOKENS,
        return_tensors="pt",
    ).input_ids
    with torch.no_grad():
        hidden = encoder(ids)[0]
    changed = (hidden[0] - hidden[1]).norm(dim=-1) > 1e-5
    # Only the colour word differs; with layers, every later token would change too.
    assert changed.nonzero().flatten().tolist() == [2]


def test_the_colour_code_puts_a_red_blue_mix_next_to_purple_and_training_keeps_it():
    tokenizer = build_tokenizer(max_length=MAX_TOKENS)
    encoder = text.make_text_encoder(len(tokenizer)).eval()
    ids, rows = text.colour_code(encoder, tokenizer, seed=0)
    assert len(ids) == len(set(COLOURS) | {"gray"})

    def word(text: str) -> torch.Tensor:
        batch = tokenizer([f"a {text} circle"], padding="max_length", return_tensors="pt")
        with torch.no_grad():
            return encoder(batch.input_ids)[0][0, 2]

    mix = (word("red") + word("blue")) / 2
    likeness = {c: float(torch.cosine_similarity(mix, word(c), 0)) for c in COLOURS}
    others = {c: v for c, v in likeness.items() if c not in ("red", "blue")}
    assert max(others, key=others.get) == "purple", likeness
    assert likeness["green"] < 0 < likeness["purple"] - 0.8

    # One optimiser step of the real training loop leaves the colour rows as they were and
    # moves the other words.
    before = encoder.get_input_embeddings().weight.detach().clone()
    rng = np.random.default_rng(0)
    pairs, latents = tiny_cache(rng, 4, 0.5)
    model = unet.make_unet(channels=(32, 32, 64))
    unet.train_unet(
        model, encoder, tokenizer, pairs, latents, 0.5, rng, 4, print,
        high_noise=0.2, keep_p=1.0, fixed_tokens=(ids, rows),
    )  # fmt: skip
    after = encoder.get_input_embeddings().weight
    assert torch.equal(after[ids], before[ids])
    others = torch.ones(len(after), dtype=torch.bool)
    others[ids] = False
    assert not torch.equal(after[others], before[others])


def test_uncond_sets_the_share_of_empty_captions_the_unet_trains_on():
    tokenizer = build_tokenizer(max_length=MAX_TOKENS)
    seen = []

    def recording(texts, **kwargs):
        seen.extend(texts[: len(texts) // 2])  # the first caption of each pair
        return tokenizer(texts, **kwargs)

    rng = np.random.default_rng(0)
    pairs, latents = tiny_cache(rng, 8, 0.0)
    shares = {}
    for uncond in (0.0, 0.5):
        seen.clear()
        encoder = text.make_text_encoder(len(tokenizer))
        model = unet.make_unet(channels=(32, 32, 64))
        unet.train_unet(
            model, encoder, recording, pairs, latents, 3600, rng, 32, print,
            high_noise=0.0, keep_p=1.0, steps=4, uncond=uncond,
        )  # fmt: skip
        assert len(seen) == 4 * 32
        shares[uncond] = sum(text == "" for text in seen) / len(seen)
    assert shares[0.0] == 0.0
    assert 0.35 < shares[0.5] < 0.65, shares  # 128 draws: 0.5 +- 3 standard errors


def test_a_step_budget_ends_the_stage_at_that_step_and_drives_the_schedule():
    stage = budget.Budget(seconds=3600, steps=4)
    seen = []
    while stage.left(len(seen)) > 0:
        seen.append(stage.progress(len(seen)))
    assert len(seen) == 4 and seen[2] == 0.5  # the step count, not the hour, decides
    assert budget.lr_at(200, stage.progress(4), 1e-3, 100) < 0.1e-3  # cosine at its end
    timed = budget.Budget(seconds=60.0)  # without steps only time ends it
    assert timed.left(10_000) > 0 and timed.progress(10_000) < 0.5


def test_batches_are_pixels_in_minus_one_to_one_of_the_scenes_drawn():
    rng = np.random.default_rng(0)
    scenes, pixels = batches.scene_batch(rng, 3)
    assert pixels.shape == (3, 3, config.IMAGE_SIZE, config.IMAGE_SIZE)
    assert pixels.dtype == torch.float32 and -1.0 <= pixels.min() < pixels.max() <= 1.0
    plain = draw(Scene("red", "circle", "black", "small", "centre"), config.IMAGE_SIZE)
    expected = torch.from_numpy(plain).permute(2, 0, 1).float() / 127.5 - 1.0
    assert torch.equal(batches.to_pixels(plain[None])[0], expected)
    pairs, _ = batches.mixed_batch(rng, 40, 0.5)
    mixed = [(a, b) for a, b, w in pairs if a != b]
    assert 5 < len(mixed) < 35
    assert all(a.shape == b.shape and a.colour != b.colour for a, b in mixed)


@pytest.mark.slow  # a training run (15-30 s on an idle machine)
def test_a_short_run_writes_a_pipeline_the_studio_renders_from(tmp_path, manager):
    from studio.animation.render import render_animation
    from studio.spec import AnimationSpec, DiffusionSettings, OutputSettings, PromptSettings

    out = tmp_path / "shapes"
    done = run_training("--minutes", "0.25", "--cache", "64", "--out", str(out), "--no-self-check")
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((out / "training.json").read_text())
    assert info["unet"]["steps"] >= 1 and info["vae"]["steps"] >= 1
    run = TrainConfig(out=out, minutes=0.25, cache=64, self_check=False)
    assert info["args"] == run.record()
    assert list(out.rglob("*.safetensors")) and not list(out.rglob("*.bin"))

    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n2: a blue square"),
        diffusion=DiffusionSettings(model=str(out), steps=3, width=128, height=128),
        output=OutputSettings(format="png"),
    )
    result = render_animation(spec, tmp_path / "run", manager=manager)
    assert result.frames == 3


@pytest.mark.slow  # three training runs (15-30 s each on an idle machine)
def test_a_warm_start_goes_on_training_the_earlier_unet_in_its_latent_space(tmp_path):
    from safetensors.torch import load_file

    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    common = ("--cache", "32", "--no-self-check")
    runs = [
        ("--minutes", "0.2", "--out", str(first), "--unet-steps", "1"),
        # Other seeds draw other scenes; the colour code must still be the first run's,
        # also when a warm-started run is itself warm-started.
        *(
            ("--minutes", "5", "--out", str(out), "--unet-from", str(src), "--seed", seed)
            + ("--unet-steps", "2")
            for src, out, seed in ((first, second, "1"), (second, third, "2"))
        ),
    ]
    for args in runs:
        done = run_training(*args, *common)
        assert done.returncode == 0, done.stderr[-3000:]
    before = json.loads((first / "training.json").read_text())
    after = json.loads((second / "training.json").read_text())
    assert after["unet"]["from"]["folder"] == str(first)
    assert after["unet"]["from"]["steps"] == 1 and after["unet"]["steps"] == 2
    assert after["vae"]["from"] == str(first)
    assert after["scaling_factor"] == before["scaling_factor"]  # the UNet's latent scale

    def weights(folder, part):
        (path,) = (folder / part).glob("*.safetensors")
        return load_file(path)

    old_vae, new_vae = weights(first, "vae"), weights(second, "vae")
    assert all(torch.equal(old_vae[k], new_vae[k]) for k in old_vae)  # the VAE is kept
    old_unet, new_unet = weights(first, "unet"), weights(second, "unet")
    assert old_unet.keys() == new_unet.keys()
    assert any(not torch.equal(old_unet[k], new_unet[k]) for k in old_unet)  # it trained on
    # The colour words' fixed rows are the first run's (seed 0), not a seed-1 code.
    old_text, new_text = weights(first, "text_encoder"), weights(second, "text_encoder")
    table = next(k for k in old_text if k.endswith("token_embedding.weight"))
    tokenizer = build_tokenizer(max_length=MAX_TOKENS)
    (red,) = tokenizer("red", add_special_tokens=False).input_ids
    assert torch.equal(old_text[table][red], new_text[table][red])
    last = weights(third, "text_encoder")[table]
    assert torch.equal(old_text[table][red], last[red])
    assert json.loads((third / "training.json").read_text())["colour_code_seed"] == 0
    for component in third.glob("*/config.json"):  # no path of the folder it came from
        assert "_name_or_path" not in json.loads(component.read_text()), component
