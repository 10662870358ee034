"""Recall over what was said: exact words (blind index) and meaning (MiniLM), fused per utterance.

:func:`speech_hits` is what ``lifelog.recall.answer`` calls to add transcript evidence to its
episode hits; :func:`parse_speech_question` recognises questions about speech ("what did Sam
say about the trip?", "when did someone mention the dentist?", "who said ...").

Score of an utterance for a subject (0–1, comparable with the visual episode score):

* **words**: 1.0 when every content word of the subject is in the utterance (blind index);
* **meaning**: cosine between the subject's and the utterance's MiniLM vectors, mapped
  linearly from :data:`MEANING_FLOOR` (0) to ``MEANING_FLOOR + MEANING_SPAN`` (1);

the utterance's score is ``max(words, meaning)``; it matches when it clears :data:`SPEECH_MATCH`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np

from lifelog.speech.store import Utterance, Window, load_utterances, search_meaning, search_words
from lifelog.store.db import Store
from lifelog.store.vault import Vault

MEANING_FLOOR = 0.30
MEANING_SPAN = 0.35
SPEECH_MATCH = 0.35
WORD_SCORE = 1.0


MatchedBy = Literal["words", "meaning", "words+meaning", "speaker"]  # how an utterance matched a question


@dataclass(frozen=True)
class SpeechHit:
    utterance: Utterance
    score: float
    how: MatchedBy
    time: datetime  # when the matched word was said (or the utterance start)

    @property
    def quote(self) -> str:
        return self.utterance.text

    def evidence(self) -> dict[str, Any]:
        """The ``ask`` evidence item (CLI contract: kind, time, text, thumbnail) + speaker."""
        return {
            "kind": "transcript",
            "time": self.time.isoformat(),
            "text": self.utterance.text,
            "thumbnail": None,
            "speaker": self.utterance.speaker_id,
        }


def speech_hits(
    store: Store,
    vault: Vault,
    subject: str | None,
    window: Window | None = None,
    *,
    speaker_id: str | None = None,
    limit: int = 20,
    text_vector: np.ndarray[Any, Any] | None = None,
) -> list[SpeechHit]:
    """Utterances about ``subject`` (or, with no subject, everything ``speaker_id`` said), best first.

    ``text_vector``: the subject's MiniLM vector if the caller has it already.
    """
    scores: dict[str, tuple[float, MatchedBy]] = {}
    matched_words = subject or ""
    if subject:
        for uid in search_words(store, vault, subject, window, speaker_id=speaker_id):
            scores[uid] = (WORD_SCORE, "words")
        if text_vector is None:
            from lifelog.encoders import get_text_encoder

            text_vector = get_text_encoder().encode([subject])[0]
        for uid, cos in search_meaning(store, text_vector, window, limit=limit, speaker_id=speaker_id):
            s = float(np.clip((cos - MEANING_FLOOR) / MEANING_SPAN, 0.0, 1.0))
            if uid in scores:
                scores[uid] = (max(scores[uid][0], s), "words+meaning")
            elif s >= SPEECH_MATCH:
                scores[uid] = (s, "meaning")
    elif speaker_id is not None:
        from lifelog.speech.store import window_where
        from lifelog.store.sql import sql_str

        where = " AND ".join([f"speaker_id = {sql_str(speaker_id)}", *window_where(window)])
        for uid in store.rows("utterances", where, columns=["id"]).column("id").to_pylist():
            scores[uid] = (1.0, "speaker")
    best = sorted(scores.items(), key=lambda kv: -kv[1][0])[:limit]
    utts = {u.id: u for u in load_utterances(store, vault, [k for k, _ in best])}
    hits = []
    for uid, (score, how) in best:
        u = utts.get(uid)
        if u is None:
            continue
        t = u.word_time(matched_words) if "words" in how else None
        hits.append(SpeechHit(u, score, how, t or u.start))
    return hits


def fuse_into_episodes(hits: Sequence[SpeechHit]) -> dict[str, list[SpeechHit]]:
    """episode_id -> its speech hits, best first (utterances without an episode are left out)."""
    out: dict[str, list[SpeechHit]] = {}
    for h in hits:
        if h.utterance.episode_id:
            out.setdefault(h.utterance.episode_id, []).append(h)
    for v in out.values():
        v.sort(key=lambda h: -h.score)
    return out


# ----------------------------------------------------------------------- questions
@dataclass(frozen=True)
class SpeechQuestion:
    speaker: str | None  # a name as written ("Sam"), None for "someone"/"anyone"/"I"
    topic: str | None  # what was said about, None for "everything"
    asks_who: bool = False  # "who said/mentioned X?"


_ANYONE = {"someone", "anyone", "anybody", "somebody", "people", "they", "we"}
_SAY = r"(?:say|said|mention|mentioned|talk|talked|speak|spoke|tell|told|ask|asked)"
_END = r"\s*[?.!]*\s*$"
_ABOUT = r"(?:\s+(?:about|of))?"
_PATTERNS = [
    re.compile(
        rf"^\s*what\s+did\s+(?P<who>.+?)\s+{_SAY}(?:\s+(?:me|us))?(?:\s+(?:about|on|regarding)\s+(?P<topic>.+?))?{_END}",
        re.I,
    ),
    re.compile(rf"^\s*(?:when|where)\s+did\s+(?P<who>.+?)\s+{_SAY}{_ABOUT}\s+(?P<topic>.+?){_END}", re.I),
    re.compile(rf"^\s*who\s+{_SAY}{_ABOUT}\s+(?P<topic>.+?){_END}", re.I),
    re.compile(rf"^\s*(?:did|has|have)\s+(?P<who>.+?)\s+(?:ever\s+)?{_SAY}{_ABOUT}\s+(?P<topic>.+?){_END}", re.I),
]


def parse_speech_question(question: str) -> SpeechQuestion | None:
    """Recognise a question about speech; ``None`` when it is not one.

    A time phrase at the end of the topic ("… yesterday", "… last week") is left in: the caller's
    time parser removes it together with the rest of the question's window.
    """
    for i, pat in enumerate(_PATTERNS):
        m = pat.match(question)
        if not m:
            continue
        groups = m.groupdict()
        who = (groups.get("who") or "").strip()
        topic = (groups.get("topic") or "").strip().strip("\"'“”") or None
        speaker = None if not who or who.lower() in _ANYONE | {"i", "you"} else who
        return SpeechQuestion(speaker, topic, asks_who=(i == 2))
    return None


def find_person(people: Iterable[tuple[str, str]], name: str) -> str | None:
    """The id of the person called ``name`` among ``(id, name)`` pairs (case-insensitive; a full
    match wins over a match of one word of the name, "Sam" → "Sam Jones")."""
    want = name.strip().casefold()
    partial = None
    for pid, pname in people:
        n = (pname or "").strip().casefold()
        if not n:
            continue
        if n == want:
            return pid
        if partial is None and want in n.split():
            partial = pid
    return partial


@dataclass(frozen=True)
class SpeechEpisodeHit:
    """An episode with what was said in it that matches, for ``ask``'s hits."""

    episode_id: str
    start: datetime
    end: datetime
    score: float
    hits: list[SpeechHit]  # best first


