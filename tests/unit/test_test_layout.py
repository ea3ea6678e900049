"""The test suite's own layout: tiers by folder, shared code in conftest files and tests/support.

- every test module lives directly in one tier folder, and no two share a name (the tier
  folders are not packages, so pytest imports a test module by its bare name);
- no module under tests/ imports a test module (``tests.ui.test_app``, ``test_app``,
  ``.test_app``): fixtures go into conftest.py, helpers into tests/support/;
- no module under tests/ imports a private name (``_foo``) of product code: tests use what the
  product offers, so it can change its insides freely.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
TIERS = ("unit", "engine", "store", "hub", "app", "cli", "ui", "e2e", "training")
PRODUCT = ("studio", "db", "ui", "pages", "training", "streamlit_app", "benchmarks")


def tier_test_modules(root: Path = TESTS) -> list[Path]:
    return sorted(root.rglob("test_*.py"))


def python_files(root: Path = TESTS) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def misplaced(root: Path = TESTS) -> list[str]:
    """Test modules that are not directly inside a tier folder."""
    return [
        str(p.relative_to(root))
        for p in tier_test_modules(root)
        if p.parent.parent != root or p.parent.name not in TIERS
    ]


def is_test_module(name: str) -> bool:
    """``tests.ui.test_app``, ``test_app``, ``.test_app``, ``tests.test_app``: a test module."""
    return any(part.startswith("test_") for part in name.split("."))


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def bad_imports(source: str) -> list[str]:
    """Each import in ``source`` of a test module or of a private product name, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            names: list[str] = []
        elif isinstance(node, ast.ImportFrom):
            modules = ["." * node.level + (node.module or "")]
            names = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.lstrip(".").split(".")
            if is_test_module(module) or any(is_test_module(n) for n in names):
                found.append(f"line {node.lineno}: test module {module} {names or ''}".strip())
            elif not module.startswith(".") and parts[0] in PRODUCT:
                private = [p for p in parts if is_private(p)] + [n for n in names if is_private(n)]
                if private:
                    found.append(f"line {node.lineno}: private {module}: {', '.join(private)}")
    return found


def test_every_test_module_lives_in_a_tier_folder():
    assert misplaced() == []
    tiers = {p.parent.name for p in tier_test_modules()}
    assert tiers == set(TIERS), f"tiers without tests: {set(TIERS) - tiers}"


def test_test_modules_have_unique_names():
    names = [p.name for p in tier_test_modules()]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


def test_support_holds_no_tests_and_every_folder_is_known():
    assert not list((TESTS / "support").glob("test_*.py"))
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= set(TIERS) | {"support", "data"}, folders


def test_no_module_imports_a_test_module_or_a_private_product_name():
    found = {
        str(path.relative_to(TESTS)): bad
        for path in python_files()
        if (bad := bad_imports(path.read_text(encoding="utf-8")))
    }
    assert found == {}
    assert len(python_files()) > 50  # it looked at the whole suite


@pytest.mark.parametrize(
    "source",
    [
        "from tests.test_app import APP",
        "from tests.ui.test_app import render",
        "from test_app import app, navigation_v2",
        "import test_sessions",
        "from . import test_first_render",
        "from .test_first_render import PAGES",
        "from tests.ui import test_app",
        "from studio.blend.render import _crossfeed",
        "from db import _engine",
        "import studio.pipeline._impl",
        "from ui.history import plain, _hours",
        "def f():\n    from training.shapes.train import _stage\n",
    ],
)
def test_the_layout_check_finds_what_it_forbids(source: str):
    assert len(bad_imports(source)) == 1, source


@pytest.mark.parametrize(
    "source",
    [
        "from tests.support.dashboard import APP, render",
        "from tests.support.hub_server import FakeHub",
        "from .helpers import User",
        "from studio import __version__",
        "import studio.__main__",
        "from numpy import _NoValue",  # not product code
        "from db.hub import push_session",
    ],
)
def test_the_layout_check_allows_support_modules_and_public_names(source: str):
    assert bad_imports(source) == [], source


def test_misplaced_finds_a_test_module_outside_the_tiers(tmp_path: Path):
    for name in ("unit/test_ok.py", "test_top.py", "support/test_x.py", "unit/deep/test_y.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert misplaced(tmp_path) == ["support/test_x.py", "test_top.py", "unit/deep/test_y.py"]
