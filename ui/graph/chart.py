"""How often over time: sightings per day, week or month as bars, painted with QPainter.

:func:`periods` turns the start times of a person's (or a place's) episodes into periods with
counts, in the memory's zone: per day when everything lies within two weeks, per week up to
half a year, else per month. Periods without a sighting between the first and the last are kept
(a gap is part of the story) and drawn as an empty track. :class:`SightingsChart` paints them
with the theme's colours (:func:`ui.theme.current`); hovering a bar says its period and count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from lifelog.api.clock import Clock
from ui import theme
from ui.qt import QMouseEvent, QPainter, QPaintEvent, QPointF, QRectF, QSize, Qt, QWidget

Unit = Literal["day", "week", "month"]
MAX_BARS = 60  # more periods than this: the latest are shown


@dataclass(frozen=True)
class Period:
    start: date  # the period's first day (a Monday for weeks, the 1st for months)
    unit: Unit
    count: int

    @property
    def label(self) -> str:
        if self.unit == "day":
            return f"{self.start.day} {self.start:%b}"
        if self.unit == "week":
            return f"wk {self.start.day} {self.start:%b}"
        return f"{self.start:%b %Y}"

    @property
    def title(self) -> str:
        n = f"{self.count} episode{'s' * (self.count != 1)}"
        if self.unit == "day":
            return f"{Clock.day_title(self.start)}: {n}"
        if self.unit == "week":
            return f"week of {Clock.day_title(self.start)}: {n}"
        return f"{self.start:%B %Y}: {n}"


def _key(d: date, unit: Unit) -> date:
    if unit == "day":
        return d
    if unit == "week":
        return d - timedelta(days=d.weekday())
    return d.replace(day=1)


def _next(d: date, unit: Unit) -> date:
    if unit == "day":
        return d + timedelta(days=1)
    if unit == "week":
        return d + timedelta(days=7)
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


def choose_unit(first: date, last: date) -> Unit:
    span = (last - first).days
    return "day" if span < 14 else "week" if span <= 183 else "month"


def periods(times: list[datetime], clock: Clock, unit: Unit | None = None) -> list[Period]:
    """Sightings (episode starts) per period in ``clock``'s zone, oldest first, gaps included."""
    if not times:
        return []
    days = sorted(clock.day(t) for t in times)
    u = unit or choose_unit(days[0], days[-1])
    counts: dict[date, int] = {}
    for d in days:
        k = _key(d, u)
        counts[k] = counts.get(k, 0) + 1
    out: list[Period] = []
    k, end = _key(days[0], u), _key(days[-1], u)
    while k <= end:
        out.append(Period(k, u, counts.get(k, 0)))
        k = _next(k, u)
    return out[-MAX_BARS:]


class SightingsChart(QWidget):
    """A bar per period; the height says how many episodes it had."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.periods: list[Period] = []
        self.empty_text = "No sightings yet."
        self.setMouseTracking(True)
        self.setMinimumHeight(theme.em(self, 5.5))

    def sizeHint(self) -> QSize:
        return QSize(theme.em(self, 24), theme.em(self, 6.5))

    def set_periods(self, periods: list[Period]) -> None:
        self.periods = periods
        self.setToolTip("")
        self.update()

    def bars(self) -> list[tuple[Period, QRectF]]:
        """Each period with the rectangle of its bar (its full track, for hit-testing)."""
        if not self.periods:
            return []
        fm_h = theme.em(self, 1.0)
        left, top = 4.0, 4.0
        w = max(1.0, self.width() - 8.0)
        h = max(1.0, self.height() - top - fm_h - 4.0)
        step = w / len(self.periods)
        gap = min(step * 0.25, 6.0)
        return [(p, QRectF(left + i * step + gap / 2, top, max(1.0, step - gap), h))
                for i, p in enumerate(self.periods)]

    def paintEvent(self, event: QPaintEvent) -> None:
        t = theme.current()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self.periods:
            p.setPen(t.muted)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            p.end()
            return
        most = max(x.count for x in self.periods) or 1
        bars = self.bars()
        fm = p.fontMetrics()
        label_every = max(1, round(len(bars) * fm.horizontalAdvance("wk 30 May ") / max(1, self.width())))
        for i, (period, track) in enumerate(bars):
            p.fillRect(track, t.empty)
            if period.count:
                hh = track.height() * period.count / most
                p.fillRect(QRectF(track.left(), track.bottom() - hh, track.width(), hh), t.footage)
                p.setPen(t.text)
                if hh > fm.height() and track.width() > fm.horizontalAdvance(str(period.count)):
                    p.setPen(t.highlight_text if t.name == "light" else t.base)
                    p.drawText(QRectF(track.left(), track.bottom() - hh, track.width(), fm.height()),
                               Qt.AlignmentFlag.AlignCenter, str(period.count))
            if i % label_every == 0:
                p.setPen(t.muted)
                p.drawText(QRectF(track.left() - 20, track.bottom() + 2, track.width() + 40, fm.height()),
                           Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, period.label)
        p.end()

    def period_at(self, pos: QPointF) -> Period | None:
        for period, track in self.bars():
            if track.left() <= pos.x() <= track.right():
                return period
        return None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        period = self.period_at(event.position())
        self.setToolTip(period.title if period is not None else "")
