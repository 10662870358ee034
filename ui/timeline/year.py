"""A year at a glance (the zoom above a month): one tile per month with memories — a representative
frame, how many days and how much footage, and the people seen most. A click (or Enter) opens the
month's day tiles (:mod:`ui.timeline.month`).

:func:`year_overview` is read on the task pool (twelve month reads); the tiles are a
``QListWidget`` in icon mode, their thumbnails from :class:`ui.widgets.Thumbs`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lifelog.api import Memory
from lifelog.api.timeline import DayTile, month_overview
from ui import theme
from ui.qt import QListView, QListWidget, QListWidgetItem, QSize, Qt, QWidget, Signal
from ui.timeline.month import add_tile, tile_icon_setter, who_line
from ui.widgets import Thumbs

ROLE_MONTH = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class MonthTile:
    """A month of a year overview."""

    year: int
    month: int
    days: int  # days with memories
    episodes: int
    frames: int  # kept frames: how much footage
    thumb_id: str | None  # the busiest day's representative frame
    people: list[str]  # most seen first


def month_tile(year: int, month: int, days: list[DayTile]) -> MonthTile | None:
    """What a month's day tiles add up to (None for a month without memories)."""
    if not days:
        return None
    busiest = max(days, key=lambda t: (t.frames, t.thumb_id is not None))
    seen: dict[str, int] = {}
    for t in days:
        for rank, name in enumerate(t.people):
            seen[name] = seen.get(name, 0) + len(t.people) - rank
    people = sorted(seen, key=lambda n: (-seen[n], n))
    thumb = busiest.thumb_id or next((t.thumb_id for t in days if t.thumb_id), None)
    return MonthTile(year, month, len(days), sum(t.episodes for t in days), sum(t.frames for t in days),
                     thumb, people)


def year_overview(memory: Memory, year: int) -> list[MonthTile]:
    """The months of ``year`` that have memories, January first (runs on the task pool)."""
    out: list[MonthTile] = []
    for m in range(1, 13):
        tile = month_tile(year, m, month_overview(memory, year, m))
        if tile is not None:
            out.append(tile)
    return out


def footage_words(frames: int) -> str:
    return f"{frames:,} moment{'s' if frames != 1 else ''}"


class YearOverview(QListWidget):
    month_opened = Signal(int, int)  # year, month

    def __init__(self, thumbs: Thumbs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbs = thumbs
        self.tiles: list[MonthTile] = []
        self.year: int | None = None
        self._token = 0
        self.setObjectName("year_overview")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self._size_tiles()
        self.itemActivated.connect(self._open)
        self.itemClicked.connect(self._open)

    def _size_tiles(self) -> None:
        unit = theme.em(self)  # sizes follow the font (and so the HiDPI scale)
        pic = QSize(unit * 11, round(unit * 11 * 3 / 4))
        self.setIconSize(pic)
        self._tile = QSize(pic.width() + unit * 2, pic.height() + unit * 5)
        self.setGridSize(self._tile + QSize(unit, unit))

    def set_tiles(self, year: int, tiles: list[MonthTile]) -> None:
        self._token += 1
        token = self._token
        self.year = year
        self.tiles = tiles
        self.clear()
        for i, t in enumerate(tiles):
            who = who_line(t.people)
            text = (f"{date(t.year, t.month, 1):%B %Y}\n{t.days} day{'s' if t.days != 1 else ''} · "
                    f"{footage_words(t.frames)}" + (f"\n{who}" if who else ""))
            add_tile(self, text, ROLE_MONTH, (t.year, t.month), self._tile)
            self.thumbs.request(t.thumb_id, tile_icon_setter(self, token, i))
        self.scrollToTop()

    def _open(self, item: QListWidgetItem) -> None:
        y, m = item.data(ROLE_MONTH)
        self.month_opened.emit(int(y), int(m))
