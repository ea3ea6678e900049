"""A model's own settings fill the diffusion fields a spec leaves unset, never the ones it
sets (studio.pipeline.defaults)."""

from __future__ import annotations

from studio.pipeline.defaults import fill_model_defaults, with_explicit
from studio.spec import AnimationSpec
from tests.support.families import model_folder


def test_an_sd1_folder_gives_512_px_and_guidance_7_5_to_a_spec_that_names_only_the_model(
    tmp_path,
):
    folder = str(model_folder(tmp_path, "sd1"))
    spec = AnimationSpec(diffusion={"model": folder})
    d, from_model = fill_model_defaults(spec.diffusion)
    assert (d.width, d.height, d.guidance, d.guidance_stop, d.steps) == (512, 512, 7.5, 0.0, 20)
    assert from_model == {
        "width": 512,
        "height": 512,
        "guidance": 7.5,
        "guidance_stop": 0.0,
        "steps": 20,
    }


def test_explicit_values_stay_even_when_they_equal_the_class_default(tmp_path):
    folder = str(model_folder(tmp_path, "sd1"))
    spec = AnimationSpec(diffusion={"model": folder, "width": 128, "guidance": 3.0})
    d, from_model = fill_model_defaults(spec.diffusion)
    assert (d.width, d.height, d.guidance) == (128, 512, 3.0)
    assert set(from_model) == {"height", "guidance_stop", "steps"}


def test_filling_twice_gives_the_same_values_and_the_same_record(tmp_path):
    folder = str(model_folder(tmp_path, "sd2-v"))
    d, first = fill_model_defaults(AnimationSpec(diffusion={"model": folder}).diffusion)
    again, second = fill_model_defaults(d)
    assert again == d and second == first and d.width == 768
    # A spec built from the filled group keeps the mark, as the app layer sees it.
    assert AnimationSpec().replace(diffusion=d).diffusion.model_fields_set == {"model"}


def test_replace_takes_the_models_value_over_a_set_one_and_with_explicit_marks_a_change():
    d = AnimationSpec(diffusion={"model": "builtin:tiny", "width": 128}).diffusion
    filled, from_model = fill_model_defaults(d, replace=("width",))
    assert filled.width == 64 and from_model["width"] == 64
    typed = with_explicit(filled, {"height": 32})
    assert typed.height == 32 and "height" not in fill_model_defaults(typed)[1]
    assert fill_model_defaults(typed)[1]["width"] == 64


def test_a_spec_loaded_from_json_is_all_explicit():
    spec = AnimationSpec.from_dict(AnimationSpec().to_dict())
    assert fill_model_defaults(spec.diffusion.replace(model="builtin:tiny"))[1] == {}
