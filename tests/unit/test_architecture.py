"""The architecture holds: the import-linter contracts (docs/architecture.md) and small files.

The contracts live in ``pyproject.toml``; this runs the real ``lint-imports`` so that a change
that imports upwards, makes two render kinds depend on each other or closes an import cycle
fails the default test tier, with import-linter's own report of the offending import chain.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("studio", "db", "ui", "pages", "training")
MAX_LINES = 500


def test_every_import_linter_contract_is_kept(tmp_path):
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" not in done.stdout.lower().replace("0 broken", ""), done.stdout


def test_no_product_file_is_longer_than_500_lines():
    long = {
        str(path.relative_to(ROOT)): lines
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these into modules of at most {MAX_LINES} lines: {long}"


def test_the_contracts_cover_every_engine_package():
    """A new engine subpackage must join the layers, or nothing would check its imports."""
    config = (ROOT / "pyproject.toml").read_text()
    packages = sorted(p.name for p in (ROOT / "studio").iterdir() if (p / "__init__.py").is_file())
    missing = [name for name in packages if f'"studio.{name}' not in config]
    assert not missing, f"studio subpackages in no import-linter contract: {missing}"


def test_ruff_lint_and_format_are_clean():
    """Lint (with type hints on every function of studio/ and db/: ruff's ANN rules) and format,
    as configured in pyproject.toml; CI runs the tests, so this is where it enforces them."""
    ruff = Path(sys.executable).with_name("ruff")
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        done = subprocess.run(
            [str(ruff), *command], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"ruff {' '.join(command)}:\n{done.stdout}{done.stderr}"
