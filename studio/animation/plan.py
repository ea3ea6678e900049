"""Plan an animation before any model work: frames, keyframes, seeds, weights, batches, cost.

Pure and torch-free, so the dashboard can draw the interpolation chart and show the cost of a
render as the user types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.animation.motion import FrameCurves, evaluate_curves, img2img_steps, init_kinds
from studio.errors import SpecError
from studio.languages.curves import Curve, naming_curve, parse_curve
from studio.languages.easing import (
    FrameWeights,
    closing_segment,
    frame_weights,
    walk_frame_count,
    walk_key_frames,
)
from studio.languages.schedule import PromptSchedule, parse_schedule
from studio.media.retime import file_rate
from studio.pipeline.text import unique_texts
from studio.spec import AnimationSpec

__all__ = ["AnimationPlan", "plan_animation"]


@dataclass(frozen=True)
class AnimationPlan:
    spec: AnimationSpec
    schedule: PromptSchedule
    # Per frame: keyframe segment and weight toward the next keyframe (``next_keyframe``).
    weights: FrameWeights
    keyframe_seeds: tuple[int, ...]
    prompts: tuple[str, ...]  # positive prompt per keyframe
    negatives: tuple[str, ...]  # negative prompt per keyframe ("" for none)
    batches: tuple[range, ...]  # frame indices denoised together
    # Per frame (studio.animation.motion): the curves, where it starts (noise, image, video, feedback)
    # and how many denoise steps it runs (fewer for img2img).
    curves: FrameCurves | None = None
    init_kinds: tuple[str, ...] = ()
    frame_steps: tuple[int, ...] = ()

    @property
    def frames(self) -> int:
        return self.weights.frame_count

    @property
    def loop(self) -> bool:
        """True when the walk closes: the last keyframe leads back to the first."""
        return self.spec.animation.loop

    @property
    def closing_frames(self) -> int:
        """Frames of a looped walk's closing segment (last keyframe back to the first); 0
        when the walk does not loop."""
        return closing_segment(self.schedule) if self.loop else 0

    def next_keyframe(self, segment: np.ndarray) -> np.ndarray:
        """The keyframe each frame of ``segment`` (keyframe indices, any shape) moves
        toward: ``segment + 1``, wrapping to 0 in a looped walk (the closing segment) and
        held at the last keyframe otherwise (its weight is 0 there)."""
        count = len(self.schedule.keyframes)
        nxt = np.asarray(segment) + 1
        return nxt % count if self.loop else np.minimum(nxt, count - 1)

    @property
    def predicted_denoise_steps(self) -> int:
        """One latent through one scheduler step, for every frame; both stages."""
        if self.frame_steps:
            steps = sum(self.frame_steps)
        else:
            steps = self.frames * self.spec.diffusion.steps
        return steps + self.upscale_denoise_steps

    @property
    def upscale_denoise_steps(self) -> int:
        """The upscale stage's share: all its steps for every frame (0 without one)."""
        u = self.spec.upscale
        return self.frames * u.steps if u.model else 0

    @property
    def unique_prompts(self) -> tuple[str, ...]:
        """Each text the encoder must see, once; the negatives only with guidance."""
        return unique_texts(self.prompts, self.negatives, self.spec.diffusion.guidance)

    def summary(self) -> dict[str, Any]:
        """JSON-safe facts for events, the store and the page."""
        return {
            "frames": self.frames,
            "fps": self.spec.animation.fps,
            "seconds_of_video": round(self.frames / self.spec.animation.fps, 3),
            **file_rate(self.frames, self.spec.animation.fps, self.spec.output),
            "keyframes": [k.frame for k in self.schedule.keyframes],
            "keyframe_seeds": list(self.keyframe_seeds),
            # A looped walk's closing segment: the frames it adds after the last keyframe.
            "loop": {"closing_frames": self.closing_frames} if self.loop else None,
            "unique_prompts": len(self.unique_prompts),
            "batches": len(self.batches),
            "predicted_denoise_steps": self.predicted_denoise_steps,
            "upscale_denoise_steps": self.upscale_denoise_steps,
        }


