# UNTESTED RECIPE (no Windows machine here; see docs/install.md). Build lifelog for Windows with
# PyInstaller (one folder) and an installer with Inno Setup 6 (packaging/windows/lifelog.iss).
#
#   py -3.11 -m venv .venv; .venv\Scripts\pip install -c packaging\constraints.txt -e ".[app]"
#   .venv\Scripts\pip install --no-deps -c packaging\constraints.txt -r packaging\requirements-nodeps.txt
#   .venv\Scripts\python models\build.py; .venv\Scripts\python models\wordnet.py
#   .venv\Scripts\python -m lifelog.sample.fetch        # the Debian sources are skipped on Windows
#   powershell -File packaging\windows\build_windows.ps1
#
# Notes: mediapipe 0.10.21, dlib-bin, ctranslate2 and onnxruntime publish Windows wheels; check
# they resolve first. The memory lives in %LOCALAPPDATA%\lifelog; the key in Credential
# Manager. An MSIX instead of Inno Setup: `MakeAppx pack /d dist\lifelog /p lifelog.msix` with an
# AppxManifest.xml naming lifelog.exe, then SignTool; MSIX apps run in a container whose
# AppData is virtualised (the memory would move there), which is why Inno Setup is the default.
$ErrorActionPreference = "Stop"
$repo = Resolve-Path "$PSScriptRoot\..\.."
Set-Location $repo

py -3.11 -m venv .venv-package
.venv-package\Scripts\python -m pip install --quiet "pyinstaller==6.22.3" "pyinstaller-hooks-contrib==2026.9"
$site = & .venv\Scripts\python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"
$pkgSite = & .venv-package\Scripts\python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"
"import site; site.addsitedir(r'$site')" | Out-File -Encoding ascii "$pkgSite\zz-lifelog-runtime.pth"

# lifelog.ico from the PNGs (Pillow is in .venv)
& .venv\Scripts\python -c "from PIL import Image; im = Image.open('assets/icons/lifelog-256.png'); im.save('build/lifelog.ico', sizes=[(16,16),(24,24),(32,32),(48,48),(64,64),(128,128),(256,256)])"

$env:LIFELOG_REPO = "$repo"
$env:LIFELOG_SAMPLE_MEDIA = & .venv\Scripts\python -c "from lifelog.sample.fetch import sample_media; print(sample_media().root)"
$env:LIFELOG_PKG_VARIANT = "full"
$env:LIFELOG_PKG_ICON = "$repo\build\lifelog.ico"
.venv-package\Scripts\pyinstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller packaging\lifelog.spec

$version = & .venv\Scripts\python -c "import lifelog; print(lifelog.__version__)"
& "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" "/DAppVersion=$version" packaging\windows\lifelog.iss
Write-Host "build_windows.ps1: dist\lifelog\ and dist\lifelog-$version-windows-setup.exe"
