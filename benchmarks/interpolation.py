"""Frame interpolation: motion-compensated flow against crossfade. Prints one JSON object.

For each prompt pair, on ``builtin:shapes``:

1. *Walk*: the slerp walk ``0: A / F-1: B`` rendered with ``--frames`` frames (the sparse
   render) and with ``(frames - 1) * factor + 1`` frames (the dense one: every frame
   rendered; its frame ``factor * k`` is the sparse render's frame ``k``, same latents and
   embeddings). The sparse frames are interpolated ``factor`` times by ``flow`` and by
   ``crossfade`` (``studio.media.retime.in_between``, what ``--interpolate-to`` and
   ``blend --fill`` use).
2. *Blend*: one transition with ``--frames`` diffusion frames (fill ``none``), its video
   frames between them made by both methods, as ``blend --fill flow|crossfade`` does.

Figures, per method and source:

- ``cv``: evenness, the coefficient of variation (std / mean) of 1 - SSIM between
  consecutive frames of the interpolated sequence (lower: steadier motion);
- ``ghosts``: ghosting, the mean over the interpolated frames of the share of the pixels
  where its two neighbouring rendered frames differ markedly (over 48 levels, Euclidean in
  RGB: a shape there in one, not in the other) whose colour lies between the two (projected
  on the line between them at 0.2 to 0.8 of the way, within 16 levels of it): a double
  image. A crossfade puts every such pixel there; a frame where the shape has moved puts
  each one at one end or the other;
- ``error`` (walk only): mean 1 - SSIM of the interpolated frames against the dense render's
  frames at the same positions (what rendering every frame would have shown).

    .venv/bin/python benchmarks/interpolation.py                 # the figures in docs/benchmarks.md
    .venv/bin/python benchmarks/interpolation.py --pairs 1       # a quick run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAIRS = (
    ("a large red circle on the left", "a large red circle on the right"),
    ("a blue square at the top left", "a blue square at the bottom right"),
    ("a yellow star at the top", "a yellow star at the bottom"),
    ("a red circle on a black background", "a blue square on a black background"),
)
METHODS = ("flow", "crossfade")
GHOST_LEVELS = 48.0


def ghost_share(frame: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Of the pixels where the neighbouring rendered frames ``a`` and ``b`` differ markedly
    (over 48 levels: one shows a shape's outline or body, the other something else), the
    share whose colour in ``frame`` lies between theirs: projected on the line from a to b
    at 0.2 to 0.8 of the way, and within 16 levels of that line (a double image)."""
    a, b, f = (x.astype(np.float64) for x in (a, b, frame))
    d = b - a
    norm2 = (d**2).sum(axis=-1)
    marked = norm2 > GHOST_LEVELS**2
    if not marked.any():
        return 0.0
    lam = ((f - a) * d).sum(axis=-1) / np.maximum(norm2, 1e-9)
    off = np.sqrt(((f - a - lam[..., None] * d) ** 2).sum(axis=-1))
    ghost = marked & (lam > 0.2) & (lam < 0.8) & (off < 16)
    return float(ghost.sum() / marked.sum())


def interpolate(sources: list[np.ndarray], factor: int, method: str) -> list[np.ndarray]:
    """``factor - 1`` frames between each pair of ``sources``, evenly spaced."""
    from studio.media.retime import in_between

    out = []
    for a, b in zip(sources, sources[1:], strict=False):
        maker = in_between(a, b, method)
        out += [a] + [maker.at(i / factor) for i in range(1, factor)]
    return [*out, sources[-1]]


def figures(frames: list[np.ndarray], factor: int, dense: list[np.ndarray] | None) -> dict:
    from studio.media.perceptual import (
        coefficient_of_variation,
        consecutive_distances,
        ssim_distance,
    )

    distances = consecutive_distances(frames)
    ratios, errors = [], []
    for i, frame in enumerate(frames):
        if i % factor == 0:
            continue
        k = i - i % factor
        ratios.append(ghost_share(frame, frames[k], frames[k + factor]))
        if dense is not None:
            errors.append(ssim_distance(frame, dense[i]))
    out = {
        "cv": round(coefficient_of_variation(distances), 4),
        "max_distance": round(float(distances.max()), 4),
        "ghosts": round(float(np.mean(ratios)), 3),
    }
    if dense is not None:
        out["error"] = round(float(np.mean(errors)), 4)
    return out


