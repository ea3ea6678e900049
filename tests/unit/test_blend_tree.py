"""Blend trees and plans: pure, no model. Setups, costs, impossible setups, video timelines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.blend.plan import plan_blend, segment_sources
from studio.blend.tree import (
    BlendTree,
    TreeLevel,
    auto_tree,
    level_runs,
    manual_tree,
    preset_tree,
    share_gaps,
    tree_for,
    wave_size,
)
from studio.errors import SpecError
from studio.spec import (
    BLEND_PRESETS,
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    DiffusionSettings,
)


def valid(tree: BlendTree) -> None:
    steps = [level.injection_step for level in tree.levels]
    assert steps == sorted(set(steps)), "injection steps must increase strictly"
    assert all(1 <= k <= tree.steps - 1 for k in steps)
    assert all(level.branches >= 1 for level in tree.levels)
    cost = sum(level.branches * (tree.steps - level.injection_step) for level in tree.levels)
    assert tree.transition_steps == cost
    assert len(tree.insertions()) == tree.in_betweens


def test_25_frames_at_30_steps_cost_under_a_sixth_of_rendering_each_frame():
    tree = auto_tree(30, 25, 0.5)
    valid(tree)
    assert tree.diffusion_frames == 25
    # Own steps 15, then a third (5), then halved and rounded up: 3, 2, 1.
    assert tree.levels == (
        TreeLevel(1, 15),
        TreeLevel(2, 25),
        TreeLevel(4, 27),
        TreeLevel(8, 28),
        TreeLevel(8, 29),
    )
    assert tree.movie_denoise_steps(2) == 60 + 15 + 2 * 5 + 4 * 3 + 8 * 2 + 8 * 1 == 121
    assert tree.scratch_denoise_steps(2) == 750
    assert tree.movie_denoise_steps(2) * 6 <= tree.scratch_denoise_steps(2)


# Per preset at 30 steps, depth 0.5: (levels as (branches, injection step), movie steps).
PRESET_COSTS = {
    "lowest": (((1, 15), (2, 25)), 60 + 15 + 10),
    "low": (((1, 15), (2, 25), (4, 27)), 60 + 15 + 10 + 12),
    "medium": (((1, 15), (2, 25), (4, 27), (8, 28)), 60 + 15 + 10 + 12 + 16),
    "high": (((1, 15), (2, 25), (4, 27), (8, 28), (8, 29)), 60 + 15 + 10 + 12 + 16 + 8),
    "ultra": (((1, 15), (2, 25), (4, 27), (8, 28), (24, 29)), 60 + 15 + 10 + 12 + 16 + 24),
}


@pytest.mark.parametrize("preset", list(BLEND_PRESETS))
def test_each_preset_costs_what_its_plan_predicts(preset):
    levels, steps = PRESET_COSTS[preset]
    spec = BlendSpec(
        prompts=BlendPromptSettings(
            keyframes=(BlendKeyframe("a red circle"), BlendKeyframe("a blue square"))
        ),
        diffusion=DiffusionSettings(model="builtin:tiny", steps=30),
        blend=BlendSettings(preset=preset),
        output=BlendOutputSettings(fill="none"),
    )
    plan = plan_blend(spec)
    assert tuple((lv.branches, lv.injection_step) for lv in plan.tree.levels) == levels
    assert plan.predicted_denoise_steps == steps
    assert plan.scratch_denoise_steps == BLEND_PRESETS[preset] * 30
    ratio = steps / plan.scratch_denoise_steps
    assert ratio <= 1 / 6 if preset in ("high", "ultra") else ratio < 1


def test_a_wave_shares_its_frames_out_by_distance():
    tree = auto_tree(30, 25, 0.5)
    assert level_runs(tree.insertions()) == [(15, 1), (25, 2), (27, 4), (28, 8), (29, 8)]
    widths = [0.25] * 4
    # Even distances: one frame per gap, left to right on ties.
    assert share_gaps([0.1] * 4, widths, 2) == [1, 1, 0, 0]
    assert share_gaps([0.1] * 4, widths, 4) == [1, 1, 1, 1]
    # Most of the change in one gap: it takes several frames (each split evenly: 0.6 / 3
    # is still above 0.1), the others one each once it is down to their size.
    assert share_gaps([0.1, 0.6, 0.1, 0.05], widths, 3) == [0, 3, 0, 0]
    assert share_gaps([0.1, 0.6, 0.1, 0.05], widths, 7) == [1, 5, 1, 0]
    # Equal distances (identical frames): the gap wider in prompt position first.
    assert share_gaps([0.0, 0.0], [0.25, 0.75], 2) == [0, 2]
    assert sum(share_gaps([0.3, 0.2, 0.5], [0.2, 0.3, 0.5], 11)) == 11


@pytest.mark.parametrize(
    "steps, frames, levels",
    [
        # (branches, own steps) per level: a third of 25 is 8 (rounded), then 4, 2, 1.
        (50, 25, [(1, 25), (2, 8), (4, 4), (8, 2), (8, 1)]),
        (20, 9, [(1, 10), (2, 3), (4, 2)]),  # 10, a third: 3, halved rounded up: 2
        (4, 9, [(1, 2), (6, 1)]),  # never under one own step: levels 2 and 3 merge
    ],
)
def test_second_level_takes_a_third_of_the_first_deeper_levels_halve_up(steps, frames, levels):
    tree = auto_tree(steps, frames, 0.5)
    valid(tree)
    assert [(lv.branches, steps - lv.injection_step) for lv in tree.levels] == levels


def test_a_level_goes_in_halving_waves_no_larger_than_its_gaps():
    # 8 frames of a level with 16 gaps: waves of 4, 2, 1, 1 (each one UNet batch).
    left, gaps, waves = 8, 16, []
    while left:
        waves.append(wave_size(left, gaps))
        left, gaps = left - waves[-1], gaps + waves[-1]
    assert waves == [4, 2, 1, 1]
    # Never more frames than gaps: a level's first frame goes in alone between two frames.
    assert wave_size(16, 1) == 1
    assert wave_size(5, 8) == 3


def test_depth_strength_moves_the_first_branch():
    early = auto_tree(20, 9, 0.2)
    late = auto_tree(20, 9, 0.8)
    assert early.levels[0].injection_step == 4 and late.levels[0].injection_step == 16
    assert early.transition_steps > late.transition_steps


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 80), st.integers(3, 100), st.floats(0.01, 0.99))
def test_auto_tree_is_always_valid(steps, frames, depth):
    tree = auto_tree(steps, frames, depth)
    valid(tree)
    assert tree.diffusion_frames == frames
    assert tree.movie_frames(4) == 3 * (frames - 1) + 1
    assert tree.movie_denoise_steps(4) == 4 * steps + 3 * tree.transition_steps
    d = tree.to_dict(4)
    assert d["denoise_steps"] == tree.movie_denoise_steps(4)
    assert [lv["branches"] for lv in d["levels"]] == [lv.branches for lv in tree.levels]


def test_manual_tree_from_strengths_and_from_steps():
    by_strength = manual_tree(20, (2, 3), injection_strengths=(0.4, 0.7))
    by_step = manual_tree(20, [2, 3], injection_steps=[8, 14])
    assert by_strength == by_step == BlendTree(20, (TreeLevel(2, 8), TreeLevel(3, 14)))
    assert by_step.transition_steps == 2 * 12 + 3 * 6


@pytest.mark.parametrize(
    "steps, branches, kwargs, message",
    [
        (20, (2, 3), {"injection_steps": (14, 8)}, "must increase from level to level"),
        (20, (2, 3), {"injection_steps": (8, 8)}, "level 1 is at step 8 and level 2 at step 8"),
        (20, (2,), {"injection_steps": (20,)}, "between 1 and 19"),
        (20, (2,), {"injection_strengths": (1.2,)}, "between 0 and 1"),
        (20, (2,), {"injection_strengths": (0.01,)}, "is step 0, outside 1..19"),
        (20, (2, 3), {"injection_steps": (8,)}, "2 levels of branches need 2 injection steps"),
        (20, (2,), {}, "injection strengths or injection steps"),
        (20, (2,), {"injection_steps": (8,), "injection_strengths": (0.4,)}, "one of them"),
        (20, (0,), {"injection_steps": (8,)}, "at least 1 branch"),
        (20, (), {"injection_steps": ()}, "needs branches per level"),
        (3, (1, 1, 1), {"injection_steps": (1, 2, 2)}, "3 steps allow only 2"),
        (1, (1,), {"injection_steps": (1,)}, "at least 2 denoise steps"),
    ],
)
def test_impossible_manual_setups_name_the_problem(steps, branches, kwargs, message):
    with pytest.raises(SpecError, match=message):
        manual_tree(steps, branches, **kwargs)


def test_auto_setup_errors():
    with pytest.raises(SpecError, match="at least 3 diffusion frames"):
        auto_tree(20, 2, 0.5)
    with pytest.raises(SpecError, match="at least 2 denoise steps"):
        auto_tree(1, 5, 0.5)
    with pytest.raises(SpecError, match="unknown preset"):
        preset_tree("extreme", 20, 0.5)


def test_a_step_budget_cuts_the_tree_level_by_level():
    tree = auto_tree(30, 25, 0.5)  # levels cost 15, 2x5, 4x3, 8x2, 8x1
    cut = tree.cut(15 + 10 + 3 * 3 + 2)
    assert cut.levels == (TreeLevel(1, 15), TreeLevel(2, 25), TreeLevel(3, 27))
    assert cut.transition_steps == 15 + 10 + 9
    with pytest.raises(SpecError, match="cannot pay for one in-between frame"):
        tree.cut(14)
    settings_ = BlendSettings(setup="auto", diffusion_frames=25, budget_steps=36)
    assert tree_for(settings_, 30) == cut


def blend_spec(prompts=2, steps=10, **groups) -> BlendSpec:
    keys = tuple(BlendKeyframe(f"prompt {i}") for i in range(prompts))
    return BlendSpec(
        prompts=BlendPromptSettings(keyframes=keys),
        diffusion=DiffusionSettings(model="builtin:tiny", steps=steps, width=64, height=64),
        blend=groups.get("blend", BlendSettings(setup="auto", diffusion_frames=5)),
        output=groups.get("output", BlendOutputSettings()),
    )


def test_plan_of_a_three_prompt_movie_shares_keyframes_and_joins():
    plan = plan_blend(blend_spec(prompts=3))
    assert plan.diffusion_frames == 9  # 5 + 5, the middle keyframe once
    assert plan.video_frames == 9 and plan.joins == (0, 4, 8)
    assert plan.keyframe_seeds == (0, 1, 2)
    assert plan.predicted_denoise_steps == 3 * 10 + 2 * plan.tree.transition_steps
    assert plan.scratch_denoise_steps == 9 * 10
    summary = plan.summary()
    assert summary["tree"]["levels"][0]["injection_step"] == 5
    assert summary["frames"] == 9 and summary["diffusion_frames"] == 9


@pytest.mark.parametrize(
    "output, blend, message",
    [
        (
            BlendOutputSettings(fps=12, duration=3.0, fill="none"),
            None,
            r"make 9 frames, but duration 3 s x 12 fps is 36; set the duration to 0\.75 s",
        ),
        (
            BlendOutputSettings(fps=12, duration=0.5, fill="crossfade"),
            None,
            "makes 5 diffusion frames per transition, but the video has only 3 frames",
        ),
        (
            BlendOutputSettings(fps=10, duration=0.2),
            None,
            "2 video frames, fewer than the 3 prompts",
        ),
        (
            BlendOutputSettings(fill="none"),
            BlendSettings(setup="auto", diffusion_frames=5, budget_seconds=3.0),
            "a budget in seconds leaves the number of diffusion frames open",
        ),
        (
            BlendOutputSettings(duration=4.0, fill="none"),
            BlendSettings(setup="auto", diffusion_frames=5, budget_seconds=3.0),
            "fill 'none' needs a known number of diffusion frames",
        ),
        (
            BlendOutputSettings(),
            BlendSettings(budget_steps=10, budget_seconds=3.0),
            "not both",
        ),
        (BlendOutputSettings(), BlendSettings(depth_strength=1.0), "depth strength"),
        (BlendOutputSettings(), BlendSettings(crossfeed_power=2.0), "crossfeed power"),
        (BlendOutputSettings(), BlendSettings(guidance_dampening=1.0), "guidance dampening"),
        (BlendOutputSettings(fps=0), None, "fps must be between 1 and 120"),
    ],
)
def test_impossible_movies_name_the_problem(output, blend, message):
    kwargs = {"output": output}
    if blend is not None:
        kwargs["blend"] = blend
    spec = blend_spec(prompts=3, **kwargs)
    with pytest.raises(SpecError, match=message):  # a value out of range, or the planner's
        spec.check()
        plan_blend(spec)


def test_spec_level_errors():
    with pytest.raises(SpecError, match="a blend takes 2 to 1,000 prompts, got 1"):
        BlendSpec(prompts=BlendPromptSettings(keyframes=(BlendKeyframe("a"),))).check()
    with pytest.raises(SpecError, match="prompt 2 is empty"):
        BlendSpec(
            prompts=BlendPromptSettings(keyframes=(BlendKeyframe("a"), BlendKeyframe(" ")))
        ).check()
    pndm = blend_spec().replace(diffusion=DiffusionSettings(scheduler="pndm"))
    with pytest.raises(SpecError, match="'pndm' cannot start part-way"):
        pndm.check()
    one_step = blend_spec(steps=1)
    with pytest.raises(SpecError, match="at least 2 denoise steps"):
        one_step.check()
        plan_blend(one_step)


def test_default_blend_spec_is_valid():
    BlendSpec().check()
    assert plan_blend(BlendSpec()).video_frames > 0


def test_seconds_budget_with_a_duration_caps_frames_by_the_video():
    spec = blend_spec(
        blend=BlendSettings(setup="auto", diffusion_frames=41, budget_seconds=5.0),
        output=BlendOutputSettings(fps=10, duration=1.0),
    )
    plan = plan_blend(spec)
    assert plan.diffusion_frames is None and plan.predicted_denoise_steps is None
    assert plan.in_betweens(0) == 8  # 10 video frames: 9 spans, 8 frames between keyframes


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60), st.integers(2, 30))
def test_segment_sources_cover_the_span_once_in_order(span, frames):
    if frames - 1 > span:
        frames = span + 1
    inner = segment_sources(span, frames, last=False)
    last = segment_sources(span, frames, last=True)
    assert len(inner) == span and len(last) == span + 1
    assert inner[0][:2] == (0, 0) and last[-1][:2] == (frames - 1, 0)
    positions = [rank + num / den for rank, num, den in last]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    shown = {rank for rank, num, _ in last if num == 0}
    assert shown == set(range(frames)), "every diffusion frame is shown exactly, once"


def test_fill_none_shows_every_diffusion_frame_exactly():
    assert segment_sources(4, 5, last=True) == [
        (0, 0, 1),
        (1, 0, 1),
        (2, 0, 1),
        (3, 0, 1),
        (4, 0, 1),
    ]
    assert segment_sources(4, 3, last=False) == [(0, 0, 2), (0, 1, 2), (1, 0, 2), (1, 1, 2)]
