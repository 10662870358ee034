#!/usr/bin/env bash
# Install a built lifelog package into a prefix (default ~/.local), without the repository or
# the network:
#   P/lib/lifelog/                     the program (PyInstaller one-folder: lifelog + _internal/)
#   P/bin/lifelog                      the command (a link to it; put P/bin on your PATH)
#   P/share/applications/lifelog.desktop   the menu entry
#   P/share/icons/hicolor/<N>x<N>/apps/lifelog.png, scalable/apps/lifelog.svg
#   P/share/lifelog/install-manifest.txt   everything above, for uninstall.sh
# Usage: install.sh [--prefix P] [--from DIR]
#   DIR is the built package folder (dist/lifelog-<version>-linux-<arch>, made by
#   packaging/build_linux.sh; default: the folder this script is in when it is inside one, else
#   the newest under <repo>/dist). Installing over an older version replaces it (the old one is
#   uninstalled first, by its own manifest); the memory (data dir) is never touched.
set -euo pipefail
prefix="${HOME}/.local"
from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --from) from="$2"; shift 2 ;;
    --from=*) from="${1#*=}"; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "$from" ]; then
  if [ -x "$here/lifelog/lifelog" ]; then
    from="$here"
  else
    from="$(ls -1dt "$here/../dist"/lifelog-*-linux-* 2>/dev/null | head -n1 || true)"
  fi
fi
[ -n "$from" ] && [ -x "$from/lifelog/lifelog" ] || {
  echo "install.sh: no built package found (build one with packaging/build_linux.sh, or give --from DIR)" >&2
  exit 1
}
from="$(cd "$from" && pwd)"
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
manifest_rel="share/lifelog/install-manifest.txt"

if [ -f "$prefix/$manifest_rel" ]; then
  echo "install.sh: replacing the lifelog installed in $prefix" >&2
  bash "$from/uninstall.sh" --prefix "$prefix" --keep-service >&2
fi

# The manifest records what this install created, one entry a line, relative to the prefix:
# "d DIR" for a folder it made (removed by uninstall only when empty), "f FILE", "l LINK".
tmp_manifest="$(mktemp)"
trap 'rm -f "$tmp_manifest"' EXIT
note_dirs() {  # record the folders of $1 (relative) that do not exist yet, outermost first
  local rel="$1" acc="" part
  IFS='/' read -r -a parts <<< "$rel"
  for part in "${parts[@]}"; do
    acc="${acc:+$acc/}$part"
    if [ ! -e "$prefix/$acc" ]; then
      echo "d $acc" >> "$tmp_manifest"
      mkdir -p "$prefix/$acc"
    fi
  done
}

note_dirs "lib"
[ ! -e "$prefix/lib/lifelog" ] || { echo "install.sh: $prefix/lib/lifelog exists and was not installed by this script; remove it first" >&2; exit 1; }
echo "install.sh: copying the program into $prefix/lib/lifelog" >&2
cp -a "$from/lifelog" "$prefix/lib/lifelog"
( cd "$prefix" && find lib/lifelog -type d -printf 'd %p\n' && find lib/lifelog -type l -printf 'l %p\n' \
  && find lib/lifelog ! -type d ! -type l -printf 'f %p\n' ) >> "$tmp_manifest"

note_dirs "bin"
ln -s "../lib/lifelog/lifelog" "$prefix/bin/lifelog"
echo "l bin/lifelog" >> "$tmp_manifest"

note_dirs "share/applications"
sed "s|@BIN@|$prefix/bin/lifelog|g" "$from/share/lifelog.desktop.in" > "$prefix/share/applications/lifelog.desktop"
echo "f share/applications/lifelog.desktop" >> "$tmp_manifest"

for png in "$from"/share/icons/lifelog-*.png; do
  n="$(basename "$png" .png)"; n="${n#lifelog-}"
  note_dirs "share/icons/hicolor/${n}x${n}/apps"
  cp "$png" "$prefix/share/icons/hicolor/${n}x${n}/apps/lifelog.png"
  echo "f share/icons/hicolor/${n}x${n}/apps/lifelog.png" >> "$tmp_manifest"
done
note_dirs "share/icons/hicolor/scalable/apps"
cp "$from/share/icons/lifelog.svg" "$prefix/share/icons/hicolor/scalable/apps/lifelog.svg"
echo "f share/icons/hicolor/scalable/apps/lifelog.svg" >> "$tmp_manifest"

note_dirs "share/lifelog"
cp "$from/uninstall.sh" "$prefix/share/lifelog/uninstall.sh"
echo "f share/lifelog/uninstall.sh" >> "$tmp_manifest"
echo "f $manifest_rel" >> "$tmp_manifest"
cp "$tmp_manifest" "$prefix/$manifest_rel"
chmod 0644 "$prefix/$manifest_rel"

version="$("$prefix/bin/lifelog" --version 2>/dev/null || echo "lifelog (version unknown)")"
echo "install.sh: installed $version into $prefix" >&2
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "install.sh: add $prefix/bin to your PATH to type 'lifelog' (or run $prefix/bin/lifelog)" >&2 ;;
esac
echo "install.sh: uninstall with: bash $prefix/share/lifelog/uninstall.sh --prefix $prefix" >&2
