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
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

import pyarrow as pa

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
