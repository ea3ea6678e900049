"""studio.pipeline.shapes_words: the words builtin:shapes learnt, listed once for the product
and the training dataset, and the product's independence from training/."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from studio.pipeline import builtin, shapes_words
from studio.pipeline.shapes_words import unknown_words, vocabulary
from training.shapes import dataset

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("studio", "db", "ui", "pages", "streamlit_app.py")


def test_every_caption_word_is_known_and_other_words_are_named():
    rng = np.random.default_rng(0)
    for _ in range(200):
        scene = dataset.sample_scene(rng)
        assert unknown_words(dataset.caption(scene)) == []
    assert vocabulary()["shapes"] == ("circle", "square", "triangle", "star")
    assert "at the top left" in vocabulary()["positions"]
    assert unknown_words("a (red:1.3) circle++ in watercolour, Cat and cat") == [
        "watercolour",
        "cat",
        "and",
    ]


def test_the_dataset_draws_exactly_the_words_the_product_knows():
    words = vocabulary()
    assert tuple(dataset.COLOURS) == words["colours"]
    assert tuple(dataset.BACKGROUNDS) == words["backgrounds"]
    assert words["shapes"] == dataset.SHAPES
    assert words["sizes"] == dataset.SIZES
    assert dataset.POSITIONS == shapes_words.POSITIONS
    # Backgrounds reuse the shape colours' RGB; gray is for backgrounds only.
    assert dataset.BACKGROUNDS["blue"] == dataset.COLOURS["blue"]
    assert dataset.BACKGROUNDS["gray"] == (128, 128, 128)
    # Every phrase a caption writes for a place is in the vocabulary's positions.
    rng = np.random.default_rng(1)
    for position in dataset.POSITIONS:
        scene = dataset.sample_scene(rng, position=position)
        text = dataset.caption(scene, ("position",))
        assert text.endswith(shapes_words.PLACE_PHRASES[position]), text


def test_builtin_shapes_reports_these_words():
    assert builtin.vocabulary("builtin:shapes") == vocabulary()
    assert builtin.unknown_words("builtin:shapes", "a red cat") == ["cat"]
    assert builtin.vocabulary("builtin:tiny") is None


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_product_module_imports_training():
    files = []
    for name in PRODUCT:
        path = ROOT / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    assert len(files) > 20
    offenders = {
        str(f.relative_to(ROOT)): sorted(
            m for m in _imported_modules(f) if m.split(".")[0] == "training"
        )
        for f in files
    }
    assert not {f: m for f, m in offenders.items() if m}
