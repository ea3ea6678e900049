"""The procedural dataset behind ``builtin:shapes``: one coloured shape on a plain background.

numpy and Pillow only (no torch): the training stages, the benchmarks and the classifier
(``training.shapes.classifier``) import this module cheaply. The product never imports it;
the words of the captions live in ``studio.pipeline.shapes_words``.

A :class:`Scene` names five attributes: the shape's colour (:data:`COLOURS`), the shape
(:data:`SHAPES`), the background (:data:`BACKGROUNDS`), the size (:data:`SIZES`) and the
position (:data:`POSITIONS`). :func:`draw` turns a scene into pixels, :func:`caption` into
words, :func:`parse_caption` reads the words back.

Geometry (all lengths are fractions of the image side ``S``; the image is square):

- The *extent* of a shape is the larger side of its bounding box before rotation: the
  diameter of a circle, the side of a square or of an (equilateral, point-up) triangle, the
  width of a (five-pointed, point-up, inner radius 0.45 of the outer) star. ``small`` is
  0.30 S and ``large`` 0.56 S (:data:`SIZE_FRACTIONS`).
- The *centre* of a shape is the centre of its bounding box (not its centroid: a triangle's
  centroid sits lower). A position puts it on a 3x3 grid at 1/4, 1/2 and 3/4 of the side
  (corners combine a column and a row).
- No shape may come closer than :data:`MARGIN` (0.02 S) to an edge; what is kept inside is
  the square of side *extent* around the centre, or the rotated outline where it reaches
  farther, so every shape of a size sits at the same centre (a triangle, 0.87 as tall as
  wide, is placed like a square). A small shape fits anywhere on the grid, a large one only
  in the centre: a large shape at any other position is shifted back towards the centre by
  the least amount that keeps it inside the margin, so it goes as far as it can (``left``
  puts a large shape's centre at 0.30 S, not 0.25 S). :func:`nominal_centre` gives those
  centres.
- With jitter, the extent is scaled by a factor in [0.92, 1.08], the centre moved by up to
  0.03 S on each axis and the shape rotated by up to 4 degrees (so a square stays a square and
  a triangle keeps its point up); the jittered shape is then clamped inside the margin in
  the same way.
- Shapes are drawn at 4x and downsampled with a box filter (exact area coverage), which gives
  anti-aliased edges. The smallest feature, a point of a small star, is ~11 px wide at its
  base and ~13 px long at 128 px (more than one latent pixel of a VAE that downsamples by
  8), and nothing is drawn as a line.

Colours are chosen far apart in CIELAB (the closest pair, blue and purple, is ~43 apart in
ΔE*76); a shape is never drawn on a background closer to its colour than
:data:`MIN_CONTRAST`, which, for this palette, rules out exactly the same-colour pairs.

Captions follow the grammar in ``studio.pipeline.shapes_words``; the tables below are built
from its words, so the words are listed once.

:data:`HELD_OUT` lists 16 (colour, shape, background) combinations (11% of the 144 drawable
ones) that training never draws, so that the benchmark can ask the model for combinations it
never saw. Each colour is held out twice, each shape four times, each background three or
four times, and every pair inside a held-out triple (colour+shape, colour+background,
shape+background) is still drawn in training with some other third attribute.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from studio.pipeline.shapes_words import (
    BACKGROUND_WORDS,
    COLOUR_WORDS,
    PLACE_PHRASES,
    POSITIONS,
    SHAPES,
    SIZES,
)

__all__ = [
    "ATTRIBUTES",
    "BACKGROUNDS",
    "COLOURS",
    "HELD_OUT",
    "MARGIN",
    "MIN_CONTRAST",
    "OPTIONAL_ATTRIBUTES",
    "POSITIONS",
    "SHAPES",
    "SIZES",
    "SIZE_FRACTIONS",
    "Scene",
    "caption",
    "contrast",
    "draw",
    "draw_between",
    "drawable",
    "nominal_centre",
    "parse_caption",
    "random_caption_keep",
    "sample_scene",
    "srgb_to_lab",
    "training_scene",
]

# Saturated, but off the gamut's corners, and far apart in CIELAB (see the module docstring).
# RGB in the order of the colour words: red, green, blue, yellow, purple, orange, white, black.
_COLOUR_RGB = (
    (215, 30, 40),
    (40, 170, 60),
    (25, 100, 235),
    (245, 225, 40),
    (145, 35, 165),
    (250, 140, 20),
    (245, 245, 245),
    (15, 15, 15),
)
COLOURS: dict[str, tuple[int, int, int]] = dict(zip(COLOUR_WORDS, _COLOUR_RGB, strict=True))
# Named backgrounds share the shapes' RGB values; gray is for backgrounds only.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    word: (128, 128, 128) if word == "gray" else COLOURS[word] for word in BACKGROUND_WORDS
}
# Each attribute of a scene and its allowed values.
_TABLES: dict[str, Iterable[str]] = {
    "colour": COLOURS,
    "shape": SHAPES,
    "background": BACKGROUNDS,
    "size": SIZES,
    "position": POSITIONS,
}
ATTRIBUTES: tuple[str, ...] = tuple(_TABLES)
# Attributes a caption may leave out, in the order a caption names them.
OPTIONAL_ATTRIBUTES: tuple[str, ...] = ("size", "background", "position")

SIZE_FRACTIONS: dict[str, float] = {"small": 0.30, "large": 0.56}
MARGIN = 0.02
# Minimum CIELAB distance (ΔE*76) between a shape's colour and its background.
MIN_CONTRAST = 40.0

_GRID = {"low": 0.25, "mid": 0.5, "high": 0.75}
# Position -> (column, row) on the grid; x grows to the right, y downwards.
_PLACES: dict[str, tuple[str, str]] = {
    "centre": ("mid", "mid"),
    "left": ("low", "mid"),
    "right": ("high", "mid"),
    "top": ("mid", "low"),
    "bottom": ("mid", "high"),
    "top left": ("low", "low"),
    "top right": ("high", "low"),
    "bottom left": ("low", "high"),
    "bottom right": ("high", "high"),
}
_SUPERSAMPLE = 4
_JITTER_SCALE = 0.08
_JITTER_SHIFT = 0.03
_JITTER_DEGREES = 4.0
_CIRCLE_VERTICES = 128
_STAR_INNER = 0.45


@dataclass(frozen=True)
class Scene:
    """One picture of the dataset: attribute names from the module's tables."""

    colour: str
    shape: str
    background: str
    size: str
    position: str

    def __post_init__(self) -> None:
        _check_attributes(self.__dict__)


