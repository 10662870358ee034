#!/usr/bin/env bash
# Remove a lifelog installed by install.sh from a prefix: exactly what its manifest
# (P/share/lifelog/install-manifest.txt) lists, and the folders it created if they are empty
# then. Never the memory (the data dir, ~/.local/share/lifelog by default), never the settings
# of a memory, never a file the install did not put there. It also removes the start-at-login
# entries `lifelog service install` wrote (systemd user unit, XDG autostart), unless
# --keep-service is given (install.sh uses it when it replaces an older version).
# Usage: uninstall.sh [--prefix P] [--keep-service]     (default prefix: ~/.local)
set -euo pipefail
prefix="${HOME}/.local"
keep_service=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --keep-service) keep_service=1; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -d "$prefix" ] || { echo "uninstall.sh: $prefix does not exist" >&2; exit 1; }
prefix="$(cd "$prefix" && pwd)"
manifest="$prefix/share/lifelog/install-manifest.txt"
[ -f "$manifest" ] || { echo "uninstall.sh: no lifelog installed in $prefix ($manifest missing)" >&2; exit 1; }

# Every entry must be "d|f|l <relative path>" inside the prefix; refuse a manifest that is not.
if grep -qvE '^[dfl] [^/]' "$manifest" || grep -qE '(^[dfl] |/)\.\.(/|$)' "$manifest"; then
  echo "uninstall.sh: $manifest is damaged (an entry outside the prefix); nothing removed" >&2
  exit 1
fi

if [ "$keep_service" = 0 ] && [ -x "$prefix/lib/lifelog/lifelog" ]; then
  # Start-at-login entries point at this program: remove them first (a no-op when none exist).
  if "$prefix/lib/lifelog/lifelog" service --help 2>/dev/null | grep -q uninstall; then
    "$prefix/lib/lifelog/lifelog" service uninstall >&2 \
      || echo "uninstall.sh: warning: could not remove the start-at-login entries (lifelog service uninstall)" >&2
  fi
fi

cd "$prefix"
# Files and links first, then the folders the install created, deepest first; a folder that
# holds something the install did not put there stays.
dirs="$(grep -E '^d ' "$manifest" | cut -c3- | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)"
grep -E '^[fl] ' "$manifest" | cut -c3- | grep -vxF "share/lifelog/install-manifest.txt" \
  | xargs -r -d '\n' rm -f --
rm -f -- "share/lifelog/install-manifest.txt"
if [ -n "$dirs" ]; then
  printf '%s\n' "$dirs" | while IFS= read -r d; do
    if [ -d "$d" ] && [ ! -L "$d" ]; then rmdir --ignore-fail-on-non-empty -- "$d"; fi
  done
fi
left="$(printf '%s\n' "$dirs" | while IFS= read -r d; do if [ -n "$d" ] && [ -d "$d" ]; then echo "$d"; fi; done)"
if [ -n "$left" ]; then
  echo "uninstall.sh: kept folders that hold files lifelog did not install: $(echo "$left" | head -n3 | tr '\n' ' ')" >&2
fi
echo "uninstall.sh: lifelog removed from $prefix (your memory and its settings are untouched)" >&2
