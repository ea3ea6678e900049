"""Muxing a soundtrack into a finished MP4: ffmpeg stream copy (``mux_audio``) vs moviepy.

Makes a ``--seconds`` long MP4 (``--size`` px square, ``--fps``) with the studio's own writer
and a 44.1 kHz stereo WAV of the same length, then puts the track into the video both ways,
each in a fresh Python process so that peak memory is its own:

- ``ffmpeg``: ``studio.media.writers.mux_audio`` (video stream copied, audio to AAC);
- ``moviepy``: ``VideoFileClip(...).with_audio(AudioFileClip(...).subclipped(0, d))``
  ``.write_videofile(...)`` with libx264/AAC, moviepy's way (it decodes and re-encodes
  every frame: it has no stream copy).

Prints one JSON object: per method the wall time, the peak RSS of the Python process and of
its largest child (ffmpeg), whether the decoded frames are byte-identical to the video
before muxing, and the audio length found in the result.

moviepy is not a requirement of the studio (docs/architecture.md says why); install it into
the virtual environment first: ``.venv/bin/pip install moviepy==2.2.1``.

    .venv/bin/python benchmarks/mux_moviepy.py                  # 30 s, 256 px, 12 fps
    .venv/bin/python benchmarks/mux_moviepy.py --size 512 --fps 24
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from studio.media.readers import probe, read_frames  # noqa: E402
from studio.media.writers import open_writer  # noqa: E402

RATE = 44100

# Run in a child: time and memory of one mux, nothing else imported before it starts.
_WORKER = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[4])
method, video, audio, _, out = sys.argv[1:6]
start = time.perf_counter()
if method == "ffmpeg":
    from pathlib import Path
    from studio.events import OutputFile
    from studio.media.readers import probe
    from studio.media.writers import mux_audio
    import shutil
    shutil.copy(video, out)
    facts = probe(Path(out))
    mux_audio(OutputFile(path=Path(out), kind="mp4", frames=facts["frames"], fps=facts["fps"],
                         width=facts["width"], height=facts["height"]), Path(audio))
else:
    from moviepy import AudioFileClip, VideoFileClip
    clip = VideoFileClip(video)
    track = AudioFileClip(audio).subclipped(0, clip.duration)
    clip.with_audio(track).write_videofile(out, codec="libx264", audio_codec="aac",
                                           logger=None)
    clip.close(); track.close()
seconds = time.perf_counter() - start
print(json.dumps({
    "wall_s": round(seconds, 2),
    "python_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "largest_child_peak_rss_mib": round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
}))
"""


def frames_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for frame in read_frames(path):
        digest.update(frame.tobytes())
    return digest.hexdigest()


def audio_seconds(path: Path) -> float:
    from studio.media.ffmpeg import ffmpeg_exe

    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0"]
        + ["-ac", "1", "-ar", "8000", "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return round(len(out) / 4 / 8000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--fps", type=float, default=12.0)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp())
    video = folder / "video.mp4"
    frames = int(args.seconds * args.fps)
    rng = np.random.default_rng(0)
    writer = open_writer(video, "mp4", fps=args.fps, width=args.size, height=args.size)
    base = rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8)
    for i in range(frames):
        writer.write(np.roll(base, 4 * i, axis=1))  # a moving picture, not a still
    writer.close()
    t = np.arange(int(args.seconds * RATE)) / RATE
    tone = 0.2 * np.sin(2 * np.pi * 330 * t)
    sf.write(folder / "track.wav", np.stack([tone, tone], 1), RATE, subtype="PCM_16")

    before = frames_digest(video)
    report: dict = {
        "seconds": args.seconds,
        "size": args.size,
        "fps": args.fps,
        "frames": frames,
        "video_mib": round(video.stat().st_size / 2**20, 2),
    }
    for method in ("ffmpeg", "moviepy"):
        out = folder / f"{method}.mp4"
        proc = subprocess.run(
            [sys.executable, "-c", _WORKER, method, str(video), str(folder / "track.wav")]
            + [str(ROOT), str(out)],
            capture_output=True,
            text=True,
            check=True,
        )
        entry = json.loads(proc.stdout.strip().splitlines()[-1])
        entry["frames_identical"] = frames_digest(out) == before
        entry["frames_out"] = probe(out)["frames"]
        entry["audio_s"] = audio_seconds(out)
        report[method] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
