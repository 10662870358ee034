"""Objects: the everyday things the memory has seen, over time.

A list of the objects found in the frames' ImageNet labels (:meth:`lifelog.api.Memory.objects`,
see docs/objects.md) with their thumbnail, number of episodes and first / last sighting; a filter
box and a period (all time, this month, this week). Selecting an object lists the episodes it was
seen in (:meth:`lifelog.api.Memory.object_timeline`), newest first, with a per-day count strip
above; clicking one opens that episode in the timeline, and **Show in timeline** opens the timeline
filtered to the object. **Forget…** forgets every episode the object was seen in (all time, not
only the period shown) for good, after a confirmation (:mod:`ui.forget`).

Both reads run on the read pool; stale results (another period, another object) are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from lifelog.api import Memory, ObjectInfo, ObjectSighting
from lifelog.api.clock import Clock
from lifelog.api.privacy import ForgetRequest
from ui.context import AppContext
from ui.forget import forgetter_for
from ui.qt import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPixmap,
    QPushButton,
    QSize,
    QSplitter,
    Qt,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import Thumbs, error_line, guarded, heading, muted, thumbs_for

ROLE_KEY = Qt.ItemDataRole.UserRole
PERIODS: tuple[tuple[str, str], ...] = (("all", "All time"), ("month", "This month"), ("week", "This week"))


def period_start(period: str, now: datetime) -> datetime | None:
    """The start of ``period`` ("all", "month", "week") at ``now`` (an aware time in the memory's
    zone): midnight on the 1st / on Monday; None for all time."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return midnight.replace(day=1)
    if period == "week":
        return midnight - timedelta(days=now.weekday())
    if period == "all":
        return None
    raise ValueError(f"unknown period {period!r}: expected one of {[k for k, _ in PERIODS]}")


@dataclass(frozen=True)
class Occurrences:
    """One object's sightings in a period, ready to draw."""

    name: str
    sightings: list[ObjectSighting]  # newest first
    per_day: list[tuple[date, int]]  # episodes per day, oldest first


def read_occurrences(memory: Memory, name: str, start: datetime | None) -> Occurrences:
    line = memory.object_timeline(name, start=start)
    days: dict[date, int] = {}
    for s in line:
        days[s.first.date()] = days.get(s.first.date(), 0) + 1
    return Occurrences(name, sorted(line, key=lambda s: s.first, reverse=True), sorted(days.items()))


def day_strip(per_day: list[tuple[date, int]], most: int = 14) -> str:
    """``Tue 14 May ■■ 2   Wed 15 May ■ 1`` for the latest ``most`` days with sightings."""
    shown = per_day[-most:]
    parts = [f"{d:%a} {d.day} {d:%b} {'■' * min(n, 10)} {n}" for d, n in shown]
    more = f"… {len(per_day) - most} earlier days   " if len(per_day) > most else ""
    return more + "   ".join(parts)


