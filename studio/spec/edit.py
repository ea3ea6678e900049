"""Settings of the models that edit a picture: inpainting (9-channel) and InstructPix2Pix
(8-channel) UNets (``studio.pipeline.edit`` uses them).

One group, ``edit``, so that the rest of a spec reads the same whatever model draws it:
``mask`` says what an inpainting model repaints of the input image or of each video frame,
``image_guidance`` how closely an InstructPix2Pix model keeps to it, frame by frame. A model
of another family ignores both (the default mask is none, so a spec made for a plain model
says nothing it does not mean).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import StrictStr

from studio.errors import SpecError
from studio.spec.common import SettingsModel
from studio.spec.fields import setting

__all__ = ["EditSettings", "check_edit"]


class EditSettings(SettingsModel):
    """What an inpainting or InstructPix2Pix model is given besides the prompt."""

    group: ClassVar[str] = "edit"

    mask: StrictStr = setting(
        "",
        "Inpainting models: a picture of what to repaint in the input image or in each "
        "frame of the input video (white: repaint, black: keep; resized to the frame), or a "
        "video of one mask per frame (resampled to the fps; its last frame holds); '' = the "
        "whole frame. A path as the user gave it, or relative to STUDIO_HOME for dashboard "
        "uploads.",
        widget="file",
        flag="--mask",
    )
    image_guidance: StrictStr = setting(
        "0: (1.5)",
        "InstructPix2Pix models: image guidance scale per frame, a curve (variables t: "
        "frame, audio: the audio envelope in [0, 1]), e.g. '1.5' or '0: (1.0), 24: (3.0)'; "
        "higher keeps closer to the input, 1 = no pull toward it.",
        widget="curve",
        flag="--image-guidance",
    )


def check_edit(edit: EditSettings, has_input: bool) -> None:
    """Raise ``SpecError`` naming the problem: a mask without an input picture to repaint,
    or an image guidance curve that does not parse. Pure: the mask file is probed by the
    render kind's ``check_inputs``."""
    from studio.languages.curves import naming_curve, parse_curve

    if edit.mask and not has_input:
        raise SpecError(
            "a mask marks what to repaint of the input image or video; give one "
            "(--image-input / --video-input), or clear the mask to draw whole frames"
        )
    if not edit.image_guidance.strip():
        raise SpecError("image guidance curve is empty; e.g. '0: (1.5)'")
    with naming_curve("image guidance"):
        parse_curve(edit.image_guidance, names=("t", "audio"))
