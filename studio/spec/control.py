"""ControlNets of a render: what steers each frame besides the prompt.

A ``ControlSettings`` group holds a list of ``ControlNetItem``; each names a ControlNet (a
diffusers ``ControlNetModel`` folder, or a Hub id in the local Hugging Face cache), its control
source (one image for every frame, or a video giving one control frame per output frame), the
preprocessor that turns the source into the control map, and a scale curve over frames. Several
ControlNets steer at once (MultiControlNet): their residuals are summed.

This module is pure, like every spec module: ``check_control`` checks ranges, choices and
the scale curve; the files are probed by the render kind's ``check_inputs``
(``studio.media.control.check_control_media``). The group is its own module so that the spec
kinds take it as one more group, and stored specs without it load with no ControlNet.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import StrictFloat, StrictStr

from studio.errors import SpecError
from studio.spec.common import SettingsModel
from studio.spec.fields import check_ranges, setting

__all__ = [
    "PREPROCESSORS",
    "ControlNetItem",
    "ControlSettings",
    "check_blend_control",
    "check_control",
]

Preprocess = Literal["none", "canny", "edges", "grayscale"]
PREPROCESSORS: tuple[str, ...] = ("none", "canny", "edges", "grayscale")


class ControlNetItem(SettingsModel):
    """One ControlNet: model, control source, preprocessor and scale curve."""

    model: StrictStr = setting(
        ...,
        "A diffusers ControlNet folder (config.json and weights), or a Hub id in the local "
        "Hugging Face cache; it must match the drawing model's family.",
        label="ControlNet",
        flag="--controlnet",
    )
    image: StrictStr = setting(
        "",
        "One control image for every frame (resized to the frame size); a path as the user "
        "gave it, or relative to STUDIO_HOME for dashboard uploads.",
        label="control image",
        widget="file",
        flag="--control-image",
    )
    video: StrictStr = setting(
        "",
        "A control video: each of its frames, resampled to the animation's fps by timestamp, "
        "steers one output frame; it must last as long as the animation.",
        label="control video",
        widget="file",
        flag="--control-video",
    )
    preprocess: Preprocess = setting(
        "none",
        "What turns the source into the control map: none (a depth, pose or other map made "
        "already), canny (thin edges), edges (Sobel gradient magnitude) or grayscale.",
        label="preprocessor",
        flag="--control-preprocess",
    )
    scale: StrictStr = setting(
        "0: (1.0)",
        "A curve of t (the frame): how strongly this ControlNet steers each frame; 0 = not at "
        "all, 1 = as trained.",
        label="control scale",
        widget="curve",
        flag="--control-scale",
    )
    low_threshold: StrictFloat = setting(
        0.1,
        "Canny: edges whose gradient (a full black-to-white step is 1) is under this are "
        "dropped; between the two thresholds they are kept where they touch a strong edge.",
        label="canny low threshold",
        ge=0,
        le=1,
        step=0.05,
        flag=None,
    )
    high_threshold: StrictFloat = setting(
        0.2,
        "Canny: edges whose gradient is at least this are kept (strong edges).",
        label="canny high threshold",
        ge=0,
        le=1,
        step=0.05,
        flag=None,
    )


class ControlSettings(SettingsModel):
    """The ControlNets that steer every frame, summed (none: the prompt alone)."""

    group: ClassVar[str] = "control"

    nets: tuple[ControlNetItem, ...] = setting(
        (),
        "ControlNets steering every frame, their residuals summed; each with a control image "
        "or video, a preprocessor and a scale curve.",
        label="ControlNets",
        widget="controlnets",
        flag=None,  # --controlnet and its paired options (studio.app.cli.control)
    )


def check_control(control: ControlSettings) -> None:
    """Raise ``SpecError`` (or ``CurveError``) naming the first bad ControlNet setting.

    Pure: no file is opened. Each ControlNet needs a model and exactly one control source;
    its scale curve must parse (variable ``t``); canny's low threshold may not exceed its high.
    """
    from studio.languages.curves import naming_curve, parse_curve

    for n, net in enumerate(control.nets, start=1):
        where = f"ControlNet {n}"
        if not net.model.strip():
            raise SpecError(f"{where} has no model; give a ControlNet folder or Hub id")
        if net.image and net.video:
            raise SpecError(
                f"{where} has a control image and a control video; give one "
                f"(image {net.image!r}, video {net.video!r})"
            )
        if not (net.image or net.video):
            raise SpecError(f"{where} ({net.model}) needs a control image or a control video")
        check_ranges(net, prefix=f"{where} ")
        if net.low_threshold > net.high_threshold:
            raise SpecError(
                f"{where}: canny low threshold {net.low_threshold} is above its high threshold "
                f"{net.high_threshold}"
            )
        if not net.scale.strip():
            raise SpecError(f"{where}: control scale curve is empty; e.g. '0: (1.0)'")
        with naming_curve(f"{where} control scale"):
            parse_curve(net.scale, names=("t",))


def check_blend_control(control: ControlSettings) -> None:
    """What a blend's ControlNets may not have, besides ``check_control``'s checks.

    A blend's frames are branches of a tree, made out of order and placed by distance, so
    nothing in them follows a video's frames or a curve over frames: each ControlNet takes a
    control image and a constant scale. Raises ``SpecError`` naming the ControlNet.
    """
    from studio.languages.curves import parse_curve

    check_control(control)
    for n, net in enumerate(control.nets, start=1):
        if net.video:
            raise SpecError(
                f"ControlNet {n}: a blend takes a control image, not a control video (its "
                "frames are branches of a tree, not a sequence a video could follow)"
            )
        keys = parse_curve(net.scale, names=("t",)).keys
        if len(keys) > 1 or keys[0].depends_on_variables:
            raise SpecError(
                f"ControlNet {n}: a blend takes a constant control scale such as 0.8, got "
                f"{net.scale!r}"
            )
