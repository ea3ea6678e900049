"""The blend spec: a latent-blending movie through two or more prompts.

Groups: prompts, diffusion, blend, upscale, output, audio, loras, control. ``BlendSpec.check()``
checks ranges and choices; it opens no file. That the tree can be built and fits the video
(and the track's times) is the planner's check (``studio.blend.plan.plan_blend``); the inpaint
mask and image files and the soundtrack are the blend render kind's (``studio.app.registry``).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr

from studio.errors import PromptListError, SpecError
from studio.languages.brackets import unmatched_bracket
from studio.languages.schedule import MAX_PROMPT_LENGTH
from studio.spec.animation import AudioSettings
from studio.spec.common import (
    BLEND_SCHEDULERS,
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
from studio.spec.control import ControlSettings, check_blend_control
from studio.spec.fields import check_ranges, setting
from studio.spec.lora import BlendLoras
from studio.spec.upscale import UpscaleSettings, check_upscale

__all__ = [
    "BlendAudioSettings",
    "BlendKeyframe",
    "BlendOutputSettings",
    "BlendPromptSettings",
    "BlendSettings",
    "BlendSpec",
    "UpscaleSettings",
]

BlendSetup = Literal["preset", "auto", "manual"]
BlendPreset = Literal["lowest", "low", "medium", "high", "ultra"]
Insertion = Literal["adaptive", "uniform"]
Distance = Literal["ssim", "latent"]
Fill = Literal["crossfade", "flow", "none"]
Placement = Literal["onsets", "even"]


MAX_BLEND_PROMPTS = 1_000  # keyframes of one blend movie (each a transition)


class BlendKeyframe(SettingsModel):
    """One prompt of a blend movie; ``BlendKeyframe("a red circle", seed=3)``."""

    prompt: StrictStr = setting(..., "What this keyframe draws.", flag=None)
    seed: StrictInt | None = setting(
        None,
        "Its seed; null: the base seed plus the keyframe's index.",
        ge=0,
        le=2**63 - 1,
        flag="--seeds",
    )
    negative: StrictStr | None = setting(
        None,
        "Its negative prompt; null: the group's negative prompt, '': none for this keyframe.",
        flag=None,
    )

    def __init__(self, *prompt: str, **data: object) -> None:
        # The prompt may be given by position; pydantic also calls this when validating.
        if len(prompt) > 1:
            raise TypeError(f"BlendKeyframe takes one positional prompt, got {len(prompt)}")
        super().__init__(**dict(zip(("prompt",), prompt, strict=False)), **data)


class BlendPromptSettings(SettingsModel):
    """The prompts, in the order the movie visits them (two or more)."""

    group: ClassVar[str] = "prompts"

    keyframes: tuple[BlendKeyframe, ...] = setting(
        (
            BlendKeyframe("a red circle on a black background"),
            BlendKeyframe("a blue square on a black background"),
        ),
        "The prompts in the order the movie visits them, two or more; one per line in the "
        "dashboard's prompt list.",
        widget="keyframes",
        flag=None,  # positional PROMPT arguments
    )
    negative_prompt: StrictStr = setting(
        "", "Negative prompt for every keyframe without its own.", flag="--negative"
    )


class BlendSettings(SettingsModel):
    """The tree of trajectories of each transition, and how its frames are placed.

    ``studio.blend.tree`` turns the setup into levels of branches: ``preset`` and ``auto``
    derive levels and injection steps from ``depth_strength`` and ``diffusion.steps``;
    ``manual`` gives ``branches[i]`` new frames at level ``i``, each branching at
    ``injection_steps[i]`` or at ``round(injection_strengths[i] * steps)`` (give one of the
    two). Crossfeed pulls a branch's latents toward its parents' with weight
    ``crossfeed_power * crossfeed_decay**i`` after its ``i``-th step, for the first
    ``crossfeed_range`` of its own steps.
    """

    group: ClassVar[str] = "blend"

    setup: BlendSetup = setting(
        "preset",
        "preset: a preset's frames per transition; auto: diffusion_frames per transition; "
        "manual: branches with injection steps or strengths.",
        flag=None,  # the CLI picks it from the flags given
    )
    preset: BlendPreset = setting(
        "medium", "Diffusion frames per transition: lowest 5, low 9, medium 17, high 25, ultra 41."
    )
    depth_strength: StrictFloat = setting(
        0.5,
        "How far the keyframes run before the first branch leaves them: near 0 the "
        "in-between frames are inventive, near 1 close to an alpha blend.",
        gt=0,
        lt=1,
        step=0.05,
    )
    diffusion_frames: StrictInt = setting(
        17,
        "Automatic tree: diffusion frames per transition, both keyframes included.",
        ge=2,
        le=1000,
        step=1,
    )
    branches: tuple[StrictInt, ...] = setting((), "Manual tree: new frames per level, e.g. 2,3.")
    injection_strengths: tuple[StrictFloat, ...] = setting(
        (), "Manual tree: where each level branches, as fractions in (0, 1) of the steps."
    )
    injection_steps: tuple[StrictInt, ...] = setting(
        (), "Manual tree: where each level branches, absolute and increasing in 1..steps-1."
    )
    insertion: Insertion = setting(
        "adaptive",
        "adaptive: each new frame goes between the two neighbours that differ most under "
        "distance; uniform: it bisects the widest gap in prompt position.",
    )
    distance: Distance = setting(
        "ssim",
        "ssim: 1 - SSIM of the decoded images; latent: RMS distance of the final latents.",
    )
    budget_steps: StrictInt = setting(
        0,
        "Per transition, denoise steps for its in-between frames; the tree is cut level by "
        "level where it would exceed it (0 = no cap).",
        label="budget in denoise steps",
        ge=0,
        zero_means="none",
        step=1,
    )
    budget_seconds: StrictFloat = setting(
        0.0,
        "Per transition, wall time for its in-between frames: frames are added while the "
        "next is expected to fit; an upscale stage is not counted (0 = no cap).",
        label="budget in seconds",
        ge=0,
        le=86400,
        zero_means="none",
    )
    crossfeed_power: StrictFloat = setting(
        0.0,
        "Weight of the pull of a branch's latents toward its parents' (0 = off).",
        ge=0,
        le=1,
        step=0.05,
    )
    crossfeed_range: StrictFloat = setting(
        0.5, "Share of a branch's own steps that crossfeed acts on.", gt=0, le=1, step=0.05
    )
    crossfeed_decay: StrictFloat = setting(
        0.9, "Crossfeed weight factor per step.", gt=0, le=1, step=0.05
    )
    guidance_dampening: StrictFloat = setting(
        0.0,
        "Guidance at prompt position p is scaled by 1 - dampening * 4p(1 - p), lowest "
        "mid-transition.",
        ge=0,
        lt=1,
        step=0.05,
    )
    embeddings: Interpolation = setting(
        "slerp", "How text embeddings mix at a frame's prompt position."
    )
    inpaint_mask: StrictStr = setting(
        "",
        "A picture, white where the movie transitions and black where it stays fixed "
        "('' = no inpainting).",
        widget="file",
    )
    inpaint_image: StrictStr = setting(
        "",
        "A picture of what stays fixed under the mask's black ('' = the first keyframe).",
        widget="file",
    )


class BlendOutputSettings(SettingsModel):
    """The video: ``round(duration * fps)`` frames."""

    group: ClassVar[str] = "output"

    fps: StrictInt = setting(12, "Frames per second of the video.", ge=1, le=120, step=1)
    duration: StrictFloat = setting(
        0.0,
        "Length of the video in seconds; 0: one video frame per diffusion frame.",
        ge=0,
        le=3600,
        zero_means="from the tree",
        unit="seconds",
    )
    fill: Fill = setting(
        "crossfade",
        "Video frames beyond the diffusion frames: crossfade (pixel crossfade between "
        "neighbouring diffusion frames), flow (motion-compensated, no ghosts) or none (the "
        "tree must make exactly that many).",
    )
    format: OutputFormat = setting(
        "mp4", "What the frames stream into: an MP4 or GIF file, or PNG frames."
    )
    loop: StrictBool = setting(
        False,
        "Seamless loop: one more transition, from the last prompt back to the first, so the "
        "movie's last frame leads into its first without repeating it.",
    )
    interpolate_fps: StrictInt = INTERPOLATE_FPS_FIELD
    interpolate_method: InterpolateMethod = INTERPOLATE_METHOD_FIELD
    interpolator: StrictStr = INTERPOLATOR_FIELD


class BlendAudioSettings(AudioSettings):
    """A soundtrack for a blend (``studio.blend.soundtrack``): where each prompt is reached,
    how fast a transition moves, how much crossfeed, and the sound of MP4 output.

    With a track the video is as long as the track, unless ``output.duration`` is set (then
    that length is kept and the track cut or padded with silence). Prompt ``k`` is reached
    at ``times[k]`` seconds when times are given, else at the track's strongest onsets
    (``placement == "onsets"``) or evenly (``"even"``); the movie holds the first prompt
    before its time and the last after its time. ``timing``: within a transition, video
    frames move through its diffusion frames faster where the track is loud.
    ``crossfeed``: each in-between frame's crossfeed power is scaled by
    ``1 - crossfeed * envelope``, so the loud parts are freer and the quiet ones closer to
    their parents.
    """

    times: tuple[StrictFloat, ...] = setting(
        (),
        "Seconds at which each prompt is reached, one per prompt, increasing, within the "
        "track, e.g. 0,4.5,9 (empty: from placement).",
        label="prompt times",
        flag="--times",
    )
    placement: Placement = setting(
        "onsets",
        "Where the prompts are reached when no times are given: onsets (the first at 0, the "
        "others on the track's strongest onsets, spaced at least half an even share apart) "
        "or even (spread evenly over the video).",
        flag="--audio-placement",
    )
    crossfeed: StrictFloat = setting(
        0.0,
        "How much the track's loudness lowers crossfeed: an in-between frame's crossfeed "
        "power is scaled by 1 - this x the envelope where it is shown (0 = off).",
        ge=0,
        le=1,
        step=0.05,
        flag="--audio-crossfeed",
    )


class BlendSpec(SpecBase):
    """A latent-blending movie through two or more prompts (``kind == "blend"``)."""

    kind: ClassVar[str] = "blend"

    prompts: BlendPromptSettings = BlendPromptSettings()
    diffusion: DiffusionSettings = DiffusionSettings()
    blend: BlendSettings = BlendSettings()
    upscale: UpscaleSettings = UpscaleSettings()
    output: BlendOutputSettings = BlendOutputSettings()
    audio: BlendAudioSettings = BlendAudioSettings()
    loras: BlendLoras = BlendLoras()
    control: ControlSettings = ControlSettings()
    schema_version: StrictInt = schema_version_field()

    def check(self) -> None:
        """Raise ``SpecError`` naming the bad value: ranges and choices, pure (no file opened).

        Whether the tree can be built and the video length fits it is the planner's check
        (``studio.blend.plan.plan_blend``, which takes a checked spec).
        """
        b, u, o = self.blend, self.upscale, self.output
        check_diffusion(self.diffusion, BLEND_SCHEDULERS)
        check_blend_control(self.control)
        keys = self.prompts.keyframes
        if not 2 <= len(keys) <= MAX_BLEND_PROMPTS:
            raise SpecError(f"a blend takes 2 to {MAX_BLEND_PROMPTS:,} prompts, got {len(keys):,}")
        for i, key in enumerate(keys):
            if not key.prompt.strip():
                raise SpecError(f"prompt {i + 1} is empty")
            for text, what in ((key.prompt, ""), (key.negative or "", "its negative prompt ")):
                if len(text) > MAX_PROMPT_LENGTH:
                    raise PromptListError(
                        f"{what}is {len(text):,} characters long; the limit is "
                        f"{MAX_PROMPT_LENGTH:,}",
                        i + 1,
                        1,
                    )
            check_ranges(key, prefix=f"prompt {i + 1}: ")
            # Prompt i is line i + 1 of the dashboard's prompt list (one prompt per line).
            for text, what in ((key.prompt, ""), (key.negative or "", "its negative prompt: ")):
                found = unmatched_bracket(text)
                if found is not None:
                    raise PromptListError(f"{what}{found[1]}", i + 1, found[0] + 1)
        check_negative_prompt(self.prompts.negative_prompt)
        check_ranges(b)
        if b.budget_steps and b.budget_seconds:
            raise SpecError("give a budget in denoise steps or in seconds, not both")
        check_upscale(u)
        if u.model and b.inpaint_mask:
            raise SpecError("inpainting and upscaling cannot be combined yet; choose one")
        if b.inpaint_image and not b.inpaint_mask:
            raise SpecError("an inpaint image needs an inpaint mask (white: transitions)")
        check_ranges(o)
        if o.format == "gif" and o.fps > 50:
            raise SpecError(f"GIF output plays at most 50 fps, got {o.fps}; use mp4 for more")
        check_blend_audio(self.audio, len(keys), o.fill, b.crossfeed_power)
        check_interpolation(
            o.fps, o.interpolate_fps, o.format, o.interpolate_method, o.interpolator
        )
        self.loras.check()


def check_blend_audio(a: BlendAudioSettings, prompts: int, fill: str, crossfeed: float) -> None:
    """The audio group of a blend of ``prompts`` prompts, without opening the track: the
    times (one per prompt, increasing, from 0) and what needs a track. That the times fall
    within the track is the planner's check, which reads its length."""
    check_ranges(a, prefix="audio ")
    needs = [
        what
        for what, given in (
            ("prompt times need", a.times),
            ("audio timing needs", a.timing),
            ("audio crossfeed needs", a.crossfeed),
        )
        if given
    ]
    if needs and not a.path:
        raise SpecError(f"{needs[0]} an audio file")
    if a.crossfeed and not crossfeed:
        raise SpecError(
            f"audio crossfeed {a.crossfeed:g} scales the crossfeed, which is off; set a "
            "crossfeed power above 0"
        )
    if not a.path:
        return
    if fill == "none":
        raise SpecError(
            "fill 'none' needs transitions of the tree's own length, but the track places "
            "them; use fill crossfade with an audio file"
        )
    if not a.times:
        return
    if a.placement == "even":
        raise SpecError("give times or placement 'even', not both (times place the prompts)")
    if len(a.times) != prompts:
        raise SpecError(f"times need one time per prompt ({prompts}), got {len(a.times)}")
    for i, t in enumerate(a.times):
        if not math.isfinite(t) or t < 0:
            raise SpecError(f"time {i + 1} must be 0 or more seconds, got {t!r}")
        if i and t <= a.times[i - 1]:
            raise SpecError(
                f"times must increase: time {i + 1} ({t:g} s) is not after time {i} "
                f"({a.times[i - 1]:g} s)"
            )
