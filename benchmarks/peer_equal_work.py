"""Equal work against stable-diffusion-videos' walk: frames per second, the studio over the peer.

Both render the same two-prompt walk on the SAME loaded components of ``builtin:shapes``
(the studio's model manager loads the pipeline once; its VAE, text encoder, tokenizer and
UNet are handed to the peer's ``StableDiffusionWalkPipeline`` with a DDIM scheduler made
from the same config), in one process, runs alternating (peer, studio, studio, peer, ...),
at each batch size. Equal work: the same frames, steps, guidance (every step guided:
``guidance_stop`` 0), lerped text embeddings and slerped noise, PNG frames written to disk
(what ``make_clip_frames`` writes). Prints one JSON object with every run's seconds and,
per batch size, ``ratio``: the studio's median frames/s over the peer's (target >= 1.0),
and ``outside_model_cpu_ms``: each renderer's CPU outside the shared UNet, VAE and text
encoder calls (``ModelCPU``; exact with ``--threads 1``), where the two differ.

The peer (stable-diffusion-videos 0.9.2) is never committed here: the script unpacks its
wheel into a temporary folder at run time (``--peer-wheel``, fetched beforehand with
``pip download --no-deps stable-diffusion-videos==0.9.2 -d /tmp/peer``), or imports it from
``--peer-dir``. Its imports this environment lacks (torchvision, cv2, transformers'
``CLIPFeatureExtractor``) are stubbed, as nothing on the measured path uses them. If the
peer cannot be loaded, the script says why and exits 2.

    python benchmarks/peer_equal_work.py                       # 128 px, 16 frames, 10 steps
    python benchmarks/peer_equal_work.py --size 64 --frames 8 --steps 4 --repeats 2
    python benchmarks/peer_equal_work.py --studio-defaults     # DDIM 20 all-guided vs the defaults

``--studio-defaults``: not equal work but equal quality. The peer draws what the quality
reference is (DDIM, ``--steps`` 20, every step guided); the studio renders with its own
defaults for ``builtin:shapes`` (the same 20 DDIM steps and guidance, and its default
``guidance_stop``, 0.2: the steps under timestep 200 unguided), at the same batch sizes and
at its default batch size (4; ``--studio-batch N`` for another) against each of the peer's:
``studio 4, peer 1`` is the studio's defaults against the peer's (batch 1). Whether the defaults keep
the quality is the shapes benchmark's to say (``shapes_quality.py --guidance-stop 0`` against
its default, 0.2; docs/benchmarks.md).

On a machine shared with other work, ``--threads 1``: torch's two OpenMP threads on two busy
cores wait on each other at every operation (a 1M-parameter UNet call went from 0.15 s to
11 s at a load of 17), which buries any difference between the two renderers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import types
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_WHEEL = Path("/tmp/peer/stable_diffusion_videos-0.9.2-py3-none-any.whl")
PROMPTS = ("a red circle", "a blue square")


def load_peer(peer_dir: Path | None, wheel: Path, unpack_to: Path) -> type:
    """The peer's ``StableDiffusionWalkPipeline`` class; exits 2 saying why it cannot load."""
    if peer_dir is None:
        if not wheel.is_file():
            sys.exit(_fail(f"no peer wheel at {wheel}: run pip download (see --help)"))
        with zipfile.ZipFile(wheel) as z:
            z.extractall(unpack_to)
        peer_dir = unpack_to
    # diffusers reads which optional packages exist when it is imported: import it (and the
    # classes the peer takes from it) before the stubs, so it does not see them.
    import diffusers.pipelines.stable_diffusion.safety_checker  # noqa: F401
    import transformers
    from diffusers import DiffusionPipeline  # noqa: F401
    from diffusers.models import AutoencoderKL, UNet2DConditionModel  # noqa: F401

    stubs = {
        "torchvision": {},
        "torchvision.io": {"write_video": None},  # the peer's video writer: not measured
        "torchvision.transforms": {},
        "torchvision.transforms.functional": {"pil_to_tensor": None},
        "cv2": {},  # its upscaler's import: not measured
    }
    for name, attrs in stubs.items():
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
    if not hasattr(transformers, "CLIPFeatureExtractor"):  # renamed in transformers 4.x
        transformers.CLIPFeatureExtractor = transformers.CLIPImageProcessor
    sys.path.insert(0, str(peer_dir))
    try:
        from stable_diffusion_videos.stable_diffusion_pipeline import (
            StableDiffusionWalkPipeline,
        )
    except Exception as exc:  # any import failure: say it and stop
        sys.exit(_fail(f"could not import the peer from {peer_dir}: {exc!r}"))
    return StableDiffusionWalkPipeline


