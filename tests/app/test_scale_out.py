"""Scale-out on a real local Ray runtime (2 CPUs, started once for the module): the frames
of 1 and 2 workers are the same for an animation, a video input and a blend; a worker
killed mid-shard is restarted by Ray with the same output; a cancel stops every shard; a
killed render resumes only the shards it had not finished. Slow tier: Ray's start and its
workers' model loads take tens of seconds."""

from __future__ import annotations

import threading
import time

import numpy as np
import psutil
import pytest

from studio.app.registry import kind_for
from studio.errors import RenderCancelled
from studio.events import CancelToken, NullEvents
from studio.media.readers import read_frames
from studio.spec import AnimationSpec, BlendSpec
from tests.support.media import make_video

pytestmark = pytest.mark.slow

SIZE = 64


@pytest.fixture(scope="module")
def ray_runtime():
    from studio.app.ray_runtime import forget_workers, start_local

    ray = pytest.importorskip("ray")
    start_local(2)  # 2 CPUs; the workers import this checkout's studio
    yield ray
    forget_workers()
    ray.shutdown()
    assert _gone_within(30)  # nothing left running


def _worker_processes() -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any("ShardWorker" in part for part in p.info["cmdline"] or ()):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _gone_within(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _worker_processes():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def animation(workers: int, *, frames: int = 8, steps: int = 2, **groups) -> AnimationSpec:
    return AnimationSpec.model_validate(
        {
            "prompts": {"schedule": f"0: a red circle\n{frames - 1}: a blue square"},
            "diffusion": {
                "model": "builtin:tiny",
                "steps": steps,
                "width": SIZE,
                "height": SIZE,
                "seed": 5,
                "workers": workers,
            },
            "animation": {"batch_size": 2, "fps": 10},
            "output": {"format": "png"},
            **groups,
        }
    )


def render(spec, out_dir, manager, **kwargs):
    return kind_for(spec.kind).render(spec, out_dir, manager=manager, **kwargs)


def frames_of(result) -> list[np.ndarray]:
    return list(read_frames(result.outputs[0].path))


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_one_and_two_workers_give_the_same_frames_and_record_their_shards(
    ray_runtime, manager, tmp_path
):
    one = render(animation(1, frames=8), tmp_path / "one", manager)
    assert one.scale_out is None  # 1 worker and no address: this process, no Ray
    ray_one = render(
        animation(1).replace(diffusion=animation(1).diffusion.replace(ray_address="local")),
        tmp_path / "ray1",
        manager,
    )
    two = render(animation(2), tmp_path / "two", manager)
    assert len(frames_of(two)) == 8
    assert same(frames_of(ray_one), frames_of(two))
    assert two.denoise_steps == one.denoise_steps == 16
    facts = two.scale_out
    assert facts["ran"] == "ray" and facts["workers"] == 2
    timings = facts["shard_timings"]
    assert [t["frames"] for t in timings] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert len({t["worker"] for t in timings}) == 2  # both workers made shards
    assert sum(t["denoise_steps"] for t in timings) == 16


def test_the_cluster_resources_the_dashboard_shows(ray_runtime):
    from studio.app.ray_runtime import cluster_resources

    facts = cluster_resources()
    assert facts["cpus"] == 2 and facts["nodes"] == 1 and facts["gpus"] == 0


def test_a_video_input_splits_by_its_frames_with_the_same_frames(ray_runtime, manager, tmp_path):
    video = make_video(tmp_path / "clip.mp4", 10, 10, width=SIZE, height=SIZE)
    groups = {"input": {"video": str(video)}, "motion": {"strength": "0: (0.5)"}}
    one = render(
        animation(1, **groups).replace(
            diffusion=animation(1).diffusion.replace(ray_address="local")
        ),
        tmp_path / "one",
        manager,
    )
    two = render(animation(2, **groups), tmp_path / "two", manager)
    assert len(frames_of(two)) == 10  # the video sets the length
    assert same(frames_of(one), frames_of(two))
    assert two.scale_out["shards"] > 1


def test_a_blend_makes_its_keyframes_then_its_transitions_with_the_same_frames(
    ray_runtime, manager, tmp_path
):
    def blend(workers: int, address: str = "") -> BlendSpec:
        prompts = ("a red circle", "a blue square", "a green triangle")
        return BlendSpec.model_validate(
            {
                "prompts": {"keyframes": [{"prompt": p} for p in prompts]},
                "diffusion": {
                    "model": "builtin:tiny",
                    "steps": 4,
                    "width": SIZE,
                    "height": SIZE,
                    "seed": 5,
                    "workers": workers,
                    "ray_address": address,
                },
                "blend": {"preset": "lowest"},
                "output": {"format": "png"},
            }
        )

    one = render(blend(1), tmp_path / "one", manager)
    ray_one = render(blend(1, "local"), tmp_path / "ray1", manager)
    two = render(blend(2), tmp_path / "two", manager)
    assert same(frames_of(ray_one), frames_of(two))
    assert len(frames_of(two)) == one.frames
    assert two.denoise_steps == one.denoise_steps  # each keyframe made once
    assert two.tree == one.tree and two.diffusion_frames == one.diffusion_frames
    shards = [t["shard"] for t in two.scale_out["shard_timings"]]
    assert sorted(shards) == sorted(
        ["keyframe 0", "keyframe 1", "keyframe 2", "transition 0", "transition 1"]
    )


def test_a_worker_killed_mid_shard_is_restarted_and_the_frames_are_the_same(
    ray_runtime, manager, tmp_path
):
    spec = animation(2, frames=12, steps=6)
    reference = frames_of(render(spec, tmp_path / "reference", manager))
    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for p in _worker_processes():
                if "animation" in " ".join(p.info["cmdline"] or ()):  # busy with a shard
                    p.kill()
                    killed.append(p.pid)
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    again = render(spec, tmp_path / "again", manager)
    killer.join()
    assert killed, "no worker was seen making a shard"
    assert same(frames_of(again), reference)


def test_a_cancel_stops_every_shard_and_keeps_the_frames_written(ray_runtime, manager, tmp_path):
    cancel = CancelToken()
    heard: list[int] = []

    class Events(NullEvents):
        def progress(self, done, total, preview=None):
            heard.append(done)
            cancel.cancel()  # as soon as the first shard is written

    spec = animation(2, frames=24, steps=4)
    began = time.monotonic()
    with pytest.raises(RenderCancelled):
        render(spec, tmp_path / "cancelled", manager, events=Events(), cancel=cancel)
    assert time.monotonic() - began < 120
    assert _gone_within(30)  # every worker, and so every shard, stopped
    written = list((tmp_path / "cancelled" / "animation").glob("frame_*.png"))
    assert len(written) == heard[-1] < 24
    assert not list((tmp_path / "cancelled").glob(".*checkpoint"))  # a cancel keeps none


def test_a_killed_render_resumes_only_the_shards_it_had_not_finished(
    ray_runtime, manager, tmp_path
):
    from studio.media.checkpoint import FrameCheckpoint
    from studio.spec.scale import without_scale

    spec = animation(2, frames=8)
    out = tmp_path / "resumed"
    reference = frames_of(render(spec, tmp_path / "reference", manager))
    # What a render killed after writing shard 0 and finishing shard 2 ahead leaves.
    local = without_scale(spec)
    main = FrameCheckpoint.open(out, "animation", local, resume=False)
    for image in reference[:2]:
        main.add_frame(image)
    main.commit(denoise_steps=4)
    ahead = FrameCheckpoint.open(out, "animation-shard-2", local, resume=False)
    for image in reference[4:6]:
        ahead.add_frame(image)
    ahead.commit(denoise_steps=4)
    result = render(spec, out, manager, resume=True)
    assert same(frames_of(result), reference)
    made = [t["shard"] for t in result.scale_out["shard_timings"]]
    assert made == [1, 3]  # 0 was written, 2 was on disk
    assert result.scale_out["resumed_shards"] == [2]
    assert result.denoise_steps == 16


def test_a_render_that_does_not_split_runs_here_and_its_record_says_why(manager, tmp_path):
    from studio.app.runs import render as render_run

    spec = animation(2, frames=4, motion={"zoom": "0: (1.02)"})
    run_id, result = render_run(spec, home=tmp_path / "home", manager=manager)
    assert result.scale_out["ran"] == "one process"
    assert "motion curves" in result.scale_out["why_one"]
    assert any("not on 2 workers" in n for n in result.notes)
    from db.repository import get_run, run_to_dict
    from studio.app.store import store_for

    with store_for(tmp_path / "home").session() as s:
        stored = run_to_dict(get_run(s, run_id))
    assert stored["extra"]["scale_out"]["ran"] == "one process"
