#!/usr/bin/env bash
# UNTESTED RECIPE (no macOS machine here; see docs/install.md). Build lifelog.app and a .dmg on a
# Mac with Python 3.11+ (arm64 or x86_64: PyInstaller builds for the machine it runs on).
#
#   bash packaging/setup.sh                  # .venv, models/build/, the sample media
#   bash packaging/macos/build_macos.sh      # -> dist/lifelog.app, dist/lifelog-<version>-macos.dmg
#
# What differs from Linux (packaging/build_linux.sh):
# * PyInstaller's BUNDLE step (packaging/lifelog.spec with LIFELOG_PKG_TARGET=macos-app) wraps the
#   one-folder program into lifelog.app; the launcher runs `lifelog app` when started from Finder
#   (no arguments) and the command otherwise — put a link to
#   lifelog.app/Contents/MacOS/lifelog on the PATH (e.g. /usr/local/bin/lifelog) for the CLI.
# * The icon: iconutil makes lifelog.icns from assets/icons/lifelog-<N>.png (below).
# * mediapipe 0.10.21, dlib-bin, ctranslate2 and onnxruntime have macOS wheels; check
#   `pip install` in .venv resolves on the Mac before building (docs/dependencies.md).
# * Gatekeeper: an unsigned app must be opened with right-click > Open once. For distribution
#   sign with `codesign --deep --options runtime -s "Developer ID Application: …" dist/lifelog.app`
#   and notarise with `xcrun notarytool submit … --wait` then `xcrun stapler staple`.
# * The memory lives in ~/Library/Application Support/lifelog (platformdirs); the keyring is the
#   macOS Keychain. Start at login: `lifelog service install --autostart` is Linux-only today; on
#   macOS add lifelog.app to System Settings > General > Login Items.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$here"
[ "$(uname -s)" = Darwin ] || { echo "build_macos.sh: run this on macOS" >&2; exit 1; }

python3 -m venv .venv-package
.venv-package/bin/python -m pip install --quiet "pyinstaller==6.22.3" "pyinstaller-hooks-contrib==2026.9"
site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
pkg_site="$(.venv-package/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "import site; site.addsitedir('$site')" > "$pkg_site/zz-lifelog-runtime.pth"

iconset="build/lifelog.iconset"
mkdir -p "$iconset"
for n in 16 32 128 256 512; do
  cp "assets/icons/lifelog-$n.png" "$iconset/icon_${n}x${n}.png"
done
for n in 16 128 256; do
  cp "assets/icons/lifelog-$((n * 2)).png" "$iconset/icon_${n}x${n}@2x.png"
done
cp assets/icons/lifelog-64.png "$iconset/icon_32x32@2x.png"
iconutil -c icns "$iconset" -o build/lifelog.icns

media="$(.venv/bin/python -c 'from lifelog.sample.fetch import sample_media; print(sample_media().root)')"
LIFELOG_REPO="$here" LIFELOG_SAMPLE_MEDIA="$media" LIFELOG_PKG_VARIANT=full \
LIFELOG_PKG_TARGET=macos-app LIFELOG_PKG_ICON="$here/build/lifelog.icns" \
  .venv-package/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/lifelog.spec

version="$(.venv/bin/python -c 'import lifelog; print(lifelog.__version__)')"
hdiutil create -volname "lifelog $version" -srcfolder dist/lifelog.app -ov -format UDZO "dist/lifelog-$version-macos.dmg"
echo "build_macos.sh: dist/lifelog.app and dist/lifelog-$version-macos.dmg" >&2
