"""Blend: latent-blending transitions through two or more prompts; plan, render, play."""

import streamlit as st

from studio.blend.plan import plan_blend
from studio.errors import StudioError
from studio.spec import BLEND_PRESETS, BLEND_SCHEDULERS
from ui.blend_form import BUDGETS, INJECTIONS, keep_defaults, spec_from_state
from ui.charts import blend_tree_chart
from ui.history import duration
from ui.job_panel import job_panel
from ui.render import speed_for, submit_blend
from ui.sidebar import current
from ui.words import warn_unknown_words

choice = current()
keep_defaults(choice.model)

st.title("Blend")
st.text_area(
    "Prompts",
    key="blend.prompts",
    height=140,
    help="One prompt per line, in order. `[seed=42] a prompt` gives a prompt its own seed "
    "(default: seed + its index); `a prompt | negative: text` its own negative prompt; "
    "`#` starts a comment.",
)
st.text_input("Negative prompt", key="blend.negative")

c1, c2, c3, c4 = st.columns(4)
c1.number_input("Steps", 2, 1000, key="blend.steps")
c1.number_input("Guidance", 0.0, 50.0, step=0.5, key="blend.guidance")
c1.number_input(
    "Guidance stop",
    0.0,
    0.99,
    step=0.05,
    key="blend.guidance_stop",
    help="share of the schedule, at its clean end, whose steps run without guidance "
    "(0: every step is guided)",
)
c2.number_input("Width", 8, 4096, step=8, key="blend.width")
c2.number_input("Height", 8, 4096, step=8, key="blend.height")
c3.number_input("Seed", 0, 2**53 - 1, key="blend.seed")  # the browser holds doubles
c3.selectbox("Scheduler", BLEND_SCHEDULERS, key="blend.scheduler")
c4.number_input("Frames per second", 1, 120, key="blend.fps")
c4.number_input(
    "Duration (s)",
    0.0,
    3600.0,
    step=0.5,
    key="blend.duration",
    help="0: one frame per diffusion frame",
)

st.subheader("Tree")
# Every setup's widgets are drawn, the unused ones disabled: a widget left out of a run loses
# its typed value to the default kept before it was first drawn.
t1, t2, t3 = st.columns(3)
setup = t1.radio(
    "Setup",
    ("preset", "auto", "manual"),
    key="blend.setup",
    horizontal=True,
    help="preset: a named size; auto: frames per transition; manual: branches per level",
)
t2.selectbox(
    "Preset",
    list(BLEND_PRESETS),
    key="blend.preset",
    format_func=lambda p: f"{p} ({BLEND_PRESETS[p]} frames per transition)",
    disabled=setup != "preset",
)
t2.number_input(
    "Diffusion frames per transition", 3, 1000, key="blend.frames", disabled=setup != "auto"
)
t2.slider(
    "Depth strength",
    0.01,
    0.99,
    step=0.01,
    key="blend.depth",
    help="how long the keyframes run alone: near 0 inventive, near 1 an alpha blend",
    disabled=setup == "manual",
)
t3.text_input(
    "Branches per level", key="blend.branches", help="e.g. 1,2", disabled=setup != "manual"
)
t3.radio(
    "Injection given as",
    INJECTIONS,
    key="blend.injection_kind",
    horizontal=True,
    disabled=setup != "manual",
)
t3.text_input(
    "Injection per level",
    key="blend.injection",
    help="strengths 0.4,0.7 or steps 8,14",
    disabled=setup != "manual",
)
t1.selectbox(
    "Fill",
    ("crossfade", "none"),
    key="blend.fill",
    help="video frames between diffusion frames: crossfade, or none (every frame diffused)",
)

with st.expander("Adaptive insertion"):
    a1, a2, a3 = st.columns(3)
    a1.selectbox("Insertion", ("adaptive", "uniform"), key="blend.insertion")
    a1.selectbox("Distance", ("ssim", "latent"), key="blend.distance")
    a2.selectbox("Budget per transition", BUDGETS, key="blend.budget_kind")
    a2.number_input("Budget", 0.0, 1e9, step=1.0, key="blend.budget")
    a2.selectbox("Text embeddings", ("slerp", "lerp"), key="blend.embeddings")
    a3.slider("Crossfeed power", 0.0, 1.0, step=0.05, key="blend.crossfeed_power")
    a3.slider("Crossfeed range", 0.05, 1.0, step=0.05, key="blend.crossfeed_range")
    a3.slider("Crossfeed decay", 0.05, 1.0, step=0.05, key="blend.crossfeed_decay")
    a1.slider(
        "Guidance mid-dampening",
        0.0,
        0.95,
        step=0.05,
        key="blend.dampening",
        help="guidance lowest mid-transition: scaled by 1 - d * 4p(1 - p)",
    )

with st.expander("Inpainting, upscaling and output"):
    i1, i2, i3 = st.columns(3)
    i1.text_input("Inpaint mask", key="blend.inpaint_mask", help="picture file: white transitions")
    i1.text_input(
        "Inpaint image", key="blend.inpaint_image", help="kept fixed (default: first keyframe)"
    )
    i2.text_input(
        "Upscaler", key="blend.upscale_model", help="e.g. stabilityai/stable-diffusion-x4-upscaler"
    )
    i2.number_input("Upscale steps", 2, 1000, key="blend.upscale_steps")
    i2.number_input("Upscale guidance", 0.0, 50.0, step=0.5, key="blend.upscale_guidance")
    i3.number_input("Upscale noise level", 0, 350, key="blend.upscale_noise")
    i3.selectbox("Upscale scheduler", BLEND_SCHEDULERS, key="blend.upscale_scheduler")
    i3.selectbox("Format", ("mp4", "gif", "png"), key="blend.format")

try:
    spec = spec_from_state(choice.model, choice.device)
    plan = plan_blend(spec)
except StudioError as exc:
    spec = None
    st.error(str(exc))

if spec is not None:
    st.subheader("Plan")
    d = spec.diffusion
    speed = speed_for(d.model, d.width, d.height, d.device)
    steps = plan.predicted_denoise_steps
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Video frames", plan.video_frames)
    m2.metric("Diffusion frames", plan.diffusion_frames or "by budget")
    m3.metric(
        "Denoise steps",
        steps if steps is not None else "by budget",
        help="of the tree, both stages; each keyframe computed once",
    )
    m4.metric(
        "From scratch",
        plan.scratch_denoise_steps if steps is not None else "by budget",
        help="every diffusion frame rendered from its own noise",
    )
    m5.metric(
        "Estimated time",
        "by budget" if steps is None else duration(speed.estimate(steps)),
        help="model loading not included",
    )
    if steps is not None:
        saved = 1 - steps / plan.scratch_denoise_steps
        st.caption(
            f"The tree costs {steps / plan.scratch_denoise_steps:.0%} of rendering every frame "
            f"from scratch ({saved:.0%} saved). Time from "
            + speed.describe(d.model, d.width, d.height)
        )
    warn_unknown_words(d.model, [k.prompt for k in spec.prompts.keyframes])
    st.plotly_chart(blend_tree_chart(plan), width="stretch", key="blend.tree_chart")
    if spec.blend.insertion == "adaptive":
        st.caption(
            "Frames drawn where uniform insertion puts them; adaptive insertion makes the same "
            "frames at the same steps, each where its neighbours' images differ most."
        )

if st.button("Render", type="primary", key="blend.render", disabled=spec is None):
    try:
        job = submit_blend(spec, choice.session, plan.predicted_denoise_steps)
        st.session_state["blend.job"] = job.id
    except StudioError as exc:
        st.error(str(exc))

job_panel("blend.job")