def plan_animation(
    spec: AnimationSpec,
    *,
    input_frames: int | None = None,
    curve_variables: Mapping[str, np.ndarray] | None = None,
) -> AnimationPlan:
    """Work out every frame of a checked ``spec`` (``spec.check()``). Raises the spec's own
    errors (a keyframe after the video input ends, a curve that fails on a frame), nothing else.

    ``spec.animation.loop``: the walk goes on from the last keyframe back to the first over
    a closing segment as long as the average keyframe segment (``frames`` grows by it less
    the last keyframe's own frame: ``last_frame + closing_frames``); frame 0 is not repeated.
    A looped spec with a video input is the spec's own error (``spec.check()``).

    ``input_frames``: the frame count a video input gives at the spec's fps
    (``studio.media.inputs.VideoInfo.output_frames``). It sets the length: frames after the last
    keyframe hold its prompt, and a keyframe at or after ``input_frames`` is a ``SpecError``
    (the video would end before it). ``curve_variables``: ``audio`` for the motion curves,
    shape ``(frames,)`` (zeros when not given).
    """
    schedule = parse_schedule(spec.prompts.schedule)
    anim = spec.animation
    curve = (
        parse_curve(anim.easing_curve, names=("t", "s", "audio"))
        if anim.easing == "curve"
        else None
    )
    progress, easing_variables = _audio_timing(spec, schedule, curve)
    with naming_curve("easing curve"):  # its values are only known here, per frame
        weights = frame_weights(
            schedule,
            anim.easing,
            anim.sine_frequencies,
            curve,
            progress=progress,
            variables=easing_variables,
            loop=anim.loop,
        )
    if input_frames is not None:
        weights = _fit_to_video(weights, schedule, input_frames)

    base = spec.diffusion.seed
    seeds = []
    for i, key in enumerate(schedule.keyframes):
        if key.seed is not None:
            seeds.append(key.seed)
        else:  # "fixed": every keyframe without its own seed shares the base latent
            seeds.append(base if anim.latents == "fixed" else (base + i) % 2**63)

    default_negative = schedule.negative or spec.prompts.negative_prompt
    negatives = tuple(
        k.negative if k.negative is not None else default_negative for k in schedule.keyframes
    )
    frames = weights.frame_count
    curves = evaluate_curves(spec.motion, frames, curve_variables)
    kinds = init_kinds(spec, frames, curves.feedback)
    steps = spec.diffusion.steps
    frame_steps = tuple(
        steps if kind == "noise" else img2img_steps(steps, curves.strength[f])
        for f, kind in enumerate(kinds)
    )
    # Feedback makes each frame need the one before it: such renders go one frame at a time.
    size = 1 if curves.feedback else anim.batch_size
    batches = tuple(range(i, min(i + size, frames)) for i in range(0, frames, size))
    return AnimationPlan(
        spec=spec,
        schedule=schedule,
        weights=weights,
        keyframe_seeds=tuple(seeds),
        prompts=tuple(k.prompt for k in schedule.keyframes),
        negatives=negatives,
        batches=batches,
        curves=curves,
        init_kinds=kinds,
        frame_steps=frame_steps,
    )


def _audio_timing(
    spec: AnimationSpec, schedule: PromptSchedule, curve: Curve | None
) -> tuple[np.ndarray | None, dict[str, np.ndarray] | None]:
    """Audio-driven progress between keyframes (``spec.audio.timing``), and the ``audio``
    variable of an easing curve that reads it (zeros without a track), each ``(F,)``."""
    a = spec.audio
    reads_audio = curve is not None and any("audio" in k.variables for k in curve.keys)
    if not (a.timing or reads_audio):
        return None, None
    loop = spec.animation.loop
    frames = walk_frame_count(schedule, loop)
    # studio.audio.analysis imports numpy only; librosa loads inside, when a track is analysed.
    from studio.audio.analysis import audio_envelope, timing_progress

    if a.path:
        envelope = audio_envelope(a.path, a.component, spec.animation.fps, frames)
    else:
        envelope = np.zeros(frames)
    progress = None
    if a.timing:
        # A looped walk's timing runs to where keyframe 0 comes again, one frame past the
        # end; that frame is not shown, so the last frame's loudness stands in for it.
        keys = walk_key_frames(schedule, loop)
        padded = np.pad(envelope, (0, int(keys[-1]) + 1 - frames), mode="edge")
        progress = timing_progress(keys.tolist(), padded, a.smoothing)[:frames]
    return progress, ({"audio": envelope} if reads_audio else None)


def _fit_to_video(weights: FrameWeights, schedule: PromptSchedule, frames: int) -> FrameWeights:
    """The weights for a video input's ``frames``: the last keyframe holds to the end."""
    late = [k for k in schedule.keyframes if k.frame >= frames]
    if late:
        raise SpecError(
            f"keyframe {late[0].frame} (schedule line {late[0].line}) is past the end of the "
            f"video input, which gives {frames} frames (0-{frames - 1}) at this fps; the video "
            "sets the length, so move the keyframe earlier or lower the fps"
        )
    extra = frames - weights.frame_count
    return FrameWeights(
        segment=np.concatenate([weights.segment, np.full(extra, len(schedule.keyframes) - 1)]),
        weight=np.concatenate([weights.weight, np.zeros(extra)]),
    )


def blend_position(plan: AnimationPlan) -> np.ndarray:
    """Where each frame sits between keyframes as one number: segment + weight, shape (F,).

    The dashboard plots this: a straight staircase for linear easing, S-curves for sine.
    """
    return plan.weights.segment.astype(np.float64) + plan.weights.weight
