"""The vocabulary's text vectors, worked out once (issue #18, lifelog.encoders.phrases): a cold
``lifelog ask`` about a thing the models know answers from them without starting the text model,
with exactly the answer the model gives; a question about anything else, or a table made by
another model, starts the model as before. Real model, real memory, real processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import REPO_ROOT, cli_env
from ui_memory_helpers import NOW, tiny_memory

# What the cold process imported, said by an atexit function (it ends at once: exit_at_once).
COLD = ("import atexit, sys\n"
        "atexit.register(lambda: print('text model started:', 'onnxruntime' in sys.modules, file=sys.stderr))\n"
        "sys.argv = ['lifelog'] + {argv!r}\n"
        "from lifelog.commands.main import main\n"
        "sys.exit(main())\n")


@pytest.fixture(scope="module")
def memory(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data, _ = tiny_memory(tmp_path_factory.mktemp("phrases"), media)
    return data


@pytest.fixture(scope="module")
def table_cache(models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder with the table made in it (as packaging/setup.sh makes it)."""
    cache = tmp_path_factory.mktemp("cache-with-table")
    make = "from lifelog.encoders.text import ensure_phrase_table as e; print(e())"
    out = subprocess.run([sys.executable, "-c", make], capture_output=True, text=True, timeout=600,
                         env=cli_env(LIFELOG_CACHE=str(cache)), cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert Path(out.stdout.strip()) == cache / "text-phrases.npz"
    return cache


def _cold_ask(memory: Path, cache: Path, question: str, *extra: str) -> tuple[str, bool]:
    argv = ["--data-dir", str(memory), "ask", question, "--now", NOW.isoformat(), *extra]
    out = subprocess.run([sys.executable, "-c", COLD.format(argv=argv)], capture_output=True, text=True,
                         timeout=300, env=cli_env(LIFELOG_NO_HANDOFF="1", LIFELOG_CACHE=str(cache)), cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    started = "text model started: True" in out.stderr
    assert started or "text model started: False" in out.stderr, out.stderr[-2000:]
    return out.stdout, started


def test_the_tables_vectors_are_the_models_own(table_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bit for bit, whatever else is in the batch the model computes them in."""
    from lifelog.encoders.phrases import PhraseTable, vocabulary
    from lifelog.encoders.text import TextEncoder

    enc = TextEncoder()
    words = vocabulary(enc.models_dir)
    assert {"cat", "cats", "bicycle", "coffee mug", "computer monitor", "gym"} <= set(words)
    rng = np.random.default_rng(3)
    sample = [words[i] for i in rng.choice(len(words), size=120, replace=False)]
    table = PhraseTable(table_cache / "text-phrases.npz", enc.model_files)
    got = table.lookup(sample)
    assert got is not None
    mixed = enc.encode_with_model([*sample, "the sign at the arcade that said double parking prohibited"])
    assert np.array_equal(got, mixed[:-1])
    # asked as people type them: the same rows
    again = table.lookup(["  Coffee   Mug ", "CATS"])
    assert again is not None and np.array_equal(again, enc.encode_with_model(["coffee mug", "cats"]))
    assert table.lookup(["cat", "the sign at the arcade"]) is None  # one text not in it: the model answers all
    assert table.lookup(["café"]) is None  # not plain ASCII: left to the model's own normaliser

    monkeypatch.setenv("LIFELOG_CACHE", str(table_cache))
    fresh = TextEncoder()
    assert np.array_equal(fresh.encode(["cat", "Coffee cup"]), enc.encode_with_model(["cat", "Coffee cup"]))
    assert fresh._session is None  # answered from the table: the model was not started


@pytest.mark.parametrize("extra", [[], ["--json", "--no-thumbnails"]], ids=["text", "json"])
def test_a_cold_ask_about_a_known_thing_answers_the_same_without_the_text_model(
        memory: Path, table_cache: Path, tmp_path: Path, extra: list[str]) -> None:
    no_table = tmp_path / "empty-cache"
    no_table.mkdir()
    with_model, started = _cold_ask(memory, no_table, "when did I last see a cat?", *extra)
    assert started
    from_table, started = _cold_ask(memory, table_cache, "when did I last see a cat?", *extra)
    assert not started
    assert from_table == with_model and "cat" in from_table


def test_a_question_outside_the_vocabulary_starts_the_model(memory: Path, table_cache: Path, tmp_path: Path) -> None:
    no_table = tmp_path / "empty-cache"
    no_table.mkdir()
    q = "when did I last see a cat sleeping on a sunny windowsill?"
    answer, started = _cold_ask(memory, table_cache, q)
    assert started
    assert answer == _cold_ask(memory, no_table, q)[0]


def test_a_table_made_by_another_model_is_not_read(models_ready: None, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A model file replaced (an update) makes the table stale: the model answers, and the next
    ensure_phrase_table makes it again."""
    from lifelog.encoders.phrases import is_current
    from lifelog.encoders.text import TextEncoder, ensure_phrase_table
    from lifelog.paths import models_dir

    models = tmp_path / "models"
    models.mkdir()
    for f in models_dir().iterdir():
        if f.is_file():
            (models / f.name).symlink_to(f)
    (models / "tokenizer.json").unlink()
    (models / "tokenizer.json").write_bytes((models_dir() / "tokenizer.json").read_bytes())
    monkeypatch.setenv("LIFELOG_CACHE", str(tmp_path / "cache"))
    enc = TextEncoder(models)
    path = ensure_phrase_table(enc)
    assert path is not None and is_current(path, enc.model_files)
    st = os.stat(models / "tokenizer.json")
    os.utime(models / "tokenizer.json", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a new file
    assert not is_current(path, enc.model_files)
    fresh = TextEncoder(models)
    fresh.encode(["cat"])
    assert fresh._session is not None  # the stale table was not read
    assert ensure_phrase_table(fresh) == path and is_current(path, fresh.model_files)


def test_an_unwritable_cache_leaves_questions_to_the_model(models_ready: None, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from lifelog.encoders.text import TextEncoder, ensure_phrase_table

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("LIFELOG_CACHE", str(blocked))
    enc = TextEncoder()
    assert ensure_phrase_table(enc) is None
    assert enc.encode(["cat"]).shape == (1, 384)


def test_a_process_ending_while_the_table_is_made_ends_cleanly(models_ready: None, tmp_path: Path) -> None:
    """The app or the service closed while the vocabulary is being worked out on its thread: the
    process stops it and exits normally (a model left running under the interpreter's teardown
    aborted it: "terminate called without an active exception"), and leaves no partial table."""
    cache = tmp_path / "cache"
    code = ("import time\n"
            "from lifelog.encoders.text import ensure_in_background, get_text_encoder\n"
            "get_text_encoder().encode_with_model(['warm'])\n"
            "th = ensure_in_background()\n"
            "time.sleep(0.5)\n"
            "print('alive:', th.is_alive(), flush=True)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=cli_env(LIFELOG_CACHE=str(cache)), cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "alive: True" in out.stdout  # it was still working when the process ended
    assert "terminate called" not in out.stderr
    assert not cache.exists() or [p.name for p in cache.iterdir()] in ([], ["text-phrases.npz"])
    if (cache / "text-phrases.npz").exists():  # finished in time on a fast machine: whole
        from lifelog.encoders.phrases import is_current
        from lifelog.encoders.text import TextEncoder

        assert is_current(cache / "text-phrases.npz", TextEncoder().model_files)
