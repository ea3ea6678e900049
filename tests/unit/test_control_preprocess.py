"""ControlNet preprocessors (studio.media.control) on synthetic images: no model, no files."""

from __future__ import annotations

import numpy as np
import pytest

from studio.media.control import canny, edges, grayscale, preprocess
from studio.spec.control import ControlNetItem


def square(size: int = 64, lo: int = 16, hi: int = 48) -> np.ndarray:
    image = np.zeros((size, size, 3), np.uint8)
    image[lo:hi, lo:hi] = 255
    return image


def near_border(mask: np.ndarray, lo: int, hi: int, within: int) -> np.ndarray:
    """Pixels within ``within`` of the square's outline (rows/cols lo and hi - 1)."""
    y, x = np.indices(mask.shape)
    inside_band = (y >= lo - within) & (y <= hi - 1 + within) & (x >= lo - within)
    inside_band &= x <= hi - 1 + within
    deep = (y > lo + within) & (y < hi - 1 - within) & (x > lo + within) & (x < hi - 1 - within)
    return inside_band & ~deep


def test_canny_finds_the_squares_border_and_nothing_else():
    out = canny(square())
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    found = out[..., 0] > 0
    assert set(np.unique(out)) <= {0, 255}
    assert found.any()
    assert not (found & ~near_border(found, 16, 48, 1)).any()
    # Every side of the square has an edge along most of its length, and edges are thin.
    for side in (found[10:54, 14:18], found[10:54, 46:50]):
        assert side.any(axis=1)[8:36].all()  # rows 18..45
        assert side.sum(axis=1)[8:36].max() == 1  # one pixel wide
    for side in (found[14:18, 10:54], found[46:50, 10:54]):
        assert side.any(axis=0)[8:36].all()


def test_canny_of_a_flat_image_is_empty_even_at_zero_thresholds():
    flat = np.full((32, 32, 3), 128, np.uint8)
    assert not canny(flat, 0.0, 0.0).any()


def test_canny_hysteresis_keeps_weak_edges_only_where_they_touch_strong_ones():
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, 32:] = 255  # a strong edge down the middle
    image[8:24, 8:24] = 40  # a faint square away from it
    strong_only = canny(image, 0.18, 0.5)[..., 0] > 0
    assert strong_only[:, 30:34].any() and not strong_only[:, :26].any()
    weak_too = canny(image, 0.05, 0.5)[..., 0] > 0
    assert not weak_too[:, :26].any()  # the faint square touches no strong edge
    assert (canny(image, 0.05, 0.1)[..., 0] > 0)[:, :26].any()  # strong enough alone


def test_canny_refuses_low_above_high():
    with pytest.raises(ValueError, match="low <= high"):
        canny(square(), 0.5, 0.2)


def test_edges_are_bright_on_the_border_and_dark_inside_and_outside():
    out = edges(square())[..., 0].astype(int)
    assert out[32, 16] > 150 and out[16, 32] > 150
    assert out[32, 32] == 0 and out[2, 2] == 0


def test_grayscale_is_luma_in_three_channels():
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., 0] = 255
    out = grayscale(image)
    assert (out == round(0.299 * 255)).all()


@pytest.mark.parametrize("kind", ["none", "canny", "edges", "grayscale"])
def test_preprocess_follows_the_item(kind):
    net = ControlNetItem(model="cn", image="a.png", preprocess=kind)
    out = preprocess(square(), net)
    expected = {"none": square(), "canny": canny(square()), "edges": edges(square())}
    assert out.shape == (64, 64, 3)
    if kind in expected:
        assert (out == expected[kind]).all()
    else:
        assert (out == grayscale(square())).all()