def _fail(message: str) -> int:
    print(f"peer_equal_work: {message}", file=sys.stderr)
    return 2


def peer_pipe(walk_class: type, pipe):
    """The peer's pipeline on ``pipe``'s own components (no copies), with a DDIM scheduler."""
    from diffusers import DDIMScheduler

    return walk_class(
        vae=pipe.vae,
        text_encoder=pipe.text_encoder,
        tokenizer=pipe.tokenizer,
        unet=pipe.unet,
        scheduler=DDIMScheduler.from_config(pipe.scheduler.config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def run_peer(walk, args, batch: int, out: Path) -> None:
    walk.set_progress_bar_config(disable=True)
    walk.make_clip_frames(
        PROMPTS[0],
        PROMPTS[1],
        1,
        2,
        num_interpolation_steps=args.frames,
        save_path=out,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        height=args.size,
        width=args.size,
        batch_size=batch,
    )


def run_studio(manager, args, batch: int, out: Path) -> None:
    """The same walk through ``render_animation``; with ``--studio-defaults`` the diffusion
    settings the spec leaves at their defaults (the guidance stop) stay so."""
    from studio.animation.render import render_animation
    from studio.spec import (
        AnimationSettings,
        AnimationSpec,
        DiffusionSettings,
        OutputSettings,
        PromptSettings,
    )

    equal = {} if args.studio_defaults else {"guidance_stop": 0.0}  # every step guided
    spec = AnimationSpec(
        prompts=PromptSettings(schedule=f"0: {PROMPTS[0]}\n{args.frames - 1}: {PROMPTS[1]}"),
        diffusion=DiffusionSettings(
            model="builtin:shapes",
            scheduler="ddim",
            steps=args.steps,
            guidance=args.guidance,
            width=args.size,
            height=args.size,
            **equal,
        ),
        animation=AnimationSettings(fps=24, batch_size=batch, interpolation="lerp"),
        output=OutputSettings(format="png"),
    )
    render_animation(spec, out, manager=manager)


class ModelCPU:
    """CPU seconds of the calling thread inside the shared components' calls (the UNet, the
    VAE's decode, the text encoder), whichever renderer makes them: a run's CPU seconds less
    these are its own work outside the model (exact with ``--threads 1``: torch's other
    threads are not the caller's)."""

    def __init__(self, pipe) -> None:
        self.seconds = 0.0
        for module, name in (
            (pipe.unet, "forward"),
            (pipe.vae, "decode"),
            (pipe.text_encoder, "forward"),
        ):
            setattr(module, name, self._timed(getattr(module, name)))

    def _timed(self, call):
        def timed_call(*args, **kwargs):
            began = time.thread_time()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.thread_time() - began

        return timed_call


def timed(run, batch: int, out: Path, model: ModelCPU) -> tuple[float, float, float]:
    """Wall and CPU seconds (all threads) of one run, and its CPU seconds outside the model:
    on a shared machine the CPU time is the steadier figure, the wall time the one a user
    sees."""
    wall, cpu, in_model = time.perf_counter(), time.process_time(), model.seconds
    run(batch, out)
    cpu = time.process_time() - cpu
    return time.perf_counter() - wall, cpu, cpu - (model.seconds - in_model)


def compare(args, seconds, peer_batch: int, studio_batch: int) -> dict:
    """The peer at ``peer_batch`` against the studio at ``studio_batch``: median frames/s
    (wall) and their ratio, the CPU ratio (peer CPU s over studio CPU s) and every run."""
    runs = {"peer": seconds["peer"][peer_batch], "studio": seconds["studio"][studio_batch]}
    fps = {k: args.frames / statistics.median(r[0] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
    return {
        "peer_fps": round(fps["peer"], 4),
        "studio_fps": round(fps["studio"], 4),
        "ratio": round(fps["studio"] / fps["peer"], 3),
        "cpu_ratio": round(cpu["peer"] / cpu["studio"], 3),  # peer CPU s / studio CPU s
        "wall_seconds": {k: [round(r[0], 2) for r in v] for k, v in runs.items()},
        "cpu_seconds": {k: [round(r[1], 2) for r in v] for k, v in runs.items()},
        # CPU outside the UNet, VAE and text encoder, median ms a run (ModelCPU)
        "outside_model_cpu_ms": {
            k: round(1000 * statistics.median(r[2] for r in v), 1) for k, v in runs.items()
        },
    }


def studio_guidance_stop(args) -> float:
    """The guidance stop the studio's runs used (the spec's default with --studio-defaults)."""
    from studio.spec import DiffusionSettings

    return DiffusionSettings().guidance_stop if args.studio_defaults else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, help="default 10; 20 with --studio-defaults")
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-dir", type=Path, help="an unpacked stable-diffusion-videos")
    parser.add_argument("--peer-wheel", type=Path, default=DEFAULT_WHEEL)
    parser.add_argument(
        "--threads", type=int, help="torch's CPU threads (a busy machine: 1 gives steady figures)"
    )
    parser.add_argument(
        "--studio-defaults",
        action="store_true",
        help="the studio at its defaults (guidance stop) against the peer all-guided",
    )
    parser.add_argument(
        "--studio-batch",
        type=int,
        help="also the studio at this batch size against the peer at each of --batch-sizes",
    )
    args = parser.parse_args()
    if args.steps is None:
        args.steps = 20 if args.studio_defaults else 10
    if args.studio_defaults and args.studio_batch is None:
        from studio.spec import AnimationSettings

        args.studio_batch = AnimationSettings().batch_size  # the studio's default, 4

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from studio.pipeline.models import ModelManager

    with tempfile.TemporaryDirectory(prefix="peer-") as tmp:
        walk_class = load_peer(args.peer_dir, args.peer_wheel, Path(tmp) / "peer")
        manager = ModelManager(cache_dir=Path(tempfile.gettempdir()) / "studio-bench-cache")
        pipe = manager.load("builtin:shapes").pipe
        walk = peer_pipe(walk_class, pipe)
        model = ModelCPU(pipe)
        runners = {
            "peer": lambda b, out: run_peer(walk, args, b, out),
            "studio": lambda b, out: run_studio(manager, args, b, out),
        }
        seconds: dict[str, dict[int, list[tuple[float, float, float]]]] = {k: {} for k in runners}
        studio_batches = sorted(
            {*args.batch_sizes, *([args.studio_batch] * bool(args.studio_batch))}
        )
        batches = {"peer": args.batch_sizes, "studio": studio_batches}
        with torch.no_grad():
            for name, run in runners.items():  # one warm-up of each, not counted
                for b in batches[name]:
                    run(b, Path(tmp) / f"warm-{name}-{b}")
            for r in range(args.repeats):
                order = ["peer", "studio"] if r % 2 == 0 else ["studio", "peer"]
                for b in studio_batches:
                    for name in order:
                        if b in batches[name]:
                            out = Path(tmp) / f"{name}-{b}-{r}"
                            seconds[name].setdefault(b, []).append(
                                timed(runners[name], b, out, model)
                            )

    per_batch = {str(b): compare(args, seconds, b, b) for b in args.batch_sizes}
    if args.studio_batch:  # the studio's batch against each of the peer's
        for b in args.batch_sizes:
            if b != args.studio_batch:
                per_batch[f"studio {args.studio_batch}, peer {b}"] = compare(
                    args, seconds, b, args.studio_batch
                )
    print(
        json.dumps(
            {
                "benchmark": "peer_equal_work",
                "model": "builtin:shapes",
                "size": args.size,
                "frames": args.frames,
                "steps": args.steps,
                "guidance": args.guidance,
                "mode": "studio defaults" if args.studio_defaults else "equal work",
                "studio_guidance_stop": studio_guidance_stop(args),
                "repeats": args.repeats,
                "threads": torch.get_num_threads(),
                "batch": per_batch,
                "target_ratio_min": 1.3 if args.studio_defaults else 1.0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
