"""The graph's questions (``docs/graph.md``, "Query API"): who was seen when, with whom, where,
with what; the names a person or place had; the user's facts.

Every function takes ``(store, vault, ...)`` and returns frozen dataclasses of
:mod:`lifelog.graph.types` with UTC times. Windows are half-open, ``[start, end)``, and an
episode counts when it overlaps the window. Episodes in the trash and hidden people are left
out; labels are the user's names, decrypted here from the domains' stores (None when unnamed).

A memory whose graph has not been built yet (made before the graph existed, or never written
since) is answered from the domain tables directly (:mod:`lifelog.graph.derive`): never an
error for a missing table.
"""

from __future__ import annotations

import itertools
import unicodedata
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from lifelog.graph import tables
from lifelog.graph.build import fact_aad, name_aad
from lifelog.graph.derive import as_rows, episode_edges, follow_merges, shown_episodes
from lifelog.graph.types import EdgeKind, Fact, GraphStats, NameSpan, Presence, PresenceKind
from lifelog.objects.vocabulary import NAMES, match_objects
from lifelog.people.names import name_key
from lifelog.people.store import PeopleTables, PersonRow
from lifelog.store.db import Store
from lifelog.store.sql import sql_in, sql_str, ts_literal
from lifelog.store.vault import Vault

EDGE_COLUMNS = ["kind", "src", "dst", "episode_id", "valid_from", "valid_to"]


# ----------------------------------------------------------------- reading edges
def _edges(store: Store, kinds: Sequence[EdgeKind], start: datetime | None, end: datetime | None,
           *, src: Iterable[str] | None = None, dst: Iterable[str] | None = None,
           src_kind: str | None = None, dst_kind: str | None = None,
           windows: Sequence[tuple[datetime, datetime]] = ()) -> list[dict[str, Any]]:
    """Current episode-derived edges of ``kinds`` overlapping the window (and one of
    ``windows``, when given), trash left out."""
    src_set = set(src) if src is not None else None
    dst_set = set(dst) if dst is not None else None
    trashed = set(store.trashed_episodes())
    tbl = tables.open_table(store, tables.EDGES)
    if tbl is None:
        eps = shown_episodes(store)
        rows = as_rows(episode_edges(store, eps, None if "with_thing" in kinds else []))
        rows = [r for r in rows if r["kind"] in kinds
                and (end is None or r["valid_from"] < end) and (start is None or r["valid_to"] > start)]
    elif all(k in tables.SNAPSHOT_KINDS for k in kinds):
        rows = tables.snapshot(tbl).select(kinds, start, end, src=src_set, dst=dst_set, src_kind=src_kind,
                                           dst_kind=dst_kind, windows=windows)
    else:
        conds = ["expired_at IS NULL", sql_in("kind", kinds)]
        if end is not None:
            conds.append(f"valid_from < {ts_literal(end)}")
        if start is not None:
            conds.append(f"valid_to > {ts_literal(start)}")
        if src_set is not None:
            conds.append(tables.any_in("src", src_set))
        if dst_set is not None:
            conds.append(tables.any_in("dst", dst_set))
        if src_kind is not None:
            conds.append(f"src_kind = {sql_str(src_kind)}")
        if dst_kind is not None:
            conds.append(f"dst_kind = {sql_str(dst_kind)}")
        if windows:
            conds.append(" OR ".join(f"(valid_from < {ts_literal(b)} AND valid_to > {ts_literal(a)})"
                                     for a, b in windows))
        rows = tables.read(tbl, " AND ".join(f"({c})" for c in conds), EDGE_COLUMNS).to_pylist()
    return [r for r in rows if r["episode_id"] not in trashed
            and (src_set is None or r["src"] in src_set) and (dst_set is None or r["dst"] in dst_set)
            and (src_kind is None or r["src"].partition(":")[0] == src_kind)
            and (dst_kind is None or r["dst"].partition(":")[0] == dst_kind)]


