"""The render kinds the studio knows, and what each one needs from the app: one ``RenderKind``
per spec kind, looked up with ``kind_for``.

A kind names its spec class and three functions: ``check_inputs`` (the media I/O its spec
needs, done once, before anything is recorded), ``plan`` (the frames and predicted denoise
steps, no model work) and ``render`` (the engine: ``render(spec, out_dir, *, manager,
events=None, cancel=None, resume=False) -> RenderResult``).

The engines import torch and diffusers, so each function here is a small wrapper that
imports its engine module on first call: importing the registry stays cheap, and the kinds
are plain references to functions, not import strings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import MediaError, SpecError
from studio.events import CancelToken, RenderEvents, RenderResult
from studio.pipeline.families import check_model_ref, check_upscaler_ref, folder_family
from studio.spec import AnimationSpec, BlendSpec, DiffusionSettings, Spec, UpscaleSettings
from studio.spec.control import ControlSettings
from studio.spec.scale import scaled_out

if TYPE_CHECKING:
    from studio.animation.plan import AnimationPlan
    from studio.blend.plan import BlendPlan
    from studio.pipeline.models import ModelManager

__all__ = ["KINDS", "RenderKind", "kind_for"]


@dataclass(frozen=True)
class RenderKind:
    """One kind of render: its spec class and the functions that check, plan and render it.

    Attributes:
        name: the spec kind (``spec.kind``), e.g. ``"animation"``.
        spec_class: the spec dataclass of this kind.
        check_inputs: ``check_inputs(spec)`` probes the spec's input files; raises
            ``MediaError`` (a ``StudioError``) naming the file and the problem.
        plan: ``plan(spec)`` returns the kind's plan (``AnimationPlan`` / ``BlendPlan``).
        render: the engine, ``render(spec, out_dir, *, manager, events, cancel, resume)``.
    """

    name: str
    spec_class: type[Spec]
    # ``Any``: each kind's functions take its own spec class (``spec_class``), not every ``Spec``.
    check_inputs: Callable[[Any], None]
    plan: Callable[[Any], AnimationPlan | BlendPlan]
    render: Callable[..., RenderResult]


# -- animation -------------------------------------------------------------------------------


def _check_animation_inputs(spec: AnimationSpec) -> None:
    """The model's family can animate (configs only; for this spec: InstructPix2Pix needs an
    input); the input image or video (and its audio when kept), an inpainting mask, and the
    soundtrack: each probed or decoded once per version of its file; each LoRA's file found;
    3D motion's depth model (configs) or depth image or video."""
    from studio.media.audio import check_audio
    from studio.media.inputs import check_inputs, probe_image, probe_video, resolve_input_path
    from studio.pipeline.lora import check_lora_sources

    check_model_ref(spec.diffusion.model, spec)
    _check_preview(spec.diffusion)
    check_inputs(spec)
    if spec.edit.mask:  # an inpainting model's mask: a picture or a video, probed as inputs are
        from studio.pipeline.edit import is_video_mask

        video = is_video_mask(spec.edit.mask)
        try:
            (probe_video if video else probe_image)(resolve_input_path(spec.edit.mask))
        except MediaError as exc:
            what = "video input" if video else "image input"
            raise MediaError(str(exc).replace(what, "mask", 1)) from None
    if spec.audio.path:
        check_audio(spec.audio.path)
    check_lora_sources(spec.loras.adapters)
    if spec.control.nets:
        _check_animation_control(spec)
    if spec.motion.depth_model or spec.motion.depth_input:  # 3D motion's depth source
        from studio.animation.depth import check_depth

        check_depth(spec, _plan_animation(spec).frames)
    _check_frame_memory(spec.diffusion, spec.animation.batch_size)
    _check_upscale(spec.upscale, spec.diffusion)
    _check_interpolator(spec.output.interpolator)


def _check_animation_control(spec: AnimationSpec) -> None:
    """Each ControlNet's folder (config only), scale curve and control image or video: a
    control video must give one frame per output frame."""
    from studio.animation.control import control_scales
    from studio.media.control import check_control_media

    check_controlnets(spec.control, spec.diffusion.model)
    frames = _plan_animation(spec).frames
    control_scales(spec.control, frames)
    check_control_media(spec.control, fps=spec.animation.fps, frames=frames)


def check_controlnets(control: ControlSettings, model: str) -> None:
    """Refuse ControlNets the studio cannot run with ``model`` (configs only)."""
    from studio.pipeline.control import check_controlnet_ref

    family = folder_family(model)
    for net in control.nets:
        check_controlnet_ref(net.model, family.name if family else None)


