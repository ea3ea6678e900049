"""Gallery: every output in the store, newest first, with its settings and a download."""

from datetime import UTC, datetime

import streamlit as st

from db.paths import resolve_in_home
from db.repository import list_outputs, list_sessions
from ui.history import local_zone, prompts_text, when
from ui.job_panel import show_output
from ui.media_input import send_to_input
from ui.resources import get_store
from ui.sidebar import current
from ui.text import plain

PAGE_SIZE = 12

st.title("Gallery")
now, zone = datetime.now(UTC), local_zone(st.context.timezone)  # the browser's zone
store = get_store()
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