def _presences(kind: PresenceKind, pairs: Iterable[tuple[str, dict[str, Any]]],
               labels: dict[str, str | None]) -> list[Presence]:
    """Group edges by the node they are about (a domain id): evidence in time order; most
    episodes first, then the most recently seen."""
    by: dict[str, dict[str, tuple[datetime, datetime]]] = {}
    for ref, r in pairs:
        eps = by.setdefault(ref, {})
        e = r["episode_id"]
        a, b = r["valid_from"], r["valid_to"]
        if e in eps:
            a, b = min(a, eps[e][0]), max(b, eps[e][1])
        eps[e] = (a, b)
    out = []
    for ref, eps in by.items():
        order = sorted(eps, key=lambda e: (eps[e][0], e))
        out.append(Presence(node_id=ref, kind=kind, label=labels.get(ref), episode_ids=tuple(order),
                            first=min(v[0] for v in eps.values()), last=max(v[1] for v in eps.values()),
                            count=len(order), spans=tuple(eps[e] for e in order)))
    out.sort(key=lambda p: (-p.count, -p.last.timestamp(), p.node_id))
    return out


def _ref(node: str) -> str:
    return node.partition(":")[2]


_PEOPLE_COLUMNS = ["id", "name_enc", "hidden", "merged_into"]
_PEOPLE: weakref.WeakKeyDictionary[Any, tuple[int, dict[str, PersonRow], dict[str, str]]] = (
    weakref.WeakKeyDictionary())


def _people_rows(store: Store) -> tuple[dict[str, PersonRow], dict[str, str]]:
    """The people rows a question needs (id, name ciphertext, hidden, merged into: no face
    vectors) and who was merged into whom (followed to the end of the chain), read once per
    version of the people table this store sees (as :meth:`Store.rows` would read them). Names
    stay ciphertext here; :meth:`PeopleTables.name_of` decrypts (cached by ciphertext)."""
    tbl = store.table("people")
    version = int(tbl.version)
    cached = _PEOPLE.get(tbl)
    if cached is not None and cached[0] == version:
        return cached[1], cached[2]
    rows = {r["id"]: PersonRow.from_dict(r) for r in store.rows("people", None, columns=_PEOPLE_COLUMNS).to_pylist()}
    merged = follow_merges({pid: r.merged_into for pid, r in rows.items() if r.merged_into})
    _PEOPLE[tbl] = (version, rows, merged)
    return rows, merged


tables.on_forget(_PEOPLE.clear)


def find_people(store: Store, vault: Vault, name: str) -> list[tuple[str, str]]:
    """(id, name) of the people called ``name``, as :meth:`People.find_ids` finds them (the
    full name, else a first name or surname; case and spacing ignored; people merged away left
    out), from the people rows held per table version."""
    key = name_key(name)
    if not key:
        return []
    pt = PeopleTables(store, vault)
    named = [(pid, n, name_key(n)) for pid, r in _people_rows(store)[0].items()
             if not r.merged_into and r.name_enc and (n := pt.name_of(r))]
    hits = [(pid, n) for pid, n, k in named if k == key]
    return hits or [(pid, n) for pid, n, k in named if key in k.split()]


def _merged_into(store: Store) -> dict[str, str]:
    return _people_rows(store)[1]


def _people_labels(store: Store, vault: Vault, ids: Iterable[str]) -> tuple[dict[str, str | None], set[str]]:
    """Names of people (None when unnamed) and the ids of those hidden or merged away."""
    pt = PeopleTables(store, vault)
    wanted = sorted(set(ids))
    every = _people_rows(store)[0] if wanted else {}
    rows = {pid: every[pid] for pid in wanted if pid in every}
    labels = {pid: pt.name_of(r) for pid, r in rows.items()}
    hidden = {pid for pid, r in rows.items() if r.hidden or r.merged_into} | (set(wanted) - set(rows))
    return labels, hidden


_PLACE_NAMES: dict[tuple[str, bytes], str] = {}  # (place id, name ciphertext) -> name, this process
_PLACE_NAMES_MAX = 4096


def _place_names(vault: Vault, rows: Iterable[dict[str, Any]]) -> dict[str, str | None]:
    """``{place id: name or None}`` of rows with ``id`` and ``name_enc``, names decrypted once
    per process. The cache is keyed by the ciphertext, so a rename (a new ciphertext) or a
    forgotten place (no row) is never answered from it."""
    labels: dict[str, str | None] = {}
    for r in rows:
        pid, enc = r["id"], r["name_enc"]
        if not enc:
            labels[pid] = None
            continue
        key = (pid, bytes(enc))
        name = _PLACE_NAMES.get(key)
        if name is None:
            name = vault.decrypt_text(enc, f"place-name:{pid}")
            if len(_PLACE_NAMES) >= _PLACE_NAMES_MAX:
                _PLACE_NAMES.clear()
            _PLACE_NAMES[key] = name
        labels[pid] = name or None
    return labels