def measure(args, manager, a: str, b: str, work: Path) -> dict:
    from studio.animation.render import render_animation
    from studio.blend.render import render_blend
    from studio.media.perceptual import coefficient_of_variation, consecutive_distances
    from studio.media.readers import read_frames
    from studio.spec import (
        AnimationSettings,
        AnimationSpec,
        BlendKeyframe,
        BlendOutputSettings,
        BlendPromptSettings,
        BlendSettings,
        BlendSpec,
        DiffusionSettings,
        OutputSettings,
        PromptSettings,
    )

    diffusion = DiffusionSettings(
        model=args.model,
        steps=args.steps,
        guidance=args.guidance,
        width=args.size,
        height=args.size,
        seed=args.seed,
        device=args.device,
    )
    dense_count = (args.frames - 1) * args.factor + 1

    def walk(frames: int, name: str) -> list[np.ndarray]:
        spec = AnimationSpec(
            prompts=PromptSettings(schedule=f"0: {a}\n{frames - 1}: {b}"),
            diffusion=diffusion,
            animation=AnimationSettings(fps=12, batch_size=args.batch),
            output=OutputSettings(format="png"),
        )
        result = render_animation(spec, work / name, manager=manager)
        return list(read_frames(result.outputs[0].path))

    start = time.perf_counter()
    sparse = walk(args.frames, "sparse")
    dense = walk(dense_count, "dense")
    blend_spec = BlendSpec(
        prompts=BlendPromptSettings(keyframes=(BlendKeyframe(a), BlendKeyframe(b))),
        diffusion=diffusion,
        blend=BlendSettings(setup="auto", diffusion_frames=args.frames),
        output=BlendOutputSettings(fps=12, fill="none", format="png"),
    )
    result = render_blend(blend_spec, work / "blend", manager=manager)
    blend = list(read_frames(result.outputs[0].path))
    rendered = time.perf_counter() - start

    report: dict = {"prompts": [a, b], "render_seconds": round(rendered, 1)}
    dense_cv = coefficient_of_variation(consecutive_distances(dense))
    report["walk"] = {"dense_cv": round(dense_cv, 4)}
    report["blend"] = {}
    for method in METHODS:
        start = time.perf_counter()
        frames = interpolate(sparse, args.factor, method)
        seconds = time.perf_counter() - start
        made = len(frames) - len(sparse)
        report["walk"][method] = {
            **figures(frames, args.factor, dense),
            "ms_per_frame": round(1000 * seconds / made, 1),
        }
        report["blend"][method] = figures(
            interpolate(blend, args.factor, method), args.factor, None
        )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="builtin:shapes")
    parser.add_argument("--frames", type=int, default=5, help="rendered frames per pair")
    parser.add_argument("--factor", type=int, default=4, help="output frames per rendered one")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, help="default: the model's own")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=len(PAIRS), help="prompt pairs to measure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=5, help="the walks' batch size")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.guidance is None:
        from studio.pipeline.builtin import recommended_guidance

        args.guidance = recommended_guidance(args.model)

    from studio.pipeline.builtin import builtin_folder
    from studio.pipeline.models import ModelManager

    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        manager = ModelManager(cache_dir=work / "models")
        if args.model.startswith("builtin:"):
            builtin_folder(args.model.removeprefix("builtin:"), work / "models")
        for i, (a, b) in enumerate(PAIRS[: args.pairs]):
            pairs.append(measure(args, manager, a, b, work / str(i)))
    summary = {}
    for source in ("walk", "blend"):
        for method in METHODS:
            rows = [p[source][method] for p in pairs]
            summary[f"{source}_{method}"] = {
                key: round(float(np.mean([r[key] for r in rows])), 4) for key in rows[0]
            }
    settings = {k: v for k, v in vars(args).items() if k != "device"}
    print(json.dumps({"settings": settings, "pairs": pairs, "mean": summary}, indent=2))


if __name__ == "__main__":
    main()
