"""The app's shell: pages registered in one list, navigation (list, Go menu, Ctrl+K), the status
bar, an empty memory, and the window over a real store with one imported clip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")


def test_every_registered_page_is_reachable(qtbot: Any, data_dir: Path) -> None:
    from lifelog.api import Memory
    from ui.app import PAGES, MainWindow

    win = MainWindow(Memory(data_dir))
    qtbot.addWidget(win)
    keys = [s.key for s in PAGES]
    assert keys[:3] == ["timeline", "ask", "people"] and len(set(keys)) == len(keys)
    titles = [win.nav.item(i).text() for i in range(win.nav.count())]
    assert titles == [s.title for s in PAGES if s.nav]
    go = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Go")
    assert [a.text() for a in go.actions() if a.text()][: len(titles)] == titles
    for spec in PAGES:
        win.navigate(spec.key)
        assert win.current_key() == spec.key
        assert win.stack.currentWidget() is win.page(spec.key)
    win.nav.setCurrentRow(0)
    assert win.current_key() == PAGES[0].key
    win.navigate("no-such-page")
    assert "no no-such-page page" in win.statusBar().currentMessage()
    win.tasks.wait_idle()


def test_ctrl_k_focuses_the_question_box_from_any_page(qtbot: Any, data_dir: Path) -> None:
    from lifelog.api import Memory
    from ui.app import MainWindow
    from ui.qt import QApplication, Qt

    win = MainWindow(Memory(data_dir))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    win.navigate("people")
    grid = win.page("people").grid
    grid.setFocus()
    qtbot.keyClick(grid, "k", modifier=Qt.KeyboardModifier.ControlModifier)
    assert win.current_key() == "ask"
    qtbot.waitUntil(lambda: win.page("ask").box.hasFocus(), timeout=5000)
    win.tasks.wait_idle()


def test_an_empty_memory_says_so(qtbot: Any, data_dir: Path) -> None:
    from lifelog.api import Memory
    from ui.app import MainWindow

    win = MainWindow(Memory(data_dir))
    qtbot.addWidget(win)
    tl = win.page("timeline")
    qtbot.waitUntil(lambda: tl.loaded, timeout=20000)
    assert tl.day_title.text() == "No memories yet" and tl.episode_list.count() == 0
    people = win.page("people")
    qtbot.waitUntil(lambda: people.loaded, timeout=20000)
    assert "Nobody yet" in people.note.text()
    win.tasks.wait_idle()


def test_window_over_a_real_clip_browses_and_answers(qtbot: Any, data_dir: Path, media: Any,
                                                      models_ready: None) -> None:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip
    from ui.app import MainWindow

    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    clip = make_clip(data_dir.parent / "cat.mp4", media.path("chelsea.png"), 4, at, fps=10, size=(320, 240))
    mem = Memory(data_dir)
    assert mem.import_paths([clip]).imported == 1
    win = MainWindow(mem, now=datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    qtbot.addWidget(win)
    tl = win.page("timeline")
    qtbot.waitUntil(lambda: tl.episode_list.count() == 1, timeout=20000)
    assert tl.day == at.astimezone(mem.tz).date()
    qtbot.waitUntil(lambda: not tl.episode_list.item(0).icon().isNull(), timeout=20000)
    ask = win.page("ask")
    win.navigate("ask", question="when did I last see a cat?")
    qtbot.waitUntil(lambda: ask.result is not None, timeout=20000)
    assert ask.answer.text().startswith("You last saw") and "yesterday" in ask.answer.text()
    assert ask.hits.count() == 1
    win.tasks.wait_idle()

    # results still on their way when the window is closed and deleted are dropped quietly
    # (pytest-qt fails the test on any exception raised in the event loop)
    from ui.qt import QApplication

    win2 = MainWindow(mem, now=datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    win2.page("ask").ask("when did I last see a cat?")
    destroyed: list[bool] = []
    win2.destroyed.connect(lambda *_: destroyed.append(True))
    win2.close()
    win2.deleteLater()
    qtbot.waitUntil(lambda: bool(destroyed), timeout=20000)  # its pools finished their work first
    for _ in range(20):
        QApplication.processEvents()
