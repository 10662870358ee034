"""The user's own facts about a person, place or thing ("Sam is my sister", "the gym closes on
Sundays"): ``fact`` edges whose text is vault ciphertext (aad ``graph-edge:<id>``).

Bi-temporal like every edge: ``valid_from``/``valid_to`` is when the user says it was true (open
when not said), ``learned_at`` when it was told, ``expired_at`` when it was retracted — a
retracted fact stays as history (``graph fact list --all``) until its subject is forgotten.
Callers hold the memory's write lock.
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, datetime

import pyarrow as pa

from lifelog.graph import tables
from lifelog.graph.build import fact_aad
from lifelog.graph.query import list_facts
from lifelog.graph.types import Fact, GraphError
from lifelog.objects.vocabulary import NAMES
from lifelog.store.db import Store
from lifelog.store.sql import sql_str
from lifelog.store.vault import Vault

MAX_FACT = 500


def clean_fact(text: object) -> str:
    """The text as stored, or a :class:`GraphError` saying why it cannot be."""
    if not isinstance(text, str):
        raise GraphError("a fact is text")
    clean = " ".join(unicodedata.normalize("NFC", text).split())
    if not clean:
        raise GraphError("a fact needs some text")
    if len(clean) > MAX_FACT:
        raise GraphError(f"a fact is at most {MAX_FACT} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in clean):
        raise GraphError("a fact cannot contain control or invisible characters")
    return clean


def check_subject(store: Store, node: str) -> str:
    """``person:<id>`` (not merged away), ``place:<id>`` or ``thing:<object>`` that exists."""
    kind, _, ref = node.partition(":")
    if kind == "person":
        rows = store.rows("people", f"id = {sql_str(ref)}", columns=["merged_into"]).to_pylist()
        if not rows:
            raise GraphError(f"no person {ref!r} in this memory (see `lifelog people`)")
        if rows[0]["merged_into"]:
            return f"person:{rows[0]['merged_into']}"
        return node
    if kind == "place":
        if not store.count("places", f"id = {sql_str(ref)}"):
            raise GraphError(f"no place {ref!r} in this memory (see `lifelog places`)")
        return node
    if kind == "thing":
        if ref not in NAMES:
            raise GraphError(f"{ref!r} is not an everyday object lifelog knows (see `lifelog objects`)")
        return node
    raise GraphError(f"a fact is about a person, a place or a thing, not {node!r}")


def add_fact(store: Store, vault: Vault, subject: str, text: object, *, valid_from: datetime | None = None,
             valid_to: datetime | None = None, now: datetime | None = None) -> Fact:
    """Record a fact about ``subject`` (a node id: ``person:…``, ``place:…``, ``thing:…``)."""
    clean = clean_fact(text)
    node = check_subject(store, subject)
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise GraphError("a fact's end must come after its start")
    now = now or datetime.now(UTC)
    fid = "f" + uuid.uuid4().hex[:10]
    row = {"id": fid, "kind": "fact", "src": node, "dst": "", "src_kind": node.partition(":")[0], "dst_kind": None,
           "episode_id": None, "valid_from": valid_from, "valid_to": valid_to, "learned_at": now,
           "expired_at": None, "weight": 1.0, "source": "user", "value_enc": vault.encrypt_text(clean, fact_aad(fid))}
    edges = tables.ensure_tables(store)[tables.EDGES]
    edges.add(pa.Table.from_pylist([row], schema=tables.EDGE_SCHEMA))
    return Fact(fid, node, clean, valid_from, valid_to, now, None)


def retract_fact(store: Store, vault: Vault, fact_id: object, now: datetime | None = None) -> Fact:
    """Retract a current fact (it is kept as history, expired)."""
    if not isinstance(fact_id, str) or not fact_id.strip():
        raise GraphError("say which fact (see `lifelog graph fact list`)")
    fid = fact_id.strip()
    found = [f for f in list_facts(store, vault, None, with_retracted=True) if f.id == fid]
    if not found:
        raise GraphError(f"no fact {fid!r} (see `lifelog graph fact list`)")
    fact = found[0]
    if fact.expired_at is not None:
        raise GraphError(f"fact {fid} was already retracted")
    now = now or datetime.now(UTC)
    edges = tables.ensure_tables(store)[tables.EDGES]
    edges.update(where=f"id = {sql_str(fid)}", values={"expired_at": now})
    return Fact(fact.id, fact.subject, fact.text, fact.valid_from, fact.valid_to, fact.learned_at, now)
