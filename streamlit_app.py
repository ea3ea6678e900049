"""Latent Studio dashboard: ``streamlit run streamlit_app.py``.

The entry point draws the shared sidebar, then runs the page the user picked. Pages are thin
scripts in pages/; the engine is studio/, the store db/, and the wiring between them ui/.
"""

import streamlit as st

from ui.icon import page_icon
from ui.resources import preload_libraries

st.set_page_config(page_title="Latent Studio", page_icon=page_icon(), layout="wide")
preload_libraries()  # before any page or render imports them from another thread

from ui.sidebar import draw_sidebar  # noqa: E402  (after set_page_config)
from ui.state import remember_all  # noqa: E402

PAGES = [
    st.Page(
        "pages/prompt_schedule.py", title="Prompt Schedule", icon=":material/movie:", default=True
    ),
    st.Page("pages/audio_video.py", title="Audio & Video", icon=":material/music_video:"),
    st.Page("pages/blend.py", title="Blend", icon=":material/blur_linear:"),
    st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/sessions.py", title="Sessions", icon=":material/folder_shared:"),
]

page = st.navigation(PAGES)
remember_all()
draw_sidebar()
page.run()
