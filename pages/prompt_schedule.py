"""Prompt Schedule: type keyframes, tune the settings, render, watch, play."""

import streamlit as st

from studio.animation.plan import plan_animation
from studio.errors import StudioError
from studio.spec import SCHEDULERS
from ui.charts import interpolation_chart
from ui.history import duration
from ui.job_panel import job_panel
from ui.media_input import draw_motion_options, input_frames
from ui.render import speed_for, submit_animation
from ui.sidebar import current
from ui.spec_form import keep_defaults, spec_from_state
from ui.words import warn_unknown_words

choice = current()
keep_defaults(choice.model, drawn="ps.")

st.title("Prompt Schedule")
st.text_area(
    "Schedule",
    key="ps.schedule",
    height=180,
    help="`FRAME: prompt` per line; `12 [seed=42]: ...` sets a keyframe's seed; "
    "`... | negative: text` its negative prompt; a `negative: text` line sets the default; "
    "`#` starts a comment.",
)
st.text_input("Negative prompt", key="ps.negative")

c1, c2, c3, c4 = st.columns(4)
c1.number_input("Steps", 1, 1000, key="ps.steps")
c1.number_input("Guidance", 0.0, 50.0, step=0.5, key="ps.guidance")
c1.number_input(
    "Guidance stop",
    0.0,
    0.99,
    step=0.05,
    key="ps.guidance_stop",
    help="share of the schedule, at its clean end, whose steps run without guidance "
    "(0: every step is guided)",
)
c2.number_input("Width", 8, 4096, step=8, key="ps.width")
c2.number_input("Height", 8, 4096, step=8, key="ps.height")
c3.number_input("Frames per second", 1, 120, key="ps.fps")
c3.number_input("Seed", 0, 2**53 - 1, key="ps.seed")  # the browser holds doubles
c4.selectbox("Scheduler", SCHEDULERS, key="ps.scheduler")
c4.selectbox("Format", ("mp4", "gif", "png"), key="ps.format")
with st.expander("Interpolation"):
    e1, e2, e3 = st.columns(3)
    e1.selectbox("Text embeddings", ("slerp", "lerp"), key="ps.interpolation")
    e1.selectbox(
        "Latents",
        ("keyframe", "fixed"),
        key="ps.latents",
        help="keyframe: a seeded latent per keyframe; fixed: one latent for all",
    )
    e2.selectbox("Easing", ("linear", "sine", "curve"), key="ps.easing")
    e2.text_input("Sine frequencies", key="ps.frequencies", help="comma-separated, e.g. 1,3")
    e3.text_input(
        "Easing curve", key="ps.curve", help="`s` is progress in the segment, `t` the frame"
    )
    e3.number_input("Batch size", 1, 256, key="ps.batch")
draw_motion_options()

try:
    spec = spec_from_state(choice.model, choice.device)
    plan = plan_animation(spec, input_frames=input_frames(spec))
except StudioError as exc:
    spec = None
    st.error(str(exc))

if spec is not None:
    d = spec.diffusion
    speed = speed_for(d.model, d.width, d.height, d.device)
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Frames", plan.frames)
    m2.metric("Seconds", f"{plan.frames / spec.animation.fps:.2f}")
    m3.metric("Keyframes", len(plan.schedule.keyframes))
    m4.metric("Denoise steps", plan.predicted_denoise_steps)
    m5.metric(
        "Estimated time",
        duration(speed.estimate(plan.predicted_denoise_steps)),
        help="model loading not included",
    )
    st.caption("Time from " + speed.describe(d.model, d.width, d.height))
    warn_unknown_words(d.model, [k.prompt for k in plan.schedule.keyframes])
    st.plotly_chart(interpolation_chart(plan), width="stretch")

if st.button("Render", type="primary", key="ps.render", disabled=spec is None):
    try:
        job = submit_animation(spec, choice.session, plan.predicted_denoise_steps)
        st.session_state["ps.job"] = job.id
    except StudioError as exc:
        st.error(str(exc))

job_panel("ps.job")
