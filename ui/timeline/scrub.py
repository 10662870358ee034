"""The scrub bars of the timeline: a day bar (where the day's footage is, denser where there was
more; drag it to move through the moments), a month bar (one cell per day, shaded by how much
footage it holds; days without footage are drawn as empty and say so) and a year bar (the same,
a cell per month).

Both are painted by hand (no child widget per moment or day), so a month of 50,000 frames costs
a histogram of a few hundred bins. Times shown go through the memory's :class:`Clock`.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections.abc import Callable
from datetime import date, datetime, timedelta

from lifelog.api.clock import Clock
from ui import theme
from ui.qt import (
    QColor,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QRectF,
    QSize,
    QSizePolicy,
    Qt,
    QWheelEvent,
    QWidget,
    Signal,
)

BIN_PX = 3  # one histogram bar per 3 pixels


def _text_colour(w: QWidget) -> QColor:
    return theme.current().text


class DayBar(QWidget):
    """A horizontal bar for one day: footage density and the current moment; drag to scrub.

    ``scrubbed(index)`` reports the moment nearest the pointer while a button is held (press,
    every move, release); the wheel and ←/→ report ``stepped(±1)``."""

    scrubbed = Signal(int)
    stepped = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(52)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setToolTip("Drag to move through the day; the wheel steps one moment")
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.secs: list[float] = []  # each moment's seconds from the start, sorted
        self.current = -1
        self.clock: Clock | None = None
        self.dragging = False
        self._bins: list[int] = []

    def sizeHint(self) -> QSize:
        return QSize(600, 52)

    def set_day(self, start: datetime, end: datetime, times: list[datetime], clock: Clock) -> None:
        self.start, self.end, self.clock = start, end, clock
        self.secs = [(t - start).total_seconds() for t in times]
        self.current = -1
        self._bins = []
        self.update()

    def clear(self) -> None:
        self.start = self.end = None
        self.secs = []
        self.current = -1
        self._bins = []
        self.update()

    def set_current(self, index: int) -> None:
        if index != self.current:
            self.current = index
            self.update()

    # geometry: x ↔ seconds
    def _track(self) -> QRectF:
        return QRectF(8, 4, max(1, self.width() - 16), self.height() - 22)

    def _span(self) -> float:
        if self.start is None or self.end is None:
            return 1.0
        return max(1.0, (self.end - self.start).total_seconds())

    def x_of(self, secs: float) -> float:
        tr = self._track()
        return tr.left() + tr.width() * min(max(secs / self._span(), 0.0), 1.0)

    def x_of_moment(self, index: int) -> int:
        """Where moment ``index`` sits on the bar (widget x, for tests and tooltips)."""
        return round(self.x_of(self.secs[index]))

    def index_at(self, x: float) -> int:
        """The moment nearest widget x (-1 when the day has none)."""
        if not self.secs:
            return -1
        tr = self._track()
        s = (min(max(x, tr.left()), tr.right()) - tr.left()) / tr.width() * self._span()
        i = bisect_left(self.secs, s)
        if i >= len(self.secs):
            return len(self.secs) - 1
        if i > 0 and s - self.secs[i - 1] <= self.secs[i] - s:
            return i - 1
        return i

    def _histogram(self) -> list[int]:
        n = max(1, int(self._track().width()) // BIN_PX)
        if len(self._bins) != n:
            bins = [0] * n
            span = self._span()
            for s in self.secs:
                bins[min(n - 1, max(0, int(s / span * n)))] += 1
            self._bins = bins
        return self._bins

    # events
    def resizeEvent(self, event: object) -> None:
        self._bins = []

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.secs:
            self.dragging = True
            self._scrub_to(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.dragging:
            self._scrub_to(event.position().x())
        elif self.secs and self.start is not None and self.clock is not None:
            i = self.index_at(event.position().x())
            self.setToolTip(self.clock.time(self.start + timedelta(seconds=self.secs[i])))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.dragging:
            self._scrub_to(event.position().x())
            self.dragging = False

    def _scrub_to(self, x: float) -> None:
        i = self.index_at(x)
        if i >= 0 and i != self.current:
            self.current = i
            self.update()
            self.scrubbed.emit(i)

    def wheelEvent(self, event: QWheelEvent) -> None:
        _wheel_step(event, self.stepped.emit)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        tr = self._track()
        p.fillRect(tr, theme.current().empty)
        fg = _text_colour(self)
        if self.start is not None and self.clock is not None:
            p.setPen(QPen(fg))
            hours = int(self._span() // 3600)
            step = 3 if self.width() < 700 else 2 if self.width() < 1100 else 1
            for h in range(0, hours + 1, step):
                x = self.x_of(h * 3600.0)
                p.setPen(QPen(QColor(fg.red(), fg.green(), fg.blue(), 60)))
                p.drawLine(round(x), round(tr.top()), round(x), round(tr.bottom()))
                if h % (step * 3) == 0 and h < hours:
                    p.setPen(QPen(fg))
                    label = self.clock.time(self.start + timedelta(hours=h))
                    p.drawText(round(x) + 2, self.height() - 4, label)
        bins = self._histogram()
        top = max(bins) if bins else 0
        if top:
            for k, c in enumerate(bins):
                if c:
                    h = tr.height() * (0.25 + 0.75 * (c / top) ** 0.5)
                    p.fillRect(QRectF(tr.left() + k * BIN_PX, tr.bottom() - h, BIN_PX - 1, h), theme.current().footage)
        elif not self.secs:
            p.setPen(QPen(fg))
            p.drawText(tr, Qt.AlignmentFlag.AlignCenter, "No footage on this day")
        if 0 <= self.current < len(self.secs):
            x = self.x_of(self.secs[self.current])
            p.setPen(QPen(theme.current().accent, 3))
            p.drawLine(round(x), round(tr.top()) - 2, round(x), round(tr.bottom()) + 2)
        p.end()



def _wheel_step(event: QWheelEvent, step: Callable[[int], object]) -> None:
    """The wheel (or a trackpad's sideways swipe) steps one back (up) or on (down)."""
    dy = event.angleDelta().y() or event.angleDelta().x()
    if dy:
        step(-1 if dy > 0 else 1)
    event.accept()


def _paint_cell(p: QPainter, r: QRectF, n: int, top: int, selected: bool, fg: QColor, label: str) -> None:
    """One day or month of a bar: shaded by how much footage it holds (dotted when none), ringed
    when selected, labelled (dimmed when empty)."""
    if n and top:
        c = QColor(theme.current().footage)
        c.setAlpha(int(90 + 165 * (n / top) ** 0.5))
        p.setBrush(c)
        p.setPen(Qt.PenStyle.NoPen)
    else:
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(theme.current().empty.darker(160), 1, Qt.PenStyle.DotLine))
    p.drawRoundedRect(r, 3, 3)
    if selected:
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(theme.current().accent, 2))
        p.drawRoundedRect(r, 3, 3)
    if label:
        p.setPen(QPen(fg if n else QColor(fg.red(), fg.green(), fg.blue(), 110)))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, label)

