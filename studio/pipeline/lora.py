"""LoRA adapters for one render, on a shared cached pipeline, and handed back as they were.

A render with LoRAs loads each adapter into the pipeline with diffusers'
``load_lora_weights(..., adapter_name=...)`` (the PEFT backend), sets the adapters' weights
with ``set_adapters`` before each UNet batch (``LoraSession.use``), and removes them with
``unload_lora_weights`` when the render ends, fails or is cancelled (``close``), so the cached
pipeline is again exactly what the manager loaded.

That is a change to a pipeline other renders share (``studio.pipeline.models``), so every
render holds the pipeline's ``PipelineLock`` for as long as it uses it: renders without
LoRAs share it (they only read the pipeline, and run side by side as before), a render with
LoRAs holds it alone. Waiting writers go first, so a LoRA render is not starved by a stream
of plain ones. In the dashboard GPU work is one job at a time per device anyway; the lock
is what makes threads of the Python API, and tests, safe.

Sources (``check_lora_sources`` finds each, before a run is recorded): a ``.safetensors``
file; a folder with ``pytorch_lora_weights.safetensors`` or exactly one ``.safetensors``
file; a Hub id whose snapshot is in the local Hugging Face cache (never downloaded here:
``hf download ID`` where the Hub is reachable). Relative paths follow
``studio.media.paths.resolve_media_path`` (working folder, then ``STUDIO_HOME``).

A LoRA's text-encoder layers (some files have them) are set with the weight at frame 0
while prompts are encoded, once; a weight curve that changes over the frames therefore only
fits LoRAs without them, and the render refuses other combinations with the reason.
"""

from __future__ import annotations

import re
import threading
import warnings
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import ModelLoadError, SpecError
from studio.media.paths import resolve_media_path

__all__ = [
    "LoraSession",
    "PipelineLock",
    "check_lora_sources",
    "find_lora_file",
    "open_loras",
    "pipeline_lock",
]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_DEFAULT_NAME = "pytorch_lora_weights.safetensors"  # what diffusers' save_lora_weights writes


# -- where a LoRA comes from ---------------------------------------------------------------


def find_lora_file(source: str, what: str = "LoRA") -> Path:
    """The ``.safetensors`` file that LoRA ``source`` names; ``SpecError`` in one line if none.

    ``what`` names the entry in the message (``LoRA 2``).
    """
    path = resolve_media_path(source)
    if path.is_file():
        if path.suffix != ".safetensors":
            raise SpecError(f"{what}: {source} is not a .safetensors file")
        return path
    if path.is_dir():
        return _file_in_folder(path, source, what)
    looks_like_path = source.endswith(".safetensors") or source.startswith(("/", ".", "~"))
    if looks_like_path or not _HUB_ID.match(source):
        raise SpecError(f"{what}: file {source} does not exist")
    return _file_in_folder(_hub_snapshot(source, what), source, what)


def check_lora_sources(entries: Sequence[Any]) -> list[Path]:
    """Each LoRA's file (``find_lora_file``), in order: the first missing one is an error, as
    is a weight curve that changes on a LoRA with text-encoder layers (read from the file's
    header only). ``entries``: spec LoRA entries (``.source``, ``.weight``)."""
    files = []
    for i, entry in enumerate(entries):
        what = f"LoRA {i + 1}"
        path = find_lora_file(entry.source, what)
        if isinstance(entry.weight, str) and _changes(entry.weight) and _on_text_encoder(path):
            raise SpecError(_TEXT_ENCODER.format(what=f"{what} ({entry.source})"))
        files.append(path)
    return files


