"""The day's moments as a justified grid grouped by episode (Immich's day view, on one day).

Each episode gets a header — its time span, the one-line description, and chips for the people
seen (their face and name) — and below it its moments, as tiles that fill the row edge to edge.
The grid is painted by hand and virtualised: no widget per tile, only the rows in view are drawn
and only their thumbnails are asked for (plus one screen ahead, prefetched), so a day of 20,000
moments scrolls like a day of ten. Thumbnails come from the window's :class:`ui.widgets.Thumbs`
(decrypted and decoded on the read pool, LRU-cached as pixmaps); one that cannot be read stays a
placeholder (the task logs why).

Keys: ←/→ the previous/next moment, Home/End the first/last, ↑/↓ the previous/next day
(``day_step``), Page Up/Down scroll, Enter opens the selected moment's episode (``opened``),
Escape zooms out to the month (``zoom_out``).
Hovering a tile previews it (``previewed``), a click selects it, a double click opens it.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from lifelog.api import EpisodeInfo
from lifelog.api.clock import Clock
from lifelog.api.timeline import Moment
from ui import theme
from ui.qt import (
    QAbstractScrollArea,
    QColor,
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QRect,
    QRectF,
    QResizeEvent,
    Qt,
    QWheelEvent,
    QWidget,
    Signal,
)
from ui.widgets import Thumbs

log = logging.getLogger(__name__)

MARGIN = 12
GAP = 4
TILE_H = 96  # the target row height; tiles stretch so each row fills the width
TILE_W = 128
HEADER_H = 64  # an episode header with people chips
HEADER_BARE = 34  # one without
CHIP_H = 22


@dataclass(frozen=True)
class Group:
    """One episode of the grid: its moments are ``moments[first:first + count]``."""

    episode: EpisodeInfo
    first: int
    count: int


class MomentGrid(QAbstractScrollArea):
    current_changed = Signal(int)  # the selected moment's index (keys, clicks, the scrub bar)
    previewed = Signal(int)  # the moment under the pointer (or the selection), to show larger
    opened = Signal(int)  # Enter / double click: open this moment's episode
    day_step = Signal(int)  # ↑ / ↓: the previous / next day
    zoom_out = Signal()  # Escape: the month

    def __init__(self, thumbs: Thumbs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbs = thumbs
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setMouseTracking(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.moments: list[Moment] = []
        self.groups: list[Group] = []
        self.group_of: list[int] = []  # moment index → group index
        self.faces: dict[str, str] = {}  # a person's name → their face thumbnail's blob id
        self.clock: Clock | None = None
        self.current = -1
        self.hovered = -1
        self.empty_text = ""
        self._cols = 1
        self._tile_w = float(TILE_W)
        self._tops: list[int] = []  # each group's y (content coordinates)
        self._heads: list[int] = []  # each group's header height
        self._height = 0
        self._asked: set[str] = set()  # thumbnails on their way, or that could not be read
        self._queue: list[str] = []  # asked for during this paint, not sent yet
        self._token = 0

    # ------------------------------------------------------------------ data
    def set_moments(self, episodes: list[EpisodeInfo], moments: list[Moment], clock: Clock,
                    empty_text: str = "") -> None:
        """Show these episodes (in order) and the moments that belong to them."""
        self._token += 1
        self.clock = clock
        self.empty_text = empty_text
        order = {e.id: i for i, e in enumerate(episodes)}
        per: list[list[Moment]] = [[] for _ in episodes]
        for m in moments:
            k = order.get(m.episode_id)
            if k is not None:
                per[k].append(m)
        self.moments, self.groups, self.group_of = [], [], []
        for k, (e, ms) in enumerate(zip(episodes, per, strict=True)):
            self.groups.append(Group(e, len(self.moments), len(ms)))
            self.moments.extend(ms)
            self.group_of.extend([k] * len(ms))
        self.current = -1
        self.hovered = -1
        self._asked = set()
        self._queue = []
        self._relayout()
        self.verticalScrollBar().setValue(0)
        self.viewport().update()

    def set_faces(self, faces: dict[str, str]) -> None:
        self.faces = faces
        self.viewport().update()

    def episode_ids(self) -> list[str]:
        return [g.episode.id for g in self.groups]

    def first_of(self, episode_id: str) -> int:
        """The index of an episode's first moment (-1 when it has none here)."""
        g = next((g for g in self.groups if g.episode.id == episode_id), None)
        return g.first if g is not None and g.count else -1

    # ---------------------------------------------------------------- layout
    def _relayout(self) -> None:
        avail = max(TILE_W, self.viewport().width() - 2 * MARGIN)
        self._cols = max(1, (avail + GAP) // (TILE_W + GAP))
        self._tile_w = (avail - GAP * (self._cols - 1)) / self._cols
        tile_h = self._tile_h()
        y = MARGIN
        self._tops = []
        self._heads = [HEADER_H if g.episode.people else HEADER_BARE for g in self.groups]
        for g, head in zip(self.groups, self._heads, strict=True):
            self._tops.append(y)
            rows = (g.count + self._cols - 1) // self._cols
            y += head + rows * (tile_h + GAP) + MARGIN
        self._height = y
        sb = self.verticalScrollBar()
        sb.setRange(0, max(0, self._height - self.viewport().height()))
        sb.setPageStep(self.viewport().height())
        sb.setSingleStep(tile_h + GAP)

    def _tile_h(self) -> int:
        return max(48, round(self._tile_w * TILE_H / TILE_W))

    def tile_rect(self, index: int) -> QRect:
        """Moment ``index``'s tile in viewport coordinates."""
        gi = self.group_of[index]
        k = index - self.groups[gi].first
        row, col = divmod(k, self._cols)
        tile_h = self._tile_h()
        x = MARGIN + col * (self._tile_w + GAP)
        y = self._tops[gi] + self._heads[gi] + row * (tile_h + GAP) - self.verticalScrollBar().value()
        return QRect(round(x), y, round(self._tile_w), tile_h)

    def header_rect(self, gi: int) -> QRect:
        y = self._tops[gi] - self.verticalScrollBar().value()
        return QRect(MARGIN, y, self.viewport().width() - 2 * MARGIN, self._heads[gi] - 6)

    def index_at(self, x: int, y: int) -> int:
        """The moment under viewport point (x, y), or -1."""
        if not self.groups:
            return -1
        cy = y + self.verticalScrollBar().value()
        gi = bisect_right(self._tops, cy) - 1
        if gi < 0:
            return -1
        g = self.groups[gi]
        ry = cy - self._tops[gi] - self._heads[gi]
        if ry < 0:
            return -1
        tile_h = self._tile_h()
        row = ry // (tile_h + GAP)
        col = int((x - MARGIN) // (self._tile_w + GAP))
        if not 0 <= col < self._cols:
            return -1
        k = row * self._cols + col
        return g.first + k if k < g.count else -1

    def group_at(self, y: int) -> int:
        cy = y + self.verticalScrollBar().value()
        gi = bisect_right(self._tops, cy) - 1
        return gi if gi >= 0 and cy - self._tops[gi] < self._heads[gi] else -1

    def _visible(self, y0: int, y1: int) -> list[int]:
        """Moment indices whose rows overlap content rows [y0, y1)."""
        out: list[int] = []
        tile_h = self._tile_h()
        gi = max(0, bisect_right(self._tops, y0) - 1)
        while gi < len(self.groups) and self._tops[gi] < y1:
            g = self.groups[gi]
            base = self._tops[gi] + self._heads[gi]
            r0 = max(0, (y0 - base) // (tile_h + GAP))
            r1 = max(0, (y1 - base) // (tile_h + GAP) + 1)
            lo = g.first + r0 * self._cols
            hi = min(g.first + g.count, g.first + r1 * self._cols)
            out.extend(range(lo, hi))
            gi += 1
        return out

    def visible_indices(self) -> list[int]:
        top = self.verticalScrollBar().value()
        return self._visible(top, top + self.viewport().height())

    # ------------------------------------------------------------- selection
    def set_current(self, index: int, *, notify: bool = True) -> None:
        if not self.moments:
            return
        index = min(max(index, 0), len(self.moments) - 1)
        if index == self.current:
            return
        self.current = index
        self.ensure_visible(index)
        self.viewport().update()
        if notify:
            self.current_changed.emit(index)
        self.previewed.emit(index)

    def ensure_visible(self, index: int) -> None:
        r = self.tile_rect(index)
        sb = self.verticalScrollBar()
        if r.top() < 0:
            gi = self.group_of[index]
            head = index - self.groups[gi].first < self._cols  # first row: show the header too
            sb.setValue(sb.value() + r.top() - (self._heads[gi] if head else 0) - GAP)
        elif r.bottom() > self.viewport().height():
            sb.setValue(sb.value() + r.bottom() - self.viewport().height() + GAP)

    # ---------------------------------------------------------------- events
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._relayout()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        self.viewport().update()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        K = Qt.Key
        if key == K.Key_Right:
            self.set_current(self.current + 1 if self.current >= 0 else 0)
        elif key == K.Key_Left:
            self.set_current(self.current - 1 if self.current >= 0 else 0)
        elif key == K.Key_Home:
            self.set_current(0)
        elif key == K.Key_End:
            self.set_current(len(self.moments) - 1)
        elif key == K.Key_Up:
            self.day_step.emit(-1)
        elif key == K.Key_Down:
            self.day_step.emit(1)
        elif key == K.Key_Escape:
            self.zoom_out.emit()
        elif key in (K.Key_Return, K.Key_Enter):
            if self.current >= 0:
                self.opened.emit(self.current)
        else:
            super().keyPressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        p = event.position().toPoint()
        i = self.index_at(p.x(), p.y())
        if i != self.hovered:
            self.hovered = i
            self.viewport().update()
            self.previewed.emit(i if i >= 0 else self.current)

    def leaveEvent(self, event: object) -> None:
        if self.hovered >= 0:
            self.hovered = -1
            self.viewport().update()
            self.previewed.emit(self.current)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        p = event.position().toPoint()
        self.setFocus()
        i = self.index_at(p.x(), p.y())
        if i >= 0:
            self.set_current(i)
            return
        gi = self.group_at(p.y())
        if gi >= 0 and self.groups[gi].count:  # a click on an episode's header opens it
            self.set_current(self.groups[gi].first)
            self.opened.emit(self.groups[gi].first)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        p = event.position().toPoint()
        i = self.index_at(p.x(), p.y())
        if i >= 0:
            self.set_current(i)
            self.opened.emit(i)

    def wheelEvent(self, event: QWheelEvent) -> None:
        super().wheelEvent(event)

    # ----------------------------------------------------------- thumbnails
    def _ask(self, blob_id: str | None) -> None:
        """Queue a thumbnail to load (sent in batches by :meth:`_flush` at the end of a paint)."""
        if not blob_id or blob_id in self._asked:
            return
        self._asked.add(blob_id)
        self._queue.append(blob_id)

    def _flush(self) -> None:
        if not self._queue:
            return
        token = self._token
        vp = self.viewport()

        def ready_for(blob_id: str) -> Callable[[QPixmap], None]:
            def ready(_pm: QPixmap) -> None:
                if token == self._token:
                    self._asked.discard(blob_id)  # asked again should the cache drop it (LRU)
                    vp.update()

            return ready

        queue, self._queue = self._queue, []
        self.thumbs.request_many([(b, ready_for(b)) for b in queue])

    def prefetch(self) -> None:
        """Ask for the thumbnails one screen below and above the visible rows."""
        top, h = self.verticalScrollBar().value(), self.viewport().height()
        for i in self._visible(top + h, top + 2 * h) + self._visible(max(0, top - h), top):
            if self.thumbs.cached(self.moments[i].thumb_id) is None:
                self._ask(self.moments[i].thumb_id)
        self._flush()

    # --------------------------------------------------------------- drawing
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self.viewport())
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        look = theme.current()
        p.fillRect(self.viewport().rect(), look.base)
        fg, dim = look.text, look.muted
        vh = self.viewport().height()
        if not self.groups:
            p.setPen(QPen(dim))
            p.drawText(self.viewport().rect().adjusted(24, 24, -24, -24),
                       int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.empty_text)
            p.end()
            return
        top = self.verticalScrollBar().value()
        for gi in range(max(0, bisect_right(self._tops, top) - 1), len(self.groups)):
            if self._tops[gi] - top > vh:
                break
            self._paint_header(p, gi, fg, dim)
        placeholder = QColor(fg.red(), fg.green(), fg.blue(), 28)
        for i in self._visible(top, top + vh):
            r = self.tile_rect(i)
            m = self.moments[i]
            pm = self.thumbs.cached(m.thumb_id)
            path = QPainterPath()
            path.addRoundedRect(QRectF(r), 6, 6)
            p.fillPath(path, placeholder)
            if pm is None:
                self._ask(m.thumb_id)
            else:
                fit = pm.size().scaled(r.size(), Qt.AspectRatioMode.KeepAspectRatioByExpanding)
                src_w = pm.width() * r.width() / max(1, fit.width())
                src_h = pm.height() * r.height() / max(1, fit.height())
                src = QRectF((pm.width() - src_w) / 2, (pm.height() - src_h) / 2, src_w, src_h)
                if pm.width() > 3 * pm.height() or pm.height() > 3 * pm.width():  # a sliver: show it whole
                    fit = pm.size().scaled(r.size(), Qt.AspectRatioMode.KeepAspectRatio)
                    tgt = QRectF(r.x() + (r.width() - fit.width()) / 2, r.y() + (r.height() - fit.height()) / 2,
                                 fit.width(), fit.height())
                    p.drawPixmap(tgt, pm, QRectF(pm.rect()))
                else:
                    p.save()
                    p.setClipPath(path)
                    p.drawPixmap(QRectF(r), pm, src)
                    p.restore()
            if i == self.current or i == self.hovered:
                p.setPen(QPen(theme.current().accent if i == self.current else dim, 3 if i == self.current else 2))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRoundedRect(QRectF(r).adjusted(1, 1, -1, -1), 6, 6)
        p.end()
        self.prefetch()

    def _paint_header(self, p: QPainter, gi: int, fg: QColor, dim: QColor) -> None:
        g = self.groups[gi]
        e = g.episode
        r = self.header_rect(gi)
        font = p.font()
        bold = p.font()
        bold.setBold(True)
        bold.setPointSizeF(font.pointSizeF() * 1.1)
        p.setFont(bold)
        p.setPen(QPen(fg))
        when = self.clock.span(e.start, e.end) if self.clock is not None else ""
        fm = QFontMetrics(bold)
        p.drawText(r.x(), r.y() + fm.ascent(), when)
        x = r.x() + fm.horizontalAdvance(when) + 12
        p.setFont(font)
        fmn = QFontMetrics(font)
        said = e.description or e.summary
        p.drawText(x, r.y() + fm.ascent(), fmn.elidedText(said, Qt.TextElideMode.ElideRight, max(10, r.right() - x)))
        # people chips
        y = r.y() + fm.height() + 6
        cx = r.x()
        chip_font = p.font()
        for name in e.people[:8]:
            shown = "Not named yet" if name.startswith("person ") else name  # "person <id>": unnamed
            tw = fmn.horizontalAdvance(shown)
            w = CHIP_H + 6 + tw + 10
            if cx + w > r.right():
                break
            chip = QRectF(cx, y, w, CHIP_H)
            p.setPen(Qt.PenStyle.NoPen)
            chip_bg = QColor(theme.current().accent)
            chip_bg.setAlpha(60)
            p.setBrush(chip_bg)
            p.drawRoundedRect(chip, CHIP_H / 2, CHIP_H / 2)
            face = self.faces.get(name)
            pm = self.thumbs.cached(face) if face else None
            circle = QRectF(cx + 1, y + 1, CHIP_H - 2, CHIP_H - 2)
            if pm is not None:
                clip = QPainterPath()
                clip.addEllipse(circle)
                p.save()
                p.setClipPath(clip)
                side = min(pm.width(), pm.height())
                p.drawPixmap(circle, pm, QRectF((pm.width() - side) / 2, (pm.height() - side) / 2, side, side))
                p.restore()
            else:
                self._ask(face)
                p.setBrush(dim)
                p.drawEllipse(circle)
            p.setFont(chip_font)
            p.setPen(QPen(fg))
            p.drawText(QRectF(cx + CHIP_H + 4, y, tw + 8, CHIP_H),
                       int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), shown)
            cx += w + 6
        if not g.count:
            p.setPen(QPen(dim))
            p.drawText(int(cx), int(y + fmn.ascent() + 3), "(no frames kept)")
        p.setFont(font)

