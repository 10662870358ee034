#!/usr/bin/env bash
# Build the Linux package of lifelog: a PyInstaller one-folder program with the Python runtime,
# every dependency (the desktop app's PySide6 included), the built models (models/build/), the
# sample media `lifelog demo` needs offline, the desktop entry and icons, and install.sh /
# uninstall.sh. docs/install.md tells a user what to do with it; docs/dependencies.md says why
# PyInstaller.
#
# Usage: packaging/build_linux.sh [--variant full|ci] [--no-setup] [--tarball] [--print-dir]
#   --variant ci   what CI's smoke test builds (tests/test_package.py): the same program without
#                  the optional second speech model (Whisper base, 140 MB, speech.model = "base");
#                  everything `lifelog demo` and the app use is in it. See docs/install.md.
#   --no-setup     do not run packaging/setup.sh first (it must have run: .venv, models, media)
#   --tarball      also write dist/lifelog-<version>-linux-<arch>[-ci].tar.gz (for downloads)
#   --print-dir    print only the package folder on stdout (for scripts and tests)
#
# The build tool lives in its own environment, .venv-package/ (PyInstaller from PyPI, pinned),
# which sees the runtime packages of .venv/ through a .pth file: the runtime venv gets nothing
# new. A build is cached by a hash of its inputs (sources, the runtime's package list, the
# models' manifest, the sample media index, the packaging files, the variant) under
# $LIFELOG_PACKAGE_CACHE (default <repo>/build/package/, ignored by git): a rebuild in the same
# checkout with the same inputs reuses it (a clean clone, like CI's, builds afresh), and
# dist/lifelog-<version>-linux-<arch>[-ci] links to it. The two newest builds are kept.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

variant="full"
setup=1
tarball=0
print_dir=0
while [ $# -gt 0 ]; do
  case "$1" in
    --variant) variant="$2"; shift 2 ;;
    --variant=*) variant="${1#*=}"; shift ;;
    --no-setup) setup=0; shift ;;
    --tarball) tarball=1; shift ;;
    --print-dir) print_dir=1; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build_linux.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$variant" in full|ci) ;; *) echo "build_linux.sh: --variant is full or ci" >&2; exit 2 ;; esac
say() { echo "build_linux.sh: $*" >&2; }
t0=$(date +%s)

if [ "$setup" = 1 ]; then
  bash packaging/setup.sh >&2
fi
[ -x .venv/bin/python ] || { say ".venv is missing: run packaging/setup.sh"; exit 1; }

# --- the build environment ------------------------------------------------------------------
PYINSTALLER_REQS=("pyinstaller==6.22.3" "pyinstaller-hooks-contrib==2026.9")
site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
stamp=".venv-package/.lifelog-package"
want="$(printf '%s\n' "${PYINSTALLER_REQS[@]}" "$site" "$(.venv/bin/python -VV)" | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv-package/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "creating the build environment .venv-package (PyInstaller from PyPI)"
  rm -rf .venv-package
  # The runtime's own interpreter, so the frozen program runs exactly the Python the tests ran.
  base="$(.venv/bin/python -c 'import sys; print(sys._base_executable)')"
  "$base" -m venv .venv-package
  .venv-package/bin/python -m pip install --quiet "${PYINSTALLER_REQS[@]}" >&2
  pkg_site="$(.venv-package/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # The runtime's packages (and its editable install's finder) after the build tool's own.
  echo "import site; site.addsitedir('$site')" > "$pkg_site/zz-lifelog-runtime.pth"
  echo "$want" > "$stamp"
fi

# --- what goes in -----------------------------------------------------------------------------
version="$(.venv/bin/python -c 'import lifelog; print(lifelog.__version__)')"
arch="$(uname -m)"
name="lifelog-${version}-linux-${arch}"
[ "$variant" = full ] || name="${name}-${variant}"
media="$(.venv/bin/python -c 'from lifelog.sample.fetch import sample_media; print(sample_media().root)')" || {
  say "the sample media is not fetched (python -m lifelog.sample.fetch); the demo needs it"; exit 1; }
