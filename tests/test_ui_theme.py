"""The app's look and its zoom levels (issue #19 items 3 and 5), on a real memory of real clips:
light and dark themes reach the hand-painted timeline, Ctrl+K puts the cursor in Ask's box from
the timeline, the year view lists the months with footage and opens one (Escape zooms back out),
and the pages of an empty memory say what to do.

The memory (built once): a cat in May and a cat in June of the same year.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from ui_timeline_helpers import open_day, open_window, timeline_of

pytest.importorskip("PySide6")

T_MAY = datetime(2024, 5, 14, 15, 0, tzinfo=UTC)
T_JUNE = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
WAIT = 60000


@dataclass
class Sample:
    data_dir: Path
    may: date
    june: date


@pytest.fixture(scope="module")
def sample(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("ui-theme")
    files = [make_clip(root / "may.mp4", media.path("chelsea.png"), 3, T_MAY, fps=10, size=(320, 240)),
             make_clip(root / "june.mp4", media.path("chelsea.png"), 3, T_JUNE, fps=10, size=(320, 240))]
    mem = Memory(root / "memory")
    result = mem.import_paths(files)
    assert result.imported == 2, result.failed
    tz = mem.tz
    return Sample(root / "memory", T_MAY.astimezone(tz).date(), T_JUNE.astimezone(tz).date())


@pytest.fixture
def restore_look(qapp: Any) -> Iterator[None]:
    """The theme is application-wide: put back what the other tests expect."""
    from ui import theme

    palette, sheet, style = qapp.palette(), qapp.styleSheet(), qapp.style().name()
    yield
    theme.apply(qapp, "light")  # the painted widgets' colours, as before
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)


def _open(data_dir: Path, qtbot: Any) -> Any:
    return open_window(data_dir, qtbot, NOW)


@pytest.fixture
def window(sample: Sample, qtbot: Any) -> Iterator[Any]:
    win = _open(sample.data_dir, qtbot)
    yield win
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


_timeline = timeline_of
_open_day = open_day


def _colours(widget: Any) -> set[tuple[int, int, int]]:
    img = widget.grab().toImage()
    return {(c.red(), c.green(), c.blue()) for c in (img.pixelColor(x, y)
            for x in range(img.width()) for y in range(img.height()))}


def _rgb(c: Any) -> tuple[int, int, int]:
    return (c.red(), c.green(), c.blue())


def test_light_and_dark_themes_reach_the_palette_and_the_painted_timeline(
        window: Any, sample: Sample, qtbot: Any, qapp: Any, restore_look: None) -> None:
    from ui import theme
    from ui.qt import QApplication

    tl = _timeline(window)
    _open_day(tl, qtbot, sample.may)
    qtbot.waitUntil(lambda: bool(tl.day_bar.secs), timeout=WAIT)
    seen: dict[str, tuple[set[tuple[int, int, int]], set[tuple[int, int, int]]]] = {}
    for name in ("light", "dark"):
        look = theme.apply(qapp, name)
        assert look is theme.current() and look.name == name
        pal = QApplication.palette()
        assert _rgb(pal.color(pal.ColorRole.Window)) == _rgb(look.window)
        assert _rgb(pal.color(pal.ColorRole.Highlight)) == _rgb(look.accent)
        bar, grid = _colours(tl.day_bar), _colours(tl.grid.viewport())
        # the day bar draws the current moment in the theme's accent and its hours in its text
        # colour, the grid on the theme's base
        assert _rgb(look.accent) in bar, f"{name}: no cursor drawn in {look.accent.name()}"
        assert _rgb(look.text) in bar
        assert _rgb(look.base) in grid
        seen[name] = (bar, grid)
    assert _rgb(theme.LIGHT.base) not in seen["dark"][1], "the dark grid still shows the light background"
    assert _rgb(theme.DARK.accent) not in seen["light"][0] and _rgb(theme.LIGHT.accent) not in seen["dark"][0]


def test_the_theme_follows_the_environment_then_the_system(qapp: Any, restore_look: None,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from ui import theme

    monkeypatch.setenv("LIFELOG_THEME", "dark")
    assert theme.apply(qapp).name == "dark"
    monkeypatch.setenv("LIFELOG_THEME", "system")
    assert theme.apply(qapp).name == theme.system_scheme()
    # sizes come from the font: a larger font gives larger units
    from ui.qt import QLabel

    small, big = QLabel("a"), QLabel("a")
    f = big.font()
    f.setPointSizeF(f.pointSizeF() * 2)
    big.setFont(f)
    assert theme.em(big) > theme.em(small) > 0


def test_ctrl_k_puts_the_cursor_in_asks_box_from_the_timeline(window: Any, sample: Sample, qtbot: Any) -> None:
    from ui.pages.ask import AskPage
    from ui.qt import Qt

    tl = _timeline(window)
    _open_day(tl, qtbot, sample.may)
    tl.grid.setFocus()
    qtbot.waitUntil(lambda: tl.grid.hasFocus(), timeout=5000)
    qtbot.keyClick(tl.grid, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    ask = window.page("ask")
    assert isinstance(ask, AskPage)
    qtbot.waitUntil(lambda: window.current_key() == "ask" and ask.box.hasFocus(), timeout=5000)
    # and from the month overview too
    window.navigate("timeline")
    tl.show_month()
    tl.month_view.setFocus()
    qtbot.keyClick(tl.month_view, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.current_key() == "ask" and ask.box.hasFocus(), timeout=5000)


def test_the_year_view_lists_the_months_with_footage_and_opens_one(
        window: Any, sample: Sample, qtbot: Any) -> None:
    from ui.qt import Qt

    tl = _timeline(window)
    _open_day(tl, qtbot, sample.june)
    qtbot.mouseClick(tl.year_btn, Qt.MouseButton.LeftButton)
    yv = tl.year_view
    assert tl.stack.currentWidget() is yv
    qtbot.waitUntil(lambda: yv.count() == 2, timeout=WAIT)
    assert [(t.year, t.month) for t in yv.tiles] == [(sample.may.year, sample.may.month),
                                                     (sample.june.year, sample.june.month)]
    assert all(t.days == 1 and t.frames > 0 for t in yv.tiles)
    assert "May" in yv.item(0).text() and "1 day" in yv.item(0).text() and "moment" in yv.item(0).text()
    qtbot.waitUntil(lambda: not yv.item(0).icon().isNull(), timeout=WAIT)  # a representative frame
    # a click on May opens May's day tiles
    qtbot.mouseClick(yv.viewport(), Qt.MouseButton.LeftButton, pos=yv.visualItemRect(yv.item(0)).center())
    mv = tl.month_view
    qtbot.waitUntil(lambda: tl.stack.currentWidget() is mv and [t.day for t in mv.tiles] == [sample.may],
                    timeout=WAIT)
    assert tl.day == sample.may
    # Escape in the month zooms out to the year; a day tile opens the day
    qtbot.keyClick(mv, Qt.Key.Key_Escape)
    assert tl.stack.currentWidget() is yv
    qtbot.mouseClick(tl.month_btn, Qt.MouseButton.LeftButton)
    assert tl.stack.currentWidget() is mv
    qtbot.mouseClick(mv.viewport(), Qt.MouseButton.LeftButton, pos=mv.visualItemRect(mv.item(0)).center())
    qtbot.waitUntil(lambda: tl.stack.currentWidget() is tl.grid and tl.day == sample.may
                    and len(tl.grid.groups) == 1, timeout=WAIT)


def test_the_pages_of_an_empty_memory_say_what_to_do(qtbot: Any, tmp_path: Path) -> None:
    from ui.pages.ask import EMPTY_TEXT

    win = _open(tmp_path / "empty", qtbot)
    try:
        ask = win.page("ask")
        qtbot.waitUntil(lambda: ask.answer.text() == EMPTY_TEXT, timeout=WAIT)
        assert "Import" in EMPTY_TEXT and "Ctrl+O" in EMPTY_TEXT
        people = win.page("people")
        qtbot.waitUntil(lambda: "Nobody yet" in people.note.text(), timeout=WAIT)
        assert "Import" in people.note.text()
        objects = win.page("objects")
        qtbot.waitUntil(lambda: "No everyday objects" in objects.note.text(), timeout=WAIT)
        assert "Import" in objects.note.text()
        profile = win.page("profile")  # read when the window opens
        qtbot.waitUntil(lambda: "No profile yet" in profile.info.text(), timeout=WAIT)
        assert "Refresh now" in profile.info.text()
    finally:
        qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)
