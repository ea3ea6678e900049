"""What a render tells the outside world while it runs.

The engine reports to a ``RenderEvents`` sink and knows nothing of who listens: the CLI's
progress bar, the dashboard's job, and the store's run recorder (``db.recorder``) all
implement this protocol. ``Fanout`` sends every event to several sinks.

Order of calls: ``started`` once; ``progress`` any number of times; ``output`` once per file
written; then exactly one of ``finished``, ``failed`` or ``cancelled``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from studio.errors import RenderCancelled

__all__ = [
    "CancelToken",
    "Fanout",
    "NullEvents",
    "OutputFile",
    "RenderEvents",
    "RenderResult",
]


@dataclass(frozen=True)
class OutputFile:
    """A finished file (or, for ``kind == "png"``, a folder of numbered PNG frames).

    ``smoothness``: how evenly its frames move, as its writer scored them
    (``studio.media.smoothness.SmoothnessMeter.facts``); None when unknown.
    """

    path: Path
    kind: str  # mp4 | gif | png
    frames: int
    fps: float
    width: int
    height: int
    has_audio: bool = False
    smoothness: dict[str, Any] | None = None


@dataclass
class RenderResult:
    """What a finished render returns; each render kind returns a subclass with its own facts.

    ``notes`` are things the user should read (e.g. why a soundtrack was not added);
    ``resume`` says what this attempt did when it went on from an earlier, killed one
    (``studio.media.checkpoint.FrameCheckpoint.resume_facts``), else None. The first
    output's ``smoothness`` (how evenly the frames move) is recorded with the run, and so
    is ``preview`` (``studio.pipeline.preview.LivePreview.facts``: which decoder drew the
    live previews, how many, at what cost).
    """

    outputs: list[OutputFile]
    frames: int
    fps: float
    denoise_steps: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    notes: list[str] = field(default_factory=list)
    resume: dict[str, Any] | None = None
    preview: dict[str, Any] | None = None  # the live previews' decoder and cost
    # Scale-out on Ray (studio.app.scale): the shard plan, workers, each shard's timing.
    scale_out: dict[str, Any] | None = None

    def kind_facts(self) -> dict[str, Any]:
        """The render kind's own JSON-safe facts, in the order the store keeps them."""
        return {}

    @property
    def extra(self) -> dict[str, Any]:
        """What the store records besides the common fields (``runs.extra``): the kind's
        facts, then ``smoothness``, ``resume``, ``preview``, ``scale_out`` and ``notes`` when there are any. Read-only:
        built anew."""
        extra = self.kind_facts()
        if self.outputs and self.outputs[0].smoothness is not None:
            extra["smoothness"] = self.outputs[0].smoothness
        if self.resume is not None:
            extra["resume"] = self.resume
        if self.preview is not None:
            extra["preview"] = self.preview
        if self.scale_out is not None:
            extra["scale_out"] = self.scale_out
        if self.notes:
            extra["notes"] = list(self.notes)
        return extra

    def to_dict(self) -> dict[str, Any]:
        return {
            "outputs": [str(o.path) for o in self.outputs],
            "frames": self.frames,
            "fps": self.fps,
            "seconds": round(self.seconds, 3),
            "denoise_steps": self.denoise_steps,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            **self.extra,
        }


class RenderEvents(Protocol):
    def started(self, plan: dict[str, Any]) -> None:
        """``plan`` is JSON-safe: frames, keyframes, predicted denoise steps, device..."""

    def progress(self, done: int, total: int, preview: np.ndarray | None = None) -> None:
        """``done`` of ``total`` frames finished; ``preview`` is the newest (H, W, 3) uint8."""

    def output(self, output: OutputFile) -> None: ...

    def finished(self, result: RenderResult) -> None: ...

    def failed(self, error: BaseException) -> None: ...

    def cancelled(self) -> None: ...


class NullEvents:
    """A sink that ignores everything; subclasses hear what they override."""

    @property
    def wants_previews(self) -> bool:
        """False while ``progress`` is this class's own: no one would see a live preview, so
        a render that reports here draws none (``studio.pipeline.preview.LivePreview``)."""
        return type(self).progress is not NullEvents.progress

    def started(self, plan: dict[str, Any]) -> None:
        pass

    def progress(self, done: int, total: int, preview: np.ndarray | None = None) -> None:
        pass

    def output(self, output: OutputFile) -> None:
        pass

    def finished(self, result: RenderResult) -> None:
        pass

    def failed(self, error: BaseException) -> None:
        pass

    def cancelled(self) -> None:
        pass


class Fanout:
    """Sends each event to every sink, in order."""

    def __init__(self, *sinks: RenderEvents) -> None:
        self.sinks = [s for s in sinks if s is not None]

    def __getattr__(self, name: str) -> Callable[..., None]:
        def call(*args: Any, **kwargs: Any) -> None:
            for sink in self.sinks:
                getattr(sink, name)(*args, **kwargs)

        return call


class CancelToken:
    """Set from any thread; the engine checks it between denoise steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise RenderCancelled("render cancelled by the user")
