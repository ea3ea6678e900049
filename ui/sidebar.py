"""The sidebar every page shares: current session, model, device, and running jobs."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from db.repository import list_sessions, slugify
from studio.pipeline.builtin import BUILTIN_MODELS, vocabulary
from studio.spec import DEFAULT_MODEL
from ui.resources import get_jobs, get_store
from ui.scale_panel import draw_scale_settings
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
        draw_scale_settings()
        _words(current().model)
        _mlflow()
        _jobs_summary()
    return current()


def _words(model: str) -> None:
    """The words a built-in model learnt: prompts outside them draw nothing it knows."""
    words = vocabulary(model)
    if words is None:
        return
    with st.expander(f"Words {model} knows"):
        for kind, items in words.items():
            st.caption(f"**{kind}**: " + ", ".join(items))
        st.caption('e.g. "a large red circle on a black background at the top left"')


def _mlflow() -> None:
    """Experiment logging (off by default): each render this tab starts is also logged to
    MLflow (``studio.app.tracking``); a failure to log is a note on the run."""
    keep("sidebar.mlflow", False)
    st.toggle(
        "Log runs to MLflow",
        key="sidebar.mlflow",
        help="spec as params, timings as metrics, outputs as artifacts (needs mlflow-skinny)",
    )
    if st.session_state["sidebar.mlflow"]:
        keep("sidebar.mlflow_uri", "")
        st.text_input(
            "MLflow tracking URI",
            key="sidebar.mlflow_uri",
            placeholder="empty: $MLFLOW_TRACKING_URI, else $STUDIO_HOME/mlflow",
        )


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
    """This tab's unfinished renders, kept current while there are any; other tabs' only
    counted (their settings are theirs)."""
    from ui.job_panel import job_status_text
    from ui.render import owner

    jobs = get_jobs()
    me = owner()
    active = [j for j in jobs.jobs() if not j.is_finished]
    if not active:
        return
    polling = any(j.meta.get("owner") == me for j in active)

    # Polls only while this tab has a render going: a fragment that reruns on a timer can
    # swallow the rerun a widget asks for (an upload then goes unseen until the next one).
    @st.fragment(run_every=1.0 if polling else None)
    def _live() -> None:
        mine = [j for j in jobs.jobs() if not j.is_finished and j.meta.get("owner") == me]
        others = sum(1 for j in jobs.jobs() if not j.is_finished) - len(mine)
        if polling and not mine:
            st.rerun()  # the whole app: this tab's renders are done, stop polling
        for job in reversed(mine):  # oldest first, as the worker takes them
            fraction = min(job.done / job.total, 1.0) if job.total else 0.0
            st.progress(
                fraction,
                text=f"{job.meta.get('kind', 'render')} {job.meta.get('run_id', '')}: "
                f"{job_status_text(job, jobs.ahead(job))}",
            )
        if others:
            st.caption(
                f"{others} render{'s' if others != 1 else ''} from other browser tabs "
                "queued or running on this dashboard."
            )

    st.caption("Renders")
    _live()