class ObjectsPage(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.thumbs: Thumbs = thumbs_for(ctx.memory, ctx.tasks)
        self.objects: list[ObjectInfo] = []
        self.occurrences: Occurrences | None = None
        self.loaded = False
        self.selected: str | None = None
        self._token = 0
        self._occ_token = 0

        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter objects… e.g. cup, phone, bag")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(lambda _t: self.apply_filter())
        self.period = QComboBox()
        for key, title in PERIODS:
            self.period.addItem(title, key)
        self.period.currentIndexChanged.connect(lambda _i: self.refresh())
        bar = QHBoxLayout()
        bar.addWidget(self.filter, 1)
        bar.addWidget(QLabel("Seen:"))
        bar.addWidget(self.period)

        self.note = muted("")
        self.error = error_line()

        self.list = QListWidget()
        self.list.setIconSize(QSize(96, 72))
        self.list.setWordWrap(True)
        self.list.setSpacing(2)
        self.list.currentItemChanged.connect(self._current_changed)

        self.side_title = heading("")
        self.timeline_btn = QPushButton("Show in timeline")
        self.timeline_btn.setToolTip("Filter the timeline to the days and episodes with this object")
        self.timeline_btn.clicked.connect(lambda: self.show_in_timeline())
        self.timeline_btn.setEnabled(False)
        self.forget_btn = QPushButton("Forget…")
        self.forget_btn.setToolTip("Forget every episode this object was seen in, for good (all time)")
        self.forget_btn.clicked.connect(lambda: self.forget_selected())
        self.forget_btn.setEnabled(False)
        self.strip = muted("")
        self.moments = QListWidget()
        self.moments.setIconSize(QSize(128, 96))
        self.moments.setWordWrap(True)
        self.moments.setSpacing(2)
        self.moments.itemClicked.connect(self._open_item)
        self.moments.itemActivated.connect(self._open_item)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.side_title, 1)
        head.addWidget(self.timeline_btn)
        head.addWidget(self.forget_btn)
        sl.addLayout(head)
        sl.addWidget(self.strip)
        sl.addWidget(muted("Select an object to see when it was seen; click a moment to open it in the timeline."))
        sl.addWidget(self.moments, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.list)
        split.addWidget(side)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.note)
        lay.addWidget(self.error)
        lay.addWidget(split, 1)
        self.refresh()

    # ------------------------------------------------------------------ read
    def period_key(self) -> str:
        return str(self.period.currentData())

    def set_period(self, key: str) -> None:
        i = self.period.findData(key)
        if i < 0:
            raise ValueError(f"unknown period {key!r}")
        self.period.setCurrentIndex(i)  # refreshes when it changed

    def _start(self) -> datetime | None:
        return period_start(self.period_key(), self.ctx.now().astimezone(self.ctx.memory.tz))

    def on_changed(self, what: str) -> None:
        if what in ("episodes", "objects", "forgotten", "settings"):  # settings: the zone may have changed
            self.refresh()

    def refresh(self) -> None:
        self._token += 1
        token = self._token
        mem, period, now = self.ctx.memory, self.period_key(), self.ctx.now()

        def read() -> tuple[datetime | None, list[ObjectInfo]]:
            start = period_start(period, now.astimezone(mem.tz))
            return start, mem.objects(start)

        def done(res: tuple[datetime | None, list[ObjectInfo]]) -> None:
            if token == self._token:
                self._render(res[1])

        def failed(msg: str) -> None:
            if token == self._token:
                self._fail(msg)

        self.error.setVisible(False)
        self.ctx.tasks.read(read, guarded(self, done), guarded(self, failed))

    def _fail(self, msg: str) -> None:
        self.error.setText(msg)
        self.error.setVisible(True)

    def _render(self, objects: list[ObjectInfo]) -> None:
        keep = self.selected
        self.objects = objects
        self.loaded = True
        self.list.blockSignals(True)
        self.list.clear()
        token = self._token
        clock = Clock.of(self.ctx.memory)  # the memory's clock, as on every page
        for i, o in enumerate(objects):
            text = (f"{o.name}\n{o.episodes} episode{'s' if o.episodes != 1 else ''}, "
                    f"{o.frames} frame{'s' if o.frames != 1 else ''}\n"
                    f"first {clock.when(o.first_seen)}\nlast {clock.when(o.last_seen)}")
            item = QListWidgetItem(text)
            item.setData(ROLE_KEY, o.name)
            item.setToolTip(f"{o.name}: seen as {', '.join(o.classes)}")
            self.list.addItem(item)
            self.thumbs.request(o.thumbnail, _IconSetter(self, self.list, token, i, lambda: self._token))
        self.list.blockSignals(False)
        period = self.period.currentText().lower()
        if objects:
            self.note.setText(f"{len(objects)} object{'s' if len(objects) != 1 else ''} seen ({period}).")
        else:
            self.note.setText(f"No everyday objects seen ({period}). Objects are read from what the "
                              "classifier saw in each frame: cups, phones, laptops, bags, bikes… Import footage "
                              "(File ▸ Import files…, Ctrl+O) and they appear here.")
        self.apply_filter()
        if keep is not None and keep in self.names():
            self.select_object(keep)
        else:
            self._clear_side()

    def names(self) -> list[str]:
        return [o.name for o in self.objects]

    def visible_names(self) -> list[str]:
        return [str(self.list.item(i).data(ROLE_KEY)) for i in range(self.list.count())
                if not self.list.item(i).isHidden()]

    def apply_filter(self) -> None:
        """Hide the objects whose name (or ImageNet class) does not contain the filter text."""
        text = self.filter.text().strip().lower()
        shown = 0
        for i, o in enumerate(self.objects):
            hit = not text or text in o.name.lower() or any(text in c.lower() for c in o.classes)
            self.list.item(i).setHidden(not hit)
            shown += hit
        if text and self.objects:
            self.note.setText(f"{shown} of {len(self.objects)} objects match “{self.filter.text().strip()}”.")

    # ------------------------------------------------------ one object's moments
    def _current_changed(self, item: QListWidgetItem | None, _prev: QListWidgetItem | None) -> None:
        if item is not None:
            self.select_object(str(item.data(ROLE_KEY)))

    def _clear_side(self) -> None:
        self.selected = None
        self.occurrences = None
        self.side_title.setText("")
        self.timeline_btn.setEnabled(False)
        self.forget_btn.setEnabled(False)
        self.strip.setText("")
        self.moments.clear()

    def select_object(self, name: str) -> None:
        """Show where ``name`` was seen in the current period."""
        self.selected = name
        for i in range(self.list.count()):
            if self.list.item(i).data(ROLE_KEY) == name and self.list.currentRow() != i:
                self.list.blockSignals(True)
                self.list.setCurrentRow(i)
                self.list.blockSignals(False)
        self._occ_token += 1
        token = self._occ_token
        self.occurrences = None
        self.side_title.setText(f"Where the {name} was seen")
        self.timeline_btn.setEnabled(True)
        self.forget_btn.setEnabled(True)
        self.strip.setText("")
        self.moments.clear()
        mem, start = self.ctx.memory, self._start()

        def done(occ: Occurrences) -> None:
            if token == self._occ_token:
                self._render_occurrences(occ)

        def failed(msg: str) -> None:
            if token == self._occ_token:
                self._fail(msg)

        self.ctx.tasks.read(lambda: read_occurrences(mem, name, start), guarded(self, done), guarded(self, failed))

    def _render_occurrences(self, occ: Occurrences) -> None:
        self.occurrences = occ
        n = len(occ.sightings)
        self.side_title.setText(f"The {occ.name}: seen in {n} episode{'s' if n != 1 else ''}")
        self.strip.setText(day_strip(occ.per_day))
        self.moments.clear()
        token = self._occ_token
        clock = Clock.of(self.ctx.memory)
        for i, s in enumerate(occ.sightings):
            item = QListWidgetItem(f"{clock.when(s.first)}  ({clock.span(s.first, s.last)})\n"
                                   f"{s.frames} frame{'s' if s.frames != 1 else ''}, "
                                   f"best {s.probability:.0%}")
            item.setData(ROLE_KEY, i)
            self.moments.addItem(item)
            self.thumbs.request(s.thumbnail, _IconSetter(self, self.moments, token, i, lambda: self._occ_token))

    def _open_item(self, item: QListWidgetItem) -> None:
        self.open_moment(int(item.data(ROLE_KEY)))

    def open_moment(self, row: int) -> None:
        """Open one sighting in the timeline: its day, its episode, the frame where it was seen."""
        if self.occurrences is None or not 0 <= row < len(self.occurrences.sightings):
            return
        s = self.occurrences.sightings[row]
        self.ctx.navigate("timeline", day=s.first.date(), episode_id=s.episode_id, moment=s.first)

    def show_in_timeline(self) -> None:
        """The timeline, filtered to the days and episodes with the selected object."""
        if self.selected:
            self.ctx.navigate("timeline", object=self.selected)

    def forget_selected(self) -> None:
        """Forget every episode the selected object was seen in (asks first: :mod:`ui.forget`)."""
        if self.selected:
            self.error.setVisible(False)
            forgetter_for(self.ctx).start(ForgetRequest("object", self.selected),
                                          f"every episode with the {self.selected}", self, self._fail)

    def show_with(self, name: str | None = None, **_: Any) -> None:
        """``navigate("objects", name="cup")`` selects an object."""
        if name:
            self.filter.setText("")
            self.select_object(name)


class _IconSetter:
    """Put a thumbnail on row ``row`` of ``lst`` unless that list was redrawn since."""

    def __init__(self, page: ObjectsPage, lst: QListWidget, token: int, row: int,
                 current: Callable[[], int]) -> None:
        self.page, self.lst, self.token, self.row, self.current = page, lst, token, row, current

    def __call__(self, pm: QPixmap) -> None:
        if self.token == self.current():
            item = self.lst.item(self.row)
            if item is not None:
                item.setIcon(pm)