def _check_attributes(values: dict[str, str]) -> None:
    """Raise ``ValueError`` for an unknown attribute name or value."""
    for name, value in values.items():
        if name not in _TABLES:
            raise ValueError(f"unknown scene attribute {name!r}; known: {list(_TABLES)}")
        if value not in _TABLES[name]:
            raise ValueError(f"{name} must be one of {list(_TABLES[name])}, got {value!r}")


# --- colour ------------------------------------------------------------------------------------

_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def _linearise(rgb: np.ndarray) -> np.ndarray:
    c = rgb / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


_LINEAR = _linearise(np.arange(256, dtype=np.float64))


def srgb_to_lab(rgb: np.ndarray | tuple[int, int, int]) -> np.ndarray:
    """CIELAB (D65) of 8-bit sRGB colours.

    ``rgb``: shape ``(..., 3)``, values 0-255 (any numeric dtype). Returns float64 of the same
    shape: L* in [0, 100], a* and b* roughly in [-128, 127].
    """
    rgb = np.asarray(rgb)
    # uint8 goes through a table: the power in _linearise is the slow part.
    linear = _LINEAR[rgb] if rgb.dtype == np.uint8 else _linearise(rgb.astype(np.float64))
    xyz = linear @ _SRGB_TO_XYZ.T / _WHITE_D65
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    return np.stack(
        [
            116.0 * f[..., 1] - 16.0,
            500.0 * (f[..., 0] - f[..., 1]),
            200.0 * (f[..., 1] - f[..., 2]),
        ],
        axis=-1,
    )


