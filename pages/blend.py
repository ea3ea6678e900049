"""Blend: latent-blending transitions through two or more prompts; plan, render, play."""

import streamlit as st

from studio.blend.plan import plan_blend
from studio.errors import StudioError
from studio.spec import BLEND_PRESETS, BLEND_SCHEDULERS, BlendSpec
from ui.advanced import draw_advanced
from ui.audio_panel import BLEND, draw_audio_section
from ui.blend_form import BUDGETS, FIELDS, INJECTIONS, keep_defaults, spec_from_state
from ui.charts import blend_tree_chart
from ui.fields import draw_diffusion, field_drawer
from ui.history import duration
from ui.job_panel import job_panel
from ui.loras import draw_loras
from ui.render import render_button, speed_for
from ui.scale_panel import draw_shard_plan
from ui.sidebar import current
from ui.words import warn_unknown_words

choice = current()
keep_defaults(choice.model)

st.title("Blend")
field = field_drawer(BlendSpec, FIELDS)
st.text_area(
    "Prompts",
    key="blend.prompts",
    height=140,
    help="One prompt per line, in order. `[seed=42] a prompt` gives a prompt its own seed "
    "(default: seed + its index); `a prompt | negative: text` its own negative prompt; "
    "`#` starts a comment.",
)
field(st, "blend.negative")

c4 = draw_diffusion("blend.", BLEND_SCHEDULERS, min_steps=2)
field(c4, "blend.fps", label="Frames per second")
field(c4, "blend.duration", label="Duration (s)", step=0.5)
draw_advanced("blend.")

st.subheader("Tree")
# Every setup's widgets are drawn, the unused ones disabled: a widget left out of a run loses
# its typed value to the default kept before it was first drawn.
t1, t2, t3 = st.columns(3)
setup = field(t1, "blend.setup", widget="radio")
field(
    t2,
    "blend.preset",
    format_func=lambda p: f"{p} ({BLEND_PRESETS[p]} frames per transition)",
    disabled=setup != "preset",
)
field(
    t2,
    "blend.frames",
    label="Diffusion frames per transition",
    min_value=3,
    max_value=1000,
    disabled=setup != "auto",
)
field(t2, "blend.depth", widget="slider", step=0.01, disabled=setup == "manual")
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
field(t1, "blend.fill")
field(t1, "blend.loop", label="Seamless loop")

with st.expander("Adaptive insertion"):
    a1, a2, a3 = st.columns(3)
    field(a1, "blend.insertion")
    field(a1, "blend.distance")
    a2.selectbox("Budget per transition", BUDGETS, key="blend.budget_kind")
    a2.number_input("Budget", 0.0, 1e9, step=1.0, key="blend.budget")
    field(a2, "blend.embeddings", label="Text embeddings")
    for name in ("crossfeed_power", "crossfeed_range", "crossfeed_decay"):
        field(a3, f"blend.{name}", widget="slider")
    field(a1, "blend.dampening", label="Guidance mid-dampening", widget="slider")

with st.expander("Inpainting, upscaling and output"):
    i1, i2, i3 = st.columns(3)
    field(i1, "blend.inpaint_mask")
    field(i1, "blend.inpaint_image")
    field(i2, "blend.upscale_model", label="Upscaler")
    field(i2, "blend.upscale_steps", label="Upscale steps")
    field(i2, "blend.upscale_guidance", label="Upscale guidance")
    field(i3, "blend.upscale_noise", label="Upscale noise level")
    field(i3, "blend.upscale_scheduler", label="Upscale scheduler")
    field(i3, "blend.format")
    field(i3, "blend.interpolate_fps", label="Interpolate to fps")
    field(i3, "blend.interpolate_method", label="Interpolation method")
    field(i3, "blend.interpolator", label="Interpolator weights")
draw_loras("blend.", curve=False)
draw_audio_section(choice, BLEND)

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
    facts = plan.summary()
    if "file_frames" in facts:  # --interpolate-to: what the file will hold
        st.caption(
            f"The file: {facts['file_frames']} frames at {facts['file_fps']} fps, the frames "
            f"between the rendered ones made by {spec.output.interpolate_method}."
        )
    if steps is not None:
        saved = 1 - steps / plan.scratch_denoise_steps
        st.caption(
            f"The tree costs {steps / plan.scratch_denoise_steps:.0%} of rendering every frame "
            f"from scratch ({saved:.0%} saved). Time from "
            + speed.describe(d.model, d.width, d.height)
        )
    times = ", ".join(f"{j / spec.output.fps:g}" for j in plan.joins)
    placed = {"times": "your times", "onsets": "the track's onsets", "even": "evenly"}
    by = f" ({placed[plan.track.source]})" if plan.track else ""
    st.caption(f"Prompts reached at {times} s{by}.", help="the video frame of each prompt")
    warn_unknown_words(d.model, [k.prompt for k in spec.prompts.keyframes])
    draw_shard_plan(spec)  # more than one worker (the sidebar): how the render splits
    st.plotly_chart(blend_tree_chart(plan), width="stretch", key="blend.tree_chart")
    if spec.blend.insertion == "adaptive":
        st.caption(
            "Frames drawn where uniform insertion puts them; adaptive insertion makes the same "
            "frames at the same steps, each where its neighbours' images differ most."
        )


def _spec_and_steps() -> tuple[BlendSpec, str, int | None]:
    """The spec the widgets say now (the Render button's callback runs before this page)."""
    now = current()
    spec = spec_from_state(now.model, now.device)
    return spec, now.session, plan_blend(spec).predicted_denoise_steps


render_button("blend.render", "blend.job", _spec_and_steps, disabled=spec is None)

job_panel("blend.job")
