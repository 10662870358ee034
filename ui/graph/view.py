"""A small graph around one person or place, painted with QPainter.

The person or place is the node in the middle; who and where it is linked to sit on a circle
around it, the line's thickness saying in how many episodes (the count). The episodes that
prove a link (its evidence, the latest :data:`MOMENTS_PER_EDGE`) are small dots along the line.
A click on a neighbour emits :attr:`NeighbourView.node_clicked` with its key (``person:<id>``,
``place:<id>``, ``thing:<name>``), a click on a dot :attr:`NeighbourView.moment_clicked` with
the episode id; hovering either says what it is. Colours come from :func:`ui.theme.current`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ui import theme
from ui.qt import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPointF, QRectF, QSize, Qt, QWidget, Signal

MOMENTS_PER_EDGE = 5
MAX_NEIGHBOURS = 14


@dataclass(frozen=True)
class GraphNode:
    key: str  # person:<id> | place:<id> | thing:<name>
    label: str
    count: int = 0  # episodes linking it to the centre
    episode_ids: tuple[str, ...] = ()  # that evidence, time order
    moment_titles: dict[str, str] = field(default_factory=dict)  # episode id → what a hover says

    @property
    def kind(self) -> str:
        return self.key.partition(":")[0]


class NeighbourView(QWidget):
    node_clicked = Signal(str)
    moment_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.centre: GraphNode | None = None
        self.neighbours: list[GraphNode] = []
        self.empty_text = ""
        self.setMouseTracking(True)
        self.setMinimumSize(theme.em(self, 16), theme.em(self, 14))

    def sizeHint(self) -> QSize:
        return QSize(theme.em(self, 26), theme.em(self, 22))

    def set_graph(self, centre: GraphNode | None, neighbours: list[GraphNode], empty_text: str = "") -> None:
        self.centre = centre
        self.neighbours = neighbours[:MAX_NEIGHBOURS]
        self.empty_text = empty_text
        self.setToolTip("")
        self.update()

    # ------------------------------------------------------------------ geometry
    def _radius(self, node: GraphNode | None) -> float:
        base = theme.em(self, 0.9)
        if node is None or node is self.centre:
            return base * 1.6
        most = max((n.count for n in self.neighbours), default=1) or 1
        return base * (0.8 + 0.6 * node.count / most)

    def node_center(self, key: str) -> QPointF | None:
        """Where a node is drawn (``key`` of the centre or a neighbour)."""
        c = QPointF(self.width() / 2, self.height() / 2)
        if self.centre is not None and key == self.centre.key:
            return c
        n = len(self.neighbours)
        for i, node in enumerate(self.neighbours):
            if node.key == key:
                ring = max(10.0, min(self.width(), self.height()) / 2 - theme.em(self, 2.6))
                a = -math.pi / 2 + 2 * math.pi * i / max(1, n)
                return QPointF(c.x() + ring * math.cos(a), c.y() + ring * math.sin(a))
        return None

    def moment_points(self, node: GraphNode) -> list[tuple[str, QPointF]]:
        """The evidence dots along the line to ``node``: (episode id, where), latest last."""
        a, b = self.node_center(self.centre.key if self.centre else ""), self.node_center(node.key)
        if a is None or b is None:
            return []
        eps = node.episode_ids[-MOMENTS_PER_EDGE:]
        out = []
        for i, e in enumerate(eps):
            f = 0.32 + 0.4 * (i + 1) / (len(eps) + 1)
            out.append((e, QPointF(a.x() + (b.x() - a.x()) * f, a.y() + (b.y() - a.y()) * f)))
        return out

    def node_at(self, pos: QPointF) -> str | None:
        for node in self.neighbours:
            c = self.node_center(node.key)
            if c is not None and math.dist((c.x(), c.y()), (pos.x(), pos.y())) <= self._radius(node) + 2:
                return node.key
        return None

    def moment_at(self, pos: QPointF) -> tuple[GraphNode, str] | None:
        reach = max(5.0, theme.em(self, 0.45))
        for node in self.neighbours:
            for e, q in self.moment_points(node):
                if math.dist((q.x(), q.y()), (pos.x(), pos.y())) <= reach:
                    return node, e
        return None

    # ------------------------------------------------------------------ painting
    def _colour(self, kind: str) -> QColor:
        t = theme.current()
        return {"person": t.footage, "place": t.accent}.get(kind, t.muted)

    def paintEvent(self, event: QPaintEvent) -> None:
        t = theme.current()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), t.base)
        if self.centre is None:
            p.setPen(t.muted)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
            p.end()
            return
        c = QPointF(self.width() / 2, self.height() / 2)
        most = max((n.count for n in self.neighbours), default=1) or 1
        line = QColor(t.muted)
        line.setAlpha(150)
        for node in self.neighbours:
            q = self.node_center(node.key)
            if q is None:
                continue
            p.setPen(QPen(line, 1.0 + 7.0 * node.count / most, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.drawLine(c, q)
        dot = max(3.0, theme.em(self, 0.28))
        for node in self.neighbours:
            for _e, q in self.moment_points(node):
                p.setPen(QPen(t.base, 1.5))
                p.setBrush(t.text)
                p.drawEllipse(q, dot, dot)
        for node in [*self.neighbours, self.centre]:
            q = self.node_center(node.key)
            if q is None:
                continue
            r = self._radius(node)
            p.setPen(QPen(t.accent if node is self.centre else t.base, 3.0 if node is self.centre else 1.5))
            p.setBrush(self._colour(node.kind))
            p.drawEllipse(q, r, r)
            p.setPen(t.text)
            label = node.label if node is self.centre else f"{node.label} ({node.count})"
            fm = p.fontMetrics()
            text = fm.elidedText(label, Qt.TextElideMode.ElideRight, theme.em(self, 9))
            box = QRectF(q.x() - theme.em(self, 5), q.y() + r + 2, theme.em(self, 10), fm.height() + 2)
            p.drawText(box, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text)
        if not self.neighbours and self.empty_text:
            p.setPen(t.muted)
            p.drawText(QRectF(0, c.y() + theme.em(self, 3.5), self.width(), theme.em(self, 3)),
                       Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
        p.end()

    # ------------------------------------------------------------------ mouse
    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        hit = self.moment_at(pos)
        if hit is not None:
            node, e = hit
            self.setToolTip(f"{node.moment_titles.get(e, 'a moment')} — with {node.label}. Click to open it.")
            self.setCursor(Qt.CursorShape.PointingHandCursor)
            return
        key = self.node_at(pos)
        near = next((n for n in self.neighbours if n.key == key), None)
        if near is not None:
            self.setToolTip(f"{near.label}: {near.count} episode{'s' * (near.count != 1)}. Click to open.")
            self.setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self.setToolTip("")
            self.unsetCursor()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position()
        hit = self.moment_at(pos)
        if hit is not None:
            self.moment_clicked.emit(hit[1])
            return
        key = self.node_at(pos)
        if key is not None:
            self.node_clicked.emit(key)
