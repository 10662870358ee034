"""Bring the stored graph in line with the domains (``docs/graph.md``, "How it is built").

:func:`build_graph` is **idempotent** (a second run changes no row) and **incremental**: the
relations that come from light columns (faces' person, places' visits, speakers, names) are
diffed over the whole memory every time — a few short columns per face and episode — while
``with_thing``, the one kind that reads the frames' labels, is derived only for the episodes
given (the ones an import just made), or for all with ``episodes=None`` (the nightly pass).

How a change is recorded (bi-temporal): an edge the domains no longer imply, whose episode is
still in the memory (a merge, a split, a re-clustered place), is **expired** (``expired_at``
set) and kept as history; an edge whose evidence episode has gone is removed (the episode was
forgotten, or merged with its neighbour by the nightly pass, which re-derives it under the new
id). A name that changed expires the old ``named`` edge (``valid_to`` = when it changed) and adds
a ``renamed`` one. Edge ids are a hash of (kind, ends, episode) and a generation number, so a
rebuild from nothing makes the same ids as the build that made them first.

Crash safety: every write is one LanceDB commit, and the build reads what is stored before it
decides anything, so a build killed at any point is completed by the next one. A marker file
(``<data>/graph/build.pending``) is written before the first write and removed after the last;
a build that finds it derives ``with_thing`` for every episode (the killed build may have been
the only one told about some).

Callers hold the memory's write lock.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from lifelog.graph import tables
from lifelog.graph.derive import Derived, episode_edges, shown_episodes
from lifelog.graph.types import EPISODE_EDGES, NODE_KINDS, BuildReport
from lifelog.people.store import PeopleTables
from lifelog.places import Places
from lifelog.store.db import Store
from lifelog.store.files import atomic_write
from lifelog.store.sql import sql_in
from lifelog.store.vault import Vault, VaultError

KILL_ENV = "LIFELOG_GRAPH_KILL_AT"  # crash tests: die at a named point, like a power cut
NAME_KINDS = ("named", "renamed")


def kill_point(point: str) -> None:
    if os.environ.get(KILL_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def edge_hash(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()


def name_aad(edge_id: str) -> str:
    return f"graph-edge:{edge_id}"  # one prefix for the column: key rotation re-encrypts it


def fact_aad(edge_id: str) -> str:
    return f"graph-edge:{edge_id}"


class _Ids:
    """Every edge id ever stored, to give a relation that becomes true again a new generation."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids = set(ids)

    def new(self, *parts: str) -> str:
        h = edge_hash(*parts)
        n = 0
        while f"{h}-{n}" in self.ids:
            n += 1
        out = f"{h}-{n}"
        self.ids.add(out)
        return out


