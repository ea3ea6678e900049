"""Frames between rendered frames (issue 29, item 9): motion-compensated flow against the
crossfade it replaces, the retiming writer's frame count and positions, and the spec's
refusals."""

from __future__ import annotations

import numpy as np
import pytest

from studio.errors import SpecError
from studio.media.flow import FlowPair
from studio.media.readers import read_frames
from studio.media.retime import crossfade, open_output, output_frames
from studio.spec import AnimationSpec, BlendSpec
from studio.spec.animation import AnimationSettings, OutputSettings
from studio.spec.blend import BlendOutputSettings

RED = (220, 60, 40)


def square(x: int, y: int = 50, size: int = 24, side: int = 128) -> np.ndarray:
    """A flat red square on black, its top-left corner at (x, y)."""
    image = np.zeros((side, side, 3), np.uint8)
    image[y : y + size, x : x + size] = RED
    return image


def looks_like(image: np.ndarray, expected: np.ndarray) -> bool:
    """Within a few levels of ``expected`` but for a pixel or so of the outline."""
    diff = np.abs(image.astype(int) - expected.astype(int)).max(axis=-1)
    return diff.mean() < 1.0 and (diff > 40).mean() < 0.005


@pytest.mark.parametrize(("dx", "dy"), [(16, 0), (24, 8), (0, -20)])
def test_the_middle_frame_has_the_square_at_the_middle_position(dx, dy):
    a, b = square(30, 50), square(30 + dx, 50 + dy)
    middle = FlowPair(a, b).at(0.5)
    expected = square(30 + dx // 2, 50 + dy // 2)
    assert looks_like(middle, expected)  # one square, halfway; nothing left at either end
    assert not looks_like(crossfade(a, b, 0.5), expected)


def test_large_frames_measure_their_flow_at_a_reduced_size_and_still_land_halfway():
    a, b = square(100, 120, size=80, side=384), square(180, 120, size=80, side=384)
    pair = FlowPair(a, b)
    assert pair.forward.shape == (192, 192, 2)  # measured at half size (over 256 px)
    assert looks_like(pair.at(0.5), square(140, 120, size=80, side=384))


def test_crossfade_shows_two_half_intensity_squares_where_flow_shows_one():
    a, b = square(24), square(56)  # x 24..47 and 56..79; halfway 40..63
    fade, flow = crossfade(a, b, 0.5), FlowPair(a, b).at(0.5)
    half = np.round(np.array(RED) / 2)
    assert (fade[60, 30] == half).all() and (fade[60, 70] == half).all()  # the two ghosts
    assert (fade[60, 52] == 0).all()  # where the square should be
    assert (flow[60, 52] == RED).all() and (flow[60, 30] == 0).all() and (flow[60, 70] == 0).all()


def test_a_quarter_of_the_way_and_the_ends():
    a, b = square(20), square(60)
    pair = FlowPair(a, b)
    assert np.array_equal(pair.at(0.0), a) and np.array_equal(pair.at(1.0), b)
    quarter = pair.at(0.25)
    assert looks_like(quarter, square(30))
    with pytest.raises(ValueError, match="t must be between 0 and 1, got 1.5"):
        pair.at(1.5)


def test_the_retimed_file_keeps_its_length_and_its_rendered_frames(tmp_path):
    sources = [square(20 + 10 * i) for i in range(4)]  # 4 frames at 6 fps: 2/3 s
    writer = open_output(
        tmp_path / "out", "png", fps=6, width=128, height=128, interpolate_fps=15, method="flow"
    )
    for frame in sources:
        writer.write(frame)
    output = writer.close()
    assert (output.frames, output.fps) == (10, 15.0) == (output_frames(4, 6, 15), 15.0)
    frames = list(read_frames(output.path))
    assert len(frames) == 10
    # Output frame j shows source position j * 6 / 15: 0, 0.4, 0.8, 1.2, ... 2.0 at j = 5.
    assert np.array_equal(frames[0], sources[0]) and np.array_equal(frames[5], sources[2])
    assert looks_like(frames[1], square(24)) and looks_like(frames[3], square(32))
    assert all(np.array_equal(f, sources[3]) for f in frames[8:])  # the last one held


@pytest.mark.parametrize(
    ("frames", "source", "target", "expected"),
    [(4, 6, 15, 10), (12, 12, 24, 24), (10, 8, 30, 38), (1, 12, 60, 5)],
)
def test_output_frames_last_as_long_as_the_rendered_ones(frames, source, target, expected):
    assert output_frames(frames, source, target) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            AnimationSpec(output=OutputSettings(interpolate_fps=12)),
            "interpolate to 12 fps must be more than the render's 12 fps",
        ),
        (
            AnimationSpec(
                animation=AnimationSettings(fps=6),
                output=OutputSettings(format="gif", interpolate_fps=60),
            ),
            "GIF output plays at most 50 fps, got interpolate to 60",
        ),
        (
            AnimationSpec(output=OutputSettings(interpolate_fps=121)),
            "interpolate to fps must be between 0 \\(off\\) and 120, got 121",
        ),
        (
            BlendSpec(output=BlendOutputSettings(fps=24, interpolate_fps=20)),
            "interpolate to 20 fps must be more than the render's 24 fps",
        ),
    ],
)
def test_bad_rates_are_refused_by_check(spec, message):
    with pytest.raises(SpecError, match=message):
        spec.check()


def test_the_method_and_the_blend_fill_take_only_their_choices():
    with pytest.raises(ValueError, match="interpolate_method"):
        OutputSettings(interpolate_method="optical")
    assert BlendOutputSettings(fill="flow").fill == "flow"
    with pytest.raises(ValueError, match="fill"):
        BlendOutputSettings(fill="ghosts")
