"""A warning before Render when a prompt uses words the chosen built-in model never learnt."""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from studio.pipeline.builtin import unknown_words

__all__ = ["unknown_words_message", "warn_unknown_words"]


def unknown_words_message(model: str, prompts: Iterable[str]) -> str | None:
    """The warning for ``prompts`` on ``model``, or None when every word is known."""
    words = list(dict.fromkeys(w for p in prompts for w in unknown_words(model, p)))
    if not words:
        return None
    quoted = [f"'{w}'" for w in words[:8]] + (["..."] if len(words) > 8 else [])
    names = ", ".join(quoted)
    verb = "is not a word" if len(words) == 1 else "are not words"
    return (
        f"{names} {verb} {model} knows; it draws coloured shapes on plain backgrounds, so "
        "those words change little or nothing. The sidebar lists the words it knows."
    )


def warn_unknown_words(model: str, prompts: Iterable[str]) -> None:
    message = unknown_words_message(model, prompts)
    if message is not None:
        st.warning(message, icon="⚠️")
