"""Model families, read from a diffusers folder's configs without loading a weight.

A family says what a model is (Stable Diffusion 1.x, 2.x with epsilon or v-prediction, SDXL,
a few-step Turbo/LCM model, an inpainting or InstructPix2Pix UNet), what it draws best with
(native size, guidance, steps) and whether the studio's render kinds can run it yet. It is
read from ``model_index.json`` (the pipeline class), ``unet/config.json`` (input channels,
sample size, cross-attention width, SDXL's added time embeddings, LCM's guidance embedding),
``vae/config.json`` (the VAE's downsampling factor) and the scheduler config (prediction
type). Nothing here imports torch or diffusers: the dashboard reads a family on every pick.

A single ``.safetensors`` checkpoint in the original (LDM) layout has no configs: its family
comes from the names and shapes of its tensors, read from the file's header alone
(``read_checkpoint_layout``): the UNet's input channels (``input_blocks.0.0``), its
cross-attention width (768: SD 1.x, 1024: SD 2.x), SDXL's added embedding (``label_emb``)
and second text encoder (``conditioner.embedders.1``). The weights cannot tell an SD 2.x
v-prediction model from an epsilon one: it is v-prediction when its file name says so
(``768``, as in ``v2-1_768-ema-pruned`` and ``768-v-ema``; ``v-pred``; a ``v`` word) or
when the original-config YAML next to it (same name, ``.yaml``) sets
``parameterization: "v"``; else epsilon (SD 2.x base, 512 px).

A model the render kinds cannot run yet is refused by ``check_runnable`` with the reason,
before any weight is loaded, instead of failing inside the UNet; a model that runs, but not
for a given render (InstructPix2Pix with nothing to edit), by ``check_family_for``. SDXL base
and Turbo run (loaded as ``StableDiffusionXLPipeline``: ``studio.pipeline.models.
pipeline_class``); the SDXL refiner is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import ModelLoadError, SpecError

if TYPE_CHECKING:
    from studio.spec import Spec

__all__ = [
    "CheckpointLayout",
    "ModelFamily",
    "check_family_for",
    "check_model_ref",
    "check_runnable",
    "check_upscaler_ref",
    "family_of_folder",
    "few_step_name",
    "folder_family",
    "layout_of_checkpoint",
    "read_checkpoint_header",
    "read_checkpoint_layout",
    "read_family",
]

# Few-step distilled models name themselves; their configs look like their base model's.
_FEW_STEP = re.compile(r"(turbo|lightning|lcm|hyper)", re.IGNORECASE)
# An SD 2.x file's name that says v-prediction: "768" (2.x's 768 px models all are),
# "v-pred", "vpred", a word "v".
_V_NAME = re.compile(r"(768|v-?pred|(^|[^a-z0-9])v([^a-z0-9]|$))", re.IGNORECASE)
_V_YAML = re.compile(r"parameterization:\s*[\"']?v[\"']?\s*$", re.MULTILINE)
_UNET = "model.diffusion_model."
# A safetensors header is JSON; more than this is no checkpoint header (the format's own cap).
_MAX_HEADER = 100_000_000


@dataclass(frozen=True)
class ModelFamily:
    """What a model is and what it draws best with.

    ``name``: ``sd1``, ``sd2``, ``sd2-v``, ``sdxl``, ``inpaint``, ``pix2pix``,
    ``upscale-x4``, or one of
    those with ``-turbo`` / ``-lcm`` for a few-step model. ``native_size``: pixels a side
    (UNet sample size x VAE factor). ``guidance``, ``steps``: what it is meant to run with
    (few-step models: 1-4 steps, no guidance). ``unsupported``: why the render kinds cannot
    run it yet, or "" when they can.
    """

    name: str
    label: str
    native_size: int
    guidance: float
    steps: int
    unsupported: str = ""


def read_family(folder: Path, name: str | None = None) -> ModelFamily:
    """The family of the diffusers folder ``folder`` (``name``: how the user named the model,
    e.g. a Hub id, which is where few-step models say what they are).

    Raises ``ModelLoadError`` when the folder has no readable ``model_index.json`` or UNet
    config.
    """
    index = _json(folder / "model_index.json", "model index")
    unet = _json(folder / "unet" / "config.json", "UNet config")
    vae = _optional_json(folder / "vae" / "config.json")
    scheduler = _optional_json(folder / "scheduler" / "scheduler_config.json")
    return family_of_folder(index, unet, vae, scheduler, name or folder.name)


def family_of_folder(
    index: dict[str, Any],
    unet: dict[str, Any],
    vae: dict[str, Any] | None,
    scheduler: dict[str, Any] | None,
    name: str,
) -> ModelFamily:
    """The family the configs of one model describe (see ``read_family``)."""
    pipeline = str(index.get("_class_name", ""))
    channels = int(unet.get("in_channels", 4))
    factor = 2 ** (len((vae or {}).get("block_out_channels", [0, 0, 0, 0])) - 1)
    sample = unet.get("sample_size", 64)
    size = int((sample[0] if isinstance(sample, list) else sample) * factor)
    xl = unet.get("addition_embed_type") == "text_time" or "XL" in pipeline
    v_prediction = (scheduler or {}).get("prediction_type") == "v_prediction"
    few_step = few_step_name(name) or unet.get("time_cond_proj_dim") is not None

    if channels == 7 or "Upscale" in pipeline:
        base, label = "upscale-x4", "Stable Diffusion x4 upscaler"
        unsupported = (
            "an upscaler (7 input channels: latents and the low-resolution image) enlarges "
            "frames; give it as an animation's or a blend's upscale model (--upscale-model), "
            "not as the model that draws them"
        )
    elif channels == 9 or "Inpaint" in pipeline:
        # Runs with the mask and masked image as its extra inputs (studio.pipeline.edit).
        base, label, unsupported = "inpaint", "Stable Diffusion inpainting", ""
    elif channels == 8 or "InstructPix2Pix" in pipeline:
        # Runs on an input image or video (check_family_for refuses text-only renders).
        base, label, unsupported = "pix2pix", "InstructPix2Pix", ""
    elif xl:
        # Base and Turbo: two text encoders, pooled embeddings and time ids, which the text
        # encoder (studio.pipeline.text) and the loop's extras (conditioning.unet_extras) give.
        base, label, unsupported = "sdxl", "Stable Diffusion XL", ""
        if index.get("requires_aesthetics_score"):
            unsupported = (
                "the SDXL refiner (one text encoder, an aesthetic score in its time ids) only "
                "refines another model's images; draw with SDXL base or Turbo"
            )
    elif unet.get("cross_attention_dim") == 1024:
        base = "sd2-v" if v_prediction else "sd2"
        label = "Stable Diffusion 2.x" + (" (v-prediction)" if v_prediction else "")
        unsupported = ""
    else:
        base, label, unsupported = "sd1", "Stable Diffusion 1.x", ""
    if channels not in (4, 7, 8, 9):
        unsupported = f"a UNet with {channels} input channels is no family the studio knows"
    if few_step:
        kind = (
            "lcm"
            if unet.get("time_cond_proj_dim") is not None or "lcm" in name.lower()
            else "turbo"
        )
        return ModelFamily(
            f"{base}-{kind}", f"{label}, few-step ({kind})", size, 0.0, 4, unsupported
        )
    return ModelFamily(base, label, size, 7.5, 30 if xl else 20, unsupported)


def few_step_name(name: str) -> bool:
    """Whether a model's name says it is a few-step distilled model (Turbo, LCM, ...)."""
    return bool(_FEW_STEP.search(name))


