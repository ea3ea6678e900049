"""Prompt Schedule's *Prompt ideas*: a proposed schedule, shown first, used only when asked.

*Suggest* proposes a schedule offline (``studio.pipeline.prompt_ideas``: the sidebar model's
words for a built-in model, or a local text-generation model's lines); it is shown as a
preview, and *Use these prompts* (the confirmation) replaces the schedule editor's text with
it. Nothing changes the user's schedule before that click.
"""

from __future__ import annotations

import streamlit as st

from studio.errors import StudioError
from ui.state import keep, set_value

__all__ = ["draw_prompt_ideas"]

_IDEAS = "ps.ideas"  # the shown proposal: (PromptIdeas) or an error message
_MESSAGE = "ps.ideas_message"


def draw_prompt_ideas(model: str) -> None:
    """The expander, for the sidebar's ``model``."""
    with st.expander("Prompt ideas (offline)", expanded=_IDEAS in st.session_state):
        st.caption(
            "Proposes a schedule from the words a built-in model knows, or from a small "
            "text-generation model in a local folder. Shown here first; nothing changes "
            "your schedule until you use it."
        )
        c1, c2, c3 = st.columns(3)
        for column, key, label, default, low, high in (
            (c1, "ps.ideas_keyframes", "Keyframes to suggest", 4, 1, 100),
            (c2, "ps.ideas_spacing", "Frames between them", 12, 1, 100_000),
            (c3, "ps.ideas_seed", "Ideas seed", 0, 0, 2**31 - 1),
        ):
            keep(key, default)
            column.number_input(label, low, high, step=1, key=key)
        keep("ps.ideas_theme", "")
        keep("ps.ideas_text_model", "")
        t1, t2 = st.columns(2)
        t1.text_input(
            "Ideas theme",
            key="ps.ideas_theme",
            help="a text model's topic; colour and shape words start a built-in model's walk",
        )
        t2.text_input(
            "Text model folder (optional)",
            key="ps.ideas_text_model",
            help="a local folder with a causal language model and its tokenizer (e.g. a "
            "saved GPT-2); empty: the words of the sidebar's built-in model",
        )
        if st.button("Suggest", key="ps.ideas_suggest"):
            _suggest(model)
        _show()


def _suggest(model: str) -> None:
    from studio.pipeline.prompt_ideas import suggest_schedule

    folder = str(st.session_state["ps.ideas_text_model"]).strip()
    try:
        with st.spinner("Thinking of prompts..."):
            ideas = suggest_schedule(
                model,
                keyframes=int(st.session_state["ps.ideas_keyframes"]),
                frames_per_keyframe=int(st.session_state["ps.ideas_spacing"]),
                seed=int(st.session_state["ps.ideas_seed"]),
                theme=str(st.session_state["ps.ideas_theme"]),
                text_model=folder or None,
            )
    except StudioError as exc:
        st.session_state[_IDEAS] = str(exc)
    else:
        st.session_state[_IDEAS] = ideas


def _show() -> None:
    message = st.session_state.pop(_MESSAGE, None)
    if message:
        st.success(message)
    ideas = st.session_state.get(_IDEAS)
    if ideas is None:
        return
    if isinstance(ideas, str):
        st.error(ideas)
        return
    st.code(ideas.schedule, language=None)
    st.caption(f"From the {ideas.source}.")
    u1, u2 = st.columns(2)
    u1.button(
        "Use these prompts (replaces the schedule)",
        key="ps.ideas_use",
        type="primary",
        on_click=_use,
        args=(ideas.schedule,),
    )
    u2.button("Discard", key="ps.ideas_discard", on_click=st.session_state.pop, args=(_IDEAS,))


def _use(schedule: str) -> None:
    set_value("ps.schedule", schedule)
    st.session_state.pop(_IDEAS, None)
    st.session_state[_MESSAGE] = "The schedule now holds the suggested prompts."
