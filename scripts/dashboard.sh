#!/usr/bin/env bash
# Set up (first time only) and start the dashboard on http://127.0.0.1:8501.
# Extra arguments go to streamlit, e.g. scripts/dashboard.sh --server.port 8600
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh runtime
exec .venv/bin/python -m streamlit run streamlit_app.py "$@"
