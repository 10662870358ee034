"""Opening the app on a memory and a day of its timeline, shared by the timeline's UI tests
(tests/test_ui_timeline_visual.py, tests/test_ui_theme.py)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

WAIT = 60000


def open_window(data_dir: Path, qtbot: Any, now: datetime) -> Any:
    """The main window on ``data_dir``, shown, exposed and active."""
    from lifelog.api import Memory
    from ui.app import MainWindow
    from ui.qt import QApplication

    win = MainWindow(Memory(data_dir), now=now)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    return win


def timeline_of(win: Any) -> Any:
    from ui.pages.timeline import TimelinePage

    page = win.page("timeline")
    assert isinstance(page, TimelinePage)
    return page


def open_day(tl: Any, qtbot: Any, day: date) -> None:
    """Select ``day`` and wait until its grid is drawn."""
    qtbot.waitUntil(lambda: tl.loaded, timeout=WAIT)
    tl.select_day(day)
    qtbot.waitUntil(lambda: tl.day == day and bool(tl.grid.groups) and tl.day_note.text() != "Loading…",
                    timeout=WAIT)
