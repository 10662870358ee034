"""Utterances in the store, and keyword search over encrypted text with a blind index.

Utterance rows (``utterances`` table, :data:`lifelog.store.db.UTTERANCE_SCHEMA`) hold the text
and the word timings as vault ciphertext, a plain 384-d MiniLM vector of the text (searched by
meaning, like every vector in the memory), the absolute start/end, the episode, the speaker
(a ``people.id`` or null for "unknown speaker"), the language and the model.

**Blind keyword index** (``utterance_terms``): for every distinct normalised word of an
utterance (:func:`lifelog.store.terms.index_terms`: case-folded, accents and plural endings
removed, numbers spelled out, stop words left out) one row holds
``HMAC-SHA256(index_key, "lifelog-term-v1:" + word)`` truncated to 128 bits, hex. A question's
words are normalised and hashed the same way and looked up with an ``IN`` filter; nothing on
disk contains the words themselves. The index key is 32 random bytes made once per memory and
kept **encrypted in the vault** as the blob :data:`INDEX_KEY_BLOB` (AES-256-GCM under the vault
key), so it is exactly as safe as the vault key: without it the hashes cannot be tested against
guessed words. What the index still reveals is written down in ``docs/privacy.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from lifelog.speech.transcribe import Segment
from lifelog.store.blind_index import index_key, term_hash
from lifelog.store.db import SCHEMAS, Store
from lifelog.store.sql import sql_in, sql_str, window_conditions
from lifelog.store.terms import index_terms, query_terms
from lifelog.store.vault import Vault

SPEECH_JOURNAL = "journal-speech"  # <data>/journal-speech/<media id>: a transcript being written
SPEECH_TABLES = ("utterances", "utterance_terms", "transcripts")



# ------------------------------------------------------------------------- schema upgrade
def ensure_speech_tables(store: Store) -> None:
    """Bring the speech tables of an older data dir up to the current schema.

    A data dir made before speech existed has an (always empty) ``utterances`` table with fewer
    columns; an empty table is re-made with the current schema. A non-empty table with another
    schema is an error (a migration would be needed) rather than a silent loss.
    """
    for name in SPEECH_TABLES:
        tbl = store.table(name)
        schema = SCHEMAS[name]
        if set(tbl.schema.names) == set(schema.names):
            continue
        if tbl.count_rows() > 0:
            raise RuntimeError(f"the {name} table has an older layout with rows in it; it needs a migration")
        store.db.drop_table(name)
        store._tables[name] = store.db.create_table(name, schema=schema)


# --------------------------------------------------------------------------- writing
@dataclass(frozen=True)
class EpisodeSpan:
    id: str
    start: datetime
    end: datetime


def media_episodes(store: Store, media_id: str) -> list[EpisodeSpan]:
    rows = store.rows("episodes", f"media_id = {sql_str(media_id)}", columns=["id", "start", "end"]).to_pylist()
    return sorted((EpisodeSpan(r["id"], r["start"], r["end"]) for r in rows), key=lambda e: e.start)


def episode_for(start: datetime, end: datetime, episodes: Sequence[EpisodeSpan]) -> str | None:
    """The episode whose span contains the middle of [start, end]; else the nearest one."""
    if not episodes:
        return None
    mid = start + (end - start) / 2
    for ep in episodes:
        if ep.start <= mid < ep.end:
            return ep.id

    def dist(ep: EpisodeSpan) -> float:
        if mid < ep.start:
            return (ep.start - mid).total_seconds()
        return (mid - ep.end).total_seconds()

    return min(episodes, key=dist).id


def utterance_id(media_id: str, index: int) -> str:
    return f"{media_id}-u{index:05d}"


def build_rows(
    vault: Vault,
    media_id: str,
    segments: Sequence[Segment],
    episodes: Sequence[EpisodeSpan],
    vectors: np.ndarray[Any, Any],
    model: str,
    vector_model: str,
    tz_offset_min: int | None,
    speakers: Sequence[str | None] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(utterance rows, blind-index rows) for one media's segments."""
    utt_rows: list[dict[str, Any]] = []
    term_rows: list[dict[str, Any]] = []
    key = index_key(vault)
    for i, seg in enumerate(segments):
        uid = utterance_id(media_id, i)
        start, end = seg.start, seg.end
        ep = episode_for(start, end, episodes)
        words = [[round(w.start_s, 3), round(w.end_s, 3), w.text] for w in seg.words]
        utt_rows.append(
            {
                "id": uid,
                "episode_id": ep,
                "media_id": media_id,
                "start": start,
                "end": end,
                "text_enc": vault.encrypt_text(seg.text, f"utterance:{uid}"),
                "speaker_id": speakers[i] if speakers is not None else None,
                "language": seg.language,
                "vector": np.asarray(vectors[i], dtype=np.float32).tolist(),
                "model": model,
                "offset_s": seg.start_s,
                "tz_offset_min": tz_offset_min,
                "words_enc": vault.encrypt_text(json.dumps(words, ensure_ascii=False), f"utterance-words:{uid}"),
                "avg_logprob": seg.avg_logprob,
                "no_speech_prob": seg.no_speech_prob,
                "language_prob": seg.language_probability,
                "vector_model": vector_model,
            }
        )
        for t in sorted(index_terms(seg.text)):
            term_rows.append(
                {"term": term_hash(key, t), "utterance_id": uid, "episode_id": ep, "media_id": media_id,
                 "start": start}
            )
    return utt_rows, term_rows


