"""Bad input to `lifelog ask` (issue #3): a clear message or a sensible answer, never a traceback,
never a blocked import.

Covered elsewhere: empty questions and a malformed ``--now`` through the real CLI
(tests/test_cli.py ``test_usage_errors_are_one_line_exit_2``); the parser on 10,000-character,
pathological and non-English questions and impossible dates (tests/test_parse.py). Here the same
inputs go end to end through the real CLI on a real memory, and a question is asked while a real
import (another process) is writing to the same memory.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    CAT_EVENING_AT,
    CAT_MORNING_AT,
    NOW_EVENING,
    Library,
    cli_env,
    copy_to,
    error_line,
    json_doc,
    library,
    run_cli,
)

from lifelog.paths import REPO_ROOT

pytestmark = pytest.mark.usefixtures("models_ready")


@pytest.fixture(scope="session")
def lib(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Library:
    return library(tmp_path_factory, media)


@pytest.fixture(scope="module")
def memory(lib: Library, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A memory holding the morning cat clip and the rocket clip."""
    from lifelog.api import Memory

    data = tmp_path_factory.mktemp("recall-bad") / "memory"
    res = Memory(data).import_paths([lib.cat_morning, lib.rocket])
    assert res.imported == 2 and not res.failed
    return data


def _ask_cli(data: Path, question: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(data, "ask", question, "--now", NOW_EVENING, "--json", *extra)


def test_ten_thousand_character_question_is_answered(memory: Path) -> None:
    question = "when did I last see a cat " + "really " * 1428  # 10,022 characters
    assert len(question) >= 10_000
    proc = _ask_cli(memory, question)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json_doc(proc)
    assert doc["intent"] == "last"
    assert doc["question"] == question.strip()  # echoed whole, parsed on its first characters
    assert doc["hits"], doc["answer"]
    assert datetime.fromisoformat(doc["hits"][0]["start"]) == CAT_MORNING_AT


@pytest.mark.parametrize("question", ["¿Cuándo vi un gato?", "Wann habe ich zuletzt eine Katze gesehen?"])
def test_question_in_another_language_gets_a_sentence_not_a_traceback(memory: Path, question: str) -> None:
    proc = _ask_cli(memory, question)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json_doc(proc)
    assert doc["intent"] == "when"
    assert isinstance(doc["answer"], str) and doc["answer"].endswith(".")
    assert doc["understood"]["subject"] == question.strip("¿?")  # taken as it is, not half-parsed


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("did I see a cat on February 30th?", "February 30"),
        ("how many rockets did I see on 31 April?", "April 31"),
    ],
)
def test_date_that_does_not_exist_is_a_one_line_error(memory: Path, question: str, named: str) -> None:
    proc = _ask_cli(memory, question)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout.strip() == ""
    assert named in error_line(proc)


def test_now_given_as_a_date_without_a_time_is_refused_or_understood(memory: Path) -> None:
    proc = run_cli(memory, "ask", "when did I last see a cat?", "--now", "14 May 2024", "--json")
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2, proc.stdout
    assert "--now" in error_line(proc)


def test_ask_while_an_import_is_writing(lib: Library, memory: Path, tmp_path: Path) -> None:
    """A real import in another process writes the evening cat (and more) while questions are
    asked here and through the CLI: every answer comes from committed data (the morning cat
    before the import commits, the evening cat after), none fails, and the import is not blocked."""
    from lifelog.api import Memory
    from lifelog.recall.answer import ask
    from lifelog.recall.parse import parse_now

    src = tmp_path / "card"
    for p in (lib.cat_evening, lib.rocket_later, lib.two_scenes, lib.coffee_jpg):
        copy_to(p, src / p.name)
    cmd = [sys.executable, "-m", "lifelog", "--data-dir", str(memory), "import", str(src), "--json"]
    imp = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=REPO_ROOT)
    now = parse_now(NOW_EVENING)
    seen: set[datetime] = set()
    during = 0
    cli_during: subprocess.CompletedProcess[str] | None = None
    try:
        deadline = time.monotonic() + 240
        while imp.poll() is None and time.monotonic() < deadline:
            ans = ask(Memory(memory), "when did I last see a cat?", now=now, thumbnails=False)
            assert ans.hits, ans.answer
            seen.add(ans.hits[0].start)
            during += 1
            if cli_during is None:
                cli_during = _ask_cli(memory, "how many times did I see a rocket?")
        out, err = imp.communicate(timeout=240)
    finally:
        if imp.poll() is None:
            imp.kill()
            imp.wait()
    assert imp.returncode == 0, err[-2000:]
    assert during >= 1, "the import finished before a question could be asked"
    # Only whole, committed episodes: the last cat is the morning one until the evening clip's
    # import commits, then the evening one; never anything in between.
    assert seen <= {CAT_MORNING_AT, CAT_EVENING_AT}, seen
    assert cli_during is not None and cli_during.returncode == 0, cli_during.stderr if cli_during else None
    assert json_doc(cli_during)["count"] in (1, 2, 3)  # 1 rocket clip before, 2 (+ the two-scene one) after
    after = ask(Memory(memory), "when did I last see a cat?", now=now, thumbnails=False)
    assert after.hits[0].start == CAT_EVENING_AT
    assert json_doc(subprocess.CompletedProcess(cmd, 0, out, err))["imported"] == 4
