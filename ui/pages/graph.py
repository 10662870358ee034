"""People & Places: who is seen with whom, where, and how often (the knowledge graph, docs/graph.md).

The left list holds every person (named, or "someone not named yet") and every place the graph
knows, most episodes first (:func:`lifelog.api.graph.overview`); the first is opened when nothing
is. Selecting one opens its page (:func:`read_detail`, on the read pool; stale results are
dropped):

* a **person**: who they are seen with (ranked, with counts), where (places with counts), how
  often over time (:class:`ui.graph.chart.SightingsChart`: episodes per day, week or month), what
  they were heard saying (:func:`lifelog.api.graph.said_by`), their name history and the user's
  facts (add and retract, on the write thread);
* a **place**: who and what is seen there, and its visits over time;
* both: a small graph (:class:`ui.graph.view.NeighbourView`) with the person or place in the
  middle, and their moments.

A click on a linked person or place (in a list or the graph) opens its page, a thing opens the
Objects page, and a moment (a list line, a dot on a graph line, something said) opens the
timeline at that moment. Times are in the memory's zone (:class:`lifelog.api.clock.Clock`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifelog.api import EpisodeInfo, Memory
from lifelog.api import graph as gapi
from lifelog.api.clock import Clock
from ui.context import AppContext
from ui.graph.chart import Period, SightingsChart, periods
from ui.graph.view import MOMENTS_PER_EDGE, GraphNode, NeighbourView
from ui.qt import (
    QColor,
    QHBoxLayout,
    QIcon,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPainter,
    QPainterPath,
    QPixmap,
    QPushButton,
    QRectF,
    QSplitter,
    Qt,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import error_line, guarded, heading, muted

ROLE_KEY = Qt.ItemDataRole.UserRole


def kind_icon(kind: str, size: int = 32) -> QIcon:
    """A person (head and shoulders) or a place (a map pin), painted: no emoji font needed."""
    pix = QPixmap(size, size)
    pix.fill(QColor(0, 0, 0, 0))
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    s = float(size)
    if kind == "person":
        p.setBrush(QColor("#4a7bd0"))
        p.drawEllipse(QRectF(s * 0.32, s * 0.08, s * 0.36, s * 0.36))
        p.drawPie(QRectF(s * 0.12, s * 0.5, s * 0.76, s * 0.8), 0, 180 * 16)
    else:
        p.setBrush(QColor("#d0574a"))
        pin = QPainterPath()
        pin.addEllipse(QRectF(s * 0.22, s * 0.06, s * 0.56, s * 0.56))
        pin.moveTo(s * 0.26, s * 0.45)
        pin.lineTo(s * 0.5, s * 0.94)
        pin.lineTo(s * 0.74, s * 0.45)
        pin.closeSubpath()
        p.drawPath(pin.simplified())
        p.setBrush(QColor("#ffffff"))
        p.drawEllipse(QRectF(s * 0.39, s * 0.2, s * 0.22, s * 0.22))
    p.end()
    return QIcon(pix)

MOMENTS_SHOWN = 50


@dataclass(frozen=True)
class Detail:
    """One person's or place's page, read off the UI thread (times in the memory's zone)."""

    key: str  # person:<id> | place:<id>
    view: Any  # lifelog.api.graph.Neighbourhood
    months: list[tuple[str, int]]
    moments: list[EpisodeInfo]  # its latest episodes, newest first
    periods: list[Period]  # sightings over time, oldest first
    infos: dict[str, EpisodeInfo] = field(default_factory=dict)  # every episode of it, by id
    said: list[Any] = field(default_factory=list)  # lifelog.api.graph.Saying, newest first
    names: list[Any] = field(default_factory=list)  # lifelog.api.graph.NameSpan, oldest first


def _episodes(memory: Memory, ids: list[str]) -> dict[str, EpisodeInfo]:
    """The episodes ``ids`` (time order) in one read: those between the first and the last."""
    if not ids:
        return {}
    if len(ids) <= 3:
        found = [memory.episode(e) for e in ids]
        return {m.id: m for m in found if m is not None}
    first, last = memory.episode(ids[0]), memory.episode(ids[-1])
    want = set(ids)
    out: dict[str, EpisodeInfo] = {}
    if first is not None and last is not None:
        out = {m.id: m for m in memory.episodes_between(first.start, last.end) if m.id in want}
    for e in want - out.keys():  # e.g. an episode that starts before the first one ends
        m = memory.episode(e)
        if m is not None:
            out[e] = m
    return out


def read_detail(memory: Memory, key: str) -> Detail:
    """Everything a person's (``person:<id>``) or a place's (``place:<id>``) page shows."""
    kind, _, ref = key.partition(":")
    view = gapi.person_view(memory, ref) if kind == "person" else gapi.place_view(memory, ref)
    infos = _episodes(memory, list(view.episodes))
    clock = Clock.of(memory)
    ordered = sorted(infos.values(), key=lambda m: m.start)
    months: dict[str, int] = {}
    for m in ordered:
        k = clock.local(m.start).strftime("%Y-%m")
        months[k] = months.get(k, 0) + 1
    said = gapi.said_by(memory, ref) if kind == "person" else []
    _, names = gapi.history(memory, key)
    return Detail(key, view, sorted(months.items()), ordered[::-1][:MOMENTS_SHOWN],
                  periods([m.start for m in ordered], clock), infos, said, names)


def month_strip(months: list[tuple[str, int]], most: int = 12) -> str:
    """``2024-05 ■■ 2   2024-06 ■ 1`` for the latest ``most`` months with episodes."""
    return "   ".join(f"{m} {'■' * min(n, 10)} {n}" for m, n in months[-most:])


def _label(p: Any) -> str:
    if p.label:
        return str(p.label)
    return "someone not named yet" if p.kind == "person" else "a place not named yet"


def _episodes_text(n: int) -> str:
    return f"{n} episode{'s' * (n != 1)}"


class GraphPage(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.read_only = False
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
        self.subtitle = muted("")
        self.strip = muted("")
        self.strip.setVisible(False)  # the chart draws it; kept as text for screen readers and tests
        self.chart = SightingsChart()
        self.graph = NeighbourView()
        self.graph.node_clicked.connect(self._open_key)
        self.graph.moment_clicked.connect(self.open_episode)

        # tab 1: who and where (or who and what, for a place)
        self.links_title = QLabel("")
        self.links = QListWidget()
        self.links.itemActivated.connect(lambda item: self._open_key(str(item.data(ROLE_KEY))))
        self.links.itemClicked.connect(lambda item: self._open_key(str(item.data(ROLE_KEY))))
        self.links_empty = muted("")
        self.where_title = QLabel("")
        self.where = QListWidget()
        self.where.itemActivated.connect(self._where_clicked)
        self.where.itemClicked.connect(self._where_clicked)
        self.where_empty = muted("")
        links_tab = QWidget()
        ll = QVBoxLayout(links_tab)
        for w in (self.links_title, self.links_empty, self.links, self.where_title, self.where_empty, self.where):
            ll.addWidget(w, 1 if isinstance(w, QListWidget) else 0)
        ll.addStretch(0)  # empty lists hidden: the lines stay at the top
        # tab 2: moments
        self.moments = QListWidget()
        self.moments.itemActivated.connect(lambda item: self.open_moment(int(item.data(ROLE_KEY))))
        self.moments.itemClicked.connect(lambda item: self.open_moment(int(item.data(ROLE_KEY))))
        moments_tab = QWidget()
        ml = QVBoxLayout(moments_tab)
        ml.addWidget(muted("Click a moment to open it in the timeline."))
        ml.addWidget(self.moments)
        # tab 3: what they said
        self.said = QListWidget()
        self.said.setWordWrap(True)
        self.said.itemActivated.connect(lambda item: self.open_said(int(item.data(ROLE_KEY))))
        self.said.itemClicked.connect(lambda item: self.open_said(int(item.data(ROLE_KEY))))
        self.said_empty = muted("")
        said_tab = QWidget()
        sl = QVBoxLayout(said_tab)
        sl.addWidget(self.said_empty)
        sl.addWidget(self.said, 1)
        # tab 4: names and facts
        self.names = QListWidget()
        self.facts = QListWidget()
        self.facts.setWordWrap(True)
        self.facts_empty = muted("")
        self.fact_box = QLineEdit()
        self.fact_box.setPlaceholderText("Something true about them, e.g. \"my sister's husband\"")
        self.fact_box.returnPressed.connect(self.add_fact)
        self.add_button = QPushButton("Add fact")
        self.add_button.clicked.connect(self.add_fact)
        self.retract_button = QPushButton("Retract")
        self.retract_button.setToolTip("No longer true: the fact is kept in the history, no longer believed")
        self.retract_button.clicked.connect(self.retract_selected)
        self.retract_button.setEnabled(False)
        self.facts.currentItemChanged.connect(lambda item, _p: self._update_buttons())
        facts_tab = QWidget()
        fl = QVBoxLayout(facts_tab)
        fl.addWidget(QLabel("Names over time"))
        fl.addWidget(self.names, 1)
        fl.addWidget(QLabel("Facts (yours)"))
        fl.addWidget(self.facts_empty)
        fl.addWidget(self.facts, 2)
        row = QHBoxLayout()
        row.addWidget(self.fact_box, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.retract_button)
        fl.addLayout(row)

        self.tabs = QTabWidget()
        self.tabs.addTab(links_tab, "Seen with")
        self.tabs.addTab(moments_tab, "Moments")
        self.tabs.addTab(said_tab, "Said")
        self.tabs.addTab(facts_tab, "Names && facts")
        self.tabs.setTabToolTip(2, "What they were heard saying")

        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.graph)
        lower.addWidget(self.tabs)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)
        self.side = QWidget()
        sd = QVBoxLayout(self.side)
        sd.setContentsMargins(0, 0, 0, 0)
        sd.addWidget(self.title)
        sd.addWidget(self.subtitle)
        sd.addWidget(self.strip)
        sd.addWidget(self.chart)
        sd.addWidget(lower, 1)
        self.side.setVisible(False)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.list)
        split.addWidget(self.side)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 4)
        split.setSizes([230, 900])
        lay = QVBoxLayout(self)
        lay.addWidget(self.note)
        lay.addWidget(self.error)
        lay.addWidget(split, 1)
        self.refresh()

    # ------------------------------------------------------------------ the list
    def on_changed(self, what: str) -> None:
        if what in ("episodes", "people", "places", "forgotten", "settings", "graph"):
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
            item = QListWidgetItem(kind_icon(p.kind), f"{_label(p)}\n{_episodes_text(p.count)}")
            item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, p.kind)
            item.setData(ROLE_KEY, key)
            self.list.addItem(item)
            self.keys.append(key)
        self.list.blockSignals(False)
        self.loaded = True
        if people or places:
            self.note.setText(f"{len(people)} people and {len(places)} places. Select one to see who they are "
                              "seen with, where, and when.")
        else:
            self.note.setText("No one seen yet, and nowhere: people come from faces, places from GPS in your "
                              "files or scenes that recur. Import footage and they appear here.")
        if keep is not None and keep in self.keys:
            self.select(keep)
        elif keep is not None or self.keys:
            self.selected = None
            self.detail = None
            self.side.setVisible(False)
            if self.keys:
                self.select(self.keys[0])

    # ------------------------------------------------------------------ one page
    def select(self, key: str) -> None:
        """Open the page of ``person:<id>`` or ``place:<id>``."""
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
        self.error.setVisible(False)
        v = d.view
        person = v.kind == "person"
        clock = Clock.of(self.ctx.memory)
        name = v.label or ("someone not named yet" if person else "a place not named yet")
        self.title.setText(f"{name} — {_episodes_text(len(v.episodes))}")
        if d.infos:
            first = min(m.start for m in d.infos.values())
            last = max(m.start for m in d.infos.values())
            self.subtitle.setText(f"{'Seen' if person else 'Visited'} first {clock.when(first)}, last "
                                  f"{clock.when(last)}. {'Episodes' if person else 'Visits'} over time:")
        else:
            self.subtitle.setText("Not seen in any episode now (the trash or a forget may hold them).")
        self.strip.setText(month_strip(d.months))
        self.chart.set_periods(d.periods)
        self.side.setVisible(True)

        # who and where
        self.tabs.setTabText(0, "Seen with" if person else "Seen here")
        self.links_title.setText("Seen with (most episodes first)" if person else "People seen here")
        self.links.clear()
        for p in v.people:
            item = QListWidgetItem(f"{_label(p)} — {_episodes_text(p.count)}, last {clock.when(p.last)}")
            item.setData(ROLE_KEY, f"person:{p.node_id}")
            self.links.addItem(item)
        self.links_empty.setText("No one seen with them yet." if person else "No one seen here yet.")
        self.links_empty.setVisible(not v.people)
        self.links.setVisible(bool(v.people))
        self.where_title.setText("Places" if person else "Things seen here")
        self.where.clear()
        wheres = v.places if person else v.things
        for p in wheres:
            item = QListWidgetItem(f"{_label(p)} — {_episodes_text(p.count)}, last {clock.when(p.last)}")
            item.setData(ROLE_KEY, f"{p.kind}:{p.node_id}")
            self.where.addItem(item)
        self.where_empty.setText("Not seen at a known place yet (places come from GPS or scenes that recur)."
                                 if person else "Nothing recognised here yet.")
        self.where_empty.setVisible(not wheres)
        self.where.setVisible(bool(wheres))

        # moments
        self.moments.clear()
        for i, m in enumerate(d.moments):
            item = QListWidgetItem(f"{clock.when(m.start)}  {m.description or m.summary}")
            item.setData(ROLE_KEY, i)
            self.moments.addItem(item)

        # what they said
        self.tabs.setTabEnabled(2, person)
        self.said.clear()
        for i, s in enumerate(d.said):
            item = QListWidgetItem(f"{clock.when(s.start)}\n“{s.text.strip()}”")
            item.setData(ROLE_KEY, i)
            self.said.addItem(item)
        self.said_empty.setText(
            "Nothing heard from them yet: speech is attributed to someone only when they alone are in view "
            "while it is said." if not d.said else "Click a line to open that moment in the timeline.")

        # names and facts
        self.names.clear()
        for sp in d.names:
            until = clock.when(sp.valid_to) if sp.valid_to else "now"
            self.names.addItem(QListWidgetItem(f"{sp.name}  ({clock.when(sp.valid_from)} … {until}, {sp.source})"))
        if not d.names:
            self.names.addItem(QListWidgetItem("No name given yet."))
        self.facts.clear()
        for f in v.facts:
            item = QListWidgetItem(f"{f.text}  (added {clock.when(f.learned_at)})")
            item.setData(ROLE_KEY, f.id)
            self.facts.addItem(item)
        self.facts_empty.setText("No facts yet: add one below.")
        self.facts_empty.setVisible(not v.facts)
        self._update_buttons()

        # the graph
        neighbours = [*v.people, *(v.places if person else v.things)]
        nodes = [GraphNode(f"{p.kind}:{p.node_id}", _label(p), p.count, tuple(p.episode_ids),
                           {e: clock.when(d.infos[e].start) for e in p.episode_ids[-MOMENTS_PER_EDGE:]
                            if e in d.infos}) for p in neighbours]
        self.graph.set_graph(GraphNode(d.key, name, len(v.episodes)), nodes,
                             "" if nodes else ("No one seen with them yet, and no known place." if person
                                               else "No one seen here yet."))

    def _update_buttons(self) -> None:
        self.add_button.setEnabled(not self.read_only)
        self.fact_box.setEnabled(not self.read_only)
        self.retract_button.setEnabled(not self.read_only and self.facts.currentItem() is not None
                                       and self.facts.currentItem().data(ROLE_KEY) is not None)

    # ------------------------------------------------------------------ clicks
    def _open_key(self, key: str) -> None:
        if key.startswith(("person:", "place:")):
            if self.detail is None or key != self.detail.key:
                self.select(key)
        elif key.startswith("thing:"):
            self.ctx.navigate("objects", name=key[6:])

    def _where_clicked(self, item: QListWidgetItem) -> None:
        self._open_key(str(item.data(ROLE_KEY)))

    def _open(self, m: EpisodeInfo, moment: Any = None) -> None:
        at = moment if moment is not None else m.start
        self.ctx.navigate("timeline", day=Clock.of(self.ctx.memory).day(at), episode_id=m.id, moment=at)

    def open_moment(self, row: int) -> None:
        """Open one of the listed moments in the timeline: its day and episode."""
        if self.detail is None or not 0 <= row < len(self.detail.moments):
            return
        self._open(self.detail.moments[row])

    def open_episode(self, episode_id: str) -> None:
        """Open an evidence moment (a dot of the graph) in the timeline."""
        if self.detail is not None and episode_id in self.detail.infos:
            self._open(self.detail.infos[episode_id])

    def open_said(self, row: int) -> None:
        """Open the moment something was said, in the timeline."""
        if self.detail is None or not 0 <= row < len(self.detail.said):
            return
        s = self.detail.said[row]
        info = self.detail.infos.get(s.episode_id)
        if info is not None:
            self._open(info, s.start)
        else:
            self.ctx.navigate("timeline", day=Clock.of(self.ctx.memory).day(s.start), episode_id=s.episode_id,
                              moment=s.start)

    # ------------------------------------------------------------------ facts
    def add_fact(self) -> None:
        """Record the typed fact about the open person or place (the write thread); the text stays
        in the box when it is refused."""
        text = self.fact_box.text().strip()
        if self.detail is None or self.read_only:
            return
        if not text:
            self._fail("Type the fact first.")
            return
        key, mem = self.detail.key, self.ctx.memory

        def done(fact: Any) -> None:
            self.fact_box.clear()
            self.ctx.status(f"Fact added: {fact.text}")
            if self.selected == key:
                self.select(key)

        self.ctx.tasks.write(lambda: gapi.add_fact(mem, key, text), guarded(self, done), guarded(self, self._fail))

    def retract_selected(self) -> None:
        item = self.facts.currentItem()
        if self.detail is None or self.read_only or item is None or item.data(ROLE_KEY) is None:
            return
        fid, key, mem = str(item.data(ROLE_KEY)), self.detail.key, self.ctx.memory

        def done(fact: Any) -> None:
            self.ctx.status(f"Fact retracted: {fact.text}")
            if self.selected == key:
                self.select(key)

        self.ctx.tasks.write(lambda: gapi.retract_fact(mem, fid), guarded(self, done), guarded(self, self._fail))

    def show_with(self, person: str | None = None, place: str | None = None, **_: Any) -> None:
        """``navigate("graph", person="<id>")`` or ``place="<id>"`` opens one's page."""
        if person:
            self.select(f"person:{person}")
        elif place:
            self.select(f"place:{place}")
