"""What latent blending saves, and how evenly its transitions move. Prints one JSON object.

1. *Cost*: the tree for ``--frames`` diffusion frames at ``--steps`` steps (preset ``high`` by
   default: 25 frames) against rendering every frame from scratch. Target: at most 1/5.
2. *Evenness*, on ``builtin:shapes``: for each prompt pair, one blend transition (fill
   ``none``: every video frame is a diffusion frame) and one plain slerp walk
   (``studio.animation.render`` on the two-keyframe schedule ``0: A / F-1: B``: latents and
   embeddings slerped, every frame rendered from scratch) with the same frame count, seeds,
   scheduler, steps and guidance. For each: the distances 1 - SSIM between consecutive
   frames, and their coefficient of variation (std / mean). Target: the blend's CV lower
   than the walk's. The denoise steps are counted by the renders, not predicted.

    .venv/bin/python benchmarks/blend_speed.py                   # the figures in README
    .venv/bin/python benchmarks/blend_speed.py --pairs 1 --model builtin:tiny   # a quick run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAIRS = (
    ("a red circle on a black background", "a blue square on a black background"),
    ("a large yellow star on a blue background", "a small green triangle on a white background"),
    ("a purple square at the top left", "an orange circle at the bottom right"),
    ("a white triangle on a gray background", "a red star on a green background"),
)


def cost(frames: int, steps: int, depth: float) -> dict:
    from studio.blend.tree import auto_tree

    tree = auto_tree(steps, frames, depth)
    blend, scratch = tree.movie_denoise_steps(2), tree.scratch_denoise_steps(2)
    return {
        "diffusion_frames": frames,
        "steps": steps,
        "depth_strength": depth,
        "levels": [[lv.branches, lv.injection_step] for lv in tree.levels],
        "blend_denoise_steps": blend,
        "scratch_denoise_steps": scratch,
        "ratio": round(blend / scratch, 4),
        "target_ratio": 0.2,
        "meets_target": blend * 5 <= scratch,
    }


def evenness(args, manager, a: str, b: str, seed: int, work: Path) -> dict:
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
        scheduler=args.scheduler,
        width=args.size,
        height=args.size,
        seed=seed,
        device=args.device,
    )
    blend_spec = BlendSpec(
        prompts=BlendPromptSettings(keyframes=(BlendKeyframe(a), BlendKeyframe(b))),
        diffusion=diffusion,
        blend=BlendSettings(setup="auto", diffusion_frames=args.frames, depth_strength=args.depth),
        output=BlendOutputSettings(fps=12, fill="none", format="png"),
    )
    walk_spec = AnimationSpec(
        prompts=PromptSettings(schedule=f"0: {a}\n{args.frames - 1}: {b}"),
        diffusion=diffusion,  # keyframe seeds seed, seed + 1: the blend's too
        animation=AnimationSettings(fps=12, interpolation="slerp", batch_size=args.batch),
        output=OutputSettings(format="png"),
    )
    out = {}
    for name, spec, engine in (
        ("blend", blend_spec, render_blend),
        ("walk", walk_spec, render_animation),
    ):
        start = time.perf_counter()
        result = engine(spec, work / f"{name}-{seed}", manager=manager)
        seconds = time.perf_counter() - start
        frames = list(read_frames(result.outputs[0].path))
        distances = consecutive_distances(frames)
        out[name] = {
            "frames": len(frames),
            "denoise_steps": result.denoise_steps,
            "seconds": round(seconds, 2),
            "cv": round(coefficient_of_variation(distances), 4),
            "mean_distance": round(float(distances.mean()), 4),
            "max_distance": round(float(distances.max()), 4),
        }
    out["blend_more_even"] = out["blend"]["cv"] < out["walk"]["cv"]
    return {"prompts": [a, b], "seed": seed, **out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="builtin:shapes")
    parser.add_argument("--frames", type=int, default=25, help="diffusion frames per transition")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--depth", type=float, default=0.5, help="depth strength")
    parser.add_argument("--guidance", type=float, help="default: the model's own")
    parser.add_argument("--scheduler", default="ddim")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=len(PAIRS), help="prompt pairs to measure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=5, help="the walk's batch size")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-render", action="store_true", help="only the cost figures")
    args = parser.parse_args()
    if args.guidance is None:
        from studio.pipeline.builtin import recommended_guidance

        args.guidance = recommended_guidance(args.model)

    report: dict = {"cost": cost(args.frames, args.steps, args.depth)}
    if not args.no_render:
        from studio.errors import ModelLoadError
        from studio.pipeline.builtin import builtin_folder
        from studio.pipeline.models import LoadOptions, ModelManager

        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            manager = ModelManager(cache_dir=work / "models")
            try:
                if args.model.startswith("builtin:"):
                    builtin_folder(args.model.removeprefix("builtin:"), work / "models")
                # Loaded before the clocks start, so neither render pays for it.
                manager.load(args.model, LoadOptions(device=args.device))
            except ModelLoadError as exc:
                report["evenness"] = {"skipped": str(exc)}
            else:
                runs = [
                    evenness(args, manager, a, b, args.seed + 2 * i, work)
                    for i, (a, b) in enumerate(PAIRS[: args.pairs])
                ]
                mean = {
                    name: round(sum(r[name]["cv"] for r in runs) / len(runs), 4)
                    for name in ("blend", "walk")
                }
                report["evenness"] = {
                    "model": args.model,
                    "steps": args.steps,
                    "guidance": args.guidance,
                    "scheduler": args.scheduler,
                    "runs": runs,
                    "mean_cv": mean,
                    "pairs_more_even": sum(r["blend_more_even"] for r in runs),
                    "meets_target": mean["blend"] < mean["walk"],
                }
                counted = runs[0]["blend"]["denoise_steps"]
                report["cost"]["counted_blend_denoise_steps"] = counted
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
