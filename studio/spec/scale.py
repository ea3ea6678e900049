"""Scale-out on Ray: how many workers render one spec and which cluster they run on; the
fields of the diffusion group that say so, described once here.

``workers``: 1 renders in this process (no Ray). More starts a local Ray runtime with that
many CPUs (or joins the cluster ``ray_address`` or ``RAY_ADDRESS`` names) and renders the
spec's shards there, one actor per worker keeping the model loaded; the frames are those of
a one-process render on the same device type (``docs/scale-out.md``). ``ray_address``:
``HOST:PORT`` of a running cluster's head (``ray start --head``), or ``auto``.

Neither changes a frame, so the checkpoint of a render (``studio.media.checkpoint``) does
not count them: a render killed with 4 workers resumes with 2, or in one process.
"""

from __future__ import annotations

import re
from typing import Any

from studio.errors import SpecError
from studio.spec.fields import setting

__all__ = [
    "MAX_WORKERS",
    "RAY_ADDRESS_FIELD",
    "WORKERS_FIELD",
    "check_scale",
    "scaled_out",
    "without_scale",
]

MAX_WORKERS = 1024

WORKERS_FIELD: Any = setting(
    1,
    "Ray workers that render this spec's shards at once (one model each); 1: this process, "
    "no Ray. More starts a local Ray runtime with that many CPUs, or joins --ray-address.",
    ge=1,
    le=MAX_WORKERS,
    step=1,
)
RAY_ADDRESS_FIELD: Any = setting(
    "",
    "A Ray cluster to render on: HOST:PORT of its head (ray start --head) or auto; empty: "
    "RAY_ADDRESS when set and workers > 1, else a local runtime.",
    label="cluster address",
)

# host:port, ray://host:port, or auto
_ADDRESS = re.compile(r"^(auto|local|(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")


def check_scale(d: Any) -> None:
    """``d``: a ``DiffusionSettings``. ``SpecError`` for an address Ray cannot read."""
    address = d.ray_address
    if address and not _ADDRESS.match(address):
        raise SpecError(
            f"ray_address must be HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT or auto, "
            f"got {address!r}"
        )


def scaled_out(d: Any) -> bool:
    """True when ``d`` (a ``DiffusionSettings``) asks for Ray: more than one worker, or a
    cluster address."""
    return d.workers > 1 or bool(d.ray_address)


def without_scale(spec: Any) -> Any:
    """``spec`` as one process renders it: 1 worker, no cluster. The frames are the same, so
    checkpoints are kept of this spec (a render killed on 4 workers resumes on 2, or here)."""
    return spec.replace(diffusion=spec.diffusion.replace(workers=1, ray_address=""))
