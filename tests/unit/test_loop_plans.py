"""Seamless loops, planned: the closing segment's frames and weights, the blend's closing
transition, and the combinations a loop refuses (issue 29, item 1)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.animation.plan import plan_animation
from studio.blend.plan import plan_blend
from studio.errors import SpecError
from studio.languages.curves import parse_curve
from studio.languages.easing import closing_segment, frame_weights
from studio.languages.schedule import Keyframe, PromptSchedule
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    InputSettings,
    MotionSettings,
    PromptSettings,
)


def schedule_at(*frames: int) -> PromptSchedule:
    return PromptSchedule(tuple(Keyframe(f, f"prompt {f}") for f in frames))


@pytest.mark.parametrize(
    ("frames", "closing"),
    [((0, 4, 8), 4), ((0, 10), 10), ((0, 3, 4), 2), ((0, 5, 6), 3), ((5, 6), 1), ((2, 9, 30), 14)],
)
def test_the_closing_segment_is_the_average_keyframe_segment(frames, closing):
    schedule = schedule_at(*frames)
    assert closing_segment(schedule) == closing
    weights = frame_weights(schedule, loop=True)
    assert weights.frame_count == frames[-1] + closing
    # The closing frames go from the last keyframe toward the first, never reaching it.
    tail = slice(frames[-1], None)
    assert (weights.segment[tail] == len(frames) - 1).all()
    assert weights.weight[tail].tolist() == pytest.approx([i / closing for i in range(closing)])


def test_a_single_keyframe_cannot_loop():
    with pytest.raises(ValueError, match="two or more keyframes"):
        closing_segment(schedule_at(3))


@pytest.mark.parametrize(
    ("easing", "options"),
    [
        ("sine", {"sine_frequencies": (1.0, 3.0)}),
        ("curve", {"curve": parse_curve("0: (s**2)", names=("t", "s"))}),
    ],
)
def test_the_closing_segment_eases_as_the_others_do(easing, options):
    weights = frame_weights(schedule_at(0, 6, 12), easing, loop=True, **options)
    assert weights.frame_count == 18
    first, closing = weights.weight[0:6], weights.weight[12:18]
    np.testing.assert_allclose(closing, first)
    assert not np.allclose(first, np.arange(6) / 6)  # eased, not linear


def test_the_loop_leaves_the_walk_before_the_last_keyframe_as_it_was():
    plain = frame_weights(schedule_at(0, 5, 7), "sine")
    looped = frame_weights(schedule_at(0, 5, 7), "sine", loop=True)
    np.testing.assert_array_equal(looped.segment[:8], plain.segment)
    np.testing.assert_array_equal(looped.weight[:8], plain.weight)


def animation(schedule: str = "0: a red circle\n4: a blue square\n8: a star", **groups):
    spec = AnimationSpec(
        prompts=PromptSettings(schedule=schedule),
        animation=AnimationSettings(loop=True, batch_size=5),
    )
    return spec.replace(**groups) if groups else spec


def test_an_animation_plan_wraps_to_the_first_keyframe():
    plan = plan_animation(animation())
    assert (plan.frames, plan.closing_frames) == (12, 4)
    assert plan.next_keyframe(plan.weights.segment).tolist() == [1] * 4 + [2] * 4 + [0] * 4
    assert [len(b) for b in plan.batches] == [5, 5, 2]
    assert plan.predicted_denoise_steps == 12 * plan.spec.diffusion.steps
    assert plan.summary()["loop"] == {"closing_frames": 4}
    plain = plan_animation(animation().replace(animation=AnimationSettings(loop=False)))
    assert plain.frames == 9 and plain.summary()["loop"] is None
    assert plain.next_keyframe(plain.weights.segment)[-1] == 2  # held, weight 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (animation("0: a red circle"), "loop needs two or more keyframes"),
        (
            animation(input=InputSettings(video="/tmp/clip.mp4")),
            "loop cannot be used with a video input ('/tmp/clip.mp4')",
        ),
        (
            animation(motion=MotionSettings(zoom="0: (1.02)", angle="0: (1)")),
            "loop cannot close with motion (zoom, angle)",
        ),
    ],
)
def test_what_cannot_loop_is_refused_by_check(spec, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spec.check()


def test_an_image_input_and_coherence_may_loop():
    spec = animation(
        input=InputSettings(image="/tmp/start.png"),
        motion=MotionSettings(coherence_scale=0.3),
    )
    spec.check()  # every frame starts from the same image; coherence pulls toward neighbours


def blend(loop: bool, **output) -> BlendSpec:
    return BlendSpec(
        prompts=BlendPromptSettings(
            keyframes=(BlendKeyframe("a red circle"), BlendKeyframe("a star", seed=40))
            + (BlendKeyframe("a blue square"),)
        ),
        blend=BlendSettings(setup="auto", diffusion_frames=5),
        output=BlendOutputSettings(loop=loop, **output),
    )


def test_a_looped_blend_adds_a_transition_back_to_the_first_prompt():
    plain, looped = plan_blend(blend(False)), plan_blend(blend(True))
    assert (plain.transitions, looped.transitions) == (2, 3)
    # 3 transitions of 5 frames share their joins: 13 diffusion frames, the last (the
    # first keyframe again) not shown.
    assert (plain.video_frames, looped.video_frames) == (9, 12)
    assert looped.joins == (0, 4, 8, 12)
    assert looped.prompts[-1] == looped.prompts[0] == "a red circle"
    assert looped.keyframe_seeds == (plain.keyframe_seeds + plain.keyframe_seeds[:1])
    assert looped.summary()["prompts"] == 3 and looped.summary()["loop"] is True
    assert [looped.shows_last_keyframe(t) for t in range(3)] == [False] * 3
    assert plain.shows_last_keyframe(1)


def test_a_looped_blend_of_given_length_spreads_its_transitions_over_it():
    plan = plan_blend(blend(True, duration=2.0, fps=12))
    assert plan.video_frames == 24
    assert plan.joins == (0, 8, 16, 24)  # 24: frame 0 again, one past the end
    with pytest.raises(SpecError, match="fill 'none' shows only diffusion frames"):
        plan_blend(blend(True, duration=2.0, fps=12, fill="none"))
    assert plan_blend(blend(True, duration=1.0, fps=12, fill="none")).video_frames == 12