def delete_media_speech(store: Store, media_id: str) -> None:
    """Remove a media's utterances, index rows and transcript record."""
    where = f"media_id = {sql_str(media_id)}"
    for name in SPEECH_TABLES:
        store.delete(name, where)


# --------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Utterance:
    id: str
    episode_id: str | None
    media_id: str
    start: datetime
    end: datetime
    text: str
    speaker_id: str | None
    language: str
    words: list[tuple[float, float, str]]  # (start_s, end_s) from the media's start
    offset_s: float

    def word_time(self, word: str) -> datetime | None:
        """When a word (normalised like the index) was said in this utterance, if it was."""
        from datetime import timedelta

        from lifelog.store.terms import stem, words

        target = {stem(w) for w in words(word)}
        for ws, _we, w in self.words:
            if {stem(x) for x in words(w)} & target:
                return self.start + timedelta(seconds=max(ws - self.offset_s, 0.0))
        return None


def load_utterances(store: Store, vault: Vault, ids: Iterable[str]) -> list[Utterance]:
    """Utterances by id, decrypted in memory, in time order."""
    idl = list(dict.fromkeys(ids))
    if not idl:
        return []
    cols = ["id", "episode_id", "media_id", "start", "end", "text_enc", "speaker_id", "language",
            "words_enc", "offset_s"]
    rows = store.rows("utterances", sql_in("id", idl), columns=cols).to_pylist()
    out = []
    for r in rows:
        words_json = vault.decrypt_text(r.get("words_enc"), f"utterance-words:{r['id']}") or "[]"
        out.append(
            Utterance(
                id=r["id"],
                episode_id=r.get("episode_id"),
                media_id=r["media_id"],
                start=r["start"],
                end=r["end"],
                text=vault.decrypt_text(r.get("text_enc"), f"utterance:{r['id']}"),
                speaker_id=r.get("speaker_id"),
                language=r.get("language") or "",
                words=[(float(a), float(b), str(w)) for a, b, w in json.loads(words_json)],
                offset_s=float(r.get("offset_s") or 0.0),
            )
        )
    out.sort(key=lambda u: u.start)
    return out


Window = tuple[datetime | None, datetime | None]


def window_where(window: Window | None, column: str = "start") -> list[str]:
    """Filter conditions for utterances whose ``column`` lies in ``window``."""
    if window is None:
        return []
    return window_conditions(window[0], window[1], f"`{column}`")


def search_words(
    store: Store,
    vault: Vault,
    words: str | Sequence[str],
    window: Window | None = None,
    *,
    speaker_id: str | None = None,
    phrase: bool = False,
) -> list[str]:
    """Ids of utterances that contain **all** the (non-stop) words, in time order.

    ``words`` is a string or a list of words; matching is on normalised stems (so "Tickets"
    finds "ticket"). ``phrase=True`` also requires the words in this order, adjacent (checked
    on the decrypted candidates, in memory). An empty query (only stop words) finds nothing.
    """
    terms = query_terms(words)
    if not terms:
        return []
    key = index_key(vault)
    hashes = {term_hash(key, t): t for t in terms}
    where = [sql_in("term", hashes), *window_where(window)]
    rows = store.rows("utterance_terms", " AND ".join(where), columns=["term", "utterance_id", "start"]).to_pylist()
    found: dict[str, set[str]] = {}
    when: dict[str, datetime] = {}
    for r in rows:
        found.setdefault(r["utterance_id"], set()).add(r["term"])
        when[r["utterance_id"]] = r["start"]
    ids = [u for u, ts in found.items() if len(ts) == len(hashes)]
    if speaker_id is not None and ids:
        keep = store.rows("utterances", f"{sql_in('id', ids)} AND speaker_id = {sql_str(speaker_id)}",
                          columns=["id"]).column("id").to_pylist()
        ids = [u for u in ids if u in set(keep)]
    if phrase and ids:
        from lifelog.store.terms import stem
        from lifelog.store.terms import words as norm_words

        q = [stem(w) for w in norm_words(words if isinstance(words, str) else " ".join(words))]
        ok = set()
        for u in load_utterances(store, vault, ids):
            t = [stem(w) for w in norm_words(u.text)]
            if any(t[i : i + len(q)] == q for i in range(len(t) - len(q) + 1)):
                ok.add(u.id)
        ids = [u for u in ids if u in ok]
    ids.sort(key=lambda u: when[u])
    return ids


def search_meaning(
    store: Store,
    text_vector: np.ndarray[Any, Any] | Sequence[float],
    window: Window | None = None,
    *,
    limit: int = 20,
    speaker_id: str | None = None,
) -> list[tuple[str, float]]:
    """(utterance id, cosine similarity) of the utterances closest in meaning, best first.

    ``text_vector`` is a MiniLM vector of the question's subject (L2-normalised, as
    :class:`~lifelog.encoders.text.TextEncoder` makes them). The search is LanceDB's exact
    (flat) cosine search with the time window as a pre-filter.
    """
    q = np.asarray(text_vector, dtype=np.float32).reshape(-1)
    where = window_where(window)
    if speaker_id is not None:
        where.append(f"speaker_id = {sql_str(speaker_id)}")
    tbl = store.table("utterances")
    if tbl.count_rows(" AND ".join(where) if where else None) == 0:
        return []
    search = tbl.search(q.tolist(), vector_column_name="vector").distance_type("cosine")
    if where:
        search = search.where(" AND ".join(where), prefilter=True)
    res = search.select(["id", "_distance"]).limit(limit).to_arrow()
    ids = res.column("id").to_pylist()
    dists = res.column("_distance").to_pylist()
    return [(i, float(1.0 - d)) for i, d in zip(ids, dists, strict=True)]


def transcript_status(store: Store, media_id: str) -> Mapping[str, Any] | None:
    rows = store.rows("transcripts", f"media_id = {sql_str(media_id)}").to_pylist()
    return rows[0] if rows else None


def pending_media(store: Store) -> list[dict[str, Any]]:
    """Media with audio whose transcript is not done yet (for a queue to pick up after import)."""
    media = store.rows("media", "has_audio = true", columns=["id", "path", "capture_start", "kind"]).to_pylist()
    done = set(store.rows("transcripts", None, columns=["media_id"]).column("media_id").to_pylist())
    # a transcript whose write was cut (its journal entry is still there) is rolled back before
    # the next write: it is pending, not done
    jdir = store.data_dir / SPEECH_JOURNAL
    unfinished = {p.name for p in jdir.iterdir()} if jdir.is_dir() else set()
    return [m for m in media if m["id"] not in done or m["id"] in unfinished]
