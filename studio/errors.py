"""Errors the studio raises on purpose.

Every error a user can cause is a ``StudioError``: the CLI prints its message on one line and
exits non-zero, the dashboard shows it with ``st.error``. Anything else that escapes is a bug.
"""

from __future__ import annotations

__all__ = [
    "CurveError",
    "DeviceMemoryError",
    "MediaError",
    "ModelLoadError",
    "NegativePromptError",
    "PromptListError",
    "RenderCancelled",
    "ScheduleError",
    "SpecError",
    "StudioError",
    "TextError",
]


class StudioError(Exception):
    """Base class for every error the studio reports to the user."""


class SpecError(StudioError):
    """A render spec is invalid: a missing field, a value out of range, an unknown version."""


class TextError(StudioError):
    """An error at a position in text the user typed (a schedule or a curve).

    ``line`` and ``column`` are 1-based. The message always names both, so it reads well on
    its own in a terminal or an ``st.error`` box.
    """

    what = "text"

    def __init__(self, message: str, line: int, column: int, source: str | None = None) -> None:
        self.reason = message
        self.line = line
        self.column = column
        self.source = source
        super().__init__(f"{self.what} line {line}, column {column}: {message}")


class ScheduleError(TextError):
    """The prompt schedule could not be read."""

    what = "schedule"


class PromptListError(TextError):
    """A blend's prompt list (one prompt per line, ``[seed=42]`` options) could not be read."""

    what = "prompts"


class NegativePromptError(TextError):
    """A spec's negative prompt (the one for every keyframe) could not be read."""

    what = "negative prompt"


class CurveError(TextError):
    """A curve (``0: (1.0), 30: (1.05)``) could not be read or evaluated."""

    what = "curve"


class ModelLoadError(StudioError):
    """A model reference could not be resolved or loaded."""


class DeviceMemoryError(StudioError):
    """The device ran out of memory during a render; the message says what to lower."""


class MediaError(StudioError):
    """An input or output media file could not be read or written."""


class RenderCancelled(StudioError):
    """The user cancelled a render; frames written so far stay on disk."""
