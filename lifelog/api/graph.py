"""The knowledge graph, for the front ends (docs/graph.md).

* :func:`build_graph` — bring the graph in line with the memory now (imports and the nightly
  pass do it; ``full`` re-reads every episode's frames);
* :func:`resolve_person` / :func:`resolve_place` — an id or a name to an id (``GraphError``: none);
* :func:`person_view`, :func:`place_view`, :func:`day_view` — a neighbourhood with evidence;
* :func:`history` — the names a person or place had over time;
* :func:`add_fact`, :func:`list_facts`, :func:`retract_fact` — the user's own facts;
* :func:`stats`, :func:`export_graph` — figures, and the graph as JSON or GraphML for other tools.

Times come back in the memory's zone. The questions themselves (who between, seen with, where)
are :mod:`lifelog.graph.query`'s, re-exported here with the memory's parts filled in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import quoteattr

from lifelog.api.memory import Memory
from lifelog.graph import query
from lifelog.graph.build import build_graph as _build
from lifelog.graph.facts import add_fact as _add_fact
from lifelog.graph.facts import retract_fact as _retract_fact
from lifelog.graph.types import BuildReport, Fact, GraphError, GraphStats, NameSpan, Presence
from lifelog.people.names import name_key
from lifelog.people.store import PeopleTables
from lifelog.places import Places, PlacesError
from lifelog.store.files import atomic_write
from lifelog.store.lock import write_lock

__all__ = [
    "BuildReport",
    "Fact",
    "GraphError",
    "GraphStats",
    "NameSpan",
    "Neighbourhood",
    "Presence",
    "Saying",
    "add_fact",
    "build_graph",
    "day_view",
    "export_graph",
    "history",
    "list_facts",
    "months",
    "overview",
    "people_between",
    "person_view",
    "place_view",
    "resolve_person",
    "resolve_place",
    "retract_fact",
    "said_by",
    "seen_with",
    "stats",
]


@dataclass(frozen=True)
class Neighbourhood:
    """One person, place or day and what the graph links to it (times in the memory's zone)."""

    kind: Literal["person", "place", "day"]
    id: str
    label: str | None
    start: datetime | None
    end: datetime | None
    people: list[Presence] = field(default_factory=list)  # seen with / seen at / seen that day
    places: list[Presence] = field(default_factory=list)
    things: list[Presence] = field(default_factory=list)
    episodes: list[str] = field(default_factory=list)  # its own evidence, time order
    said: int = 0  # things a person was heard saying
    facts: list[Fact] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "label": self.label,
                "from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None,
                "people": [p.to_json() for p in self.people], "places": [p.to_json() for p in self.places],
                "things": [p.to_json() for p in self.things], "episodes": self.episodes, "said": self.said,
                "facts": [f.to_json() for f in self.facts]}


def _local(mem: Memory, items: list[Presence]) -> list[Presence]:
    return [replace(p, first=p.first.astimezone(mem.tz), last=p.last.astimezone(mem.tz)) for p in items]


def _local_fact(mem: Memory, f: Fact) -> Fact:
    def tz(d: datetime | None) -> datetime | None:
        return d.astimezone(mem.tz) if d else None

    return replace(f, valid_from=tz(f.valid_from), valid_to=tz(f.valid_to), learned_at=f.learned_at.astimezone(
        mem.tz), expired_at=tz(f.expired_at))


def build_graph(mem: Memory, episodes: list[str] | None = None) -> BuildReport:
    """Derive the graph now (``episodes``: only read those episodes' frames; None: all)."""
    with write_lock(mem.data_dir):
        return _build(mem.store, mem.vault, episodes)


