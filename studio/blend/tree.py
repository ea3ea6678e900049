"""The tree of diffusion trajectories behind one blend transition. Pure and torch-free.

A transition from keyframe A to keyframe B denoised in ``N`` steps is a tree:

- level 0: A and B themselves, each running all ``N`` steps from its own seeded noise;
- level ``l`` (1, 2, ...): ``branches`` new in-between frames, each leaving the tree at
  ``injection_step`` ``k_l`` (``1 <= k_1 < k_2 < ... <= N - 1``): it starts from a spherical
  mix of its two current neighbours' latents at step ``k_l`` and runs only the remaining
  ``N - k_l`` steps, so most of its trajectory is shared with its parents.

Deeper levels branch later: their frames sit between ever closer neighbours and need fewer
steps of their own. One transition's in-between frames cost ``sum(b_l * (N - k_l))`` denoise
steps; a movie through ``K`` prompts computes each keyframe once, ``K * N`` steps, plus that
for each of its ``K - 1`` transitions. Rendering every frame from scratch costs
``frames * N``.

Setups (each returns a ``BlendTree``; an impossible one raises ``SpecError`` naming why):

- ``auto_tree(steps, diffusion_frames, depth_strength)``: bisection levels. Level 1 has one
  frame at ``k_1 = clamp(round(depth_strength * N), 1, N - 1)``; level ``l`` has up to
  ``2**(l-1)`` frames (one per gap of the level before; the last level takes what is left).
  Level 2 has a third of level 1's own steps (rounded, at least 1), each deeper level half
  the own steps of the level before, rounded up: ``15, 5, 3, 2, 1`` at ``N - k_1 = 15``;
  levels that land on the same injection step are merged.
- ``preset_tree(preset, steps, depth_strength)``: ``auto_tree`` with the preset's number of
  frames (``studio.spec.BLEND_PRESETS``).
- ``manual_tree(steps, branches, injection_steps=... | injection_strengths=...)``.
- ``tree_for(blend_settings, steps)``: the spec's setup, cut to its denoise-step budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.errors import SpecError
from studio.spec import BLEND_PRESETS, BlendSettings

__all__ = [
    "BlendTree",
    "TreeLevel",
    "auto_tree",
    "level_runs",
    "manual_tree",
    "preset_tree",
    "share_gaps",
    "tree_for",
    "wave_size",
]


@dataclass(frozen=True)
class TreeLevel:
    """``branches`` in-between frames that each leave the tree at ``injection_step``."""

    branches: int
    injection_step: int


@dataclass(frozen=True)
class BlendTree:
    """The levels of one transition at ``steps`` denoise steps (see the module docstring)."""

    steps: int
    levels: tuple[TreeLevel, ...]

    @property
    def in_betweens(self) -> int:
        """In-between frames per transition (keyframes not counted)."""
        return sum(level.branches for level in self.levels)

    @property
    def diffusion_frames(self) -> int:
        """Diffusion frames of one transition, both keyframes included."""
        return self.in_betweens + 2

    @property
    def transition_steps(self) -> int:
        """Denoise steps of one transition's in-between frames."""
        return sum(level.branches * (self.steps - level.injection_step) for level in self.levels)

    def insertions(self) -> list[int]:
        """The injection step of each in-between frame, in the order they are made."""
        return [level.injection_step for level in self.levels for _ in range(level.branches)]

    def movie_frames(self, prompts: int) -> int:
        """Diffusion frames of a movie through ``prompts`` prompts (joins counted once)."""
        return (prompts - 1) * (self.diffusion_frames - 1) + 1

    def movie_denoise_steps(self, prompts: int, keyframes: int | None = None) -> int:
        """Each keyframe once (``steps`` each) plus every transition's in-between frames;
        ``keyframes``: how many keyframe trajectories are computed when fewer than
        ``prompts`` (a keyframe that comes again is computed once)."""
        computed = prompts if keyframes is None else keyframes
        return computed * self.steps + (prompts - 1) * self.transition_steps

    def scratch_denoise_steps(self, prompts: int) -> int:
        """The same frames rendered each from its own noise: ``steps`` per frame."""
        return self.movie_frames(prompts) * self.steps

    def rescaled(self, steps: int) -> BlendTree:
        """The same levels on a ``steps``-step schedule (an upscaler's): each injection step
        moved to ``clamp(round(k * steps / self.steps), 1, steps - 1)``. Two levels may land
        on the same step there; a branch then starts where its parent did."""
        if steps < 2:
            raise SpecError(f"a rescaled tree needs at least 2 steps, got {steps}")
        return BlendTree(
            steps,
            tuple(
                TreeLevel(
                    level.branches,
                    min(steps - 1, max(1, round(level.injection_step * steps / self.steps))),
                )
                for level in self.levels
            ),
        )

    def cut(self, budget_steps: int) -> BlendTree:
        """The frames made first (level by level) whose in-between steps fit ``budget_steps``.

        Raises ``SpecError`` when the budget cannot pay for a single in-between frame.
        """
        levels: list[TreeLevel] = []
        left = budget_steps
        for level in self.levels:
            own = self.steps - level.injection_step
            take = min(level.branches, left // own)
            if take:
                levels.append(TreeLevel(take, level.injection_step))
                left -= take * own
            if take < level.branches:
                break
        if not levels:
            first = self.steps - self.levels[0].injection_step
            raise SpecError(
                f"a budget of {budget_steps} denoise steps cannot pay for one in-between frame "
                f"(the first costs {first}); raise the budget or set it to 0 for the whole tree"
            )
        return BlendTree(self.steps, tuple(levels))

    def to_dict(self, prompts: int = 2, keyframes: int | None = None) -> dict[str, Any]:
        """JSON-safe facts for events, the store and a picture of the tree (``keyframes``:
        as in ``movie_denoise_steps``)."""
        return {
            "steps": self.steps,
            "levels": [
                {
                    "level": i + 1,
                    "branches": level.branches,
                    "injection_step": level.injection_step,
                    "own_steps": self.steps - level.injection_step,
                }
                for i, level in enumerate(self.levels)
            ],
            "diffusion_frames_per_transition": self.diffusion_frames,
            "transition_denoise_steps": self.transition_steps,
            "prompts": prompts,
            "diffusion_frames": self.movie_frames(prompts),
            "denoise_steps": self.movie_denoise_steps(prompts, keyframes),
            "scratch_denoise_steps": self.scratch_denoise_steps(prompts),
        }


def _check_steps(steps: int) -> None:
    if steps < 2:
        raise SpecError(
            f"blending needs at least 2 denoise steps (a branch leaves its parents after step "
            f"1 or later and runs at least one step of its own), got {steps}"
        )


def auto_tree(steps: int, diffusion_frames: int, depth_strength: float) -> BlendTree:
    """Bisection levels for ``diffusion_frames`` frames per transition (keyframes included)."""
    _check_steps(steps)
    if diffusion_frames < 3:
        raise SpecError(
            f"a transition needs at least 3 diffusion frames (two keyframes and one "
            f"in-between), got {diffusion_frames}"
        )
    if not 0 < depth_strength < 1:
        raise SpecError(f"depth strength must be between 0 and 1 (exclusive), got {depth_strength}")
    first = min(steps - 1, max(1, round(depth_strength * steps)))
    first_own = steps - first
    merged: dict[int, int] = {}
    left, width, own = diffusion_frames - 2, 1, first_own
    while left:
        take = min(width, left)
        merged[steps - own] = merged.get(steps - own, 0) + take
        left -= take
        # Level 2 (the quarter points) follows its parents closely with a third of the first
        # level's own steps; deeper levels halve, rounded up, so the finest full level keeps
        # two (a one-step branch between two different shapes is close to a latent
        # crossfade). Measured on builtin:shapes (docs/benchmarks.md, "Blend cost and
        # evenness"): 25 frames at 30 steps cost 121 of 750 steps and move more evenly than
        # halving did at 131 on every pair.
        own = max(1, round(first_own / 3)) if width == 1 else -(-own // 2)
        width *= 2
    return BlendTree(steps, tuple(TreeLevel(b, k) for k, b in sorted(merged.items())))


def preset_tree(preset: str, steps: int, depth_strength: float) -> BlendTree:
    """``auto_tree`` with the preset's frame count (lowest 5 ... ultra 41)."""
    if preset not in BLEND_PRESETS:
        raise SpecError(f"unknown preset {preset!r}; choose one of {', '.join(BLEND_PRESETS)}")
    return auto_tree(steps, BLEND_PRESETS[preset], depth_strength)


def manual_tree(
    steps: int,
    branches: tuple[int, ...] | list[int],
    *,
    injection_steps: tuple[int, ...] | list[int] = (),
    injection_strengths: tuple[float, ...] | list[float] = (),
) -> BlendTree:
    """Level ``i`` adds ``branches[i]`` frames at ``injection_steps[i]`` (or at
    ``round(injection_strengths[i] * steps)``). Give exactly one of the two lists, as long as
    ``branches``; steps must increase strictly within ``1 .. steps - 1``."""
    _check_steps(steps)
    if not branches:
        raise SpecError("a manual setup needs branches per level, e.g. 2,3")
    for i, b in enumerate(branches):
        if b < 1:
            raise SpecError(f"level {i + 1} must have at least 1 branch, got {b}")
    if bool(injection_steps) == bool(injection_strengths):
        raise SpecError(
            "a manual setup needs injection strengths or injection steps per level (one of them)"
        )
    if injection_strengths:
        if len(injection_strengths) != len(branches):
            raise SpecError(
                f"{len(branches)} levels of branches need {len(branches)} injection strengths, "
                f"got {len(injection_strengths)}"
            )
        ks = []
        for i, strength in enumerate(injection_strengths):
            if not 0 < strength < 1:
                raise SpecError(
                    f"injection strength of level {i + 1} must be between 0 and 1 (exclusive), "
                    f"got {strength}"
                )
            k = round(strength * steps)
            if not 1 <= k <= steps - 1:
                raise SpecError(
                    f"injection strength {strength} of level {i + 1} at {steps} steps is step "
                    f"{k}, outside 1..{steps - 1}; use more steps or another strength"
                )
            ks.append(k)
        what = "injection strengths"
    else:
        if len(injection_steps) != len(branches):
            raise SpecError(
                f"{len(branches)} levels of branches need {len(branches)} injection steps, "
                f"got {len(injection_steps)}"
            )
        ks = list(injection_steps)
        for i, k in enumerate(ks):
            if not 1 <= k <= steps - 1:
                raise SpecError(
                    f"injection step of level {i + 1} must be between 1 and {steps - 1} "
                    f"(steps - 1), got {k}"
                )
        what = "injection steps"
    if len(branches) > steps - 1:
        raise SpecError(
            f"{len(branches)} levels need {len(branches)} increasing injection steps, but "
            f"{steps} steps allow only {steps - 1}"
        )
    for i in range(1, len(ks)):
        if ks[i] <= ks[i - 1]:
            raise SpecError(
                f"{what} must increase from level to level (deeper levels branch later), but "
                f"level {i} is at step {ks[i - 1]} and level {i + 1} at step {ks[i]}"
            )
    return BlendTree(steps, tuple(TreeLevel(b, k) for b, k in zip(branches, ks, strict=True)))


def tree_for(blend: BlendSettings, steps: int) -> BlendTree:
    """The tree ``blend`` describes at ``steps`` steps, cut to ``blend.budget_steps`` if set."""
    if blend.setup == "preset":
        tree = preset_tree(blend.preset, steps, blend.depth_strength)
    elif blend.setup == "auto":
        tree = auto_tree(steps, blend.diffusion_frames, blend.depth_strength)
    elif blend.setup == "manual":
        tree = manual_tree(
            steps,
            blend.branches,
            injection_steps=blend.injection_steps,
            injection_strengths=blend.injection_strengths,
        )
    else:
        raise SpecError(f"unknown blend setup {blend.setup!r}; use preset, auto or manual")
    return tree.cut(blend.budget_steps) if blend.budget_steps else tree


def level_runs(insertions: list[int]) -> list[tuple[int, int]]:
    """``(injection_step, frames)`` per run of equal steps in ``insertions`` (in order)."""
    runs: list[tuple[int, int]] = []
    for k in insertions:
        if runs and runs[-1][0] == k:
            runs[-1] = (k, runs[-1][1] + 1)
        else:
            runs.append((k, 1))
    return runs


def share_gaps(values: list[float], widths: list[float], count: int) -> list[int]:
    """How many of one level's ``count`` new frames go into each gap, decided before the
    level (so they can share UNet calls): one at a time to the gap whose ``values`` (its
    distance, or its width in prompt position) split evenly among its frames plus one is
    largest; ties to the gap wider in prompt position, then to the left. A very wide gap
    (most of the change in one place) can so take several evenly spaced frames at once.
    """
    shares = [0] * len(values)
    for _ in range(count):
        best = max(
            range(len(values)),
            key=lambda i: (values[i] / (shares[i] + 1), widths[i] / (shares[i] + 1), -i),
        )
        shares[best] += 1
    return shares


def wave_size(left: int, gaps: int) -> int:
    """How many of a level's ``left`` frames still to make go into its next wave (one UNet
    batch, shared out among the ``gaps`` gaps by ``share_gaps`` before it starts): half of
    them, rounded up, no more than the gaps. Each later, smaller wave sees the distances the
    one before left. (On builtin:shapes' four benchmark pairs, ``high`` so batched moves as
    evenly as one frame at a time with distances measured after each: CV within 0.0002.)"""
    return min((left + 1) // 2, gaps)