def build_graph(store: Store, vault: Vault, episodes: Sequence[str] | None = None,
                now: datetime | None = None) -> BuildReport:
    """Derive and store the graph; ``episodes``: the new ones (an import), None: everything."""
    t0 = time.perf_counter()
    now = now or datetime.now(UTC)
    store.refresh()
    marker = store.data_dir / tables.STATE_DIR / tables.DIRTY
    full = episodes is None or marker.exists()
    report = BuildReport(full=full)
    tbls = tables.ensure_tables(store)
    edges = tbls[tables.EDGES]
    marker.parent.mkdir(mode=0o700, exist_ok=True)
    atomic_write(marker, b"graph build in progress\n")

    eps = shown_episodes(store)
    things_for = None if full else [e for e in (episodes or []) if e in eps]
    report.episodes = len(eps) if things_for is None else len(things_for)
    want = {d.key: d for d in episode_edges(store, eps, things_for)}
    have = tables.read(edges, f"expired_at IS NULL AND {sql_in('kind', EPISODE_EDGES)}",
                       ["id", "kind", "src", "dst", "episode_id", "valid_from", "valid_to"]).to_pylist()
    ids = _Ids(tables.read(edges, None, ["id"]).column("id").to_pylist())
    all_eps = set(store.rows("episodes", columns=["id"]).column("id").to_pylist())
    things_scope = set(eps) if things_for is None else set(things_for)

    expire: list[dict[str, Any]] = []
    remove: list[str] = []
    current: set[tuple[str, str, str, str]] = set()
    for r in have:
        key = (r["kind"], r["src"], r["dst"], r["episode_id"] or "")
        e = r["episode_id"]
        if e not in all_eps:
            remove.append(r["id"])  # the evidence is gone (forgotten, or merged into a new episode)
            continue
        if e not in eps or (r["kind"] == "with_thing" and e not in things_scope):
            current.add(key)  # in the trash, unfinished, or not looked at this time: left as it is
            continue
        d = want.get(key)
        if d is None or d.valid_from != r["valid_from"] or d.valid_to != r["valid_to"]:
            expire.append({"id": r["id"], "valid_to": r["valid_to"], "expired_at": now})
        else:
            current.add(key)
    add = [_edge_row(ids.new(*d.key), d, now) for k, d in sorted(want.items()) if k not in current]

    name_add, name_expire = _name_changes(store, vault, edges, ids, now)
    add += name_add
    expire += name_expire
    if add:
        edges.add(pa.Table.from_pylist(add, schema=tables.EDGE_SCHEMA))
    kill_point("after-add")
    if expire:
        _expire(edges, expire)
    for part in tables.chunks(remove):
        edges.delete(sql_in("id", part))
    report.added, report.expired, report.removed = len(add), len(expire), len(remove)
    kill_point("before-nodes")
    report.nodes, report.nodes_removed, report.by_kind = _write_nodes(tbls, now)
    marker.unlink(missing_ok=True)
    report.seconds = time.perf_counter() - t0
    return report


def _edge_row(edge_id: str, d: Derived, now: datetime) -> dict[str, Any]:
    return {"id": edge_id, "kind": d.kind, "src": d.src, "dst": d.dst, "src_kind": d.src.partition(":")[0],
            "dst_kind": d.dst.partition(":")[0], "episode_id": d.episode_id, "valid_from": d.valid_from,
            "valid_to": d.valid_to, "learned_at": now, "expired_at": None, "weight": d.weight,
            "source": None, "value_enc": None}


def _expire(edges: Any, rows: list[dict[str, Any]]) -> None:
    schema = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("valid_to", tables.EDGE_SCHEMA.field(
        "valid_to").type), pa.field("expired_at", tables.EDGE_SCHEMA.field("expired_at").type)])
    edges.merge_insert("id").when_matched_update_all().execute(pa.Table.from_pylist(rows, schema=schema))


