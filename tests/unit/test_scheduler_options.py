"""Scheduler options are checked against the scheduler class's own parameters before any
model loads, and read from ``--scheduler-option KEY=VALUE`` as JSON scalars."""

from __future__ import annotations

import pytest

from studio.errors import SpecError
from studio.pipeline.schedulers import check_scheduler_options, scheduler_options
from studio.spec.loading import options_text, parse_option, parse_options


def test_the_known_options_are_the_classs_init_parameters():
    options = scheduler_options("dpm++")
    assert options["use_karras_sigmas"] is False and options["solver_order"] == 2
    assert "self" not in options and "kwargs" not in options


def test_a_known_option_of_the_right_type_passes():
    check_scheduler_options("dpm++", {"use_karras_sigmas": True, "solver_order": 3})
    check_scheduler_options("euler", {"timestep_spacing": "trailing", "steps_offset": 1})
    check_scheduler_options("ddim", {"beta_end": 0.012, "num_train_timesteps": 1000.0})


def test_an_unknown_option_names_itself_and_the_close_ones():
    with pytest.raises(SpecError) as caught:
        check_scheduler_options("dpm++", {"use_karras_sigma": True})
    message = str(caught.value)
    assert "'use_karras_sigma'" in message and "did you mean use_karras_sigmas" in message
    assert "\n" not in message
    with pytest.raises(SpecError, match="its options: num_train_timesteps"):
        check_scheduler_options("ddim", {"zzz": 1})


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"use_karras_sigmas": 1}, "must be true or false, got 1"),
        ({"solver_order": 2.5}, "must be a whole number, got 2.5"),
        ({"beta_end": "high"}, "must be a number, got 'high'"),
        ({"timestep_spacing": 3}, "must be a word"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(options, expected):
    with pytest.raises(SpecError, match=expected):
        check_scheduler_options("dpm++", options)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("use_karras_sigmas=true", ("use_karras_sigmas", True)),
        ("solver_order=3", ("solver_order", 3)),
        ("beta_end=0.012", ("beta_end", 0.012)),
        ('timestep_spacing="trailing"', ("timestep_spacing", "trailing")),
        ("timestep_spacing=trailing", ("timestep_spacing", "trailing")),
    ],
)
def test_option_values_are_json_scalars_or_text(text, expected):
    assert parse_option(text) == expected


@pytest.mark.parametrize("text", ["use_karras_sigmas", "=1", "betas=[1, 2]"])
def test_an_option_without_a_key_or_with_a_list_is_refused(text):
    with pytest.raises(SpecError):
        parse_option(text)


def test_the_dashboards_option_lines_read_back_as_they_were_written():
    options = {"use_karras_sigmas": True, "solver_order": 3, "timestep_spacing": "trailing"}
    options |= {"beta_end": 0.012, "note": "true", "spaced": "a b"}
    text = options_text(options)
    assert "timestep_spacing=trailing" in text.splitlines()
    assert parse_options(text + "\n\n") == options
