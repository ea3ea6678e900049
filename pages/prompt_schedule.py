"""Prompt Schedule: type keyframes, tune the settings, render, watch, play."""

import streamlit as st

from studio.animation.plan import plan_animation
from studio.errors import StudioError
from studio.spec import SCHEDULERS, AnimationSpec
from ui.advanced import draw_advanced
from ui.charts import interpolation_chart
from ui.control_panel import draw_control_panel
from ui.edit_panel import draw_edit_options
from ui.estimate import plan_caption, plan_report
from ui.fields import draw_diffusion, field_drawer
from ui.history import duration
from ui.job_panel import job_panel
from ui.loras import draw_loras
from ui.media_input import draw_motion_options, input_frames
from ui.prompt_ideas import draw_prompt_ideas
from ui.render import render_button, speed_for
from ui.scale_panel import draw_shard_plan
from ui.sidebar import current
from ui.spec_form import FIELDS, keep_defaults, spec_from_state
from ui.words import warn_unknown_words

choice = current()
keep_defaults(choice.model, drawn="ps.")

st.title("Prompt Schedule")
field = field_drawer(AnimationSpec, FIELDS)
field(
    st,
    "ps.schedule",
    height=180,
    help="`FRAME: prompt` per line; `12 [seed=42]: ...` sets a keyframe's seed; "
    "`... | negative: text` its negative prompt; a `negative: text` line sets the default; "
    "`#` starts a comment.",
)
field(st, "ps.negative")
draw_prompt_ideas(choice.model)

c4 = draw_diffusion("ps.", SCHEDULERS)
field(c4, "ps.fps", label="Frames per second")
field(c4, "ps.format")
field(c4, "ps.interpolate_fps", label="Interpolate to fps")
field(c4, "ps.interpolate_method", label="Interpolation method")
field(c4, "ps.interpolator", label="Interpolator weights")
draw_advanced("ps.")
with st.expander("Interpolation"):
    e1, e2, e3 = st.columns(3)
    field(e1, "ps.interpolation", label="Text embeddings")
    field(e1, "ps.latents")
    field(e2, "ps.easing")
    field(e2, "ps.frequencies")
    field(e3, "ps.curve", help="`s` is progress in the segment, `t` the frame")
    field(e3, "ps.batch")
    field(e2, "ps.loop", label="Seamless loop")
draw_motion_options()
with st.expander("Upscaling"):
    u1, u2 = st.columns(2)
    field(u1, "ps.upscale_model", label="Upscaler")
    field(u1, "ps.upscale_steps", label="Upscale steps")
    field(u1, "ps.upscale_guidance", label="Upscale guidance")
    field(u2, "ps.upscale_noise", label="Upscale noise level")
    field(u2, "ps.upscale_scheduler", label="Upscale scheduler")
    st.caption(
        "Every frame rendered again through the upscaler (e.g. "
        "stabilityai/stable-diffusion-x4-upscaler), four times larger each way; empty: none."
    )
draw_edit_options(choice.model)  # an inpainting model's mask, InstructPix2Pix's curve
draw_loras("ps.", curve=True)
draw_control_panel(choice.session)

try:
    spec = spec_from_state(choice.model, choice.device)
    plan = plan_animation(spec, input_frames=input_frames(spec))
    # The plan and ETA that `animate --plan` prints (studio.app.estimate.plan_report); it
    # also refuses an upscaler that is not one.
    d = spec.diffusion
    report = plan_report(spec, plan.summary(), speed_for(d.model, d.width, d.height, d.device))
except StudioError as exc:
    spec = None
    st.error(str(exc))

if spec is not None:
    st.subheader("Plan")
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Frames", report["frames"])
    m2.metric("Seconds", f"{plan.frames / spec.animation.fps:.2f}")
    m3.metric("Keyframes", len(plan.schedule.keyframes))
    m4.metric(
        "Denoise steps",
        report["denoise_steps"],
        help=f"{report['upscale_denoise_steps']} of them upscaling" if spec.upscale.model else None,
    )
    m5.metric("Estimated time", duration(report["eta_seconds"]), help="model loading not included")
    st.caption(plan_caption(report))
    if plan.loop:
        st.caption(
            f"Looped: the last {plan.closing_frames} frames walk from the last keyframe back "
            "to the first, and the last frame leads into frame 0."
        )
    if "file_frames" in report:  # --interpolate-to: what the file will hold
        st.caption(
            f"The file: {report['file_frames']} frames at {report['file_fps']} fps, the frames "
            f"between the rendered ones made by {spec.output.interpolate_method}."
        )
    warn_unknown_words(d.model, [k.prompt for k in plan.schedule.keyframes])
    draw_shard_plan(spec)  # more than one worker (the sidebar): how the render splits
    st.plotly_chart(interpolation_chart(plan), width="stretch")


def _spec_and_steps() -> tuple[AnimationSpec, str, int]:
    """The spec the widgets say now (the Render button's callback runs before this page)."""
    now = current()
    spec = spec_from_state(now.model, now.device)
    return (
        spec,
        now.session,
        plan_animation(spec, input_frames=input_frames(spec)).predicted_denoise_steps,
    )


render_button("ps.render", "ps.job", _spec_and_steps, disabled=spec is None)

job_panel("ps.job")
