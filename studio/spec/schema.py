"""JSON Schema of each spec kind, exported to ``docs/spec-schema/<kind>.json``.

    python -m studio.spec.schema            # write docs/spec-schema/*.json
    python -m studio.spec.schema --check    # exit 1 if a committed file is out of date

The schema is generated from the models, so it carries each field's one description: type,
default, help, bounds (``minimum``... are checked by ``check()``, not on load), choices and
the ``x-studio`` hints (label, widget, flag, step, format). A test keeps the committed files
equal to what this produces.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from studio.spec.load import KINDS

__all__ = ["SCHEMA_DIR", "kind_schema", "main", "schema_files"]

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "spec-schema"


def kind_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of spec kind ``kind`` (``"animation"``, ``"blend"``), ``kind`` first."""
    model = KINDS[kind]
    schema = model.model_json_schema()
    kind_property = {
        "const": kind,
        "description": "The kind of render; a spec without it is an animation.",
    }
    schema["properties"] = {"kind": kind_property, **schema["properties"]}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_files() -> dict[str, str]:
    """File name -> text (JSON, two-space indent, trailing newline) for every spec kind."""
    return {f"{kind}.json": json.dumps(kind_schema(kind), indent=2) + "\n" for kind in KINDS}


def main(argv: list[str] | None = None) -> int:
    """Write the schema files, or with ``--check`` report those that differ (exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m studio.spec.schema", description=__doc__)
    parser.add_argument("--out", type=Path, default=SCHEMA_DIR, help="folder of the files")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, text in schema_files().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("out of date (run python -m studio.spec.schema): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
