"""Render specs: one versioned, JSON-serialisable description per kind of render.

A spec is what the dashboard builds from its widgets, what the CLI builds from its flags or
reads from ``--spec file.json``, what the store keeps, and what "re-run" executes. The round
trip ``spec -> to_json() -> load_spec() -> spec`` is exact.

Settings are grouped (prompts, diffusion, animation, output; for a blend: prompts,
diffusion, blend, upscale, output) so that a later "restore settings" can bring back one group without
the others.

Older ``schema_version`` values are upgraded on load by the functions in ``_UPGRADES``.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from studio.errors import NegativePromptError, PromptListError, SpecError
from studio.languages.brackets import unmatched_bracket
from studio.pipeline.schedulers import BLEND_SCHEDULER_NAMES, SCHEDULER_NAMES

__all__ = [
    "BLEND_PRESETS",
    "BLEND_SCHEDULERS",
    "DEFAULT_MODEL",
    "SCHEMA_VERSION",
    "SCHEDULERS",
    "AnimationSettings",
    "AnimationSpec",
    "AudioSettings",
    "BlendKeyframe",
    "BlendOutputSettings",
    "BlendPromptSettings",
    "BlendSettings",
    "BlendSpec",
    "DiffusionSettings",
    "InputSettings",
    "MotionSettings",
    "OutputSettings",
    "PromptSettings",
    "Spec",
    "UpscaleSettings",
    "diff_specs",
    "load_spec",
]

SCHEMA_VERSION = 2  # 2: DiffusionSettings.guidance_stop
DEFAULT_MODEL = "builtin:shapes"

# Scheduler names the user may pick: one table, studio.pipeline.schedulers (torch-free).
SCHEDULERS = SCHEDULER_NAMES
BLEND_SCHEDULERS = BLEND_SCHEDULER_NAMES
# Preset -> diffusion frames per transition (both keyframes included); see studio.blend.tree.
BLEND_PRESETS = {"lowest": 5, "low": 9, "medium": 17, "high": 25, "ultra": 41}

Interpolation = Literal["slerp", "lerp"]
Easing = Literal["linear", "sine", "curve"]
LatentMode = Literal["keyframe", "fixed"]
OutputFormat = Literal["mp4", "gif", "png"]
BlendSetup = Literal["preset", "auto", "manual"]
BlendPreset = Literal["lowest", "low", "medium", "high", "ultra"]
Insertion = Literal["adaptive", "uniform"]
Distance = Literal["ssim", "latent"]
Fill = Literal["crossfade", "none"]
Border = Literal["reflect", "replicate", "zero"]
ColorMatch = Literal["none", "first", "input"]
AudioComponent = Literal["percussive", "harmonic", "both"]


@dataclass(frozen=True)
class PromptSettings:
    """What to draw: the keyframed schedule and the default negative prompt."""

    schedule: str = "0: a red circle on a black background\n24: a blue square on a black background"
    negative_prompt: str = ""


@dataclass(frozen=True)
class DiffusionSettings:
    """How each frame is denoised, and on what."""

    model: str = DEFAULT_MODEL
    scheduler: str = "ddim"
    scheduler_kwargs: dict[str, Any] = field(default_factory=dict)
    steps: int = 20
    guidance: float = 3.0  # builtin:shapes' best; the CLI and pages use the model's own
    # Steps whose timestep lies in this share of the noise schedule, at its clean end, skip
    # classifier-free guidance: the text prediction alone, one UNet batch instead of two.
    # 0 guides every step (the usual); builtin:shapes' 0.2 leaves out t < 200 of 1000.
    guidance_stop: float = 0.2
    width: int = 128  # builtin:shapes' native size; the CLI and pages use the model's own
    height: int = 128
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16
    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False


@dataclass(frozen=True)
class AnimationSettings:
    """How frames between keyframes are made."""

    fps: int = 12
    interpolation: Interpolation = "slerp"  # of text embeddings; latents always slerp
    easing: Easing = "linear"
    sine_frequencies: tuple[float, ...] = (1.0,)
    easing_curve: str = ""  # curve language; used when easing == "curve"
    latents: LatentMode = "keyframe"  # a seeded latent per keyframe, or one fixed latent
    batch_size: int = 1


@dataclass(frozen=True)
class OutputSettings:
    """What file the frames stream into."""

    format: OutputFormat = "mp4"


@dataclass(frozen=True)
class AudioSettings:
    """A soundtrack (``studio.audio.analysis``): what drives timing and curves, and what MP4 output plays.

    ``path``: a wav, mp3, ogg or flac file ("" = none), as the user gave it or relative to
    ``STUDIO_HOME`` for dashboard uploads. ``component``: the part of the track that is
    measured (HPSS ``percussive`` or ``harmonic``, or ``both``: the whole track); its
    loudness per frame is the curve variable ``audio``. ``timing``: between keyframes the
    interpolation moves faster where that component is loud, blended with linear timing by
    ``smoothing`` (0 = from the audio alone, 1 = linear). ``mux``: put the track into MP4
    output, from frame 0, cut to the video's length (GIF and PNG have no sound).
    """

    path: str = ""
    component: AudioComponent = "both"
    timing: bool = False
    smoothing: float = 0.5
    mux: bool = True


@dataclass(frozen=True)
class InputSettings:
    """Footage the frames start from (``studio.media.inputs`` reads it; one of the two, or neither).

    ``image``: one init image for every frame (resized to the spec's size). ``video``: each
    of its frames, resampled to the animation's fps by timestamp, is the init of one output
    frame, and its length sets the number of frames. Paths are as the user gave them, or
    relative to ``STUDIO_HOME`` for dashboard uploads. ``keep_audio``: mux the video's own
    audio into MP4 output (when no audio track is chosen).
    """

    image: str = ""
    video: str = ""
    keep_audio: bool = False


@dataclass(frozen=True)
class MotionSettings:
    """2D motion, img2img strength, coherence and colour matching (``studio.animation.motion``).

    Curves are in the curve language with the variables ``t`` (frame) and ``audio`` (the
    audio envelope in [0, 1]); "" means none. ``zoom`` (factor per frame, 1 = still),
    ``angle`` (degrees per frame, counter-clockwise), ``translate_x``/``translate_y`` (pixels
    per frame, right/down) move the previous frame to make the next one's init image
    (feedback through img2img); any of them set turns feedback on. ``strength`` (0 keeps the
    init image, 1 ignores it) and ``noise`` (standard deviation of seeded Gaussian noise added
    to each init latent) apply to every frame that starts from an image. ``border``: how the
    warp fills pixels it brings in. ``coherence_scale`` (0 = off) pulls each frame's final
    latents toward a running mean of earlier frames, updated with weight
    ``coherence_alpha``; ``coherence_noise`` (a curve, "" = none) is the standard deviation
    of seeded Gaussian noise added to each pulled frame's latents (seed + frame, so batches
    and resumes draw the same). ``color_match``: LAB histogram matching of every frame to the first
    frame or to the input.
    """

    zoom: str = ""
    angle: str = ""
    translate_x: str = ""
    translate_y: str = ""
    strength: str = "0: (0.6)"
    noise: str = ""
    border: Border = "replicate"
    coherence_scale: float = 0.0
    coherence_alpha: float = 0.2
    coherence_noise: str = ""
    color_match: ColorMatch = "none"


class _Spec:
    """Serialisation shared by every spec kind (frozen dataclasses with a ``kind``)."""

    kind: ClassVar[str]
    schema_version: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: tuples become lists, so ``to_dict()`` equals ``json.loads(to_json())``."""
        return {"kind": self.kind, **_plain(dataclasses.asdict(self))}  # type: ignore[call-overload]

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        spec = load_spec(data)
        if not isinstance(spec, cls):
            raise SpecError(f"expected a spec of kind {cls.kind!r}, got kind {spec.kind!r}")
        return spec

    def replace(self, **groups: Any) -> Any:
        """A copy with whole groups replaced, e.g. ``spec.replace(diffusion=...)``."""
        return dataclasses.replace(self, **groups)  # type: ignore[type-var]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _check_diffusion(d: DiffusionSettings, schedulers: tuple[str, ...] = SCHEDULERS) -> None:
    for name in ("width", "height"):
        value = getattr(d, name)
        if value <= 0 or value % 8:
            raise SpecError(f"{name} must be a positive multiple of 8, got {value}")
        if value > 4096:
            raise SpecError(f"{name} must be at most 4096, got {value}")
    if not 1 <= d.steps <= 1000:
        raise SpecError(f"steps must be between 1 and 1000, got {d.steps}")
    if not 0 <= d.guidance <= 50:
        raise SpecError(f"guidance must be between 0 and 50, got {d.guidance}")
    if not 0 <= d.guidance_stop < 1:
        raise SpecError(f"guidance stop must be in [0, 1), got {d.guidance_stop}")
    if d.scheduler not in SCHEDULERS:
        raise SpecError(f"unknown scheduler {d.scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
    if d.scheduler not in schedulers:
        raise SpecError(
            f"scheduler {d.scheduler!r} cannot start part-way through its schedule, as blend "
            f"branches do; choose one of {', '.join(schedulers)}"
        )
    if not 0 <= d.seed < 2**63:
        raise SpecError(f"seed must be between 0 and 2**63 - 1, got {d.seed}")
    if d.dtype not in ("auto", "float32", "float16", "bfloat16"):
        raise SpecError(f"dtype must be auto, float32, float16 or bfloat16, got {d.dtype!r}")


@dataclass(frozen=True)
class AnimationSpec(_Spec):
    """A keyframed prompt animation (``kind == "animation"``)."""

    kind: ClassVar[str] = "animation"

    prompts: PromptSettings = field(default_factory=PromptSettings)
    diffusion: DiffusionSettings = field(default_factory=DiffusionSettings)
    animation: AnimationSettings = field(default_factory=AnimationSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    input: InputSettings = field(default_factory=InputSettings)
    motion: MotionSettings = field(default_factory=MotionSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    schema_version: int = SCHEMA_VERSION

    # -- validation ----------------------------------------------------------------------

    def check(self) -> None:
        """Raise ``SpecError`` (or ``ScheduleError``/``CurveError``) naming the bad value."""
        d, a = self.diffusion, self.animation
        _check_diffusion(d)
        if not 1 <= a.fps <= 120:
            raise SpecError(f"fps must be between 1 and 120, got {a.fps}")
        if self.output.format == "gif" and a.fps > 50:
            # GIF frame delays are whole hundredths of a second; browsers slow shorter ones.
            raise SpecError(f"GIF output plays at most 50 fps, got {a.fps}; use mp4 for more")
        if not 1 <= a.batch_size <= 256:
            raise SpecError(f"batch size must be between 1 and 256, got {a.batch_size}")
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

        parse_schedule(self.prompts.schedule)
        _check_negative_prompt(self.prompts.negative_prompt)
        if a.easing == "curve":
            with naming_curve("easing curve"):
                parse_curve(a.easing_curve, names=("t", "s", "audio"))
        _check_input_and_motion(self.input, self.motion)
        if self.input.keep_audio and self.output.format != "mp4":
            raise SpecError(
                f"keep audio needs mp4 output (a {self.output.format} has no sound track)"
            )
        from studio.media.inputs import check_inputs  # probes once per version of the file

        check_inputs(self)
        _check_audio(self.audio)


def _check_negative_prompt(text: str) -> None:
    """``NegativePromptError`` at the first bracket of ``text`` without its partner."""
    found = unmatched_bracket(text)
    if found is not None:
        offset, reason = found
        before = text[:offset]
        line_start = before.rfind("\n") + 1
        raise NegativePromptError(reason, before.count("\n") + 1, offset - line_start + 1)


def _check_audio(audio: AudioSettings) -> None:
    """The audio group; a named track must be one ``studio.audio.analysis`` can read (``MediaError``)."""
    if audio.component not in typing.get_args(AudioComponent):
        raise SpecError(
            f"audio component must be percussive, harmonic or both, got {audio.component!r}"
        )
    if not 0 <= audio.smoothing <= 1:
        raise SpecError(f"audio smoothing must be between 0 and 1, got {audio.smoothing}")
    if audio.timing and not audio.path:
        raise SpecError("audio timing needs an audio file")
    if audio.path:
        from studio.media.audio import check_audio  # decodes once per version of the file

        check_audio(audio.path)


def _check_input_and_motion(i: InputSettings, m: MotionSettings) -> None:
    """Settings of the input and motion groups; media files are checked by ``studio.media.inputs``."""
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
    moving = [n for n in ("zoom", "angle", "translate_x", "translate_y") if getattr(m, n).strip()]
    if moving and i.video:
        raise SpecError(
            f"motion ({', '.join(moving)}) moves the previous frame, but with a video input "
            "every frame starts from the video's own frame; clear the motion curves or the video"
        )
    if not 0 <= m.coherence_scale <= 1:
        raise SpecError(f"coherence scale must be between 0 and 1, got {m.coherence_scale}")
    if not 0 < m.coherence_alpha <= 1:
        raise SpecError(f"coherence alpha must be in (0, 1], got {m.coherence_alpha}")
    if m.color_match == "input" and not (i.image or i.video):
        raise SpecError("colour matching to the input needs an image or video input")


# -- blend: latent-blending transitions ------------------------------------------------------


@dataclass(frozen=True)
class BlendKeyframe:
    """One prompt of a blend movie.

    ``seed`` None: the base seed plus the keyframe's index. ``negative`` None: the group's
    ``negative_prompt``; ``""``: no negative prompt for this keyframe.
    """

    prompt: str
    seed: int | None = None
    negative: str | None = None


@dataclass(frozen=True)
class BlendPromptSettings:
    """The prompts, in the order the movie visits them (two or more)."""

    keyframes: tuple[BlendKeyframe, ...] = (
        BlendKeyframe("a red circle on a black background"),
        BlendKeyframe("a blue square on a black background"),
    )
    negative_prompt: str = ""


@dataclass(frozen=True)
class BlendSettings:
    """The tree of trajectories of each transition, and how its frames are placed.

    Setup (``studio.blend.tree`` turns it into levels of branches):

    - ``preset``: ``BLEND_PRESETS[preset]`` diffusion frames per transition, built like ``auto``;
    - ``auto``: ``diffusion_frames`` per transition (both keyframes included), levels and
      injection steps derived from ``depth_strength`` and ``diffusion.steps``;
    - ``manual``: ``branches[i]`` new frames at level ``i``, each branching at
      ``injection_steps[i]`` (absolute, increasing, in ``1..steps-1``) or at
      ``round(injection_strengths[i] * steps)`` (fractions in (0, 1)); give one of the two.

    ``depth_strength`` in (0, 1): how far the keyframes run before the first branch leaves
    them; near 0 the in-between frames are inventive, near 1 close to an alpha blend.

    Insertion: ``adaptive`` puts each new frame between the two neighbours whose images differ
    most under ``distance`` (``ssim``: 1 - SSIM of the decoded images; ``latent``: RMS
    distance of the final latents); ``uniform`` bisects the widest gap in prompt position.
    Budget, per transition, for its in-between frames (0 = no cap: the whole tree):
    ``budget_steps`` denoise steps (the tree is cut level by level where it would exceed it)
    or ``budget_seconds`` of wall time (frames are added while the next one is expected to
    fit; an upscale stage is not counted); not both.

    Crossfeed: for the first ``crossfeed_range`` (fraction) of a branch's own steps its
    latents are pulled toward its parents' with weight ``crossfeed_power * crossfeed_decay**i``
    after its ``i``-th step; power 0 turns it off. ``guidance_dampening`` in [0, 1): guidance
    at prompt position ``p`` is scaled by ``1 - guidance_dampening * 4p(1 - p)``, lowest
    mid-transition. Text embeddings are mixed by ``embeddings`` at the frame's position.

    Inpainting: ``inpaint_mask`` is a picture file, white where the movie transitions and
    black where it stays fixed on ``inpaint_image`` (a picture file) or, when that is empty,
    on the first keyframe (``studio.blend.inpaint``). Empty: no inpainting.
    """

    setup: BlendSetup = "preset"
    preset: BlendPreset = "medium"
    depth_strength: float = 0.5
    diffusion_frames: int = 17
    branches: tuple[int, ...] = ()
    injection_strengths: tuple[float, ...] = ()
    injection_steps: tuple[int, ...] = ()
    insertion: Insertion = "adaptive"
    distance: Distance = "ssim"
    budget_steps: int = 0
    budget_seconds: float = 0.0
    crossfeed_power: float = 0.0
    crossfeed_range: float = 0.5
    crossfeed_decay: float = 0.9
    guidance_dampening: float = 0.0
    embeddings: Interpolation = "slerp"
    inpaint_mask: str = ""
    inpaint_image: str = ""


@dataclass(frozen=True)
class UpscaleSettings:
    """An optional second stage: every diffusion frame is rendered again through an upscaler
    pipeline (``StableDiffusionUpscalePipeline``, e.g. stabilityai/stable-diffusion-x4-upscaler)
    with the same tree: an in-between frame branches off its parents' upscaler trajectories at
    its injection step scaled to ``steps``. ``model`` empty: no upscaling. ``noise_level``
    (0-350) is the noise added to the low-resolution frame the upscaler is given. Guidance
    dampening applies to this stage too; crossfeed only to the first."""

    model: str = ""
    steps: int = 20
    guidance: float = 7.5
    noise_level: int = 20
    scheduler: str = "ddim"


@dataclass(frozen=True)
class BlendOutputSettings:
    """The video: ``round(duration * fps)`` frames; ``duration`` 0 means one video frame per
    diffusion frame. Video frames beyond the diffusion frames come from ``fill``:
    ``crossfade`` (pixel crossfade between neighbouring diffusion frames) or ``none`` (every
    video frame is a diffusion output, so the tree must make exactly that many)."""

    fps: int = 12
    duration: float = 0.0
    fill: Fill = "crossfade"
    format: OutputFormat = "mp4"


@dataclass(frozen=True)
class BlendSpec(_Spec):
    """A latent-blending movie through two or more prompts (``kind == "blend"``)."""

    kind: ClassVar[str] = "blend"

    prompts: BlendPromptSettings = field(default_factory=BlendPromptSettings)
    diffusion: DiffusionSettings = field(default_factory=DiffusionSettings)
    blend: BlendSettings = field(default_factory=BlendSettings)
    upscale: UpscaleSettings = field(default_factory=UpscaleSettings)
    output: BlendOutputSettings = field(default_factory=BlendOutputSettings)
    schema_version: int = SCHEMA_VERSION

    def check(self) -> None:
        """Raise ``SpecError`` naming the bad value or the impossible setup.

        Besides ranges this checks that the tree can be built (``studio.blend.tree``) and that
        the video length fits it: with ``fill == "none"`` the tree must make exactly
        ``duration * fps`` frames; with ``crossfade`` it must not make more than that.
        """
        from studio.blend.plan import plan_blend  # the plan's own checks; keeps this light

        plan_blend(self)

    def _check_fields(self) -> None:
        """Range checks of single settings; ``plan_blend`` calls this first."""
        d, b, o = self.diffusion, self.blend, self.output
        _check_diffusion(d, BLEND_SCHEDULERS)
        keys = self.prompts.keyframes
        if len(keys) < 2:
            raise SpecError(f"a blend needs at least 2 prompts, got {len(keys)}")
        for i, key in enumerate(keys):
            if not key.prompt.strip():
                raise SpecError(f"prompt {i + 1} is empty")
            if key.seed is not None and not 0 <= key.seed < 2**63:
                raise SpecError(
                    f"prompt {i + 1}: seed must be between 0 and 2**63 - 1, got {key.seed}"
                )
            # Prompt i is line i + 1 of the dashboard's prompt list (one prompt per line).
            for text, what in ((key.prompt, ""), (key.negative or "", "its negative prompt: ")):
                found = unmatched_bracket(text)
                if found is not None:
                    raise PromptListError(f"{what}{found[1]}", i + 1, found[0] + 1)
        _check_negative_prompt(self.prompts.negative_prompt)
        if not 0 < b.depth_strength < 1:
            raise SpecError(
                f"depth strength must be between 0 and 1 (exclusive), got {b.depth_strength}"
            )
        if b.budget_steps < 0:
            raise SpecError(
                f"budget in denoise steps must be 0 (none) or more, got {b.budget_steps}"
            )
        if not 0 <= b.budget_seconds <= 86400:
            raise SpecError(
                f"budget in seconds must be between 0 (none) and 86400, got {b.budget_seconds}"
            )
        if b.budget_steps and b.budget_seconds:
            raise SpecError("give a budget in denoise steps or in seconds, not both")
        if not 0 <= b.crossfeed_power <= 1:
            raise SpecError(f"crossfeed power must be between 0 and 1, got {b.crossfeed_power}")
        if not 0 < b.crossfeed_range <= 1:
            raise SpecError(f"crossfeed range must be in (0, 1], got {b.crossfeed_range}")
        if not 0 < b.crossfeed_decay <= 1:
            raise SpecError(f"crossfeed decay must be in (0, 1], got {b.crossfeed_decay}")
        if not 0 <= b.guidance_dampening < 1:
            raise SpecError(f"guidance dampening must be in [0, 1), got {b.guidance_dampening}")
        u = self.upscale
        if u.model:
            if not 2 <= u.steps <= 1000:
                raise SpecError(f"upscale steps must be between 2 and 1000, got {u.steps}")
            if not 0 <= u.guidance <= 50:
                raise SpecError(f"upscale guidance must be between 0 and 50, got {u.guidance}")
            if not 0 <= u.noise_level <= 350:
                raise SpecError(
                    f"upscale noise level must be between 0 and 350, got {u.noise_level}"
                )
            if u.scheduler not in BLEND_SCHEDULERS:
                raise SpecError(
                    f"upscale scheduler {u.scheduler!r} cannot start part-way through its "
                    f"schedule; choose one of {', '.join(BLEND_SCHEDULERS)}"
                )
            if b.inpaint_mask:
                raise SpecError("inpainting and upscaling cannot be combined yet; choose one")
        if b.inpaint_image and not b.inpaint_mask:
            raise SpecError("an inpaint image needs an inpaint mask (white: transitions)")
        from pathlib import Path

        for what, name in (("mask", b.inpaint_mask), ("image", b.inpaint_image)):
            if name and not Path(name).is_file():
                raise SpecError(f"inpaint {what} file {name} does not exist")
        if not 1 <= o.fps <= 120:
            raise SpecError(f"fps must be between 1 and 120, got {o.fps}")
        if o.format == "gif" and o.fps > 50:
            raise SpecError(f"GIF output plays at most 50 fps, got {o.fps}; use mp4 for more")
        if not 0 <= o.duration <= 3600:
            raise SpecError(
                f"duration must be between 0 (from the tree) and 3600 seconds, got {o.duration}"
            )


Spec = AnimationSpec | BlendSpec


_KINDS: dict[str, type] = {"animation": AnimationSpec, "blend": BlendSpec}


def _guided_every_step(data: dict) -> dict:
    """1 -> 2: before ``guidance_stop`` every step was guided; keep it so on a re-run."""
    diffusion = data.get("diffusion", {})
    if isinstance(diffusion, dict):
        data = {**data, "diffusion": {"guidance_stop": 0.0, **diffusion}}
    return data


# kind -> {from_version: function(dict) -> dict at from_version + 1}
_UPGRADES: dict[str, dict[int, typing.Callable[[dict], dict]]] = {
    "animation": {1: _guided_every_step},
    "blend": {1: _guided_every_step},
}


def load_spec(data: dict[str, Any] | str) -> Spec:
    """Build a spec from its dict or JSON text, upgrading older schema versions.

    Raises ``SpecError`` naming the first unknown key, wrong type or bad version.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"spec must be a JSON object, got {type(data).__name__}")
    data = dict(data)
    kind = data.pop("kind", "animation")
    if kind not in _KINDS:
        raise SpecError(f"unknown spec kind {kind!r}; known kinds: {', '.join(_KINDS)}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SpecError(f"schema_version must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise SpecError(
            f"spec schema_version {version} is newer than this studio understands "
            f"({SCHEMA_VERSION}); upgrade Latent Studio"
        )
    while version < SCHEMA_VERSION:
        data = _UPGRADES[kind][version](data)
        version += 1
    data["schema_version"] = version
    return _build(_KINDS[kind], data, kind)


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise SpecError(f"{path} must be an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SpecError(f"unknown setting {path}.{unknown[0]}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        values[name] = _coerce(hints[name], value, f"{path}.{name}")
    return cls(**values)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise SpecError(f"{path} must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if not isinstance(value, list | tuple):
            raise SpecError(f"{path} must be a list, got {value!r}")
        return tuple(_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise SpecError(f"{path} must be an object, got {value!r}")
        return dict(value)
    if origin in (types.UnionType, typing.Union):
        # Only "X | None": null means "not set".
        (item,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else _coerce(item, value, path)
    if hint is bool:
        if not isinstance(value, bool):
            raise SpecError(f"{path} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{path} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"{path} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise SpecError(f"{path} must be text, got {value!r}")
        return value
    raise SpecError(f"{path}: unsupported type {hint}")


def diff_specs(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Settings that differ between two spec dicts: ``(dotted.path, value_a, value_b)``.

    A key missing on one side shows as ``None`` there. Paths are sorted, so the same two
    specs always give the same list.
    """
    flat_a, flat_b = _flatten(a), _flatten(b)
    return [
        (path, flat_a.get(path), flat_b.get(path))
        for path in sorted(set(flat_a) | set(flat_b))
        if flat_a.get(path) != flat_b.get(path)
    ]


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat
