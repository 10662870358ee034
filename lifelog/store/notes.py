"""Notes: the descriptions of episodes and days, and the memory profile, encrypted at rest.

Two tables (schemas in :mod:`lifelog.store.db`):

``notes``       one row per text: ``ep:<episode id>`` (an episode's description), ``day:<YYYY-MM-DD>``
                (a day's), ``profile`` (the memory profile, a JSON document) and ``hist:<n>`` (one
                entry of the profile's history). The text is vault ciphertext (aad ``note:<id>``);
                ``inputs`` is a content hash of what the text was made from (so an unchanged
                memory costs a hash comparison, not a rewrite); ``people`` and ``episodes`` are the
                ids the text mentions or draws on, so a forget can find every text about a person
                or an episode without decrypting anything.
``note_terms``  the blind keyword index of episode descriptions (keyed hashes of their words, made
                like the speech and OCR index, :mod:`lifelog.store.blind_index`), so ``ask`` finds an
                episode by words only its description has.

The profile document is a list of :class:`ProfileLine` (block, key, text, whose line it is, the
ids it mentions). How it is shown and edited as text is :mod:`lifelog.consolidate.profile`'s
business; recall reads the lines (``my gym``) through :func:`load_profile`.

Forget (:func:`forget_notes`) removes the descriptions of forgotten episodes, every day
description and history entry that mentions a forgotten person or episode, and the profile
lines that do; the caller compacts the tables so no old version keeps them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from lifelog.store.blind_index import blind_terms, index_key, term_hash
from lifelog.store.db import Store
from lifelog.store.sql import sql_in, sql_str, window_conditions
from lifelog.store.terms import query_terms
from lifelog.store.vault import Vault

log = logging.getLogger(__name__)
NOTES = "notes"
NOTE_TERMS = "note_terms"
PROFILE_ID = "profile"
CHUNK = 500

NoteKind = Literal["episode", "day", "profile", "history"]
LineSource = Literal["inferred", "user", "hidden"]


@dataclass(frozen=True)
class Note:
    id: str
    kind: NoteKind
    subject: str
    text: str
    inputs: str = ""
    start: datetime | None = None
    end: datetime | None = None
    people: list[str] = field(default_factory=list)
    episodes: list[str] = field(default_factory=list)
    updated_at: datetime | None = None


def episode_note_id(episode_id: str) -> str:
    return f"ep:{episode_id}"


def day_note_id(day: str) -> str:
    return f"day:{day}"


def _aad(note_id: str) -> str:
    return f"note:{note_id}"


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    items = list(ids)
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def _in(column: str, ids: Iterable[str]) -> str:
    parts = [sql_in(column, c) for c in _chunks(sorted(set(ids)))]
    return "(" + " OR ".join(parts) + ")" if parts else "false"


# ------------------------------------------------------------------------------ writing
def write_notes(store: Store, vault: Vault, notes: Sequence[Note], *, index: bool = True) -> None:
    """Replace these notes (by id), and their keyword index rows. The caller holds the write lock.

    Episode notes are indexed for ``ask`` (``index``); other kinds never are."""
    if not notes:
        return
    now = datetime.now(UTC)
    ids = [n.id for n in notes]
    store.delete(NOTE_TERMS, _in("note_id", ids))
    store.delete(NOTES, _in("id", ids))
    rows: list[dict[str, Any]] = []
    terms: list[dict[str, Any]] = []
    for n in notes:
        rows.append({
            "id": n.id, "kind": n.kind, "subject": n.subject, "start": n.start, "end": n.end, "inputs": n.inputs,
            "people": sorted(set(n.people)), "episodes": sorted(set(n.episodes)),
            "text_enc": vault.encrypt_text(n.text, _aad(n.id)), "updated_at": n.updated_at or now,
        })
        if index and n.kind == "episode" and n.text:
            terms += [{"term": t, "note_id": n.id, "episode_id": n.subject, "start": n.start}
                      for t in blind_terms(vault, n.text)]
    store.add(NOTES, rows)
    store.add(NOTE_TERMS, terms)


def delete_notes(store: Store, ids: Iterable[str]) -> int:
    """Remove notes by id (and their index rows); how many there were."""
    idl = sorted(set(ids))
    if not idl:
        return 0
    where = _in("id", idl)
    n = store.count(NOTES, where)
    store.delete(NOTE_TERMS, _in("note_id", idl))
    store.delete(NOTES, where)
    return n


# ------------------------------------------------------------------------------ reading
_COLS = ["id", "kind", "subject", "start", "end", "inputs", "people", "episodes", "text_enc", "updated_at"]


def _note(vault: Vault, r: dict[str, Any]) -> Note:
    return Note(id=r["id"], kind=r["kind"], subject=r.get("subject") or "",
                text=vault.decrypt_text(r.get("text_enc"), _aad(r["id"])), inputs=r.get("inputs") or "",
                start=r.get("start"), end=r.get("end"), people=list(r.get("people") or []),
                episodes=list(r.get("episodes") or []), updated_at=r.get("updated_at"))


def read_notes(store: Store, vault: Vault, where: str | None) -> list[Note]:
    """Notes matching ``where``, decrypted in memory (a note that fails to decrypt is left out)."""
    out = []
    for r in store.rows(NOTES, where, columns=_COLS).to_pylist():
        try:
            out.append(_note(vault, r))
        except Exception as e:  # a damaged row: skipped, and said (readers fall back to other words)
            log.warning("note %s cannot be read (%s): skipped", r.get("id"), type(e).__name__)
            continue
    return out


def note_inputs(store: Store, kind: NoteKind) -> dict[str, str]:
    """note id → inputs hash of every note of ``kind``, without decrypting anything."""
    rows = store.rows(NOTES, f"kind = {sql_str(kind)}", columns=["id", "inputs"]).to_pylist()
    return {r["id"]: r.get("inputs") or "" for r in rows}


def episode_descriptions(store: Store, vault: Vault, episode_ids: Sequence[str]) -> dict[str, str]:
    """episode id → its stored description (episodes without one are absent)."""
    if not episode_ids or store.count(NOTES) == 0:
        return {}
    notes = read_notes(store, vault, _in("id", [episode_note_id(e) for e in episode_ids]))
    return {n.subject: n.text for n in notes if n.text}


def day_descriptions(store: Store, vault: Vault, days: Sequence[str]) -> dict[str, str]:
    """YYYY-MM-DD → the day's stored description."""
    if not days or store.count(NOTES) == 0:
        return {}
    notes = read_notes(store, vault, _in("id", [day_note_id(d) for d in days]))
    return {n.subject: n.text for n in notes if n.text}


def search_descriptions(
    store: Store, vault: Vault, words: str, window: tuple[datetime | None, datetime | None] | None = None
) -> dict[str, float]:
    """episode id → the fraction of the words' index terms its description holds (only episodes
    whose description holds at least half of them; all of them for one or two terms)."""
    terms = query_terms(words)
    if not terms or store.count(NOTE_TERMS) == 0:
        return {}
    key = index_key(vault)
    hashes = {term_hash(key, t): t for t in terms}
    conds = [sql_in("term", sorted(hashes))]
    if window is not None:
        conds += window_conditions(window[0], window[1], "start")
    rows = store.rows(NOTE_TERMS, " AND ".join(conds), columns=["term", "episode_id"]).to_pylist()
    got: dict[str, set[str]] = {}
    for r in rows:
        if r.get("episode_id"):
            got.setdefault(r["episode_id"], set()).add(r["term"])
    need = len(hashes) if len(hashes) <= 2 else (len(hashes) + 1) // 2
    return {ep: len(t) / len(hashes) for ep, t in got.items() if len(t) >= need}


# ------------------------------------------------------------------------------ profile
@dataclass
class ProfileLine:
    """One fact of the profile. ``key`` ties an inferred fact to what it is about (``person:<id>``,
    ``place:<word>``, ``routine:<word>``, ``thing:<name>``); a user line with a key overrides the
    inferred line of that key. ``hidden``: the user removed the inferred line of ``key``.
    ``seen_inferred``: for a user line, the inferred text last recorded as contradicting it."""

    block: str
    key: str | None
    text: str
    source: LineSource = "inferred"
    people: list[str] = field(default_factory=list)
    episodes: list[str] = field(default_factory=list)
    seen_inferred: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProfileLine:
        src = d.get("source")
        return cls(block=str(d.get("block") or ""), key=d.get("key"), text=str(d.get("text") or ""),
                   source=src if src in ("inferred", "user", "hidden") else "user",
                   people=[str(p) for p in d.get("people") or []], episodes=[str(e) for e in d.get("episodes") or []],
                   seen_inferred=d.get("seen_inferred"))


@dataclass
class ProfileDoc:
    lines: list[ProfileLine] = field(default_factory=list)
    generated_at: datetime | None = None
    edited_at: datetime | None = None


@dataclass(frozen=True)
class HistoryEntry:
    seq: int
    at: datetime
    what: str
    people: list[str] = field(default_factory=list)
    episodes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at.isoformat(), "what": self.what}


def load_profile(store: Store, vault: Vault) -> ProfileDoc:
    """The stored profile (an empty one before the first pass)."""
    if store.count(NOTES, f"id = {sql_str(PROFILE_ID)}") == 0:
        return ProfileDoc()
    notes = read_notes(store, vault, f"id = {sql_str(PROFILE_ID)}")
    if not notes:
        return ProfileDoc()
    try:
        doc = json.loads(notes[0].text)
        lines = [ProfileLine.from_json(x) for x in doc.get("lines", []) if isinstance(x, dict)]
        gen = doc.get("generated_at")
        edited = doc.get("edited_at")
        return ProfileDoc(lines, datetime.fromisoformat(gen) if gen else None,
                          datetime.fromisoformat(edited) if edited else None)
    except (ValueError, TypeError, AttributeError):
        return ProfileDoc()


def save_profile(store: Store, vault: Vault, doc: ProfileDoc) -> None:
    """Store the profile (caller holds the write lock)."""
    text = json.dumps({
        "version": 1,
        "generated_at": doc.generated_at.isoformat() if doc.generated_at else None,
        "edited_at": doc.edited_at.isoformat() if doc.edited_at else None,
        "lines": [ln.to_json() for ln in doc.lines],
    })
    people = {p for ln in doc.lines for p in ln.people}
    episodes = {e for ln in doc.lines for e in ln.episodes}
    write_notes(store, vault, [Note(PROFILE_ID, "profile", "", text, people=sorted(people),
                                    episodes=sorted(episodes))], index=False)


def add_history(store: Store, vault: Vault, entries: Sequence[tuple[str, Sequence[str], Sequence[str]]],
                at: datetime) -> None:
    """Append history entries ``(what, person ids, episode ids)`` (caller holds the write lock)."""
    if not entries:
        return
    rows = store.rows(NOTES, "kind = 'history'", columns=["id"]).column("id").to_pylist()
    seq = max((int(i.split(":", 1)[1]) for i in rows if i.split(":", 1)[1].isdigit()), default=0)
    notes = []
    for what, people, episodes in entries:
        seq += 1
        notes.append(Note(f"hist:{seq:09d}", "history", str(seq), what, start=at, people=list(people),
                          episodes=list(episodes)))
    write_notes(store, vault, notes, index=False)


def history(store: Store, vault: Vault) -> list[HistoryEntry]:
    """The profile's history, oldest first."""
    out = [HistoryEntry(int(n.subject), n.start or datetime.min.replace(tzinfo=UTC), n.text, n.people, n.episodes)
           for n in read_notes(store, vault, "kind = 'history'") if n.subject.isdigit()]
    return sorted(out, key=lambda h: h.seq)


# ------------------------------------------------------------------------------ forget
def forget_notes(store: Store, vault: Vault, *, people: Sequence[str] = (), episodes: Sequence[str] = (),
                 everything: bool = False) -> int:
    """Remove every note about these people or episodes (caller holds the write lock; the caller
    compacts afterwards so old table versions do not keep them). The profile keeps its other
    lines. Returns how many notes or profile lines went."""
    if everything:
        n = store.count(NOTES)
        store.delete(NOTE_TERMS, "true")
        store.delete(NOTES, "true")
        return n
    if (not people and not episodes) or store.count(NOTES) == 0:
        return 0
    conds = []
    if people:
        conds.append(f"array_has_any(people, make_array({', '.join(sql_str(p) for p in people)}))")
    if episodes:
        conds.append(_in("subject", episodes))
        for chunk in _chunks(sorted(set(episodes))):
            conds.append(f"array_has_any(episodes, make_array({', '.join(sql_str(e) for e in chunk)}))")
    where = f"id != {sql_str(PROFILE_ID)} AND ({' OR '.join(conds)})"
    ids = store.rows(NOTES, where, columns=["id"]).column("id").to_pylist()
    n = delete_notes(store, ids)
    doc = load_profile(store, vault)
    gone_p, gone_e = set(people), set(episodes)
    kept = [ln for ln in doc.lines if not (gone_p & set(ln.people) or gone_e & set(ln.episodes))]
    if len(kept) != len(doc.lines):
        n += len(doc.lines) - len(kept)
        doc.lines = kept
        save_profile(store, vault, doc)
    return n
