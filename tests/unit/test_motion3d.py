"""3D motion's geometry (studio.animation.motion3d) on depth maps of known shape, its curves,
and the spec's checks of the depth source."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.animation.motion import evaluate_curves, warp
from studio.animation.motion3d import Move3D, nearness_to_depth, rotation, warp_3d
from studio.errors import SpecError, StudioError
from studio.spec import AnimationSpec, MotionSettings

H, W = 64, 96


def square(side: int = 16) -> torch.Tensor:
    """(1, 1, H, W): a white square of ``side`` px centred on the picture's centre."""
    image = torch.zeros(1, 1, H, W)
    top, left = (H - side) // 2, (W - side) // 2
    image[..., top : top + side, left : left + side] = 1
    return image


def extent(image: torch.Tensor) -> tuple[float, float, float, float]:
    """Width, height and centre (x, y) of what is brighter than half."""
    ys, xs = np.nonzero(image[0, 0].numpy() > 0.5)
    return xs.max() - xs.min() + 1, ys.max() - ys.min() + 1, xs.mean(), ys.mean()


def plane(depth: float) -> np.ndarray:
    """A plane facing the camera at ``depth`` (nearness 1 with near = depth)."""
    return nearness_to_depth(np.ones((H, W)), depth, depth * 50)


@pytest.mark.parametrize("d", [200.0, 35.0])
def test_a_plane_moved_half_way_to_the_camera_doubles_about_the_centre(d):
    moved = warp_3d(square(), plane(d), Move3D(translation_z=d / 2), "zero")
    width, height, x, y = extent(moved)
    assert (width, height) == (32, 32)
    assert (x, y) == pytest.approx(((W - 1) / 2, (H - 1) / 2))
    # Moving away by the plane's depth halves it instead.
    width, height, *_ = extent(warp_3d(square(32), plane(d), Move3D(translation_z=-d), "zero"))
    assert (width, height) == (16, 16)


