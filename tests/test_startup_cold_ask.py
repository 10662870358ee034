"""A cold ``lifelog ask`` (a process that answers one question and ends, issue #18) answers
exactly what any other process answers: pandas is left out of it (pyarrow imports pandas, when
it is installed, for nothing lifelog asks of it), the text model's version is hashed only when
something records it. Real memories, real processes, no mocks."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO_ROOT, cli_env
from ui_memory_helpers import NOW, tiny_memory

QUESTION = "when did I last see a cat?"
HAS_PANDAS = importlib.util.find_spec("pandas") is not None

# The command's own process: `lifelog ask …` with this command line (argv=None: the quick path,
# as the `lifelog` script and `python -m lifelog` run it); what it imported is said by an atexit
# function, which runs before the process ends at once (exit_at_once).
COLD = ("import atexit, sys\n"
        "atexit.register(lambda: print('pandas imported:', 'pandas' in sys.modules, file=sys.stderr))\n"
        "sys.argv = ['lifelog'] + {argv!r}\n"
        "from lifelog.commands.main import main\n"
        "sys.exit(main())\n")
# The same command called as a function (argv given: not a one-question process), pandas imported
# first where it is installed: everything as in the service or the app.
WARM = ("import sys\n"
        "{before}\n"
        "from lifelog.commands.main import main\n"
        "code = main({argv!r})\n"
        "print('pandas imported:', 'pandas' in sys.modules, file=sys.stderr)\n"
        "sys.exit(code)\n")


def _py(code: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=cli_env(LIFELOG_NO_HANDOFF="1", **env), cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def memory(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data, _ = tiny_memory(tmp_path_factory.mktemp("cold-ask"), media)
    return data


def _listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and "run" not in p.relative_to(folder).parts[:1]}


@pytest.mark.parametrize("extra", [[], ["--json"], ["--json", "--no-thumbnails"]],
                         ids=["text", "json", "json-no-thumbs"])
def test_a_cold_ask_answers_as_a_process_with_pandas(memory: Path, extra: list[str]) -> None:
    argv = ["--data-dir", str(memory), "ask", QUESTION, "--now", NOW.isoformat(), *extra]
    before = _listing(memory)
    cold = _py(COLD.format(argv=argv))
    warm = _py(WARM.format(argv=argv, before="import pandas" if HAS_PANDAS else ""))
    assert "cat" in cold.stdout.lower()
    if "--json" in extra:
        assert json.loads(cold.stdout) == json.loads(warm.stdout)
    assert cold.stdout == warm.stdout
    assert "pandas imported: False" in cold.stderr
    assert f"pandas imported: {HAS_PANDAS}" in warm.stderr
    assert _listing(memory) == before  # a question writes nothing in the memory (its thumbnails go to run/)


def test_pandas_is_out_of_the_one_question_process_only() -> None:
    """In the one-question process pandas is as if not installed (a use fails loudly, never
    quietly); where pandas was imported already nothing changes."""
    out = _py("import sys\n"
              "from lifelog.commands.ask import without_pandas\n"
              "assert without_pandas() is True\n"
              "import pyarrow as pa\n"
              "print(pa.array([1, None]).null_count)\n"
              "try:\n"
              "    import pandas\n"
              "except ModuleNotFoundError as e:\n"
              "    print('refused', e.name)\n")
    assert out.stdout == "1\nrefused pandas\n"
    if HAS_PANDAS:
        out = _py("import pandas as pd\n"
                  "from lifelog.commands.ask import without_pandas\n"
                  "assert without_pandas() is False\n"
                  "import pyarrow as pa\n"
                  "print(pa.array(pd.Series([1, None, 3], dtype='Int64')).null_count)\n")
        assert out.stdout == "1\n"


def test_the_text_models_version_is_its_files_hash(models_ready: None) -> None:
    """Hashed when first asked for (a question never records one), the same value as ever."""
    from lifelog.encoders.text import MAX_TOKENS, ONNX_FILE, TextEncoder
    from lifelog.paths import models_dir

    enc = TextEncoder()
    digest = hashlib.sha256((models_dir() / ONNX_FILE).read_bytes()).hexdigest()
    assert enc.version == f"onnx-{digest[:12]}-max{MAX_TOKENS}"
    assert enc.version == enc.version


_CLASSES = ("import json, sys, inspect\n"
            "{before}\n"
            "from lifelog.store.lance_import import lancedb\n"
            "import lancedb.db, lancedb.namespace, lancedb.remote.db\n"
            "out = {{}}\n"
            "for mod in ('lancedb.db', 'lancedb.namespace', 'lancedb.remote.db'):\n"
            "    for cname, cls in vars(sys.modules[mod]).items():\n"
            "        if not inspect.isclass(cls) or cls.__module__ != mod:\n"
            "            continue\n"
            "        for name, v in vars(cls).items():\n"
            "            f = getattr(v, 'fget', None) or getattr(v, '__func__', None) or v\n"
            "            if callable(f):\n"
            "                out[f'{{mod}}.{{cname}}.{{name}}'] = [getattr(f, '__qualname__', ''),\n"
            "                                                bool(getattr(f, '__override__', False))]\n"
            "from overrides import EnforceOverrides\n"
            "class Base(EnforceOverrides):\n"
            "    def m(self) -> int:\n"
            "        return 1\n"
            "try:\n"
            "    class Unmarked(Base):\n"
            "        def m(self) -> int:\n"
            "            return 2\n"
            "    enforced = False\n"
            "except TypeError:\n"
            "    enforced = True\n"
            "print(json.dumps({{'methods': out, 'enforced': enforced}}))\n")


def test_lancedb_is_the_same_with_override_as_a_marker() -> None:
    """The one-question process makes ``overrides.override`` a marker (as ``typing.override``,
    which LanceDB uses from Python 3.12): LanceDB's classes are the same, their methods marked
    the same, and ``EnforceOverrides`` still refuses an override that is not marked."""
    pytest.importorskip("overrides")
    marked = json.loads(_py(_CLASSES.format(before="from lifelog.commands.ask import overrides_as_markers\n"
                                                   "assert overrides_as_markers() or sys.version_info >= (3, 12)"
                                                   )).stdout)
    plain = json.loads(_py(_CLASSES.format(before="")).stdout)
    assert marked == plain
    assert plain["enforced"] is True
    assert sum(flag for _, flag in plain["methods"].values()) > 50  # LanceDB's @override methods
