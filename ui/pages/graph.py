"""People & Places: who is seen with whom, where, and how often (the knowledge graph, docs/graph.md).

The left list holds every person (named, or "someone not named yet") and every place the graph
knows, most episodes first (:func:`lifelog.api.graph.overview`). Selecting one shows its
neighbourhood (:func:`lifelog.api.graph.person_view` / ``place_view``): who they were seen with
(or who is seen there), where (or what is seen there), a per-month count strip, and their
moments; clicking a person or place moves to it, clicking a moment opens it in the timeline.
Reads run on the read pool; stale results are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lifelog.api import Memory
from lifelog.api import graph as gapi
from lifelog.api.clock import Clock
from ui.context import AppContext
from ui.qt import QLabel, QListWidget, QListWidgetItem, QSplitter, Qt, QVBoxLayout, QWidget
from ui.widgets import error_line, guarded, heading, muted

ROLE_KEY = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class Detail:
    view: Any  # lifelog.api.graph.Neighbourhood
    months: list[tuple[str, int]]
    moments: list[Any]  # lifelog.api EpisodeInfo, newest first


def read_detail(memory: Memory, key: str) -> Detail:
    kind, _, ref = key.partition(":")
    view = gapi.person_view(memory, ref) if kind == "person" else gapi.place_view(memory, ref)
    moments = [m for m in (memory.episode(e) for e in view.episodes[-50:]) if m is not None]
    return Detail(view, gapi.months(memory, view.episodes), sorted(moments, key=lambda m: m.start, reverse=True))


def month_strip(months: list[tuple[str, int]], most: int = 12) -> str:
    """``2024-05 ■■ 2   2024-06 ■ 1`` for the latest ``most`` months with episodes."""
    return "   ".join(f"{m} {'■' * min(n, 10)} {n}" for m, n in months[-most:])


def _label(p: Any) -> str:
    if p.label:
        return str(p.label)
    return "someone not named yet" if p.kind == "person" else "a place not named yet"


class GraphPage(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.loaded = False
        self.keys: list[str] = []
        self.detail: Detail | None = None
        self.selected: str | None = None
        self._token = 0
        self._detail_token = 0
        self.note = muted("")
        self.error = error_line()
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.currentItemChanged.connect(
            lambda item, _prev: self.select(str(item.data(ROLE_KEY))) if item is not None else None)
        self.title = heading("")
        self.strip = muted("")
        self.links_title = QLabel("")
        self.links = QListWidget()
        self.links.itemActivated.connect(lambda item: self.select(str(item.data(ROLE_KEY))))
        self.links.itemClicked.connect(lambda item: self.select(str(item.data(ROLE_KEY))))
        self.where_title = QLabel("")
        self.where = QListWidget()
        self.where.itemActivated.connect(self._where_clicked)
        self.where.itemClicked.connect(self._where_clicked)
        self.moments = QListWidget()
        self.moments.itemActivated.connect(lambda item: self.open_moment(int(item.data(ROLE_KEY))))
        self.moments.itemClicked.connect(lambda item: self.open_moment(int(item.data(ROLE_KEY))))
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        for w in (self.title, self.strip, self.links_title, self.links, self.where_title, self.where,
                  QLabel("Moments (click to open in the timeline)"), self.moments):
            sl.addWidget(w)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.list)
        split.addWidget(side)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.addWidget(self.note)
        lay.addWidget(self.error)
        lay.addWidget(split, 1)
        self.refresh()

    def on_changed(self, what: str) -> None:
        if what in ("episodes", "people", "places", "forgotten", "settings"):
            self.refresh()

    def refresh(self) -> None:
        self._token += 1
        token = self._token
        mem = self.ctx.memory

        def done(res: tuple[list[Any], list[Any]]) -> None:
            if token == self._token:
                self._render(*res)

        self.error.setVisible(False)
        self.ctx.tasks.read(lambda: gapi.overview(mem), guarded(self, done), guarded(self, self._fail))

    def _fail(self, msg: str) -> None:
        self.error.setText(msg)
        self.error.setVisible(True)

    def _render(self, people: list[Any], places: list[Any]) -> None:
        keep = self.selected
        self.list.blockSignals(True)
        self.list.clear()
        self.keys = []
        for p in [*people, *places]:
            key = f"{p.kind}:{p.node_id}"
            icon = "👤" if p.kind == "person" else "📍"
            item = QListWidgetItem(f"{icon} {_label(p)}\n{p.count} episode{'s' * (p.count != 1)}")
            item.setData(ROLE_KEY, key)
            self.list.addItem(item)
            self.keys.append(key)
        self.list.blockSignals(False)
        self.loaded = True
        if people or places:
            self.note.setText(f"{len(people)} people and {len(places)} places. Select one to see who they are "
                              "seen with and where.")
        else:
            self.note.setText("Nobody and nowhere yet: people come from faces, places from GPS in your files or "
                              "scenes that recur. Import footage and they appear here.")
        if keep in self.keys:
            self.select(keep)

    def select(self, key: str) -> None:
        """Show the neighbourhood of ``person:<id>`` or ``place:<id>``."""
        if not key or ":" not in key:
            return
        self.selected = key
        if key in self.keys and self.list.currentRow() != self.keys.index(key):
            self.list.blockSignals(True)
            self.list.setCurrentRow(self.keys.index(key))
            self.list.blockSignals(False)
        self._detail_token += 1
        token = self._detail_token
        mem = self.ctx.memory

        def done(d: Detail) -> None:
            if token == self._detail_token:
                self._render_detail(d)

        self.detail = None
        self.ctx.tasks.read(lambda: read_detail(mem, key), guarded(self, done), guarded(self, self._fail))

    def _render_detail(self, d: Detail) -> None:
        self.detail = d
        v = d.view
        clock = Clock.of(self.ctx.memory)
        name = v.label or ("someone not named yet" if v.kind == "person" else "a place not named yet")
        self.title.setText(f"{name} — {len(v.episodes)} episode{'s' * (len(v.episodes) != 1)}")
        self.strip.setText(month_strip(d.months))
        self.links_title.setText("Seen with" if v.kind == "person" else "Seen here")
        self.links.clear()
        for p in v.people:
            item = QListWidgetItem(f"{_label(p)} — {p.count} episode{'s' * (p.count != 1)}, last "
                                   f"{clock.when(p.last)}")
            item.setData(ROLE_KEY, f"person:{p.node_id}")
            self.links.addItem(item)
        self.where_title.setText("Places" if v.kind == "person" else "Things seen here")
        self.where.clear()
        for p in v.places if v.kind == "person" else v.things:
            item = QListWidgetItem(f"{_label(p)} — {p.count} episode{'s' * (p.count != 1)}")
            item.setData(ROLE_KEY, f"{p.kind}:{p.node_id}")
            self.where.addItem(item)
        self.moments.clear()
        for i, m in enumerate(d.moments):
            item = QListWidgetItem(f"{clock.when(m.start)}  {m.description or m.summary}")
            item.setData(ROLE_KEY, i)
            self.moments.addItem(item)

    def _where_clicked(self, item: QListWidgetItem) -> None:
        key = str(item.data(ROLE_KEY))
        if key.startswith("place:"):
            self.select(key)
        elif key.startswith("thing:"):
            self.ctx.navigate("objects", name=key[6:])

    def open_moment(self, row: int) -> None:
        """Open one moment in the timeline: its day and episode."""
        if self.detail is None or not 0 <= row < len(self.detail.moments):
            return
        m = self.detail.moments[row]
        self.ctx.navigate("timeline", day=Clock.of(self.ctx.memory).day(m.start), episode_id=m.id, moment=m.start)

    def show_with(self, person: str | None = None, place: str | None = None, **_: Any) -> None:
        """``navigate("graph", person="<id>")`` or ``place="<id>"`` selects one."""
        if person:
            self.select(f"person:{person}")
        elif place:
            self.select(f"place:{place}")
