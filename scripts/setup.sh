#!/usr/bin/env bash
# Create .venv and install the pinned dependencies. Safe to run again: it re-installs only
# when a requirements file changed. Usage: scripts/setup.sh [runtime|dev]
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-runtime}"
case "$profile" in
  runtime) req=requirements.txt ;;
  dev) req=requirements-dev.txt ;;
  *) echo "usage: scripts/setup.sh [runtime|dev]" >&2; exit 2 ;;
esac

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Latent Studio needs Python 3.11 or newer ($python is $("$python" -V 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$profile"
want="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing $req (first time takes a few minutes)"
  # One pip command, so torch==2.13.0 is chosen together with everything that needs torch.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
