"""A fast start (issue #18 item 5): what the user sees first comes first, and nothing is lost.

* The app's timeline draws its latest day before the start-up work that can wait (the retention
  purge on the write thread, the nightly schedule) begins — and that work still happens: the
  purge removes what has been in the trash too long and says so, the schedule is hosted.
* A page's first read of what the user looks at (the timeline's day) goes ahead of the reads the
  other pages queued while the window was built.
* The Settings page's "is Ray installed?" is answered without importing Ray (a second of CPU).
* PySide's import hook no longer reads the source of every module imported after Qt: the app
  still selects no PySide ``__feature__`` (where the trim would matter).
* A cold ``lifelog ask`` answered in-process ends without the interpreter's teardown: the answer
  printed is the whole in-process answer (also through a pipe, also as JSON), the thumbnails it
  names are on disk, and with the models missing the error is the same clear one as before.

Real memory from real media, real models, the real window offscreen (pytest-qt); no timings.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2024, 5, 16, 12, 0, tzinfo=UTC)
WAIT = 60000


@pytest.fixture(scope="module")
def two_days(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A memory with a cat on 14 May and a rocket on 15 May (the rocket's episode id)."""
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("startup-app")
    files = [make_clip(root / "cat.mp4", media.path("chelsea.png"), 4, datetime(2024, 5, 14, 9, tzinfo=UTC),
                       fps=10, size=(320, 240)),
             make_clip(root / "rocket.mp4", media.path("rocket.jpg"), 4, datetime(2024, 5, 15, 12, tzinfo=UTC),
                       fps=10, size=(320, 240))]
    mem = Memory(root / "memory")
    assert mem.import_paths(files).imported == 2
    cat_at = datetime(2024, 5, 14, 9, tzinfo=UTC)
    cat = min(mem.episodes(), key=lambda e: abs((e.start - cat_at).total_seconds())).id
    return root / "memory", cat


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.lock", "run"))
    return dst


def test_the_timeline_shows_its_day_before_the_deferred_start_up_work_which_still_runs(
        two_days: tuple[Path, str], tmp_path: Path, qtbot: Any) -> None:
    from lifelog.api import Memory
    from ui.main_window import PAGES, MainWindow, PageSpec
    from ui.pages.timeline import TimelinePage

    data = _copy(two_days[0], tmp_path / "memory")
    cat = two_days[1]
    Memory(data).trash_episodes([cat], now=NOW - timedelta(days=31))  # expired: the start-up purge removes it
    seen: dict[str, Any] = {}
    holder: dict[str, Any] = {}

    def timeline(ctx: Any) -> TimelinePage:  # the real page, watched from before the window connects to it
        page = TimelinePage(ctx)
        holder["page"] = page

        def at_first_content() -> None:
            win = holder["win"]
            seen["moments"] = len(page.moments)
            seen["day"] = page.day
            seen["retention"] = win.retention_result
            seen["writes_running"] = win.tasks.writes.activeThreadCount()

        page.first_content.connect(at_first_content)
        return page

    pages = [PageSpec("timeline", spec.title, timeline) if spec.key == "timeline" else spec for spec in PAGES]
    win = MainWindow(Memory(data), now=NOW, pages=pages)
    holder["win"] = win
    qtbot.addWidget(win)
    win.start_scheduler()  # as ui.app.main does, right after the window is shown
    assert not win.scheduler.started
    qtbot.waitUntil(lambda: "moments" in seen, timeout=WAIT)
    # the latest day with memories is drawn, with its moments, before any start-up write began
    assert seen["moments"] > 0
    assert seen["day"] == max(d.day for d in Memory(data).days())
    assert seen["retention"] is None and seen["writes_running"] == 0
    # …and the deferred work still happens: the purge, said in the status bar, and the schedule
    qtbot.waitUntil(lambda: win.retention_result is not None and win.scheduler.started and not win.tasks.busy(),
                    timeout=WAIT)
    assert win.retention_result.trash == [cat]
    assert "1 episode from the trash" in win.statusBar().currentMessage(), win.statusBar().currentMessage()
    assert Memory(data).episode(cat) is None
    win.close()


def test_an_empty_memory_still_gets_its_start_up_work(tmp_path: Path, qtbot: Any, models_ready: None) -> None:
    from lifelog.api import Memory
    from ui.main_window import MainWindow

    win = MainWindow(Memory(tmp_path / "memory"), now=NOW)
    qtbot.addWidget(win)
    win.start_scheduler()
    qtbot.waitUntil(lambda: win.retention_result is not None and win.scheduler.started, timeout=WAIT)
    assert win.retention_result.is_empty()
    assert getattr(win.pages["timeline"], "content_shown", None) is True
    win.close()


def test_the_days_read_goes_ahead_of_reads_queued_before_it(qtbot: Any) -> None:
    from ui.tasks import Tasks

    tasks = Tasks(read_threads=1)
    gate = threading.Event()
    order: list[str] = []
    tasks.read(gate.wait)  # the one reader is busy
    for name in ("people", "objects", "settings"):
        tasks.read(lambda n=name: order.append(n))  # type: ignore[misc]
    tasks.read(lambda: order.append("the day"), first=True)
    gate.set()
    qtbot.waitUntil(lambda: len(order) == 4, timeout=WAIT)
    assert order[0] == "the day", order
    assert order[1:] == ["people", "objects", "settings"]


