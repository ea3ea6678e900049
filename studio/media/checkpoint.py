"""Checkpoints of a render in progress, so that a killed render can resume where it stopped.

While a render runs, every video frame it writes is also kept losslessly in a hidden folder
next to its output (``<out_dir>/.<name>.checkpoint/``): its raw RGB bytes are appended to one
file, ``frames.rgb`` (O(1) per frame: no per-frame file, no compression), and after each unit
of work (a batch of an animation, a transition of a blend) a small ``state.json`` says how
many frames are final, their size, how many denoise steps they cost, and, for a blend, which
tensor file holds what the next transition needs. A resumed render replays the kept frames
into a fresh writer and computes only the rest; since every frame is a function of the spec
alone (seeded noise, the same schedule), the video equals an uninterrupted render's, byte for
byte on the same device.

A commit flushes and fsyncs the frame file and the tensor file first, then writes
``state.json`` under a temporary name, fsyncs it and renames it: a kill (or a power cut) at
any moment leaves either the previous state or the new one, never a state that counts frames
not on disk. There is no fsync per frame, only one per commit. Bytes past the state's count
(from a batch cut off by the kill) are ignored and overwritten. The folder is removed when
the render ends (finished, failed or cancelled): only a killed render keeps one.

    checkpoint = FrameCheckpoint.open(out_dir, "animation", spec, resume=True)
    for image in checkpoint.frames(): writer.write(image)     # the frames already made
    ...; checkpoint.add_frame(image); checkpoint.commit(denoise_steps=n)
    checkpoint.remove()                                       # when the render ends
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from studio.errors import MediaError

if TYPE_CHECKING:
    import torch

    from studio.spec import AnimationSpec, BlendSpec

__all__ = ["CHECKPOINT_VERSION", "FrameCheckpoint"]

CHECKPOINT_VERSION = 2  # 2: raw frames in one file (1 kept a PNG per frame)
_STATE = "state.json"
_FRAMES = "frames.rgb"


class FrameCheckpoint:
    """The kept frames and state of one render (see the module docstring).

    Attributes:
        folder: where the checkpoint lives.
        frames_done: video frames already final when the render started (0: a fresh start).
        denoise_steps_before: the denoise steps those frames cost in earlier attempts.
        seconds_before: wall time of the earlier attempts, up to their last commit.
        attempt: 1 for a fresh start, 2 for the first resume, ...
        state: the engine's own fields of the last commit (``{}`` on a fresh start).
    """

    def __init__(self, folder: Path, fingerprint: str, state: dict[str, Any] | None) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        state = state or {}
        self.frames_done: int = state.get("frames", 0)
        self.denoise_steps_before: int = state.get("denoise_steps", 0)
        self.seconds_before: float = state.get("seconds", 0.0)
        self.attempt: int = state.get("attempt", 0) + 1
        self.state: dict[str, Any] = state.get("engine", {})
        self._tensors: str | None = state.get("tensors")
        shape = state.get("frame_shape")
        self._shape: tuple[int, int, int] | None = tuple(shape) if shape else None
        self._next = self.frames_done
        self._file: BinaryIO | None = None  # frames.rgb, opened on the first frame added
        self._began = time.perf_counter()

    @classmethod
    def open(
        cls, out_dir: Path, name: str, spec: AnimationSpec | BlendSpec, *, resume: bool
    ) -> FrameCheckpoint:
        """The checkpoint of render ``name`` of ``spec`` in ``out_dir``.

        With ``resume``, an earlier attempt's checkpoint of the same spec is taken up (one of
        another spec, or with a frame missing, is discarded: the render starts over). Without
        it, any earlier checkpoint is discarded. On resume, the partial files the killed writer
        left for ``name`` are removed, so the new writer finds its path free.
        """
        folder = Path(out_dir) / f".{name}.checkpoint"
        fingerprint = hashlib.sha256(spec.to_json(indent=None).encode()).hexdigest()
        state = _read_state(folder, fingerprint) if resume else None
        if state is None:
            shutil.rmtree(folder, ignore_errors=True)
        if resume:
            _remove_partial_outputs(Path(out_dir), name)
        return cls(folder, fingerprint, state)

    @property
    def resumed(self) -> bool:
        """True when earlier work was taken up (frames or steps)."""
        return self.frames_done > 0 or self.denoise_steps_before > 0

    def frames(self) -> Iterator[np.ndarray]:
        """The kept frames, (H, W, 3) uint8, in order; one in memory at a time."""
        if not self.frames_done:
            return
        size = int(np.prod(self._shape))
        with open(self.folder / _FRAMES, "rb") as f:
            for _ in range(self.frames_done):
                yield np.frombuffer(f.read(size), np.uint8).reshape(self._shape)

    def add_frame(self, image: np.ndarray) -> None:
        """Keep the next video frame (final only once ``commit`` counts it)."""
        shape = tuple(image.shape)
        if self._shape is None:
            self._shape = shape
        elif shape != self._shape:
            raise MediaError(f"checkpoint frame {self._next} is {shape}, not {self._shape}")
        try:
            if self._file is None:
                self._file = self._open_frames()
            self._file.write(np.ascontiguousarray(image, np.uint8).data)
        except OSError as exc:
            raise MediaError(f"could not write checkpoint frame {self._next}: {exc}") from exc
        self._next += 1

    def _open_frames(self) -> BinaryIO:
        """The frame file, positioned after the final frames (later bytes are overwritten)."""
        self.folder.mkdir(parents=True, exist_ok=True)  # made on first use: a render
        # that fails before its first frame leaves nothing behind
        path = self.folder / _FRAMES
        file = open(path, "r+b" if path.exists() else "wb")  # noqa: SIM115 (kept open)
        end = self.frames_done * int(np.prod(self._shape))
        file.seek(end)
        file.truncate(end)
        return file

    def commit(
        self,
        *,
        denoise_steps: int,
        engine: dict[str, Any] | None = None,
        tensors: dict[str, Any] | None = None,
    ) -> None:
        """Make every frame added so far final.

        ``denoise_steps``: what all the final frames cost, earlier attempts included.
        ``engine``: JSON-safe fields the engine needs to go on (``state`` on resume).
        ``tensors``: a dict of tensors (nested dicts allowed) it needs too, saved with
        ``torch.save`` and given back by ``load_tensors``.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._file is not None:  # the frames reach the disk before a state counts them
            self._file.flush()
            os.fsync(self._file.fileno())
        tensor_file = None
        if tensors is not None:
            import torch

            tensor_file = f"tensors-{self._next:06d}.pt"
            tmp = self.folder / f".{tensor_file}.part"
            with open(tmp, "wb") as f:
                torch.save(tensors, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.folder / tensor_file)
        state = {
            "version": CHECKPOINT_VERSION,
            "spec_sha256": self.fingerprint,
            "frames": self._next,
            "denoise_steps": denoise_steps,
            "seconds": self.seconds_before + time.perf_counter() - self._began,
            "attempt": self.attempt,
            "engine": engine or {},
            "tensors": tensor_file,
            "frame_shape": list(self._shape) if self._shape else None,
        }
        tmp = self.folder / f".{_STATE}.part"
        with open(tmp, "w") as f:
            f.write(json.dumps(state))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / _STATE)
        # The previous tensor file is no longer referenced by the state on disk.
        if self._tensors and self._tensors != tensor_file:
            with contextlib.suppress(OSError):
                (self.folder / self._tensors).unlink()
        self._tensors = tensor_file

    def load_tensors(self, device: torch.device | str) -> dict[str, Any] | None:
        """The tensors of the commit this render resumed from, on ``device``; None if none."""
        if not self._tensors:
            return None
        import torch

        return torch.load(self.folder / self._tensors, map_location=device, weights_only=True)

    def remove(self) -> None:
        """Delete the checkpoint: the render has ended and will not be resumed."""
        if self._file is not None:
            self._file.close()
            self._file = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def resume_facts(self, denoise_steps_total: int) -> dict[str, Any]:
        """What the store keeps about a resumed render (``RenderResult.resume``)."""
        return {
            "attempt": self.attempt,
            "from_frame": self.frames_done,
            "denoise_steps_before": self.denoise_steps_before,
            "denoise_steps_this_attempt": denoise_steps_total - self.denoise_steps_before,
            "seconds_before": round(self.seconds_before, 3),
        }


