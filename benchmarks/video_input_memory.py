"""Memory of a render with a video input: flat in the length of the video.

Makes a small video (64x64 by default) of each length, renders it as the video input of an
animation on builtin:tiny with few denoise steps, each render in its own process (so peak
memory is that render's own), and prints one JSON object with each run's peak resident
memory and ``rss_ratio`` (longest over shortest; flat means ~1.0). The video is read as a
stream and the output is written as a stream, so neither length should show in memory.

    python benchmarks/video_input_memory.py                   # 200 and 2,000 frames
    python benchmarks/video_input_memory.py --frames 200 2000 --steps 2 --size 64
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _child import run_child  # noqa: E402  (benchmarks/ is on the path when run as a script)


def make_video(path: Path, frames: int, size: int, fps: int) -> None:
    """A moving gradient, streamed into ffmpeg frame by frame."""
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(
        str(path), (size, size), fps=fps, macro_block_size=1, ffmpeg_log_level="error"
    )
    writer.send(None)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    for i in range(frames):
        frame = np.empty((size, size, 3), np.uint8)
        frame[..., 0] = (ramp[None, :] + 3 * i) % 256
        frame[..., 1] = (ramp[:, None] + 5 * i) % 256
        frame[..., 2] = (7 * i) % 256
        writer.send(frame)
    writer.close()


def one_render(video: Path, size: int, steps: int, cache: str) -> dict:
    from studio.animation.render import render_animation
    from studio.pipeline.models import ModelManager
    from studio.spec import (
        AnimationSettings,
        AnimationSpec,
        DiffusionSettings,
        InputSettings,
        MotionSettings,
        OutputSettings,
        PromptSettings,
    )

    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n100: a blue square"),
        diffusion=DiffusionSettings(model="builtin:tiny", steps=steps, width=size, height=size),
        animation=AnimationSettings(fps=24, batch_size=4),
        output=OutputSettings(format="mp4"),
        input=InputSettings(video=str(video)),
        motion=MotionSettings(strength="0: (0.5)", color_match="input"),
    )
    manager = ModelManager(cache_dir=Path(cache))
    manager.load("builtin:tiny")  # outside the measured render
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = render_animation(spec, Path(out), manager=manager)
    seconds = time.perf_counter() - began
    return {
        "frames": result.frames,
        "size": size,
        "steps": steps,
        "denoise_steps": result.denoise_steps,
        "seconds": round(seconds, 2),
        "fps": round(result.frames / seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:
        print(json.dumps(one_render(args.child, args.size, args.steps, args.cache)))
        return

    cache = args.cache or tempfile.mkdtemp(prefix="studio-bench-cache-")
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for frames in args.frames:
            video = Path(folder) / f"input-{frames}.mp4"
            make_video(video, frames, args.size, fps=24)
            cmd = [sys.executable, __file__, "--child", str(video), "--cache", cache]
            cmd += ["--size", str(args.size), "--steps", str(args.steps)]
            runs.append(run_child(cmd))
    shortest, longest = runs[0], runs[-1]
    print(
        json.dumps(
            {
                "benchmark": "video_input_memory",
                "model": "builtin:tiny",
                "runs": runs,
                "rss_ratio": round(longest["peak_rss_mb"] / shortest["peak_rss_mb"], 3),
                "targets": {"rss_ratio_about": 1.0},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