def contrast(colour: str, background: str) -> float:
    """CIELAB distance (ΔE*76) between a shape colour and a background, by name."""
    return float(
        np.linalg.norm(srgb_to_lab(COLOURS[colour]) - srgb_to_lab(BACKGROUNDS[background]))
    )


def drawable(colour: str, background: str) -> bool:
    """Whether a ``colour`` shape stands out enough on a ``background`` background."""
    return contrast(colour, background) >= MIN_CONTRAST


# --- held-out combinations ---------------------------------------------------------------------

HELD_OUT: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("red", "circle", "white"),
        ("red", "star", "blue"),
        ("green", "square", "black"),
        ("green", "triangle", "gray"),
        ("blue", "triangle", "white"),
        ("blue", "star", "gray"),
        ("yellow", "square", "blue"),
        ("yellow", "circle", "gray"),
        ("purple", "circle", "black"),
        ("purple", "triangle", "green"),
        ("orange", "star", "white"),
        ("orange", "square", "green"),
        ("white", "triangle", "black"),
        ("white", "circle", "blue"),
        ("black", "star", "green"),
        ("black", "square", "gray"),
    }
)

# Every (colour, shape, background) that can be drawn, in table order.
_DRAWABLE: tuple[tuple[str, str, str], ...] = tuple(
    (c, s, b) for c, s, b in itertools.product(COLOURS, SHAPES, BACKGROUNDS) if drawable(c, b)
)


# --- sampling ----------------------------------------------------------------------------------


def _sample(
    rng: np.random.Generator, fixed: dict[str, str], exclude: frozenset[tuple[str, str, str]]
) -> Scene:
    _check_attributes(fixed)
    triples = [
        t
        for t in _DRAWABLE
        if t not in exclude
        and all(
            fixed.get(name, value) == value for name, value in zip(ATTRIBUTES[:3], t, strict=True)
        )
    ]
    if not triples:
        raise ValueError(f"no drawable scene has {fixed}")
    # Uniform over the allowed (colour, shape, background) triples: the same as drawing each
    # free attribute uniformly and rejecting the combinations that are not allowed.
    colour, shape, background = triples[rng.integers(len(triples))]
    size = fixed.get("size") or SIZES[rng.integers(len(SIZES))]
    position = fixed.get("position") or POSITIONS[rng.integers(len(POSITIONS))]
    return Scene(colour, shape, background, size, position)


def sample_scene(rng: np.random.Generator, **fixed: str) -> Scene:
    """A random scene; attributes given by keyword (``colour="red"``) are kept.

    Free attributes are drawn uniformly among the scenes that stay drawable (the shape colour
    is never within :data:`MIN_CONTRAST` of the background). Raises ``ValueError`` for an
    unknown attribute or value, or when the fixed attributes cannot be drawn together
    (``colour="blue", background="blue"``).
    """
    return _sample(rng, fixed, frozenset())


def training_scene(rng: np.random.Generator, **fixed: str) -> Scene:
    """Like :func:`sample_scene`, but never a :data:`HELD_OUT` (colour, shape, background)."""
    return _sample(rng, fixed, HELD_OUT)


# --- drawing -----------------------------------------------------------------------------------


def _unit_outline(shape: str) -> np.ndarray:
    """Vertices ``(N, 2)`` (x right, y down) of a shape with extent 1, bounding box centred."""
    if shape == "circle":
        angles = np.linspace(0.0, 2.0 * math.pi, _CIRCLE_VERTICES, endpoint=False)
        return 0.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if shape == "square":
        return np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    if shape == "triangle":
        half_height = math.sqrt(3.0) / 4.0
        return np.array([[0.0, -half_height], [0.5, half_height], [-0.5, half_height]])
    if shape == "star":
        outer = 0.5 / math.sin(math.radians(72.0))  # the star's width is 1
        angles = np.radians(-90.0 + 36.0 * np.arange(10))
        radii = np.where(np.arange(10) % 2 == 0, outer, _STAR_INNER * outer)
        points = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
        # The top point reaches -outer, the lower points +outer*cos(36): centre that box.
        points[:, 1] += 0.5 * outer * (1.0 - math.cos(math.radians(36.0)))
        return points
    raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")