def _plan_animation(spec: AnimationSpec) -> AnimationPlan:
    """The animation's plan; a video input sets its length. The audio envelope is left out of
    the motion curves (it moves frames, not their number or the denoise steps)."""
    from studio.animation.plan import plan_animation
    from studio.media.inputs import check_inputs

    video = check_inputs(spec).video
    frames = video.output_frames(spec.animation.fps) if video else None
    return plan_animation(spec, input_frames=frames)


def _render_animation(
    spec: AnimationSpec,
    out_dir: Path,
    *,
    manager: ModelManager,
    events: RenderEvents | None = None,
    cancel: CancelToken | None = None,
    resume: bool = False,
) -> RenderResult:
    if scaled_out(spec.diffusion):  # on Ray workers (docs/scale-out.md)
        from studio.app.scale import render_scaled

        return render_scaled(
            spec, out_dir, manager=manager, events=events, cancel=cancel, resume=resume
        )
    from studio.animation.render import render_animation

    return render_animation(
        spec, out_dir, manager=manager, events=events, cancel=cancel, resume=resume
    )


# -- blend -----------------------------------------------------------------------------------


def _check_blend_inputs(spec: BlendSpec) -> None:
    """The model's family can blend, the inpaint mask and image and the LoRAs the spec names
    exist; the soundtrack is decoded (once per version of its file)."""
    from studio.pipeline.lora import check_lora_sources

    check_model_ref(spec.diffusion.model, spec)
    _check_preview(spec.diffusion)
    if spec.control.nets:  # images only (the spec's check refuses control videos)
        from studio.media.control import check_control_media

        check_controlnets(spec.control, spec.diffusion.model)
        check_control_media(spec.control)
    for what, name in (("mask", spec.blend.inpaint_mask), ("image", spec.blend.inpaint_image)):
        if name and not Path(name).is_file():
            raise SpecError(f"inpaint {what} file {name} does not exist")
    if spec.audio.path:
        from studio.media.audio import check_audio

        check_audio(spec.audio.path)
    check_lora_sources(spec.loras.adapters)
    if not spec.upscale.model:
        _check_frame_memory(spec.diffusion, 1)
    _check_upscale(spec.upscale, spec.diffusion)
    _check_interpolator(spec.output.interpolator)


def _check_interpolator(path: str) -> None:
    """The learned interpolation's weights exist and fit its layout (read on the CPU)."""
    if path:
        from studio.media.rife import check_interpolator

        check_interpolator(path)


def _check_preview(d: DiffusionSettings) -> None:
    """The live preview's decoder exists for the model (a taesd folder: its config only)."""
    from studio.pipeline.preview import check_preview

    check_preview(d.preview, d.model)


def _check_upscale(u: UpscaleSettings, d: DiffusionSettings) -> None:
    """An upscale stage's model is an upscaler (configs only), and the device can decode
    its frames (one at a time, ``factor`` times larger)."""
    if u.model:
        _check_frame_memory(d, 1, scale=check_upscaler_ref(u.model))


def _check_frame_memory(d: DiffusionSettings, batch: int, scale: int = 1) -> None:
    """Frames the device cannot decode at all are refused here (``check_frame_memory``);
    ``scale``: how much an upscale stage enlarges them."""
    from studio.pipeline.frame_memory import check_frame_memory

    check_frame_memory(
        d.width * scale,
        d.height * scale,
        batch,
        device=d.device,
        dtype=d.dtype,
        tiling=d.vae_tiling,
        slicing=d.vae_slicing,
        auto_memory=d.memory == "auto",
    )


def _plan_blend(spec: BlendSpec) -> BlendPlan:
    from studio.blend.plan import plan_blend

    return plan_blend(spec)


def _render_blend(
    spec: BlendSpec,
    out_dir: Path,
    *,
    manager: ModelManager,
    events: RenderEvents | None = None,
    cancel: CancelToken | None = None,
    resume: bool = False,
) -> RenderResult:
    if scaled_out(spec.diffusion):  # on Ray workers (docs/scale-out.md)
        from studio.app.scale import render_scaled

        return render_scaled(
            spec, out_dir, manager=manager, events=events, cancel=cancel, resume=resume
        )
    from studio.blend.render import render_blend

    return render_blend(spec, out_dir, manager=manager, events=events, cancel=cancel, resume=resume)


KINDS: dict[str, RenderKind] = {
    kind.name: kind
    for kind in (
        RenderKind(
            "animation",
            AnimationSpec,
            _check_animation_inputs,
            _plan_animation,
            _render_animation,
        ),
        RenderKind("blend", BlendSpec, _check_blend_inputs, _plan_blend, _render_blend),
    )
}


def kind_for(kind: str) -> RenderKind:
    """The ``RenderKind`` of spec kind ``kind`` (``spec.kind``).

    Raises ``SpecError`` for a kind no engine renders.
    """
    try:
        return KINDS[kind]
    except KeyError:
        raise SpecError(f"no engine renders spec kind {kind!r}") from None
