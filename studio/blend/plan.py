"""Plan a blend movie before any model work: tree, seeds, video length, joins, cost.

Torch-free, and pure but for a soundtrack, which is read once per version of its file
(``studio.blend.soundtrack``), so the dashboard can show the number of diffusion frames and
the denoise steps against rendering every frame from scratch as the user types.

The video: keyframe ``j`` of ``K`` is video frame ``joins[j] = round(j * (V - 1) / (K - 1))``
(``V`` video frames), so transition ``t`` owns video frames ``joins[t] .. joins[t+1] - 1``
and the last one also ``V - 1``: a keyframe is shown once, never twice at a join. Within a
transition its ``F`` diffusion frames, in prompt order, are spread evenly over that span,
each shown exactly once; ``segment_sources`` says which diffusion frames (and with what
crossfade weight) make each video frame.

A looped movie (``spec.output.loop``) walks through the first prompt once more at the end:
its prompts, negatives and seeds are the spec's plus keyframe 0's again, so the closing
transition ends on exactly the first keyframe. That last keyframe would be video frame
``V`` (``joins[K] = V``), the movie's frame 0 over again, and is not shown: the last video
frame leads into frame 0 as one ordinary step of the closing transition.

With a soundtrack (``spec.audio.path``), ``studio.blend.soundtrack`` sets the video length
and the joins instead: each prompt on its time (the user's, the track's onsets, or even),
the first prompt held before its time and the last after its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.blend.soundtrack import BlendTrack, crossfeed_scale, place_prompts, timed_sources
from studio.blend.tree import BlendTree, tree_for
from studio.errors import SpecError
from studio.media.retime import file_rate
from studio.pipeline.text import unique_texts
from studio.spec import BlendSpec

__all__ = ["BlendPlan", "plan_blend", "segment_sources"]


@dataclass(frozen=True)
class BlendPlan:
    spec: BlendSpec
    tree: BlendTree  # per transition; with a seconds budget, the most it may make
    # Per keyframe of the walk (looped: the spec's, then the first again).
    prompts: tuple[str, ...]  # positive prompt
    negatives: tuple[str, ...]  # negative prompt ("" for none)
    keyframe_seeds: tuple[int, ...]
    video_frames: int
    joins: tuple[int, ...]  # video frame of each keyframe (looped, the last is not shown)
    track: BlendTrack | None = None  # with a soundtrack: its times, envelope and timing

    @property
    def loop(self) -> bool:
        """True when a closing transition leads from the last prompt back to the first."""
        return self.spec.output.loop

    def shows_last_keyframe(self, transition: int) -> bool:
        """Whether ``transition`` writes its right keyframe: only the last transition of a
        movie that does not loop (looped, that keyframe is frame 0 again)."""
        return transition == self.transitions - 1 and not self.loop

    @property
    def transitions(self) -> int:
        return len(self.prompts) - 1

    @property
    def keyframe_twins(self) -> tuple[int, ...]:
        """Per keyframe of the walk, the first keyframe that draws the very same trajectory
        (same prompt, negative and seed, and the same part in inpainting): itself, or an
        earlier one whose trajectory the render keeps and uses again (a looped movie's
        closing keyframe is keyframe 0's)."""
        b = self.spec.blend
        first_of: dict[tuple, int] = {}
        twins = []
        for j, key in enumerate(
            zip(self.prompts, self.negatives, self.keyframe_seeds, strict=True)
        ):
            first = j == 0 or (self.loop and j == self.transitions)
            reference = bool(b.inpaint_mask) and not b.inpaint_image and first
            twins.append(first_of.setdefault((*key, reference), j))
        return tuple(twins)

    @property
    def computed_keyframes(self) -> int:
        """Keyframe trajectories the render computes (each twin once)."""
        return len(set(self.keyframe_twins))

    @property
    def fixed_size(self) -> bool:
        """False when a seconds budget decides how many frames each transition gets."""
        return not self.spec.blend.budget_seconds

    @property
    def diffusion_frames(self) -> int | None:
        """Diffusion frames of the movie (joins once); None when a seconds budget decides."""
        return self.tree.movie_frames(len(self.prompts)) if self.fixed_size else None

    @property
    def upscale_tree(self) -> BlendTree | None:
        """The tree rescaled to the upscaler's steps; None without an upscale stage."""
        u = self.spec.upscale
        return self.tree.rescaled(u.steps) if u.model else None

    @property
    def predicted_denoise_steps(self) -> int | None:
        """Exactly what the render will count (both stages); None when a seconds budget
        decides."""
        if not self.fixed_size:
            return None
        steps = self.tree.movie_denoise_steps(len(self.prompts), self.computed_keyframes)
        if self.upscale_tree is not None:
            steps += self.upscale_tree.movie_denoise_steps(len(self.prompts))
        return steps

    @property
    def scratch_denoise_steps(self) -> int | None:
        """The same diffusion frames rendered each from its own noise (both stages)."""
        if not self.fixed_size:
            return None
        steps = self.spec.diffusion.steps + (
            self.spec.upscale.steps if self.spec.upscale.model else 0
        )
        return self.tree.movie_frames(len(self.prompts)) * steps

    def in_betweens(self, transition: int) -> int:
        """Most in-between frames transition ``transition`` makes: the tree's, and never
        more than its video frames can show."""
        span = self.joins[transition + 1] - self.joins[transition]
        return min(self.tree.in_betweens, span - 1)

    def sources(self, transition: int, frames: int) -> list[tuple[int, float]]:
        """``(rank, alpha)`` per video frame of ``transition`` made of its ``frames``
        diffusion frames: ``segment_sources``, or the track's timing when it drives them."""
        a, b = self.joins[transition], self.joins[transition + 1]
        last = self.shows_last_keyframe(transition)
        if self.track is not None and self.track.progress is not None:
            return timed_sources(self.track.progress[a:b], frames, last=last)
        return [(r, num / den) for r, num, den in segment_sources(b - a, frames, last=last)]

    def crossfeed_scale(self, transition: int, position: float) -> float:
        """Factor of the crossfeed power of an in-between frame at ``position``."""
        return crossfeed_scale(self.spec, self.track, self.joins, transition, position)

    @property
    def unique_prompts(self) -> tuple[str, ...]:
        """Each text the encoder must see, once; the negatives only with guidance."""
        return unique_texts(self.prompts, self.negatives, self.spec.diffusion.guidance)

    def summary(self) -> dict[str, Any]:
        """JSON-safe facts for events, the store and the page."""
        o = self.spec.output
        return {
            "frames": self.video_frames,
            "fps": o.fps,
            "seconds_of_video": round(self.video_frames / o.fps, 3),
            **file_rate(self.video_frames, o.fps, o),
            "fill": o.fill,
            "prompts": len(self.spec.prompts.keyframes),
            "loop": self.loop,
            "keyframes": list(self.joins),
            "transition_times": [round(j / o.fps, 4) for j in self.joins],
            "keyframe_seeds": list(self.keyframe_seeds),
            "unique_prompts": len(self.unique_prompts),
            "diffusion_frames": self.diffusion_frames,
            "predicted_denoise_steps": self.predicted_denoise_steps,
            "scratch_denoise_steps": self.scratch_denoise_steps,
            "upscale_denoise_steps": (
                None
                if self.upscale_tree is None or not self.fixed_size
                else self.upscale_tree.movie_denoise_steps(len(self.prompts))
            ),
            "tree": self.tree.to_dict(len(self.prompts), self.computed_keyframes),
            "upscale_tree": (
                None if self.upscale_tree is None else self.upscale_tree.to_dict(len(self.prompts))
            ),
            "audio": None if self.track is None else self.track.to_dict(),
        }


def plan_blend(spec: BlendSpec) -> BlendPlan:
    """Work out the movie of a checked ``spec`` (``spec.check()``): the tree, the video length
    and what each video frame shows. Raises ``SpecError`` when the tree cannot be built or the
    video length does not fit it: with ``fill == "none"`` the tree must make exactly
    ``duration * fps`` frames; with ``crossfade`` it must not make more than that.
    """
    d, b, o = spec.diffusion, spec.blend, spec.output
    keys = spec.prompts.keyframes
    tree = tree_for(b, d.steps)
    # Looped, the walk visits the first prompt again; that last keyframe is not shown.
    count = len(keys) + o.loop
    hidden = int(o.loop)
    walk = f"{len(keys)} prompts" + (" and back to the first (loop)" if o.loop else "")
    per_transition = tree.diffusion_frames

    if spec.audio.path:
        if o.loop:
            raise SpecError(
                "a looped blend cannot take a soundtrack: the track places each prompt once "
                "from its start to its end, and nothing would place the way back to the first "
                "prompt; turn loop off or remove the audio"
            )
        min_span = 1 if b.budget_seconds else per_transition - 1
        video, joins, track = place_prompts(spec, min_span)
        return _plan(spec, tree, video, joins, track)
    if o.duration == 0:
        if b.budget_seconds:
            raise SpecError(
                "a budget in seconds leaves the number of diffusion frames open, so the video "
                "length cannot come from the tree; set a duration"
            )
        video = tree.movie_frames(count) - hidden
    else:
        video = round(o.duration * o.fps)
        if video < len(keys):
            raise SpecError(
                f"duration {o.duration:g} s at {o.fps} fps is {video} video frames, fewer than "
                f"the {len(keys)} prompts (each keyframe is a frame of its own)"
            )
    if o.fill == "none":
        if b.budget_seconds:
            raise SpecError(
                "fill 'none' needs a known number of diffusion frames, but a budget in seconds "
                "decides it while rendering; use fill crossfade or a budget in denoise steps"
            )
        made = tree.movie_frames(count) - hidden
        if video != made:
            raise SpecError(
                f"fill 'none' shows only diffusion frames: {walk} with {per_transition} "
                f"diffusion frames per transition make {made} frames, but duration "
                f"{o.duration:g} s x {o.fps} fps is {video}; set the duration to "
                f"{made / o.fps:.4g} s (or 0), change the tree, or use fill crossfade"
            )
    last = video - 1 + hidden  # looped: the hidden keyframe sits one past the last frame
    joins = tuple(round(j * last / (count - 1)) for j in range(count))
    if b.budget_seconds == 0:
        shortest = min(joins[t + 1] - joins[t] for t in range(count - 1))
        if per_transition - 1 > shortest:
            raise SpecError(
                f"the tree makes {per_transition} diffusion frames per transition, but the "
                f"video has only {shortest + 1} frames for a transition ({video} frames through "
                f"{walk}); lengthen the video or use a smaller tree"
            )
    return _plan(spec, tree, video, joins, None)


def _plan(
    spec: BlendSpec,
    tree: BlendTree,
    video: int,
    joins: tuple[int, ...],
    track: BlendTrack | None,
) -> BlendPlan:
    d, o, keys = spec.diffusion, spec.output, spec.prompts.keyframes
    base = d.seed
    seeds = tuple(k.seed if k.seed is not None else (base + i) % 2**63 for i, k in enumerate(keys))
    default_negative = spec.prompts.negative_prompt
    negatives = tuple(k.negative if k.negative is not None else default_negative for k in keys)
    prompts = tuple(k.prompt for k in keys)
    if o.loop:  # the first keyframe again, with its own seed: the same trajectory
        seeds, negatives, prompts = (
            seeds + seeds[:1],
            negatives + negatives[:1],
            prompts + prompts[:1],
        )
    return BlendPlan(
        spec=spec,
        tree=tree,
        prompts=prompts,
        negatives=negatives,
        keyframe_seeds=seeds,
        video_frames=video,
        joins=joins,
        track=track,
    )


def segment_sources(span: int, frames: int, *, last: bool) -> list[tuple[int, int, int]]:
    """Which diffusion frames make each video frame of one transition.

    The transition has ``frames`` diffusion frames (ranks ``0 .. frames - 1`` in prompt order,
    both keyframes included) over ``span`` video frames (``span >= frames - 1 >= 1``).
    Diffusion frame ``r`` is shown exactly at video frame ``round(r * span / (frames - 1))``
    (halves round up); the video frames between two of them crossfade. Returns one
    ``(rank, numerator, denominator)`` per video frame: diffusion frame ``rank`` crossfaded
    ``numerator / denominator`` of the way to ``rank + 1`` (numerator 0: exactly ``rank``).
    The right keyframe belongs to the next transition, so it is included (as the final
    entry) only when ``last``.
    """
    if frames < 2 or span < frames - 1:
        raise ValueError(f"need span >= frames - 1 >= 1, got span={span}, frames={frames}")
    gaps = frames - 1
    anchors = [(2 * r * span + gaps) // (2 * gaps) for r in range(frames)]
    out = []
    for rank in range(gaps):
        width = anchors[rank + 1] - anchors[rank]
        out.extend((rank, num, width) for num in range(width))
    if last:
        out.append((gaps, 0, 1))
    return out