def episode_hits(
    store: Store,
    vault: Vault,
    subject: str | None,
    window: Window | None = None,
    *,
    speaker_id: str | None = None,
    limit: int = 20,
    text_vector: np.ndarray[Any, Any] | None = None,
) -> list[SpeechEpisodeHit]:
    """:func:`speech_hits` grouped by episode (an episode's score is its best utterance's),
    best first; utterances of media whose episodes were forgotten are left out."""
    from lifelog.store.sql import sql_in

    hits = speech_hits(store, vault, subject, window, speaker_id=speaker_id, limit=limit * 4,
                       text_vector=text_vector)
    by_ep = fuse_into_episodes(hits)
    if not by_ep:
        return []
    where = sql_in("id", by_ep)
    hidden = store.committed_filter("media_id", episode_column="id")  # unfinished imports, the trash
    rows = store.rows("episodes", f"{where} AND {hidden}" if hidden else where,
                      columns=["id", "start", "end"]).to_pylist()
    spans = {r["id"]: (r["start"], r["end"]) for r in rows}
    out = [
        SpeechEpisodeHit(ep, spans[ep][0], spans[ep][1], hs[0].score, hs)
        for ep, hs in by_ep.items()
        if ep in spans
    ]
    out.sort(key=lambda e: -e.score)
    return out[:limit]