def test_nearer_points_grow_more_than_farther_ones():
    """Left half near, right half far: one camera move, two scales."""
    nearness = np.zeros((H, W))
    nearness[:, : W // 2] = 1.0
    depth = nearness_to_depth(nearness, 100.0, 400.0)
    image = torch.zeros(1, 1, H, W)
    image[..., 28:36, 36:44] = 1  # a near square, left of the centre
    image[..., 28:36, 52:60] = 1  # a far square, right of it
    moved = warp_3d(image, depth, Move3D(translation_z=50), "zero")[0, 0].numpy() > 0.5
    near_width = np.count_nonzero(moved[32, : W // 2])
    far_width = np.count_nonzero(moved[32, W // 2 :])
    assert near_width == pytest.approx(16, abs=1)  # 100 -> 50: twice as big
    assert far_width == pytest.approx(8 * 400 / 350, abs=1)


def test_rotation_3d_z_is_the_2d_rotation():
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.random((1, 3, H, W))).float()
    depth = nearness_to_depth(rng.random((H, W)), 200.0, 10000.0)  # any depth: a roll keeps it
    for degrees in (7.5, -30.0, 90.0):
        turned = warp_3d(image, depth, Move3D(rotation_3d_z=degrees), "reflect")
        assert torch.allclose(turned, warp(image, 1.0, degrees, 0, 0, "reflect"), atol=1e-5)


def test_no_motion_is_the_identity_and_2d_motion_still_applies():
    rng = np.random.default_rng(2)
    image = torch.from_numpy(rng.random((1, 3, H, W))).float()
    depth = plane(200.0)
    assert torch.equal(warp_3d(image, depth, Move3D(fov=70), "zero"), image)
    shifted = warp_3d(image, depth, Move3D(), "zero", translate_x=5, zoom=1.5)
    assert torch.allclose(shifted, warp(image, 1.5, 0.0, 5, 0, "zero"), atol=1e-6)
    # With a 3D move the 2D move is composed after it: one resampling, the same picture.
    both = warp_3d(square(), plane(200.0), Move3D(translation_z=100), "zero", translate_x=6)
    width, _, x, _ = extent(both)
    assert width == 32 and x == pytest.approx((W - 1) / 2 + 6)


def test_pan_and_tilt_move_the_picture_the_documented_way():
    depth = plane(200.0)
    f = (W / 2) / np.tan(np.deg2rad(40.0) / 2)
    _, _, x, y = extent(warp_3d(square(), depth, Move3D(rotation_3d_y=5), "zero"))
    assert x == pytest.approx((W - 1) / 2 - f * np.tan(np.deg2rad(5)), abs=0.6)  # left
    assert y == pytest.approx((H - 1) / 2, abs=0.6)
    _, _, x, y = extent(warp_3d(square(), depth, Move3D(rotation_3d_x=5), "zero"))
    assert y == pytest.approx((H - 1) / 2 + f * np.tan(np.deg2rad(5)), abs=0.6)  # down
    # A wider field of view: the same turn moves the picture fewer pixels.
    _, _, wide, _ = extent(warp_3d(square(), depth, Move3D(rotation_3d_y=5, fov=90), "zero"))
    assert (W - 1) / 2 - wide == pytest.approx(W / 2 * np.tan(np.deg2rad(5)), abs=0.6)


def test_rotation_is_orthonormal_and_nearness_maps_to_the_planes():
    r = rotation(10, -20, 30)
    assert np.allclose(r @ r.T, np.eye(3))
    assert nearness_to_depth(np.array([1.0, 0.0, 0.5]), 100, 300) == pytest.approx(
        [100, 300, 150]
    )  # inverse depth halfway: 1 / ((1/100 + 1/300) / 2)
    with pytest.raises(ValueError, match="near 5"):
        nearness_to_depth(np.ones(2), 5, 5)


def test_3d_curves_turn_feedback_and_depth_on():
    curves = evaluate_curves(MotionSettings(translation_z="0: (5*t)", fov="0: (60)"), 4)
    assert curves.feedback and curves.depth
    assert list(curves.translation_z) == [0, 5, 10, 15] and list(curves.fov) == [60] * 4
    flat = evaluate_curves(MotionSettings(zoom="0: (1.01)"), 3)
    assert flat.feedback and not flat.depth and list(flat.fov) == [40] * 3
    with pytest.raises(SpecError, match="fov curve must be in \\(0, 180\\), got 180 at frame 0"):
        evaluate_curves(MotionSettings(translation_z="1", fov="180"), 2)


@pytest.mark.parametrize(
    ("motion", "message"),
    [
        (
            {"rotation_3d_y": "0: (1)"},
            "3D motion (rotation_3d_y) needs a depth source: give --depth-model",
        ),
        (
            {"translation_z": "1", "depth_model": "m", "depth_input": "d.png"},
            "give a depth model or a depth input, not both",
        ),
        ({"depth_input": "d.png"}, "depth source 'd.png' is read only by 3D motion"),
        (
            {"translation_z": "1", "depth_input": "d.png", "depth_near": 50.0, "depth_far": 50.0},
            "depth far must be more than depth near, got near 50, far 50",
        ),
        (
            {"translation_z": "1", "depth_input": "d.png", "depth_near": 0.0},
            "depth near must be more than 0, got 0.0",
        ),
        ({"rotation_3d_x": "0: (1"}, "rotation 3d x"),
    ],
)
def test_the_spec_refuses_3d_motion_it_cannot_run(motion, message):
    with pytest.raises(StudioError, match=message.replace("(", "\\(").replace(")", "\\)")):
        AnimationSpec(motion=MotionSettings(**motion)).check()


def test_3d_motion_with_a_video_input_is_refused():
    from studio.spec import InputSettings

    spec = AnimationSpec(
        input=InputSettings(video="v.mp4"),
        motion=MotionSettings(translation_z="1", depth_input="d.png"),
    )
    with pytest.raises(SpecError, match="motion \\(translation_z\\) moves the previous frame"):
        spec.check()
