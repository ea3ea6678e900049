"""scripts/train_shapes.py: a seconds-long run writes a folder the studio renders from, and
the parts that make position words work do what they claim."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import train_shapes  # noqa: E402


def run_script(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_shapes.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_position_code_is_a_clean_coordinate_ramp_over_pure_noise():
    torch.manual_seed(0)
    unet = train_shapes.make_unet(cross_dim=64, position_code=True)
    assert unet.config.center_input_sample and unet.config.conv_in_kernel == 15
    noise = torch.randn(512, 4, 16, 16)
    with torch.no_grad():
        code = unet.conv_in(2 * noise - 1)  # what the UNet does with center_input_sample
    x_ramp = code[:, 0].mean(0) - code[:, 0].mean()
    y_ramp = code[:, 1].mean(0) - code[:, 1].mean()
    # Channel 0 changes one way from left to right in every row, channel 1 the same down
    # the image; the two ends of a row differ far more than one sample's noise.
    steps = x_ramp[:, 1:] - x_ramp[:, :-1]
    assert (steps >= -0.05).all() or (steps <= 0.05).all(), steps
    assert torch.allclose(y_ramp, x_ramp.T, atol=0.1)
    assert (x_ramp[:, 0] - x_ramp[:, -1]).abs().min() > 10 * code[:, 0, 0, 0].std()


def test_local_taps_start_the_other_channels_as_a_3x3_convolution():
    torch.manual_seed(0)
    wide = train_shapes.make_unet(cross_dim=64, position_code=True)
    local = train_shapes.make_unet(cross_dim=64, position_code=True, local_taps=True)
    impulse = torch.zeros(1, 4, 16, 16)
    impulse[0, :, 8, 8] = 1.0
    with torch.no_grad():
        reach = {
            name: (unet.conv_in(impulse) - unet.conv_in(torch.zeros_like(impulse)))[0].abs() > 0
            for name, unet in (("wide", wide), ("local", local))
        }
    # One changed latent cell moves the non-coordinate features of its 3x3 neighbourhood
    # only; with the default init it moves all of a 15x15 window.
    assert reach["local"][4:].any(0).nonzero().tolist() == [
        [y, x] for y in (7, 8, 9) for x in (7, 8, 9)
    ]
    assert reach["wide"][4:].any(0).sum() == 15 * 15
    # The coordinate ramps are the same either way.
    assert torch.equal(local.conv_in.weight[:4], wide.conv_in.weight[:4])


def test_the_latent_blur_spreads_each_image_by_its_own_width_and_keeps_flat_latents_flat():
    impulse = torch.zeros(3, 4, 16, 16)
    impulse[:, :, 8, 8] = 1.0
    blurred = train_shapes.blur_latents(impulse, torch.tensor([0.01, 1.0, 1.5]))
    # A near-zero width leaves the latent as it was; wider ones spread the same mass further.
    assert torch.allclose(blurred[0], impulse[0])
    assert torch.allclose(blurred.sum((2, 3)), torch.ones(3, 4), atol=1e-5)
    peaks = blurred[:, 0, 8, 8]
    assert peaks[0] > peaks[1] > peaks[2] > 0
    assert torch.allclose(blurred[1, 0], blurred[1, 0].T)  # round, not smeared one way
    assert torch.equal(blurred[:, 0], blurred[:, 3])  # every channel alike
    # A plain latent (a plain background) stays plain up to its edges: the edges reflect.
    flat = torch.full((2, 4, 16, 16), 0.7)
    assert torch.allclose(train_shapes.blur_latents(flat, torch.tensor([1.0, 1.5])), flat)


def test_without_layers_each_word_keeps_its_own_vector():
    from studio.pipeline.vocab import build_tokenizer

    tokenizer = build_tokenizer(max_length=train_shapes.MAX_TOKENS)
    encoder = train_shapes.make_text_encoder(len(tokenizer), hidden=64, layers=0).eval()
    ids = tokenizer(
        ["a red circle at the top left", "a blue circle at the top left"],
        padding="max_length",
        max_length=train_shapes.MAX_TOKENS,
        return_tensors="pt",
    ).input_ids
    with torch.no_grad():
        hidden = encoder(ids)[0]
    changed = (hidden[0] - hidden[1]).norm(dim=-1) > 1e-5
    # Only the colour word differs; with layers, every later token would change too.
    assert changed.nonzero().flatten().tolist() == [2]


def test_the_foreground_map_covers_the_shape_and_a_one_cell_rim_and_nothing_else():
    from training.shapes.dataset import Scene, draw

    scene = Scene("yellow", "square", "blue", "small", "top left")
    image = draw(scene, train_shapes.IMAGE_SIZE)
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    fg = train_shapes.foreground_map(pixels)[0, 0]
    assert fg.shape == (16, 16)
    # The 38 px square at the top left covers latent cells ~2..6; its rim reaches one further.
    inside = torch.from_numpy(
        (image.astype(int) != image[0, 0].astype(int)).any(-1).reshape(16, 8, 16, 8).all((1, 3))
    )
    assert inside.sum() >= 9 and (fg[inside] == 1.0).all()
    touched = torch.nn.functional.max_pool2d((fg > 0).float()[None], 3, 1, 1)[0] > 0
    assert not fg[8:, :].any() and not fg[:, 8:].any()  # the far half is all background
    assert touched.sum() < 100


def test_the_colour_code_puts_a_red_blue_mix_next_to_purple_and_training_keeps_it():
    from studio.pipeline.vocab import build_tokenizer
    from training.shapes.dataset import COLOURS

    tokenizer = build_tokenizer(max_length=train_shapes.MAX_TOKENS)
    encoder = train_shapes.make_text_encoder(len(tokenizer), hidden=64, layers=0).eval()
    ids, rows = train_shapes.colour_code(encoder, tokenizer, seed=0)
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
    import numpy as np

    before = encoder.get_input_embeddings().weight.detach().clone()
    rng = np.random.default_rng(0)
    pairs, pixels = train_shapes.mixed_batch(rng, 4, 0.5)
    latents = torch.nn.functional.avg_pool2d(pixels, 8).repeat(1, 2, 1, 1)[:, :4]
    unet = train_shapes.make_unet(cross_dim=64, channels=(32, 32, 64))
    train_shapes.train_unet(
        unet, encoder, tokenizer, pairs, latents, train_shapes.foreground_map(pixels),
        0.5, rng, 4, print, high_noise=0.2, keep_p=1.0, foreground=4.0,
        fixed_tokens=(ids, rows),
    )  # fmt: skip
    after = encoder.get_input_embeddings().weight
    assert torch.equal(after[ids], before[ids])
    others = torch.ones(len(after), dtype=torch.bool)
    others[ids] = False
    assert not torch.equal(after[others], before[others])


def test_uncond_sets_the_share_of_empty_captions_the_unet_trains_on():
    import numpy as np

    from studio.pipeline.vocab import build_tokenizer

    tokenizer = build_tokenizer(max_length=train_shapes.MAX_TOKENS)
    seen = []

    def recording(texts, **kwargs):
        seen.extend(texts[: len(texts) // 2])  # the first caption of each pair
        return tokenizer(texts, **kwargs)

    rng = np.random.default_rng(0)
    pairs, pixels = train_shapes.mixed_batch(rng, 8, 0.0)
    latents = torch.nn.functional.avg_pool2d(pixels, 8).repeat(1, 2, 1, 1)[:, :4]
    masks = train_shapes.foreground_map(pixels)
    shares = {}
    for uncond in (0.0, 0.5):
        seen.clear()
        encoder = train_shapes.make_text_encoder(len(tokenizer), hidden=64, layers=0)
        unet = train_shapes.make_unet(cross_dim=64, channels=(32, 32, 64))
        train_shapes.train_unet(
            unet, encoder, recording, pairs, latents, masks, 3600, rng, 32, print,
            high_noise=0.0, keep_p=1.0, steps=4, uncond=uncond,
        )  # fmt: skip
        assert len(seen) == 4 * 32
        shares[uncond] = sum(text == "" for text in seen) / len(seen)
    assert shares[0.0] == 0.0
    assert 0.35 < shares[0.5] < 0.65, shares  # 128 draws: 0.5 +- 3 standard errors


def test_a_step_budget_ends_the_stage_at_that_step_and_drives_the_schedule():
    budget = train_shapes.Budget(seconds=3600, steps=4)
    seen = []
    while budget.left(len(seen)) > 0:
        seen.append(budget.progress(len(seen)))
    assert len(seen) == 4 and seen[2] == 0.5  # the step count, not the hour, decides
    assert train_shapes.lr_at(200, budget.progress(4), 1e-3, 100) < 0.1e-3  # cosine at its end
    timed = train_shapes.Budget(seconds=60.0)  # without steps only time ends it
    assert timed.left(10_000) > 0 and timed.progress(10_000) < 0.5


@pytest.mark.slow  # a training run of the script (15-30 s each)
def test_a_short_run_writes_a_pipeline_the_studio_renders_from(tmp_path, manager):
    from studio.animation.render import render_animation
    from studio.spec import AnimationSpec, DiffusionSettings, OutputSettings, PromptSettings

    out = tmp_path / "shapes"
    done = run_script(*("--minutes", "0.25", "--cache", "64", "--out", str(out), "--no-self-check"))
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((out / "training.json").read_text())
    assert info["unet"]["steps"] >= 1 and info["vae"]["steps"] >= 1
    assert info["args"]["text_layers"] == 0 and info["args"]["position_code"] is True
    assert info["args"]["colour_code"] is True
    assert list(out.rglob("*.safetensors")) and not list(out.rglob("*.bin"))

    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n2: a blue square"),
        diffusion=DiffusionSettings(model=str(out), steps=3, width=128, height=128),
        output=OutputSettings(format="png"),
    )
    result = render_animation(spec, tmp_path / "run", manager=manager)
    assert result.frames == 3


@pytest.mark.slow  # a training run of the script (15-30 s each)
def test_a_run_can_go_on_training_an_earlier_vae_on_blurred_latents(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    common = ("--cache", "32", "--no-self-check", "--unet-steps", "1")
    runs = [
        ("--minutes", "0.2", "--out", str(first)),
        (
            *("--minutes", "2", "--out", str(second), "--vae-from", str(first)),
            *("--vae-tune", "0.02", "--vae-blur", "1.5"),
        ),
    ]
    for args in runs:
        done = run_script(*args, *common)
        assert done.returncode == 0, done.stderr[-3000:]
    before = json.loads((first / "training.json").read_text())["vae"]
    after = json.loads((second / "training.json").read_text())["vae"]
    assert after["from"] == str(first) and after["steps"] == before["steps"]
    assert after["tune"]["steps"] >= 1
    assert set(after["blurred_reconstruction"]) == {"colour", "shape", "background", "position"}
    assert "blurred_reconstruction" not in before
    from safetensors.torch import load_file

    old = load_file(first / "vae" / "diffusion_pytorch_model.safetensors")
    new = load_file(second / "vae" / "diffusion_pytorch_model.safetensors")
    assert any(not torch.equal(old[k], new[k]) for k in old)  # the tune changed the weights


@pytest.mark.slow  # a training run of the script (15-30 s each)
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
        done = run_script(*args, *common)
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
    tokenizer = train_shapes.build_tokenizer(max_length=train_shapes.MAX_TOKENS)
    (red,) = tokenizer("red", add_special_tokens=False).input_ids
    assert torch.equal(old_text[table][red], new_text[table][red])
    last = weights(third, "text_encoder")[table]
    assert torch.equal(old_text[table][red], last[red])
    assert json.loads((third / "training.json").read_text())["colour_code_seed"] == 0
    for config in third.glob("*/config.json"):  # no path of the folder it came from
        assert "_name_or_path" not in json.loads(config.read_text()), config


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--vae-tune", "1"), "--vae-from"),
        (("--vae-from", "x", "--vae-tune", "-1"), "--vae-tune"),
        (("--vae-blur", "3"), "0.5 to 1.7"),
        (("--vae-blur", "-1"), "0.5 to 1.7"),
        (("--vae-from", "x", "--vae-blur", "1.5"), "--vae-tune"),
        (("--unet-from", "no-such-folder"), "not a folder this script wrote"),
        (("--unet-from", "studio/weights/shapes/unet"), "not a folder this script wrote"),
        (("--unet-from", "studio/weights/shapes", "--vae-tune", "1"), "--vae-tune"),
        (("--unet-peak", "-1"), "--unet-peak"),
        (("--uncond", "1"), "--uncond"),
        (("--uncond", "-0.1"), "--uncond"),
    ],
)
def test_vae_options_that_would_do_nothing_or_the_wrong_thing_are_refused(args, named):
    done = run_script(*args, timeout=120)
    assert done.returncode == 2 and named in done.stderr, done.stderr[-2000:]