_PLACES: weakref.WeakKeyDictionary[Any, tuple[int, list[dict[str, Any]]]] = weakref.WeakKeyDictionary()
tables.on_forget(_PLACES.clear)


def _place_rows(store: Store) -> list[dict[str, Any]]:
    """Every place's id and name ciphertext (two short columns), read once per version of the
    places table this store sees."""
    tbl = store.table("places")
    version = int(tbl.version)
    cached = _PLACES.get(tbl)
    if cached is not None and cached[0] == version:
        return cached[1]
    rows: list[dict[str, Any]] = store.rows("places", None, columns=["id", "name_enc"]).to_pylist()
    _PLACES[tbl] = (version, rows)
    return rows


def _place_labels(store: Store, vault: Vault, ids: Iterable[str]) -> tuple[dict[str, str | None], set[str]]:
    """Names of the places (None when unnamed) and which of them still exist (the places rows
    held per table version)."""
    wanted = set(ids)
    if not wanted:
        return {}, set()
    labels = _place_names(vault, [r for r in _place_rows(store) if r["id"] in wanted])
    return labels, set(labels)


def _fold(name: str) -> str:
    """A place name as :meth:`Places.find` compares it: case, accents and spacing ignored."""
    s = unicodedata.normalize("NFKD", name)
    return " ".join("".join(c for c in s if not unicodedata.combining(c)).casefold().split())


def find_place(store: Store, vault: Vault, *names: str) -> tuple[str, str] | None:
    """(id, name) of the place the user called one of ``names`` (tried in order, matched as
    :meth:`Places.find` matches: case, accents and spacing ignored), or None: from the places
    rows held per table version, names decrypted once per process (by ciphertext)."""
    rows = [r for r in _place_rows(store) if r["name_enc"]]
    labels = _place_names(vault, rows)
    for name in names:
        key = _fold(name)
        for r in rows:
            label = labels.get(r["id"])
            if label and _fold(label) == key:
                return r["id"], label
    return None


def _person(store: Store, person_id: str) -> str:
    """A person id as it stands now (a person merged into another answers as that one)."""
    pid = person_id.strip()
    if pid.startswith("person:"):
        pid = pid[7:]
    return _merged_into(store).get(pid, pid)


def _place(place_id: str) -> str:
    pid = place_id.strip()
    return pid[6:] if pid.startswith("place:") else pid


# ----------------------------------------------------------------------- people
def people_between(store: Store, vault: Vault, start: datetime | None, end: datetime | None) -> list[Presence]:
    """People seen in episodes overlapping ``[start, end)``; hidden people and the trash left out;
    most episodes first."""
    rows = _edges(store, ["seen"], start, end)
    labels, hidden = _people_labels(store, vault, {_ref(r["src"]) for r in rows})
    return _presences("person", ((_ref(r["src"]), r) for r in rows if _ref(r["src"]) not in hidden), labels)


def seen_of(store: Store, vault: Vault, person_id: str, start: datetime | None = None,
            end: datetime | None = None) -> Presence | None:
    """One person's episodes in the window (their ``seen`` edges only), or None when not seen
    (or hidden, or gone)."""
    pid = _person(store, person_id)
    rows = _edges(store, ["seen"], start, end, src=[f"person:{pid}"])
    labels, hidden = _people_labels(store, vault, [pid])
    if not rows or pid in hidden:
        return None
    return _presences("person", ((pid, r) for r in rows), labels)[0]


def last_seen(store: Store, vault: Vault, person_id: str, start: datetime | None = None,
              end: datetime | None = None) -> tuple[str, datetime, datetime] | None:
    """(episode id, start, end) of the latest episode a person was seen in within the window —
    the last of :func:`seen_of`'s evidence — or None (not seen, hidden, gone)."""
    pid = _person(store, person_id)
    if pid in _people_labels(store, vault, [pid])[1]:
        return None
    me = f"person:{pid}"
    tbl = tables.open_table(store, tables.EDGES)
    if tbl is not None:
        r = tables.snapshot(tbl).latest("seen", start, end, src=[me], leave_out=set(store.trashed_episodes()))
    else:
        rows = _edges(store, ["seen"], start, end, src=[me])
        r = max(rows, key=lambda r: (r["valid_from"], r["episode_id"])) if rows else None
    return None if r is None else (r["episode_id"], r["valid_from"], r["valid_to"])


