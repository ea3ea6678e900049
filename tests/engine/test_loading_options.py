"""Loading options on the real loader: weight variants, a local custom pipeline, and what a
render records of its memory savers and model defaults."""

from __future__ import annotations

import warnings

import pytest

from studio.errors import ModelLoadError
from studio.pipeline.builtin import builtin_folder
from studio.pipeline.models import LoadOptions, ModelManager

CUSTOM = '''
from diffusers import StableDiffusionPipeline


class MarkedPipeline(StableDiffusionPipeline):
    """A community pipeline in a file: what --custom-pipeline loads."""

    marked = True
'''


@pytest.fixture(scope="module")
def fp16_folder(tmp_path_factory, model_cache):
    """builtin:tiny saved with ``save_pretrained(variant="fp16")``: only variant weights."""
    import diffusers

    folder = tmp_path_factory.mktemp("variant") / "tiny-fp16"
    source = builtin_folder("tiny", model_cache)
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(source, local_files_only=True)
    pipe.save_pretrained(folder, variant="fp16")
    assert (folder / "unet" / "diffusion_pytorch_model.fp16.safetensors").exists()
    return folder


def test_a_variant_folder_loads_with_its_variant(fp16_folder, model_cache):
    manager = ModelManager(cache_dir=model_cache)
    loaded = manager.load(str(fp16_folder), LoadOptions(device="cpu", variant="fp16"))
    assert loaded.source == str(fp16_folder) and loaded.pipe.unet is not None


def test_a_variant_folder_without_its_variant_is_refused_in_one_line(fp16_folder, model_cache):
    manager = ModelManager(cache_dir=model_cache)
    with pytest.raises(ModelLoadError) as caught:
        manager.load(str(fp16_folder), LoadOptions(device="cpu"))
    message = str(caught.value)
    assert "only weights of variant fp16" in message and "--variant fp16" in message
    assert "\n" not in message


def test_a_variant_the_folder_lacks_is_refused(model_cache):
    manager = ModelManager(cache_dir=model_cache)
    with pytest.raises(ModelLoadError, match="no weights of variant 'fp16'"):
        manager.load("builtin:tiny", LoadOptions(device="cpu", variant="fp16"))


def test_variant_and_revision_are_part_of_the_cache_key(fp16_folder, model_cache):
    manager = ModelManager(cache_dir=model_cache)
    manager.load("builtin:tiny", LoadOptions(device="cpu"))
    manager.load("builtin:tiny", LoadOptions(device="cpu", revision="v1"))  # a folder ignores it
    assert manager.loads == 2


@pytest.mark.parametrize("as_file", [True, False])
def test_a_local_custom_pipeline_loads_offline_and_warns(tmp_path, model_cache, as_file):
    (tmp_path / "pipeline.py").write_text(CUSTOM)
    source = str(tmp_path / "pipeline.py") if as_file else str(tmp_path)
    manager = ModelManager(cache_dir=model_cache)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = manager.load("builtin:tiny", LoadOptions(device="cpu", custom_pipeline=source))
    assert type(loaded.pipe).__name__ == "MarkedPipeline" and loaded.pipe.marked
    said = [str(w.message) for w in caught]
    assert any("runs the Python code" in m and source in m for m in said), said


def test_a_render_records_its_memory_choice_and_model_defaults(tmp_path, manager):
    from studio.animation.render import render_animation
    from studio.spec import AnimationSpec, PromptSettings

    class Heard:
        plan: dict = {}

        def started(self, plan):
            Heard.plan = plan

        def __getattr__(self, name):
            return lambda *a, **k: None

    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle"),
        diffusion={
            "model": "builtin:tiny",
            "steps": 2,
            "width": 64,
            "height": 64,
            "device": "cpu",
            "memory": "auto",
        },
    )
    render_animation(spec, tmp_path, manager=manager, events=Heard())
    memory = Heard.plan["memory"]
    assert memory["mode"] == "auto" and memory["reasons"] == ["cpu: no memory savers needed"]
    assert not (memory["attention_slicing"] or memory["vae_tiling"] or memory["cpu_offload"])
    # guidance was left unset, and the class default (3.0) is not the tiny model's (7.5):
    assert Heard.plan["model_defaults"] == {}
