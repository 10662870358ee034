"""Scene and kind words → ImageNet label evidence, from ``assets/scene_lexicon.json``.

The visual encoder only knows the 1,000 ImageNet classes: no *garden*, *office*, *temple*,
*street* or *lunch*, and no generic *bird* or *flower* (only 59 bird species, two flowers). A
place or an activity shows up as the objects seen there (a garden as pots, daisies, bees and a
lawn mower; a street as street signs, traffic lights, cabs and parking meters). The lexicon
writes that knowledge down once, for general words — never for a question set:

* ``category`` entries name a kind of thing ("bird", "flower", "bicycle"): their labels count
  like a label that names the subject (weight 1 for ``strong``/``ranges``, 0.5 for ``weak``);
* ``scene`` entries are places and activities ("kitchen", "sightseeing", "driving"): their
  labels are evidence of the scene, weighted by :data:`SCENE_GAIN` because a scene's
  probability is spread over many object labels, none of them dominant.

A subject phrase matches an entry when the phrase, or its head noun, is one of the entry's
``words`` (singular or plural). A matched entry is *authoritative* for that phrase: the fuzzy
label-text similarity is not used for it, so "beach" is the seashore and sandbars of the entry,
not the lakeside a text model finds close.

Also the *sibling* rule: when a word names a fine-grained label inside a category ("robin" is
one of the bird species), the other labels of that category count at :data:`SIBLING_WEIGHT`,
since the classifier often confuses close species (a European robin is labelled "brambling").
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from lifelog.paths import REPO_ROOT

log = logging.getLogger(__name__)

LEXICON_PATH = REPO_ROOT / "assets" / "scene_lexicon.json"
WEAK_WEIGHT = 0.5  # a 'weak' label of an entry
SCENE_GAIN = 1.5  # scene label weights are multiplied by this (a label score is 2 × mass; scenes get 3 ×)
SIBLING_WEIGHT = 0.4  # other species of a category, when the subject names one of them
_WORD = re.compile(r"[a-z0-9']+")


EntryKind = Literal["scene", "category"]


class LexiconError(ValueError):
    """The lexicon file is unreadable or names labels the classifier does not have."""


@dataclass(frozen=True)
class Entry:
    kind: EntryKind
    words: tuple[str, ...]
    labels: dict[str, float]  # label -> weight before the scene gain


def _norm(text: str) -> str:
    return " ".join(_singular(w) for w in _WORD.findall(text.lower()))


def _singular(w: str) -> str:
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith(("ches", "shes", "sses", "xes")):
        return w[:-2]
    if len(w) > 2 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def load_lexicon(label_names: list[str], path: Path = LEXICON_PATH) -> list[Entry]:
    """Read and check the lexicon against the classifier's ``label_names`` (1,000 ImageNet lemmas).

    Raises :class:`LexiconError` with the file and the problem for a broken file or a label the
    classifier does not have (a typo would otherwise silently never match).
    """
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
        raw = doc["entries"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LexiconError(f"{path}: unreadable scene lexicon ({exc})") from exc
    known = set(label_names)
    out = []
    for i, e in enumerate(raw):
        kind = e.get("kind")  # checked to be an EntryKind just below
        if kind not in get_args(EntryKind) or not e.get("words"):
            raise LexiconError(f"{path}: entry {i} needs kind scene|category and words")
        labels: dict[str, float] = {}
        for a, b in e.get("ranges", []):
            if not 0 <= a <= b < len(label_names):
                raise LexiconError(
                    f"{path}: entry {i} ({e['words'][0]}): range {a}-{b} is outside 0-{len(label_names) - 1}"
                )
            for k in range(a, b + 1):
                labels[label_names[k]] = 1.0
        for tier, w in (("strong", 1.0), ("weak", WEAK_WEIGHT)):
            for lab in e.get(tier, []):
                if lab not in known:
                    raise LexiconError(f"{path}: entry {i} ({e['words'][0]}): {lab!r} is not an ImageNet label")
                labels[lab] = max(labels.get(lab, 0.0), w)
        out.append(Entry(kind, tuple(_norm(w) for w in e["words"]), labels))
    return out


class Lexicon:
    """The loaded lexicon with its word index (built once per process, see :func:`get_lexicon`)."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self.by_word: dict[str, list[Entry]] = {}
        for e in entries:
            for w in e.words:
                self.by_word.setdefault(w, []).append(e)
        self.categories = [e for e in entries if e.kind == "category"]

    def match(self, phrase: str, head: str) -> list[Entry]:
        """Entries for a phrase: by the whole phrase first, else by its head noun."""
        whole = self.by_word.get(_norm(phrase))
        if whole:
            return whole
        return self.by_word.get(_norm(head), []) if head else []

    def weights(self, phrase: str, head: str) -> dict[str, float] | None:
        """Label weights (scene gain applied) for a phrase, or None when no entry matches it."""
        found = self.match(phrase, head)
        if not found:
            return None
        out: dict[str, float] = {}
        for e in found:
            gain = SCENE_GAIN if e.kind == "scene" else 1.0
            for lab, w in e.labels.items():
                out[lab] = max(out.get(lab, 0.0), w * gain)
        return out

    def siblings(self, named: dict[str, float]) -> dict[str, float]:
        """Other labels of a category one of whose labels is named with full weight."""
        strong = {k for k, v in named.items() if v >= 1.0}
        out: dict[str, float] = {}
        for e in self.categories:
            if strong & {k for k, v in e.labels.items() if v >= 1.0} and len(e.labels) > 1:
                for lab in e.labels:
                    if lab not in named:
                        out[lab] = SIBLING_WEIGHT
        return out


_lock = threading.Lock()
_cache: dict[tuple[str, int], Lexicon] = {}


def get_lexicon(label_names: list[str], path: Path = LEXICON_PATH) -> Lexicon | None:
    """The shared lexicon for these labels; ``None`` (with a logged warning) when the file is
    missing or broken, so recall degrades to labels and vectors instead of failing."""
    key = (str(path), len(label_names))
    with _lock:
        lex = _cache.get(key)
        if lex is None:
            try:
                lex = Lexicon(load_lexicon(label_names, path))
            except LexiconError as e:
                log.warning("scene words are off: %s", e)
                return None
            _cache[key] = lex
        return lex
