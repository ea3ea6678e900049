"""Scale-out on Ray in the dashboard: the sidebar's workers and cluster address, the shard
plan on the render pages, and a run's shards in History (``docs/scale-out.md``).

The two settings live in the sidebar, next to the model and device, because they say where a
render runs, not what it draws: every page's render takes them (``scale_values``). Nothing
here starts or joins Ray while a page is drawn: the shard plan is pure, and the cluster's
resources are read only when asked for (*Check the cluster*).
"""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from studio.errors import StudioError
from studio.spec.scale import MAX_WORKERS, RAY_ADDRESS_FIELD, WORKERS_FIELD
from ui.state import get_value, keep
from ui.text import plain

__all__ = [
    "draw_scale_out_record",
    "draw_scale_settings",
    "draw_shard_plan",
    "restore_scale",
    "scale_values",
]

_WORKERS = "sidebar.workers"
_ADDRESS = "sidebar.ray_address"
_RESOURCES = "sidebar.cluster_resources"  # the last check's result (or its error)


def scale_values() -> dict[str, Any]:
    """The sidebar's scale-out settings as diffusion fields: ``workers`` and ``ray_address``."""
    return {
        "workers": int(get_value(_WORKERS, 1) or 1),
        "ray_address": str(get_value(_ADDRESS, "") or "").strip(),
    }


def restore_scale(workers: int, ray_address: str) -> None:
    """Put a restored run's scale-out settings back into the sidebar."""
    from ui.state import set_value

    set_value(_WORKERS, workers)
    set_value(_ADDRESS, ray_address)


def draw_scale_settings() -> None:
    """The sidebar's *Scale-out (Ray)* expander: workers, cluster address, the cluster's
    resources on request."""
    keep(_WORKERS, 1)
    keep(_ADDRESS, "")
    values = scale_values()
    asked = values["workers"] > 1 or bool(values["ray_address"])
    with st.expander("Scale-out (Ray)", expanded=asked):
        st.number_input(
            "Workers",
            min_value=1,
            max_value=MAX_WORKERS,
            step=1,
            key=_WORKERS,
            help=WORKERS_FIELD.description,
        )
        st.text_input(
            "Cluster address",
            key=_ADDRESS,
            placeholder="HOST:PORT, or empty for a local runtime",
            help=RAY_ADDRESS_FIELD.description,
        )
        address = values["ray_address"] or os.environ.get("RAY_ADDRESS", "")
        if not address:
            st.caption(
                f"Renders with more than one worker start a local Ray runtime with that many "
                f"CPUs; this machine has {os.cpu_count()}."
            )
        st.button(
            "Check the cluster", key="sidebar.check_cluster", on_click=_check, args=(address,)
        )
        if (found := st.session_state.get(_RESOURCES)) is not None:
            st.caption(plain(found))


def _check(address: str) -> None:
    """Read the cluster's resources (joins and leaves it); the result or the reason it could
    not, as one line."""
    from studio.app.ray_runtime import cluster_resources

    try:
        facts = cluster_resources(address)
    except (StudioError, ImportError) as exc:
        st.session_state[_RESOURCES] = f"Could not check the cluster: {exc}"
        return
    st.session_state[_RESOURCES] = (
        f"{facts['address']}: {facts['nodes']} node(s), {facts['cpus']} CPU(s), "
        f"{facts['gpus']} GPU(s)"
    )


def draw_shard_plan(spec: Any) -> None:
    """Under a page's plan: how the render splits over its workers, or why it does not (only
    when the sidebar asks for more than one worker or a cluster)."""
    from studio.spec.scale import scaled_out

    if not scaled_out(spec.diffusion):
        return
    from studio.app.scale import shard_plan

    try:
        lines = shard_plan(spec).lines()
    except StudioError as exc:
        st.error(plain(str(exc)))
        return
    with st.expander(lines[0].removeprefix("scale-out: ").capitalize()):
        st.code("\n".join(lines[1:]) or "(one shard)", language=None)


def draw_scale_out_record(run: dict[str, Any]) -> None:
    """History: a run's shards, their workers and seconds (``runs show`` prints the same)."""
    from studio.app.history import scale_out_lines

    lines = scale_out_lines(run)
    if not lines:
        return
    st.caption(plain(lines[0]))
    if len(lines) > 1:
        st.code("\n".join(line.strip() for line in lines[1:]), language=None)
