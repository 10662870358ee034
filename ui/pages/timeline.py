"""Timeline: one day at a time, as pictures (issue #19). Above, the scrub bars (:mod:`ui.timeline.scrub`):
the year (a cell per month), the month (a cell per day, empty days shown as such) and the day
(where its footage is; drag to move through its moments). In the middle the day's moments as a
grid grouped by episode, with time headers, descriptions and people chips
(:mod:`ui.timeline.grid`; ←/→ moments, ↑/↓ days, Enter opens, Escape zooms out to the month's day
tiles, :mod:`ui.timeline.month`, and again to the year's month tiles, :mod:`ui.timeline.year`), a
larger preview of the moment selected or hovered, and **As a
list**: the episodes of the day in time order, each with its thumbnail, start–end, description,
people and objects. On the left a calendar (days with memories in bold), previous/next buttons
that jump to the nearest day with memories, and the list of those days with their counts; on the
right the open episode's detail (:mod:`ui.pages.episode`).

Opening the app shows the latest day with memories: the first read fetches the day list and that
day's episodes and moments in one go, ahead of the other pages' reads (issue #18, a fast start),
and :attr:`TimelinePage.first_content` is emitted once they are drawn (or the memory turns out
empty, or the read failed): the window starts its deferred start-up work then.
``navigate("timeline", day=…, episode_id=…, moment=…)`` opens a given moment (the Ask and People
pages use it).

A filter bar narrows the timeline to one person (a combo of everyone seen, with their face) or one
object (a text field completing the names the Objects page lists): the calendar, the day list and
Previous/Next then cover only the days they were seen, and a day shows only their episodes, under
a "Showing: Sam ✕" chip that clears the filter. ``navigate("timeline", person_id=…)`` and
``navigate("timeline", object="mug")`` open it filtered (the People and Objects pages use them).
The matches are read with :meth:`Memory.person_episodes` / :meth:`Memory.object_timeline` on the
read pool.

**Forget…** beside the open episode and **Forget this day…** above the day's episodes forget them
for good after a confirmation (:mod:`ui.forget`); a filter on a person or object that was
forgotten is cleared. **Move to trash** beside them is the everyday delete (:mod:`ui.trash`): no
question asked, Undo in the status bar, restorable from Settings ▸ Privacy ▸ Trash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from lifelog.api import DayInfo, EpisodeInfo, Memory, ObjectInfo, PersonInfo
from lifelog.api.clock import Clock
from lifelog.api.privacy import ForgetRequest
from lifelog.api.timeline import DayTile, Moment, day_moments, footage_per_day, month_overview
from ui.context import AppContext
from ui.forget import Forgotten, forgetter_for
from ui.pages.episode import EpisodePanel
from ui.qt import (
    QAbstractItemView,
    QBrush,
    QCalendarWidget,
    QColor,
    QComboBox,
    QCompleter,
    QDate,
    QFont,
    QHBoxLayout,
    QIcon,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPixmap,
    QPushButton,
    QSize,
    QSplitter,
    QStackedWidget,
    Qt,
    QTextCharFormat,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.timeline.grid import MomentGrid
from ui.timeline.month import MonthOverview
from ui.timeline.scrub import DayBar, MonthBar, YearBar
from ui.timeline.year import MonthTile, YearOverview, year_overview
from ui.trash import trasher_for
from ui.widgets import Thumbs, day_title, error_line, guarded, heading, muted, names, span, thumbs_for

ROLE_ID = Qt.ItemDataRole.UserRole


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


FilterKind = Literal["person", "object"]


@dataclass(frozen=True)
class TimelineFilter:
    """Show only the days and episodes with one person or one object."""

    kind: FilterKind
    key: str  # the person's id, or the object's name
    label: str  # what the chip shows ("Sam", "Unnamed person", "mug")


@dataclass(frozen=True)
class Matches:
    """Where a filter's person or object was seen: episode ids per day (in the memory's zone)."""

    label: str
    per_day: dict[date, list[str]]


def read_matches(memory: Memory, f: TimelineFilter) -> Matches:
    """The days and episodes a filter keeps (on a worker: reads the store)."""
    tz = memory.tz
    per_day: dict[date, list[str]] = {}
    label = f.label
    if f.kind == "person":
        p = memory.person(f.key)
        label = p.name or "Unnamed person"
        for e in memory.person_episodes(f.key):
            per_day.setdefault(e.start.astimezone(tz).date(), []).append(e.id)
    elif f.kind == "object":
        for s in memory.object_timeline(f.key):
            ids = per_day.setdefault(s.first.astimezone(tz).date(), [])
            if s.episode_id not in ids:
                ids.append(s.episode_id)
    else:
        raise ValueError(f"unknown timeline filter {f.kind!r}: expected person or object")
    return Matches(label, dict(sorted(per_day.items())))


def _nearest(days: list[DayInfo], day: date) -> date:
    """The day with memories closest to ``day`` (the earlier one on a tie)."""
    return min((d.day for d in days), key=lambda d: (abs((d - day).days), d > day))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


DayRead = tuple[list[EpisodeInfo], list[Moment]]
"""A day's episodes and moments, as the read pool returns them."""


