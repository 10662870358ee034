"""Scoring frames against the subject of a question (see ``docs/recall.md``)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Calibrated on the composed sample days (bench/recall.py prints the distributions).
MATCH_THRESHOLD = 0.30
SEM_FLOOR = 0.45  # cosine below this carries no evidence
SEM_SPAN = 0.35  # cosine SEM_FLOOR + SEM_SPAN maps to score 1.0
LABEL_SIM_FLOOR = 0.50  # a label whose text vector is this close to the subject counts as naming it
HEAD_DISCOUNT = 0.8  # weight of a match on the head noun alone ("motorcycle" for "red motorcycle")
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    """Content words in singular form ("signs" -> "sign", "glasses" -> "glass")."""
    return {_singular(w) for w in _WORD.findall(text.lower())}


class Scorer:
    """Scores frames against one subject. Built once per question (a few ms)."""

    def __init__(self, subject: str) -> None:
        from lifelog.encoders import get_text_encoder, get_visual_encoder

        venc = get_visual_encoder()
        tenc = get_text_encoder()
        self.subject = subject
        # "rocket on the launch pad" / "red motorcycle": also look for the head noun alone,
        # at a discount, since a frame's labels rarely carry the modifiers.
        self.head = head_noun(subject)
        phrases = [subject] + ([self.head] if self.head and self.head != subject.lower().strip() else [])
        vecs = tenc.encode(phrases)
        self.q = vecs[0]
        self.q_head = vecs[1] if len(phrases) > 1 else None
        self.label_vectors = venc.label_vectors
        self.label_weight: dict[str, float] = {}
        for phrase, vec, factor in zip(phrases, vecs, (1.0, HEAD_DISCOUNT), strict=False):
            for name, w in _naming_weights(phrase, vec, venc.label_names, venc.label_vectors).items():
                self.label_weight[name] = max(self.label_weight.get(name, 0.0), w * factor)

    def semantic(self, vectors: NDArray[Any]) -> NDArray[Any]:
        cos = vectors @ self.q
        if self.q_head is not None:
            cos = np.maximum(cos, HEAD_DISCOUNT * (vectors @ self.q_head))
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

    @property
    def naming_labels(self) -> list[str]:
        """Labels that name the subject, strongest first (for the exact label candidate path)."""
        return [k for k, _ in sorted(self.label_weight.items(), key=lambda kv: -kv[1])]


def _naming_weights(phrase: str, vec: NDArray[Any], names: list[str], label_vectors: NDArray[Any]
                    ) -> dict[str, float]:
    sims = label_vectors @ vec
    words = _words(phrase) - _STOP
    head = _head(phrase)
    out: dict[str, float] = {}
    for i, name in enumerate(names):
        w = 0.0
        # "cat" names "Egyptian cat" (same head noun); "tiger" does not name "tiger cat".
        if words and words <= _words(name) and head == _head(name):
            w = 1.0
        elif sims[i] >= LABEL_SIM_FLOOR:
            w = float(min(1.0, (sims[i] - LABEL_SIM_FLOOR) / (1.0 - LABEL_SIM_FLOOR) + 0.5))
        if w > 0:
            out[name] = w
    return out


_CUT = {
    "on", "in", "at", "with", "of", "by", "near", "from", "under", "behind", "saying", "that",
    "which", "who", "holding", "wearing", "for", "to", "called", "named", "next", "beside", "across",
}


def head_noun(phrase: str) -> str:
    """The head noun of a noun phrase: the last word before the first preposition/clause word."""
    toks = [t for t in _WORD.findall(phrase.lower()) if t not in _STOP or t in _CUT]
    chunk: list[str] = []
    for t in toks:
        if t in _CUT and chunk:
            break
        if t not in _CUT:
            chunk.append(t)
    return chunk[-1] if chunk else ""


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





def frame_scores(scorer: Scorer, semantic: NDArray[Any], labels: list[list[str]], scores: list[list[float]]
                 ) -> tuple[NDArray[Any], list[list[str]]]:
    """Score of each frame = max(label score, calibrated semantic score); plus matched labels."""
    sem = scorer.semantic(semantic) if len(semantic) else np.zeros(len(labels))
    out = np.empty(len(labels), dtype=np.float32)
    matched_all = []
    for i in range(len(labels)):
        ls, matched = scorer.labels(labels[i] or [], scores[i] or [])
        out[i] = max(ls, float(sem[i]))
        matched_all.append(matched)
    return out, matched_all
