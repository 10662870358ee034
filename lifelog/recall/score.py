"""Scoring frames against the subject of a question (see ``docs/recall.md``)."""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from lifelog.recall.scenes import singular_forms

# Calibrated on the composed sample days (bench/recall.py prints the distributions).
MATCH_THRESHOLD = 0.25
SEM_FLOOR = 0.45  # cosine below this carries no evidence
SEM_SPAN = 0.35  # cosine SEM_FLOOR + SEM_SPAN maps to score 1.0
LABEL_SIM_FLOOR = 0.50  # a label whose text vector is this close to the subject counts as naming it
DETECT_WEIGHT_MIN = 0.5  # a detector label counts for a subject that names at least half of what it stands for
HEAD_DISCOUNT = 0.8  # weight of a match on the head noun alone ("motorcycle" for "red motorcycle")
CHUNK0_DISCOUNT = 0.9  # the first noun chunk alone ("cyclists" of "cyclists in town")
KIND_BREADTH = 5  # a WordNet kind is used for a word naming labels itself when it holds ≥ 5× as many
CHUNK_DISCOUNT = 0.6  # a later chunk ("tripod" of "man with a camera on a tripod", "town")
# Objects that carry writing: "the sign for X" is about the words X, not any sign.
TEXT_BEARERS = {
    "sign", "signpost", "notice", "poster", "billboard", "banner", "plaque", "placard", "signboard", "board",
}
_WRITING = {"text", "writing", "word", "lettering", "inscription"}
_ABOUT = {"for", "to", "saying", "say", "says", "reading", "about", "that", "which", "called", "named"}
TEXT_LINKS = frozenset(_ABOUT)  # "the sign <link> X": X is the words on it, not where it was
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    """Content words in singular form ("signs" -> "sign", "glasses" -> "glass")."""
    return {_singular(w) for w in _WORD.findall(text.lower())}