def read_day(memory: Memory, day: date) -> DayRead:
    return memory.episodes(day), day_moments(memory, day)


class TimelinePage(QWidget):
    first_content = Signal()  # once: the first day is drawn (or there is none, or it failed)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.content_shown = False  # first_content was emitted
        self.thumbs: Thumbs = thumbs_for(ctx.memory, ctx.tasks)
        self.days: list[DayInfo] = []
        self.day: date | None = None
        self.episodes: list[EpisodeInfo] = []
        self.loaded = False  # the day list arrived at least once
        self._day_token = 0
        self._pending: tuple[date | None, str | None, datetime | None] | None = None
        self.all_days: list[DayInfo] = []  # every day with memories (self.days: the ones shown)
        self.filter: TimelineFilter | None = None
        self.matches: Matches | None = None  # the filter's days, once read
        self.filter_error: str | None = None
        self._pending_restore: list[str] | None = None
        self._filter_token = 0
        self._people_token = 0
        self.people: list[PersonInfo] = []
        self.object_names: list[str] = []
        self.moments: list[Moment] = []  # the selected day's moments (all its episodes)
        self._month_counts: dict[int, dict[date, int]] = {}  # a year's footage per day
        self._month_token = 0
        self._preview_token = 0

        # top: the filter bar
        self.person_box = QComboBox()
        self.person_box.setIconSize(QSize(24, 24))
        self.person_box.setMinimumContentsLength(16)
        self.person_box.addItem("Everyone & everything", None)
        self.person_box.activated.connect(self._person_chosen)
        self.object_box = QLineEdit()
        self.object_box.setPlaceholderText("…or an object: mug, phone, bag")
        self.object_box.setClearButtonEnabled(True)
        self.object_box.returnPressed.connect(self._object_entered)
        self.chip = QPushButton("")
        self.chip.setToolTip("Clear the filter: show every day and episode again")
        self.chip.setStyleSheet("QPushButton { border-radius: 10px; padding: 2px 10px; background: #ffd682; }")
        self.chip.clicked.connect(lambda: self.clear_filter())
        self.chip.setVisible(False)
        fbar = QHBoxLayout()
        fbar.addWidget(muted("Show:"))
        fbar.addWidget(self.person_box)
        fbar.addWidget(self.object_box, 1)
        fbar.addWidget(self.chip)

        # the scrub bars: the year (a cell per month), the month (a cell per day), the day (its footage)
        self.year_title = QLabel("")
        self.year_bar = YearBar()
        self.year_bar.month_chosen.connect(lambda y, m: self.open_month(y, m))
        self.year_bar.year_stepped.connect(lambda k: self.step_year(k))
        self.month_title = QLabel("")
        self.month_title.setMinimumWidth(70)
        self.month_bar = MonthBar()
        self.month_bar.day_chosen.connect(lambda d: self.select_day(d))
        self.month_bar.month_stepped.connect(lambda k: self.step_month(k))
        self.day_bar = DayBar()
        self.day_bar.scrubbed.connect(self._scrubbed)
        self.day_bar.stepped.connect(lambda k: self.step_moment(k))
        bars = QVBoxLayout()
        mrow = QHBoxLayout()
        mrow.addWidget(self.year_title)
        mrow.addWidget(self.year_bar)
        mrow.addWidget(self.month_title)
        mrow.addWidget(self.month_bar, 1)
        bars.addLayout(mrow)
        bars.addWidget(self.day_bar)

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
        self.days_label = muted("Days with memories")
        ll.addWidget(self.days_label)
        ll.addWidget(self.day_list, 1)

        # middle: the day's episodes
        self.day_title = heading("Loading your memory…")
        self.day_note = muted("")
        self.error = error_line()
        self.forget_day_btn = QPushButton("Forget this day…")
        self.forget_day_btn.setToolTip("Forget every episode of this day for good (also those a filter hides)")
        self.forget_day_btn.setEnabled(False)
        self.forget_day_btn.clicked.connect(lambda: self.forget_day())
        self.trash_day_btn = QPushButton("Move day to trash")
        self.trash_day_btn.setToolTip("Delete every episode of this day: they go to the trash, where they can be "
                                      "restored for a while")
        self.trash_day_btn.setEnabled(False)
        self.trash_day_btn.clicked.connect(lambda: self.trash_day())
        title_row = QHBoxLayout()
        title_row.addWidget(self.day_title, 1)
        title_row.addWidget(self.trash_day_btn)
        title_row.addWidget(self.forget_day_btn)
        self.episode_list = QListWidget()
        self.episode_list.setIconSize(QSize(128, 96))
        self.episode_list.setWordWrap(True)
        self.episode_list.setSpacing(2)
        self.episode_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.episode_list.currentItemChanged.connect(self._episode_chosen)

        # the day's moments: a justified grid grouped by episode (or the compact list above)
        self.grid = MomentGrid(self.thumbs)
        self.grid.current_changed.connect(self._moment_selected)
        self.grid.previewed.connect(self._preview)
        self.grid.opened.connect(self.open_moment)
        self.grid.day_step.connect(self.step_day)
        self.grid.zoom_out.connect(lambda: self.show_month())
        self.month_view = MonthOverview(self.thumbs)
        self.month_view.day_opened.connect(self._month_tile_opened)
        self.month_tiles_key: tuple[int, int] | None = None
        self._month_view_token = 0
        self.month_view.zoom_out.connect(lambda: self.show_year())
        self.year_view = YearOverview(self.thumbs)  # year → month → day (ui/timeline/year.py)
        self.year_view.month_opened.connect(self._year_tile_opened)
        self.year_tiles_key: int | None = None
        self._year_view_token = 0
        self.stack = QStackedWidget()
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.episode_list)
        self.stack.addWidget(self.month_view)
        self.stack.addWidget(self.year_view)
        self.view_btn = QPushButton("As a list")
        self.view_btn.setToolTip("Switch between the grid of moments and a list of the day's episodes")
        self.view_btn.clicked.connect(lambda: self.show_list(self.stack.currentWidget() is self.grid))
        self.month_btn = QPushButton("Month")
        self.month_btn.setToolTip("Zoom out: the month's days at a glance (Escape in the grid)")
        self.month_btn.clicked.connect(lambda: self.show_month())
        self.year_btn = QPushButton("Year")
        self.year_btn.setToolTip("Zoom out: the year's months at a glance (Escape in the month)")
        self.year_btn.clicked.connect(lambda: self.show_year())
        self.preview = QLabel()
        self.preview.setFixedSize(192, 144)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("background: palette(alternate-base); border-radius: 6px;")
        self.preview_caption = muted("")
        self._preview_wanted: tuple[str, Callable[[QPixmap], None]] | None = None
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(40)
        self._preview_timer.timeout.connect(self._preview_load)
        self.preview_caption.setToolTip("Enter (or a double click) opens the episode at this moment")
        prow = QHBoxLayout()
        prow.addWidget(self.preview)
        pcol = QVBoxLayout()
        pcol.addWidget(self.preview_caption, 1)
        zrow = QHBoxLayout()
        zrow.addWidget(self.year_btn)
        zrow.addWidget(self.month_btn)
        zrow.addWidget(self.view_btn)
        zrow.addStretch(1)
        pcol.addLayout(zrow)
        prow.addLayout(pcol, 1)
        mid = QWidget()
        ml = QVBoxLayout(mid)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addLayout(title_row)
        ml.addWidget(self.day_note)
        ml.addWidget(self.error)
        ml.addLayout(prow)
        ml.addWidget(self.stack, 1)

        # right: the open episode
        self.panel = EpisodePanel(ctx, self.thumbs)
        self.panel.forget_btn.clicked.connect(lambda: self.forget_episode())
        self.panel.trash_btn.clicked.connect(lambda: self.trash_episode())
        self.trasher = trasher_for(ctx)
        self.trasher.restored.connect(self._restored)
        self.forgetter = forgetter_for(ctx)
        self.forgetter.forgotten.connect(self._forgotten)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(mid)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 2)
        split.setSizes([240, 620, 460])
        lay = QVBoxLayout(self)
        lay.addLayout(fbar)
        lay.addLayout(bars)
        lay.addWidget(split, 1)
        self._update_nav()
        self.reload_days()
        self.reload_choices()

    # ------------------------------------------------------------ navigation
    def show_with(self, day: date | None = None, episode_id: str | None = None,
                  moment: datetime | None = None, person_id: str | None = None,
                  object: str | None = None, **_: Any) -> None:
        """Open a day (and an episode of it, highlighting the frame nearest ``moment``);
        ``person_id=`` / ``object=`` filter the timeline to that person or object first."""
        if day is None and moment is not None:
            day = moment.astimezone(self.ctx.memory.tz).date()
        if person_id is not None or object is not None:
            if day is not None or episode_id is not None:
                self._pending = (day, episode_id, moment)  # applied when the filter's days arrive
            self.set_filter(person_id=person_id, object=object)
            return
        if day is None and episode_id is None:
            return
        if not self.loaded:
            self._pending = (day, episode_id, moment)  # applied when the day list arrives
            return
        if day is None:
            return
        self.select_day(day, episode_id, moment)

    def on_changed(self, what: str) -> None:
        """Another page changed the memory (an import, people edits, a forget): read it again."""
        if what == "forgotten":  # a forget, or a move to / back from the trash
            self.panel.clear()  # the open episode may be gone: the day's list reopens one
        self._month_counts.clear()  # the month bar reads its footage again
        self.month_tiles_key = None
        self.year_tiles_key = None
        self.reload_days(keep=True)
        self.reload_choices()

    def _shown(self) -> None:
        if not self.content_shown:
            self.content_shown = True
            self.first_content.emit()

    def reload_days(self, keep: bool = False) -> None:
        mem = self.ctx.memory
        ahead_of_time = not keep and not self.loaded  # the first read: the latest day comes with it

        def read() -> tuple[list[DayInfo], tuple[date, DayRead] | None]:
            days = mem.days()
            if not ahead_of_time or not days:
                return days, None
            return days, (days[-1].day, read_day(mem, days[-1].day))

        def done(res: tuple[list[DayInfo], tuple[date, DayRead] | None]) -> None:
            days, ahead = res
            had = {d.day for d in self.all_days}
            self.all_days = days
            if self.filter is not None:  # the filter's read draws the days
                self.loaded = True
                if keep:
                    self._read_filter(self.filter)
                self._shown()
                return
            self._render_days(days)
            pending, self._pending = self._pending, None
            if pending is not None and pending[0] is not None:
                self.select_day(pending[0], pending[1], pending[2], ahead=ahead)
            elif keep and self.day is not None and days:
                gone = self.day in had and all(d.day != self.day for d in days)  # e.g. forgotten
                self.select_day(_nearest(days, self.day) if gone else self.day, self.panel.episode_id)
            elif days:
                self.select_day(days[-1].day, ahead=ahead)  # the latest day with memories
            else:
                self._day_token += 1  # a day still loading must not draw over this
                self.episode_list.clear()
                self.episodes = []
                self.panel.clear()
                self.forget_day_btn.setEnabled(False)
                self.trash_day_btn.setEnabled(False)
                self.day_title.setText("No memories yet")
                self.day_note.setText("Import footage (File ▸ Import…) or load the sample day to start.")
                self._clear_moments("Your days will appear here. Import footage (File ▸ Import…), connect a "
                                    "camera (Devices), or load the sample day (Help ▸ Load sample day).")
                self._shown()

        def failed(msg: str) -> None:
            self.day_note.setText(f"Could not read the days: {msg}")
            self._shown()

        self.ctx.tasks.read(read, guarded(self, done), guarded(self, failed), first=True)

    def _render_days(self, days: list[DayInfo]) -> None:
        for d in self.days:  # forget the old highlights
            self.calendar.setDateTextFormat(_qdate(d.day), QTextCharFormat())
        self.days = days
        self.loaded = True
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setBackground(QBrush(QColor(255, 214, 130)))
        self.day_list.clear()
        with_whom = f" with {self.matches.label}" if self.filter is not None and self.matches is not None else ""
        self.days_label.setText(f"Days{with_whom}" if with_whom else "Days with memories")
        for d in reversed(days):  # latest first
            self.calendar.setDateTextFormat(_qdate(d.day), fmt)
            item = QListWidgetItem(f"{d.day:%a %d %b %Y}   {_plural(d.episodes, 'episode')}{with_whom}")
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
    def select_day(self, day: date, episode_id: str | None = None, moment: datetime | None = None, *,
                   ahead: tuple[date, DayRead] | None = None) -> None:
        """Show ``day`` (its episode ``episode_id`` open, at ``moment``). ``ahead``: a day already
        read with the day list (the first one shown), used when it is this day."""
        self.day = day
        self.error.setVisible(False)
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
        self._show_month(day)
        if self.stack.currentWidget() is self.month_view:
            self._read_month_view(day)
        mem = self.ctx.memory

        def done(res: DayRead) -> None:
            if token == self._day_token:
                eps, self.moments = res
                self._render_episodes(self._keep_matching(day, eps), episode_id, moment, len(eps))
            self._shown()

        def failed(msg: str) -> None:
            if token == self._day_token:
                self.day_note.setText(f"Could not read this day: {msg}")
            self._shown()

        if ahead is not None and ahead[0] == day:
            done(ahead[1])
            return
        self.ctx.tasks.read(lambda: read_day(mem, day), guarded(self, done), guarded(self, failed), first=True)

    def _render_episodes(self, eps: list[EpisodeInfo], open_id: str | None, moment: datetime | None,
                         of: int | None = None) -> None:
        self.episodes = eps
        self.episode_list.blockSignals(True)
        self.episode_list.clear()
        token = self._day_token
        clock = Clock.of(self.ctx.memory)  # the memory's clock: Ask and the episode page use it too
        icons: list[tuple[str | None, Callable[[QPixmap], None]]] = []
        for i, e in enumerate(eps):
            said = e.description or e.summary  # in words a person would write (docs/profile.md)
            text = (f"{span(e.start, e.end, clock)}   {said}\n"
                    f"People: {names(e.people)}    Objects: {names(e.objects)}")
            item = QListWidgetItem(text)
            item.setData(ROLE_ID, e.id)
            item.setToolTip(said)
            self.episode_list.addItem(item)
            if e.thumb_ids:
                icons.append((e.thumb_ids[0], self._set_icon(token, i)))
        self.episode_list.blockSignals(False)
        self.thumbs.request_many(icons)  # a few tasks for the day, not one per episode
        self._render_grid(eps)
        n = len(eps)
        self.forget_day_btn.setEnabled(bool(of or n))
        self.trash_day_btn.setEnabled(bool(of or n))
        if self.filter is not None and self.matches is not None:
            label = self.matches.label
            self.day_note.setText(f"{n} of {_plural(of or 0, 'episode')} with {label}" if n
                                  else f"{label} was not seen on this day.")
        else:
            self.day_note.setText(_plural(n, "episode") if n else "Nothing recorded on this day.")
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
            self._select_moment_of(eps[row].id, moment)
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
            self._select_moment_of(str(current.data(ROLE_ID)), None)

    # --------------------------------------------------------- grid and bars
    def _render_grid(self, eps: list[EpisodeInfo]) -> None:
        """The day's moments in the grid and on the day bar (only those of the episodes shown)."""
        clock = Clock.of(self.ctx.memory)
        if self.filter is not None and self.matches is not None:
            empty = f"{self.matches.label} was not seen on this day."
        else:
            empty = "Nothing recorded on this day. ↑/↓ or the month bar move to a day with footage."
        self.grid.set_moments(eps, self.moments, clock, empty)
        if self.day is not None:
            start = datetime.combine(self.day, time(0), tzinfo=self.ctx.memory.tz)
            self.day_bar.set_day(start, datetime.combine(self.day + timedelta(days=1), time(0),
                                                         tzinfo=self.ctx.memory.tz),
                                 [m.t for m in self.grid.moments], clock)
        self._preview(-1)

    def _clear_moments(self, empty: str) -> None:
        self.moments = []
        self.grid.set_moments([], [], Clock.of(self.ctx.memory), empty)
        self.day_bar.clear()
        self._preview(-1)

    def _select_moment_of(self, episode_id: str, moment: datetime | None) -> None:
        """Select (quietly) an episode's moment nearest ``moment`` (its first without one)."""
        ms = self.grid.moments
        idx = [i for i, m in enumerate(ms) if m.episode_id == episode_id]
        if not idx:
            return
        best = idx[0] if moment is None else min(idx, key=lambda i: abs((ms[i].t - moment).total_seconds()))
        self.grid.set_current(best, notify=False)
        self.day_bar.set_current(best)

    def _moment_selected(self, index: int) -> None:
        """Arrow keys or a click moved the selection: the bar and the list follow (the episode
        opens with Enter)."""
        self.day_bar.set_current(index)
        if 0 <= index < len(self.grid.moments):
            eid = self.grid.moments[index].episode_id
            for row in range(self.episode_list.count()):
                if self.episode_list.item(row).data(ROLE_ID) == eid:
                    self.episode_list.blockSignals(True)
                    self.episode_list.setCurrentRow(row)
                    self.episode_list.blockSignals(False)
                    break

    def _scrubbed(self, index: int) -> None:
        """The day bar was dragged to moment ``index``."""
        self.grid.set_current(index, notify=False)
        self._moment_selected(index)

    def step_moment(self, direction: int) -> None:
        """The previous (-1) or next (+1) moment of the day (the wheel on the day bar)."""
        if self.grid.moments:
            self.grid.set_current(self.grid.current + direction if self.grid.current >= 0 else 0)

    def open_moment(self, index: int) -> None:
        """Open the episode of moment ``index`` beside the grid, at that moment's frame."""
        if not 0 <= index < len(self.grid.moments):
            return
        m = self.grid.moments[index]
        self._moment_selected(index)
        self.panel.show_episode(m.episode_id, m.t)

    def show_list(self, as_list: bool) -> None:
        """The grid of moments, or (``as_list``) the compact list of the day's episodes."""
        self.stack.setCurrentWidget(self.episode_list if as_list else self.grid)
        self.view_btn.setText("As a grid" if as_list else "As a list")
        self.month_btn.setEnabled(True)
        self.year_btn.setEnabled(True)

    def show_month(self) -> None:
        """Zoom out to the selected day's month: a tile per day with memories."""
        if self.day is None:
            return
        self.stack.setCurrentWidget(self.month_view)
        self.view_btn.setText("Back to the day")
        self.month_btn.setEnabled(False)
        self.year_btn.setEnabled(True)
        self.month_view.setFocus()  # Escape there zooms out again, to the year
        self._read_month_view(self.day)

    def show_year(self) -> None:
        """Zoom out to the selected day's year: a tile per month with memories."""
        if self.day is None:
            return
        self.stack.setCurrentWidget(self.year_view)
        self.view_btn.setText("Back to the day")
        self.month_btn.setEnabled(True)
        self.year_btn.setEnabled(False)
        self.year_view.setFocus()
        year = self.day.year
        if self.year_tiles_key == year:
            return
        self._year_view_token += 1
        token = self._year_view_token
        mem = self.ctx.memory

        def done(tiles: list[MonthTile]) -> None:
            if token == self._year_view_token:
                self.year_tiles_key = year
                self.year_view.set_tiles(year, tiles)

        def failed(msg: str) -> None:
            self.ctx.status(f"Could not read the year: {msg}")

        self.ctx.tasks.read(lambda: year_overview(mem, year), guarded(self, done), guarded(self, failed))

    def _year_tile_opened(self, year: int, month: int) -> None:
        self.open_month(year, month)  # that month's latest day with memories
        self.show_month()
        self.month_view.setFocus()

    def _read_month_view(self, day: date) -> None:
        key = (day.year, day.month)
        if self.month_tiles_key == key:
            return
        self._month_view_token += 1
        token = self._month_view_token
        mem = self.ctx.memory

        def done(tiles: list[DayTile]) -> None:
            if token == self._month_view_token:
                self.month_tiles_key = key
                self.month_view.set_tiles(tiles)

        def failed(msg: str) -> None:
            self.ctx.status(f"Could not read the month: {msg}")

        self.ctx.tasks.read(lambda: month_overview(mem, key[0], key[1]), guarded(self, done), guarded(self, failed))

    def _month_tile_opened(self, day: date) -> None:
        self.show_list(False)
        self.select_day(day)
        self.grid.setFocus()

    def _preview(self, index: int) -> None:
        """Show moment ``index`` larger above the grid (the selection when the pointer leaves)."""
        self._preview_token += 1
        token = self._preview_token
        ms = self.grid.moments
        if not 0 <= index < len(ms):
            self._preview_wanted = None
            self.preview.clear()
            n = len(ms)
            self.preview_caption.setText(f"{_plural(n, 'moment')}. Hover or use ←/→ to look; Enter opens; "
                                         "drag the bar above to move through the day." if n else "")
            return
        m = ms[index]
        clock = Clock.of(self.ctx.memory)
        ep = self.grid.groups[self.grid.group_of[index]].episode
        self.preview_caption.setText(f"{clock.time(m.t, seconds=True)}  ·  {ep.description or ep.summary}\n"
                                     f"People: {names(ep.people)}")

        def show(pm: QPixmap) -> None:
            if token == self._preview_token:
                self.preview.setPixmap(pm.scaled(self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation))

        self._preview_wanted = None
        pm = self.thumbs.cached(m.thumb_id)
        if pm is not None:
            show(pm)
        elif m.thumb_id is None:
            self.preview.clear()
        else:  # decrypted once the pointer or the scrub rests (a drag passes hundreds of moments)
            self.preview.setText("…")
            self._preview_wanted = (m.thumb_id, show)
            self._preview_timer.start()

    def _preview_load(self) -> None:
        wanted, self._preview_wanted = self._preview_wanted, None
        if wanted is not None:
            self.thumbs.request(*wanted)

    def _show_month(self, day: date) -> None:
        """The year and month bars around ``day`` (the year's footage per day, read once a year)."""
        self.month_title.setText(f"{day:%B}")
        self.year_title.setText(f"{day:%Y}")
        self.month_bar.set_selected(day)
        self.year_bar.set_selected(day.month)
        counts = self._month_counts.get(day.year)
        if counts is not None:
            self.month_bar.set_month(day.year, day.month, counts)
            self.year_bar.set_year(day.year, counts)
            return
        if (self.month_bar.year, self.month_bar.month) != (day.year, day.month):
            self.month_bar.set_month(day.year, day.month, {})
        if self.year_bar.year != day.year:
            self.year_bar.set_year(day.year, {})
        self._month_token += 1
        token = self._month_token
        mem = self.ctx.memory
        year = day.year

        def done(c: dict[date, int]) -> None:
            self._month_counts[year] = c
            if token == self._month_token and self.day is not None and self.day.year == year:
                self.month_bar.set_month(year, self.day.month, c)
                self.year_bar.set_year(year, c)

        self.ctx.tasks.read(lambda: footage_per_day(mem, date(year, 1, 1), date(year, 12, 31)), guarded(self, done))

    def open_month(self, year: int, month: int) -> None:
        """The latest day with memories of that month (the year bar)."""
        days = [d.day for d in self.days if (d.day.year, d.day.month) == (year, month)]
        if days:
            self.select_day(days[-1])

    def step_year(self, direction: int) -> None:
        """The latest day with memories of the previous (-1) or the earliest of the next (+1) year."""
        if self.day is None:
            return
        if direction < 0:
            before = [d.day for d in self.days if d.day.year < self.day.year]
            if before:
                self.select_day(before[-1])
        else:
            after = [d.day for d in self.days if d.day.year > self.day.year]
            if after:
                self.select_day(after[0])

    def step_month(self, direction: int) -> None:
        """The latest day with memories of the previous (-1) or the earliest of the next (+1) month."""
        if self.day is None:
            return
        here = (self.day.year, self.day.month)
        if direction < 0:
            before = [d.day for d in self.days if (d.day.year, d.day.month) < here]
            if before:
                self.select_day(before[-1])
        else:
            after = [d.day for d in self.days if (d.day.year, d.day.month) > here]
            if after:
                self.select_day(after[0])

    # ---------------------------------------------------------------- filter
    def reload_choices(self) -> None:
        """Read the people (with their faces) and object names the filter bar offers."""
        self._people_token += 1
        token = self._people_token
        mem = self.ctx.memory

        def read() -> tuple[list[PersonInfo], list[ObjectInfo]]:
            return mem.people(), mem.objects()

        def done(res: tuple[list[PersonInfo], list[ObjectInfo]]) -> None:
            if token == self._people_token:
                self._render_choices(res[0], [o.name for o in res[1]])

        def failed(msg: str) -> None:
            self.ctx.status(f"Could not read the people and objects to filter by: {msg}")

        self.ctx.tasks.read(read, guarded(self, done), guarded(self, failed))

    def _render_choices(self, people: list[PersonInfo], object_names: list[str]) -> None:
        self.people = people
        self.object_names = object_names
        token = self._people_token
        self.person_box.blockSignals(True)
        self.person_box.clear()
        self.person_box.addItem("Everyone & everything", None)
        for i, p in enumerate(people):
            self.person_box.addItem(f"{p.name or 'Unnamed'} ({_plural(p.episodes, 'episode')})", p.id)
            self.person_box.setItemData(i + 1, f"{p.name or 'Unnamed person'}, id {p.id}",
                                        Qt.ItemDataRole.ToolTipRole)
            self.thumbs.request(p.thumbnail, self._set_person_icon(token, i + 1, p.id))
        self._sync_person_box()
        self.person_box.blockSignals(False)
        faces: dict[str, str] = {}
        for p in people:
            if p.thumbnail:
                faces[f"person {p.id}"] = p.thumbnail
                if p.name:
                    faces[p.name] = p.thumbnail
        self.grid.set_faces(faces)
        completer = QCompleter(object_names, self.object_box)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.activated.connect(self._object_completed)
        self.object_box.setCompleter(completer)

    def _set_person_icon(self, token: int, row: int, person_id: str) -> Callable[[QPixmap], None]:
        def apply(pm: QPixmap) -> None:
            if token == self._people_token and self.person_box.itemData(row) == person_id:
                self.person_box.setItemIcon(row, QIcon(pm))

        return apply

    def _sync_person_box(self) -> None:
        key = self.filter.key if self.filter is not None and self.filter.kind == "person" else None
        row = self.person_box.findData(key) if key is not None else 0
        self.person_box.setCurrentIndex(max(row, 0))

    def _person_chosen(self, index: int) -> None:
        pid = self.person_box.itemData(index)
        if pid is None:
            self.clear_filter()
        else:
            self.set_filter(person_id=str(pid))

    def _object_completed(self, text: str) -> None:
        self.object_box.setText(text)
        self._object_entered()

    def _object_entered(self) -> None:
        text = self.object_box.text().strip()
        if not text:
            if self.filter is not None and self.filter.kind == "object":
                self.clear_filter()
            return
        if self.filter is not None and self.filter.kind == "object" and self.filter.key == text:
            return  # the completer and Return both report the same choice
        self.set_filter(object=text)

    def set_filter(self, person_id: str | None = None, object: str | None = None) -> None:
        """Show only the days and episodes with this person (by id) or object (a name such as
        "mug"); neither clears the filter."""
        name = (object or "").strip()
        if person_id is None and not name:
            self.clear_filter()
            return
        if person_id is not None:
            known = next((p for p in self.people if p.id == person_id), None)
            f = TimelineFilter("person", person_id,
                               (known.name or "Unnamed person") if known is not None else "this person")
            self.object_box.clear()
        else:
            f = TimelineFilter("object", name, name)
            if self.object_box.text().strip() != name:
                self.object_box.setText(name)
        self.filter = f
        self.matches = None
        self.filter_error = None
        self.person_box.blockSignals(True)
        self._sync_person_box()
        self.person_box.blockSignals(False)
        self.chip.setText(f"Showing: {f.label}  ✕")
        self.chip.setVisible(True)
        self.day_note.setText(f"Finding the days with {f.label}…")
        self._read_filter(f)

    def clear_filter(self) -> None:
        """Back to every day and episode (the ✕ on the chip)."""
        had = self._reset_filter()
        if not had or not self.loaded:
            return
        self._render_days(self.all_days)
        shown = {d.day for d in self.all_days}
        if self.day in shown and self.day is not None:
            self.select_day(self.day, self.panel.episode_id)
        elif self.all_days:
            self.select_day(self.all_days[-1].day)

    def _reset_filter(self) -> bool:
        """Drop the filter without drawing anything; True when there was one."""
        self._filter_token += 1
        had = self.filter is not None
        self.filter = None
        self.matches = None
        self.filter_error = None
        self.person_box.blockSignals(True)
        self.person_box.setCurrentIndex(0)
        self.person_box.blockSignals(False)
        self.object_box.clear()
        self.chip.setVisible(False)
        return had

    def _read_filter(self, f: TimelineFilter) -> None:
        self._filter_token += 1
        token = self._filter_token
        mem = self.ctx.memory

        def done(m: Matches) -> None:
            if token == self._filter_token:
                self._apply_matches(m)

        def failed(msg: str) -> None:
            if token == self._filter_token:
                self.filter_error = msg
                if self.loaded and not self.days and self.all_days:  # never leave the days blank
                    self._render_days(self.all_days)
                self.day_note.setText(f"Could not find the days with {f.label}: {msg}")

        self.ctx.tasks.read(lambda: read_matches(mem, f), guarded(self, done), guarded(self, failed))

    def _apply_matches(self, m: Matches) -> None:
        self.matches = m
        self.chip.setText(f"Showing: {m.label}  ✕")
        days = [DayInfo(d, len(ids)) for d, ids in m.per_day.items()]
        self._render_days(days)
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] is not None:
            self.select_day(pending[0], pending[1], pending[2])
        elif self.day is not None and self.day in m.per_day:
            open_id = self.panel.episode_id
            self.select_day(self.day, open_id if open_id in m.per_day[self.day] else None)
        elif days:
            self.select_day(days[-1].day)  # the latest day with them
        else:
            self._day_token += 1  # a day still loading must not draw over this
            self.episode_list.clear()
            self.episodes = []
            self.panel.clear()
            self.forget_day_btn.setEnabled(False)
            self.trash_day_btn.setEnabled(False)
            self.day_title.setText(f"{m.label}: not seen yet")
            self.day_note.setText(f"No episode with {m.label} in your memory.")
            self._clear_moments(f"No episode with {m.label} in your memory yet.")

    def _keep_matching(self, day: date, eps: list[EpisodeInfo]) -> list[EpisodeInfo]:
        if self.filter is None or self.matches is None:
            return eps
        keep = set(self.matches.per_day.get(day, []))
        return [e for e in eps if e.id in keep]

    # ---------------------------------------------------------------- forget
    def forget_episode(self) -> None:
        """Forget the open episode for good (asks first: :mod:`ui.forget`)."""
        detail = self.panel.detail
        if detail is None:
            return
        ep = detail.episode
        clock = Clock.of(self.ctx.memory)
        what = f"the episode of {clock.day_title_of(ep.start)}, {clock.span(ep.start, ep.end)}"
        self.forgetter.start(ForgetRequest("episode", ep.id), what, self, self._fail)

    def forget_day(self) -> None:
        """Forget every episode of the selected day (in the memory's time zone) for good."""
        if self.day is None:
            return
        start = datetime.combine(self.day, time(0), tzinfo=self.ctx.memory.tz)
        request = ForgetRequest("day", start=start, end=start + timedelta(days=1))
        self.forgetter.start(request, day_title(self.day), self, self._fail)

    # ----------------------------------------------------------------- trash
    def trash_episode(self) -> None:
        """Move the open episode to the trash (Undo in the status bar)."""
        detail = self.panel.detail
        if detail is None:
            return
        ep = detail.episode
        clock = Clock.of(self.ctx.memory)
        what = f"the episode of {clock.day_title_of(ep.start)}, {clock.span(ep.start, ep.end)}"
        self.trasher.move([ep.id], what, self._fail)

    def trash_day(self) -> None:
        """Move every episode of the selected day to the trash (one Undo brings the day back)."""
        if self.day is not None:
            self.trasher.move_day(self.day, day_title(self.day), self._fail)

    def _restored(self, ids: list[str]) -> None:
        """Back from the trash: open the first restored episode (its day) when the days are read."""
        if ids and self.filter is None:
            self._pending_restore = list(ids)
            mem = self.ctx.memory

            def done(ep: EpisodeInfo | None) -> None:
                if ep is not None and self._pending_restore == ids:
                    self.select_day(ep.start.astimezone(mem.tz).date(), ep.id)

            self.ctx.tasks.read(lambda: mem.episode(ids[0]), guarded(self, done))

    def _fail(self, msg: str) -> None:
        self.error.setText(msg)
        self.error.setVisible(True)

    def _forgotten(self, done: Forgotten) -> None:
        """Before the page reads the memory again: a filter on what is gone is dropped."""
        f, req = self.filter, done.request
        if f is None:
            return
        gone = (done.result.plan.everything
                or (f.kind == "person" and f.key in done.result.plan.people)
                or (f.kind == "object" and req.target == "object" and (req.value or "").lower() == f.key.lower()))
        if gone:
            self._reset_filter()

    # ------------------------------------------------------------- for tests
    def episode_ids(self) -> list[str]:
        return [str(self.episode_list.item(i).data(ROLE_ID)) for i in range(self.episode_list.count())]
