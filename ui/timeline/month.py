"""A month at a glance (the zoom above a day): one tile per day with memories — a representative
frame, the day in words, how many episodes, and the people seen. A click opens the day; Escape
zooms out to the year (:mod:`ui.timeline.year`).

The tiles are a ``QListWidget`` in icon mode (a month has at most 31); their thumbnails come from
the window's :class:`ui.widgets.Thumbs` (decrypted off the UI thread, cached)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lifelog.api.clock import Clock
from lifelog.api.timeline import DayTile
from ui.qt import QIcon, QKeyEvent, QListView, QListWidget, QListWidgetItem, QPixmap, QSize, Qt, QWidget, Signal
from ui.widgets import Thumbs

ROLE_DAY = Qt.ItemDataRole.UserRole
TILE_W, TILE_H = 196, 214  # a 160×120 picture and four lines under it


def who_line(people: list[str], most: int = 3) -> str:
    """The people of a tile in a few words: named ones first, then how many are not named yet."""
    named = [p for p in people if not p.startswith("person ")]
    unnamed = len(people) - len(named)
    parts = named[:most]
    if len(named) > most:
        parts.append(f"+{len(named) - most}")
    if unnamed:
        parts.append(f"{unnamed} not named yet")
    return ", ".join(parts)



def add_tile(lst: QListWidget, text: str, role: int, value: object, size: QSize) -> None:
    """One tile of an overview (a day of the month, a month of the year): its text, what it
    opens (``value`` under ``role``), centred at the top of a ``size`` cell."""
    item = QListWidgetItem(text)
    item.setData(role, value)
    item.setToolTip(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
    item.setSizeHint(size)
    lst.addItem(item)


def tile_icon_setter(lst: Any, token: int, row: int) -> Callable[[QPixmap], None]:
    """Sets a tile's picture when it arrives, unless the overview was filled again since
    (``lst._token`` moved on)."""
    def apply(pm: QPixmap) -> None:
        if token == lst._token:
            item = lst.item(row)
            if item is not None:
                item.setIcon(QIcon(pm))

    return apply

class MonthOverview(QListWidget):
    day_opened = Signal(object)  # a date
    zoom_out = Signal()  # Escape: the year

    def __init__(self, thumbs: Thumbs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbs = thumbs
        self.tiles: list[DayTile] = []
        self._token = 0
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(160, 120))
        self.setGridSize(QSize(TILE_W + 16, TILE_H + 16))
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.itemActivated.connect(self._open)
        self.itemClicked.connect(self._open)

    def set_tiles(self, tiles: list[DayTile]) -> None:
        self._token += 1
        token = self._token
        self.tiles = tiles
        self.clear()
        for i, t in enumerate(tiles):
            who = who_line(t.people)
            text = (f"{Clock.day_title(t.day)}\n{t.episodes} episode{'s' if t.episodes != 1 else ''}"
                    + (f" · {who}" if who else "") + f"\n{t.description}")
            add_tile(self, text, ROLE_DAY, t.day, QSize(TILE_W, TILE_H))
            self.thumbs.request(t.thumb_id, tile_icon_setter(self, token, i))
        self.scrollToTop()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.zoom_out.emit()
            return
        super().keyPressEvent(event)

    def _open(self, item: QListWidgetItem) -> None:
        self.day_opened.emit(item.data(ROLE_DAY))
