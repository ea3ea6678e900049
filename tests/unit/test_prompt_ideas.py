"""Prompt ideas from a built-in model's words: schedules the parser reads, in the model's
vocabulary, the same for the same seed (studio.pipeline.prompt_ideas)."""

from __future__ import annotations

import pytest

from studio.errors import SpecError
from studio.languages.schedule import parse_schedule
from studio.pipeline import shapes_words
from studio.pipeline.prompt_ideas import suggest_schedule
from studio.pipeline.vocab import WORDS


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 99])
@pytest.mark.parametrize("model", ["builtin:shapes", "builtin:tiny"])
def test_suggestions_parse_as_schedules_of_known_words(model, seed):
    ideas = suggest_schedule(model, keyframes=6, frames_per_keyframe=9, seed=seed)
    keys = parse_schedule(ideas.schedule).keyframes
    assert [k.frame for k in keys] == ideas.frames == [0, 9, 18, 27, 36, 45]
    assert [k.prompt for k in keys] == ideas.prompts
    for prompt in ideas.prompts:
        assert shapes_words.unknown_words(prompt) == []
        assert set(prompt.split()) <= set(WORDS)  # one token each for builtin:tiny too
        assert any(c in prompt.split() for c in shapes_words.COLOUR_WORDS)
        assert any(s in prompt.split() for s in shapes_words.SHAPES)
    # a walk: neighbours differ, and not in everything
    for a, b in zip(ideas.prompts, ideas.prompts[1:], strict=False):
        assert a != b and set(a.split()) & set(b.split()) - {"a", "an", "on", "the"}


def test_the_same_seed_gives_the_same_ideas_and_others_differ():
    import studio

    assert studio.suggest_prompts is suggest_schedule  # the Python API
    first = suggest_schedule(keyframes=5, seed=11)
    assert suggest_schedule(keyframes=5, seed=11) == first
    others = {suggest_schedule(keyframes=5, seed=s).schedule for s in range(12, 20)}
    assert first.schedule not in others and len(others) > 4


def test_a_theme_names_the_first_colour_and_shape():
    ideas = suggest_schedule(keyframes=2, seed=4, theme="Purple triangles? a purple triangle")
    assert "purple triangle" in ideas.prompts[0]
    assert ideas.source == "vocabulary of builtin:shapes"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "stabilityai/sd-turbo"}, "has no vocabulary to draw prompt ideas from"),
        ({"keyframes": 0}, "keyframes must be from 1 to 100, got 0"),
        ({"keyframes": 101}, "got 101"),
        ({"frames_per_keyframe": 0}, "frames per keyframe must be 1 or more, got 0"),
        ({"keyframes": 3, "frames_per_keyframe": 60_000}, "end after frame 100000"),
        ({"text_dtype": "float8"}, "got 'float8'"),
    ],
)
def test_bad_requests_name_the_bad_value(kwargs, message):
    with pytest.raises(SpecError, match=message):
        suggest_schedule(**kwargs)