class MonthBar(QWidget):
    """One month, one cell per day: shaded by footage, empty days drawn as empty; click a day
    with footage to open it (``day_chosen``); the wheel moves a month (``month_stepped``)."""

    day_chosen = Signal(object)  # a date
    month_stepped = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self.year = 2000
        self.month = 1
        self.counts: dict[date, int] = {}
        self.selected: date | None = None

    def sizeHint(self) -> QSize:
        return QSize(600, 34)

    def set_month(self, year: int, month: int, counts: dict[date, int]) -> None:
        self.year, self.month = year, month
        self.counts = {d: n for d, n in counts.items() if d.year == year and d.month == month and n > 0}
        self.update()

    def set_selected(self, day: date | None) -> None:
        self.selected = day
        self.update()

    def days(self) -> list[date]:
        n = calendar.monthrange(self.year, self.month)[1]
        return [date(self.year, self.month, k) for k in range(1, n + 1)]

    def has_footage(self, day: date) -> bool:
        """What the bar shows for a day: footage, or an empty cell."""
        return self.counts.get(day, 0) > 0

    def cell_rect(self, day: date) -> QRectF:
        n = len(self.days())
        w = max(1.0, (self.width() - 16) / n)
        return QRectF(8 + (day.day - 1) * w, 2, w - 2, self.height() - 4)

    def day_at(self, x: float) -> date | None:
        for d in self.days():
            r = self.cell_rect(d)
            if r.left() <= x <= r.right() + 2:
                return d
        return None

    def tooltip_for(self, day: date) -> str:
        n = self.counts.get(day, 0)
        return f"{Clock.day_title(day)}: " + (f"{n} moment{'s' if n != 1 else ''}" if n else "no footage")

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        d = self.day_at(event.position().x())
        self.setToolTip(self.tooltip_for(d) if d is not None else "")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        d = self.day_at(event.position().x())
        if event.button() == Qt.MouseButton.LeftButton and d is not None and self.has_footage(d):
            self.day_chosen.emit(d)

    def wheelEvent(self, event: QWheelEvent) -> None:
        _wheel_step(event, self.month_stepped.emit)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        top = max(self.counts.values(), default=0)
        fg = _text_colour(self)
        for d in self.days():
            r = self.cell_rect(d)
            _paint_cell(p, r, self.counts.get(d, 0), top, d == self.selected, fg,
                        str(d.day) if r.width() > 14 else "")
        p.end()


