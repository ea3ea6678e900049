"""What latent blending saves, and how evenly its transitions move. Prints one JSON object.

1. *Presets* (plan only, no model): per preset, the tree at ``--steps`` steps and
   ``--depth`` depth strength, its denoise steps for a two-prompt movie against rendering
   every diffusion frame from scratch, and the ratio. Target: ``high`` (25 frames) at most
   1/6. Also the tree ``high`` had before issue 27 (every level's own steps half the level
   before's, rounded to nearest: 15, 8, 4, 2, 1): ``high-before``.
2. *Evenness* (``--render``), on ``builtin:shapes``: for each preset in ``--presets`` and each
   prompt pair, one blend transition (fill ``none``: every video frame is a diffusion frame):
   the distances 1 - SSIM between consecutive frames and their coefficient of variation
   (std / mean; lower is more even), with the denoise steps the render counted and its
   wall time, and its ghosting (``measure``: how much of the change looks like a
   crossfade; lower is cleaner). ``--one-at-a-time`` renders each of them a second time
   with one branch per UNet call (the engine before issue 27), runs alternating after one
   untimed warm-up render, and prints the speed ratio per run and over all (total seconds
   one at a time over total seconds batched).
3. *Against a plain walk* (``--walk``): the same pairs as an animation's slerp walk
   (``0: A / F-1: B``, every frame from scratch) with the same frame count, seeds, scheduler,
   steps and guidance. Target: the blend's CV lower than the walk's.

    .venv/bin/python benchmarks/blend_speed.py                          # the preset table
    .venv/bin/python benchmarks/blend_speed.py --render --pairs 2       # + evenness per preset
    .venv/bin/python benchmarks/blend_speed.py --render --presets high high-before --walk
    .venv/bin/python benchmarks/blend_speed.py --render --pairs 1 --model builtin:tiny
    .venv/bin/python benchmarks/blend_speed.py --render --presets high --pair 3   # one pair
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # interpolation.ghost_share

PAIRS = (
    ("a red circle on a black background", "a blue square on a black background"),
    ("a large yellow star on a blue background", "a small green triangle on a white background"),
    ("a purple square at the top left", "an orange circle at the bottom right"),
    ("a white triangle on a gray background", "a red star on a green background"),
)
TARGET = {"high": 1 / 6}  # most denoise steps against scratch, per preset


def tree_of(name: str, steps: int, depth: float):
    """The tree of preset ``name``; ``high-before``: the 25-frame tree before issue 27."""
    from studio.blend.tree import BlendTree, TreeLevel, auto_tree, preset_tree

    if name != "high-before":
        return preset_tree(name, steps, depth)
    # The rule until issue 27: own steps of level l = max(1, round(first_own / 2**(l-1))).
    first = auto_tree(steps, 3, depth).levels[0].injection_step
    merged: dict[int, int] = {}
    left, width, level = 23, 1, 0
    while left:
        own = max(1, round((steps - first) / 2**level))
        take = min(width, left)
        merged[steps - own] = merged.get(steps - own, 0) + take
        left, width, level = left - take, width * 2, level + 1
    return BlendTree(steps, tuple(TreeLevel(b, k) for k, b in sorted(merged.items())))


def preset_table(names: list[str], steps: int, depth: float) -> list[dict]:
    rows = []
    for name in names:
        tree = tree_of(name, steps, depth)
        blend, scratch = tree.movie_denoise_steps(2), tree.scratch_denoise_steps(2)
        target = TARGET.get(name)
        rows.append(
            {
                "preset": name,
                "diffusion_frames": tree.diffusion_frames,
                "levels": [[lv.branches, lv.injection_step] for lv in tree.levels],
                "blend_denoise_steps": blend,
                "scratch_denoise_steps": scratch,
                "ratio": round(blend / scratch, 4),
                "target_ratio": None if target is None else round(target, 4),
                "meets_target": None if target is None else blend <= target * scratch,
            }
        )
    return rows


def diffusion_settings(args, seed: int):
    from studio.spec import DiffusionSettings

    return DiffusionSettings(
        model=args.model,
        steps=args.steps,
        guidance=args.guidance,
        scheduler=args.scheduler,
        width=args.size,
        height=args.size,
        seed=seed,
        device=args.device,
    )


def blend_spec(args, name: str, a: str, b: str, seed: int):
    from studio.spec import (
        BlendKeyframe,
        BlendOutputSettings,
        BlendPromptSettings,
        BlendSettings,
        BlendSpec,
    )

    tree = tree_of(name, args.steps, args.depth)
    return BlendSpec(
        prompts=BlendPromptSettings(keyframes=(BlendKeyframe(a), BlendKeyframe(b))),
        diffusion=diffusion_settings(args, seed),
        blend=BlendSettings(
            setup="manual",
            branches=tuple(lv.branches for lv in tree.levels),
            injection_steps=tuple(lv.injection_step for lv in tree.levels),
        ),
        output=BlendOutputSettings(fps=12, fill="none", format="png"),
    )


def measure(frames_path: str) -> dict:
    """Evenness of one transition's frames, and its ghosting: the mean over the in-between
    frames of ``interpolation.ghost_share`` against the two keyframes (of the pixels where
    the keyframes differ markedly, the share that sits between them, as a crossfade's do)."""
    from interpolation import ghost_share

    from studio.media.perceptual import coefficient_of_variation, consecutive_distances
    from studio.media.readers import read_frames

    frames = list(read_frames(frames_path))
    distances = consecutive_distances(frames)
    ghosts = [ghost_share(f, frames[0], frames[-1]) for f in frames[1:-1]]
    return {
        "frames": len(frames),
        "cv": round(coefficient_of_variation(distances), 4),
        "mean_distance": round(float(distances.mean()), 4),
        "max_distance": round(float(distances.max()), 4),
        "ghosting": round(sum(ghosts) / len(ghosts), 4),
    }


def pair_indices(args) -> list[int]:
    """The prompt pairs to render: ``--pair`` (one each, e.g. one per process), else the
    first ``--pairs``."""
    return args.pair if args.pair else list(range(args.pairs))


def render_blends(args, manager, work: Path) -> dict:
    from studio.blend.render import render_blend

    out: dict = {}
    if args.one_at_a_time:  # the first render pays for lazy set-up: not timed
        i = pair_indices(args)[0]
        spec = blend_spec(args, args.presets[0], *PAIRS[i], args.seed + 2 * i)
        render_blend(spec, work / "warm-up", manager=manager)
    for name in args.presets:
        runs = []
        for i in pair_indices(args):
            a, b = PAIRS[i]
            seed = args.seed + 2 * i
            spec = blend_spec(args, name, a, b, seed)
            modes = [("batched", None), ("one_at_a_time", 1)] if args.one_at_a_time else []
            modes = modes or [("batched", None)]
            run: dict = {"prompts": [a, b], "seed": seed}
            for repeat in range(args.repeats):
                for mode, batch in modes:  # alternating: batched, one at a time, batched, ...
                    kwargs = {} if batch is None else {"branch_batch": batch}
                    folder = work / f"{name}-{i}-{mode}-{repeat}"
                    start = time.perf_counter()
                    result = render_blend(spec, folder, manager=manager, **kwargs)
                    seconds = time.perf_counter() - start
                    if mode not in run:
                        run[mode] = measure(result.outputs[0].path)
                    facts = run[mode]
                    facts["denoise_steps"] = result.denoise_steps
                    facts.setdefault("seconds", []).append(round(seconds, 2))
            if args.one_at_a_time:
                pairs = zip(run["one_at_a_time"]["seconds"], run["batched"]["seconds"], strict=True)
                run["speedup"] = [round(o / b, 3) for o, b in pairs]
            runs.append(run)
        out[name] = {
            "runs": runs,
            "mean_cv": round(sum(r["batched"]["cv"] for r in runs) / len(runs), 4),
            "mean_ghosting": round(sum(r["batched"]["ghosting"] for r in runs) / len(runs), 4),
            "denoise_steps": runs[0]["batched"]["denoise_steps"],
        }
        if args.one_at_a_time:
            total = {
                m: sum(sum(r[m]["seconds"]) for r in runs) for m in ("batched", "one_at_a_time")
            }
            out[name]["speedup"] = round(total["one_at_a_time"] / total["batched"], 3)
    return out


def walk_evenness(args, manager, work: Path) -> dict:
    from studio.animation.render import render_animation
    from studio.spec import AnimationSettings, AnimationSpec, OutputSettings, PromptSettings

    frames = tree_of("high", args.steps, args.depth).diffusion_frames
    runs = []
    for i in pair_indices(args):
        a, b = PAIRS[i]
        seed = args.seed + 2 * i
        spec = AnimationSpec(
            prompts=PromptSettings(schedule=f"0: {a}\n{frames - 1}: {b}"),
            diffusion=diffusion_settings(args, seed),  # keyframe seeds seed, seed + 1
            animation=AnimationSettings(fps=12, interpolation="slerp", batch_size=args.batch),
            output=OutputSettings(format="png"),
        )
        result = render_animation(spec, work / f"walk-{i}", manager=manager)
        runs.append({"seed": seed, **measure(result.outputs[0].path)})
    return {"runs": runs, "mean_cv": round(sum(r["cv"] for r in runs) / len(runs), 4)}


def main() -> None:
    from studio.spec import BLEND_PRESETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="builtin:shapes")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--depth", type=float, default=0.5, help="depth strength")
    parser.add_argument("--guidance", type=float, help="default: the model's own")
    parser.add_argument("--scheduler", default="ddim")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--render", action="store_true", help="render: evenness per preset")
    parser.add_argument(
        "--presets",
        nargs="+",
        default=[*BLEND_PRESETS, "high-before"],
        help="presets to render (and high-before: the 25-frame tree before issue 27)",
    )
    parser.add_argument("--pairs", type=int, default=2, help="prompt pairs to render")
    parser.add_argument(
        "--pair",
        type=int,
        nargs="+",
        choices=range(len(PAIRS)),
        help="render only these pairs (0-3) instead of the first --pairs",
    )
    parser.add_argument("--one-at-a-time", action="store_true", help="also unbatched, timed")
    parser.add_argument("--repeats", type=int, default=1, help="timed renders per mode")
    parser.add_argument("--walk", action="store_true", help="also the plain slerp walk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=5, help="the walk's batch size")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.guidance is None:
        from studio.pipeline.builtin import recommended_guidance

        args.guidance = recommended_guidance(args.model)

    report: dict = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "steps": args.steps,
        "depth_strength": args.depth,
        "presets": preset_table([*BLEND_PRESETS, "high-before"], args.steps, args.depth),
    }
    if args.render or args.walk:
        from studio.pipeline.builtin import builtin_folder
        from studio.pipeline.models import LoadOptions, ModelManager

        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            manager = ModelManager(cache_dir=work / "models")
            if args.model.startswith("builtin:"):
                builtin_folder(args.model.removeprefix("builtin:"), work / "models")
            # Loaded before the clocks start, so no render pays for it.
            manager.load(args.model, LoadOptions(device=args.device))
            settings = {"model": args.model, "guidance": args.guidance, "size": args.size}
            report["render"] = {**settings, "scheduler": args.scheduler}
            if args.render:
                report["evenness"] = render_blends(args, manager, work)
            if args.walk:
                report["walk"] = walk_evenness(args, manager, work)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
