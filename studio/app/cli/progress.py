"""The terminal progress bar of the render commands."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from tqdm import tqdm

    from studio.events import OutputFile, RenderResult

__all__ = ["ProgressBar"]


class ProgressBar:
    """Terminal progress (tqdm on stderr), as a RenderEvents sink."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: tqdm | None = None

    def started(self, plan: dict[str, Any]) -> None:
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=plan["frames"], unit="frame", file=sys.stderr, desc="render")

    def progress(self, done: int, total: int, preview: np.ndarray | None = None) -> None:
        if self._bar is not None:
            self._bar.update(done - self._bar.n)

    def output(self, output: OutputFile) -> None:
        pass

    def finished(self, result: RenderResult) -> None:
        self.close()

    def failed(self, error: BaseException) -> None:
        self.close()

    def cancelled(self) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
