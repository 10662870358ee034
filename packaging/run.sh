#!/usr/bin/env bash
# Set up, build the sample day, import it, answer sample questions; then open the app when a display exists.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/packaging/setup.sh"
"$here/.venv/bin/lifelog" demo "$@"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${CI:-}" ]; then
  exec "$here/.venv/bin/lifelog" app --demo
fi
