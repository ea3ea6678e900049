"""The model manager: turns a model reference into a loaded diffusers pipeline.

A reference is one of:

- ``builtin:NAME``: a model that ships with the studio (``studio.pipeline.builtin``);
- a local diffusers folder (it has a ``model_index.json``);
- a single ``.safetensors`` / ``.ckpt`` checkpoint file in the original (LDM) layout, loaded
  offline with the configs the studio ships (``studio.pipeline.single_file``);
- a Hugging Face Hub id such as ``stabilityai/sd-turbo`` (used from the local Hugging Face
  cache when it is there; downloaded only when the Hub can be reached).

The pipeline class is chosen from the model (``pipeline_class``): SDXL folders and files load as
``StableDiffusionXLPipeline`` (two text encoders), everything else as ``StableDiffusionPipeline``,
unless the caller names a class (a blend's upscaler: ``StableDiffusionUpscalePipeline``).

Each distinct load (reference, pipeline class, device, dtype, memory options) is cached once in
a bounded, thread-safe LRU. A cached pipeline is shared and must never be changed: renders
build their own scheduler (``studio.pipeline.schedulers.make_scheduler``) and only read
``pipe.components``. The one exception, LoRA adapters, are added for one render while it holds
the pipeline's lock alone and removed after it (``studio.pipeline.lora``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from studio.errors import ModelLoadError, SpecError
from studio.pipeline.builtin import BUILTIN_MODELS, builtin_folder
from studio.pipeline.families import check_runnable, folder_family, read_family
from studio.pipeline.gpu import apply_load_paths
from studio.pipeline.single_file import checkpoint_layout, load_single_file, pipeline_class_for

if TYPE_CHECKING:
    import torch

__all__ = [
    "LoadOptions",
    "LoadedModel",
    "ModelManager",
    "Pipeline",
    "default_cache_dir",
    "pipeline_class",
    "resolve_device",
    "resolve_dtype",
]

# A diffusers ``DiffusionPipeline``. ``Any``: its components (unet, vae, text_encoder, ...) are
# attributes diffusers registers at runtime, per pipeline class, so no static type names them.
Pipeline = Any
# The pipeline class ``LoadOptions.pipeline`` names, read from ``diffusers`` by name.
_PipelineClass = type[Any]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# The classes a model that draws frames loads as; its family is checked before a weight is read.
_DRAWING = ("StableDiffusionPipeline", "StableDiffusionXLPipeline")


@dataclass(frozen=True)
class LoadOptions:
    """Everything besides the reference that changes what a load returns."""

    pipeline: str = "auto"  # a diffusers pipeline class, or "auto": ``pipeline_class``
    device: str = "auto"
    dtype: str = "auto"
    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False
    xformers: bool = True  # used only when installed and the device is CUDA
    # Loading options (studio.spec.loading): weight file variant, Hub revision, custom code.
    variant: str = ""
    revision: str = ""
    custom_pipeline: str = ""
    # Speed paths (studio.pipeline.gpu): applied once, when the pipeline is loaded.
    channels_last: bool = False
    compile: bool = False


@dataclass(frozen=True)
class LoadedModel:
    ref: str
    pipe: Pipeline  # read it, never change it
    device: torch.device  # where the render runs
    dtype: torch.dtype  # of the weights
    source: str  # the folder or file it came from
    seconds: float  # how long the load took
    xformers: bool


def default_cache_dir() -> Path:
    """``$STUDIO_HOME/cache/models`` (``~/.latent-studio`` when STUDIO_HOME is unset)."""
    from studio.media.paths import studio_home  # the engine's one STUDIO_HOME rule

    return studio_home() / "cache" / "models"


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU. An unavailable device is an error."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SpecError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(f"device {name!r} asked for, but this machine has no CUDA GPU")
    if (
        device.type == "cuda"
        and device.index is not None
        and device.index >= torch.cuda.device_count()
    ):
        raise SpecError(f"device {name!r} asked for, but only {torch.cuda.device_count()} GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise SpecError("device 'mps' asked for, but Apple MPS is not available here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise SpecError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` is float16 on a GPU and float32 on the CPU."""
    import torch

    if name == "auto":
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name not in table:
        raise SpecError(f"unknown dtype {name!r}; use auto, float32, float16 or bfloat16")
    return table[name]


