"""The ControlNet group of the animation spec: round trip, checks, and old specs without it."""

from __future__ import annotations

import json

import pytest

from studio.errors import CurveError, SpecError
from studio.spec import AnimationSpec, load_spec
from studio.spec.control import ControlNetItem, ControlSettings


def with_nets(*nets: ControlNetItem) -> AnimationSpec:
    return AnimationSpec(control=ControlSettings(nets=nets))


def test_round_trip_with_two_controlnets():
    spec = with_nets(
        ControlNetItem(model="/cn/a", image="/x.png", preprocess="canny", scale="0: (0), 9: (1)"),
        ControlNetItem(model="org/cn", video="/v.mp4", low_threshold=0.05),
    )
    spec.check()
    again = load_spec(spec.to_json())
    assert again == spec
    assert again.to_dict()["control"]["nets"][1]["video"] == "/v.mp4"


def test_a_spec_stored_without_the_group_loads_with_no_controlnet():
    data = json.loads(AnimationSpec().to_json())
    del data["control"]
    assert load_spec(json.dumps(data)).control.nets == ()


@pytest.mark.parametrize(
    ("net", "words"),
    [
        (ControlNetItem(model="cn"), "ControlNet 1 (cn) needs a control image or a control video"),
        (ControlNetItem(model="cn", image="a.png", video="b.mp4"), "a control image and a"),
        (ControlNetItem(model=" ", image="a.png"), "ControlNet 1 has no model"),
        (ControlNetItem(model="cn", image="a.png", scale=""), "control scale curve is empty"),
        (ControlNetItem(model="cn", image="a.png", high_threshold=2.0), "between 0 and 1"),
        (
            ControlNetItem(model="cn", image="a.png", low_threshold=0.5, high_threshold=0.2),
            "low threshold 0.5 is above its high threshold 0.2",
        ),
    ],
)
def test_check_names_the_problem(net, words):
    with pytest.raises(SpecError, match=words.replace("(", r"\(").replace(")", r"\)")):
        with_nets(net).check()


def test_a_bad_scale_curve_names_the_controlnet():
    spec = with_nets(
        ControlNetItem(model="a", image="a.png"),
        ControlNetItem(model="b", image="b.png", scale="0: (1 +)"),
    )
    with pytest.raises(CurveError, match="ControlNet 2 control scale"):
        spec.check()


def test_a_preprocessor_outside_the_choices_is_refused_on_load():
    data = with_nets(ControlNetItem(model="a", image="a.png")).to_dict()
    data["control"]["nets"][0]["preprocess"] = "depth"
    with pytest.raises(SpecError, match="preprocess must be one of none, canny, edges, grayscale"):
        load_spec(json.dumps(data))
