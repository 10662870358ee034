#!/usr/bin/env bash
# Set up, then run linters, type checks and the test suite (Qt offscreen).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/packaging/setup.sh"
cd "$here"
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
