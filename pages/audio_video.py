"""Audio & Video: a soundtrack (key frames, timing, sound in MP4), and video or image input."""

import importlib.util

import streamlit as st

from ui.audio_panel import draw_audio_section
from ui.sidebar import current
from ui.spec_form import keep_defaults

choice = current()
keep_defaults(choice.model, drawn="av.")

st.title("Audio & Video")
draw_audio_section(choice)

# Video and image input: ui.media_input (issue 5, the input/motion half) draws it once it is
# there; until then the page is the soundtrack alone.
if importlib.util.find_spec("ui.media_input") is not None:
    from ui.media_input import draw_input_section

    st.divider()
    draw_input_section()
