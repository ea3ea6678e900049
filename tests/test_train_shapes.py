"""scripts/train_shapes.py: a seconds-long run writes a folder the studio renders from, and
the parts that make position words work do what they claim."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import train_shapes  # noqa: E402


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


def test_without_layers_each_word_keeps_its_own_vector():
    from studio.vocab import build_tokenizer

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


def test_a_short_run_writes_a_pipeline_the_studio_renders_from(tmp_path, manager):
    from studio.animate import render_animation
    from studio.spec import AnimationSpec, DiffusionSettings, OutputSettings, PromptSettings

    out = tmp_path / "shapes"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "train_shapes.py"),
            *("--minutes", "0.25", "--cache", "64", "--out", str(out), "--no-self-check"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((out / "training.json").read_text())
    assert info["unet"]["steps"] >= 1 and info["vae"]["steps"] >= 1
    assert info["args"]["text_layers"] == 0 and info["args"]["position_code"] is True
    assert list(out.rglob("*.safetensors")) and not list(out.rglob("*.bin"))

    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n2: a blue square"),
        diffusion=DiffusionSettings(model=str(out), steps=3, width=128, height=128),
        output=OutputSettings(format="png"),
    )
    result = render_animation(spec, tmp_path / "run", manager=manager)
    assert result.frames == 3
