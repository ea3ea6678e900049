"""The Ray side of scale-out: starting or joining a runtime, and the workers.

Ray is imported here only, and only when a render asks for more than one worker or for a
cluster (``studio.spec.scale``): a normal render and the dashboard never pay its import.

``connect(workers, address)`` joins the cluster ``address`` names (else ``RAY_ADDRESS``),
or starts a local runtime with ``workers`` CPUs; a runtime already running in this process
(a test's, a notebook's) is used as it is. ``worker_pool`` is that and the workers for one
render; ``as_finished`` hands them the render's shards and gives back each one's result as
it finishes. ``ShardWorker`` is the actor: one per worker,
holding a ``ModelManager`` so the model loads once per worker, not once per shard; on
CUDA it asks for a whole GPU (``num_gpus=1``). Ray restarts a worker that dies and runs its
shard again (``max_restarts``/``max_task_retries``): a shard is a function of the spec, so
the frames are the same.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from studio.errors import RenderCancelled, StudioError
from studio.events import CancelToken

__all__ = [
    "IN_FLIGHT_PER_WORKER",
    "RESTARTS",
    "ScaleOutError",
    "ShardWorker",
    "as_finished",
    "cluster_resources",
    "connect",
    "forget_workers",
    "ray_result",
    "release",
    "start_local",
    "worker_actors",
    "worker_pool",
]

RESTARTS = 3  # a dead worker is restarted (and its shard run again) this many times
# Shards handed to Ray and not yet back, per worker: one running, one queued behind it.
IN_FLIGHT_PER_WORKER = 2
_WAIT_S = 0.2  # how often a wait for shards looks at the cancel token

T = TypeVar("T")


class ScaleOutError(StudioError):
    """Ray could not start, or the cluster could not be reached."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is in requirements.txt
        raise ScaleOutError(
            "scale-out needs Ray: pip install -r requirements.txt (it pins ray)"
        ) from None
    return ray


def start_local(cpus: int, gpus: int | None = None) -> None:
    """Start a local Ray runtime with ``cpus`` CPUs (no dashboard) whose workers import
    this checkout's ``studio``."""
    ray = _ray()
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    if root not in path.split(os.pathsep):  # the workers inherit it: they import studio
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, path) if p)
    ray.init(
        address="local",  # a new runtime, even where `ray start` left a cluster running
        num_cpus=cpus,
        num_gpus=gpus,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )


