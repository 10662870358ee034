"""The core stays free of Qt and of import-time work."""

from __future__ import annotations

import ast
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

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


# ------------------------------------------------------------------ layers
REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )


def test_the_layer_contracts_hold() -> None:
    out = _lint_imports(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_a_wrong_import_breaks_the_layer_contract(tmp_path: Path) -> None:
    """The contract is not decoration: the store importing the facade (upwards) is caught."""
    for name in ("lifelog", "ui"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    sql = tmp_path / "lifelog" / "store" / "sql.py"
    sql.write_text(sql.read_text() + "\nimport lifelog.api  # deliberately wrong: the floor importing the facade\n")
    out = _lint_imports(tmp_path)
    assert out.returncode != 0
    assert "lifelog.store.sql -> lifelog.api" in out.stdout


def _private_imports(root: Path, package: str) -> list[str]:
    """``from lifelog.x import _name`` or ``mod._name`` on an imported lifelog module, across modules."""
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        here = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        tree = ast.parse(path.read_text())
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] not in ("lifelog", "ui") or node.module == here:
                    continue
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{here}: from {node.module} import {a.name}")
                    elif f"{node.module}.{a.name}".split(".")[0] in ("lifelog", "ui"):
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] in ("lifelog", "ui") and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                bad.append(f"{here}: {aliases[node.value.id]}.{node.attr}")
    return bad


def test_no_module_reaches_into_another_modules_private_names() -> None:
    bad = _private_imports(REPO, "lifelog") + _private_imports(REPO, "ui")
    assert bad == [], "\n".join(bad)