class Scorer:
    """Scores frames against one subject. Built once per question (a few ms).

    The subject is split into noun chunks at prepositions and "and" ("man with a camera on a
    tripod" → man / camera / tripod). The whole subject names labels with full weight, its head
    noun at :data:`HEAD_DISCOUNT`, every further chunk at :data:`CHUNK_DISCOUNT`: ImageNet labels
    rarely carry the modifiers, and the thing a question describes is often named in its detail.
    Scene and kind words ("garden", "bird") add label evidence from ``assets/scene_lexicon.json``
    (:mod:`lifelog.recall.scenes`). A text-bearing object with a complement ("the sign for the
    train station", "the signpost to the Sports Centre") is about the words on it: the words are
    also looked up in the OCR on their own (:attr:`text_query`). ``lexicon=False`` scores
    without the scene and kind words (``RecallStrategy.lexicon``: bench/recall.py --no-lexicon).
    """

    def __init__(self, subject: str, lexicon: bool = True) -> None:
        from lifelog.encoders import get_text_encoder, get_visual_encoder
        from lifelog.recall.scenes import get_lexicon

        venc = get_visual_encoder()
        tenc = get_text_encoder()
        lex_table = get_lexicon(venc.label_names) if lexicon else None
        self.subject = subject
        self.head = head_noun(subject)
        parts = noun_chunks(subject)
        # "the sign for the train station": the words after the text-bearing object are what
        # was written, looked up in the OCR on their own as well as with the object.
        self.text_query: str | None = None
        if len(parts) > 1 and _head(parts[0][0]) in TEXT_BEARERS and parts[1][1] in _ABOUT:
            self.text_query = " ".join(c for c, _ in parts[1:])
        # Asking for signs or writing at all: any text the OCR read is evidence.
        self.wants_text = bool(parts) and len(parts) == 1 and _head(parts[0][0]) in TEXT_BEARERS | _WRITING
        # (phrase, factor): what to look for and how much a match on it is worth
        wanted: list[tuple[str, float]] = [(subject, 1.0)]
        if parts and parts[0][0] != subject.lower().strip():
            wanted.append((parts[0][0], CHUNK0_DISCOUNT))
        if self.head and self.head != subject.lower().strip():
            wanted.append((self.head, HEAD_DISCOUNT))
        for chunk, _ in parts[1:]:
            wanted.append((chunk, CHUNK_DISCOUNT))
            h = _head(chunk)
            if h and h != chunk:
                wanted.append((h, CHUNK_DISCOUNT * HEAD_DISCOUNT))
        seen: set[str] = set()
        wanted = [(p, f) for p, f in wanted if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]
        phrases = [subject] + ([self.head] if self.head and self.head != subject.lower().strip() else [])
        vecs = tenc.encode(phrases + [p for p, _ in wanted])
        self.q = vecs[0]
        self.q_head = vecs[1] if len(phrases) > 1 else None
        self.label_vectors = venc.label_vectors
        self.label_weight: dict[str, float] = {}
        self.scene_words: list[str] = []
        # Labels that are evidence of a place or activity (scene entries), not the thing itself:
        # one of them alone is a weak claim (answer.py asks for several, docs/recall.md).
        self.scene_labels: set[str] = set()
        # Labels that only stand for a kind the subject names ("musical instruments" → bassoon,
        # "animals" → tabby): a kind claimed on one of them needs it seen clearly (answer.py).
        self.kind_labels: set[str] = set()
        # Whether the classifier can see the subject at all: a label, a lexicon entry or a WordNet
        # kind names it (text similarity alone does not count).
        self.visible = False
        # Labels named by a phrase's own words or by the lexicon / WordNet (not by text similarity
        # alone): what the object detector's classes are matched against (detector_weight).
        self.named_weight: dict[str, float] = {}
        self._wanted = wanted
        for (asked, factor), asked_vec in zip(wanted, vecs[len(phrases):], strict=True):
            phrase, vec = _singular_if_unnamed(asked, asked_vec, venc.label_names, venc.label_vectors, lex_table)
            exact = _naming_weights(phrase, vec, venc.label_names, venc.label_vectors, by_similarity=False)
            # A word that names labels itself ("sign" → street sign, "car") keeps them; the WordNet
            # kinds are for general words, which name none or few of their classes by their own
            # words ("animal", "furniture"; "vehicle" names "recreational vehicle" of 67).
            lex = lex_table.weights(phrase, _head(phrase)) if lex_table is not None else None
            if lex is not None and exact and lex_table is not None and len(lex) < KIND_BREADTH * len(exact):
                lex = lex_table.weights(phrase, _head(phrase), kinds=False)
            named = _naming_weights(phrase, vec, venc.label_names, venc.label_vectors, by_similarity=lex is None)
            if lex is not None or exact:
                self.visible = True
            place = lex is not None and lex_table is not None and any(
                e.kind == "scene" for e in lex_table.match(phrase, _head(phrase)))
            # A place's cues (a cup for "kitchen", a cat for "zoo") are not the place itself, and the
            # last word of "man with a bow tie in a car" is not what it asks for (its chunks count).
            kind = lex if lex is not None and not place and _head(phrase) == _singular(head_noun(phrase)) else {}
            for name, w in {**exact, **kind}.items():
                self.named_weight[name] = max(self.named_weight.get(name, 0.0), w * factor)
            if lex is not None:
                self.scene_words.append(phrase)
                if lex_table is not None and any(e.kind == "scene" for e in lex_table.match(phrase, _head(phrase))):
                    self.scene_labels |= set(lex)
                elif not exact and factor == 1.0:
                    self.kind_labels |= set(lex)
                for name, w in lex.items():
                    named[name] = max(named.get(name, 0.0), w)
            elif lex_table is not None:
                for name, w in lex_table.siblings(named).items():
                    named[name] = max(named.get(name, 0.0), w)
            for name, w in named.items():
                self.label_weight[name] = max(self.label_weight.get(name, 0.0), w * factor)

        if not self.visible and lex_table is not None:  # any content word the models see ("rocket" of "rocket launch")
            label_words = _label_words(tuple(venc.label_names))[0]
            for asked in {w for w in _WORD.findall(subject.lower()) if w not in _STOP and len(w) > 1}:
                # (not the "s" of "Grandma's"); a plural as its singulars: "buses" as "bus"
                if any(lex_table.knows(word) or any(word in ws for ws in label_words)
                       for word in (asked, _singular(asked), *singular_forms(asked))):
                    self.visible = True
                    break

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

    @functools.cached_property
    def detector_weight(self) -> dict[str, float]:
        """Object-detector label → how much it is what the subject asks for (0..1), for the labels
        at :data:`DETECT_WEIGHT_MIN` or more. A label counts by its own words ("book", "person",
        "bike" of "bicycle" through WordNet) or by the share of the ImageNet classes it stands for
        that the subject names (:func:`lifelog.objects.detect.detector_classes`: "animals" names
        every cat and dog class, "tiger" one cat class of 13)."""
        from lifelog.objects.detect import detector_classes

        out: dict[str, float] = {}
        for label, classes in detector_classes().items():
            w = max((f for p, f in self._wanted if p == label or _singular(head_noun(p)) == label), default=0.0)
            if classes:
                w = max(w, sum(min(1.0, self.named_weight.get(c, 0.0)) for c in classes) / len(classes))
            if w >= DETECT_WEIGHT_MIN:
                out[label] = w
        return out

    @property
    def naming_labels(self) -> list[str]:
        """Labels that name the subject, strongest first (for the exact label candidate path)."""
        return [k for k, _ in sorted(self.label_weight.items(), key=lambda kv: -kv[1])]


