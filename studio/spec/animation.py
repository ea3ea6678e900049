"""The animation spec: a keyframed prompt schedule rendered frame by frame.

Groups: prompts, diffusion, animation, output, input, motion, audio, edit, loras, control,
upscale; each can be restored on its own. ``AnimationSpec.check()`` is pure: ranges, choices and
parsing of the prompt schedule and curves. The input and audio files are probed by the render kind's
``check_inputs`` (``studio.media.inputs.check_inputs``, ``studio.media.audio.check_audio``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr

from studio.errors import SpecError
from studio.spec.common import (
    INTERPOLATE_FPS_FIELD,
    INTERPOLATE_METHOD_FIELD,
    INTERPOLATOR_FIELD,
    DiffusionSettings,
    InterpolateMethod,
    Interpolation,
    OutputFormat,
    SettingsModel,
    SpecBase,
    check_diffusion,
    check_interpolation,
    check_negative_prompt,
    schema_version_field,
)
from studio.spec.control import ControlSettings, check_control
from studio.spec.edit import EditSettings, check_edit
from studio.spec.fields import check_ranges, setting
from studio.spec.lora import AnimationLoras
from studio.spec.upscale import UpscaleSettings, check_upscale

__all__ = [
    "AnimationSettings",
    "AnimationSpec",
    "AudioSettings",
    "InputSettings",
    "MotionSettings",
    "OutputSettings",
    "PromptSettings",
]

Easing = Literal["linear", "sine", "curve"]
LatentMode = Literal["keyframe", "fixed"]
Border = Literal["reflect", "replicate", "zero"]
ColorMatch = Literal["none", "first", "input"]
AudioComponent = Literal["percussive", "harmonic", "both"]

_CURVE = "A curve (variables t: frame, audio: the audio envelope in [0, 1]); '' = none. "


class PromptSettings(SettingsModel):
    """What to draw: the keyframed schedule and the default negative prompt."""

    group: ClassVar[str] = "prompts"

    schedule: StrictStr = setting(
        "0: a red circle on a black background\n24: a blue square on a black background",
        "One keyframe per line, 'FRAME: prompt'; blank lines and # comments are ignored.",
        widget="textarea",
        flag="--prompts",
    )
    negative_prompt: StrictStr = setting(
        "", "Negative prompt for keyframes without their own.", flag="--negative"
    )


class AnimationSettings(SettingsModel):
    """How frames between keyframes are made."""

    group: ClassVar[str] = "animation"

    fps: StrictInt = setting(12, "Frames per second of the output.", ge=1, le=120, step=1)
    interpolation: Interpolation = setting(
        "slerp", "How text embeddings mix between keyframes (latents always slerp)."
    )
    easing: Easing = setting(
        "linear", "Timing between keyframes: linear, sine waves, or a curve of s."
    )
    sine_frequencies: tuple[StrictFloat, ...] = setting(
        (1.0,),
        "Frequencies (0 to 100) of the sine easing's waves, e.g. 1,3.",
        label="sine frequencies",
    )
    easing_curve: StrictStr = setting(
        "",
        "Curve of s (0 to 1 between two keyframes), t and audio, used when easing is "
        "'curve', e.g. '0: (s**2)'.",
        widget="curve",
    )
    latents: LatentMode = setting(
        "keyframe", "A seeded latent per keyframe (slerped between), or one fixed latent."
    )
    batch_size: StrictInt = setting(
        4,
        "Frames denoised together on the device: one UNet call for all of them, which is "
        "what makes frames per second (any size gives the same frames, to a level or two of "
        "rounding). Lower it where "
        "memory is short; renders with motion curves go one frame at a time.",
        ge=1,
        le=256,
        step=1,
    )
    loop: StrictBool = setting(
        False,
        "Seamless loop: after the last keyframe the walk returns to the first over a closing "
        "segment as long as the average keyframe segment, which adds that many frames less "
        "one (0/24/48 gives 72 frames, not 49); the last frame leads into frame 0 without "
        "repeating it. Not with a video input or motion curves.",
    )


class OutputSettings(SettingsModel):
    """What file the frames stream into."""

    group: ClassVar[str] = "output"

    format: OutputFormat = setting(
        "mp4", "What the frames stream into: an MP4 or GIF file, or PNG frames."
    )
    interpolate_fps: StrictInt = INTERPOLATE_FPS_FIELD
    interpolate_method: InterpolateMethod = INTERPOLATE_METHOD_FIELD
    interpolator: StrictStr = INTERPOLATOR_FIELD


class AudioSettings(SettingsModel):
    """A soundtrack (``studio.audio.analysis``): what drives timing and curves, and what MP4 output plays."""

    group: ClassVar[str] = "audio"

    path: StrictStr = setting(
        "",
        "A wav, mp3, ogg or flac file ('' = none), as the user gave it or relative to "
        "STUDIO_HOME for dashboard uploads.",
        widget="file",
        flag="--audio",
    )
    component: AudioComponent = setting(
        "both",
        "The part of the track that is measured (HPSS percussive or harmonic, or both: the "
        "whole track); its loudness per frame is the curve variable audio.",
        flag="--audio-component",
    )
    timing: StrictBool = setting(
        False,
        "Between keyframes, move faster where the component is loud.",
        flag="--audio-timing",
    )
    smoothing: StrictFloat = setting(
        0.5,
        "Blend of audio timing with linear timing: 0 = from the audio alone, 1 = linear.",
        ge=0,
        le=1,
        step=0.05,
        flag="--audio-smoothing",
    )
    mux: StrictBool = setting(
        True,
        "Put the track into MP4 output, from frame 0, cut to the video's length (GIF and "
        "PNG have no sound).",
        flag="--no-audio-mux",
    )


class InputSettings(SettingsModel):
    """Footage the frames start from (``studio.media.inputs`` reads it; one of the two, or neither)."""

    group: ClassVar[str] = "input"

    image: StrictStr = setting(
        "",
        "One init image for every frame (resized to the spec's size); a path as the user "
        "gave it, or relative to STUDIO_HOME for dashboard uploads.",
        widget="file",
        flag="--image-input",
    )
    video: StrictStr = setting(
        "",
        "Each of its frames, resampled to the animation's fps by timestamp, is the init of "
        "one output frame, and its length sets the number of frames.",
        widget="file",
        flag="--video-input",
    )
    keep_audio: StrictBool = setting(
        False, "Mux the video's own audio into MP4 output (when no audio track is chosen)."
    )


class MotionSettings(SettingsModel):
    """2D and 3D motion, img2img strength, coherence and colour matching
    (``studio.animation.motion``, ``studio.animation.motion3d``).

    Any of zoom, angle, translate_x, translate_y or a 3D curve (translation_z, rotation_3d_x/
    y/z) set turns feedback on: each moves the previous frame to make the next one's init
    image (through img2img). 3D curves move it through a depth map: from ``depth_model`` or
    ``depth_input`` (exactly one of them).
    """

    group: ClassVar[str] = "motion"

    zoom: StrictStr = setting("", _CURVE + "Zoom factor per frame, 1 = still.", widget="curve")
    angle: StrictStr = setting("", _CURVE + "Degrees per frame, counter-clockwise.", widget="curve")
    translate_x: StrictStr = setting("", _CURVE + "Pixels per frame to the right.", widget="curve")
    translate_y: StrictStr = setting("", _CURVE + "Pixels per frame down.", widget="curve")
    strength: StrictStr = setting(
        "0: (0.6)",
        _CURVE + "img2img strength of every frame that starts from an image: 0 keeps the "
        "init image, 1 ignores it.",
        widget="curve",
    )
    noise: StrictStr = setting(
        "",
        _CURVE + "Standard deviation of seeded Gaussian noise added to each init latent.",
        widget="curve",
    )
    border: Border = setting("replicate", "How the warp fills pixels it brings in.")
    coherence_scale: StrictFloat = setting(
        0.0,
        "Pull of each frame's final latents toward a running mean of earlier frames (0 = off).",
        ge=0,
        le=1,
        step=0.05,
    )
    coherence_alpha: StrictFloat = setting(
        0.2, "Weight of each new frame in the running mean.", gt=0, le=1, step=0.05
    )
    coherence_noise: StrictStr = setting(
        "",
        _CURVE + "Standard deviation of seeded Gaussian noise added to each pulled frame's "
        "latents (seed + frame, so batches and resumes draw the same).",
        widget="curve",
    )
    color_match: ColorMatch = setting(
        "none", "LAB histogram matching of every frame to the first frame or to the input."
    )
    # 3D motion (studio.animation.motion3d): the previous frame moved through a depth map.
    translation_z: StrictStr = setting(
        "",
        _CURVE + "3D: depth units per frame the camera moves forward (negative: back); "
        "needs a depth model or a depth input.",
        widget="curve",
    )
    rotation_3d_x: StrictStr = setting(
        "",
        _CURVE + "3D: degrees per frame the camera tilts up (the picture moves down).",
        widget="curve",
    )
    rotation_3d_y: StrictStr = setting(
        "",
        _CURVE + "3D: degrees per frame the camera pans right (the picture moves left).",
        widget="curve",
    )
    rotation_3d_z: StrictStr = setting(
        "",
        _CURVE + "3D: degrees per frame the picture turns counter-clockwise (as angle).",
        widget="curve",
    )
    fov: StrictStr = setting(
        "",
        _CURVE + "3D: horizontal field of view of the camera in degrees ('' = 40).",
        widget="curve",
    )
    depth_model: StrictStr = setting(
        "",
        "3D motion's depth source: a depth-estimation model (DPT or Depth Anything; a "
        "local folder, or a Hub id in the local Hugging Face cache) that reads each frame.",
        flag="--depth-model",
    )
    depth_input: StrictStr = setting(
        "",
        "3D motion's depth source: a depth image (every frame) or a depth video (one frame "
        "per output frame), white = near, black = far.",
        widget="file",
        flag="--depth-input",
    )
    depth_near: StrictFloat = setting(
        200.0, "Depth of the nearest (white) points, in depth units.", gt=0, step=10.0
    )
    depth_far: StrictFloat = setting(
        10000.0, "Depth of the farthest (black) points, in depth units.", gt=0, step=100.0
    )


class AnimationSpec(SpecBase):
    """A keyframed prompt animation (``kind == "animation"``)."""

    kind: ClassVar[str] = "animation"

    prompts: PromptSettings = PromptSettings()
    diffusion: DiffusionSettings = DiffusionSettings()
    animation: AnimationSettings = AnimationSettings()
    output: OutputSettings = OutputSettings()
    input: InputSettings = InputSettings()
    motion: MotionSettings = MotionSettings()
    audio: AudioSettings = AudioSettings()
    edit: EditSettings = EditSettings()  # inpainting / InstructPix2Pix models (spec/edit.py)
    loras: AnimationLoras = AnimationLoras()
    control: ControlSettings = ControlSettings()
    upscale: UpscaleSettings = UpscaleSettings()  # each frame again, larger (spec/upscale.py)
    schema_version: StrictInt = schema_version_field()

    def check(self) -> None:
        """Raise ``SpecError`` (or ``ScheduleError``/``CurveError``) naming the bad value.

        Pure: no file is opened. The image, video and audio files are checked by
        ``studio.media.inputs.check_inputs`` and ``studio.media.audio.check_audio``.
        """
        a = self.animation
        check_diffusion(self.diffusion)
        check_ranges(a)
        if self.output.format == "gif" and a.fps > 50:
            # GIF frame delays are whole hundredths of a second; browsers slow shorter ones.
            raise SpecError(f"GIF output plays at most 50 fps, got {a.fps}; use mp4 for more")
        check_ranges(self.output)
        o = self.output
        check_interpolation(
            a.fps, o.interpolate_fps, o.format, o.interpolate_method, o.interpolator
        )
        if a.easing == "sine" and (
            not a.sine_frequencies or any(not 0 < f <= 100 for f in a.sine_frequencies)
        ):
            raise SpecError(
                f"sine easing needs frequencies between 0 and 100, got {list(a.sine_frequencies)}"
            )
        if a.easing == "curve" and not a.easing_curve.strip():
            raise SpecError("easing 'curve' needs an easing curve, e.g. '0: (s**2)'")
        # Parsing is the check for the two languages; imported here to keep this module light.
        from studio.languages.curves import naming_curve, parse_curve
        from studio.languages.schedule import parse_schedule

        schedule = parse_schedule(self.prompts.schedule)
        check_negative_prompt(self.prompts.negative_prompt)
        if a.easing == "curve":
            with naming_curve("easing curve"):
                parse_curve(a.easing_curve, names=("t", "s", "audio"))
        _check_input_and_motion(self.input, self.motion)
        if a.loop:
            _check_loop(len(schedule.keyframes), self.input, self.motion)
        if self.input.keep_audio and self.output.format != "mp4":
            raise SpecError(
                f"keep audio needs mp4 output (a {self.output.format} has no sound track)"
            )
        check_ranges(self.audio, prefix="audio ")
        if self.audio.timing and not self.audio.path:
            raise SpecError("audio timing needs an audio file")
        check_edit(self.edit, has_input=bool(self.input.image or self.input.video))
        self.loras.check()
        check_control(self.control)
        check_upscale(self.upscale)


def _check_input_and_motion(i: InputSettings, m: MotionSettings) -> None:
    """Settings of the input and motion groups (the media files are not opened here)."""
    from studio.languages.curves import naming_curve, parse_curve

    if i.image and i.video:
        raise SpecError(
            f"give an image input or a video input, not both (image {i.image!r}, video {i.video!r})"
        )
    if i.keep_audio and not i.video:
        raise SpecError("keep audio needs a video input (the audio comes from the video)")
    curves = ("zoom", "angle", "translate_x", "translate_y", "strength", "noise", "coherence_noise")
    for name in curves:
        text = getattr(m, name)
        if text.strip():
            with naming_curve(name.replace("_", " ")):
                parse_curve(text, names=("t", "audio"))
        elif name == "strength":
            raise SpecError("strength curve is empty; e.g. '0: (0.6)'")
    for name in (*_CURVES_3D, "fov"):
        if getattr(m, name).strip():
            with naming_curve(name.replace("_", " ")):
                parse_curve(getattr(m, name), names=("t", "audio"))
    moving = [
        n
        for n in ("zoom", "angle", "translate_x", "translate_y", *_CURVES_3D)
        if getattr(m, n).strip()
    ]
    if moving and i.video:
        raise SpecError(
            f"motion ({', '.join(moving)}) moves the previous frame, but with a video input "
            "every frame starts from the video's own frame; clear the motion curves or the video"
        )
    check_ranges(m)
    if m.color_match == "input" and not (i.image or i.video):
        raise SpecError("colour matching to the input needs an image or video input")
    _check_depth(m)


_CURVES_3D = ("translation_z", "rotation_3d_x", "rotation_3d_y", "rotation_3d_z")


def _check_depth(m: MotionSettings) -> None:
    """3D motion needs one depth source; a depth source needs 3D motion."""
    moving = [n for n in _CURVES_3D if getattr(m, n).strip()]
    if moving and not (m.depth_model or m.depth_input):
        raise SpecError(
            f"3D motion ({', '.join(moving)}) needs a depth source: give --depth-model (a DPT "
            "or Depth Anything folder or cached Hub id) or --depth-input (a depth image or "
            "video, white = near)"
        )
    if m.depth_model and m.depth_input:
        raise SpecError(
            f"give a depth model or a depth input, not both (model {m.depth_model!r}, "
            f"input {m.depth_input!r})"
        )
    if (m.depth_model or m.depth_input) and not moving:
        source = m.depth_model or m.depth_input
        raise SpecError(
            f"depth source {source!r} is read only by 3D motion; set translation_z or a "
            "rotation_3d curve, or clear the depth source"
        )
    if m.depth_far <= m.depth_near:
        raise SpecError(
            f"depth far must be more than depth near, got near {m.depth_near:g}, "
            f"far {m.depth_far:g}"
        )


def _check_loop(keyframes: int, i: InputSettings, m: MotionSettings) -> None:
    """What a looped walk cannot close: one keyframe, a video input, motion feedback."""
    if keyframes < 2:
        raise SpecError(
            "loop needs two or more keyframes: the walk returns from the last keyframe to the "
            "first, and this schedule has only one"
        )
    if i.video:
        raise SpecError(
            f"loop cannot be used with a video input ({i.video!r}): the video's length sets "
            "the frames and its last frame does not lead back to its first; turn loop off, "
            "or cut the video into a loop first"
        )
    moving = [
        n
        for n in ("zoom", "angle", "translate_x", "translate_y", *_CURVES_3D)
        if getattr(m, n).strip()
    ]
    if moving:
        raise SpecError(
            f"loop cannot close with motion ({', '.join(moving)}): each frame starts from the "
            "one before it moved, so the last frame drifts away from frame 0 and nothing "
            "brings it back; clear the motion curves or turn loop off"
        )
