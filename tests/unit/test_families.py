"""Model families read from a folder's configs: what a model is, what it draws best with, and
whether the render kinds can run it (studio.pipeline.families)."""

from __future__ import annotations

import pytest

from studio.errors import ModelLoadError
from studio.pipeline.builtin import model_defaults
from studio.pipeline.families import check_model_ref, read_family
from tests.support.families import model_folder


@pytest.mark.parametrize(
    "family, size, guidance, steps, runs",
    [
        ("sd1", 512, 7.5, 20, True),
        ("sd2", 512, 7.5, 20, True),
        ("sd2-v", 768, 7.5, 20, True),
        ("sdxl", 1024, 7.5, 30, True),
        ("inpaint", 512, 7.5, 20, True),
        ("pix2pix", 512, 7.5, 20, True),
        ("upscale-x4", 512, 7.5, 20, False),
        ("sd1-lcm", 512, 0.0, 4, True),
    ],
)
def test_a_folder_says_its_family_size_guidance_and_steps(
    tmp_path, family, size, guidance, steps, runs
):
    folder = model_folder(tmp_path, family)
    found = read_family(folder)
    assert (found.name, found.native_size, found.guidance, found.steps) == (
        family,
        size,
        guidance,
        steps,
    )
    assert (found.unsupported == "") is runs
    assert model_defaults(str(folder)) == {
        "width": size,
        "height": size,
        "guidance": guidance,
        "guidance_stop": 0.0,
        "steps": steps,
    }


def test_a_turbo_model_says_so_in_its_name(tmp_path):
    found = read_family(model_folder(tmp_path, "sd2", name="sd-turbo"))
    assert (found.name, found.guidance, found.steps) == ("sd2-turbo", 0.0, 4)
    found = read_family(model_folder(tmp_path, "sdxl", name="sdxl-turbo"))
    assert (found.name, found.native_size, found.guidance, found.steps) == (
        "sdxl-turbo",
        1024,
        0.0,
        4,
    )
    assert found.unsupported == ""
    assert model_defaults("stabilityai/sdxl-turbo")["guidance"] == 0.0
    assert model_defaults("runwayml/stable-diffusion-v1-5")["steps"] == 20


@pytest.mark.parametrize(
    "family, reason",
    [
        ("sdxl-refiner", "refiner"),
        ("upscale-x4", "blend's upscale model"),
    ],
)
def test_a_family_the_kinds_cannot_run_is_refused_with_the_reason(tmp_path, family, reason):
    folder = model_folder(tmp_path, family)
    with pytest.raises(ModelLoadError, match=reason):
        check_model_ref(str(folder))


def test_built_in_models_and_other_references_are_not_read(tmp_path):
    check_model_ref("builtin:shapes")
    check_model_ref("org/name")
    check_model_ref(str(tmp_path))  # not a diffusers folder: loading says so
    assert model_defaults("builtin:shapes")["width"] == 128


def test_a_folder_without_a_unet_config_is_named(tmp_path):
    folder = model_folder(tmp_path, "sd1")
    (folder / "unet" / "config.json").unlink()
    with pytest.raises(ModelLoadError, match="no readable UNet config"):
        read_family(folder)
    assert model_defaults(str(folder))["width"] == 512  # loading will say what is wrong


def test_the_pipeline_class_follows_the_family(tmp_path, monkeypatch):
    """SDXL folders (Turbo too) and cached SDXL Hub ids load as StableDiffusionXLPipeline;
    everything else, unreadable references included, as StableDiffusionPipeline."""
    import huggingface_hub.constants

    from studio.pipeline.models import pipeline_class

    assert pipeline_class(str(model_folder(tmp_path, "sdxl"))) == "StableDiffusionXLPipeline"
    turbo = model_folder(tmp_path, "sdxl", name="sdxl-turbo")
    assert pipeline_class(str(turbo)) == "StableDiffusionXLPipeline"
    for family in ("sd1", "sd2-v", "inpaint"):
        assert pipeline_class(str(model_folder(tmp_path, family))) == "StableDiffusionPipeline"
    # A Hub id: its model_index.json from the local Hugging Face cache, if it is there.
    cache = tmp_path / "hf"
    for repo, cls in (
        ("org/xl", "StableDiffusionXLPipeline"),
        ("org/sd", "StableDiffusionPipeline"),
    ):
        snapshot = cache / f"models--org--{repo.split('/')[1]}" / "snapshots" / "abc"
        snapshot.mkdir(parents=True)
        (snapshot / "model_index.json").write_text(f'{{"_class_name": "{cls}"}}')
        (snapshot.parents[1] / "refs").mkdir()
        (snapshot.parents[1] / "refs" / "main").write_text("abc")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    assert pipeline_class("org/xl") == "StableDiffusionXLPipeline"
    assert pipeline_class("org/sd") == "StableDiffusionPipeline"
    assert pipeline_class("org/not-cached") == "StableDiffusionPipeline"
    assert pipeline_class(str(tmp_path / "model.safetensors")) == "StableDiffusionPipeline"


def _animation(**inputs):
    from studio.spec import AnimationSpec

    spec = AnimationSpec()
    return spec.replace(input=spec.input.replace(**inputs))


def test_instruct_pix2pix_needs_a_picture_to_edit(tmp_path):
    from studio.errors import SpecError
    from studio.spec import BlendSpec

    folder = str(model_folder(tmp_path, "pix2pix"))
    check_model_ref(folder, _animation(image="in.png"))  # an input: it runs
    check_model_ref(folder, _animation(video="in.mp4"))
    with pytest.raises(SpecError, match="InstructPix2Pix .* text-only animation has none"):
        check_model_ref(folder, _animation())
    with pytest.raises(SpecError, match="InstructPix2Pix .* a blend has none"):
        check_model_ref(folder, BlendSpec())
    check_model_ref(str(model_folder(tmp_path, "inpaint")), BlendSpec())  # inpainting blends


def test_a_mask_is_for_inpainting_models_only(tmp_path):
    from studio.errors import SpecError
    from studio.spec import EditSettings

    spec = _animation(image="in.png").replace(edit=EditSettings(mask="mask.png"))
    check_model_ref(str(model_folder(tmp_path, "inpaint")), spec)
    for model in (str(model_folder(tmp_path, "sd1")), "builtin:tiny"):
        with pytest.raises(SpecError, match="a mask is for inpainting models"):
            check_model_ref(model, spec)
    check_model_ref("org/name", spec)  # not at hand: the engine checks it once loaded
