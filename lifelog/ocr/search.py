"""Keyword search over the text read in frames, through the blind index; only matched lines are decrypted."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from lifelog.store.sql import window_conditions
from lifelog.store.terms import query_terms

if TYPE_CHECKING:
    from lifelog.store.db import Store
    from lifelog.store.vault import Vault

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- search
Window = tuple[datetime | None, datetime | None]


def _window_where(window: Window | None) -> list[str]:
    return window_conditions(*(window or (None, None)))


@dataclass(frozen=True)
class _FrameMatch:
    frame_id: str
    episode_id: str | None
    t: datetime
    terms: set[str]  # matched term hashes
    lines: dict[str, set[str]]  # ocr id -> matched term hashes


def _match_frames(
    store: Store, vault: Vault, terms: Sequence[str], window: Window | None
) -> tuple[dict[str, str], list[_FrameMatch]]:
    """(hash → term, frames where any of ``terms`` was read)."""
    from lifelog.store.blind_index import index_key, term_hash
    from lifelog.store.sql import sql_in

    if not terms:
        return {}, []
    key = index_key(vault)
    hashes = {term_hash(key, t): t for t in terms}
    where = [sql_in("term", hashes), *_window_where(window)]
    hidden = store.committed_filter(episode_column="episode_id")  # unfinished imports, the trash
    if hidden:
        where.append(hidden)
    rows = store.rows(
        "ocr_terms", " AND ".join(where), columns=["term", "ocr_id", "frame_id", "episode_id", "t"]
    ).to_pylist()
    frames: dict[str, _FrameMatch] = {}
    for r in rows:
        fm = frames.get(r["frame_id"])
        if fm is None:
            fm = frames[r["frame_id"]] = _FrameMatch(r["frame_id"], r["episode_id"], r["t"], set(), {})
        fm.terms.add(r["term"])
        fm.lines.setdefault(r["ocr_id"], set()).add(r["term"])
    return hashes, sorted(frames.values(), key=lambda f: (f.t, f.frame_id))


def load_lines(store: Store, vault: Vault, ids: Sequence[str]) -> dict[str, tuple[str, float]]:
    """ocr id → (decrypted text, score)."""
    from lifelog.store.sql import sql_in

    if not ids:
        return {}
    rows = store.rows("ocr", sql_in("id", ids), columns=["id", "text_enc", "score"]).to_pylist()
    return {r["id"]: (vault.decrypt_text(r["text_enc"], f"ocr:{r['id']}"), float(r["score"] or 0.0)) for r in rows}


def search_ocr(
    store: Store, vault: Vault, words_: str | Sequence[str], window: Window | None = None
) -> list[tuple[str, str | None, datetime, str, float]]:
    """Frames whose text holds **all** the (non-stop) words, in time order.

    One result per frame: ``(ocr id of its first matching line, episode id, time, text of the
    matching lines joined by " / " in reading order, lowest score among them)``. Words are
    normalised like speech (case, accents, plurals, numbers). A sign's words are often on
    separate lines, so the words must be in one frame, not in one line.
    """
    hashes, frames = _match_frames(store, vault, query_terms(words_), window)
    hits = [f for f in frames if len(f.terms) == len(hashes)]
    texts = load_lines(store, vault, sorted({o for f in hits for o in f.lines}))
    out = []
    for f in hits:
        ids = sorted(o for o in f.lines if o in texts)
        if not ids:
            continue
        out.append((ids[0], f.episode_id, f.t, " / ".join(texts[o][0] for o in ids), min(texts[o][1] for o in ids)))
    return out


def ocr_episode_hits(
    store: Store, vault: Vault, subject: str, window: Window | None = None
) -> list[tuple[str, float, str, datetime]]:
    """For recall: ``(episode id, score 0..1, evidence text, time)``, best first, one per episode.

    Scoring: the question's subject is reduced to its index terms (stop words dropped). A frame
    scores ``coverage × confidence``, where coverage = matched terms / subject terms and
    confidence = mean recogniser score of the lines that matched; a frame counts only if it
    matched at least half of the terms (at least one). An episode takes its best frame (ties:
    the earliest); evidence is that frame's matched lines, and the time is that frame's time.
    """
    terms = query_terms(subject)
    hashes, frames = _match_frames(store, vault, terms, window)
    need = max(1, (len(hashes) + 1) // 2)
    frames = [f for f in frames if len(f.terms) >= need]
    if not frames:
        return []
    texts = load_lines(store, vault, sorted({o for f in frames for o in f.lines}))
    best: dict[str, tuple[float, str, datetime]] = {}
    for f in frames:
        ids = sorted(o for o in f.lines if o in texts)
        if not ids or f.episode_id is None:
            continue
        conf = float(np.mean([texts[o][1] for o in ids]))
        score = min(1.0, len(f.terms) / len(hashes)) * conf
        cur = best.get(f.episode_id)
        if cur is None or score > cur[0]:
            best[f.episode_id] = (score, " / ".join(texts[o][0] for o in ids), f.t)
    return sorted(((e, s, txt, t) for e, (s, txt, t) in best.items()), key=lambda x: (-x[1], x[3]))
