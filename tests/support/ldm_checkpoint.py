"""Write a diffusers Stable Diffusion folder as one original-layout (LDM / CompVis) checkpoint:
``model.diffusion_model.*`` (UNet), ``first_stage_model.*`` (VAE),
``cond_stage_model.transformer.*`` (CLIP text encoder), as community single files are; an
SDXL folder's two text encoders as ``conditioner.embedders.0.transformer.*`` (CLIP) and
``conditioner.embedders.1.model.*`` (OpenCLIP's names: fused q/k/v ``in_proj``, a
transposed ``text_projection``).

The key mapping is the inverse of what diffusers' single-file loader reads
(``diffusers.loaders.single_file_utils``: ``convert_ldm_unet_checkpoint``,
``convert_ldm_vae_checkpoint``, ``convert_ldm_clip_checkpoint``,
``convert_open_clip_checkpoint``), written here for the
Stable Diffusion 1.x layout: down blocks of ``layers_per_block`` resnets (and attentions),
then a downsampler; up blocks of one more; the VAE's attention projections as 1x1 convs.
A key it cannot place is an error, so a round trip never drops a weight silently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_UNET_FIXED = {
    "conv_in": "input_blocks.0.0",
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
}
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def write_ldm_checkpoint(folder: Path, out: Path) -> Path:
    """Save the diffusers folder ``folder``'s UNet, VAE and text encoder as the single
    ``.safetensors`` file ``out``; return ``out``."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    xl = (folder / "text_encoder_2").is_dir()
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae")
    text = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder")
    attention_blocks = [t.startswith("CrossAttnUp") for t in unet.config.up_block_types]
    unet_state = unet_to_ldm(unet.state_dict(), unet.config.layers_per_block, attention_blocks)
    state = {
        **{"model.diffusion_model." + k: v for k, v in unet_state.items()},
        **{"first_stage_model." + k: v for k, v in vae_to_ldm(vae.state_dict(), vae).items()},
    }
    if xl:
        text_2 = CLIPTextModelWithProjection.from_pretrained(folder, subfolder="text_encoder_2")
        state.update(
            {"conditioner.embedders.0.transformer." + k: v for k, v in clip_to_ldm(text).items()}
        )
        state.update(
            {"conditioner.embedders.1.model." + k: v for k, v in open_clip_to_ldm(text_2).items()}
        )
    else:
        state.update({"cond_stage_model.transformer." + k: v for k, v in clip_to_ldm(text).items()})
    # What real files carry besides the weights: the training schedule, EMA bookkeeping and
    # CLIP's position ids; the loader must skip them.
    clip = "conditioner.embedders.0." if xl else "cond_stage_model."
    state[clip + "transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    state["alphas_cumprod"] = torch.linspace(0.999, 0.005, 1000)
    state["betas"] = torch.linspace(0.00085, 0.012, 1000)
    state["model_ema.decay"] = torch.tensor(0.9999)
    state["model_ema.num_updates"] = torch.tensor(1000, dtype=torch.int32)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out))
    return out


def unet_to_ldm(state: dict[str, Any], layers: int, up_attention: list[bool]) -> dict[str, Any]:
    """A diffusers UNet state dict -> LDM UNet keys (no prefix)."""
    out = {}
    for key, value in state.items():
        out[_unet_key(key, layers, up_attention)] = value
    return out


def _unet_key(key: str, layers: int, up_attention: list[bool]) -> str:
    for new, old in _UNET_FIXED.items():
        if key.startswith(new + "."):
            return old + key[len(new) :]
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        block, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = 1 + block * (layers + 1) + layer
        return f"input_blocks.{index}." + (
            f"0.{_resnet(rest)}" if kind == "resnets" else f"1.{rest}"
        )
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{1 + int(m[1]) * (layers + 1) + layers}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)", key):
        if m[1] == "resnets":
            return f"middle_block.{2 * int(m[2])}.{_resnet(m[3])}"
        return f"middle_block.1.{m[3]}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        index = int(m[1]) * (layers + 1) + int(m[3])
        rest = m[4]
        return f"output_blocks.{index}." + (
            f"0.{_resnet(rest)}" if m[2] == "resnets" else f"1.{rest}"
        )
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
        block = int(m[1])
        slot = 2 if up_attention[block] else 1
        return f"output_blocks.{block * (layers + 1) + layers}.{slot}.conv.{m[2]}"
    raise KeyError(f"no LDM name for UNet weight {key}")


def _resnet(rest: str) -> str:
    name, _, tail = rest.partition(".")
    return f"{_UNET_RESNET[name]}.{tail}"


def vae_to_ldm(state: dict[str, Any], vae: Any) -> dict[str, Any]:
    """A diffusers AutoencoderKL state dict -> LDM VAE keys (no prefix)."""
    blocks = len(vae.config.up_block_types)
    out = {}
    for key, value in state.items():
        new = _vae_key(key, blocks)
        if ".mid.attn_1." in new and new.endswith("weight") and value.ndim == 2:
            value = value[:, :, None, None]  # LDM's attention projections are 1x1 convs
        out[new] = value
    return out


