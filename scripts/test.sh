#!/usr/bin/env bash
# Set up (first time only) and run the test suite: every tier under tests/ (pyproject's testpaths).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit` for one tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
# The browser tests drive Debian's Chromium; install it when this machine can.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "setup: installing chromium for the browser tests"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; }; then
    echo "setup: could not install chromium; the browser tests will be skipped" >&2
  fi
fi
# Two processes (pytest-xdist, one test file per process at a time, one torch thread each:
# tests/conftest.py) where the machine has two cores or more; STUDIO_TEST_WORKERS=N sets the
# number, 1 runs everything in this process (CI's slow tier, whose browser tests wait on renders).
workers="${STUDIO_TEST_WORKERS:-$(( $(nproc) >= 2 ? 2 : 1 ))}"
if [ "$workers" -gt 1 ]; then
  exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
fi
exec .venv/bin/python -m pytest "$@"
