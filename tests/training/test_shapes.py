"""The shapes dataset: captions and their parser, sampling, held-out combinations, drawing."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.pipeline.vocab import END_OF_WORD, WORDS, build_vocab
from training.shapes.dataset import (
    ATTRIBUTES,
    BACKGROUNDS,
    COLOURS,
    HELD_OUT,
    MARGIN,
    MIN_CONTRAST,
    OPTIONAL_ATTRIBUTES,
    POSITIONS,
    SHAPES,
    SIZE_FRACTIONS,
    SIZES,
    Scene,
    caption,
    contrast,
    draw,
    draw_between,
    drawable,
    nominal_centre,
    parse_caption,
    random_caption_keep,
    sample_scene,
    srgb_to_lab,
    training_scene,
)

ALL_SCENES = [
    Scene(*values) for values in itertools.product(COLOURS, SHAPES, BACKGROUNDS, SIZES, POSITIONS)
]
KEEPS = [
    keep
    for n in range(len(OPTIONAL_ATTRIBUTES) + 1)
    for keep in itertools.combinations(OPTIONAL_ATTRIBUTES, n)
]
DRAWABLE = [
    (c, s, b) for c, s, b in itertools.product(COLOURS, SHAPES, BACKGROUNDS) if drawable(c, b)
]
TRAINING = [t for t in DRAWABLE if t not in HELD_OUT]

scenes = st.builds(
    Scene,
    st.sampled_from(list(COLOURS)),
    st.sampled_from(SHAPES),
    st.sampled_from(list(BACKGROUNDS)),
    st.sampled_from(SIZES),
    st.sampled_from(POSITIONS),
)
seeds = st.integers(0, 2**32 - 1)


def expected_attributes(scene: Scene, keep: tuple[str, ...]) -> dict[str, str]:
    named = ("colour", "shape", *keep)
    return {name: getattr(scene, name) for name in named}


# --- captions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scene", "keep", "text"),
    [
        (
            Scene("blue", "square", "white", "large", "top left"),
            None,
            "a large blue square on a white background at the top left",
        ),
        (Scene("red", "circle", "black", "small", "centre"), (), "a red circle"),
        (
            Scene("yellow", "star", "gray", "small", "top left"),
            ("size", "position"),
            "a small yellow star at the top left",
        ),
        (
            Scene("orange", "star", "blue", "large", "left"),
            ("position",),
            "an orange star on the left",
        ),
        (
            Scene("white", "triangle", "gray", "small", "centre"),
            ("background", "position"),
            "a white triangle on a gray background in the centre",
        ),
        (
            Scene("purple", "circle", "green", "large", "bottom"),
            ("size", "position"),
            "a large purple circle at the bottom",
        ),
    ],
)
def test_caption_examples(scene, keep, text):
    assert caption(scene, keep) == text
    named = OPTIONAL_ATTRIBUTES if keep is None else keep
    assert parse_caption(text) == expected_attributes(scene, named)


@pytest.mark.parametrize("keep", KEEPS, ids=lambda keep: "+".join(keep) or "none")
def test_caption_round_trip_for_every_scene(keep):
    for scene in ALL_SCENES:
        assert parse_caption(caption(scene, keep)) == expected_attributes(scene, keep)


def test_colour_and_shape_are_always_named():
    scene = Scene("green", "star", "black", "small", "right")
    assert caption(scene, ("colour", "shape")) == caption(scene, ()) == "a green star"
    assert caption(scene) == caption(scene, ATTRIBUTES)


def test_every_caption_word_is_one_token():
    words = {w for scene in ALL_SCENES for keep in KEEPS for w in caption(scene, keep).split()}
    assert words <= set(WORDS), sorted(words - set(WORDS))
    vocab, _ = build_vocab()
    assert all(word + END_OF_WORD in vocab for word in words)


def test_the_tokenizer_reads_captions_as_whole_words():
    pytest.importorskip("transformers")
    from studio.pipeline.vocab import build_tokenizer

    tokenizer = build_tokenizer()
    words = {w for scene in ALL_SCENES for w in caption(scene).split()} | {"an"}
    split = {
        w: tokenizer.tokenize(w)
        for w in sorted(words)
        if tokenizer.tokenize(w) != [w + END_OF_WORD]
    }
    assert not split, f"caption words the tokenizer splits: {split}"
    text = caption(Scene("orange", "triangle", "gray", "large", "bottom right"))
    assert tokenizer.tokenize(text) == [w + END_OF_WORD for w in text.split()]


@given(scene=scenes, keep=st.sampled_from(KEEPS), upper=st.booleans(), data=st.data())
def test_parse_caption_forgives_case_spacing_and_article(scene, keep, upper, data):
    words = caption(scene, keep).split()
    words = ["a" if w == "an" else w for w in words]  # "a orange star" is still understood
    gaps = data.draw(
        st.lists(
            st.sampled_from([" ", "  ", "\t"]), min_size=len(words) + 1, max_size=len(words) + 1
        )
    )
    text = gaps[0] + "".join(w + g for w, g in zip(words, gaps[1:], strict=True))
    assert parse_caption(text.upper() if upper else text) == expected_attributes(scene, keep)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "word 1"),
        ("red circle", "word 1"),
        ("a circle", "word 2"),
        ("a red", "word 3"),
        ("a red hexagon", "word 3"),
        ("a red circle on a pink background", "word 6"),
        ("a red circle on a white", "word 7"),
        ("a red circle at the middle", "word 4"),
        ("a red circle in the centre please", "word 7"),
        ("a large small red circle", "word 3"),
        ("a red circle on the left on a black background", "word 7"),
    ],
)
def test_parse_caption_names_where_it_stopped(text, where):
    with pytest.raises(ValueError, match=where):
        parse_caption(text)


@given(st.text(max_size=60))
def test_parse_caption_raises_only_value_error(text):
    try:
        found = parse_caption(text)
    except ValueError:
        return
    assert {"colour", "shape"} <= set(found) <= set(ATTRIBUTES)


def test_caption_rejects_unknown_attributes():
    with pytest.raises(ValueError, match="colour_name"):
        caption(Scene("red", "circle", "black", "small", "centre"), ("colour_name",))


def test_random_caption_keep_frequencies():
    rng = np.random.default_rng(0)
    keeps = [random_caption_keep(rng, p=0.6) for _ in range(4000)]
    for keep in keeps:
        assert list(keep) == [a for a in OPTIONAL_ATTRIBUTES if a in keep]
    for attribute in OPTIONAL_ATTRIBUTES:
        share = np.mean([attribute in keep for keep in keeps])
        assert abs(share - 0.6) < 0.03
    assert random_caption_keep(rng, p=0.0) == ()
    assert random_caption_keep(rng, p=1.0) == OPTIONAL_ATTRIBUTES
    with pytest.raises(ValueError, match="1.5"):
        random_caption_keep(rng, p=1.5)


# --- sampling and held-out combinations --------------------------------------------------------


def test_scene_rejects_unknown_values():
    with pytest.raises(ValueError, match="'pink'"):
        Scene("pink", "circle", "black", "small", "centre")
    with pytest.raises(ValueError, match="'middle'"):
        Scene("red", "circle", "black", "small", "middle")


fixed_attributes = st.fixed_dictionaries(
    {},
    optional={
        "colour": st.sampled_from(list(COLOURS)),
        "shape": st.sampled_from(SHAPES),
        "background": st.sampled_from(list(BACKGROUNDS)),
        "size": st.sampled_from(SIZES),
        "position": st.sampled_from(POSITIONS),
    },
).filter(
    lambda f: "colour" not in f or "background" not in f or drawable(f["colour"], f["background"])
)


@settings(max_examples=200)
@given(seed=seeds, fixed=fixed_attributes)
def test_sample_scene_keeps_fixed_attributes_and_contrast(seed, fixed):
    scene = sample_scene(np.random.default_rng(seed), **fixed)
    assert all(getattr(scene, name) == value for name, value in fixed.items())
    assert contrast(scene.colour, scene.background) >= MIN_CONTRAST


def test_no_drawable_shape_is_invisible():
    # The rule excludes exactly the same-colour pairs with this palette, and every drawn shape
    # differs from its background by far more than a rounding error.
    undrawable = {(c, b) for c, b in itertools.product(COLOURS, BACKGROUNDS) if not drawable(c, b)}
    assert undrawable == {(c, c) for c in COLOURS if c in BACKGROUNDS}
    for c, b in itertools.product(COLOURS, BACKGROUNDS):
        if drawable(c, b):
            assert np.abs(np.subtract(COLOURS[c], BACKGROUNDS[b])).max() >= 60


def test_sample_scene_covers_every_value():
    rng = np.random.default_rng(1)
    drawn = [sample_scene(rng) for _ in range(3000)]
    for name, values in zip(
        ATTRIBUTES, (COLOURS, SHAPES, BACKGROUNDS, SIZES, POSITIONS), strict=True
    ):
        counts = {v: sum(getattr(s, name) == v for s in drawn) for v in values}
        assert min(counts.values()) > 0.5 * len(drawn) / len(counts), (name, counts)
    assert {(s.colour, s.shape, s.background) for s in drawn} == set(DRAWABLE)


@pytest.mark.parametrize(
    ("fixed", "match"),
    [
        ({"colour": "blue", "background": "blue"}, "no drawable scene"),
        ({"hue": "red"}, "unknown scene attribute 'hue'"),
        ({"shape": "hexagon"}, "'hexagon'"),
    ],
)
def test_sample_scene_errors(fixed, match):
    with pytest.raises(ValueError, match=match):
        sample_scene(np.random.default_rng(0), **fixed)


@given(seed=seeds)
def test_training_scene_never_held_out(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        scene = training_scene(rng)
        assert (scene.colour, scene.shape, scene.background) not in HELD_OUT


@pytest.mark.parametrize("triple", sorted(HELD_OUT))
def test_training_scene_refuses_a_held_out_triple(triple):
    colour, shape, background = triple
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="no drawable scene"):
        training_scene(rng, colour=colour, shape=shape, background=background)
    assert sample_scene(rng, colour=colour, shape=shape, background=background).colour == colour
    # Two attributes of a held-out triple still meet in training, with another third.
    for _ in range(10):
        scene = training_scene(rng, colour=colour, shape=shape)
        assert scene.background != background


def test_held_out_is_spread_and_leaves_every_pair_seen():
    assert set(DRAWABLE) >= HELD_OUT
    assert 0.10 <= len(HELD_OUT) / len(DRAWABLE) <= 0.15
    for index, values in enumerate((COLOURS, SHAPES, BACKGROUNDS)):
        held = [t[index] for t in HELD_OUT]
        assert set(held) == set(values)  # every value is tested on an unseen combination...
        assert max(held.count(v) for v in values) <= 4
        assert {t[index] for t in TRAINING} == set(values)  # ...and seen in training
    for i, j in itertools.combinations(range(3), 2):
        seen = {(t[i], t[j]) for t in TRAINING}
        assert all((t[i], t[j]) in seen for t in HELD_OUT)


# --- drawing -----------------------------------------------------------------------------------


def shape_pixels(image: np.ndarray, scene: Scene) -> np.ndarray:
    """Pixels that differ from the background at all (anti-aliased edges included)."""
    return np.any(image != np.array(BACKGROUNDS[scene.background], dtype=np.uint8), axis=2)


@pytest.mark.parametrize("shape", SHAPES)
def test_draw_pixels_and_determinism(shape):
    scene = Scene("red", shape, "black", "large", "centre")
    image = draw(scene)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    assert np.array_equal(image, draw(scene))
    assert np.array_equal(
        draw(scene, rng=np.random.default_rng(3)), draw(scene, rng=np.random.default_rng(3))
    )
    assert not np.array_equal(image, draw(scene, rng=np.random.default_rng(3)))
    assert draw(scene, size=64).shape == (64, 64, 3)
    # The core is the exact palette colour; edges are blends (anti-aliased).
    jittered = draw(scene, rng=np.random.default_rng(3))
    colours = {tuple(p) for p in jittered.reshape(-1, 3).tolist()}
    assert COLOURS["red"] in colours and BACKGROUNDS["black"] in colours and len(colours) > 2


# Fill: area over the ideal bounding box; height: box height over extent.
GEOMETRY = {
    "circle": (np.pi / 4, 1.0),
    "square": (1.0, 1.0),
    "triangle": (0.5, np.sqrt(3) / 2),
    "star": (0.384, 0.951),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("position", POSITIONS)
def test_draw_geometry(shape, size, position):
    fill, height = GEOMETRY[shape]
    scene = Scene("white", shape, "black", size, position)
    side = 256
    image = draw(scene, size=side)
    # Coverage of each pixel, from the anti-aliased blend of shape and background.
    coverage = (image[..., 0].astype(np.float64) - 15) / (245 - 15)
    ys, xs = np.nonzero(shape_pixels(image, scene))
    # Partly covered edge pixels widen the box by up to a pixel at each side.
    box = (xs.min() / side, (xs.max() + 1) / side, ys.min() / side, (ys.max() + 1) / side)
    extent = SIZE_FRACTIONS[size]
    assert box[1] - box[0] == pytest.approx(extent, abs=2 / side)
    assert box[3] - box[2] == pytest.approx(extent * height, abs=2 / side)
    cx, cy = nominal_centre(size, position)
    assert (box[0] + box[1]) / 2 == pytest.approx(cx, abs=1 / side)
    assert (box[2] + box[3]) / 2 == pytest.approx(cy, abs=1 / side)
    area = coverage.sum() / side**2
    assert area / (extent * extent * height) == pytest.approx(fill, abs=0.02)


def test_nominal_centres():
    assert nominal_centre("small", "top left") == (0.25, 0.25)
    assert nominal_centre("small", "bottom") == (0.5, 0.75)
    assert nominal_centre("large", "centre") == (0.5, 0.5)
    x, y = nominal_centre("large", "bottom right")
    assert x == y == pytest.approx(1 - MARGIN - SIZE_FRACTIONS["large"] / 2)
    assert nominal_centre("large", "left")[0] == pytest.approx(MARGIN + SIZE_FRACTIONS["large"] / 2)


@settings(max_examples=50)
@given(
    seed=seeds,
    shape=st.sampled_from(SHAPES),
    size=st.sampled_from(SIZES),
    position=st.sampled_from(POSITIONS),
)
def test_jittered_shapes_stay_inside_the_margin(seed, shape, size, position):
    scene = Scene("yellow", shape, "blue", size, position)
    image = draw(scene, rng=np.random.default_rng(seed))
    pixels = shape_pixels(image, scene)
    band = int(MARGIN * 128)
    inside = np.zeros_like(pixels)
    inside[band:-band, band:-band] = True
    assert pixels.any() and not (pixels & ~inside).any()


def test_draw_rejects_tiny_images():
    with pytest.raises(ValueError, match="got 8"):
        draw(Scene("red", "circle", "black", "small", "centre"), size=8)


def test_shapes_do_not_import_torch():
    code = "import sys, training.shapes.dataset; assert 'torch' not in sys.modules and 'scipy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_draw_between_starts_and_ends_on_the_two_scenes():
    a = Scene("red", "circle", "black", "small", "top left")
    b = Scene("blue", "circle", "black", "large", "bottom right")
    for w, scene in ((0.0, a), (1.0, b)):
        got = draw_between(a, b, w, 64, np.random.default_rng(3))
        assert np.array_equal(got, draw(scene, 64, np.random.default_rng(3)))


def test_draw_between_moves_colour_and_place_steadily():
    from training.shapes.classifier import foreground_mask, hue_of

    a = Scene("red", "circle", "black", "small", "left")
    b = Scene("blue", "circle", "black", "small", "right")
    images = [draw_between(a, b, w, 64) for w in np.linspace(0, 1, 9)]
    hues = [hue_of(image) for image in images]
    columns = [np.nonzero(foreground_mask(image))[1].mean() for image in images]
    assert np.all(np.diff(hues) < 0), hues
    assert np.all(np.diff(columns) > 0), columns


@pytest.mark.parametrize(
    "b, w",
    [
        (Scene("red", "square", "black", "small", "left"), 0.5),
        (Scene("red", "circle", "white", "small", "left"), 0.5),
        (Scene("red", "circle", "black", "small", "left"), 1.5),
    ],
)
def test_draw_between_refuses_what_it_cannot_mix(b, w):
    a = Scene("blue", "circle", "black", "small", "left")
    with pytest.raises(ValueError):
        draw_between(a, b, w)


def test_srgb_to_lab_is_the_engines_conversion_up_to_the_cie_rounded_constants():
    # The dataset keeps its own conversion: it uses the CIE's rounded constants (0.008856,
    # 7.787) and a white of exactly Y = 1, which the colour code of every trained model was
    # made with; studio.media.color uses the exact ones. They differ by < 2e-4 in L*a*b*.
    from studio.media.color import rgb_to_lab

    rgb = np.random.default_rng(0).integers(0, 256, size=(10_000, 3)).astype(np.uint8)
    assert np.abs(srgb_to_lab(rgb) - rgb_to_lab(rgb)).max() < 2e-4
    assert np.allclose(srgb_to_lab(rgb.astype(np.float64)), srgb_to_lab(rgb))
