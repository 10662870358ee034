"""Timeline: one day at a time. A calendar (days with memories in bold), previous/next buttons
that jump to the nearest day with memories, and the list of those days with their counts; the
episodes of the selected day in time order, each with its thumbnail, start–end, summary, people
and objects; and the open episode's detail (:mod:`ui.pages.episode`) beside them.

Opening the app shows the latest day with memories. ``navigate("timeline", day=…, episode_id=…,
moment=…)`` opens a given moment (the Ask and People pages use it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from lifelog.api import DayInfo, EpisodeInfo
from ui.context import AppContext
from ui.pages.episode import EpisodePanel
from ui.qt import (
    QAbstractItemView,
    QBrush,
    QCalendarWidget,
    QColor,
    QDate,
    QFont,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPixmap,
    QPushButton,
    QSize,
    QSplitter,
    Qt,
    QTextCharFormat,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import Thumbs, day_title, guarded, heading, muted, names, span, thumbs_for

ROLE_ID = Qt.ItemDataRole.UserRole


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


class TimelinePage(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.thumbs: Thumbs = thumbs_for(ctx.memory, ctx.tasks)
        self.days: list[DayInfo] = []
        self.day: date | None = None
        self.episodes: list[EpisodeInfo] = []
        self.loaded = False  # the day list arrived at least once
        self._day_token = 0
        self._pending: tuple[date | None, str | None, datetime | None] | None = None

        # left: calendar, previous/next, days with counts
        self.calendar = QCalendarWidget()
        self.calendar.setGridVisible(False)
        self.calendar.setVerticalHeaderFormat(QCalendarWidget.VerticalHeaderFormat.NoVerticalHeader)
        self.calendar.clicked.connect(lambda q: self.select_day(_pydate(q)))
        self.prev_btn = QPushButton("◀ Previous day")
        self.next_btn = QPushButton("Next day ▶")
        self.prev_btn.clicked.connect(lambda: self.step_day(-1))
        self.next_btn.clicked.connect(lambda: self.step_day(+1))
        nav = QHBoxLayout()
        nav.addWidget(self.prev_btn)
        nav.addWidget(self.next_btn)
        self.day_list = QListWidget()
        self.day_list.itemClicked.connect(lambda it: self.select_day(it.data(ROLE_ID)))
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.calendar)
        ll.addLayout(nav)
        ll.addWidget(muted("Days with memories"))
        ll.addWidget(self.day_list, 1)

        # middle: the day's episodes
        self.day_title = heading("Loading your memory…")
        self.day_note = muted("")
        self.episode_list = QListWidget()
        self.episode_list.setIconSize(QSize(128, 96))
        self.episode_list.setWordWrap(True)
        self.episode_list.setSpacing(2)
        self.episode_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.episode_list.currentItemChanged.connect(self._episode_chosen)
        mid = QWidget()
        ml = QVBoxLayout(mid)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addWidget(self.day_title)
        ml.addWidget(self.day_note)
        ml.addWidget(self.episode_list, 1)

        # right: the open episode
        self.panel = EpisodePanel(ctx, self.thumbs)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(mid)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 2)
        split.setStretchFactor(2, 3)
        split.setSizes([280, 420, 560])
        lay = QVBoxLayout(self)
        lay.addWidget(split)
        self._update_nav()
        self.reload_days()

    # ------------------------------------------------------------ navigation
    def show_with(self, day: date | None = None, episode_id: str | None = None,
                  moment: datetime | None = None, **_: Any) -> None:
        """Open a day (and an episode of it, highlighting the frame nearest ``moment``)."""
        if day is None and moment is not None:
            day = moment.astimezone(self.ctx.memory.tz).date()
        if day is None and episode_id is None:
            return
        if not self.loaded:
            self._pending = (day, episode_id, moment)  # applied when the day list arrives
            return
        if day is None:
            return
        self.select_day(day, episode_id, moment)

    def on_changed(self, what: str) -> None:
        """Another page changed the memory (an import, people edits): read it again."""
        self.reload_days(keep=True)

    def reload_days(self, keep: bool = False) -> None:
        mem = self.ctx.memory

        def done(days: list[DayInfo]) -> None:
            self._render_days(days)
            pending, self._pending = self._pending, None
            if pending is not None and pending[0] is not None:
                self.select_day(pending[0], pending[1], pending[2])
            elif keep and self.day is not None:
                self.select_day(self.day, self.panel.episode_id)
            elif days:
                self.select_day(days[-1].day)  # the latest day with memories
            else:
                self.day_title.setText("No memories yet")
                self.day_note.setText("Import footage (File ▸ Import…) or load the sample day to start.")

        def failed(msg: str) -> None:
            self.day_note.setText(f"Could not read the days: {msg}")

        self.ctx.tasks.read(mem.days, guarded(self, done), guarded(self, failed))

    def _render_days(self, days: list[DayInfo]) -> None:
        for d in self.days:  # forget the old highlights
            self.calendar.setDateTextFormat(_qdate(d.day), QTextCharFormat())
        self.days = days
        self.loaded = True
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setBackground(QBrush(QColor(255, 214, 130)))
        self.day_list.clear()
        for d in reversed(days):  # latest first
            self.calendar.setDateTextFormat(_qdate(d.day), fmt)
            item = QListWidgetItem(f"{d.day:%a %d %b %Y}   {d.episodes} episode{'s' if d.episodes != 1 else ''}")
            item.setData(ROLE_ID, d.day)
            self.day_list.addItem(item)
        self._update_nav()

    def step_day(self, direction: int) -> None:
        """Move to the previous (-1) or next (+1) day that has memories."""
        target = self._neighbour(direction)
        if target is not None:
            self.select_day(target)

    def _neighbour(self, direction: int) -> date | None:
        if self.day is None:
            return None
        if direction < 0:
            before = [d.day for d in self.days if d.day < self.day]
            return before[-1] if before else None
        after = [d.day for d in self.days if d.day > self.day]
        return after[0] if after else None

    def _update_nav(self) -> None:
        self.prev_btn.setEnabled(self._neighbour(-1) is not None)
        self.next_btn.setEnabled(self._neighbour(+1) is not None)

    # ------------------------------------------------------------------ days
    def select_day(self, day: date, episode_id: str | None = None, moment: datetime | None = None) -> None:
        self.day = day
        self._day_token += 1
        token = self._day_token
        self.calendar.blockSignals(True)
        self.calendar.setSelectedDate(_qdate(day))
        self.calendar.blockSignals(False)
        for i in range(self.day_list.count()):
            it = self.day_list.item(i)
            if it.data(ROLE_ID) == day:
                self.day_list.blockSignals(True)
                self.day_list.setCurrentItem(it)
                self.day_list.blockSignals(False)
        self._update_nav()
        self.day_title.setText(day_title(day))
        self.day_note.setText("Loading…")
        mem = self.ctx.memory

        def done(eps: list[EpisodeInfo]) -> None:
            if token == self._day_token:
                self._render_episodes(eps, episode_id, moment)

        def failed(msg: str) -> None:
            if token == self._day_token:
                self.day_note.setText(f"Could not read this day: {msg}")

        self.ctx.tasks.read(lambda: mem.episodes(day), guarded(self, done), guarded(self, failed))

    def _render_episodes(self, eps: list[EpisodeInfo], open_id: str | None, moment: datetime | None) -> None:
        self.episodes = eps
        self.episode_list.blockSignals(True)
        self.episode_list.clear()
        token = self._day_token
        for i, e in enumerate(eps):
            text = (f"{span(e.start, e.end)}   {e.summary}\n"
                    f"People: {names(e.people)}    Objects: {names(e.objects or e.labels[:3])}")
            item = QListWidgetItem(text)
            item.setData(ROLE_ID, e.id)
            item.setToolTip(e.summary)
            self.episode_list.addItem(item)
            if e.thumb_ids:
                self.thumbs.request(e.thumb_ids[0], self._set_icon(token, i))
        self.episode_list.blockSignals(False)
        n = len(eps)
        self.day_note.setText(f"{n} episode{'s' if n != 1 else ''}" if n else "Nothing recorded on this day.")
        row = next((i for i, e in enumerate(eps) if e.id == open_id), 0 if eps else -1)
        if open_id is not None and (row < 0 or eps[row].id != open_id):
            self.ctx.status("That moment is no longer in the memory.")
        if row >= 0:
            self.episode_list.blockSignals(True)
            self.episode_list.setCurrentRow(row)
            self.episode_list.blockSignals(False)
            current = self.episode_list.currentItem()
            if current is not None:
                self.episode_list.scrollToItem(current)
            self.panel.show_episode(eps[row].id, moment)
        else:
            self.panel.clear()

    def _set_icon(self, token: int, row: int) -> Callable[[QPixmap], None]:
        def apply(pm: QPixmap) -> None:
            if token == self._day_token:
                item = self.episode_list.item(row)
                if item is not None:
                    item.setIcon(pm)

        return apply

    def _episode_chosen(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if current is not None:
            self.panel.show_episode(str(current.data(ROLE_ID)))

    # ------------------------------------------------------------- for tests
    def episode_ids(self) -> list[str]:
        return [str(self.episode_list.item(i).data(ROLE_ID)) for i in range(self.episode_list.count())]