def _naming_weights(phrase: str, vec: NDArray[Any], names: list[str], label_vectors: NDArray[Any],
                    by_similarity: bool = True) -> dict[str, float]:
    """Labels ``phrase`` names, with their weights, in label order: 1.0 for a label whose words
    hold the phrase's and whose head noun is the phrase's ("cat" names "Egyptian cat"; "tiger"
    does not name "tiger cat"); with ``by_similarity``, a weight from the text similarity for the
    others above :data:`LABEL_SIM_FLOOR`. Only the labels with the phrase's head noun are looked
    at for the words (a few of the thousand, not all: a question builds several of these)."""
    words = _words(phrase) - _STOP
    head = _head(phrase)
    name_words, _ = _label_words(tuple(names))
    exact = {i for i in _label_heads(tuple(names)).get(head, ()) if words and words <= name_words[i]}
    sims = label_vectors @ vec
    near = set(np.flatnonzero(sims >= LABEL_SIM_FLOOR).tolist()) if by_similarity else set()
    out: dict[str, float] = {}
    for i in sorted(exact | near):
        w = 1.0 if i in exact else float(min(1.0, (sims[i] - LABEL_SIM_FLOOR) / (1.0 - LABEL_SIM_FLOOR) + 0.5))
        if w > 0:
            out[names[i]] = w
    return out


@functools.lru_cache(maxsize=4)
def _label_heads(names: tuple[str, ...]) -> dict[str, list[int]]:
    """Head noun → the labels (indices) with it, once per label set."""
    out: dict[str, list[int]] = {}
    for i, h in enumerate(_label_words(names)[1]):
        out.setdefault(h, []).append(i)
    return out


def _singular_if_unnamed(phrase: str, vec: NDArray[Any], names: list[str], label_vectors: NDArray[Any],
                         lex_table: Any) -> tuple[str, NDArray[Any]]:
    """``phrase`` with its last word made singular when, as asked, it names no label at all —
    by its words, the lexicon or text similarity ("rockets" → "rocket"). A plural that names
    something itself keeps its own meaning ("glasses" names sunglasses; "glass" would name a
    beer glass), so the singular is only a fallback."""
    words = phrase.split()
    forms = singular_forms(words[-1]) if words else []
    if not forms:
        return phrase, vec
    if _naming_weights(phrase, vec, names, label_vectors, by_similarity=True):
        return phrase, vec
    if lex_table is not None and lex_table.weights(phrase, _head(phrase)) is not None:
        return phrase, vec
    from lifelog.encoders import get_text_encoder

    variants = [" ".join([*words[:-1], f]) for f in forms]
    for variant, v in zip(variants, get_text_encoder().encode(variants), strict=True):
        if _naming_weights(variant, v, names, label_vectors, by_similarity=True) or (
                lex_table is not None and lex_table.weights(variant, _head(variant)) is not None):
            return variant, v
    return phrase, vec


@functools.lru_cache(maxsize=4)
def _label_words(names: tuple[str, ...]) -> tuple[list[set[str]], list[str]]:
    """Each label name's words and head noun, worked out once per label set (not per question)."""
    return [_words(n) for n in names], [_head(n) for n in names]


