"""Read a picture of one coloured shape back into words, from pixel statistics alone.

numpy and Pillow only (no torch, no learned weights): every decision is a measure and a
threshold you can print. It scores images drawn by ``builtin:shapes`` (which are blurry and
imperfect), so each step is chosen to survive blur, noise and lossy decoding.

Method, for an ``(H, W, 3)`` uint8 image (coordinates are fractions of width and height):

1. *Background*: the per-channel median CIELAB colour of a border band (2% of the side, at
   least one pixel); its name is the nearest entry of ``shapes.BACKGROUNDS`` in CIELAB.
2. *Foreground*: every pixel's CIELAB distance ``d`` from that background. The foreground's
   own distance ``D`` is the 90th percentile of ``d`` over the pixels farther than
   :data:`NOISE_FLOOR`; the mask keeps pixels with ``d > max(NOISE_FLOOR, D / 2)``, i.e. the
   half-way contour, which is where a blurred edge was before the blur. Of that mask only
   the largest 8-connected component is kept (speckles and stray blobs go), and its holes are
   filled. No component means no shape: every attribute but the background reads ``none``.
3. *Colour*: the median CIELAB colour of the shape's core (mask pixels with
   ``d >= 0.75 D``, so blurred edges mixed with the background do not count), named by the
   nearest entry of ``shapes.COLOURS``.
4. *Shape*: the outline's radius ``r(θ)`` around the mask's centroid, at 180 angles, where a
   soft map ``clip(d / D, 0, 1)`` (1 in filled holes, 0 away from the shape) first falls
   below 1/2 (bilinear sampling, sub-pixel). Its Fourier amplitudes ``a_k = |c_k| / c_0`` tell
   the symmetry: a triangle's outline repeats 3 times around the centre, a square's 4 times
   and a five-pointed star's 5 times, so only multiples of 3, 4 or 5 are large; a circle has
   none. The shape is the largest of ``a_3, a_4, a_5`` unless all are below
   :data:`CIRCLE_MAX`, then a circle. This ignores rotation and survives rounding of corners
   (blur lowers the amplitudes but not which one leads; drawn shapes show a_k ~0.14 for a
   square, ~0.27 for a triangle, ~0.31 for a star and below 0.02 for a circle). The fill
   ratio (area over bounding box: circle 0.785, square 1, triangle 0.5, star 0.38) is
   reported alongside; it is not used, because blur moves it more than the symmetry.
5. *Size*: the extent (larger bounding-box side): ``small`` below :data:`SIZE_SPLIT` of the
   side, ``large`` above (drawn at 0.30 and 0.56).
6. *Position*: the bounding-box centre on each axis against the two thresholds half-way
   between that size's nominal centres (``shapes.nominal_centre``: 0.25/0.5/0.75 when
   small, 0.30/0.5/0.70 when large); a column and a row make one of ``shapes.POSITIONS``.

Confidences are in [0, 1]: for colour and background ``1 - d1 / d2`` (``d1``, ``d2``: the
distances to the nearest and second-nearest palette entries); for shape the lead of the
winning score over the runner-up, relative to the winner (the circle's score is
:data:`CIRCLE_MAX`); for size and position the distance from the nearest threshold relative
to the distance between threshold and nominal value, capped at 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from training.shapes.dataset import (
    BACKGROUNDS,
    COLOURS,
    SIZE_FRACTIONS,
    nominal_centre,
    srgb_to_lab,
)

__all__ = [
    "CIRCLE_MAX",
    "NOISE_FLOOR",
    "NONE",
    "SIZE_SPLIT",
    "Reading",
    "classify",
    "foreground_mask",
    "hue_of",
    "hue_walk",
]

NONE = "none"
# CIELAB distances below this are noise, not shape (the palette's closest shape/background
# pair is ~43 apart, so a shape's core is always far above it).
NOISE_FLOOR = 12.0
# Largest symmetry amplitude a circle may show: drawn circles show < 0.02 even after blur,
# down-up resizing or JPEG, the weakest square ~0.13; a generated square with soft corners
# sits in between, so the split leans towards the circle.
CIRCLE_MAX = 0.05
# Extent splitting small (0.30) from large (0.56): their geometric mean.
SIZE_SPLIT = float(np.sqrt(SIZE_FRACTIONS["small"] * SIZE_FRACTIONS["large"]))

_SYMMETRIES = {"triangle": 3, "square": 4, "star": 5}
_ANGLES = 180
_COLOUR_LAB = {name: srgb_to_lab(rgb) for name, rgb in COLOURS.items()}
_BACKGROUND_LAB = {name: srgb_to_lab(rgb) for name, rgb in BACKGROUNDS.items()}
_PLACE_OF = {
    ("mid", "mid"): "centre",
    ("low", "mid"): "left",
    ("high", "mid"): "right",
    ("mid", "low"): "top",
    ("mid", "high"): "bottom",
    ("low", "low"): "top left",
    ("high", "low"): "top right",
    ("low", "high"): "bottom left",
    ("high", "high"): "bottom right",
}


@dataclass(frozen=True)
class Reading:
    """What :func:`classify` read, and the measures it read it from.

    Attribute values are names from ``training.shapes.dataset`` or :data:`NONE` when no shape was found.
    ``confidence``: attribute name -> [0, 1] (see the module docstring).
    Measures (fractions of width/height; all 0 when no shape was found): ``area`` (mask
    pixels over image pixels), ``extent`` (larger bounding-box side), ``centre`` (bounding-box
    centre x, y), ``centroid`` (x, y), ``fill`` (area over bounding box), ``symmetry``
    (``{3: a_3, 4: a_4, 5: a_5}``), ``background_distance`` (``D``, CIELAB distance of the
    shape's core from the background).
    """

    colour: str
    shape: str
    background: str
    position: str
    size: str
    confidence: dict[str, float] = field(default_factory=dict)
    area: float = 0.0
    extent: float = 0.0
    centre: tuple[float, float] = (0.0, 0.0)
    centroid: tuple[float, float] = (0.0, 0.0)
    fill: float = 0.0
    symmetry: dict[int, float] = field(default_factory=dict)
    background_distance: float = 0.0


@dataclass(frozen=True)
class _Segmentation:
    lab: np.ndarray  # (H, W, 3) CIELAB
    background_lab: np.ndarray  # (3,)
    distance: np.ndarray  # (H, W) CIELAB distance from the background
    foreground_distance: float  # D; 0 when nothing stands out
    mask: np.ndarray  # (H, W) bool: the shape, holes filled
    holes: np.ndarray  # (H, W) bool: pixels filled in as holes


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if min(image.shape[:2]) < 8:
        raise ValueError(f"image must be at least 8x8 pixels, got {image.shape[:2]}")
    return image


# --- connected components ----------------------------------------------------------------------


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of True: row, first column, one-past-last column (each ``(R,)``)."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    steps = np.diff(padded, axis=1)
    rows_start, starts = np.nonzero(steps == 1)
    _, ends = np.nonzero(steps == -1)
    # np.nonzero walks row by row, left to right, so starts and ends pair up in order.
    return rows_start, starts, ends


def _components(mask: np.ndarray, diagonal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Label connected components of ``mask`` (8-connected when ``diagonal``, else 4).

    Returns ``labels`` (int32, ``mask``'s shape, 0 = not in mask, components 1..n) and
    ``sizes`` (int64, ``(n + 1,)``, pixel counts; ``sizes[0] = 0``). Union-find over runs, so
    the cost follows the number of runs, not pixels.
    """
    rows, starts, ends = _runs(mask)
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    reach = 1 if diagonal else 0
    by_row: dict[int, list[int]] = {}
    for i, r in enumerate(rows.tolist()):
        by_row.setdefault(r, []).append(i)
    for r, current in by_row.items():
        above = by_row.get(r - 1, [])
        for i in current:
            for j in above:
                if starts[j] < ends[i] + reach and starts[i] < ends[j] + reach:
                    ri, rj = root(i), root(j)
                    if ri != rj:
                        parent[ri] = rj
    labels = np.zeros(mask.shape, dtype=np.int32)
    if not len(rows):
        return labels, np.zeros(1, dtype=np.int64)
    roots = np.array([root(i) for i in range(len(rows))], dtype=np.int64)
    _, run_label = np.unique(roots, return_inverse=True)
    run_label = run_label + 1
    for r, s, e, lab in zip(
        rows.tolist(), starts.tolist(), ends.tolist(), run_label.tolist(), strict=True
    ):
        labels[r, s:e] = lab
    sizes = np.zeros(run_label.max() + 1, dtype=np.int64)
    np.add.at(sizes, run_label, ends - starts)
    return labels, sizes


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, sizes = _components(mask, diagonal=True)
    if len(sizes) < 2:
        return np.zeros_like(mask)
    return labels == int(np.argmax(sizes))


def _holes(mask: np.ndarray) -> np.ndarray:
    """Pixels outside ``mask`` that cannot reach the image border without crossing it."""
    labels, sizes = _components(~mask, diagonal=False)
    border = np.unique(
        np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]).astype(np.int64)
    )
    outside = np.isin(labels, border)
    return ~mask & ~outside


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


