"""The pixel-statistics classifier reads drawn scenes, clean and degraded, and their hue."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from training.shapes.classifier import NONE, classify, foreground_mask, hue_of, hue_walk
from training.shapes.dataset import (
    ATTRIBUTES,
    BACKGROUNDS,
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    Scene,
    draw,
    drawable,
)

DRAWABLE = [
    (c, s, b) for c, s, b in itertools.product(COLOURS, SHAPES, BACKGROUNDS) if drawable(c, b)
]
# Every drawable (colour, shape, background) at both sizes, the position cycling through the
# grid: 288 scenes that meet every value of every attribute, and every (shape, size,
# position). The whole product (2,592 scenes) runs in benchmarks/classifier_check.py.
CASES = [
    Scene(c, s, b, size, POSITIONS[i % len(POSITIONS)])
    for i, ((c, s, b), size) in enumerate(itertools.product(DRAWABLE, SIZES))
]
# Degraded images cost more; each (colour, shape, background) once, size and position cycling.
DEGRADED_CASES = [
    Scene(c, s, b, SIZES[i % 2], POSITIONS[i % len(POSITIONS)])
    for i, (c, s, b) in enumerate(DRAWABLE)
]


def blur_and_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of 2 px (standard deviation, at 128 px) and noise of 6/255."""
    blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(2)), np.float64)
    noisy = blurred + rng.normal(0.0, 6.0, blurred.shape)
    return np.clip(noisy, 0, 255).round().astype(np.uint8)


