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

from lifelog.paths import REPO_ROOT, models_dir

log = logging.getLogger(__name__)

LEXICON_PATH = REPO_ROOT / "assets" / "scene_lexicon.json"
WORDNET_FILE = "imagenet_wordnet.json"  # built by models/wordnet.py beside the models
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


def load_wordnet(label_names: list[str], path: Path) -> dict[str, Entry]:
    """The WordNet kinds of the classes (``models/wordnet.py``): word → a category entry naming
    every class whose hypernym closure has that word ("animal" → 398 classes). Raises
    :class:`LexiconError` for a broken file or class indices outside the labels."""
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
        words: dict[str, list[int]] = doc["words"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LexiconError(f"{path}: unreadable WordNet kinds ({exc})") from exc
    out: dict[str, Entry] = {}
    n = len(label_names)
    for word, idx in words.items():
        if not idx or not all(isinstance(i, int) and 0 <= i < n for i in idx):
            raise LexiconError(f"{path}: {word!r} names classes outside 0-{n - 1}")
        key = _norm(word)
        e = out.get(key)
        labels = dict(e.labels) if e else {}
        labels.update({label_names[i]: 1.0 for i in idx})
        out[key] = Entry("category", (key,), labels)
    return out


class Lexicon:
    """The loaded lexicon with its word index (built once per process, see :func:`get_lexicon`).

    ``kinds`` are the WordNet categories of the classes: consulted for a phrase no lexicon entry
    matches (the lexicon's own entries, written for places and for kinds ImageNet splits finely,
    come first)."""

    def __init__(self, entries: list[Entry], kinds: dict[str, Entry] | None = None) -> None:
        self.entries = entries
        self.kinds = kinds or {}
        self.by_word: dict[str, list[Entry]] = {}
        for e in entries:
            for w in e.words:
                self.by_word.setdefault(w, []).append(e)
        self.categories = [e for e in entries if e.kind == "category"]

    def match(self, phrase: str, head: str, kinds: bool = True) -> list[Entry]:
        """Entries for a phrase: by the whole phrase first, else by its head noun; the lexicon
        first, then (with ``kinds``) the WordNet kinds."""
        whole = self.by_word.get(_norm(phrase))
        if whole:
            return whole
        if not kinds:
            return self.by_word.get(_norm(head), []) if head else []
        kind = self.kinds.get(_norm(phrase))
        if kind is not None and len(kind.labels) > 1:
            return [kind]
        found = self.by_word.get(_norm(head), []) if head else []
        if found or not head:
            return found
        kind = self.kinds.get(_norm(head))
        return [kind] if kind is not None and len(kind.labels) > 1 else []

    def knows(self, word: str) -> bool:
        """Whether ``word`` is a place or kind the lexicon or WordNet knows (any number of classes)."""
        w = _norm(word)
        return w in self.by_word or w in self.kinds

    def weights(self, phrase: str, head: str, kinds: bool = True) -> dict[str, float] | None:
        """Label weights (scene gain applied) for a phrase, or None when no entry matches it.
        ``kinds=False`` leaves the WordNet kinds out (for a word that names labels itself)."""
        found = self.match(phrase, head, kinds)
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


def wordnet_path() -> Path:
    """Where ``models/wordnet.py`` writes the WordNet kinds: beside the models."""
    return models_dir() / WORDNET_FILE


_lock = threading.Lock()
_cache: dict[tuple[str, int], Lexicon] = {}
_english: dict[str, frozenset[str]] = {}


def english_words(path: Path | None = None) -> frozenset[str]:
    """Every word of every WordNet lemma, all parts of speech, with irregular forms (the
    ``vocabulary`` that ``models/wordnet.py`` writes): words the spelling fixer must leave alone.
    Empty (with a logged warning) when the file is missing or has none."""
    p = path or wordnet_path()
    with _lock:
        got = _english.get(str(p))
        if got is None:
            try:
                doc: Any = json.loads(p.read_text(encoding="utf-8"))
                got = frozenset(str(w) for w in doc.get("vocabulary", []))
            except (OSError, ValueError, AttributeError) as e:
                log.warning("no English word list for the spelling fixer: %s", e)
                got = frozenset()
            _english[str(p)] = got
        return got


def singular_forms(word: str) -> list[str]:
    """What a plural ``word`` may be the plural of, likeliest first ("buses" → bus, buse;
    "rockets" → rocket; "berries" → berry); empty for a word that is no plural ("bus", "tennis")."""
    if len(word) < 4 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return []
    if word.endswith("ies") and len(word) > 4:
        return [word[:-3] + "y"]
    if word.endswith("es"):
        return [word[:-2], word[:-1]]
    return [word[:-1]]


def is_english(word: str) -> bool:
    """Whether ``word`` (or its singular: "buses" as "bus") is a WordNet word (:func:`english_words`)."""
    low = word.lower()
    words = english_words()
    return low in words or _singular(low) in words or any(f in words for f in singular_forms(low))


def get_lexicon(label_names: list[str], path: Path = LEXICON_PATH) -> Lexicon | None:
    """The shared lexicon for these labels; ``None`` (with a logged warning) when the file is
    missing or broken, so recall degrades to labels and vectors instead of failing."""
    key = (str(path), len(label_names))
    with _lock:
        lex = _cache.get(key)
        if lex is None:
            try:
                entries = load_lexicon(label_names, path)
            except LexiconError as e:
                log.warning("scene words are off: %s", e)
                return None
            kinds: dict[str, Entry] = {}
            wn_path = wordnet_path()
            if wn_path.exists():
                try:
                    kinds = load_wordnet(label_names, wn_path)
                except LexiconError as e:
                    log.warning("WordNet kinds are off: %s", e)
            else:
                log.warning("WordNet kinds are off: %s is missing (run packaging/setup.sh)", wn_path)
            lex = Lexicon(entries, kinds)
            _cache[key] = lex
        return lex
