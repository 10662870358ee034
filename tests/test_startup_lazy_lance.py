"""LanceDB imported without its REST client's start-up cost (``lifelog.store.lance_import``,
issue #18): a local memory works as before, the REST client is complete the moment something
uses it, a REST namespace still fails in words, and ``lifelog ask`` answers the same. The first
test pins what the deferral relies on, so a LanceDB or lance-namespace upgrade that changes it
fails here instead of silently."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO_ROOT, cli_env
from ui_memory_helpers import NOW, tiny_memory

from lifelog.store.lance_import import PACKAGE, init_only_binds

QUESTION = "when did I last see a cat?"
# What a cold `lifelog ask` must not import (seconds of start-up, issue #18): video capture, face
# models, speech, the scheduler, the servers, Ray — and the REST client's APIs.
NEVER_FOR_ASK = ("cv2", "mediapipe", "dlib", "faster_whisper", "ctranslate2", "apscheduler", "sqlalchemy",
                 "fastapi", "uvicorn", "ray", "zeroconf", "lance_namespace_urllib3_client.api")


def _py(code: str, *, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                         env=cli_env(LIFELOG_NO_HANDOFF="1"), cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_what_the_deferral_relies_on_still_holds() -> None:
    """The REST client's ``__init__`` only binds names (so running it later changes nothing but
    when), and LanceDB reaches the client only through its ``models`` subpackage at import."""
    spec = importlib.util.find_spec(PACKAGE)
    assert spec is not None and spec.origin and spec.submodule_search_locations
    source = Path(spec.origin).read_text(encoding="utf-8")
    assert init_only_binds(source), f"{spec.origin} now does more than import names: re-check lance_import"
    assert "import ApiClient" in source and "api.table_api import TableApi" in source
    # the guard itself: code with effects is not deferred
    assert not init_only_binds("import os\nos.environ['X'] = '1'\n")
    assert not init_only_binds("def f():\n    pass\n")
    assert init_only_binds('"""doc"""\n__version__ = "1"\nfrom a import b\nimport c\n')


def test_a_local_memory_works_and_the_rest_client_is_never_loaded() -> None:
    out = _py(
        "import sys, tempfile, json\n"
        "from lifelog.store import db, lance_import\n"
        "import lancedb, pyarrow as pa\n"
        "assert lancedb is lance_import.lancedb\n"
        "d = tempfile.mkdtemp()\n"
        "con = lancedb.connect(d)\n"
        "t = con.create_table('x', pa.table({'a': [1, 2], 'v': pa.array([[1.0, 0.0], [0.0, 1.0]],"
        " pa.list_(pa.float32(), 2))}))\n"
        "t.add(pa.table({'a': [3], 'v': pa.array([[0.6, 0.8]], pa.list_(pa.float32(), 2))}))\n"
        "hit = t.search([0.0, 1.0]).limit(1).to_list()[0]['a']\n"
        "rows = lancedb.connect(d).open_table('x').count_rows()\n"
        "print(json.dumps({'hit': hit, 'rows': rows, 'deferred': lance_import.deferred(),\n"
        "  'api': sorted(m for m in sys.modules if m.startswith('lance_namespace_urllib3_client.api'))}))\n"
    )
    doc = json.loads(out.stdout)
    assert doc == {"hit": 2, "rows": 3, "deferred": True, "api": []}


def test_the_rest_client_is_complete_on_first_use() -> None:
    names = ("import json, {pkg}\n"
             "m = {pkg}\n"
             "m.ApiClient\n"
             "print(json.dumps(sorted(n for n in vars(m) if not n.startswith('_')) + [m.__version__]))\n")
    lazy = _py("from lifelog.store import lance_import\n" + names.format(pkg=PACKAGE)
               + "assert not lance_import.deferred()\n")
    eager = _py(names.format(pkg=PACKAGE))  # no lifelog: the package imported as it is
    assert json.loads(lazy.stdout) == json.loads(eager.stdout)
    assert "TableApi" in json.loads(lazy.stdout)


def test_a_rest_namespace_still_fails_in_words() -> None:
    code = ("import lancedb\n"
            "try:\n"
            "    lancedb.connect_namespace('rest', {'uri': 'http://127.0.0.1:9'}).list_tables()\n"
            "except Exception as e:\n"
            "    print(type(e).__name__, 'Service unavailable' in str(e))\n")
    lazy = _py("from lifelog.store import lance_import\n" + code)
    eager = _py(f"import {PACKAGE}\n" + code)
    assert lazy.stdout == eager.stdout == "RuntimeError True\n"


@pytest.fixture(scope="module")
def memory(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data, _ = tiny_memory(tmp_path_factory.mktemp("lazy-lance"), media)
    return data


def test_ask_answers_the_same_with_the_rest_client_loaded_or_not(memory: Path) -> None:
    run = ("import sys\n"
           "{before}\n"
           "from lifelog.commands.main import main\n"
           f"code = main(['--data-dir', {str(memory)!r}, 'ask', {QUESTION!r}, '--now', {NOW.isoformat()!r}"
           "{extra}])\n"
           "from lifelog.store import lance_import\n"
           "print('deferred', lance_import.deferred(), file=sys.stderr)\n"
           f"print('loaded', [m for m in {NEVER_FOR_ASK!r} if m in sys.modules], file=sys.stderr)\n"
           "sys.exit(code)\n")
    for extra in ("", ", '--json'"):
        light = _py(run.format(before="", extra=extra))
        full = _py(run.format(before=f"import {PACKAGE}", extra=extra))
        assert light.stdout == full.stdout and "cat" in light.stdout.lower()
        assert "deferred True" in light.stderr and "deferred False" in full.stderr
        assert "loaded []" in light.stderr, light.stderr  # what answering a question never needs


def test_threads_asking_the_rest_client_at_once_all_get_it() -> None:
    out = _py("import threading\n"
              f"from lifelog.store import lance_import\nimport {PACKAGE} as m\n"
              "barrier, got = threading.Barrier(8), []\n"
              "def use():\n"
              "    barrier.wait()\n"
              "    got.append((m.TableApi, m.ApiClient))\n"
              "threads = [threading.Thread(target=use) for _ in range(8)]\n"
              "[t.start() for t in threads]\n[t.join() for t in threads]\n"
              "print(len(got), len(set(got)), lance_import.deferred())\n")
    assert out.stdout == "8 1 False\n"


def test_the_rest_clients_models_are_built_on_first_use_and_validate_as_before() -> None:
    """The client's ~150 pydantic models are made with ``defer_build`` (their schemas, a tenth
    of a second of every start, are built by the first REST call that uses one): a model then
    accepts, rejects and describes exactly what the eagerly built one does."""
    code = ("import json\n"
            "from lance_namespace_urllib3_client.models import ListTablesRequest as M\n"
            "complete_before = M.__pydantic_complete__\n"
            "ok = M(id=['a', 'b'], limit=3).to_dict()\n"
            "try:\n"
            "    M(id='not a list', limit='x')\n"
            "    bad = None\n"
            "except Exception as e:\n"
            "    bad = [type(e).__name__, sorted(str(err['loc']) for err in e.errors())]\n"
            "print(json.dumps({'before': complete_before, 'ok': ok, 'bad': bad,\n"
            "                  'schema': M.model_json_schema()}))\n")
    lazy = json.loads(_py("from lifelog.store import lance_import\n" + code).stdout)
    eager = json.loads(_py(code).stdout)  # no lifelog: the package imported as it is
    assert lazy["before"] is False and eager["before"] is True
    for key in ("ok", "bad", "schema"):
        assert lazy[key] == eager[key]
    assert lazy["ok"] == {"id": ["a", "b"], "limit": 3, "include_declared": True}
    assert lazy["bad"][0] == "ValidationError"
