"""The desktop window over a real store: episodes listed, a question answered off the UI thread."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")


def test_window_lists_episodes_and_answers(qtbot: Any, data_dir: Path, media: Any, models_ready: None) -> None:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip
    from ui.app import MainWindow

    clip = make_clip(data_dir.parent / "cat.mp4", media.path("chelsea.png"), 4,
                     datetime(2026, 11, 20, 9, 0, tzinfo=UTC), fps=10, size=(320, 240))
    mem = Memory(data_dir)
    assert mem.import_paths([clip]).imported == 1
    win = MainWindow(mem, now=datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.results.count() == 1, timeout=20000)
    assert "2026" in win.results.item(0).text()
    assert not win.results.item(0).icon().isNull(), "the episode shows its thumbnail"
    win.ask_box.setText("when did I last see a cat?")
    win.ask()
    qtbot.waitUntil(lambda: win.answer.text().startswith("You last saw"), timeout=20000)
    assert "yesterday" in win.answer.text()
    assert win.results.count() == 1
    win.ask_box.setText("when did I last go skiing?")
    win.ask()
    qtbot.waitUntil(lambda: "found no" in win.answer.text(), timeout=20000)
    assert win.results.count() == 0
