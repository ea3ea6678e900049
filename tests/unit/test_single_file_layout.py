"""What a single original-layout checkpoint is, read from its .safetensors header alone:
SD 1.x / 2.x by cross-attention width, v-prediction by name or YAML, SDXL by its added
embedding, inpainting by input channels; anything else refused in one line."""

from __future__ import annotations

import pytest

from studio.errors import ModelLoadError
from studio.pipeline.builtin import model_defaults
from studio.pipeline.families import check_model_ref, folder_family, read_checkpoint_layout
from studio.pipeline.models import pipeline_class
from tests.support.ldm_checkpoint import HEADERS, write_header_only


@pytest.mark.parametrize(
    ("header", "name", "config", "family", "size"),
    [
        ("sd1", "dreamy-v1-5.safetensors", "sd1", "sd1", 512),
        ("sd2", "v2-1_512-ema-pruned.safetensors", "sd2", "sd2", 512),
        ("sd2", "v2-1_768-ema-pruned.safetensors", "sd2-v", "sd2-v", 768),
        ("sd2", "my-model-v-pred.safetensors", "sd2-v", "sd2-v", 768),
        ("sdxl", "sd_xl_base_1.0.safetensors", "sdxl", "sdxl", 1024),
        ("sdxl", "sd_xl_turbo_1.0.safetensors", "sdxl", "sdxl-turbo", 512),
        ("inpaint", "sd-v1-5-inpainting.safetensors", "sd1", "inpaint", 512),
    ],
)
def test_the_family_comes_from_names_and_shapes(tmp_path, header, name, config, family, size):
    path = write_header_only(tmp_path / name, HEADERS[header])
    layout = read_checkpoint_layout(path)
    assert (layout.config, layout.family.name, layout.family.native_size) == (config, family, size)
    assert layout.in_channels == (9 if header == "inpaint" else 4)
    assert folder_family(str(path)) == layout.family
    assert model_defaults(str(path))["width"] == size


def test_a_yaml_beside_the_file_can_say_v_prediction(tmp_path):
    path = write_header_only(tmp_path / "custom.safetensors", HEADERS["sd2"])
    assert read_checkpoint_layout(path).config == "sd2"
    (tmp_path / "custom.yaml").write_text('model:\n  params:\n    parameterization: "v"\n')
    assert read_checkpoint_layout(path).config == "sd2-v"


def test_an_sd1_file_is_never_v_prediction_by_name(tmp_path):
    path = write_header_only(tmp_path / "anything-768-v.safetensors", HEADERS["sd1"])
    assert read_checkpoint_layout(path).config == "sd1"


def test_sdxl_files_load_as_the_xl_pipeline(tmp_path):
    xl = write_header_only(tmp_path / "xl.safetensors", HEADERS["sdxl"])
    sd = write_header_only(tmp_path / "sd.safetensors", HEADERS["sd1"])
    assert pipeline_class(str(xl)) == "StableDiffusionXLPipeline"
    assert pipeline_class(str(sd)) == "StableDiffusionPipeline"
    assert model_defaults(str(xl))["steps"] == 30


@pytest.mark.parametrize(
    ("header", "says"), [("sdxl-refiner", "refiner"), ("sdxl-inpaint", "SDXL UNet that edits")]
)
def test_sdxl_files_the_render_kinds_cannot_run_are_refused_with_the_reason(tmp_path, header, says):
    path = write_header_only(tmp_path / f"{header}.safetensors", HEADERS[header])
    with pytest.raises(ModelLoadError, match=says):
        check_model_ref(str(path))


@pytest.mark.parametrize(
    ("header", "says"),
    [("lora", "a LoRA or a diffusers-format file"), ("vae-only", "not a Stable Diffusion")],
)
def test_a_file_that_is_no_sd_checkpoint_is_refused_in_one_line(tmp_path, header, says):
    path = write_header_only(tmp_path / "thing.safetensors", HEADERS[header])
    with pytest.raises(ModelLoadError) as info:
        check_model_ref(str(path))
    assert says in str(info.value) and "\n" not in str(info.value)
    assert model_defaults(str(path))["width"] == 512  # defaults never fail; loading says why


def test_a_file_that_is_not_safetensors_is_refused(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(ModelLoadError, match="not a readable .safetensors file"):
        read_checkpoint_layout(path)