def down_up(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Down to a quarter of the side and back up (bicubic), like a lossy decoder."""
    picture = Image.fromarray(image)
    small = picture.resize((image.shape[1] // 4, image.shape[0] // 4), Image.Resampling.BICUBIC)
    return np.asarray(small.resize(picture.size, Image.Resampling.BICUBIC))


def accuracy(cases: list[Scene], degrade=None, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    right = dict.fromkeys(ATTRIBUTES, 0)
    for scene in cases:
        image = draw(scene, rng=rng)
        if degrade is not None:
            image = degrade(image, rng)
        reading = classify(image)
        for name in ATTRIBUTES:
            right[name] += getattr(reading, name) == getattr(scene, name)
    return {name: right[name] / len(cases) for name in ATTRIBUTES}


def test_cases_cover_every_shape_size_and_position():
    assert {(s.shape, s.size, s.position) for s in CASES} == set(
        itertools.product(SHAPES, SIZES, POSITIONS)
    )
    for name, values in (("size", SIZES), ("position", POSITIONS), ("shape", SHAPES)):
        assert {getattr(s, name) for s in DEGRADED_CASES} == set(values)


def test_reads_clean_drawings():
    scores = accuracy(CASES)
    assert scores["colour"] == scores["background"] == 1.0, scores
    assert min(scores["shape"], scores["position"], scores["size"]) >= 0.98, scores


@pytest.mark.parametrize("degrade", [blur_and_noise, down_up])
def test_reads_degraded_drawings(degrade):
    scores = accuracy(DEGRADED_CASES, degrade)
    assert min(scores.values()) >= 0.95, scores


@pytest.mark.parametrize("side", [48, 96, 256])
def test_reads_other_image_sizes(side):
    rng = np.random.default_rng(side)
    for scene in DEGRADED_CASES[::6]:
        reading = classify(draw(scene, size=side, rng=rng))
        assert [getattr(reading, a) for a in ATTRIBUTES] == [getattr(scene, a) for a in ATTRIBUTES]


def test_reads_a_wide_image_in_fractions_of_each_side():
    scene = Scene("orange", "star", "gray", "small", "top left")
    image = draw(scene)
    # Widen to 128x256 with background; the shape now sits at 1/8 of the width, still left.
    wide = np.concatenate([image, np.broadcast_to(image[:, -1:], image.shape)], axis=1)
    reading = classify(wide)
    assert (reading.colour, reading.shape, reading.background) == ("orange", "star", "gray")
    assert reading.position == "top left"
    assert reading.centre[0] == pytest.approx(0.125, abs=0.01)


def test_plain_background_reads_none():
    image = np.full((64, 64, 3), BACKGROUNDS["gray"], dtype=np.uint8)
    reading = classify(image)
    assert reading.background == "gray"
    assert reading.colour == reading.shape == reading.position == reading.size == NONE
    assert not foreground_mask(image).any()


def test_speckles_and_holes_do_not_change_the_reading():
    scene = Scene("green", "square", "white", "large", "centre")
    image = draw(scene)
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, 128, 30), rng.integers(0, 128, 30)
    image[ys, xs] = COLOURS["red"]  # stray pixels: not the largest blob
    image[58:70, 58:70] = BACKGROUNDS["white"]  # a hole: filled in
    reading = classify(image)
    assert (reading.colour, reading.shape, reading.position) == ("green", "square", "centre")
    mask = foreground_mask(image)
    assert mask[64, 64] and mask[58:70, 58:70].all()


@pytest.mark.parametrize("shape", SHAPES)
def test_foreground_mask_is_the_half_covered_pixels(shape):
    scene = Scene("purple", shape, "blue", "small", "bottom right")
    image = draw(scene, rng=np.random.default_rng(1))
    # The closest pair of the palette: purple on blue. Coverage from the red channel's blend.
    coverage = (image[..., 0].astype(float) - 25) / (145 - 25)
    expected = coverage > 0.5
    mask = foreground_mask(image)
    assert (mask & expected).sum() / (mask | expected).sum() > 0.95


def test_reading_reports_its_measures():
    reading = classify(draw(Scene("red", "triangle", "black", "large", "centre")))
    assert set(reading.confidence) == set(ATTRIBUTES)
    assert all(0.0 <= v <= 1.0 for v in reading.confidence.values())
    assert reading.fill == pytest.approx(0.5, abs=0.05)
    assert reading.extent == pytest.approx(0.56, abs=0.02)
    assert reading.centre == pytest.approx((0.5, 0.5), abs=0.01)
    # A triangle's centroid lies a sixth of its height below its box's centre.
    assert reading.centroid[1] == pytest.approx(0.5 + 0.56 * 0.866 / 6, abs=0.01)
    assert max(reading.symmetry, key=reading.symmetry.get) == 3
    assert reading.background_distance > 50


@pytest.mark.parametrize("background", ["black", "white", "gray"])
def test_hue_moves_monotonically_from_red_to_blue(background):
    red = draw(Scene("red", "circle", background, "large", "centre")).astype(np.float64)
    blue = draw(Scene("blue", "circle", background, "large", "centre")).astype(np.float64)
    hues = [
        hue_of(((1 - t) * red + t * blue).round().astype(np.uint8))
        for t in np.linspace(0.0, 1.0, 11)
    ]
    assert hues[0] == pytest.approx(-3, abs=5) and hues[-1] == pytest.approx(-141, abs=5)
    assert all(b < a for a, b in itertools.pairwise(hues)), hues


def test_hue_of_needs_a_coloured_shape():
    with pytest.raises(ValueError, match="no hue"):
        hue_of(draw(Scene("white", "circle", "black", "large", "centre")))
    with pytest.raises(ValueError, match="no shape"):
        hue_of(np.zeros((32, 32, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((32, 32), dtype=np.uint8), r"\(H, W, 3\)"),
        (np.zeros((32, 32, 4), dtype=np.uint8), r"\(H, W, 3\)"),
        (np.zeros((32, 32, 3), dtype=np.float32), "uint8"),
        (np.zeros((4, 32, 3), dtype=np.uint8), "8x8"),
    ],
)
def test_classify_rejects_bad_images(image, match):
    with pytest.raises(ValueError, match=match):
        classify(image)


def test_classifier_does_not_import_torch():
    code = (
        "import sys, training.shapes.classifier; "
        "assert 'torch' not in sys.modules and 'scipy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_hue_walk_tells_a_steady_walk_from_a_jump_and_a_wobble():
    steady = np.linspace(-3, -141, 25)
    assert hue_walk(steady)["steady"] and hue_walk(steady[::-1])["steady"]  # either way
    jump = np.r_[np.full(12, -3.0), np.full(13, -141.0)]  # holds red, then leaps to blue
    assert not hue_walk(jump)["steady"] and hue_walk(jump)["max_jump"] == 138.0
    wobble = steady + np.where(np.arange(25) % 2, 12.0, -12.0)  # back every other frame
    walk = hue_walk(wobble)
    assert walk["forward"] < 0.8 and not walk["steady"], walk
    with pytest.raises(ValueError, match="three or more finite"):
        hue_walk([0.0, np.nan, 1.0])