def _clamp_centre(centre: float, low: float, high: float) -> float:
    """Move ``centre`` so that the span ``[centre + low, centre + high]`` lies in the margin."""
    return min(max(centre, MARGIN - low), 1.0 - MARGIN - high)


def nominal_centre(size: str, position: str) -> tuple[float, float]:
    """Bounding-box centre ``(x, y)``, as fractions of the side, of an unjittered shape.

    Grid points are 1/4, 1/2 and 3/4; a large shape away from the centre sits as close to its
    grid point as the margin allows (0.30 or 0.70 instead of 0.25 or 0.75). The same for every
    shape: :func:`draw` keeps a span of at least the extent inside on both axes.
    """
    if size not in SIZE_FRACTIONS:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if position not in _PLACES:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    half = SIZE_FRACTIONS[size] / 2.0
    column, row = _PLACES[position]
    return (
        _clamp_centre(_GRID[column], -half, half),
        _clamp_centre(_GRID[row], -half, half),
    )


def draw(scene: Scene, size: int = 128, rng: np.random.Generator | None = None) -> np.ndarray:
    """Pixels of ``scene``: uint8 array of shape ``(size, size, 3)``.

    ``rng`` draws a small jitter of extent, centre and rotation (see the module docstring);
    ``None`` draws the scene exactly at its nominal geometry, so the same scene always gives
    the same pixels. Raises ``ValueError`` when ``size < 16``.
    """
    return draw_between(scene, scene, 0.0, size, rng)


def draw_between(
    a: Scene, b: Scene, w: float, size: int = 128, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Pixels of a scene ``w`` of the way from ``a`` to ``b``: uint8 ``(size, size, 3)``.

    The shape's colour (in sRGB), extent and grid point move linearly with ``w``; ``a`` and
    ``b`` must have the same shape and background. ``w = 0`` draws exactly :func:`draw`'s
    ``a`` and ``w = 1`` its ``b`` for the same ``rng`` state. Training pairs an in-between
    picture with the same mix of the two captions' embeddings, so the model learns that a
    prompt halfway between "red" and "blue" is drawn halfway between them: the transitions
    the engine interpolates then move steadily instead of jumping. Raises ``ValueError`` for
    different shapes or backgrounds, ``w`` outside [0, 1], or ``size < 16``.
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    if (a.shape, a.background) != (b.shape, b.background):
        raise ValueError(f"scenes to draw between must share shape and background: {a}, {b}")
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"w must be in [0, 1], got {w}")

    def mix(x: float, y: float) -> float:
        return (1.0 - w) * x + w * y

    # 1. Geometry in fractions of the side, with jitter.
    extent = mix(SIZE_FRACTIONS[a.size], SIZE_FRACTIONS[b.size])
    (col_a, row_a), (col_b, row_b) = _PLACES[a.position], _PLACES[b.position]
    cx, cy = mix(_GRID[col_a], _GRID[col_b]), mix(_GRID[row_a], _GRID[row_b])
    degrees = 0.0
    if rng is not None:
        extent *= 1.0 + rng.uniform(-_JITTER_SCALE, _JITTER_SCALE)
        cx += rng.uniform(-_JITTER_SHIFT, _JITTER_SHIFT)
        cy += rng.uniform(-_JITTER_SHIFT, _JITTER_SHIFT)
        degrees = rng.uniform(-_JITTER_DEGREES, _JITTER_DEGREES)
    # 2. Outline: scale, rotate, then keep the rotated outline inside the margin. The span
    # kept inside is at least the extent on both axes, so that a flat shape (a triangle is
    # 0.87 as tall as wide) sits where a square of the same size would: one position, one
    # centre, whatever the shape.
    theta = math.radians(degrees)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    outline = (_unit_outline(a.shape) * extent) @ rotation.T
    low = np.minimum(outline.min(axis=0), -extent / 2.0)
    high = np.maximum(outline.max(axis=0), extent / 2.0)
    cx = _clamp_centre(cx, low[0], high[0])
    cy = _clamp_centre(cy, low[1], high[1])
    # 3. Draw at 4x and box-filter down: the box filter averages exact coverage.
    big = size * _SUPERSAMPLE
    points = (outline + [cx, cy]) * big
    fill = tuple(
        round(mix(x, y)) for x, y in zip(COLOURS[a.colour], COLOURS[b.colour], strict=True)
    )
    canvas = Image.new("RGB", (big, big), BACKGROUNDS[a.background])
    ImageDraw.Draw(canvas).polygon([(float(x), float(y)) for x, y in points], fill=fill)
    small = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8).copy()