def test_asking_whether_ray_is_installed_does_not_import_it() -> None:
    code = ("import importlib.util, sys\n"
            "from lifelog.api.models import ray_installed\n"
            "print(ray_installed(), importlib.util.find_spec('ray') is not None, 'ray' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    answer, installed, imported = out.split()
    assert answer == installed  # the Settings page offers the Ray engine exactly when it is installed
    assert imported == "False"


def test_pyside_no_longer_reads_every_module_and_the_app_selects_no_feature() -> None:
    import ui.qt

    assert ui.qt.FEATURE_HOOK_TRIMMED
    feature = sys.modules["shibokensupport.feature"]
    assert feature._mod_uses_pyside(sys.modules["json"]) is False  # not read: no feature there
    # the trim is sound only while nothing here selects a PySide feature (snake_case, true_property)
    selecting = [p for root in ("ui", "lifelog", "tests") for p in (REPO / root).rglob("*.py")
                 if re.search(r"^\s*from\s+__feature__\s+import", p.read_text(encoding="utf-8"), re.M)]
    assert selecting == []


def _ask_cold(data: Path, env_extra: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIFELOG_NO_HANDOFF": "1", "PYTHONPATH": str(REPO), **env_extra}
    return subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(data), "ask", "when did I see a cat?",
                           "--now", NOW.isoformat(), *extra], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_cold_question_ended_at_once_prints_the_whole_answer(two_days: tuple[Path, str], tmp_path: Path) -> None:
    import json

    from lifelog.api import Memory

    data = _copy(two_days[0], tmp_path / "memory")
    run = _ask_cold(data, {})
    assert run.returncode == 0, run.stderr
    expected = Memory(data).ask("when did I see a cat?", now=NOW)
    lines = run.stdout.splitlines()
    assert lines[0] == expected.answer
    assert two_days[1] in run.stdout  # the cat's episode is the evidence
    assert len([ln for ln in lines if re.match(r"\s+\d+\. ", ln)]) == len(expected.hits)  # every hit, none cut off
    shown = re.findall(r"\[(/[^\]]+\.jpg)\]", run.stdout)
    assert shown and all(Path(p).is_file() for p in shown)  # the thumbnails it names were written
    as_json = _ask_cold(data, {}, "--json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)  # one whole JSON document, flushed before the end
    assert doc["answer"] == expected.answer and len(doc["hits"]) == len(expected.hits)


def test_a_cold_question_without_models_says_which_file_is_missing(two_days: tuple[Path, str], tmp_path: Path) -> None:
    data = _copy(two_days[0], tmp_path / "memory")
    empty = tmp_path / "no-models"
    empty.mkdir()
    run = _ask_cold(data, {"LIFELOG_MODELS_DIR": str(empty)})
    assert run.returncode == 1
    assert f"model file {empty}/" in run.stderr and "is missing" in run.stderr, run.stderr
    assert "packaging/setup.sh" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_question_offered_to_the_service_with_its_folder_named_imports_nothing_more(tmp_path: Path) -> None:
    """``lifelog --data-dir D ask …`` tries the running service with the standard library alone:
    not the core, not even the platform folders (the folder is named); without a service it
    falls through to the full command (here: nothing answered, so ``None``)."""
    code = ("import sys\n"
            "from lifelog.commands.ask import handed_over\n"
            f"print(handed_over(['--data-dir', {str(tmp_path)!r}, 'ask', 'when did I see a cat?']))\n"
            "print(sorted(m for m in ('platformdirs', 'lifelog.store', 'lifelog.config', 'numpy', 'lancedb')"
            " if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("LIFELOG_NO_HANDOFF", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["(True, None)", "[]"]


APP_CHILD = r"""
import gc, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv)
seen = {}
def poll():
    for w in QApplication.topLevelWidgets():
        if type(w).__name__ == "MainWindow" and w.isVisible() and w.pages["timeline"].moments and not w.tasks.busy():
            print("gc enabled", gc.isenabled(), "frozen", gc.get_freeze_count() > 0, flush=True)
            w.close()
            QApplication.quit()
timer = QTimer()
timer.timeout.connect(poll)
timer.start(20)
from ui.app import main
sys.exit(main(data_dir=sys.argv[1]))
"""


def test_the_app_collects_garbage_again_once_its_window_is_up(two_days: tuple[Path, str], tmp_path: Path) -> None:
    """The collector is off while the core is imported and the window built (a start-up saving):
    the app the user then lives in has it on again, with what start-up loaded frozen out of it."""
    data = _copy(two_days[0], tmp_path / "memory")
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run([sys.executable, "-c", APP_CHILD, str(data)], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "gc enabled True frozen True" in run.stdout, run.stdout + run.stderr[-2000:]