def seen_with(store: Store, vault: Vault, person_id: str, start: datetime | None = None,
              end: datetime | None = None) -> list[Presence]:
    """Other people who shared an episode with ``person_id``; evidence: the shared episodes."""
    me = f"person:{_person(store, person_id)}"
    rows = [r for r in _edges(store, ["seen_with"], start, end) if me in (r["src"], r["dst"])]
    others = [(_ref(r["dst"] if r["src"] == me else r["src"]), r) for r in rows]
    labels, hidden = _people_labels(store, vault, {o for o, _ in others})
    return _presences("person", ((o, r) for o, r in others if o not in hidden), labels)


def said_count(store: Store, vault: Vault, person_id: str, start: datetime | None = None,
               end: datetime | None = None) -> int:
    """How many things a person was heard saying in the window (utterances attributed to them)."""
    return len(_edges(store, ["said"], start, end, src=[f"person:{_person(store, person_id)}"]))


# ----------------------------------------------------------------------- places
def places_between(store: Store, vault: Vault, start: datetime | None = None,
                   end: datetime | None = None) -> list[Presence]:
    """Places of the episodes overlapping the window."""
    rows = _edges(store, ["at"], start, end, src_kind="episode")
    labels, known = _place_labels(store, vault, {_ref(r["dst"]) for r in rows})
    return _presences("place", ((_ref(r["dst"]), r) for r in rows if _ref(r["dst"]) in known), labels)


def places_of_person(store: Store, vault: Vault, person_id: str, start: datetime | None = None,
                     end: datetime | None = None, *, place_id: str | None = None) -> list[Presence]:
    """Where a person was seen: places of the episodes they are in (only ``place_id``, if given)."""
    me = f"person:{_person(store, person_id)}"
    at = None if place_id is None else [f"place:{_place(place_id)}"]
    rows = _edges(store, ["at"], start, end, src=[me], dst=at)
    labels, known = _place_labels(store, vault, {_ref(r["dst"]) for r in rows})
    return _presences("place", ((_ref(r["dst"]), r) for r in rows if _ref(r["dst"]) in known), labels)


def people_at(store: Store, vault: Vault, place_id: str, start: datetime | None = None,
              end: datetime | None = None) -> list[Presence]:
    """Who was seen at a place (most episodes first)."""
    rows = _edges(store, ["at"], start, end, dst=[f"place:{_place(place_id)}"], src_kind="person")
    labels, hidden = _people_labels(store, vault, {_ref(r["src"]) for r in rows})
    return _presences("person", ((_ref(r["src"]), r) for r in rows if _ref(r["src"]) not in hidden), labels)


# ----------------------------------------------------------------------- things
def things_between(store: Store, vault: Vault, start: datetime | None = None,
                   end: datetime | None = None) -> list[Presence]:
    """Everyday objects seen in the window (label: the object's name)."""
    rows = _edges(store, ["with_thing"], start, end)
    names = {_ref(r["dst"]) for r in rows}
    return _presences("thing", ((_ref(r["dst"]), r) for r in rows), {n: n for n in names})


def last_seen_thing(store: Store, vault: Vault, thing: str) -> Presence | None:
    """The latest episode with that object ("phone", "my keys", …), or None; its place is
    ``Places.places_of([presence.episode_ids[0]])``."""
    names = match_objects(thing) or ([thing.strip().lower()] if thing.strip().lower() in NAMES else [])
    if not names:
        return None
    rows = _edges(store, ["with_thing"], None, None, dst=[f"thing:{n}" for n in names])
    if not rows:
        return None
    r = max(rows, key=lambda r: (r["valid_to"], r["episode_id"]))
    name = _ref(r["dst"])
    return Presence(node_id=name, kind="thing", label=name, episode_ids=(r["episode_id"],), first=r["valid_from"],
                    last=r["valid_to"], count=1)