def _file_in_folder(folder: Path, source: str, what: str) -> Path:
    if (folder / _DEFAULT_NAME).is_file():
        return folder / _DEFAULT_NAME
    found = sorted(folder.glob("*.safetensors"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise SpecError(f"{what}: folder {source} has no .safetensors file in it")
    names = ", ".join(p.name for p in found[:4])
    raise SpecError(
        f"{what}: folder {source} has {len(found)} .safetensors files ({names}); name the file"
    )


_TEXT_ENCODER = (
    "{what} has text-encoder layers, and prompts are encoded once per render; give it a "
    "constant weight, not a curve that changes"
)


def _changes(weight: str) -> bool:
    """Whether weight curve ``weight`` may take more than one value over the frames."""
    from studio.languages.curves import parse_curve

    curve = parse_curve(weight, names=("t",))
    if any(k.depends_on_variables for k in curve.keys):
        return True
    return bool(np.ptp(curve.values(curve.keys[-1].frame + 1)) > 0)


def _on_text_encoder(path: Path) -> bool:
    """Whether the LoRA file has text-encoder layers (diffusers' or kohya's key names)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            keys = list(f.keys())
    except Exception:
        raise SpecError(f"{path} is not a readable .safetensors file") from None
    return any(k.startswith(("text_encoder", "lora_te")) for k in keys)


def _hub_snapshot(repo: str, what: str) -> Path:
    from huggingface_hub import snapshot_download

    try:  # the cache only: a render never downloads (the Hub may be unreachable or slow)
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:
        raise SpecError(
            f"{what}: {repo} is neither a file nor a folder here, nor in the local Hugging Face "
            f"cache; run `hf download {repo}` where the Hub is reachable, or give its file"
        ) from None


# -- sharing a pipeline ----------------------------------------------------------------------


class PipelineLock:
    """A readers/writer lock: many ``shared()`` holders or one ``exclusive()`` holder.

    Writers waiting go before new readers, so a LoRA render is not starved by plain ones.
    Not re-entrant: a thread holding it must not take it again.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                self._cond.wait_for(lambda: not self._writer and not self._readers)
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


_locks: weakref.WeakKeyDictionary[Any, PipelineLock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def pipeline_lock(pipe: Any) -> PipelineLock:
    """The one ``PipelineLock`` of ``pipe`` (made on first use; goes with the pipeline)."""
    with _locks_guard:
        lock = _locks.get(pipe)
        if lock is None:
            lock = _locks[pipe] = PipelineLock()
        return lock


# -- one render's adapters -------------------------------------------------------------------


@dataclass(frozen=True)
class _Adapter:
    name: str  # the adapter's name in the pipeline
    source: str  # as the spec gives it
    weights: np.ndarray  # (F,) float64: its weight on each frame


class LoraSession:
    """A render's hold on its pipeline: the lock, and its adapters with per-frame weights.

    ``use(frames)`` sets the adapters' weights for frames that share them; ``group_key(f)``
    says which frames do (frames of one UNet batch must). ``close()`` removes the adapters and
    lets the lock go; it is safe to call twice.
    """

    def __init__(self, pipe: Any, adapters: list[_Adapter], hold: Any) -> None:
        self.pipe, self.adapters, self._hold = pipe, adapters, hold
        self._set: tuple[float, ...] | None = None

    def group_key(self, frame: int) -> tuple[float, ...]:
        """The adapters' weights on ``frame``; frames with equal keys can share a UNet batch."""
        return tuple(float(a.weights[min(frame, len(a.weights) - 1)]) for a in self.adapters)

    def use(self, frames: Sequence[int]) -> None:
        """Set the adapters' weights for ``frames`` (which must share them) before the UNet."""
        if not self.adapters or not frames:
            return
        key = self.group_key(frames[0])
        if any(self.group_key(f) != key for f in frames[1:]):
            raise ValueError(f"frames {list(frames)} do not share their LoRA weights")
        if key != self._set:
            self.pipe.set_adapters([a.name for a in self.adapters], list(key))
            self._set = key

    def close(self) -> None:
        hold, self._hold = self._hold, None
        if hold is None:
            return
        try:
            if self.adapters:
                self.pipe.unload_lora_weights()
        finally:
            hold.__exit__(None, None, None)


def open_loras(pipe: Any, entries: Sequence[Any], weights: Sequence[np.ndarray]) -> LoraSession:
    """Take ``pipe``'s lock and load ``entries`` (spec LoRA entries with ``.source``) into it.

    ``weights[i]``: entry ``i``'s weight per frame, (F,) (a blend: one value). Without
    entries the lock is shared and nothing is loaded. Raises ``ModelLoadError`` for a file
    that is not a LoRA of this model, ``SpecError`` for a missing source or a weight curve
    on text-encoder layers; the pipeline is left as it was and the lock let go.
    """
    lock = pipeline_lock(pipe)
    hold = lock.exclusive() if entries else lock.shared()
    hold.__enter__()
    session = LoraSession(pipe, [], hold)
    try:
        for i, (entry, w) in enumerate(zip(entries, weights, strict=True)):
            path = find_lora_file(entry.source, f"LoRA {i + 1}")
            name = f"studio_lora_{i}"
            _load(pipe, path, name, entry.source)
            session.adapters.append(_Adapter(name, entry.source, np.asarray(w, dtype=np.float64)))
        if session.adapters:
            _check_text_encoder(pipe, session.adapters)
            session.use([0])  # the weights the prompts are encoded with
        return session
    except BaseException:
        if session.adapters or entries:
            try:
                pipe.unload_lora_weights()
            finally:
                session.adapters = []
        session.close()
        raise


def _load(pipe: Any, path: Path, name: str, source: str) -> None:
    import diffusers

    level = diffusers.utils.logging.get_verbosity()
    # A LoRA without text-encoder layers makes diffusers warn that it found none, and a second
    # adapter makes PEFT warn that there are several: both are what a render asks for.
    diffusers.utils.logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            pipe.load_lora_weights(str(path), adapter_name=name)
    except Exception as exc:  # diffusers and peft raise many types for a file that does not fit
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"could not load LoRA {source} into this model: {reason}") from None
    finally:
        diffusers.utils.logging.set_verbosity(level)


def _check_text_encoder(pipe: Any, adapters: list[_Adapter]) -> None:
    """Refuse a changing weight on a LoRA that has text-encoder layers (encoded once)."""
    listed = pipe.get_list_adapters()
    on_text = {
        n for part, names in listed.items() if part.startswith("text_encoder") for n in names
    }
    for i, a in enumerate(adapters):
        if a.name in on_text and np.ptp(a.weights) > 0:
            raise SpecError(_TEXT_ENCODER.format(what=f"LoRA {i + 1} ({a.source})"))
