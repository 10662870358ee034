"""What of the graph travels in an export (docs/export-format.md, ``data/graph.json``).

Only what cannot be derived again: the user's facts and the history of names (the names a
person or place had before the current one, and when). Every other edge is derived from the
archive's episodes, faces and places by the build that follows an import-archive. Texts are
written decrypted (the export is, by the user's request) and re-encrypted under the target
memory's key on import.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pyarrow as pa

from lifelog.graph import tables
from lifelog.graph.build import fact_aad, name_aad
from lifelog.store.db import Store
from lifelog.store.vault import Vault

VERSION = 1
KINDS = ("named", "renamed", "merged", "fact")


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def _dt(s: Any) -> datetime | None:
    return datetime.fromisoformat(s) if isinstance(s, str) and s else None


def dump(store: Store, vault: Vault, nodes: Iterable[str]) -> dict[str, Any]:
    """``{"version", "edges": [...]}``: facts, names and merges whose nodes are all in ``nodes``
    (``thing:`` subjects always travel)."""
    keep = set(nodes)
    tbl = tables.open_table(store, tables.EDGES)
    if tbl is None:
        return {"version": VERSION, "edges": []}
    rows = tables.read(tbl, tables.any_in("kind", KINDS)).to_pylist()
    out = []
    for r in rows:
        ends = [n for n in (r["src"], r["dst"]) if n]
        if not all(n in keep or n.startswith("thing:") for n in ends):
            continue
        text = None
        if r["value_enc"]:
            aad = fact_aad(r["id"]) if r["kind"] == "fact" else name_aad(r["id"])
            text = vault.decrypt_text(r["value_enc"], aad)
        out.append({"id": r["id"], "kind": r["kind"], "src": r["src"], "dst": r["dst"], "text": text,
                    "source": r["source"], "valid_from": _iso(r["valid_from"]), "valid_to": _iso(r["valid_to"]),
                    "learned_at": _iso(r["learned_at"]), "expired_at": _iso(r["expired_at"])})
    out.sort(key=lambda d: (d["kind"], d["id"]))
    return {"version": VERSION, "edges": out}


def load(store: Store, vault: Vault, doc: Any) -> int:
    """Add the archive's facts and names that this memory does not have (same id: skipped).
    Returns the edges added. Unknown kinds and malformed entries are skipped."""
    if not isinstance(doc, dict) or not isinstance(doc.get("edges"), list):
        return 0
    edges = tables.ensure_tables(store)[tables.EDGES]
    have = set(tables.read(edges, None, ["id"]).column("id").to_pylist())
    rows = []
    for d in doc["edges"]:
        if not isinstance(d, dict) or d.get("kind") not in KINDS or not isinstance(d.get("id"), str):
            continue
        if d["id"] in have or not isinstance(d.get("src"), str):
            continue
        text = d.get("text")
        enc = None
        if isinstance(text, str) and text:
            enc = vault.encrypt_text(text, fact_aad(d["id"]) if d["kind"] == "fact" else name_aad(d["id"]))
        elif d["kind"] != "merged":
            continue
        src, dst = d["src"], d.get("dst") or ""
        rows.append({"id": d["id"], "kind": d["kind"], "src": src, "dst": dst, "src_kind": src.partition(":")[0],
                     "dst_kind": dst.partition(":")[0] or None, "episode_id": None,
                     "valid_from": _dt(d.get("valid_from")), "valid_to": _dt(d.get("valid_to")),
                     "learned_at": _dt(d.get("learned_at")), "expired_at": _dt(d.get("expired_at")),
                     "weight": 1.0, "source": d.get("source"), "value_enc": enc})
        have.add(d["id"])
    if rows:
        edges.add(pa.Table.from_pylist(rows, schema=tables.EDGE_SCHEMA))
    return len(rows)
