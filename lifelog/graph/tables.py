"""The graph's two LanceDB tables, in the memory's own database (``<data>/db``).

``graph_edges``  one row per relation, bi-temporal: ``valid_from``/``valid_to`` (when it was true
                 in the world: the episode's start and end, or when a name was given and until it
                 changed) and ``learned_at``/``expired_at`` (when the memory learnt it and when it
                 let it go: a rename, a merge, a re-clustering, a retracted fact). ``episode_id``
                 is the evidence of every episode-derived edge. ``value_enc`` holds the only text,
                 vault ciphertext (aad ``graph-edge:<edge id>``): a name in the history or a fact.
``graph_nodes``  one row per person, place, thing, episode and day that has a current edge, with
                 the span it was seen in and how many episodes show it (derived from the edges).

Node ids are ``<kind>:<domain id>`` (``person:3f2a…``, ``place:pl1c…``, ``thing:phone``,
``episode:…``, ``day:2024-05-14``): no name or text of the user's is ever in an id or a plain
column (object names come from lifelog's fixed catalogue, as frame labels do).

The schemas are :mod:`lifelog.store.db`'s (``GRAPH_EDGE_SCHEMA``, ``GRAPH_NODE_SCHEMA``), so
the store's compaction, forget-everything and key rotation cover them. A memory made before the
graph gets them empty; until its first build, :func:`open_table` gives ``None`` and readers
compute from the domains instead.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
import weakref
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lifelog.people.store import drop_best_crops
from lifelog.store.db import GRAPH_EDGE_SCHEMA, GRAPH_NODE_SCHEMA, Store, select_rows
from lifelog.store.sql import sql_in

EDGES = "graph_edges"
NODES = "graph_nodes"
TABLES = (EDGES, NODES)
CHUNK = 500
STATE_DIR = "graph"  # <data>/graph: the build's dirty marker
DIRTY = "build.pending"

EDGE_SCHEMA = GRAPH_EDGE_SCHEMA
NODE_SCHEMA = GRAPH_NODE_SCHEMA


def open_table(store: Store, name: str) -> Any | None:
    """The table, or None when the graph has not been built in this memory yet (the store
    creates the tables empty for a memory made before the graph: readers then compute from the
    domains). Facts alone count as built."""
    tbl = store.table(name)
    with contextlib.suppress(Exception):  # see writes of other processes
        tbl.checkout_latest()
    return tbl if store.count(EDGES) else None


def ensure_tables(store: Store) -> dict[str, Any]:
    """Both tables, for writers (under the write lock)."""
    return {name: store.table(name) for name in TABLES}


# ------------------------------------------------------------ the edge snapshot
#: The edges :class:`EdgeSnapshot` keeps: those a question reads by time (their evidence is an episode).
SNAPSHOT_KINDS = ("seen", "seen_with", "at", "with_thing", "said", "on")
SNAPSHOT_COLUMNS = ["kind", "src", "dst", "episode_id", "valid_from", "valid_to", "src_kind", "dst_kind"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_NO_TIME = np.iinfo(np.int64).min


def _us(t: datetime) -> int:
    return (t.astimezone(UTC) - _EPOCH) // _US


def us(t: datetime) -> int:
    """``t`` as UTC microseconds since the epoch (the snapshot's time unit)."""
    return _us(t)


def from_us(us: int) -> datetime:
    """The datetime of UTC microseconds as :func:`_times` (and pyarrow's ``to_pylist``) makes it."""
    return _ZONED_EPOCH + timedelta(microseconds=us)


class _KindEdges:
    """One kind's current edges, sorted by ``valid_from`` (microseconds), with the longest span,
    so a window is a binary search and a short slice."""

    def __init__(self, rows: pa.Table) -> None:
        vf = rows.column("valid_from").cast(pa.int64()).fill_null(_NO_TIME).to_numpy()
        order = np.argsort(vf, kind="stable")
        self.rows = rows.take(pa.array(order))
        self.vf = vf[order]
        self.vt = self.rows.column("valid_to").cast(pa.int64()).fill_null(_NO_TIME).to_numpy()
        timed = (self.vf != _NO_TIME) & (self.vt != _NO_TIME)
        self.longest = int((self.vt[timed] - self.vf[timed]).max()) if timed.any() else 0

    def select(self, start: datetime | None, end: datetime | None, windows: Sequence[tuple[datetime, datetime]],
               src: Collection[str] | None, dst: Collection[str] | None, src_kind: str | None,
               dst_kind: str | None) -> pa.Table:
        lo, hi = 0, len(self.vf)
        if start is not None or end is not None or windows:
            lo = int(np.searchsorted(self.vf, _NO_TIME, side="right"))  # untimed edges answer no window
        if start is not None:
            lo = max(lo, int(np.searchsorted(self.vf, _us(start) - self.longest, side="right")))
        if end is not None:
            hi = int(np.searchsorted(self.vf, _us(end), side="left"))
        if hi <= lo:
            return self.rows.slice(0, 0)
        vf, vt = self.vf[lo:hi], self.vt[lo:hi]
        keep = np.ones(hi - lo, dtype=bool)
        if start is not None:
            keep &= vt > _us(start)
        if windows:  # sorted windows that do not overlap: the last one starting before an edge ends
            a = np.array([_us(w[0]) for w in windows], dtype=np.int64)
            b = np.array([_us(w[1]) for w in windows], dtype=np.int64)
            j = np.searchsorted(a, vt, side="left") - 1
            keep &= (j >= 0) & (b[np.clip(j, 0, None)] > vf)
        rows = self.rows.slice(lo, hi - lo)
        mask = pa.array(keep)
        for col, want in (("src", src), ("dst", dst)):
            if want is not None:
                mask = pc.and_(mask, pc.is_in(rows.column(col), value_set=pa.array(sorted(want), pa.string())))
        for col, kind in (("src_kind", src_kind), ("dst_kind", dst_kind)):
            if kind is not None:
                mask = pc.and_(mask, pc.fill_null(pc.equal(rows.column(col), kind), False))
        return rows.filter(mask)


class EdgeSnapshot:
    """The current (not expired) episode-derived edges of one version of ``graph_edges``, held
    in this process and answered by binary search on time instead of a scan of the table per
    question. Built once per table version (about 100 bytes an edge: 15 MB for a year of 1M
    frames); a new version — a build, an edit, a forget, in this process or another — makes the
    next question read the table again. It holds ids and times only, never a name, and
    :func:`forget` drops it at once."""

    def __init__(self, version: int, rows: pa.Table) -> None:
        self.version = version
        self.times: dict[int, datetime] = {}  # UTC microseconds -> datetime, made once (from_us)
        kinds = rows.column("kind")
        self.by_kind = {k: _KindEdges(rows.filter(pc.equal(kinds, k))) for k in SNAPSHOT_KINDS}

    def select(self, kinds: Sequence[str], start: datetime | None, end: datetime | None, *,
               src: Collection[str] | None = None, dst: Collection[str] | None = None,
               src_kind: str | None = None, dst_kind: str | None = None,
               windows: Sequence[tuple[datetime, datetime]] = ()) -> list[dict[str, Any]]:
        parts = [self.by_kind[k].select(start, end, windows, src, dst, src_kind, dst_kind)
                 for k in dict.fromkeys(kinds)]
        out: list[dict[str, Any]] = []
        for p in parts:
            out += _edge_dicts(p)
        return out

    def latest(self, kind: str, start: datetime | None, end: datetime | None, *, src: Collection[str],
               leave_out: Collection[str] = ()) -> dict[str, Any] | None:
        """The edge of ``kind`` from one of ``src`` in the window with the latest ``valid_from``
        (then the greatest episode id), its episode not one of ``leave_out``; None if none."""
        rows = self.by_kind[kind].select(start, end, (), src, None, None, None)
        if leave_out:
            rows = rows.filter(pc.invert(pc.is_in(rows.column("episode_id"),
                                                  value_set=pa.array(sorted(leave_out), pa.string()))))
        if rows.num_rows == 0:
            return None
        top = rows.filter(pc.equal(rows.column("valid_from"), pc.max(rows.column("valid_from"))))
        top = top.sort_by([("episode_id", "descending")]).slice(0, 1)
        return _edge_dicts(top)[0]


_UTC_ZONE = ZoneInfo("UTC")  # as pyarrow gives a UTC timestamp
_ZONED_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC_ZONE)


