"""Gallery: every output in the store, newest first, with its settings, how evenly it moves,
a download, and a delete that asks first."""

from datetime import UTC, datetime

import streamlit as st

from db.errors import StoreError
from db.paths import resolve_in_home
from db.repository import delete_run, list_outputs, list_sessions
from ui.history import local_zone, prompts_text, smoothness_of, when
from ui.job_panel import show_output
from ui.media_input import send_to_input
from ui.resources import get_store
from ui.sidebar import current
from ui.text import plain

PAGE_SIZE = 12
CONFIRM = "gallery.confirm"  # the run whose delete waits for a second click


def _ask(run_id: str) -> None:
    st.session_state[CONFIRM] = run_id


def _keep() -> None:
    st.session_state.pop(CONFIRM, None)


def _delete(run_id: str) -> None:
    """The second click: the run, its outputs and its folder (to the trash until the delete
    commits), as ``runs delete`` does."""
    _keep()
    try:
        with store.begin() as s:
            files = delete_run(s, store.home, run_id)
    except StoreError as exc:  # gone already, or still rendering
        st.session_state["gallery.error"] = str(exc)
    else:
        st.session_state["gallery.message"] = (
            f"Deleted run {run_id} and its {files} output file(s)."
        )


st.title("Gallery")
now, zone = datetime.now(UTC), local_zone(st.context.timezone)  # the browser's zone
store = get_store()
if message := st.session_state.pop("gallery.message", None):
    st.success(plain(message))
if error := st.session_state.pop("gallery.error", None):
    st.error(plain(error))
with store.session() as s:
    sessions = ["all sessions"] + [x.slug for x in list_sessions(s)]
c1, c2 = st.columns([2, 1])
shown = c1.selectbox(
    "Show session",
    sessions,
    key="gallery.session",
    index=sessions.index(current().session) if current().session in sessions else 0,
)
limit = c2.number_input("Show", 1, 500, PAGE_SIZE, step=PAGE_SIZE, key="gallery.limit")
with store.session() as s:
    outputs = list_outputs(
        s, session_slug=None if shown == "all sessions" else shown, limit=int(limit)
    )

if not outputs:
    st.info("No outputs yet. Render something on the Prompt Schedule page.")
for row in range(0, len(outputs), 3):
    for col, out in zip(st.columns(3), outputs[row : row + 3], strict=False):
        with col.container(border=True):
            path = resolve_in_home(store.home, out.path)
            show_output(path, out.kind, alt=f"{out.kind} output {out.id} of run {out.run.id}")
            spec = out.run.spec
            d = spec.get("diffusion", {})
            st.markdown(
                f"**{plain(out.run.id)}** · {plain(out.run.session.slug)} · "
                f"{when(out.created_at.isoformat(), now=now, zone=zone)}"
            )
            st.caption(
                plain(
                    f"{out.frames} frames @ {out.fps:g} fps · {out.width}×{out.height} · "
                    f"{d.get('model')} · {d.get('scheduler')} {d.get('steps')} steps · "
                    f"guidance {d.get('guidance')} · seed {d.get('seed')}"
                )
            )
            score = smoothness_of({"extra": out.run.extra})
            if score is not None:
                jump_at = score.get("max_jump_frame")
                st.caption(
                    plain(
                        f"evenness (CV of 1 - SSIM) {score['cv']:.3f} · largest jump "
                        f"{score['max_jump']:.3f}"
                        + (f" into frame {jump_at}" if jump_at is not None else "")
                    ),
                    help="How evenly the frames move: 1 - SSIM from each frame to the next. "
                    "A CV near 0 is even motion; History charts every frame.",
                )
            with st.expander("Prompts and settings"):
                st.code(prompts_text(spec), language=None)
                st.json(spec, expanded=False)
            if path.is_file():
                with open(path, "rb") as fh:
                    st.download_button(
                        f"Download {out.kind.upper()}",
                        fh,
                        file_name=path.name,
                        key=f"gallery.download.{out.id}",
                        width="stretch",
                    )
            if path.exists():
                send_to_input(
                    path, out.kind, out.frames, f"gallery.send.{out.id}", current().session
                )
            run_id = out.run.id
            if st.session_state.get(CONFIRM) != run_id:
                st.button("Delete…", key=f"gallery.delete.{out.id}", on_click=_ask, args=(run_id,))
            else:
                st.warning(
                    plain(
                        f"Delete run {run_id}, its output files "
                        "and its folder? Nothing can bring them back."
                    )
                )
                b1, b2 = st.columns(2)
                b1.button(
                    "Yes, delete",
                    key=f"gallery.confirm_delete.{out.id}",
                    type="primary",
                    on_click=_delete,
                    args=(run_id,),
                )
                b2.button("Keep it", key=f"gallery.keep.{out.id}", on_click=_keep)