def check_runnable(family: ModelFamily, model: str) -> None:
    """Raise ``ModelLoadError`` naming ``model``, its family and why, when the render kinds
    cannot run it yet."""
    if family.unsupported:
        raise ModelLoadError(f"{model} is a {family.label} model: {family.unsupported}")


def _json(path: Path, what: str) -> dict[str, Any]:
    found = _optional_json(path)
    if found is None:
        raise ModelLoadError(f"{path.parent} has no readable {what} ({path.name})")
    return found


def _optional_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def folder_family(model_ref: str) -> ModelFamily | None:
    """The family of ``model_ref`` when it names a local diffusers folder (``model_index.json``
    in it) or a ``.safetensors`` checkpoint (its header), else None (built-in models, Hub ids,
    ``.ckpt`` files, which are pickles: their family is read when they load). Raises
    ``ModelLoadError`` for a broken folder or a file that is no Stable Diffusion checkpoint."""
    if not model_ref or model_ref.startswith("builtin:"):
        return None
    path = Path(model_ref).expanduser()
    if path.suffix == ".safetensors" and path.is_file():
        return read_checkpoint_layout(path, model_ref).family
    if not (path / "model_index.json").is_file():
        return None
    return read_family(path, model_ref)


@dataclass(frozen=True)
class CheckpointLayout:
    """What a single original-layout checkpoint is: ``config``, the studio's config folder
    for it (``sd1``, ``sd2``, ``sd2-v``, ``sdxl``: ``studio/configs/``), the UNet's
    ``in_channels`` (4; 9 inpainting; 8 InstructPix2Pix) and its ``family``."""

    config: str
    in_channels: int
    family: ModelFamily


