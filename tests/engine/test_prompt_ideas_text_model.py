"""Prompt ideas from a local text-generation model: a tiny random-weight GPT-2 (its words are
garbage) still gives one parseable line per keyframe, the same for the same seed."""

from __future__ import annotations

import pytest
import torch

from studio.errors import ModelLoadError
from studio.languages.schedule import parse_schedule
from studio.pipeline.prompt_ideas import suggest_schedule
from tests.support.text_model import WORDS, save_tiny_gpt2


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    return save_tiny_gpt2(tmp_path_factory.mktemp("text-model") / "tiny-gpt2")


def test_a_tiny_gpt2_gives_one_parseable_line_per_keyframe(gpt2):
    state = torch.random.get_rng_state()
    ideas = suggest_schedule(
        "stabilityai/sd-turbo", keyframes=2, frames_per_keyframe=8, seed=5, text_model=gpt2
    )
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    keys = parse_schedule(ideas.schedule).keyframes
    assert [k.frame for k in keys] == [0, 8] and len(ideas.schedule.splitlines()) == 2
    assert [k.prompt for k in keys] == ideas.prompts and all(ideas.prompts)
    allowed = set(WORDS) - set(["#", "|", ":", "[", "]", "(", ")"])
    for prompt in ideas.prompts:  # cleaned: only the model's plain words, no schedule syntax
        assert set(prompt.split()) <= allowed | {"1", "2", "1.", "2."}, prompt
    assert ideas.source == f"text model {gpt2}"
    again = suggest_schedule(keyframes=2, frames_per_keyframe=8, seed=5, text_model=gpt2)
    assert again.schedule == ideas.schedule


def test_a_folder_without_a_model_is_a_load_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="cannot load a text model from"):
        suggest_schedule(text_model=tmp_path / "empty")
