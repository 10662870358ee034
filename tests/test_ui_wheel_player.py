"""Two small things of issue #18: the mouse wheel over Settings scrolls the page and changes a
combo box only once it has the focus; the episode player's controls (play/pause, seek, time,
speed) are on screen — inside the window, not pushed out of it — and they work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_ui_playback import INTO, Sample, _cat_moment, _open, _qt_player_loads, sample, window  # noqa: F401

pytest.importorskip("PySide6")


def _wheel(widget: Any, steps: int) -> None:
    from ui.qt import QApplication, QPoint, QPointF, Qt, QWheelEvent

    centre = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, -120 * steps),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)


def test_the_wheel_over_settings_scrolls_and_leaves_unfocused_fields_alone(qtbot: Any, data_dir: Path) -> None:
    from lifelog.api import Memory
    from ui.app import MainWindow
    from ui.qt import QComboBox

    win = MainWindow(Memory(data_dir))
    qtbot.addWidget(win)
    win.resize(1000, 500)  # short: the page scrolls
    win.show()
    qtbot.waitExposed(win)
    win.navigate("settings")
    page = win.page("settings")
    combo = next(c for c in page.findChildren(QComboBox) if c.isVisible() and c.count() > 1)
    bar = page.scroller.verticalScrollBar()
    assert bar.maximum() > 0, "the page is longer than the window"
    index, scrolled = combo.currentIndex(), bar.value()
    _wheel(combo, 1)
    assert combo.currentIndex() == index, "a field without the focus keeps its value"
    assert bar.value() > scrolled, "the page scrolled instead"
    assert page.wheel_guard.redirected == 1
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus)
    target = 1 if combo.currentIndex() == 0 else combo.currentIndex() - 1
    _wheel(combo, 1 if target > combo.currentIndex() else -1)
    assert combo.currentIndex() == target, "the focused field takes the wheel"
    win.tasks.wait_idle()


def test_the_players_controls_are_on_screen_and_work(window: Any, sample: Sample, qtbot: Any) -> None:  # noqa: F811
    from ui.qt import QRect

    moment, _ep = _cat_moment(sample)
    panel = _open(window, qtbot, sample, sample.cat_episode, moment)
    controls = [panel.play, panel.seek, panel.time_label, panel.speed]

    def on_screen() -> list[str]:
        inside = QRect(0, 0, window.width(), window.height())
        bad = []
        for w in controls:
            top_left = w.mapTo(window, w.rect().topLeft())
            box = QRect(top_left, w.size())
            if not (w.isVisible() and w.height() > 0 and w.width() > 0 and inside.contains(box)):
                bad.append(f"{type(w).__name__} at {box} in {inside}")
        return bad

    assert on_screen() == []
    assert panel.time_label.text(), "the time is shown before playing"
    panel.play.click()
    if _qt_player_loads():
        qtbot.waitUntil(panel.is_playing, timeout=60000)
        qtbot.waitUntil(lambda: panel.video is not None and panel.video.isVisible(), timeout=60000)
        assert on_screen() == [], "the video does not push the controls out of the window"
        assert "Pause" in panel.play.text()
        panel.play.click()
        qtbot.waitUntil(lambda: not panel.is_playing(), timeout=60000)
        panel.seek.setValue(int(INTO * 1000) + 2000)
        qtbot.waitUntil(lambda: abs(panel.player.position() - (INTO * 1000 + 2000)) < 500, timeout=60000)
    else:  # the system player: the controls stay on screen and say why they cannot seek
        assert on_screen() == []
        assert not panel.seek.isEnabled() and "system player" in panel.seek.toolTip()