def read_checkpoint_header(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of the ``.safetensors`` file ``path``, from its header alone (8
    bytes: the JSON header's length, then the header); no weight is read. ``ModelLoadError``
    when the file is not in the safetensors format."""
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 2 <= size <= _MAX_HEADER:
                raise ValueError(f"header length {size}")
            header = json.loads(f.read(size))
        shapes = {
            k: tuple(int(n) for n in v["shape"]) for k, v in header.items() if k != "__metadata__"
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelLoadError(f"{path} is not a readable .safetensors file ({exc})") from None
    return shapes


def read_checkpoint_layout(
    path: Path, name: str | None = None, shapes: dict[str, tuple[int, ...]] | None = None
) -> CheckpointLayout:
    """The layout of the single checkpoint ``path`` (``shapes``: its tensors' shapes when the
    caller read them, a ``.ckpt``; else the ``.safetensors`` header). v-prediction: see the
    module docstring."""
    name = name or path.name
    yaml = path.with_suffix(".yaml")
    v_prediction = bool(_V_NAME.search(path.stem))
    if yaml.is_file():
        v_prediction = v_prediction or bool(_V_YAML.search(yaml.read_text(errors="replace")))
    if shapes is None:
        shapes = read_checkpoint_header(path)
    return layout_of_checkpoint(shapes, name, v_prediction)


def layout_of_checkpoint(
    shapes: dict[str, tuple[int, ...]], name: str, v_prediction: bool = False
) -> CheckpointLayout:
    """The layout that tensor shapes ``shapes`` (name -> shape, original LDM key names)
    describe; ``ModelLoadError`` (one line, naming ``name``) when they are no Stable
    Diffusion checkpoint."""
    conv_in = shapes.get(_UNET + "input_blocks.0.0.weight")
    widths = [
        s[-1] for k, s in shapes.items() if k.startswith(_UNET) and k.endswith("attn2.to_k.weight")
    ]
    if conv_in is None or len(conv_in) != 4 or not widths:
        if any(k.startswith(("unet.", "down_blocks.", "lora_")) or "lora" in k for k in shapes):
            what = "a LoRA or a diffusers-format file (unet., lora_ keys)"
        else:
            what = "not a Stable Diffusion checkpoint"
        raise ModelLoadError(
            f"{name} is {what}: a single-file model needs the original layout's UNet "
            f"({_UNET}input_blocks...); give a diffusers folder, or a LoRA as a LoRA"
        )
    xl = _UNET + "label_emb.0.0.weight" in shapes
    refiner = xl and not any(k.startswith("conditioner.embedders.1.") for k in shapes)
    width = widths[0]
    if xl:
        config = "sdxl"
    elif width == 1024:
        config = "sd2-v" if v_prediction else "sd2"
    else:
        config = "sd1"
    index = {
        "_class_name": "StableDiffusionXLPipeline" if xl else "StableDiffusionPipeline",
        "requires_aesthetics_score": refiner,
    }
    sample = {"sdxl": 128, "sd2-v": 96}.get(config, 64)
    if xl and "turbo" in name.lower():
        sample = 64  # SDXL Turbo draws at 512 px (its diffusers config says so; its file cannot)
    unet = {"in_channels": conv_in[1], "cross_attention_dim": width, "sample_size": sample}
    if xl:
        unet["addition_embed_type"] = "text_time"
    scheduler = {"prediction_type": "v_prediction" if config == "sd2-v" else "epsilon"}
    vae = {"block_out_channels": [128, 256, 512, 512]}
    family = family_of_folder(index, unet, vae, scheduler, name)
    if xl and conv_in[1] != 4 and not family.unsupported:
        why = "an SDXL UNet that edits a picture is no model the render kinds run yet"
        family = replace(family, unsupported=f"{why}; draw with SDXL base or Turbo")
    return CheckpointLayout(config, conv_in[1], family)


def check_model_ref(model_ref: str, spec: Spec | None = None) -> None:
    """Refuse, with the reason, a local model folder the render kinds cannot run yet
    (``ModelLoadError``), or a model that cannot make ``spec`` (``check_family_for``); reads
    configs only, so it runs before any run is recorded."""
    family = folder_family(model_ref)
    if family is not None:
        check_runnable(family, model_ref)
    if spec is not None:
        check_family_for(family, spec, model_ref)


def check_upscaler_ref(model_ref: str) -> int:
    """How many times larger upscale model ``model_ref`` makes a frame: from a local
    folder's VAE config, else 4 (a Hub id: the x4 upscaler, checked once loaded). Refuses
    (``SpecError``, naming it) a built-in model or a folder or file of another family."""
    if model_ref.startswith("builtin:"):
        raise SpecError(
            f"upscale model {model_ref} draws frames, it does not enlarge them; give an "
            "upscaler such as stabilityai/stable-diffusion-x4-upscaler"
        )
    family = folder_family(model_ref)
    if family is None:
        return 4
    if family.name != "upscale-x4":
        raise SpecError(
            f"upscale model {model_ref} is a {family.label} model, not an upscaler; give one "
            "such as stabilityai/stable-diffusion-x4-upscaler"
        )
    vae = _optional_json(Path(model_ref).expanduser() / "vae" / "config.json") or {}
    return 2 ** (len(vae.get("block_out_channels", [0, 0, 0])) - 1)


def check_family_for(family: ModelFamily | None, spec: Spec, model_ref: str) -> None:
    """Refuse a render ``spec`` that model ``model_ref`` of ``family`` cannot make
    (``SpecError``, one line): InstructPix2Pix edits a picture, so it needs an animation with
    an input image or video (a text-only animation or a blend gives it none); a mask is for
    inpainting models only. ``family`` None: a built-in model (plain Stable Diffusion), or a
    model whose configs are not at hand (Hub id, single file), which the engine checks once
    loaded (``studio.pipeline.edit.check_edit_model``)."""
    if family is not None:
        base = family.name.split("-")[0]
    elif model_ref.startswith("builtin:"):
        base = "sd1"
    else:
        return
    mask = spec.edit.mask if spec.kind == "animation" else ""  # type: ignore[union-attr]
    if mask and base != "inpaint":
        raise SpecError(
            f"a mask is for inpainting models; {model_ref} is not one: clear the mask "
            "(--mask) or choose an inpainting model"
        )
    if base != "pix2pix":
        return
    if spec.kind != "animation":
        raise SpecError(
            f"{model_ref} is an InstructPix2Pix model: it edits an input picture, and a "
            f"{spec.kind} has none; animate an input image or video with it, or choose "
            "another model"
        )
    if not (spec.input.image or spec.input.video):  # type: ignore[union-attr]
        raise SpecError(
            f"{model_ref} is an InstructPix2Pix model: it edits an input picture, and a "
            "text-only animation has none; give an input image or video "
            "(--image-input / --video-input), or choose another model"
        )


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # org/name


def component_folder(ref: str, what: str) -> Path:
    """The folder of the ``what`` model ``ref`` (a ControlNet, a depth model): a local folder,
    or a Hub id's snapshot in the local Hugging Face cache; the studio never downloads.
    ``ModelLoadError`` naming ``ref`` and saying how to get it otherwise."""
    path = Path(ref).expanduser()
    if path.exists() or not HUB_ID.match(ref):
        if not path.is_dir():
            raise ModelLoadError(
                f"{what} {ref!r} is neither an existing folder nor a Hub id like org/name"
            )
        return path
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(ref, "config.json")
    if not isinstance(found, str):
        raise ModelLoadError(
            f"{what} {ref} is not in the local Hugging Face cache (the studio does not "
            f"download models); download it where the Hub is reachable with `hf download "
            f"{ref} --local-dir FOLDER` and give FOLDER as the {what}"
        )
    return Path(found).parent