# --------------------------------------------------------------------- speakers
def speakers_of(store: Store, vault: Vault, utterances: Mapping[str, str | None]) -> dict[str, tuple[str, str | None]]:
    """Who said each utterance (``{utterance id: its own speaker_id}``), by the current ``said``
    edges, or the utterance's speaker where the graph has not linked it yet (transcribed after
    the last build): ``{utterance id: (person id, name or None)}`` — a person merged away answers
    as the one they joined; utterances with no speaker, or whose speaker is hidden or forgotten,
    are left out."""
    wanted = {f"utterance:{u}" for u in utterances}
    if not wanted:
        return {}
    rows = _edges(store, ["said"], None, None, dst=wanted)
    merged = _merged_into(store)
    linked = {_ref(r["dst"]): _ref(r["src"]) for r in rows}
    linked.update({u: p for u, p in utterances.items() if p and u not in linked})
    pairs = [(u, merged.get(p, p)) for u, p in linked.items()]
    labels, hidden = _people_labels(store, vault, {p for _, p in pairs})
    return {u: (p, labels.get(p)) for u, p in pairs if p not in hidden}


# ------------------------------------------------------------------ routines
def presences_in_windows(store: Store, vault: Vault, windows: Sequence[tuple[datetime, datetime]]
                         ) -> list[list[Presence]]:
    """For each window (sorted, not overlapping: the Friday mornings of a routine), the people,
    places and things of its episodes — one read of the edges over the whole span, not one per
    window."""
    if not windows:
        return []
    fast = _presences_in_windows_snapshot(store, vault, windows)
    if fast is not None:
        return fast
    return presences_in_windows_read(store, vault, windows)


def presences_in_windows_read(store: Store, vault: Vault, windows: Sequence[tuple[datetime, datetime]]
                              ) -> list[list[Presence]]:
    """:func:`presences_in_windows` from the edges as :func:`_edges` gives them (one dict per
    edge): without a snapshot, and the reference the snapshot's answer equals."""
    if not windows:
        return []
    import bisect

    starts = [a for a, _ in windows]
    rows = (_edges(store, ["seen", "with_thing"], windows[0][0], windows[-1][1], windows=windows)
            + _edges(store, ["at"], windows[0][0], windows[-1][1], windows=windows, src_kind="episode"))
    per: list[list[tuple[str, dict[str, Any]]]] = [[] for _ in windows]
    for r in rows:
        i = bisect.bisect_right(starts, r["valid_from"]) - 1
        for j in (i, i + 1):  # an episode overlapping a window's start began in the gap before it
            if 0 <= j < len(windows) and r["valid_from"] < windows[j][1] and r["valid_to"] > windows[j][0]:
                per[j].append((r["kind"], r))
    people, hidden = _people_labels(store, vault, {_ref(r["src"]) for rs in per for k, r in rs if k == "seen"})
    places, known = _place_labels(store, vault, {_ref(r["dst"]) for rs in per for k, r in rs if k == "at"})
    out = []
    for rs in per:
        seen = [(_ref(r["src"]), r) for k, r in rs if k == "seen" and _ref(r["src"]) not in hidden]
        at = [(_ref(r["dst"]), r) for k, r in rs if k == "at" and _ref(r["dst"]) in known]
        things = [(_ref(r["dst"]), r) for k, r in rs if k == "with_thing"]
        out.append(_presences("person", seen, people) + _presences("place", at, places)
                   + _presences("thing", things, {n: n for n, _ in things}))
    return out