# ------------------------------------------------------------------ resolving
def resolve_person(mem: Memory, who: str) -> tuple[str, str | None]:
    """(id, name) of the person ``who`` names: an id, or a name (case and spacing ignored; a
    first name or surname when it is unique). ``GraphError`` when nobody or several match."""
    mem.store.refresh()
    pt = PeopleTables(mem.store, mem.vault)
    rows = pt.people()
    key = who.strip()
    if key.startswith("person:"):
        key = key[7:]
    if key in rows:
        row = rows[key]
        if row.merged_into:
            row = rows.get(row.merged_into, row)
        return row.id, pt.name_of(row)
    want = name_key(who)
    named = [(r, pt.name_of(r)) for r in rows.values() if not r.merged_into and r.name_enc]
    hits = [(r, n) for r, n in named if n and name_key(n) == want]
    if not hits:
        hits = [(r, n) for r, n in named if n and want and want in name_key(n).split()]
    if not hits:
        raise GraphError(f"no person with id or name {who!r} (see `lifelog people`)")
    if len(hits) > 1:
        raise GraphError(f"{len(hits)} people are called {who!r}: give an id ({', '.join(r.id for r, _ in hits)})")
    return hits[0][0].id, hits[0][1]


def resolve_place(mem: Memory, where: str) -> tuple[str, str | None]:
    """(id, name) of the place ``where`` names (an id or its name); ``GraphError`` when none."""
    mem.store.refresh()
    places = Places(mem.store, mem.vault)
    key = where.strip()
    if key.startswith("place:"):
        key = key[6:]
    try:
        p = places.get(key)
        return p.id, p.name
    except PlacesError:
        pass
    found = places.find(where)
    if found is None:
        raise GraphError(f"no place with id or name {where!r} (see `lifelog places`)")
    return found.id, found.name


# ------------------------------------------------------------------ views
def person_view(mem: Memory, who: str, start: datetime | None = None, end: datetime | None = None) -> Neighbourhood:
    """Who a person was seen with, where, and when (their episodes), with evidence."""
    pid, name = resolve_person(mem, who)
    s, v = mem.store, mem.vault
    mine = [p for p in query.people_between(s, v, start, end) if p.node_id == pid]
    with_ = query.seen_with(s, v, pid, start, end)
    places = query.places_of_person(s, v, pid, start, end)
    said = query.said_count(s, v, pid, start, end)
    return Neighbourhood("person", pid, name, start, end, people=_local(mem, with_), places=_local(mem, places),
                         episodes=list(mine[0].episode_ids) if mine else [], said=said,
                         facts=[_local_fact(mem, f) for f in query.facts_about(s, v, f"person:{pid}")])


def place_view(mem: Memory, where: str, start: datetime | None = None, end: datetime | None = None) -> Neighbourhood:
    """Who was seen at a place, what was there, and its episodes."""
    plid, name = resolve_place(mem, where)
    s, v = mem.store, mem.vault
    here = [p for p in query.places_between(s, v, start, end) if p.node_id == plid]
    eps = list(here[0].episode_ids) if here else []
    things = [t for t in query.things_between(s, v, start, end) if set(t.episode_ids) & set(eps)]
    things = [replace(t, episode_ids=tuple(e for e in t.episode_ids if e in eps)) for t in things]
    things = [replace(t, count=len(t.episode_ids)) for t in things]
    return Neighbourhood("place", plid, name, start, end, people=_local(mem, query.people_at(s, v, plid, start, end)),
                         things=_local(mem, sorted(things, key=lambda t: (-t.count, t.node_id))), episodes=eps,
                         facts=[_local_fact(mem, f) for f in query.facts_about(s, v, f"place:{plid}")])


def day_view(mem: Memory, day: date) -> Neighbourhood:
    """The people, places and things of one day (midnight to midnight in the memory's zone)."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=mem.tz)
    end = start + timedelta(days=1)
    s, v = mem.store, mem.vault
    eps = sorted({e.id for e in mem.episodes_between(start, end)})
    return Neighbourhood("day", day.isoformat(), None, start, end,
                         people=_local(mem, query.people_between(s, v, start, end)),
                         places=_local(mem, query.places_between(s, v, start, end)),
                         things=_local(mem, query.things_between(s, v, start, end)), episodes=eps)


def overview(mem: Memory) -> tuple[list[Presence], list[Presence]]:
    """Everyone and every place the graph knows (most episodes first), for the app's list."""
    mem.store.refresh()
    s, v = mem.store, mem.vault
    return _local(mem, query.people_between(s, v, None, None)), _local(mem, query.places_between(s, v))