# --- segmentation ------------------------------------------------------------------------------


def _segment(image: np.ndarray) -> _Segmentation:
    lab = srgb_to_lab(image)
    height, width = image.shape[:2]
    band = max(1, round(0.02 * min(height, width)))
    border = np.concatenate(
        [
            lab[:band].reshape(-1, 3),
            lab[-band:].reshape(-1, 3),
            lab[band:-band, :band].reshape(-1, 3),
            lab[band:-band, -band:].reshape(-1, 3),
        ]
    )
    background_lab = np.median(border, axis=0)
    distance = np.linalg.norm(lab - background_lab, axis=2)
    standing_out = distance > NOISE_FLOOR
    empty = np.zeros(image.shape[:2], dtype=bool)
    if not standing_out.any():
        return _Segmentation(lab, background_lab, distance, 0.0, empty, empty)
    foreground_distance = float(np.percentile(distance[standing_out], 90))
    threshold = max(NOISE_FLOOR, foreground_distance / 2.0)
    mask = _largest_component(distance > threshold)
    holes = _holes(mask)
    return _Segmentation(lab, background_lab, distance, foreground_distance, mask | holes, holes)


def foreground_mask(image: np.ndarray) -> np.ndarray:
    """The shape's pixels: bool ``(H, W)``, the largest blob far from the background.

    ``image``: ``(H, W, 3)`` uint8. See steps 1-2 of the module docstring. All False when
    nothing stands out from the background. Raises ``ValueError`` for a bad shape or dtype.
    """
    return _segment(_check_image(image)).mask