def _presences_in_windows_snapshot(store: Store, vault: Vault, windows: Sequence[tuple[datetime, datetime]]
                                   ) -> list[list[Presence]] | None:
    """:func:`presences_in_windows` from the edge snapshot's columns (numpy and arrow, no dict per
    edge): an episode's span per node and window is a group-by, and a datetime is made once per
    distinct time. None when there is no edge table yet (the caller reads the domain tables)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    tbl = tables.open_table(store, tables.EDGES)
    if tbl is None:
        return None
    snap = tables.snapshot(tbl)
    lo_t, hi_t = windows[0][0], windows[-1][1]
    parts = [snap.by_kind[k].select(lo_t, hi_t, windows, None, None, None, None) for k in ("seen", "with_thing")]
    parts.append(snap.by_kind["at"].select(lo_t, hi_t, windows, None, None, "episode", None))
    cols = ["kind", "src", "dst", "episode_id", "valid_from", "valid_to"]
    rows = pa.concat_tables([p.select(cols) for p in parts])
    trashed = store.trashed_episodes()
    if trashed and rows.num_rows:
        rows = rows.filter(pc.invert(pc.fill_null(pc.is_in(rows.column("episode_id"),
                                                           value_set=pa.array(trashed, pa.string())), False)))
    out: list[list[Presence]] = [[] for _ in windows]
    if rows.num_rows == 0:
        return out
    vf = rows.column("valid_from").cast(pa.int64()).to_numpy()
    vt = rows.column("valid_to").cast(pa.int64()).to_numpy()
    wa = np.array([tables.us(a) for a, _ in windows], dtype=np.int64)
    wb = np.array([tables.us(b) for _, b in windows], dtype=np.int64)
    first_w = np.searchsorted(wa, vf, side="right") - 1
    take: list[Any] = []
    wins: list[Any] = []
    for j in (first_w, first_w + 1):  # an episode overlapping a window's start began in the gap before it
        jj = np.clip(j, 0, len(windows) - 1)
        ok = (j >= 0) & (j < len(windows)) & (vf < wb[jj]) & (vt > wa[jj])
        take.append(np.nonzero(ok)[0])
        wins.append(j[ok])
    idx, win = pa.array(np.concatenate(take)), np.concatenate(wins)
    rows = rows.take(idx)
    seen = pc.equal(rows.column("kind"), "seen")
    nodes = pc.if_else(seen, rows.column("src"), rows.column("dst")).combine_chunks().dictionary_encode()
    refs = pa.array([_ref(x) for x in nodes.dictionary.to_pylist()], pa.string())
    kinds = rows.column("kind").combine_chunks().dictionary_encode()
    pk = {"seen": "person", "at": "place", "with_thing": "thing"}
    grouped = pa.table({
        "w": pa.array(win, pa.int64()),
        "k": pc.take(pa.array([pk[x] for x in kinds.dictionary.to_pylist()], pa.string()), kinds.indices),
        "n": pc.take(refs, nodes.indices),
        "e": rows.column("episode_id"),
        "a": pa.array(vf[idx.to_numpy()], pa.int64()),
        "b": pa.array(vt[idx.to_numpy()], pa.int64()),
    }).group_by(["w", "k", "n", "e"], use_threads=False).aggregate([("a", "min"), ("b", "max")])
    grouped = grouped.sort_by([("w", "ascending"), ("k", "ascending"), ("n", "ascending"),
                               ("a_min", "ascending"), ("e", "ascending")])
    g_w, g_k, g_n, g_e = (grouped.column(c).to_pylist() for c in ("w", "k", "n", "e"))
    g_a, g_b = grouped.column("a_min").to_pylist(), grouped.column("b_max").to_pylist()
    people, hidden = _people_labels(store, vault, {n for k, n in zip(g_k, g_n, strict=True) if k == "person"})
    places, known = _place_labels(store, vault, {n for k, n in zip(g_k, g_n, strict=True) if k == "place"})
    made = snap.times  # a datetime per distinct time, made once per snapshot
    for us in {*g_a, *g_b}.difference(made):
        made[us] = tables.from_us(us)
    t_a, t_b = [made[x] for x in g_a], [made[x] for x in g_b]
    codes = [grouped.column(c).combine_chunks().dictionary_encode().indices.to_numpy() for c in ("k", "n")]
    w_np = grouped.column("w").to_numpy()
    change = np.r_[True, (w_np[1:] != w_np[:-1]) | (codes[0][1:] != codes[0][:-1]) | (codes[1][1:] != codes[1][:-1])]
    bounds = [*np.nonzero(change)[0].tolist(), len(g_w)]

    per: list[dict[str, list[Presence]]] = [{"person": [], "place": [], "thing": []} for _ in windows]
    lasts: dict[int, int] = {}
    for i, j in itertools.pairwise(bounds):
        k, ref = g_k[i], g_n[i]
        if (k == "person" and ref in hidden) or (k == "place" and ref not in known):
            continue
        label = people.get(ref) if k == "person" else places.get(ref) if k == "place" else ref
        eps = tuple(g_e[i:j])
        spans = tuple(zip(t_a[i:j], t_b[i:j], strict=True))
        last = max(g_b[i:j])
        p = Presence(node_id=ref, kind=k, label=label,
                     episode_ids=eps, first=spans[0][0], last=made[last], count=len(eps), spans=spans)
        lasts[id(p)] = last
        per[g_w[i]][k].append(p)
    for w, by in enumerate(per):
        for k in ("person", "place", "thing"):
            by[k].sort(key=lambda p: (-p.count, -lasts[id(p)], p.node_id))
            out[w] += by[k]
    return out


# ------------------------------------------------------------- names and facts
def subject_nodes(node: str) -> list[str]:
    """The node ids a subject may mean: itself when it has a kind, else a person, place or thing."""
    node = node.strip()
    kind = node.partition(":")[0]
    if kind in ("person", "place", "thing", "episode", "day") and ":" in node:
        return [node]
    return [f"person:{node}", f"place:{node}", f"thing:{node}"]


def facts_about(store: Store, vault: Vault, node_id: str) -> list[Fact]:
    """The user's current facts about a person, place or thing (retracted ones left out)."""
    return list_facts(store, vault, node_id)


