"""The edges the domains imply now: pure reads of the people, places, objects and speech tables.

:func:`episode_edges` is used both by the build (to diff against what is stored) and by the
queries of a memory whose graph has not been built yet (they answer from these rows in memory).
Episodes of unfinished imports and episodes in the trash are left out: their edges are neither
made nor expired (the trash can be restored).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

from lifelog.graph.types import EdgeKind, node_id
from lifelog.objects.timeline import Objects
from lifelog.store.db import Store
from lifelog.store.sql import and_all


@dataclass(frozen=True)
class Episode:
    id: str
    start: datetime
    end: datetime
    tz_offset_min: int


@dataclass(frozen=True)
class Derived:
    """One edge the domains imply (its stored form adds an id and the learned/expired times)."""

    kind: EdgeKind
    src: str
    dst: str
    episode_id: str
    valid_from: datetime
    valid_to: datetime
    weight: float

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.src, self.dst, self.episode_id)


def shown_episodes(store: Store) -> dict[str, Episode]:
    """Committed episodes not in the trash."""
    rows = store.rows("episodes", store.committed_filter(episode_column="id"),
                      columns=["id", "start", "end", "tz_offset_min"]).to_pylist()
    return {r["id"]: Episode(r["id"], r["start"], r["end"], int(r["tz_offset_min"] or 0)) for r in rows}


def merged_into(store: Store) -> dict[str, str]:
    """person id -> the person it was merged into (followed to the end of the chain)."""
    rows = store.rows("people", "merged_into IS NOT NULL", columns=["id", "merged_into"]).to_pylist()
    return follow_merges({r["id"]: r["merged_into"] for r in rows})


def follow_merges(direct: dict[str, str]) -> dict[str, str]:
    """``{person: the person it was merged into}`` with each chain followed to its end."""
    out: dict[str, str] = {}
    for pid in direct:
        seen, cur = {pid}, direct[pid]
        while cur in direct and cur not in seen:
            seen.add(cur)
            cur = direct[cur]
        out[pid] = cur
    return out


def local_day(ep: Episode) -> str:
    """The day an episode happened on, in the zone it was recorded in."""
    return (ep.start + timedelta(minutes=ep.tz_offset_min)).strftime("%Y-%m-%d")


def episode_edges(store: Store, eps: dict[str, Episode], things_for: Sequence[str] | None = None) -> list[Derived]:
    """Every episode-derived edge of ``eps``: ``on`` (episode → day), ``seen`` (person → episode),
    ``seen_with`` (person – person, same episode; the smaller id first), ``at`` (episode → place
    and person → place), ``said`` (person → utterance) and ``with_thing`` (episode → object) for
    the episodes ``things_for`` (all of ``eps`` when None): the one kind that reads frames."""
    out: list[Derived] = []
    for ep in eps.values():
        out.append(Derived("on", node_id("episode", ep.id), node_id("day", local_day(ep)), ep.id, ep.start, ep.end,
                           1.0))
    alias = merged_into(store)
    faces = store.rows("faces", and_all("person_id IS NOT NULL", store.committed_filter()),
                       columns=["episode_id", "person_id"])
    count: Counter[tuple[str, str]] = Counter()
    for e, p in zip(faces.column("episode_id").to_pylist(), faces.column("person_id").to_pylist(), strict=True):
        if e in eps and p:
            count[(e, alias.get(p, p))] += 1
    people_of: dict[str, list[str]] = {}
    for (e, p), n in sorted(count.items()):
        ep = eps[e]
        people_of.setdefault(e, []).append(p)
        out.append(Derived("seen", node_id("person", p), node_id("episode", e), e, ep.start, ep.end, float(n)))
    for e, who in people_of.items():
        ep = eps[e]
        for a, b in combinations(sorted(who), 2):
            w = float(min(count[(e, a)], count[(e, b)]))
            out.append(Derived("seen_with", node_id("person", a), node_id("person", b), e, ep.start, ep.end, w))
    visits = store.rows("place_visits", None, columns=["episode_id", "place_id"]).to_pylist()
    for v in visits:
        e = v["episode_id"]
        if e not in eps:
            continue
        ep, place = eps[e], node_id("place", v["place_id"])
        out.append(Derived("at", node_id("episode", e), place, e, ep.start, ep.end, 1.0))
        for p in people_of.get(e, []):
            out.append(Derived("at", node_id("person", p), place, e, ep.start, ep.end, float(count[(e, p)])))
    said = store.rows("utterances", and_all("speaker_id IS NOT NULL", store.committed_filter()),
                      columns=["id", "episode_id", "speaker_id", "start", "end"]).to_pylist()
    for u in said:
        e = u["episode_id"]
        if e not in eps:
            continue
        ep = eps[e]
        p = alias.get(u["speaker_id"], u["speaker_id"])
        out.append(Derived("said", node_id("person", p), f"utterance:{u['id']}", e, u["start"] or ep.start,
                           u["end"] or ep.end, 1.0))
    wanted = sorted(eps) if things_for is None else sorted(set(things_for) & set(eps))
    if wanted:
        for e, names in Objects(store).in_episodes(wanted).items():
            ep = eps[e]
            for rank, name in enumerate(names):
                out.append(Derived("with_thing", node_id("episode", e), node_id("thing", name), e, ep.start, ep.end,
                                   1.0 / (rank + 1)))
    return out


def as_rows(edges: Sequence[Derived]) -> list[dict[str, Any]]:
    """Derived edges as (unstored) edge rows, for queries over a memory without a graph."""
    return [{"kind": d.kind, "src": d.src, "dst": d.dst, "src_kind": d.src.partition(":")[0],
             "dst_kind": d.dst.partition(":")[0], "episode_id": d.episode_id, "valid_from": d.valid_from,
             "valid_to": d.valid_to, "weight": d.weight} for d in edges]
