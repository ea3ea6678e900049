"""Built-in models: Stable Diffusion pipelines that need no download.

``builtin:shapes`` is a small model trained by ``python -m training.shapes.train`` that draws
coloured shapes from captions; its weights ship inside the package (``studio/weights/shapes``),
and the words it learnt are in ``studio.pipeline.shapes_words``.

``builtin:tiny`` is a random tiny pipeline built in code from a fixed seed, so it is identical
on every machine with the same torch. It exists for tests and benchmarks: it runs the real
diffusers components with Stable Diffusion's geometry (a VAE that downsamples by 8 to
4-channel latents) at a fraction of the cost, and draws noise. It is written once with
``save_pretrained`` into the model cache.

Either way the model is loaded with ``from_pretrained`` from a diffusers folder, the same path
as any user's folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import ModelLoadError
from studio.pipeline import shapes_words
from studio.pipeline.families import few_step_name, folder_family

__all__ = [
    "BUILTIN_MODELS",
    "BuiltinModel",
    "builtin_folder",
    "model_defaults",
    "recommended_guidance",
    "recommended_guidance_stop",
    "recommended_size",
    "unknown_words",
    "vocabulary",
]


WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    version: int  # bump when the build changes, so old cache folders are not reused
    native_size: int  # width and height it is meant to render at
    guidance: float  # classifier-free guidance scale it draws best at
    description: str
    build: Callable[[], object] | None = None  # returns a StableDiffusionPipeline
    shipped: Path | None = None  # a diffusers folder inside the package, instead of build
    # Share of the noise schedule, from the clean end, whose steps it draws best without
    # classifier-free guidance (DiffusionSettings.guidance_stop).
    guidance_stop: float = 0.0
    steps: int = 20  # denoise steps per frame it is meant to run
    # The words it learnt, by kind (None: any text is worth a try).
    words: Callable[[], dict[str, tuple[str, ...]]] | None = None
    # Finds the words of a prompt it never learnt.
    unknown: Callable[[str], list[str]] | None = None


def tiny_text_encoder(tokenizer: Any) -> Any:
    """The random 2-layer CLIPTextModel (hidden size 32) of ``builtin:tiny`` over ``tokenizer``.

    Also what tests build tiny pipelines of other kinds (an upscaler) from; seed torch first.
    """
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=tokenizer.model_max_length,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )


def tiny_vae(**config: Any) -> Any:
    """The random tiny AutoencoderKL of ``builtin:tiny`` (Stable Diffusion's geometry: 8x
    down to 4 channels; ``config`` overrides, e.g. SDXL's scaling factor). Seed torch first."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        **{
            "in_channels": 3,
            "out_channels": 3,
            "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4,
            "block_out_channels": (32, 32, 32, 32),
            "layers_per_block": 1,
            "latent_channels": 4,
            "norm_num_groups": 32,
            "sample_size": 64,
            **config,
        }
    )


def _build_tiny() -> Any:  # a StableDiffusionPipeline (diffusers is imported in here)
    import torch
    from diffusers import (
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )

    from studio.pipeline.vocab import build_tokenizer

    tokenizer = build_tokenizer()
    # Each component from its own fixed seed, so changing one never changes the others.
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    torch.manual_seed(1)
    vae = tiny_vae()
    torch.manual_seed(2)
    text_encoder = tiny_text_encoder(tokenizer)
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "shapes": BuiltinModel(
        name="shapes",
        version=1,
        native_size=128,
        # Measured with benchmarks/shapes_quality.py: with the stop below, guidance 1.5-4 all
        # draw held-out prompts about as well (shape 89-90%); colour suffers at 1 (97.4%).
        guidance=3.0,
        # Guidance in the last, least noisy steps draws outlines wrong and, strong, washes
        # colours out: without it, held-out shapes 85.6% -> 90.5% (576 images), and colour
        # at guidance 8 96.4% -> 100% (benchmarks/shapes_quality.py, README).
        guidance_stop=0.2,
        description="small trained model: coloured shapes on plain backgrounds (offline)",
        shipped=WEIGHTS / "shapes",
        words=shapes_words.vocabulary,
        unknown=shapes_words.unknown_words,
    ),
    "tiny": BuiltinModel(
        name="tiny",
        version=2,  # 2: vocabulary whose words are all single tokens
        native_size=64,
        guidance=7.5,  # draws noise whatever the guidance; the usual Stable Diffusion value
        description="random tiny Stable Diffusion for tests and benchmarks (draws noise)",
        build=_build_tiny,
    ),
}

_build_lock = threading.Lock()