def months(mem: Memory, episode_ids: list[str]) -> list[tuple[str, int]]:
    """Episodes per month (``YYYY-MM`` in the memory's zone), oldest first: how often over time."""
    out: dict[str, int] = {}
    for e in episode_ids:
        info = mem.episode(e)
        if info is not None:
            key = info.start.astimezone(mem.tz).strftime("%Y-%m")
            out[key] = out.get(key, 0) + 1
    return sorted(out.items())


def people_between(mem: Memory, start: datetime | None, end: datetime | None) -> list[Presence]:
    return _local(mem, query.people_between(mem.store, mem.vault, start, end))


def seen_with(mem: Memory, who: str, start: datetime | None = None, end: datetime | None = None) -> list[Presence]:
    pid, _ = resolve_person(mem, who)
    return _local(mem, query.seen_with(mem.store, mem.vault, pid, start, end))


@dataclass(frozen=True)
class Saying:
    """One thing a person was heard saying (times in the memory's zone)."""

    episode_id: str
    start: datetime
    end: datetime
    text: str


def said_by(mem: Memory, who: str, limit: int = 100) -> list[Saying]:
    """What a person (or anyone merged into them) was heard saying, newest first, at most
    ``limit``: the utterances speech attributed to them (docs/speech.md), trash left out."""
    from lifelog.speech.store import load_utterances
    from lifelog.store.sql import sql_in

    pid, _ = resolve_person(mem, who)
    if mem.store.count("utterances") == 0:
        return []
    ids = {pid} | {r.id for r in PeopleTables(mem.store, mem.vault).people().values() if r.merged_into == pid}
    rows = mem.store.rows("utterances", sql_in("speaker_id", ids), columns=["id", "episode_id", "start"]).to_pylist()
    trashed = set(mem.store.trashed_episodes())
    rows = sorted((r for r in rows if r["episode_id"] and r["episode_id"] not in trashed),
                  key=lambda r: r["start"], reverse=True)[:limit]
    utts = load_utterances(mem.store, mem.vault, [r["id"] for r in rows])
    return [Saying(str(u.episode_id), u.start.astimezone(mem.tz), u.end.astimezone(mem.tz), u.text)
            for u in sorted(utts, key=lambda u: u.start, reverse=True)]


def history(mem: Memory, ident: str) -> tuple[str, list[NameSpan]]:
    """(node id, names over time) of a person or place id (or current name)."""
    try:
        pid, _ = resolve_person(mem, ident)
        node = f"person:{pid}"
    except GraphError:
        try:
            plid, _ = resolve_place(mem, ident)
        except GraphError as e:
            raise GraphError(f"no person or place with id or name {ident!r}") from e
        node = f"place:{plid}"
    spans = query.name_history(mem.store, mem.vault, node)
    return node, [replace(sp, valid_from=sp.valid_from.astimezone(mem.tz),
                          valid_to=sp.valid_to.astimezone(mem.tz) if sp.valid_to else None) for sp in spans]


# ------------------------------------------------------------------ facts
def _subject(mem: Memory, subject: str) -> str:
    s = subject.strip()
    if s.startswith("thing:"):
        return s
    try:
        return f"person:{resolve_person(mem, s)[0]}"
    except GraphError:
        pass
    try:
        return f"place:{resolve_place(mem, s)[0]}"
    except GraphError:
        pass
    from lifelog.objects.vocabulary import match_objects

    things = match_objects(s)
    if len(things) == 1:
        return f"thing:{things[0]}"
    raise GraphError(f"no person, place or object called {subject!r} (see `lifelog people`, `lifelog places`)")


def add_fact(mem: Memory, subject: str, text: str, valid_from: datetime | None = None,
             valid_to: datetime | None = None) -> Fact:
    node = _subject(mem, subject)
    with write_lock(mem.data_dir):
        return _local_fact(mem, _add_fact(mem.store, mem.vault, node, text, valid_from=valid_from, valid_to=valid_to))


def list_facts(mem: Memory, subject: str | None = None, with_retracted: bool = False) -> list[Fact]:
    node = _subject(mem, subject) if subject else None
    mem.store.refresh()
    return [_local_fact(mem, f) for f in query.list_facts(mem.store, mem.vault, node, with_retracted=with_retracted)]


