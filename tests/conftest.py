"""Shared fixtures: a fresh STUDIO_HOME per test, one model cache for the whole run, a local
Hub, and the dashboard under AppTest run as the server runs it.

Building ``builtin:tiny`` takes a few seconds, so every test shares one cache folder and one
ModelManager; each test still gets its own empty database and outputs. Fixtures of one tier
only live in that tier's conftest.py (tests/ui/conftest.py: the ``app`` under AppTest);
helpers that are not fixtures live in tests/support/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests check behaviour, not speed: on a busy 2-core machine a case that normally
# takes a millisecond can take hundreds, and hypothesis's default 200 ms deadline then fails
# it as flaky.
settings.register_profile("studio", deadline=None)
settings.load_profile("studio")

# Under pytest-xdist (scripts/test.sh runs the tier in two processes on a 2-core machine) each
# worker, and every process it starts (a CLI, a dashboard), uses one torch thread: two workers
# with torch's default of one thread per core would put four busy threads on two cores, where
# each operation's threads wait on each other. Frames compared across processes stay the same
# (all use one thread); the golden frames pin the thread count they were recorded with.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

# Tests never reach the network; a Hub id must fail fast and clearly, not hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session", autouse=True)
def _shared_model_cache_for_subprocesses(model_cache) -> Iterator[None]:
    """Command-line subprocesses (tests.support.run_cli) link their homes' model cache to the
    session's, so builtin:tiny is built once a run, not once a command."""
    os.environ["STUDIO_TEST_MODEL_CACHE"] = str(model_cache)
    yield
    os.environ.pop("STUDIO_TEST_MODEL_CACHE", None)


@pytest.fixture(scope="session")
def manager(model_cache):
    from studio.pipeline.models import ModelManager

    return ModelManager(cache_dir=model_cache)


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory) -> Path:
    """A tiny random-weight SDXL diffusers folder (tests/support/sdxl.py), built once a run."""
    from tests.support.sdxl import build_tiny_sdxl

    return build_tiny_sdxl(tmp_path_factory.mktemp("sdxl") / "tiny-sdxl")


@pytest.fixture(scope="session")
def tiny_upscaler(tmp_path_factory) -> Path:
    """A tiny random-weight x4 upscaler folder (tests/support/upscaler.py), built once a run."""
    from tests.support.upscaler import build_tiny_upscaler

    return build_tiny_upscaler(tmp_path_factory.mktemp("upscaler") / "tiny-upscaler")


@pytest.fixture(scope="session")
def tiny_controlnet(manager, tmp_path_factory) -> Path:
    """A ControlNet folder for builtin:tiny with non-zero random residuals (made once)."""
    from tests.support.controlnet import make_tiny_controlnet

    return make_tiny_controlnet(manager, tmp_path_factory.mktemp("controlnet") / "tiny-cn")


@pytest.fixture(scope="session")
def tiny_controlnet_2(manager, tmp_path_factory) -> Path:
    """A second, different ControlNet for builtin:tiny (MultiControlNet tests)."""
    from tests.support.controlnet import make_tiny_controlnet

    return make_tiny_controlnet(manager, tmp_path_factory.mktemp("controlnet") / "cn2", seed=1)


@pytest.fixture(scope="session")
def tiny_depth_model(tmp_path_factory) -> Path:
    """A tiny random-weight DPT depth model folder (tests/support/depth.py), made once."""
    from tests.support.depth import make_tiny_dpt

    return make_tiny_dpt(tmp_path_factory.mktemp("depth") / "tiny-dpt")


@pytest.fixture
def studio_home(tmp_path, monkeypatch, model_cache) -> Path:
    """A new STUDIO_HOME whose model cache links to the shared one."""
    home = tmp_path / "home"
    (home / "cache").mkdir(parents=True)
    (home / "cache" / "models").symlink_to(model_cache, target_is_directory=True)
    monkeypatch.setenv("STUDIO_HOME", str(home))
    return home


@pytest.fixture
def cli(monkeypatch, capsys, model_cache):
    """``cli(home, *args)``: the command line run in this process (``studio.app.cli.main``,
    what ``python -m studio`` runs), with ``STUDIO_HOME`` set to ``home`` (its model cache
    linked to the shared one). Returns a ``CompletedProcess`` like ``tests.support.run_cli``'s
    subprocess, without a second interpreter's imports and model loads."""
    import subprocess

    from studio.app.cli import main

    def run(home: Path, *args: str, env: dict[str, str] | None = None):
        models = Path(home) / "cache" / "models"
        if not models.exists():
            models.parent.mkdir(parents=True, exist_ok=True)
            models.symlink_to(model_cache, target_is_directory=True)
        monkeypatch.setenv("STUDIO_HOME", str(home))
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        status = main([str(a) for a in args])
        out = capsys.readouterr()
        return subprocess.CompletedProcess(["studio", *args], status, out.out, out.err)

    return run


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A local Hugging Face Hub (tests/support/hub_server.py) that db.hub and the CLI talk to."""
    from tests.support.hub import serve_hub

    yield from serve_hub(monkeypatch, tmp_path)


@pytest.fixture
def navigation_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the dashboard under AppTest as the real server runs it: entry point, sidebar, page.

    Before every run, AppTest (Streamlit 1.67 included) sets ``PagesManager.uses_pages_directory``
    back to None, and the new PagesManager then sets it to True because a ``pages/`` folder
    exists; the script runner then runs the old pages-folder mode, where a page chosen with
    ``switch_page`` runs alone, without the entry point and its sidebar. The real server has
    it False once ``st.navigation`` has run. Autouse for tests/ui (see its conftest.py).
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
