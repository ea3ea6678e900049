"""Scale-out shard plans (studio.pipeline.shards, studio.animation.shards, studio.blend.shards)
and the workers / cluster settings: pure, no Ray, no model."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.animation.plan import plan_animation
from studio.animation.shards import plan_animation_shards
from studio.app.history import scale_out_lines
from studio.blend.plan import plan_blend
from studio.blend.shards import plan_blend_shards
from studio.errors import SpecError
from studio.pipeline.shards import Shard, batch_ranges, expected_speedup
from studio.spec import AnimationSpec, BlendSpec, load_spec
from studio.spec.scale import scaled_out, without_scale


def animation(schedule="0: a red circle\n24: a blue square", *, batch=2, **motion):
    return AnimationSpec.model_validate(
        {
            "prompts": {"schedule": schedule},
            "diffusion": {"model": "builtin:tiny", "steps": 4, "workers": 2},
            "animation": {"batch_size": batch},
            "motion": motion,
        }
    )


@given(
    frames=st.integers(1, 300),
    batch=st.integers(1, 40),
    workers=st.integers(1, 16),
)
def test_shards_cover_every_frame_once_in_order_and_start_on_a_batch(frames, batch, workers):
    batches = tuple(range(i, min(i + batch, frames)) for i in range(0, frames, batch))
    shards = batch_ranges(batches, workers)
    assert [f for r in shards for f in r] == list(range(frames))
    starts = {b.start for b in batches}
    stops = {b.stop for b in batches}
    assert all(r.start in starts and r.stop in stops for r in shards)
    # a shard holds at most 32 frames, unless one batch alone is larger
    assert all(len(r) <= max(32, batch) for r in shards)


def test_an_animation_without_feedback_splits_into_batch_aligned_ranges():
    plan = plan_animation(animation(batch=2))
    shards = plan_animation_shards(plan, workers=2)
    assert shards.why_one is None
    assert len(shards.shards) > 2
    assert [s.frames.start for s in shards.shards] == sorted(s.frames.start for s in shards.shards)
    assert sum(s.cost for s in shards.shards) == plan.predicted_denoise_steps
    assert 1.5 < shards.speedup <= 2.0
    assert shards.summary()["busy_workers"] == 2


@pytest.mark.parametrize(
    ("motion", "reason"),
    [
        ({"zoom": "0: (1.02)"}, "motion curves"),
        ({"coherence_scale": 50.0}, "coherence"),
        ({"color_match": "first"}, "first frame"),
    ],
)
def test_an_animation_with_feedback_is_one_shard_and_says_why(motion, reason):
    shards = plan_animation_shards(plan_animation(animation(**motion)), workers=4)
    assert len(shards.shards) == 1
    assert reason in shards.why_one
    assert shards.speedup == 1.0
    assert any(reason in line for line in shards.lines())


def test_a_blend_makes_its_keyframes_then_its_transitions():
    spec = BlendSpec.model_validate(
        {
            "prompts": {
                "keyframes": [
                    {"prompt": "a red circle"},
                    {"prompt": "a blue square"},
                    {"prompt": "a green triangle"},
                ]
            },
            "diffusion": {"model": "builtin:tiny", "steps": 10},
        }
    )
    plan = plan_blend(spec)
    shards = plan_blend_shards(plan, workers=2)
    assert shards.why_one is None
    assert [s.stage for s in shards.shards] == [0, 0, 0, 1, 1]
    assert sum(s.cost for s in shards.shards) == plan.predicted_denoise_steps
    video = [f for s in shards.shards if s.stage == 1 for f in s.frames]
    assert video == list(range(plan.video_frames))  # each video frame once, in order
    two = BlendSpec.model_validate({"diffusion": {"model": "builtin:tiny", "steps": 10}})
    assert "one transition" in plan_blend_shards(plan_blend(two), 2).why_one


def test_expected_speedup_places_the_largest_shards_first():
    even = [Shard(i, 0, range(i, i + 1), 10, "") for i in range(4)]
    assert expected_speedup(even, 1) == 1.0
    assert expected_speedup(even, 2) == 2.0
    assert expected_speedup(even, 8) == 4.0  # no more than the shards
    staged = [Shard(0, 0, range(0), 10, ""), Shard(1, 1, range(1), 10, "")]
    assert expected_speedup(staged, 2) == 1.0  # a stage waits for the one before


def test_workers_and_address_are_checked_with_the_bad_value_named():
    with pytest.raises(SpecError, match="workers.*got 0"):
        animation().replace(diffusion=animation().diffusion.replace(workers=0)).check()
    bad = animation().diffusion.replace(ray_address="not an address")
    with pytest.raises(SpecError, match="'not an address'"):
        animation().replace(diffusion=bad).check()
    for good in ("10.0.0.5:6379", "ray://head:10001", "auto"):
        animation().replace(diffusion=animation().diffusion.replace(ray_address=good)).check()


def test_workers_do_not_change_what_a_checkpoint_is_of_and_round_trip():
    spec = animation()
    assert scaled_out(spec.diffusion)
    assert not scaled_out(without_scale(spec).diffusion)
    assert without_scale(spec) == without_scale(
        spec.replace(diffusion=spec.diffusion.replace(workers=7))
    )
    assert load_spec(json.loads(spec.to_json())) == spec


def test_runs_show_lines_name_every_shard_and_its_worker():
    run = {
        "extra": {
            "scale_out": {
                "shards": 2,
                "workers": 2,
                "ran": "ray",
                "expected_speedup": 2.0,
                "why_one": None,
                "shard_timings": [
                    {
                        "shard": 0,
                        "frames": [0, 3],
                        "seconds": 1.5,
                        "denoise_steps": 8,
                        "worker": 11,
                    },
                    {
                        "shard": 1,
                        "frames": [4, 7],
                        "seconds": 1.25,
                        "denoise_steps": 8,
                        "worker": 12,
                    },
                ],
            }
        }
    }
    lines = scale_out_lines(run)
    assert "2 worker process(es)" in lines[0]
    assert lines[1:] == [
        "  shard 0: frames 0-3, 1.50 s, 8 denoise steps, worker 11",
        "  shard 1: frames 4-7, 1.25 s, 8 denoise steps, worker 12",
    ]
    assert scale_out_lines({"extra": {}}) == []


def test_a_model_that_reads_its_pictures_in_order_keeps_the_frames_together():
    plan = plan_animation(animation())
    why = "InstructPix2Pix models read their pictures in frame order"
    shards = plan_animation_shards(plan, workers=2, model_reason=why)
    assert len(shards.shards) == 1 and shards.why_one == why
    assert shards.shards[0].frames == range(plan.frames)
