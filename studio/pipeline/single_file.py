"""Single-file checkpoints (``.safetensors`` / ``.ckpt``, original LDM key names, as most
community Stable Diffusion files are) loaded offline.

diffusers' ``from_single_file`` needs the model's diffusers configs and tokenizer files; it
would fetch them from the Hub. The studio ships them (``studio/configs/``: ``sd1`` = SD 1.5,
``sd2`` = SD 2.1 base, epsilon, ``sd2-v`` = SD 2.1 768, v-prediction, ``sdxl`` = SDXL base
1.0) and passes the right folder as ``config=``, with ``local_files_only=True``:

1. read the file's layout (``families.read_checkpoint_layout``: tensor names and shapes; a
   ``.safetensors`` header, or a ``.ckpt`` memory-mapped by ``torch.load``) and refuse what is
   no runnable Stable Diffusion checkpoint, before a weight is read;
2. materialise its config folder once in the model cache (``config_folder``): the shipped
   JSON files, the CLIP tokenizer's ``vocab.json`` and ``merges.txt`` (built from the one
   compressed copy of CLIP's merges, ``studio/configs/clip/``) and, for inpainting (9) or
   InstructPix2Pix (8) files, the UNet's input channels;
3. load it as ``StableDiffusionXLPipeline`` (SDXL) or ``StableDiffusionPipeline``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import ModelLoadError
from studio.pipeline.families import CheckpointLayout, check_runnable, read_checkpoint_layout

if TYPE_CHECKING:
    import torch

__all__ = [
    "CONFIGS",
    "CONFIG_VERSION",
    "build_clip_vocab",
    "checkpoint_layout",
    "config_folder",
    "load_single_file",
    "pipeline_class_for",
]

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CLIP_MERGES = CONFIGS / "clip" / "merges.txt.gz"
CONFIG_VERSION = 1  # bump when a shipped config changes, so old cache folders are not reused
_lock = threading.Lock()


def checkpoint_layout(path: Path, name: str | None = None) -> CheckpointLayout:
    """The layout of single file ``path`` (``ModelLoadError`` when it is none the studio
    knows); reads names and shapes, never the weights."""
    if path.suffix == ".safetensors":
        return read_checkpoint_layout(path, name)
    return read_checkpoint_layout(path, name, _pickle_shapes(path))


def pipeline_class_for(layout: CheckpointLayout) -> str:
    return "StableDiffusionXLPipeline" if layout.config == "sdxl" else "StableDiffusionPipeline"


def load_single_file(
    cls: type[Any], path: Path, dtype: torch.dtype, cache_dir: Path, name: str
) -> Any:
    """The pipeline of class ``cls`` (one that draws frames) from the single checkpoint
    ``path``, offline; ``ModelLoadError`` in one line for anything else."""
    # 1. what it is, from names and shapes
    layout = checkpoint_layout(path, name)
    check_runnable(layout.family, name)
    wanted = pipeline_class_for(layout)
    if cls.__name__ != wanted:
        raise ModelLoadError(
            f"{name} is a {layout.family.label} checkpoint, which loads as {wanted}, not "
            f"{cls.__name__}; give a diffusers folder for that"
        )
    # 2. its configs and tokenizer, once
    folder = config_folder(layout.config, cache_dir, layout.in_channels)
    # 3. load
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    # Its converter casts each model with ``to(dtype)`` and diffusers then warns that "modules
    # that should be kept in float32: []" (an empty list: none), on every load; errors still show.
    verbosity = diffusers.utils.logging.get_verbosity()
    diffusers.utils.logging.set_verbosity_error()
    try:
        return cls.from_single_file(
            str(path), config=str(folder), dtype=dtype, local_files_only=True
        )
    except Exception as exc:  # diffusers raises many types for a file it cannot convert
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(
            f"could not load {path} as a {layout.family.label} checkpoint: {first}"
        ) from exc
    finally:
        diffusers.utils.logging.set_verbosity(verbosity)


def config_folder(config: str, cache_dir: Path, in_channels: int = 4) -> Path:
    """The diffusers config folder ``config`` (``sd1``, ``sd2``, ``sd2-v``, ``sdxl``) with its
    tokenizer files, for a UNet of ``in_channels``, written into ``cache_dir`` on first use
    (under a temporary name, then renamed: another process never sees half a folder)."""
    shipped = CONFIGS / config
    if not (shipped / "model_index.json").is_file():
        raise ModelLoadError(f"the studio has no configs for {config!r} (in {CONFIGS})")
    suffix = "" if in_channels == 4 else f"-in{in_channels}"
    folder = cache_dir / "single-file-configs" / f"{config}{suffix}-v{CONFIG_VERSION}"
    if (folder / "model_index.json").is_file():
        return folder
    with _lock:
        if (folder / "model_index.json").is_file():
            return folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{config}-", dir=folder.parent))
        try:
            _write_config_folder(shipped, staging, in_channels)
            try:
                os.rename(staging, folder)
            except OSError:
                if not (folder / "model_index.json").is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def _write_config_folder(shipped: Path, out: Path, in_channels: int) -> None:
    shutil.copytree(shipped, out, dirs_exist_ok=True)
    merges = gzip.decompress(CLIP_MERGES.read_bytes()).decode("utf-8")
    vocab = json.dumps(build_clip_vocab(merges), ensure_ascii=False)
    for tokenizer in sorted(out.glob("tokenizer*")):
        (tokenizer / "merges.txt").write_text(merges, encoding="utf-8")
        (tokenizer / "vocab.json").write_text(vocab, encoding="utf-8")
    if in_channels != 4:
        unet = out / "unet" / "config.json"
        config = json.loads(unet.read_text())
        config["in_channels"] = in_channels
        unet.write_text(json.dumps(config, indent=2) + "\n")


def build_clip_vocab(merges_text: str) -> dict[str, int]:
    """CLIP's vocabulary (token -> id) from its ``merges.txt`` text (first line a header):
    the 256 byte symbols in CLIP's order (printable Latin-1 bytes first, the rest moved to
    code points 256 up, as GPT-2's byte-level BPE does), the same with ``</w>``, one token
    per merge, then ``<|startoftext|>`` and ``<|endoftext|>``: 49,408 tokens for CLIP's
    48,894 merges (``scripts/clip_vocab.py`` makes the same files from open_clip's wheel)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    moved = [b for b in range(256) if b not in printable]
    symbols = [chr(b) for b in printable] + [chr(256 + i) for i in range(len(moved))]
    merges = ["".join(line.split()) for line in merges_text.split("\n")[1:] if line.strip()]
    tokens = [*symbols, *(s + "</w>" for s in symbols), *merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(tokens)}


def _pickle_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of a ``.ckpt`` (a torch pickle): loaded memory-mapped and with
    ``weights_only`` (no code runs), so the weights stay on disk until they are converted."""
    import torch

    try:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # a checkpoint from before torch's zip format cannot be mapped
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"{path} is not a readable .ckpt checkpoint: {exc}") from None
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path} holds no state dict of tensors")
    return {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}