def _times(col: pa.ChunkedArray) -> list[datetime | None]:
    """A UTC timestamp column as datetimes, equal to pyarrow's ``to_pylist`` (same zone) but each
    distinct time made once: pyarrow makes every zoned datetime through the zone, slowly."""
    us = col.cast(pa.int64())
    if us.null_count:
        return list(col.to_pylist())
    values = us.to_numpy()
    uniq, inverse = np.unique(values, return_inverse=True)
    made = [_ZONED_EPOCH + timedelta(microseconds=int(v)) for v in uniq.tolist()]
    return [made[i] for i in inverse.tolist()]


def _edge_dicts(rows: pa.Table) -> list[dict[str, Any]]:
    """The rows as a read of ``kind, src, dst, episode_id, valid_from, valid_to`` gives them
    (``to_pylist``), made faster: times by :func:`_times`, each dict by a literal."""
    kind, src, dst, ep = (rows.column(c).to_pylist() for c in ("kind", "src", "dst", "episode_id"))
    vf, vt = _times(rows.column("valid_from")), _times(rows.column("valid_to"))
    return [{"kind": k, "src": s, "dst": d, "episode_id": e, "valid_from": a, "valid_to": b}
            for k, s, d, e, a, b in zip(kind, src, dst, ep, vf, vt, strict=True)]


_SNAPSHOTS: weakref.WeakKeyDictionary[Any, EdgeSnapshot] = weakref.WeakKeyDictionary()
_SNAPSHOT_LOCK = threading.Lock()