def _read_state(folder: Path, fingerprint: str) -> dict[str, Any] | None:
    """The last committed state, if it belongs to this spec and all its files are there."""
    try:
        state = json.loads((folder / _STATE).read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(state, dict)
        or state.get("version") != CHECKPOINT_VERSION
        or state.get("spec_sha256") != fingerprint
    ):
        return None
    frames, shape = state.get("frames", 0), state.get("frame_shape")
    if frames and not (
        isinstance(shape, list)
        and len(shape) == 3
        and _size(folder / _FRAMES) >= frames * int(np.prod(shape))
    ):
        return None
    if state.get("tensors") and not (folder / state["tensors"]).is_file():
        return None
    return state


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _remove_partial_outputs(out_dir: Path, name: str) -> None:
    """Remove what a killed writer of ``name`` left: its hidden temporary files
    (``studio.media.writers`` names them ``.<name>.<token>.<suffix>``) and a PNG folder's frames."""
    if not out_dir.is_dir():
        return
    for leftover in out_dir.glob(f".{name}.*"):
        if leftover.is_file() and leftover.name != f".{name}.checkpoint":
            with contextlib.suppress(OSError):
                leftover.unlink()
    frames = out_dir / name
    if frames.is_dir():
        for frame in [*frames.glob("frame_*.png"), *frames.glob(".frame_*.part.png")]:
            with contextlib.suppress(OSError):
                frame.unlink()
        with contextlib.suppress(OSError):
            frames.rmdir()