# -------------------------------------------------------------------- names
def _name_changes(store: Store, vault: Vault, edges: Any, ids: _Ids,
                  now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``named``/``renamed`` edges following the people's and places' names, and ``merged``
    edges following people merged into others (undone merges expire theirs)."""
    names: dict[str, tuple[str | None, str, datetime]] = {}  # node -> (name, source, since)
    merges: dict[str, tuple[str, datetime]] = {}  # person node -> (the node it was merged into, since)
    people = PeopleTables(store, vault)
    for row in people.people().values():
        node = f"person:{row.id}"
        since = row.updated_at or now
        if row.merged_into:
            merges[node] = (f"person:{row.merged_into}", since)
            names[node] = (None, "user", since)
            continue
        names[node] = (people.name_of(row), "user", since)
    for p in Places(store, vault).all():  # places with an episode the user can see
        names[f"place:{p.id}"] = (p.name, p.name_source or "user", now)
    rows = tables.read(edges, sql_in("kind", [*NAME_KINDS, "merged"]),
                       ["id", "kind", "src", "dst", "valid_from", "expired_at", "value_enc"]).to_pylist()
    live = {r["src"]: r for r in rows if r["kind"] in NAME_KINDS and r["expired_at"] is None}
    ever_named = {r["src"] for r in rows if r["kind"] in NAME_KINDS}
    live_merge = {r["src"]: r for r in rows if r["kind"] == "merged" and r["expired_at"] is None}
    add: list[dict[str, Any]] = []
    expire: list[dict[str, Any]] = []
    for node, (name, source, since) in sorted(names.items()):
        cur = live.get(node)
        cur_name = _decrypted(vault, cur["value_enc"], name_aad(cur["id"])) if cur and cur["value_enc"] else None
        if cur is not None and cur_name == name:
            continue
        at = max(since, cur["valid_from"]) if cur is not None and cur["valid_from"] else since
        if cur is not None:
            expire.append({"id": cur["id"], "valid_to": at, "expired_at": now})
        if name:
            eid = ids.new("name", node, name_hash(name))
            add.append({"id": eid, "kind": "renamed" if node in ever_named else "named", "src": node, "dst": "",
                        "src_kind": node.partition(":")[0], "dst_kind": None, "episode_id": None,
                        "valid_from": at, "valid_to": None, "learned_at": now, "expired_at": None, "weight": 1.0,
                        "source": source, "value_enc": vault.encrypt_text(name, name_aad(eid))})
    for node, (into, since) in sorted(merges.items()):
        cur = live_merge.get(node)
        if cur is not None and cur["dst"] == into:
            continue
        if cur is not None:
            expire.append({"id": cur["id"], "valid_to": since, "expired_at": now})
        eid = ids.new("merged", node, into)
        add.append({"id": eid, "kind": "merged", "src": node, "dst": into, "src_kind": "person", "dst_kind": "person",
                    "episode_id": None, "valid_from": since, "valid_to": None, "learned_at": now, "expired_at": None,
                    "weight": 1.0, "source": "user", "value_enc": None})
    for node, r in live_merge.items():
        if node not in merges:  # the merge was undone
            expire.append({"id": r["id"], "valid_to": now, "expired_at": now})
    return add, expire


def _decrypted(vault: Vault, blob: bytes, aad: str) -> str | None:
    """A stored name, or None when it cannot be read (damaged): the edge is then replaced."""
    try:
        return vault.decrypt_text(blob, aad)
    except VaultError:
        return None


def name_hash(name: str) -> str:
    """Part of a name edge's id: a hash, never the name (ids are plain)."""
    return hashlib.blake2b(name.encode(), digest_size=6).hexdigest()


# -------------------------------------------------------------------- nodes
def _write_nodes(tbls: dict[str, Any], now: datetime) -> tuple[int, int, dict[str, int]]:
    """Nodes from the current edges: the span each was seen in and its episodes."""
    edges, nodes = tbls[tables.EDGES], tbls[tables.NODES]
    cur = tables.read(edges, "expired_at IS NULL", ["kind", "src", "dst", "episode_id", "valid_from", "valid_to"])
    span: dict[str, list[Any]] = {}
    by_kind: dict[str, int] = {}
    cols = {c: cur.column(c).to_pylist() for c in cur.schema.names}
    for i in range(cur.num_rows):
        by_kind[cols["kind"][i]] = by_kind.get(cols["kind"][i], 0) + 1
        e, a, b = cols["episode_id"][i], cols["valid_from"][i], cols["valid_to"][i]
        for n in (cols["src"][i], cols["dst"][i]):
            kind = n.partition(":")[0]
            if kind not in NODE_KINDS:
                continue
            s = span.setdefault(n, [None, None, set()])
            if a is not None and (s[0] is None or a < s[0]):
                s[0] = a
            if b is not None and (s[1] is None or b > s[1]):
                s[1] = b
            if e:
                s[2].add(e)
    want = {n: (s[0], s[1], len(s[2])) for n, s in span.items()}
    old = {r["id"]: (r["first"], r["last"], r["episodes"])
           for r in tables.read(nodes, None, ["id", "first", "last", "episodes"]).to_pylist()}
    write = [{"id": n, "kind": n.partition(":")[0], "ref": n.partition(":")[2], "first": v[0], "last": v[1],
              "episodes": v[2], "updated_at": now} for n, v in sorted(want.items()) if old.get(n) != v]
    if write:
        batch = pa.Table.from_pylist(write, schema=tables.NODE_SCHEMA)
        nodes.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(batch)
    stale = sorted(set(old) - set(want))
    for part in tables.chunks(stale):
        nodes.delete(sql_in("id", part))
    return len(write), len(stale), by_kind
