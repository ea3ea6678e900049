"""Progress, preview, cancel and result of a background render job, for any page."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.resources import get_jobs

__all__ = ["job_panel", "show_output"]

POLL_SECONDS = 0.5


def job_panel(state_key: str) -> None:
    """Draw the job whose id is in ``st.session_state[state_key]``, polling while it runs."""
    job_id = st.session_state.get(state_key)
    if not job_id:
        return
    job = get_jobs().get(job_id)
    if job is None:  # the dashboard restarted; History has the run
        st.info("That render belongs to an earlier start of the dashboard; see History.")
        return

    @st.fragment(run_every=None if job.is_finished else POLL_SECONDS)
    def _panel() -> None:
        run_id = job.meta.get("run_id", "")
        if not job.is_finished:
            total = max(job.total, 1)
            text = "queued" if job.status == "queued" else f"frame {job.done} of {job.total}"
            st.progress(min(job.done / total, 1.0), text=f"Rendering run {run_id}: {text}")
            cols = st.columns([3, 1])
            if job.preview is not None:
                cols[0].image(job.preview, caption="newest frame", width=256)
            cols[1].button("Cancel", key=f"cancel.{job.id}", on_click=job.cancel)
            st.session_state[f"{state_key}.polling"] = True
            return
        if st.session_state.pop(f"{state_key}.polling", False):
            st.rerun()  # the whole page, so the finished result replaces the poller
        if job.status == "done":
            result = job.result
            st.success(
                f"Run {run_id} finished: {job.done} frames, {result.denoise_steps} denoise "
                f"steps in {result.seconds:.1f} s."
            )
            for note in result.extra.get("notes", []):
                st.info(note)
            for output in job.outputs:
                show_output(
                    output.path,
                    output.kind,
                    alt=f"{output.kind} output of run {run_id}",
                    width=_display_width(output.width),
                )
        elif job.status == "cancelled":
            st.warning(f"Run {run_id} was cancelled after {job.done} frames.")
        else:
            st.error(f"Run {run_id} failed: {job.error}")

    _panel()


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
        st.warning(f"The file {path} is missing.")
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
