"""Easing: frame counts, segments, weights for linear, sine and curve easing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.errors import CurveError
from studio.languages.curves import parse_curve
from studio.languages.easing import ease_linear, ease_sine, frame_weights
from studio.languages.schedule import Keyframe, PromptSchedule, parse_schedule


def schedule_at(*frames: int) -> PromptSchedule:
    return PromptSchedule(tuple(Keyframe(f, f"prompt {f}") for f in frames))


def test_linear_weights_and_segments():
    weights = frame_weights(schedule_at(0, 4, 6))
    assert weights.frame_count == 7
    assert weights.segment.dtype == np.int64 and weights.weight.dtype == np.float64
    assert weights.segment.tolist() == [0, 0, 0, 0, 1, 1, 2]
    assert weights.weight.tolist() == [0, 0.25, 0.5, 0.75, 0, 0.5, 0]


def test_frame_count_is_last_keyframe_plus_one_with_no_duplicate_joins():
    schedule = parse_schedule("0: a\n10: b\n20: c")
    weights = frame_weights(schedule)
    assert weights.frame_count == schedule.frame_count == 21
    # Exactly one frame sits on each keyframe: weight 0 and the keyframe's own segment.
    on_keyframes = np.flatnonzero(weights.weight == 0)
    assert on_keyframes.tolist() == [0, 10, 20]
    assert weights.segment[on_keyframes].tolist() == [0, 1, 2]


def test_frames_before_first_keyframe_hold_it():
    weights = frame_weights(schedule_at(3, 5))
    assert weights.segment.tolist() == [0, 0, 0, 0, 0, 1]
    assert weights.weight.tolist() == [0, 0, 0, 0, 0.5, 0]


def test_single_keyframe():
    weights = frame_weights(schedule_at(2), easing="sine")
    assert weights.segment.tolist() == [0, 0, 0]
    assert weights.weight.tolist() == [0, 0, 0]


def test_ease_linear_copies():
    u = np.array([0.0, 0.5])
    out = ease_linear(u)
    assert out.tolist() == [0.0, 0.5] and out is not u


def test_sine_endpoints_and_classic_shape():
    u = np.linspace(0, 1, 101)
    w = ease_sine(u, (1.0,))
    assert w[0] == 0 and w[-1] == pytest.approx(1, abs=1e-15)
    assert w[50] == pytest.approx(0.5)
    # Ease in-out: slow near the ends, fast in the middle.
    assert w[10] < 0.1 and w[90] > 0.9


def test_sine_with_two_pulses_pauses_mid_segment():
    w = ease_sine(np.array([0.25, 0.5, 0.75]), (2.0,))
    assert w.tolist() == pytest.approx([0.25, 0.5, 0.75])
    slope = np.diff(ease_sine(np.array([0.49, 0.5, 0.51]), (2.0,)))
    assert np.all(slope < 1e-3)


def test_tiny_frequency_is_stable():
    # g(1) -> 0 as the frequency does; the series keeps the ratio accurate (it tends to u**3).
    u = np.linspace(0, 1, 11)
    assert np.allclose(ease_sine(u, (1e-9,)), u**3, atol=1e-9)


@pytest.mark.parametrize("frequencies", [(), (0.0,), (-1.0,), (float("nan"),)])
def test_bad_frequencies(frequencies):
    with pytest.raises(ValueError):
        ease_sine(np.array([0.5]), frequencies)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0.01, 100, allow_nan=False), min_size=1, max_size=4),
    st.lists(st.integers(1, 60), min_size=1, max_size=5),
)
def test_sine_weights_monotone_within_segments(frequencies, gaps):
    frames = np.cumsum([0, *gaps]).tolist()
    weights = frame_weights(schedule_at(*frames), easing="sine", sine_frequencies=frequencies)
    _check_monotone_segments(weights, frames)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 60), min_size=1, max_size=5), st.integers(0, 10))
def test_linear_weights_monotone_within_segments(gaps, first):
    frames = np.cumsum([first, *gaps]).tolist()
    weights = frame_weights(schedule_at(*frames))
    _check_monotone_segments(weights, frames)


def _check_monotone_segments(weights, frames) -> None:
    assert weights.frame_count == frames[-1] + 1
    assert np.all((weights.weight >= 0) & (weights.weight <= 1))
    assert np.all(weights.weight[frames] == 0)
    for i, (start, end) in enumerate(zip(frames, frames[1:], strict=False)):
        assert np.all(weights.segment[start:end] == i)
        inside = weights.weight[start:end]
        assert np.all(np.diff(inside) >= 0)
        assert inside[-1] < 1


def test_curve_easing_uses_s_and_clamps():
    curve = parse_curve("0: (s*s)", names=("t", "s"))
    weights = frame_weights(schedule_at(0, 4, 8), easing="curve", curve=curve)
    assert weights.weight.tolist() == pytest.approx(
        [0, 1 / 16, 1 / 4, 9 / 16, 0, 1 / 16, 1 / 4, 9 / 16, 0]
    )
    over = parse_curve("0: (2*s - 0.5)", names=("t", "s"))
    weights = frame_weights(schedule_at(0, 4), easing="curve", curve=over)
    assert weights.weight.tolist() == [0, 0, 0.5, 1, 0]


def test_curve_easing_uses_t():
    curve = parse_curve("0: (min(t, 0.5)), 4: (s)", names=("t", "s"))
    weights = frame_weights(schedule_at(0, 4, 8), easing="curve", curve=curve)
    assert weights.weight.tolist() == pytest.approx([0, 0.5, 0.5, 0.5, 0, 0.25, 0.5, 0.75, 0])


def test_curve_easing_errors():
    with pytest.raises(ValueError):
        frame_weights(schedule_at(0, 4), easing="curve")
    with pytest.raises(ValueError):
        frame_weights(schedule_at(0, 4), easing="bounce")
    with pytest.raises(CurveError):
        frame_weights(
            schedule_at(0, 4), easing="curve", curve=parse_curve("0: (log(s))", names=("s",))
        )


def test_easing_does_not_import_torch():
    code = "import sys, studio.languages.easing; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
