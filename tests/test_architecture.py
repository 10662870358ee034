"""The core stays free of Qt and of import-time work."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import lifelog


def _core_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(lifelog.__path__, "lifelog.")]


def test_core_never_imports_qt() -> None:
    mods = _core_modules()
    assert "lifelog.api" in mods and "lifelog.commands.main" in mods
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"Qt imported by the core: {out.stdout}"


def test_importing_the_core_loads_no_model() -> None:
    code = (
        "import lifelog.api, lifelog.commands.main, lifelog.encoders, sys\n"
        "print('onnxruntime' in sys.modules and any("
        "type(v).__name__ == 'InferenceSession' for m in list(sys.modules.values()) for v in vars(m).values()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