[ -f models/build/manifest.json ] || { say "models are not built (models/build.py)"; exit 1; }

inputs_hash="$(
  {
    echo "variant=$variant version=$version arch=$arch"
    printf '%s\n' "${PYINSTALLER_REQS[@]}"
    .venv/bin/python -VV
    .venv/bin/python -m pip freeze --exclude-editable 2>/dev/null
    find lifelog ui assets packaging/lifelog.spec packaging/lifelog_entry.py packaging/linux \
         packaging/install.sh packaging/uninstall.sh packaging/build_linux.sh \
         -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
    sha256sum models/build/manifest.json models/build/imagenet_wordnet.json
    sha256sum "$media/sources.json"
  } | sha256sum | cut -c1-16
)"
cache_root="${LIFELOG_PACKAGE_CACHE:-$here/build/package}"
build_dir="$cache_root/$inputs_hash"
pkg="$build_dir/$name"
mkdir -p dist

if [ -f "$build_dir/.complete" ] && [ -x "$pkg/lifelog/lifelog" ]; then
  say "reusing the cached build $pkg (inputs unchanged)"
else
  rm -rf "$build_dir"
  mkdir -p "$build_dir"
  say "building $name with PyInstaller (one folder) in $build_dir — this takes several minutes"
  t1=$(date +%s)
  LIFELOG_REPO="$here" LIFELOG_SAMPLE_MEDIA="$media" LIFELOG_PKG_VARIANT="$variant" \
    .venv-package/bin/pyinstaller --noconfirm --clean --log-level WARN \
      --distpath "$build_dir/dist" --workpath "$build_dir/work" packaging/lifelog.spec >&2
  t2=$(date +%s)
  mkdir -p "$pkg/share/icons"
  mv "$build_dir/dist/lifelog" "$pkg/lifelog"
  rm -rf "$build_dir/dist" "$build_dir/work"
  cp packaging/linux/lifelog.desktop.in "$pkg/share/lifelog.desktop.in"
  cp assets/icons/lifelog-*.png assets/icons/lifelog.svg "$pkg/share/icons/"
  cp packaging/install.sh packaging/uninstall.sh "$pkg/"
  chmod 0755 "$pkg/install.sh" "$pkg/uninstall.sh"
  cat > "$pkg/README.txt" <<EOF
lifelog $version for Linux ($arch), variant $variant.

Install (no network needed):   ./install.sh --prefix ~/.local
Then start "lifelog" from your desktop's menu, or type: lifelog app   (lifelog demo: a sample day)
Uninstall:                     ~/.local/share/lifelog/uninstall.sh --prefix ~/.local
Your memory stays in ~/.local/share/lifelog (uninstall never removes it).
More: docs/install.md in the source repository.
EOF
  size_kb="$(du -sk "$pkg" | cut -f1)"
  cat > "$pkg/BUILD-INFO.json" <<EOF
{"name": "$name", "version": "$version", "variant": "$variant", "inputs": "$inputs_hash",
 "pyinstaller_seconds": $((t2 - t1)), "size_kb": $size_kb}
EOF
  touch "$build_dir/.complete"
  say "built in $((t2 - t1)) s (PyInstaller), $((size_kb / 1024)) MB"
  # Keep the two newest builds.
  ls -1dt "$cache_root"/*/ 2>/dev/null | tail -n +3 | while IFS= read -r old; do rm -rf "$old"; done
fi

ln -sfn "$pkg" "dist/$name"
if [ "$tarball" = 1 ]; then
  say "writing dist/$name.tar.gz"
  tar -C "$build_dir" -czf "dist/$name.tar.gz.tmp" "$name"
  mv "dist/$name.tar.gz.tmp" "dist/$name.tar.gz"
fi
say "package: dist/$name -> $pkg ($(( $(date +%s) - t0 )) s in all)"
if [ "$print_dir" = 1 ]; then echo "$pkg"; fi