def list_facts(store: Store, vault: Vault, subject: str | None = None, *,
               with_retracted: bool = False) -> list[Fact]:
    tbl = tables.open_table(store, tables.EDGES)
    if tbl is None:
        return []
    conds = ["kind = 'fact'"]
    if not with_retracted:
        conds.append("expired_at IS NULL")
    if subject is not None:
        nodes = subject_nodes(subject)
        if nodes[0].startswith("person:"):
            nodes.append(f"person:{_person(store, nodes[0])}")
        conds.append(sql_in("src", nodes))
    rows = tables.read(tbl, " AND ".join(conds), ["id", "src", "valid_from", "valid_to", "learned_at",
                                                  "expired_at", "value_enc"]).to_pylist()
    out = [Fact(id=r["id"], subject=r["src"], text=vault.decrypt_text(r["value_enc"], fact_aad(r["id"])),
                valid_from=r["valid_from"], valid_to=r["valid_to"], learned_at=r["learned_at"],
                expired_at=r["expired_at"]) for r in rows]
    out.sort(key=lambda f: (f.learned_at, f.id))
    return out


def name_history(store: Store, vault: Vault, node: str) -> list[NameSpan]:
    """Every name a person or place had, oldest first — with the names of the people merged into
    it (their own node says whose they were)."""
    tbl = tables.open_table(store, tables.EDGES)
    if tbl is None:
        return []
    nodes = {node}
    merges = tables.read(tbl, "kind = 'merged'", ["src", "dst", "valid_from", "expired_at"]).to_pylist()
    grew = True
    while grew:  # people merged into it, and into those
        more = {r["src"] for r in merges if r["dst"] in nodes and r["expired_at"] is None} - nodes
        grew = bool(more)
        nodes |= more
    rows = tables.read(tbl, f"{sql_in('kind', ['named', 'renamed'])} AND {sql_in('src', sorted(nodes))}",
                       ["id", "src", "valid_from", "valid_to", "source", "value_enc"]).to_pylist()
    out = [NameSpan(node=r["src"], name=vault.decrypt_text(r["value_enc"], name_aad(r["id"])),
                    source=r["source"] or "user", valid_from=r["valid_from"], valid_to=r["valid_to"])
           for r in rows if r["value_enc"]]
    out.sort(key=lambda s: (s.valid_from, s.valid_to is None, s.node))
    return out


def stats(store: Store) -> GraphStats:
    edges, nodes = tables.open_table(store, tables.EDGES), tables.open_table(store, tables.NODES)
    if edges is None or nodes is None:
        return GraphStats({}, {}, 0, 0, False)
    e = tables.read(edges, None, ["kind", "expired_at"]).to_pylist()
    n = tables.read(nodes, None, ["kind"]).column("kind").to_pylist()
    by_node: dict[str, int] = {}
    for k in n:
        by_node[k] = by_node.get(k, 0) + 1
    by_edge: dict[str, int] = {}
    for r in e:
        if r["expired_at"] is None:
            by_edge[r["kind"]] = by_edge.get(r["kind"], 0) + 1
    expired = sum(1 for r in e if r["expired_at"] is not None)
    return GraphStats(dict(sorted(by_node.items())), dict(sorted(by_edge.items())), expired,
                      by_edge.get("fact", 0), True)


def current_graph(store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(nodes, current edges) as stored, for an export to other tools (no text in them)."""
    edges, nodes = tables.open_table(store, tables.EDGES), tables.open_table(store, tables.NODES)
    if edges is None or nodes is None:
        return [], []
    e = tables.read(edges, "expired_at IS NULL AND kind <> 'fact'",
                    ["id", "kind", "src", "dst", "episode_id", "valid_from", "valid_to", "learned_at", "weight",
                     "source"]).to_pylist()
    n = tables.read(nodes, None, ["id", "kind", "ref", "first", "last", "episodes"]).to_pylist()
    return n, e