class ModelManager:
    """Loads pipelines once and shares them; safe to call from several threads."""

    def __init__(self, cache_dir: Path | None = None, capacity: int = 2) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.capacity = capacity
        self._loaded: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._components: OrderedDict[tuple, Any] = OrderedDict()  # ControlNets, ...
        self.loads = 0  # how many real loads happened (tests and the sidebar read it)

    def load(self, ref: str, options: LoadOptions | None = None) -> LoadedModel:
        options = options or LoadOptions()
        if options.pipeline == "auto":
            options = replace(options, pipeline=pipeline_class(ref, self.cache_dir))
        device = resolve_device(options.device)
        dtype = resolve_dtype(options.dtype, device)
        key = (ref, options.pipeline, str(device), str(dtype), options)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        # One thread loads a given key; others wait for it instead of loading it again.
        with key_lock:
            with self._lock:
                if key in self._loaded:
                    self._loaded.move_to_end(key)
                    return self._loaded[key]
            loaded = self._load(ref, options, device, dtype)
            with self._lock:
                self._loaded[key] = loaded
                while len(self._loaded) > self.capacity:
                    self._loaded.popitem(last=False)
                self._key_locks.pop(key, None)
                self.loads += 1
            return loaded

    def component(self, key: tuple, load: Callable[[], Any]) -> Any:
        """A model besides a pipeline (a ControlNet), made by ``load()`` once per ``key`` and
        shared like a pipeline: read it, never change it. ``key`` names everything that changes
        what ``load`` returns (kind, reference, device, dtype); up to ``capacity`` per kind."""
        with self._lock:
            if key in self._components:
                self._components.move_to_end(key)
                return self._components[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._components:
                    return self._components[key]
            made = load()
            with self._lock:
                self._components[key] = made
                same_kind = [k for k in self._components if k[0] == key[0]]
                for old in same_kind[: max(0, len(same_kind) - self.capacity)]:
                    del self._components[old]
                self._key_locks.pop(key, None)
                self.loads += 1
            return made

    def cached(self) -> list[str]:
        with self._lock:
            return [key[0] for key in self._loaded]

    def clear(self) -> None:
        with self._lock:
            self._loaded.clear()
            self._components.clear()

    # -- loading -------------------------------------------------------------------------

    def _load(
        self, ref: str, options: LoadOptions, device: torch.device, dtype: torch.dtype
    ) -> LoadedModel:
        import diffusers

        start = time.perf_counter()
        cls = getattr(diffusers, options.pipeline, None)
        if cls is None or not isinstance(cls, type):
            raise ModelLoadError(f"unknown pipeline class {options.pipeline!r}")
        pipe, source = self._from_reference(cls, ref, dtype, _load_kwargs(options))
        if options.cpu_offload:
            if device.type != "cuda":
                raise ModelLoadError("CPU offload needs a CUDA device; turn it off on this machine")
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        if options.attention_slicing:
            pipe.enable_attention_slicing()
        if options.vae_slicing:
            pipe.vae.enable_slicing()
        if options.vae_tiling:
            pipe.vae.enable_tiling()
        xformers = options.xformers and device.type == "cuda" and _xformers_installed()
        if xformers:
            pipe.enable_xformers_memory_efficient_attention()
        apply_load_paths(pipe, channels_last=options.channels_last, compile=options.compile)
        pipe.set_progress_bar_config(disable=True)
        return LoadedModel(
            ref=ref,
            pipe=pipe,
            device=device,
            dtype=dtype,
            source=source,
            seconds=time.perf_counter() - start,
            xformers=xformers,
        )

    def _from_reference(
        self, cls: _PipelineClass, ref: str, dtype: torch.dtype, extra: dict[str, Any]
    ) -> tuple[Pipeline, str]:
        if not ref or not ref.strip():
            raise ModelLoadError("no model given; use builtin:tiny, a folder, a file or a Hub id")
        if ref.startswith("builtin:"):
            folder = builtin_folder(ref.removeprefix("builtin:"), self.cache_dir)
            return _from_folder(cls, folder, dtype, extra), str(folder)
        path = Path(ref).expanduser()
        if path.is_dir():
            if not (path / "model_index.json").exists():
                raise ModelLoadError(
                    f"{path} is a folder but not a diffusers model (no model_index.json in it)"
                )
            if cls.__name__ in _DRAWING:  # the model that draws the frames
                check_runnable(read_family(path, ref), ref)  # configs only, before any weight
            return _from_folder(cls, path, dtype, extra), str(path)
        if path.suffix in (".safetensors", ".ckpt"):
            if not path.is_file():
                raise ModelLoadError(f"checkpoint file {path} does not exist")
            if cls.__name__ not in _DRAWING:
                raise ModelLoadError(
                    f"a single checkpoint file loads only as a model that draws frames, not as "
                    f"{cls.__name__}; give {path} as a diffusers folder"
                )
            return load_single_file(cls, path, dtype, self.cache_dir, ref), str(path)
        if _HUB_ID.match(ref) and not path.exists():
            return _from_hub(cls, ref, dtype, extra), ref
        raise ModelLoadError(
            f"cannot read model reference {ref!r}: not builtin:NAME, an existing diffusers "
            "folder, a .safetensors file, or a Hub id like org/name"
        )


def pipeline_class(ref: str, cache_dir: Path | None = None) -> str:
    """The diffusers pipeline class that model ``ref`` draws frames with, read from configs
    only: ``StableDiffusionXLPipeline`` for an SDXL model (two text encoders, pooled
    embeddings: a local or built-in folder whose family is ``sdxl...``, a single file with
    SDXL's tensors, or a Hub id whose cached ``model_index.json`` names an XL pipeline), else
    ``StableDiffusionPipeline``.

    Inpainting and InstructPix2Pix folders load as ``StableDiffusionPipeline`` too: the
    render kinds read the same components of either. Anything unreadable (a Hub id not in the
    cache, a broken folder or file) falls back to ``StableDiffusionPipeline``;
    loading it then says what is wrong.
    """
    xl = False
    if ref.startswith("builtin:"):
        if cache_dir is not None and ref.removeprefix("builtin:") in BUILTIN_MODELS:
            folder = builtin_folder(ref.removeprefix("builtin:"), cache_dir)
            xl = _index_class(folder / "model_index.json").startswith("StableDiffusionXL")
    elif Path(ref).suffix in (".safetensors", ".ckpt") and Path(ref).expanduser().is_file():
        try:
            return pipeline_class_for(checkpoint_layout(Path(ref).expanduser(), ref))
        except ModelLoadError:
            return "StableDiffusionPipeline"
    elif Path(ref).expanduser().is_dir():
        try:
            family = folder_family(ref)
        except ModelLoadError:
            family = None
        xl = family is not None and family.name.startswith("sdxl")
    elif _HUB_ID.match(ref):
        xl = "XL" in _index_class(_cached_hub_file(ref, "model_index.json"))
    return "StableDiffusionXLPipeline" if xl else "StableDiffusionPipeline"


def _index_class(path: Path | None) -> str:
    """``_class_name`` of the ``model_index.json`` at ``path`` ("" when there is none)."""
    if path is None:
        return ""
    try:
        index = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return ""
    return str(index.get("_class_name", "")) if isinstance(index, dict) else ""


def _cached_hub_file(repo: str, filename: str) -> Path | None:
    """A file of Hub repo ``repo`` from the local Hugging Face cache; None if not there."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo, filename)
    except Exception:  # an id the cache cannot hold; loading it says what is wrong
        return None
    return Path(found) if isinstance(found, str) else None


def _quiet_loading() -> None:
    # Loading bars from diffusers and transformers would interleave with the studio's own.
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def _load_kwargs(options: LoadOptions) -> dict[str, Any]:
    """``from_pretrained``'s variant, revision and custom_pipeline, where set; a custom
    pipeline is announced as a warning (``warnings``) whoever asked for it."""
    if options.custom_pipeline:
        import warnings

        from studio.spec.loading import custom_pipeline_warning

        warnings.warn(custom_pipeline_warning(options.custom_pipeline), stacklevel=3)
    names = ("variant", "revision", "custom_pipeline")
    extra: dict[str, Any] = {n: getattr(options, n) for n in names if getattr(options, n)}
    if options.custom_pipeline:
        # diffusers asks before it runs the code; the user's opt-in is that answer (the CLI
        # and the dashboard make them give it each time: docs/models.md#custom-pipelines).
        extra["trust_remote_code"] = True
    return extra


def _from_folder(
    cls: _PipelineClass, folder: Path, dtype: torch.dtype, extra: dict[str, Any] | None = None
) -> Pipeline:
    _quiet_loading()
    extra = {k: v for k, v in (extra or {}).items() if k != "revision"}  # a Hub thing
    _check_variant(folder, extra.get("variant", ""))
    try:
        return cls.from_pretrained(folder, dtype=dtype, local_files_only=True, **extra)
    except Exception as exc:  # diffusers raises many types for a broken folder
        raise ModelLoadError(
            f"could not load the diffusers folder {folder}: {_first_line(exc)}"
        ) from exc


def _check_variant(folder: Path, variant: str) -> None:
    """Refuse, before diffusers tries (and logs its attempts), a variant the folder does not
    have, or no variant where the folder has only variant weights (``unet/
    diffusion_pytorch_model.fp16.safetensors``: saved with ``save_pretrained(variant=...)``).
    No fallback either way: the user picks the weights, so they are the ones recorded."""
    weights = [p.name for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin")]
    variants = sorted({n.split(".")[-2].split("-")[0] for n in weights if n.count(".") >= 2})
    plain = any(n.count(".") == 1 for n in weights)
    if variant and variant not in variants:
        has = f"it has {', '.join(variants)}" if variants else "it has only the plain files"
        raise ModelLoadError(
            f"the diffusers folder {folder} has no weights of variant {variant!r} "
            f"(like diffusion_pytorch_model.{variant}.safetensors): {has}"
        )
    if not variant and variants and not plain:
        raise ModelLoadError(
            f"the diffusers folder {folder} has only weights of variant {variants[0]} "
            f"(like diffusion_pytorch_model.{variants[0]}.safetensors); give the variant "
            f"{variants[0]} (--variant {variants[0]} on the command line)"
        )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _from_hub(
    cls: _PipelineClass, ref: str, dtype: torch.dtype, extra: dict[str, Any] | None = None
) -> Pipeline:
    _quiet_loading()
    extra = extra or {}
    try:  # the local Hugging Face cache first: works offline once downloaded
        return cls.from_pretrained(ref, dtype=dtype, local_files_only=True, **extra)
    except Exception:
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    # Both places a model is chosen are named: this message reaches the command line and the
    # dashboard alike, and the engine cannot tell which one asked.
    advice = (
        f"download it where the Hub is reachable with `hf download {ref} --local-dir FOLDER`, "
        "then use that folder as the model: --model FOLDER on the command line, or in the "
        'dashboard sidebar\'s Model box choose "Other: folder, file or Hub id" and type FOLDER'
    )
    if offline:
        raise ModelLoadError(
            f"{ref} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; {advice}"
        )
    if not _reachable(endpoint):
        raise ModelLoadError(
            f"cannot reach the Hugging Face Hub at {endpoint} to download {ref}; {advice}"
        )
    try:
        return cls.from_pretrained(ref, dtype=dtype, **extra)
    except Exception as exc:
        raise ModelLoadError(f"could not download {ref} from the Hub: {exc}") from exc


def _reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """A TCP connection to the Hub's host: fails in seconds, not after minutes of retries."""
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _xformers_installed() -> bool:
    try:
        import xformers  # noqa: F401
    except Exception:  # it fails in several ways when built for another torch
        return False
    return True