def _token_auth_if_available() -> None:
    """Send the cluster's token when joining one. ``ray start`` turns token authentication on
    by default (Ray 2.60) and keeps the token in ``~/.ray/auth_token``; a driver sends it
    only in token mode, which it is not told. So where the user has not chosen
    (``RAY_AUTH_MODE``) and a token is at hand, token mode it is, before Ray is imported."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or Path(path).is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


@contextmanager
def connect(workers: int, address: str = "") -> Iterator[Any]:
    """Ray, connected: to ``address`` (or ``RAY_ADDRESS``), else to a new local runtime with
    ``workers`` CPUs, shut down when the block ends; a runtime this process already has is
    used and left running. ``ScaleOutError`` when the cluster cannot be reached."""
    if (address or os.environ.get("RAY_ADDRESS", "")) not in ("", "local"):
        _token_auth_if_available()
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS", "")
    try:
        if address and address != "local":
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            start_local(workers)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ScaleOutError(
            f"could not reach the Ray cluster at {address or 'a new local runtime'}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    try:
        yield ray
    finally:
        forget_workers()
        ray.shutdown()


def cluster_resources(address: str = "") -> dict[str, Any]:
    """What the cluster at ``address`` (or the runtime this process has) offers:
    ``{"cpus", "gpus", "nodes", "address"}``; for the dashboard's sidebar. Joins and leaves
    when this process has no runtime."""
    ray = _ray()

    def read() -> dict[str, Any]:
        total = ray.cluster_resources()
        return {
            "cpus": int(total.get("CPU", 0)),
            "gpus": int(total.get("GPU", 0)),
            "nodes": sum(1 for n in ray.nodes() if n.get("Alive")),
            "address": address or os.environ.get("RAY_ADDRESS", "") or "local",
        }

    if ray.is_initialized():
        return read()
    with connect(1, address or "auto"):
        return read()


class ShardWorker:
    """One worker: a model manager (the model loads once) and the shards it is given.

    ``threads``: torch's CPU threads for this worker (one per CPU Ray gives it).
    """

    def __init__(self, cache_dir: str, threads: int) -> None:
        import torch

        from studio.pipeline.models import ModelManager

        torch.set_num_threads(max(1, threads))
        self.manager = ModelManager(cache_dir=Path(cache_dir))
        self.shards = 0
        self._blend: Any = None  # (spec JSON, studio.blend.shard_render.BlendShards)

    def pid(self) -> int:
        return os.getpid()

    def animation(self, spec: Any, start: int, stop: int) -> dict[str, Any]:
        """Frames ``start`` to ``stop - 1`` of animation ``spec``: ``{"frames": (n, H, W, 3)
        uint8, "denoise_steps", "seconds", "pid", "node"}``."""
        from studio.animation.shard_render import render_frames

        self._drop_blend()  # its hold on the shared pipeline
        began = time.perf_counter()
        images: list[np.ndarray] = []
        steps = 0
        for _, batch, taken in render_frames(spec, start, stop, manager=self.manager):
            images.extend(batch)
            steps += taken
        self.shards += 1
        return {
            "frames": np.stack(images),
            "denoise_steps": steps,
            "seconds": time.perf_counter() - began,
            "pid": os.getpid(),
            "node": _node_id(),
        }

    def blend_keyframe(self, spec: Any, j: int) -> dict[str, Any]:
        """Keyframe ``j`` of blend ``spec``: ``{"frame": Frame, "denoise_steps", ...}``."""
        began = time.perf_counter()
        frame, steps = self._blend_of(spec).keyframe(j)
        return {"frame": frame, "denoise_steps": steps, **self._facts(began)}

    def blend_transition(self, spec: Any, t: int, left: dict, right: dict) -> dict[str, Any]:
        """Transition ``t`` of blend ``spec`` from its keyframes (``blend_keyframe``'s
        results): ``{"images", "realised", "denoise_steps", ...}``."""
        began = time.perf_counter()
        made = self._blend_of(spec).transition(t, left["frame"], right["frame"])
        return {**made, **self._facts(began)}

    def _blend_of(self, spec: Any) -> Any:
        from studio.blend.shard_render import BlendShards

        key = spec.to_json(indent=None)
        if self._blend is None or self._blend[0] != key:
            self._drop_blend()
            self._blend = (key, BlendShards(spec, self.manager))
        return self._blend[1]

    def _drop_blend(self) -> None:
        if self._blend is not None:
            self._blend[1].close()
            self._blend = None

    def _facts(self, began: float) -> dict[str, Any]:
        self.shards += 1
        return {"seconds": time.perf_counter() - began, "pid": os.getpid(), "node": _node_id()}


def _node_id() -> str:
    import ray

    try:
        return ray.get_runtime_context().get_node_id()[:12]
    except Exception:  # outside a worker: no node
        return ""


# Actors kept between renders while the runtime lives (a dashboard's, a test's): the next
# render's workers have their model loaded already. Keyed by the runtime's job, the model
# cache and whether they hold a GPU.
_POOL: dict[tuple[str, str, bool], list[Any]] = {}


def worker_actors(ray: Any, workers: int, *, cache_dir: Path, gpu: bool) -> list[Any]:
    """``workers`` ``ShardWorker`` actors: one CPU each (one torch thread), or one GPU each
    on CUDA; restarted by Ray when they die, their shard run again. Those an earlier render
    in this runtime left (``release``) are taken first."""
    key = (ray.get_runtime_context().get_job_id(), str(cache_dir), gpu)
    pool = _POOL.setdefault(key, [])
    actor = ray.remote(ShardWorker).options(
        num_cpus=1,
        num_gpus=1 if gpu else 0,
        max_restarts=RESTARTS,
        max_task_retries=RESTARTS,
    )
    while len(pool) < workers:
        pool.append(actor.remote(str(cache_dir), 1))
    return pool[:workers]


def release(ray: Any, actors: list[Any], *, keep: bool) -> None:
    """The render is over: keep its workers for the next render (``keep``), or kill them
    at once, which stops every shard they are making (a cancel, an error)."""
    if keep:
        return
    for pool in _POOL.values():
        pool[:] = [a for a in pool if a not in actors]
    for a in actors:
        ray.kill(a)


@contextmanager
def worker_pool(
    workers: int, address: str, *, cache_dir: Path, gpu: bool
) -> Iterator[tuple[Any, list[Any]]]:
    """Ray, connected (``connect``), and ``workers`` actors for one render
    (``worker_actors``): ``(ray, actors)``. A render that ends well leaves its workers for the
    next one; a cancel or an error kills them (``release``): every shard stops at once."""
    with connect(workers, address) as ray:
        actors = worker_actors(ray, workers, cache_dir=cache_dir, gpu=gpu)
        finished_all = False
        try:
            yield ray, actors
            finished_all = True
        finally:
            release(ray, actors, keep=finished_all)


def as_finished(
    ray: Any,
    actors: list[Any],
    waiting: deque[T],
    submit: Callable[[Any, T], Any],
    cancel: CancelToken,
) -> Iterator[tuple[T, dict[str, Any]]]:
    """Each of ``waiting``'s shards with its result (``ray_result``), as they finish.

    A shard is handed out (``submit(actor, shard)``: the task's object ref) to the actor
    with the fewest in flight, at most ``IN_FLIGHT_PER_WORKER`` a worker, topped up before
    each wait, so the frames waiting for their turn stay bounded. ``cancel`` is looked at
    every ``_WAIT_S`` seconds while a wait lasts; ``RenderCancelled`` when set."""
    in_flight: dict[Any, tuple[T, int]] = {}
    load = [0] * len(actors)
    while waiting or in_flight:
        while waiting and len(in_flight) < IN_FLIGHT_PER_WORKER * len(actors):
            shard = waiting.popleft()
            a = load.index(min(load))
            in_flight[submit(actors[a], shard)] = (shard, a)
            load[a] += 1
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=_WAIT_S)
        cancel.raise_if_cancelled()
        for ref in ready:
            shard, a = in_flight.pop(ref)
            load[a] -= 1
            yield shard, ray_result(ray, ref)


def ray_result(ray: Any, ref: Any) -> dict[str, Any]:
    """A shard's result; a worker's own error (a bad spec, a cancel) as itself, one line."""
    try:
        return ray.get(ref)
    except StudioError as exc:  # Ray's error type subclasses the worker's: unwrap it
        cause = getattr(exc, "cause", None)
        raise (cause if isinstance(cause, StudioError | RenderCancelled) else exc) from None
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScaleOutError(f"a Ray worker failed: {first}") from None


def forget_workers() -> None:
    """The runtime is going: its actors go with it."""
    _POOL.clear()