def snapshot(tbl: Any) -> EdgeSnapshot:
    """The :class:`EdgeSnapshot` of ``tbl`` (an open ``graph_edges`` at its latest version, as
    :func:`open_table` gives it), read again when the table's version changed."""
    version = int(tbl.version)
    with _SNAPSHOT_LOCK:
        snap = _SNAPSHOTS.get(tbl)
    if snap is not None and snap.version == version:
        return snap
    rows = read(tbl, f"expired_at IS NULL AND {sql_in('kind', SNAPSHOT_KINDS)}", SNAPSHOT_COLUMNS)
    snap = EdgeSnapshot(version, rows)
    with _SNAPSHOT_LOCK:
        _SNAPSHOTS[tbl] = snap
    return snap


_ON_FORGET: list[Callable[[], None]] = []


def on_forget(clear: Callable[[], None]) -> None:
    """Have :func:`drop_snapshots` also call ``clear`` (another per-process cache of the graph's
    readers, e.g. the people rows of :mod:`lifelog.graph.query`)."""
    _ON_FORGET.append(clear)


def drop_snapshots() -> None:
    """Forget every edge snapshot of this process, the people's best crops and the readers' other
    caches (after a forget)."""
    with _SNAPSHOT_LOCK:
        _SNAPSHOTS.clear()
    drop_best_crops()  # the people's best face crops (lifelog.people.store), cached as the edges are
    for clear in _ON_FORGET:
        clear()


def read(tbl: Any, where: str | None, columns: Sequence[str] | None = None) -> pa.Table:
    """Rows of a graph table (the latest version; another process may have compacted it)."""
    try:
        return select_rows(tbl, where, columns)
    except (RuntimeError, OSError) as e:
        if "Not found" not in str(e):
            raise
        tbl.checkout_latest()
        return select_rows(tbl, where, columns)


def chunks(ids: Iterable[str]) -> list[list[str]]:
    items = sorted(set(ids))
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def any_in(column: str, ids: Iterable[str]) -> str:
    parts = [sql_in(column, c) for c in chunks(ids)]
    return "(" + " OR ".join(parts) + ")" if parts else "false"


def compact(store: Store, drop_old_versions: bool = False) -> None:
    """Fold small fragments; with ``drop_old_versions`` every old version goes too, so a deleted
    row leaves no trace on disk (forget, the nightly pass)."""
    for name in TABLES:
        tbl = store.table(name)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"optimize\(cleanup_older_than=0\)")
            if drop_old_versions:
                tbl.optimize(cleanup_older_than=timedelta(0), delete_unverified=True)
            else:
                tbl.optimize()


def forget(store: Store, *, people: Sequence[str] = (), episodes: Sequence[str] = (),
           everything: bool = False) -> int:
    """Remove every edge and node that refers to the forgotten people or episodes (or all of
    them), and what refers to something no longer in the memory (:func:`prune`). The caller
    compacts with ``drop_old_versions`` (the forget machinery does). Returns edges removed.

    The tables are rewritten rather than deleted from: a LanceDB delete keeps its filter — the
    forgotten ids — in the new version's transaction record, which would outlive the cleanup."""
    who = {f"person:{p}" for p in people}
    eps = set(episodes)
    return _rewrite(store, lambda e: everything or e["episode_id"] in eps or e["src"] in who or e["dst"] in who)


def prune(store: Store) -> int:
    """Remove edges whose evidence episode, person or place is no longer in the memory, and
    nodes no edge refers to. Returns the edges removed."""
    return _rewrite(store, lambda e: False)


def _rewrite(store: Store, drop: Callable[[dict[str, Any]], bool]) -> int:
    edges, nodes = store.table(EDGES), store.table(NODES)
    drop_snapshots()
    store.refresh()
    have = {
        "episode": set(store.rows("episodes", columns=["id"]).column("id").to_pylist()),
        "person": set(store.rows("people", columns=["id"]).column("id").to_pylist()),
        "place": set(store.rows("places", columns=["id"]).column("id").to_pylist()),
    }

    def gone(node: str) -> bool:
        kind, _, ref = node.partition(":")
        return kind in have and ref not in have[kind]

    rows = read(edges, None).to_pylist()
    keep = [e for e in rows if not drop(e) and not (e["episode_id"] and e["episode_id"] not in have["episode"])
            and not gone(e["src"]) and not gone(e["dst"])]
    if len(keep) != len(rows):
        edges.add(pa.Table.from_pylist(keep, schema=EDGE_SCHEMA), mode="overwrite")
    used = {e["src"] for e in keep} | {e["dst"] for e in keep}
    node_rows = read(nodes, None).to_pylist()
    keep_nodes = [n for n in node_rows if n["id"] in used]
    if len(keep_nodes) != len(node_rows):
        nodes.add(pa.Table.from_pylist(keep_nodes, schema=NODE_SCHEMA), mode="overwrite")
    return len(rows) - len(keep)
