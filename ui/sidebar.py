"""The sidebar every page shares: current session, model, device, and running jobs."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from db.repository import list_sessions, slugify
from studio.builtin import BUILTIN_MODELS
from studio.spec import DEFAULT_MODEL
from ui.resources import get_jobs, get_store
from ui.state import keep, set_value

__all__ = ["SidebarChoice", "choose_model", "current", "draw_sidebar"]

_OTHER = "Other: folder, file or Hub id"
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class SidebarChoice:
    session: str  # slug
    model: str
    device: str


def draw_sidebar() -> SidebarChoice:
    with st.sidebar:
        st.markdown("### Latent Studio")
        with get_store().session() as s:
            slugs = [x.slug for x in list_sessions(s)]
        keep("sidebar.session", "default")
        if st.session_state["sidebar.session"] not in slugs:
            slugs.append(st.session_state["sidebar.session"])
        st.selectbox("Session", sorted(slugs), key="sidebar.session")
        with st.popover("New session", width="stretch"):
            name = st.text_input("Name of the new session", key="sidebar.new_session")
            st.button(
                "Create",
                key="sidebar.create_session",
                disabled=not name.strip(),
                on_click=lambda: set_value("sidebar.session", slugify(name)),
            )

        models = [f"builtin:{n}" for n in BUILTIN_MODELS] + [_OTHER]
        keep("sidebar.model", DEFAULT_MODEL)
        keep("sidebar.model_other", "")
        st.selectbox("Model", models, key="sidebar.model")
        if st.session_state["sidebar.model"] == _OTHER:
            st.text_input(
                "Model reference",
                key="sidebar.model_other",
                placeholder="/path/to/diffusers-folder or org/name",
            )
        keep("sidebar.device", "auto")
        st.selectbox("Device", DEVICES, key="sidebar.device", help="auto: CUDA, then MPS, then CPU")
        _jobs_summary()
    return current()


def choose_model(ref: str) -> None:
    """Select ``ref`` in the sidebar (a built-in, or "Other" with the reference typed in)."""
    if ref.startswith("builtin:") and ref.removeprefix("builtin:") in BUILTIN_MODELS:
        set_value("sidebar.model", ref)
    else:
        set_value("sidebar.model", _OTHER)
        set_value("sidebar.model_other", ref)


def current() -> SidebarChoice:
    """What the sidebar is set to (after ``draw_sidebar`` ran in this script run)."""
    model = st.session_state.get("sidebar.model", DEFAULT_MODEL)
    if model == _OTHER:
        model = st.session_state.get("sidebar.model_other", "").strip()
    return SidebarChoice(
        session=st.session_state.get("sidebar.session", "default"),
        model=model,
        device=st.session_state.get("sidebar.device", "auto"),
    )


def _jobs_summary() -> None:
    active = [j for j in get_jobs().jobs() if not j.is_finished]
    if active:
        st.caption(f"Rendering: {len(active)} job(s)")
        for job in active:
            total = max(job.total, 1)
            st.progress(min(job.done / total, 1.0), text=f"{job.label}: {job.done}/{job.total}")