def _builtin(model_ref: str) -> BuiltinModel | None:
    if not model_ref.startswith("builtin:"):
        return None
    return BUILTIN_MODELS.get(model_ref.removeprefix("builtin:"))


def model_defaults(model_ref: str) -> dict[str, int | float]:
    """The diffusion settings a model brings: the one place the CLI, the dashboard and the
    API take per-model defaults from.

    Keys (all present, plain numbers, named as ``DiffusionSettings`` fields): ``width`` and
    ``height`` (pixels, its native size), ``guidance`` (the scale it draws best at),
    ``guidance_stop`` (share of the schedule, at its clean end, left unguided) and ``steps``
    (denoise steps per frame). Built-in models bring their own; a local diffusers folder or
    ``.safetensors`` checkpoint its family's (``studio.pipeline.families``, configs or the
    file's header only: native size = UNet sample size x VAE factor,
    few-step Turbo/LCM models 4 steps without guidance); anything else Stable Diffusion's
    usual 512x512, guidance 7.5, 20 steps, or the few-step values when its name says
    Turbo/LCM.
    """
    model = _builtin(model_ref)
    if model is not None:
        size = model.native_size
        return {
            "width": size,
            "height": size,
            "guidance": model.guidance,
            "guidance_stop": model.guidance_stop,
            "steps": model.steps,
        }
    try:
        family = folder_family(model_ref)
    except ModelLoadError:  # a broken folder: loading it will say what is wrong
        family = None
    if family is not None:
        size, guidance, steps = family.native_size, family.guidance, family.steps
    elif few_step_name(model_ref):
        size, guidance, steps = 512, 0.0, 4
    else:
        size, guidance, steps = 512, 7.5, 20
    return {
        "width": size,
        "height": size,
        "guidance": guidance,
        "guidance_stop": 0.0,
        "steps": steps,
    }


def recommended_size(model_ref: str) -> int:
    """Width and height a model is meant to render at (512 for anything not built in)."""
    model = _builtin(model_ref)
    return 512 if model is None else model.native_size


def recommended_guidance(model_ref: str) -> float:
    """Guidance scale a model draws best at (Stable Diffusion's usual 7.5 for anything not
    built in)."""
    model = _builtin(model_ref)
    return 7.5 if model is None else model.guidance


def recommended_guidance_stop(model_ref: str) -> float:
    """Share of the schedule a model skips guidance in (0, guidance at every step, for
    anything not built in)."""
    model = _builtin(model_ref)
    return 0.0 if model is None else model.guidance_stop


def vocabulary(model_ref: str) -> dict[str, tuple[str, ...]] | None:
    """The words a built-in model learnt, by kind (``shapes_words.vocabulary``); None for a
    model that takes any text."""
    model = _builtin(model_ref)
    return None if model is None or model.words is None else model.words()


def unknown_words(model_ref: str, text: str) -> list[str]:
    """The words of ``text`` that model ``model_ref`` never learnt (empty for models that take
    any text)."""
    model = _builtin(model_ref)
    return [] if model is None or model.unknown is None else model.unknown(text)


def builtin_folder(name: str, cache_dir: Path) -> Path:
    """The diffusers folder of built-in model ``name``, written on first use.

    The folder is written under a temporary name and renamed, so another process never sees
    half a model; a process that loses the race simply uses the winner's folder.
    """
    model = BUILTIN_MODELS.get(name)
    if model is None:
        known = ", ".join(f"builtin:{n}" for n in BUILTIN_MODELS)
        raise ModelLoadError(f"unknown built-in model 'builtin:{name}'; built-in models: {known}")
    if model.shipped is not None:
        if not (model.shipped / "model_index.json").exists():
            raise ModelLoadError(
                f"the weights of builtin:{name} are missing from {model.shipped}; reinstall "
                "Latent Studio, or train them with python -m training.shapes.train"
            )
        return model.shipped
    folder = cache_dir / f"builtin-{name}-v{model.version}"
    if (folder / "model_index.json").exists():
        return folder
    with _build_lock:
        if (folder / "model_index.json").exists():
            return folder
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".builtin-{name}-", dir=cache_dir))
        try:
            _quiet_save(lambda: model.build().save_pretrained(staging, safe_serialization=True))
            try:
                os.rename(staging, folder)
            except OSError:
                if not (folder / "model_index.json").exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def _quiet_save(save: Callable[[], object]) -> None:
    """Run ``save`` without the libraries' "Writing model shards" bars: a built-in model is
    written once, on its first use, and must not break ``--quiet`` or the progress bar."""
    import diffusers
    import transformers

    bars = diffusers.utils.logging.is_progress_bar_enabled()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    try:
        save()
    finally:
        if bars:
            diffusers.utils.logging.enable_progress_bar()
