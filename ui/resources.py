"""The dashboard's shared, long-lived objects, created once per process: the model manager
and the job runner with st.cache_resource, the store by ``studio.app.store`` (the one the
renders record into, closed at exit).

Each is keyed by the STUDIO_HOME folder so that tests (and users) that switch homes get the
store, model cache and jobs of that home. Cached objects are shared by every page and every
browser tab: they are never mutated by a page, only called.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from db import Store, studio_home
from studio.app.store import store_for

__all__ = ["get_jobs", "get_manager", "get_store", "home", "preload_libraries"]

# Libraries the pages import on first use, heavy enough that two threads (two browser tabs'
# script runs, a render's worker) importing one at the same moment can see it half
# initialised ("partially initialized module 'pandas' has no attribute 'Series'").
PRELOADED = ("numpy", "pandas", "pyarrow", "plotly.graph_objects", "PIL.Image")


def home() -> Path:
    return studio_home()


@st.cache_resource(show_spinner=False)
def _manager(home: str):
    from studio.pipeline.models import ModelManager

    return ModelManager(cache_dir=Path(home) / "cache" / "models")


@st.cache_resource(show_spinner=False)
def _jobs(home: str):
    from studio.app.jobs import JobRunner

    return JobRunner(device_key=_device_key)


@st.cache_resource(show_spinner="Starting the studio...")
def preload_libraries() -> tuple[str, ...]:
    """Import ``PRELOADED`` once per process, before any page or job can: the entry point
    calls it first in every run, and st.cache_resource makes every other thread wait until
    the first call has finished."""
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    return PRELOADED


def _device_key(name: str) -> str:
    """One worker per real device: "auto", "cuda" and "cuda:0" may all be the same GPU."""
    from studio.errors import StudioError
    from studio.pipeline.models import resolve_device

    try:
        device = resolve_device(name)
    except StudioError:
        return name  # the render itself will fail and say why
    if device.type == "cuda" and device.index is None:
        return "cuda:0"
    return str(device)


def get_store() -> Store:
    """The store of this home: the process's one (``studio.app.store``), which renders also
    record into."""
    return store_for(home())


def get_manager():
    return _manager(str(home()))


def get_jobs():
    return _jobs(str(home()))