_CUT = {
    "on", "in", "at", "with", "of", "by", "near", "from", "under", "behind", "saying", "that",
    "which", "who", "holding", "wearing", "for", "to", "called", "named", "next", "beside", "across",
    "around", "along", "through", "into", "inside", "outside", "over", "reading", "says", "about",
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


def noun_chunks(phrase: str) -> list[tuple[str, str]]:
    """The noun chunks of a subject, split at prepositions/clause words and "and", each with the
    word that came before it ("" for the first): "man with a camera on a tripod" →
    [("man", ""), ("camera", "with"), ("tripod", "on")]."""
    out: list[tuple[str, str]] = []
    cur: list[str] = []
    before = ""
    for t in _WORD.findall(phrase.lower()):
        if t in _CUT or t == "and":
            if cur:
                out.append((" ".join(cur), before))
                cur = []
                before = t
            elif not out:
                before = t
            continue
        if t in _STOP:
            continue
        cur.append(t)
    if cur:
        out.append((" ".join(cur), before))
    return out


def _singular(w: str) -> str:
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith(("ches", "shes", "sses", "xes")):
        return w[:-2]
    if len(w) > 2 and w.endswith("s") and not w.endswith(("ss", "us", "is")):  # not "bus", "tennis"
        return w[:-1]
    return w


def _head(text: str) -> str:
    toks = _WORD.findall(text.lower())
    return _singular(toks[-1]) if toks else ""


_STOP = {"a", "an", "the", "my", "of", "some", "any", "to", "at", "in", "on"}





def label_mass(weights: dict[str, float], labels: pa.Array | pa.ChunkedArray, scores: pa.Array | pa.ChunkedArray
               ) -> NDArray[np.float32]:
    """Σ weight·probability of each row's labels (vectorised over list columns; empty rows give 0)."""
    lab = labels.combine_chunks() if isinstance(labels, pa.ChunkedArray) else labels
    sco = scores.combine_chunks() if isinstance(scores, pa.ChunkedArray) else scores
    n = len(lab)
    if n == 0 or not weights:
        return np.zeros(n, dtype=np.float32)
    names = list(weights)
    w = np.asarray([weights[k] for k in names], dtype=np.float32)
    flat = lab.flatten()
    idx = pc.index_in(flat, value_set=pa.array(names, type=flat.type))
    idx_np = np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    p = np.asarray(sco.flatten().fill_null(0).to_numpy(zero_copy_only=False), dtype=np.float32)
    contrib = np.where(idx_np >= 0, w[np.maximum(idx_np, 0)], np.float32(0.0)) * p[: len(idx_np)]
    offsets = np.asarray(lab.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    if lab.offset != 0 or offsets[0] != 0:  # a sliced array: make offsets relative to flatten()
        offsets = offsets - offsets[0]
    out = np.zeros(n, dtype=np.float32)
    if len(contrib):
        cs = np.concatenate([[0.0], np.cumsum(contrib, dtype=np.float64)])
        out = (cs[offsets[1:]] - cs[offsets[:-1]]).astype(np.float32)
    return out


def frame_scores(scorer: Scorer, semantic: NDArray[Any], labels: pa.Array | pa.ChunkedArray | list[list[str]],
                 scores: pa.Array | pa.ChunkedArray | list[list[float]]) -> NDArray[np.float32]:
    """Score of each frame = max(label score, calibrated semantic score)."""
    la = labels if isinstance(labels, pa.Array | pa.ChunkedArray) else pa.array(labels, type=pa.list_(pa.string()))
    sa = scores if isinstance(scores, pa.Array | pa.ChunkedArray) else pa.array(scores, type=pa.list_(pa.float32()))
    n = len(la)
    sem = scorer.semantic(semantic) if len(semantic) else np.zeros(n, dtype=np.float32)
    lab = np.minimum(1.0, 2.0 * label_mass(scorer.label_weight, la, sa))
    return np.maximum(lab, sem).astype(np.float32)


FUNCTION_WORDS = frozenset(_STOP | _CUT)  # words never corrected as misspellings (answer._spelled)