class YearBar(QWidget):
    """One year, one cell per month: shaded by footage, empty months drawn as empty; click a month
    with footage to open it (``month_chosen(year, month)``); the wheel moves a year."""

    month_chosen = Signal(int, int)
    year_stepped = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(34)
        self.setMinimumWidth(12 * 22 + 16)
        self.setMouseTracking(True)
        self.year = 2000
        self.counts: dict[int, int] = {}  # month → frames
        self.selected: int | None = None

    def sizeHint(self) -> QSize:
        return QSize(12 * 30 + 16, 34)

    def set_year(self, year: int, per_day: dict[date, int]) -> None:
        self.year = year
        counts: dict[int, int] = {}
        for d, n in per_day.items():
            if d.year == year and n > 0:
                counts[d.month] = counts.get(d.month, 0) + n
        self.counts = counts
        self.update()

    def set_selected(self, month: int | None) -> None:
        self.selected = month
        self.update()

    def has_footage(self, month: int) -> bool:
        return self.counts.get(month, 0) > 0

    def cell_rect(self, month: int) -> QRectF:
        w = max(1.0, (self.width() - 16) / 12)
        return QRectF(8 + (month - 1) * w, 2, w - 2, self.height() - 4)

    def month_at(self, x: float) -> int | None:
        for m in range(1, 13):
            r = self.cell_rect(m)
            if r.left() <= x <= r.right() + 2:
                return m
        return None

    def tooltip_for(self, month: int) -> str:
        n = self.counts.get(month, 0)
        name = calendar.month_name[month]
        return f"{name} {self.year}: " + (f"{n} moment{'s' if n != 1 else ''}" if n else "no footage")

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        m = self.month_at(event.position().x())
        self.setToolTip(self.tooltip_for(m) if m is not None else "")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        m = self.month_at(event.position().x())
        if event.button() == Qt.MouseButton.LeftButton and m is not None and self.has_footage(m):
            self.month_chosen.emit(self.year, m)

    def wheelEvent(self, event: QWheelEvent) -> None:
        _wheel_step(event, self.year_stepped.emit)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        top = max(self.counts.values(), default=0)
        fg = _text_colour(self)
        for m in range(1, 13):
            r = self.cell_rect(m)
            label = calendar.month_abbr[m] if r.width() > 30 else calendar.month_abbr[m][:1]
            _paint_cell(p, r, self.counts.get(m, 0), top, m == self.selected, fg, label)
        p.end()