# --- measures ----------------------------------------------------------------------------------


def _nearest(value: np.ndarray, palette: dict[str, np.ndarray]) -> tuple[str, float]:
    names = list(palette)
    distances = np.array([np.linalg.norm(value - palette[n]) for n in names])
    order = np.argsort(distances)
    d1, d2 = distances[order[0]], distances[order[1]]
    return names[order[0]], float(1.0 - d1 / d2) if d2 > 0 else 0.0


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``image`` sampled at pixel coordinates (x, y), 0 outside."""
    padded = np.pad(image, 1)
    x = np.clip(x + 1.0, 0.0, padded.shape[1] - 1.001)
    y = np.clip(y + 1.0, 0.0, padded.shape[0] - 1.001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    return (
        padded[y0, x0] * (1 - fx) * (1 - fy)
        + padded[y0, x0 + 1] * fx * (1 - fy)
        + padded[y0 + 1, x0] * (1 - fx) * fy
        + padded[y0 + 1, x0 + 1] * fx * fy
    )


def _outline_radius(soft: np.ndarray, cx: float, cy: float, reach: float) -> np.ndarray:
    """Radius ``(A,)`` at which ``soft`` first falls below 1/2 along rays from (cx, cy).

    Rays are sampled every half pixel out to ``reach`` pixels (beyond which ``soft`` must be
    0); the crossing is interpolated linearly between samples.
    """
    angles = np.linspace(0.0, 2.0 * np.pi, _ANGLES, endpoint=False)
    step = 0.5
    radii = np.arange(0.0, reach + 2.0 * step, step)
    xs = cx + np.cos(angles)[:, None] * radii[None, :]
    ys = cy + np.sin(angles)[:, None] * radii[None, :]
    values = _bilinear(soft, xs, ys)
    below = values < 0.5
    below[:, -1] = True
    first = np.argmax(below, axis=1)
    previous = np.maximum(first - 1, 0)
    rows = np.arange(_ANGLES)
    v0, v1 = values[rows, previous], values[rows, first]
    fraction = np.where(v0 > v1, (v0 - 0.5) / np.maximum(v0 - v1, 1e-9), 0.0)
    return radii[previous] + step * np.clip(fraction, 0.0, 1.0)


def _symmetry(radius: np.ndarray) -> dict[int, float]:
    spectrum = np.abs(np.fft.rfft(radius)) / len(radius)
    mean = spectrum[0]
    return {k: float(2.0 * spectrum[k] / mean) if mean > 0 else 0.0 for k in (3, 4, 5)}


def _axis_place(value: float, low: float, high: float) -> tuple[str, float]:
    """``low``/``mid``/``high`` for a centre coordinate, with its confidence."""
    split_low, split_high = (low + 0.5) / 2.0, (high + 0.5) / 2.0
    half_gap = (0.5 - low) / 2.0
    if value < split_low:
        return "low", min(1.0, (split_low - value) / half_gap)
    if value > split_high:
        return "high", min(1.0, (value - split_high) / half_gap)
    return "mid", min(1.0, min(value - split_low, split_high - value) / half_gap)


# --- public ------------------------------------------------------------------------------------


def classify(image: np.ndarray) -> Reading:
    """Read colour, shape, background, position and size of the one shape in ``image``.

    ``image``: ``(H, W, 3)`` uint8, any size of at least 8x8 (positions and sizes are
    fractions of width and height). Never fails on content: an image with no shape reads
    :data:`NONE` for everything but the background. Raises ``ValueError`` for a bad shape or
    dtype.
    """
    # 1-2. Background and foreground.
    image = _check_image(image)
    seg = _segment(image)
    background, background_conf = _nearest(seg.background_lab, _BACKGROUND_LAB)
    mask = seg.mask
    if not mask.any():
        return Reading(NONE, NONE, background, NONE, NONE, {"background": background_conf})
    height, width = mask.shape
    ys, xs = np.nonzero(mask)

    # 3. Colour of the core.
    d = seg.foreground_distance
    core = mask & (seg.distance >= 0.75 * d) & ~seg.holes
    if not core.any():
        core = mask
    colour, colour_conf = _nearest(np.median(seg.lab[core], axis=0), _COLOUR_LAB)

    # 4. Shape from the outline's symmetry.
    cx, cy = float(xs.mean()), float(ys.mean())
    soft = np.clip(seg.distance / d, 0.0, 1.0)
    soft[seg.holes] = 1.0
    soft[~_dilate(mask, 2)] = 0.0
    reach = float(np.hypot(xs - cx, ys - cy).max()) + 3.0  # the dilation, and a pixel
    symmetry = _symmetry(_outline_radius(soft, cx, cy, reach))
    scores = {"circle": CIRCLE_MAX, **{s: symmetry[k] for s, k in _SYMMETRIES.items()}}
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)
    shape = ranked[0]
    shape_conf = 1.0 - scores[ranked[1]] / scores[shape]

    # 5. Size from the extent.
    x0, x1 = xs.min() / width, (xs.max() + 1) / width
    y0, y1 = ys.min() / height, (ys.max() + 1) / height
    extent = max(x1 - x0, y1 - y0)
    size = "small" if extent < SIZE_SPLIT else "large"
    size_conf = min(
        1.0, abs(np.log(extent / SIZE_SPLIT)) / np.log(SIZE_FRACTIONS["large"] / SIZE_SPLIT)
    )

    # 6. Position from the bounding-box centre.
    centre = ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
    low, _ = nominal_centre(size, "left")
    high, _ = nominal_centre(size, "right")
    column, column_conf = _axis_place(centre[0], low, high)
    row, row_conf = _axis_place(centre[1], low, high)

    area = float(mask.mean())
    box = (x1 - x0) * (y1 - y0)
    return Reading(
        colour=colour,
        shape=shape,
        background=background,
        position=_PLACE_OF[(column, row)],
        size=size,
        confidence={
            "colour": colour_conf,
            "shape": float(shape_conf),
            "background": background_conf,
            "position": float(min(column_conf, row_conf)),
            "size": float(size_conf),
        },
        area=area,
        extent=float(extent),
        centre=(float(centre[0]), float(centre[1])),
        centroid=(float((cx + 0.5) / width), float((cy + 0.5) / height)),
        fill=float(area / box) if box > 0 else 0.0,
        symmetry=symmetry,
        background_distance=d,
    )


def hue_of(image: np.ndarray) -> float:
    """Mean hue of the shape's core, in signed degrees ``(-180, 180]``.

    The hue of a pixel is the angle of its chroma vector ``(R - (G + B) / 2,
    sqrt(3) / 2 * (G - B))`` (the hexagon hue of HSV, made round): red 0, yellow 60, green 120,
    blue -120; for the palette red ~-3, orange ~30, yellow ~55, green ~128, blue ~-141,
    purple ~-68. The mean adds the vectors of the core pixels (those ``classify`` reads the
    colour from), so grey pixels weigh nothing, and a pixel-wise blend of two images moves the
    mean along a straight line in that plane: its hue changes monotonically. The cut at ±180
    lies at cyan, which no palette colour is near. Raises ``ValueError`` when no shape stands
    out, or when the shape has no colour (white, black, grey: mean chroma below 10 of 255).
    """
    seg = _segment(_check_image(image))
    if not seg.mask.any():
        raise ValueError("no shape stands out from the background, so it has no hue")
    core = seg.mask & (seg.distance >= 0.75 * seg.foreground_distance) & ~seg.holes
    rgb = np.asarray(image, dtype=np.float64)[core if core.any() else seg.mask]
    alpha = rgb[:, 0] - (rgb[:, 1] + rgb[:, 2]) / 2.0
    beta = np.sqrt(3.0) / 2.0 * (rgb[:, 1] - rgb[:, 2])
    mean_alpha, mean_beta = float(alpha.mean()), float(beta.mean())
    if np.hypot(mean_alpha, mean_beta) < 10.0:
        raise ValueError("the shape is grey, white or black, so it has no hue")
    return float(np.degrees(np.arctan2(mean_beta, mean_alpha)))


def hue_walk(hues) -> dict:
    """How steadily a sequence of frame hues (from :func:`hue_of`) moves from its first hue
    to its last: the figures and the verdict that issue 3's transition check uses.

    ``forward``: share of frame-to-frame steps that go the way of the whole walk (or back by
    under 2 degrees); ``max_jump``: the largest single step, against ``span``, the distance
    from first to last; ``correlation``: of hue with frame index, signed so that 1 is a
    straight walk the right way. ``steady`` when at least 80% of steps go forward, no step
    covers half the span or more, and the correlation is above 0.9.
    """
    hues = np.asarray(hues, dtype=np.float64)
    if hues.ndim != 1 or len(hues) < 3 or not np.isfinite(hues).all():
        raise ValueError("a hue walk needs three or more finite hues")
    span = float(hues[-1] - hues[0])
    way = 1.0 if span >= 0 else -1.0
    steps = np.diff(hues) * way
    forward = float((steps > -2.0).mean())
    max_jump = float(np.abs(steps).max())
    correlation = float(np.corrcoef(np.arange(len(hues)), hues)[0, 1] * way)
    return {
        "forward": round(forward, 3),
        "max_jump": round(max_jump, 1),
        "span": round(abs(span), 1),
        "correlation": round(correlation, 3),
        "steady": forward >= 0.8 and max_jump < 0.5 * abs(span) and correlation > 0.9,
    }
