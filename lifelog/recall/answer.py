"""Answering a question: parse → retrieve episodes → apply the intent → a sentence with evidence.

Scoring is documented in ``docs/recall.md``. In short, for the subject *s* of the question:

* **semantic**: cosine between the text vector of *s* and each frame's ConSE vector (the
  probability-weighted mean of the text vectors of the frame's top ImageNet labels);
* **label**: the probability mass of the frame's top labels that name *s* (word match on the
  label's lemmas) or mean the same thing (label text vector close to *s*).

A frame's score is ``max(label, semantic_calibrated)``; an episode's score is its best frame's.
An episode **matches** when its score clears :data:`MATCH_THRESHOLD`, calibrated on the sample
days so that questions about things never seen (skiing, a giraffe) find nothing.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from lifelog.recall.parse import ParsedQuestion, parse_question

if TYPE_CHECKING:
    from lifelog.api import Memory

# Calibrated on the composed sample days (bench/recall.py prints the distributions).
MATCH_THRESHOLD = 0.30
SEM_FLOOR = 0.45  # cosine below this carries no evidence
SEM_SPAN = 0.35  # cosine SEM_FLOOR + SEM_SPAN maps to score 1.0
LABEL_SIM_FLOOR = 0.50  # a label whose text vector is this close to the subject counts as naming it
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Evidence:
    kind: str  # frame | transcript | face | object | ocr | label
    time: datetime
    text: str
    thumbnail: str | None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "time": self.time.isoformat(), "text": self.text, "thumbnail": self.thumbnail}


@dataclass(frozen=True)
class Hit:
    episode_id: str
    start: datetime
    end: datetime
    score: float
    evidence: list[Evidence] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "score": round(float(self.score), 4),
            "evidence": [e.to_json() for e in self.evidence],
        }


@dataclass(frozen=True)
class Answer:
    question: str
    intent: str
    answer: str
    count: int | None
    hits: list[Hit]
    parsed: ParsedQuestion | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "question": self.question,
            "intent": self.intent,
            "answer": self.answer,
            "count": self.count,
            "hits": [h.to_json() for h in self.hits],
        }
        if self.parsed is not None:
            w = self.parsed.window
            doc["understood"] = {
                "subject": self.parsed.subject,
                "window": None
                if w is None
                else {
                    "start": w.start.isoformat() if w.start else None,
                    "end": w.end.isoformat() if w.end else None,
                    "phrase": w.phrase,
                },
                "count_unit": self.parsed.count_unit,
            }
        return doc


# --------------------------------------------------------------------- scoring
def _words(text: str) -> set[str]:
    out = set()
    for w in _WORD.findall(text.lower()):
        out.add(w)
        if len(w) > 3 and w.endswith("es"):
            out.add(w[:-2])
        if len(w) > 2 and w.endswith("s"):
            out.add(w[:-1])
    return out


class Scorer:
    """Scores frames against one subject. Built once per question (a few ms)."""

    def __init__(self, subject: str) -> None:
        from lifelog.encoders import get_text_encoder, get_visual_encoder

        venc = get_visual_encoder()
        tenc = get_text_encoder()
        self.subject = subject
        self.q = tenc.encode([subject])[0]
        names: list[str] = list(venc.label_names)
        sims = venc.label_vectors @ self.q
        subj_words = _words(subject) - _STOP
        subj_head = _head(subject)
        self.label_weight: dict[str, float] = {}
        for i, name in enumerate(names):
            w = 0.0
            # "cat" names "Egyptian cat" (same head noun); "tiger" does not name "tiger cat".
            if subj_words and subj_words <= _words(name) and subj_head == _head(name):
                w = 1.0
            elif sims[i] >= LABEL_SIM_FLOOR:
                w = float(min(1.0, (sims[i] - LABEL_SIM_FLOOR) / (1.0 - LABEL_SIM_FLOOR) + 0.5))
            if w > 0:
                self.label_weight[name] = w

    def semantic(self, vectors: NDArray[Any]) -> NDArray[Any]:
        cos = vectors @ self.q
        return np.clip((cos - SEM_FLOOR) / SEM_SPAN, 0.0, 1.0)  # type: ignore[no-any-return]

    def labels(self, labels: list[str], scores: list[float]) -> tuple[float, list[str]]:
        total = 0.0
        matched = []
        for lab, p in zip(labels, scores, strict=False):
            w = self.label_weight.get(lab)
            if w:
                total += w * p
                matched.append(lab)
        return min(1.0, total * 2.0), matched


def _singular(w: str) -> str:
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith(("ches", "shes", "sses", "xes")):
        return w[:-2]
    if len(w) > 2 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def _head(text: str) -> str:
    toks = _WORD.findall(text.lower())
    return _singular(toks[-1]) if toks else ""


_STOP = {"a", "an", "the", "my", "of", "some", "any", "to", "at", "in", "on"}


# ---------------------------------------------------------------------- answer
def ask(memory: Memory, question: str, now: datetime, limit: int = 5, thumbnails: bool = True) -> Answer:
    pq = parse_question(question, now, memory.tz)
    if not pq.subject:
        return Answer(pq.text, pq.intent, "I could not tell what to look for in that question.", None, [], pq)
    memory.store.refresh()
    where = []
    w = pq.window
    from lifelog.api import _ts

    if w is not None and w.start is not None:
        where.append(f"t >= {_ts(w.start)}")
    end = w.end if w is not None and w.end is not None else now
    where.append(f"t < {_ts(end)}")
    cols = ["id", "episode_id", "t", "semantic", "labels", "label_scores", "thumb_id"]
    frames = memory.store.rows("frames", " AND ".join(where), columns=cols)
    scorer = Scorer(pq.subject)
    per_episode: dict[str, list[tuple[float, int, list[str]]]] = {}
    if frames.num_rows:
        sem = np.asarray(frames.column("semantic").to_pylist(), dtype=np.float32)
        sem_score = scorer.semantic(sem)
        labels = frames.column("labels").to_pylist()
        lscores = frames.column("label_scores").to_pylist()
        eps = frames.column("episode_id").to_pylist()
        for i in range(frames.num_rows):
            ls, matched = scorer.labels(labels[i] or [], lscores[i] or [])
            s = max(ls, float(sem_score[i]))
            per_episode.setdefault(eps[i], []).append((s, i, matched))
    scored = []
    for ep_id, items in per_episode.items():
        items.sort(key=lambda x: -x[0])
        scored.append((items[0][0], ep_id, items))
    matching = [x for x in scored if x[0] >= MATCH_THRESHOLD]
    ep_rows = _episode_rows(memory, [e for _, e, _ in matching])

    def start_of(ep_id: str) -> datetime:
        r = ep_rows.get(ep_id)
        return r["start"] if r else datetime.min.replace(tzinfo=UTC)

    if pq.intent == "last":
        matching.sort(key=lambda x: start_of(x[1]), reverse=True)
    elif pq.intent == "first":
        matching.sort(key=lambda x: start_of(x[1]))
    else:
        matching.sort(key=lambda x: -x[0])
    tz = now.tzinfo or memory.tz  # answer in the zone the question was asked in
    hits: list[Hit] = []
    thumb_dir = _thumb_dir() if thumbnails else None
    for score, ep_id, items in matching[:limit]:
        r = ep_rows.get(ep_id)
        if r is None:
            continue
        evidence = []
        for _s, i, matched in items[:3]:
            t = frames.column("t")[i].as_py().astimezone(tz)
            labs = frames.column("labels")[i].as_py() or []
            scs = frames.column("label_scores")[i].as_py() or []
            thumb = _write_thumb(memory, frames.column("thumb_id")[i].as_py(), thumb_dir)
            text = ", ".join(f"{lab} {p:.0%}" for lab, p in list(zip(labs, scs, strict=False))[:3])
            evidence.append(Evidence("frame", t, text, thumb))
            for lab in matched[:2]:
                evidence.append(Evidence("label", t, lab, None))
        hits.append(Hit(ep_id, r["start"].astimezone(tz), r["end"].astimezone(tz), score, evidence))
    count: int | None = None
    if pq.intent == "count":
        if pq.count_unit == "days":
            count = len({start_of(e).astimezone(tz).date() for _, e, _ in matching})
        else:
            count = len(matching)
    sentence = _sentence(pq, hits, count, now.astimezone(tz))
    return Answer(pq.text, pq.intent, sentence, count, hits, pq)


def _episode_rows(memory: Memory, ids: list[str]) -> dict[str, dict[str, Any]]:
    from lifelog.store.db import sql_in

    if not ids:
        return {}
    rows = memory.store.rows("episodes", sql_in("id", ids), columns=["id", "start", "end"]).to_pylist()
    return {r["id"]: r for r in rows}


def _when(dt: datetime, now: datetime) -> str:
    days = (now.date() - dt.date()).days
    clock = f"{dt:%H:%M}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"yesterday at {clock}"
    if 1 < days < 7:
        return f"on {dt:%A} at {clock}"
    return f"on {dt:%a} {dt.day} {dt:%b %Y} at {clock}"


def _sentence(pq: ParsedQuestion, hits: list[Hit], count: int | None, now: datetime) -> str:
    subj = pq.subject
    span = f" {pq.window.phrase}" if pq.window is not None and pq.window.phrase else ""
    if pq.intent == "count":
        unit = "day" if pq.count_unit == "days" else "time"
        n = count or 0
        return f"You saw {subj} on {n} {unit}{'s' if n != 1 else ''}{span}." if unit == "day" else (
            f"You saw {subj} {n} {unit}{'s' if n != 1 else ''}{span}."
        )
    if not hits:
        return f"I found no {subj}{span} in your memory."
    h = hits[0]
    when = _when(h.start, now)
    if pq.intent == "last":
        return f"You last saw {subj} {when}."
    if pq.intent == "first":
        return f"You first saw {subj} {when}."
    if pq.yes_no:
        return f"Yes, you saw {subj} {when}."
    return f"You saw {subj} {when}."


# ------------------------------------------------------------------ thumbnails
def _thumb_dir() -> Path:
    """A private folder for decrypted evidence thumbnails (RAM-backed where the OS offers one)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    d = Path(base) / f"lifelog-thumbs-{os.getuid()}"
    d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    cutoff = time.time() - 3600
    for p in d.glob("*.jpg"):
        try:
            if p.stat().st_mtime < cutoff:
                p.unlink()
        except OSError:
            pass
    return d


def _write_thumb(memory: Memory, blob_id: str | None, d: Path | None) -> str | None:
    if d is None or not blob_id:
        return None
    out = d / f"{blob_id}.jpg"
    if not out.exists():
        try:
            data = memory.thumbnail(blob_id)
        except Exception:
            return None
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return str(out)