# --- captions ----------------------------------------------------------------------------------


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption(scene: Scene, keep: Iterable[str] | None = None) -> str:
    """The caption of ``scene`` in the module's grammar.

    ``keep``: which attributes to mention; colour and shape are always mentioned, so only
    ``size``, ``background`` and ``position`` matter (``colour`` and ``shape`` are accepted
    and change nothing). ``None`` mentions everything. Raises ``ValueError`` for an unknown
    attribute name.
    """
    kept = set(ATTRIBUTES if keep is None else keep)
    unknown = sorted(kept - set(ATTRIBUTES))
    if unknown:
        raise ValueError(f"unknown attributes {unknown}; known: {list(ATTRIBUTES)}")
    noun = f"{scene.colour} {scene.shape}"
    if "size" in kept:
        noun = f"{scene.size} {noun}"
    words = [_article(noun), noun]
    if "background" in kept:
        words += ["on", _article(scene.background), scene.background, "background"]
    if "position" in kept:
        words.append(PLACE_PHRASES[scene.position])
    return " ".join(words)


def random_caption_keep(rng: np.random.Generator, p: float = 0.6) -> tuple[str, ...]:
    """Optional attributes for one caption to mention, each kept with probability ``p``.

    Returns a subset of :data:`OPTIONAL_ATTRIBUTES` in that order, for :func:`caption`.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    draws = rng.random(len(OPTIONAL_ATTRIBUTES))
    return tuple(a for a, u in zip(OPTIONAL_ATTRIBUTES, draws, strict=True) if u < p)


_PHRASE_TO_PLACE = {phrase: place for place, phrase in PLACE_PHRASES.items()}


def parse_caption(text: str) -> dict[str, str]:
    """The attributes a caption names: the inverse of :func:`caption`.

    Returns a dict with ``colour`` and ``shape`` and, when named, ``size``, ``background`` and
    ``position`` (values as in the module's tables). Case, surrounding and repeated spaces
    and the choice of "a" or "an" are forgiven; anything else outside the grammar raises
    ``ValueError`` naming the word where reading stopped.
    """
    words = text.lower().split()
    found: dict[str, str] = {}
    i = 0

    def fail(expected: str) -> ValueError:
        got = repr(words[i]) if i < len(words) else "the end"
        return ValueError(f"caption {text!r}: expected {expected} at word {i + 1}, got {got}")

    def take(options: Iterable[str], expected: str) -> str:
        nonlocal i
        if i < len(words) and words[i] in options:
            i += 1
            return words[i - 1]
        raise fail(expected)

    take(("a", "an"), '"a" or "an"')
    if i < len(words) and words[i] in SIZES:
        found["size"] = take(SIZES, "a size")
    found["colour"] = take(COLOURS, "a colour")
    found["shape"] = take(SHAPES, "a shape")
    if words[i : i + 1] == ["on"] and words[i + 1 : i + 2] in (["a"], ["an"]):
        i += 2
        found["background"] = take(BACKGROUNDS, "a background colour")
        take(("background",), '"background"')
    if i < len(words):
        # Places are three or four words; the longer match wins ("at the top left").
        for length in (4, 3):
            place = _PHRASE_TO_PLACE.get(" ".join(words[i : i + length]))
            if place is not None:
                found["position"] = place
                i += length
                break
        else:
            raise fail("a place (e.g. 'in the centre', 'at the top left')")
    if i < len(words):
        raise fail("the end")
    return found
