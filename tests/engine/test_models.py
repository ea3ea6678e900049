"""The model manager: built-in models, caching, devices, schedulers and clear failures."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from studio.errors import ModelLoadError, SpecError
from studio.pipeline.builtin import builtin_folder
from studio.pipeline.models import (
    LoadOptions,
    ModelManager,
    resolve_device,
    resolve_dtype,
)
from studio.pipeline.schedulers import make_scheduler

# The dashboard sidebar's Model box choice for any other model, as the user reads it.
SIDEBAR_OTHER_MODEL = "Other: folder, file or Hub id"


def test_builtin_tiny_is_written_once_and_loaded_from_its_folder(model_cache, manager):
    folder = builtin_folder("tiny", model_cache)
    assert (folder / "model_index.json").exists()
    assert list(folder.glob("unet/*.safetensors"))
    loaded = manager.load("builtin:tiny")
    assert loaded.source == str(folder)
    assert loaded.pipe.vae_scale_factor == 8  # Stable Diffusion's geometry
    assert loaded.device.type == "cpu" and loaded.dtype == torch.float32


def test_builtin_tiny_is_identical_on_every_build(tmp_path):
    from studio.pipeline.builtin import BUILTIN_MODELS

    a = BUILTIN_MODELS["tiny"].build()
    b = BUILTIN_MODELS["tiny"].build()
    for name in ("unet", "vae", "text_encoder"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_each_distinct_load_is_cached_once_across_threads(model_cache):
    manager = ModelManager(cache_dir=model_cache, capacity=2)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(manager.load("builtin:tiny")))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert manager.loads == 1
    assert all(r.pipe is results[0].pipe for r in results)
    sliced = manager.load("builtin:tiny", LoadOptions(attention_slicing=True))
    assert sliced.pipe is not results[0].pipe and manager.loads == 2


def test_lru_is_bounded(model_cache):
    manager = ModelManager(cache_dir=model_cache, capacity=1)
    manager.load("builtin:tiny")
    manager.load("builtin:tiny", LoadOptions(vae_slicing=True))
    assert len(manager.cached()) == 1


def test_schedulers_are_new_objects_from_the_pipeline_config(manager):
    pipe = manager.load("builtin:tiny").pipe
    before = dict(pipe.scheduler.config)
    for name in ("ddim", "euler", "euler_a", "dpm++", "pndm", "lms", "heun", "unipc"):
        scheduler = make_scheduler(pipe, name)
        assert scheduler is not pipe.scheduler
        assert scheduler.config.beta_schedule == pipe.scheduler.config.beta_schedule
    dpm = make_scheduler(pipe, "dpm++", {"use_karras_sigmas": True})
    assert dpm.config.use_karras_sigmas is True
    assert dict(pipe.scheduler.config) == before  # the shared pipeline is untouched
    with pytest.raises(SpecError, match="unknown scheduler 'warp'"):
        make_scheduler(pipe, "warp")


def test_devices_and_dtypes():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    if not torch.cuda.is_available():
        with pytest.raises(SpecError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(SpecError, match="unknown device"):
        resolve_device("tpu-9000")


def test_unknown_references_fail_clearly(tmp_path, manager):
    with pytest.raises(ModelLoadError, match="unknown built-in model 'builtin:huge'"):
        manager.load("builtin:huge")
    with pytest.raises(ModelLoadError, match="no model_index.json"):
        manager.load(str(tmp_path))
    with pytest.raises(ModelLoadError, match="does not exist"):
        manager.load(str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="cannot read model reference"):
        manager.load("not a model at all")


def test_a_local_diffusers_folder_loads(tmp_path, manager):
    pipe = manager.load("builtin:tiny").pipe
    pipe.save_pretrained(tmp_path / "copy")
    loaded = ModelManager(cache_dir=tmp_path / "cache").load(str(tmp_path / "copy"))
    assert torch.equal(
        next(iter(loaded.pipe.unet.state_dict().values())),
        next(iter(pipe.unet.state_dict().values())),
    )


def test_unreachable_hub_fails_fast_with_advice(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    manager = ModelManager(cache_dir=tmp_path / "cache")
    with pytest.raises(ModelLoadError) as info:
        manager.load("someone/some-model")
    message = str(info.value)
    assert "cannot reach the Hugging Face Hub" in message
    assert_download_advice(message, "someone/some-model")


def test_offline_hub_id_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE") as info:
        ModelManager(cache_dir=tmp_path / "cache").load("someone/some-model")
    assert_download_advice(str(info.value), "someone/some-model")


def assert_download_advice(message: str, ref: str) -> None:
    """The advice names a download command the pinned huggingface_hub ships, and how to use
    the folder in both places a model is chosen."""
    assert f"`hf download {ref} --local-dir FOLDER`" in message
    assert "huggingface-cli" not in message
    assert "--model FOLDER" in message  # the command line
    assert f'"{SIDEBAR_OTHER_MODEL}"' in message  # the dashboard sidebar's Model box
    sidebar = Path(__file__).parents[2] / "ui" / "sidebar.py"
    assert f'"{SIDEBAR_OTHER_MODEL}"' in sidebar.read_text()  # still the words it offers
    hf = Path(sys.executable).with_name("hf")
    usage = subprocess.run(
        [str(hf), "download", "--help"], capture_output=True, text=True, timeout=60
    )
    assert usage.returncode == 0 and "--local-dir" in usage.stdout, usage.stderr


def test_a_zero_snr_model_refuses_schedulers_that_cannot_follow_it(manager):
    from diffusers import DDIMScheduler

    pipe = manager.load("builtin:tiny").pipe

    class Stub:  # a pipeline whose scheduler was trained with zero terminal SNR
        scheduler = DDIMScheduler.from_config(pipe.scheduler.config, rescale_betas_zero_snr=True)

    assert make_scheduler(Stub, "euler").config.rescale_betas_zero_snr is True
    with pytest.raises(SpecError, match="cannot follow this model's zero-terminal-SNR"):
        make_scheduler(Stub, "pndm")