def _vae_key(key: str, blocks: int) -> str:
    side, _, rest = key.partition(".")
    if side in ("quant_conv", "post_quant_conv"):
        return key
    if rest.startswith(("conv_in.", "conv_out.")):
        return key
    if rest.startswith("conv_norm_out."):
        return f"{side}.norm_out." + rest.removeprefix("conv_norm_out.")
    if m := re.match(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest):
        return f"{side}.down.{m[1]}.block.{m[2]}.{_vae_resnet(m[3])}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", rest):
        return f"{side}.down.{m[1]}.downsample.conv.{m[2]}"
    if m := re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest):
        return f"{side}.up.{blocks - 1 - int(m[1])}.block.{m[2]}.{_vae_resnet(m[3])}"
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", rest):
        return f"{side}.up.{blocks - 1 - int(m[1])}.upsample.conv.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", rest):
        return f"{side}.mid.block_{int(m[1]) + 1}.{m[2]}"
    if m := re.match(r"mid_block\.attentions\.0\.(.*)\.(weight|bias)$", rest):
        return f"{side}.mid.attn_1.{_VAE_ATTENTION[m[1]]}.{m[2]}"
    raise KeyError(f"no LDM name for VAE weight {key}")


def _vae_resnet(rest: str) -> str:
    return rest.replace("conv_shortcut", "nin_shortcut")


def clip_to_ldm(text: Any) -> dict[str, Any]:
    """A transformers CLIPTextModel -> its keys under ``text_model.`` (the LDM layout keeps
    transformers' own names), buffers such as ``position_ids`` left out."""
    buffers = {name for name, _ in text.named_buffers()}
    return {
        (k if k.startswith("text_model.") else "text_model." + k): v
        for k, v in text.state_dict().items()
        if k not in buffers
    }


def open_clip_to_ldm(text: Any) -> dict[str, Any]:
    """A transformers CLIPTextModelWithProjection -> OpenCLIP's names: ``token_embedding``,
    ``positional_embedding``, ``transformer.resblocks.N`` (``ln_1``, ``attn.in_proj_*`` = q, k,
    v stacked, ``attn.out_proj``, ``ln_2``, ``mlp.c_fc``, ``mlp.c_proj``), ``ln_final`` and
    ``text_projection`` (transposed: OpenCLIP multiplies by it from the right)."""
    import torch

    state = {k.removeprefix("text_model."): v for k, v in text.state_dict().items()}
    buffers = {name.removeprefix("text_model.") for name, _ in text.named_buffers()}
    out = {
        "token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
        "positional_embedding": state.pop("embeddings.position_embedding.weight"),
        "ln_final.weight": state.pop("final_layer_norm.weight"),
        "ln_final.bias": state.pop("final_layer_norm.bias"),
        "text_projection": state.pop("text_projection.weight").T,
    }
    names = {
        "layer_norm1": "ln_1",
        "layer_norm2": "ln_2",
        "mlp.fc1": "mlp.c_fc",
        "mlp.fc2": "mlp.c_proj",
        "self_attn.out_proj": "attn.out_proj",
    }
    for key in sorted(state):
        if key in buffers:
            continue
        m = re.match(r"encoder\.layers\.(\d+)\.(.*)\.(weight|bias)$", key)
        if m is None:
            raise KeyError(f"no OpenCLIP name for text encoder weight {key}")
        layer, name, kind = m[1], m[2], m[3]
        block = f"transformer.resblocks.{layer}"
        if name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
            if name.endswith("q_proj"):
                parts = [state[f"encoder.layers.{layer}.self_attn.{p}_proj.{kind}"] for p in "qkv"]
                out[f"{block}.attn.in_proj_{kind}"] = torch.cat(parts)
            continue
        out[f"{block}.{names[name]}.{kind}"] = state[key]
    return out


def config_folder_of(folder: Path, out: Path) -> Path:
    """A copy of diffusers folder ``folder`` without its weights: what ``from_single_file``'s
    ``config=`` takes (the configs and tokenizer files of the model's architecture)."""
    import shutil

    shutil.copytree(folder, out, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    index = json.loads((out / "model_index.json").read_text())
    assert "unet" in index, f"{folder} is not a Stable Diffusion folder"
    return out


_U = "model.diffusion_model."
# The tensors a family's single file is told apart by, with their published shapes.
_SD = {_U + "input_blocks.0.0.weight": [320, 4, 3, 3]}
_SD1_TEXT = {
    "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": [77, 768]
}
_SD2_TEXT = {"cond_stage_model.model.token_embedding.weight": [49408, 1024]}
_XL_UNET = {_U + "label_emb.0.0.weight": [1280, 2816]}
HEADERS: dict[str, dict[str, list[int]]] = {
    "sd1": {
        **_SD,
        _U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768],
        **_SD1_TEXT,
    },
    "sd2": {
        **_SD,
        _U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 1024],
        **_SD2_TEXT,
    },
    "sdxl": {
        **_SD,
        **_XL_UNET,
        _U + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048],
        "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight": [
            77,
            768,
        ],
        "conditioner.embedders.1.model.positional_embedding": [77, 1280],
    },
    "sdxl-refiner": {
        **_SD,
        _U + "label_emb.0.0.weight": [1536, 2560],
        _U + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [768, 1280],
        "conditioner.embedders.0.model.text_projection": [1280, 1280],
    },
    "inpaint": {
        _U + "input_blocks.0.0.weight": [320, 9, 3, 3],
        _U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768],
        **_SD1_TEXT,
    },
    "sdxl-inpaint": {
        **_SD,
        **_XL_UNET,
        _U + "input_blocks.0.0.weight": [320, 9, 3, 3],
        _U + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048],
        "conditioner.embedders.1.model.positional_embedding": [77, 1280],
    },
    "lora": {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": [4, 320]},
    "vae-only": {"encoder.conv_in.weight": [128, 3, 3, 3]},
}


def write_header_only(path: Path, shapes: dict[str, list[int]]) -> Path:
    """A ``.safetensors`` file whose header lists ``shapes`` (name -> shape) over no data:
    enough for what reads the header alone (a family), not for loading."""
    header = {k: {"dtype": "F16", "shape": s, "data_offsets": [0, 0]} for k, s in shapes.items()}
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)
    return path
