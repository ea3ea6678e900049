"""Progress, time left, cancel and result of a background render job, for any page.

While the job waits it says how many renders are ahead and when it should start; while it
runs, which frame it is on and about how long is left; when it ends, its result comes first
in the panel (the video, or the shorter video a cancel kept), scrolled into view once, with
its run id opening History at that run.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from ui.estimate import remaining_seconds
from ui.history import duration
from ui.resources import get_jobs
from ui.text import plain

__all__ = ["job_panel", "job_status_text", "show_output"]

POLL_SECONDS = 0.5
HISTORY_PAGE = "pages/history.py"
FOCUS_RUN = "history.focus_run"  # History selects this run when it is set


def job_panel(state_key: str) -> None:
    """Draw the job whose id is in ``st.session_state[state_key]``, polling while it runs."""
    job_id = st.session_state.get(state_key)
    if not job_id:
        return
    jobs = get_jobs()
    job = jobs.get(job_id)
    if job is None:  # the dashboard restarted; History has the run
        st.info("That render belongs to an earlier start of the dashboard; see History.")
        return
    box = st.container(key=f"{state_key.replace('.', '_')}_result")

    @st.fragment(run_every=None if job.is_finished else POLL_SECONDS)
    def _panel() -> None:
        run_id = job.meta.get("run_id", "")
        if not job.is_finished:
            text = job_status_text(job, jobs.ahead(job))
            fraction = min(job.done / job.total, 1.0) if job.total else 0.0
            st.progress(fraction, text=f"Run {run_id}: {text}")
            cols = st.columns([3, 1])
            if job.preview is not None:
                cols[0].image(job.preview, caption="live preview", width=256)
            cols[1].button("Cancel", key=f"cancel.{job.id}", on_click=job.cancel)
            st.session_state[f"{state_key}.polling"] = True
            return
        if st.session_state.pop(f"{state_key}.polling", False):
            st.rerun()  # the whole page, so the finished result replaces the poller
        _result(job, run_id, state_key)

    with box:
        _panel()


def job_status_text(job, ahead: list) -> str:
    """One line for an unfinished job: its place in the queue or its frame, and time left."""
    meta = job.meta
    plan = job.plan or {}
    steps = plan.get("predicted_denoise_steps", meta.get("predicted_steps"))
    rate = meta.get("seconds_per_step")
    now = time.time()
    if job.status == "queued":
        wait = 0.0
        for other in ahead:
            other_steps = (other.plan or {}).get(
                "predicted_denoise_steps", other.meta.get("predicted_steps")
            )
            left = remaining_seconds(
                done=other.done,
                total=other.total,
                elapsed=None if other.started_at is None else now - other.started_at,
                predicted_steps=other_steps,
                seconds_per_step=other.meta.get("seconds_per_step"),
            )
            if left is None:
                wait = None
                break
            wait += left
        place = (
            f"queued behind {len(ahead)} render{'s' if len(ahead) != 1 else ''} on this device"
            if ahead
            else "queued, starting now"
        )
        own = remaining_seconds(
            done=0, total=0, elapsed=None, predicted_steps=steps, seconds_per_step=rate
        )
        if wait is None or own is None:
            return place
        if not ahead:
            return f"{place}; about {duration(own)} to render"
        return f"{place}; starts in about {duration(wait)}, done in about {duration(wait + own)}"
    elapsed = None if job.started_at is None else now - job.started_at
    left = remaining_seconds(
        done=job.done,
        total=job.total,
        elapsed=elapsed,
        predicted_steps=steps,
        seconds_per_step=rate,
    )
    where = f"frame {job.done} of {job.total}" if job.total else "loading the model"
    return where if left is None else f"{where}, about {duration(left)} left"


def _result(job, run_id: str, state_key: str) -> None:
    """The finished job: the outcome line with the run's link, then the file(s) it made."""
    if job.status == "done":
        result = job.result
        st.success(
            f"Run {run_id} finished: {job.done} frames, {result.denoise_steps} denoise "
            f"steps in {duration(result.seconds)}."
        )
    elif job.status == "cancelled":
        kept = f"; the {job.done} frames made are kept below" if job.outputs else ""
        st.warning(f"Run {run_id} was cancelled after {job.done} frames{kept}.")
    else:
        st.error(plain(f"Run {run_id} failed: {job.error}"))
    for output in job.outputs:
        show_output(
            output.path,
            output.kind,
            alt=f"{output.kind} output of run {run_id}",
            width=_display_width(output.width),
        )
    if run_id and st.button(
        f"Open run {run_id} in History", key=f"{state_key}.history.{job.id}", icon="🕘"
    ):
        st.session_state[FOCUS_RUN] = run_id
        st.switch_page(HISTORY_PAGE)
    if job.status == "done":
        for note in job.result.notes:
            st.info(note)
    _scroll_into_view_once(job.id, f"st-key-{state_key.replace('.', '_')}_result")


def _scroll_into_view_once(job_id: str, css_class: str) -> None:
    """Bring the result into view the first time it is drawn (not on every later rerun)."""
    seen = st.session_state.setdefault("_scrolled_results", set())
    if job_id in seen:
        return
    seen.add(job_id)
    # A zero-height frame runs the script; it shares the page's origin. Our own constant
    # text only: nothing a user typed goes into it.
    st.iframe(
        "<script>"
        f"const box = window.parent.document.querySelector('.{css_class}');"
        "if (box) box.scrollIntoView({behavior: 'smooth', block: 'start'});"
        "</script>",
        height=1,
    )


def _display_width(pixels: int) -> int:
    """Small renders are shown larger, large ones fit the page: 256 to 640 px."""
    return max(256, min(640, 4 * pixels))


def show_output(path: Path, kind: str, alt: str, width: int | str = "stretch") -> None:
    """Play or show one output file; a missing file is said, not raised.

    ``alt`` names the output for screen readers and must be unique on the page: Streamlit
    tells autoplaying videos apart by their arguments, and two byte-identical files (a
    re-run reproduces one exactly) have the same URL.
    """
    path = Path(path)
    if not path.exists():
        st.warning(plain(f"The file {path} is missing."))
        return
    if kind == "mp4":
        st.video(str(path), loop=True, autoplay=True, muted=True, width=width, alt=alt)
    elif kind == "gif":
        st.image(str(path), width=width, alt=alt)
    elif kind == "png":
        frames = sorted(path.glob("*.png"))
        if frames:
            st.image(
                str(frames[0]),
                caption=f"first of {len(frames)} PNG frames in {path}",
                width=width,
                alt=alt,
            )
    else:
        st.write(str(path))
