"""Run one measurement in a child process, so its peak memory is its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_child(cmd: list[str]) -> dict:
    """Run ``cmd`` and return the JSON object on its last line of stdout; exit on failure."""
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"benchmark child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