def retract_fact(mem: Memory, fact_id: str) -> Fact:
    with write_lock(mem.data_dir):
        return _local_fact(mem, _retract_fact(mem.store, mem.vault, fact_id))


# ------------------------------------------------------------------ figures, export
def stats(mem: Memory) -> GraphStats:
    mem.store.refresh()
    return query.stats(mem.store)


def export_graph(mem: Memory, fmt: Literal["json", "graphml"], out: Path) -> dict[str, int]:
    """Write the current graph (nodes with their labels, current edges with times and evidence)
    to ``out`` for other tools. Names are written in plain text: only where the user asks.
    ``GraphError`` when ``out`` exists. Returns the counts."""
    out = Path(out)
    if out.exists():
        raise GraphError(f"{out} exists: choose a new file")
    if not out.parent.is_dir():
        raise GraphError(f"no folder {out.parent}")
    mem.store.refresh()
    nodes, edges = query.current_graph(mem.store)
    people = PeopleTables(mem.store, mem.vault)
    names = {f"person:{r.id}": people.name_of(r) for r in people.people().values()}
    names |= {f"place:{p.id}": p.name for p in Places(mem.store, mem.vault).all()}

    def t(d: datetime | None) -> str | None:
        return d.astimezone(mem.tz).isoformat() if d else None

    ndocs = [{"id": n["id"], "kind": n["kind"], "ref": n["ref"],
              "label": names.get(n["id"]) or (n["ref"] if n["kind"] in ("thing", "day") else None),
              "first": t(n["first"]), "last": t(n["last"]), "episodes": n["episodes"]} for n in nodes]
    edocs = [{"id": e["id"], "kind": e["kind"], "source": e["src"], "target": e["dst"], "episode": e["episode_id"],
              "valid_from": t(e["valid_from"]), "valid_to": t(e["valid_to"]), "learned_at": t(e["learned_at"]),
              "weight": e["weight"]} for e in edges if e["dst"]]
    if fmt == "json":
        data = json.dumps({"format": "lifelog-graph", "version": 1, "nodes": ndocs, "edges": edocs},
                          ensure_ascii=False, indent=1).encode()
    elif fmt == "graphml":
        data = _graphml(ndocs, edocs).encode()
    else:
        raise GraphError(f"unknown format {fmt!r}: json or graphml")
    atomic_write(out, data)
    return {"nodes": len(ndocs), "edges": len(edocs)}


def _graphml(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> str:
    keys = [("node", "kind"), ("node", "label"), ("node", "first"), ("node", "last"), ("node", "episodes"),
            ("edge", "kind"), ("edge", "episode"), ("edge", "valid_from"), ("edge", "valid_to"), ("edge", "weight")]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">']
    for scope, k in keys:
        typ = "double" if k == "weight" else "int" if k == "episodes" else "string"
        lines.append(f'  <key id="{scope[0]}_{k}" for="{scope}" attr.name="{k}" attr.type="{typ}"/>')
    lines.append('  <graph id="lifelog" edgedefault="undirected">')
    known = {n["id"] for n in nodes}
    extra = sorted({e[end] for e in edges for end in ("source", "target")} - known)
    for n in nodes + [{"id": x, "kind": x.partition(":")[0]} for x in extra]:
        lines.append(f'    <node id={quoteattr(n["id"])}>')
        for k in ("kind", "label", "first", "last", "episodes"):
            if n.get(k) is not None:
                lines.append(f'      <data key="n_{k}">{_esc(n[k])}</data>')
        lines.append("    </node>")
    for e in edges:
        lines.append(f'    <edge id={quoteattr(e["id"])} source={quoteattr(e["source"])} '
                     f'target={quoteattr(e["target"])}>')
        for k in ("kind", "episode", "valid_from", "valid_to", "weight"):
            if e.get(k) is not None:
                lines.append(f'      <data key="e_{k}">{_esc(e[k])}</data>')
        lines.append("    </edge>")
    lines += ["  </graph>", "</graphml>", ""]
    return "\n".join(lines)


def _esc(value: object) -> str:
    from xml.sax.saxutils import escape

    return escape(str(value))
