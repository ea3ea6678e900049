"""The dashboard's shared, long-lived objects, created once per process with st.cache_resource.

Each is keyed by the STUDIO_HOME folder so that tests (and users) that switch homes get the
store, model cache and jobs of that home. Cached objects are shared by every page and every
browser tab: they are never mutated by a page, only called.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from db import Store, studio_home

__all__ = ["get_jobs", "get_manager", "get_store", "home"]


def home() -> Path:
    return studio_home()


@st.cache_resource(show_spinner=False)
def _store(home: str) -> Store:
    return Store.open(Path(home))


@st.cache_resource(show_spinner=False)
def _manager(home: str):
    from studio.models import ModelManager

    return ModelManager(cache_dir=Path(home) / "cache" / "models")


@st.cache_resource(show_spinner=False)
def _jobs(home: str):
    from studio.jobs import JobRunner

    return JobRunner(device_key=_device_key)


def _device_key(name: str) -> str:
    """One worker per real device: "auto", "cuda" and "cuda:0" may all be the same GPU."""
    from studio.errors import StudioError
    from studio.models import resolve_device

    try:
        device = resolve_device(name)
    except StudioError:
        return name  # the render itself will fail and say why
    if device.type == "cuda" and device.index is None:
        return "cuda:0"
    return str(device)


def get_store() -> Store:
    return _store(str(home()))


def get_manager():
    return _manager(str(home()))


def get_jobs():
    return _jobs(str(home()))
