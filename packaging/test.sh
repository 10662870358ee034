#!/usr/bin/env bash
# Set up, then run linters, type checks, the layer contracts and the test suite (Qt offscreen).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/packaging/setup.sh"
cd "$here"
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache  # the layers (pyproject.toml [tool.importlinter], docs/architecture.md)
.venv/bin/python -m pytest "$@"
