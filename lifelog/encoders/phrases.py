"""The text model's vectors for the words the models can see, worked out once (issue #18).

A question is embedded by the text model (:mod:`lifelog.encoders.text`): starting its
onnxruntime session costs a cold ``lifelog ask`` about 0.2 s of CPU and 160 MB, more than the
search. But most questions name things by the vocabulary the classifier, the object detector and
the scene lexicon already know ("a cat", "bicycles", "the gym"), so those phrases' vectors are
computed once, by the same model, and kept in a table. :meth:`TextEncoder.encode` answers from it
when every text asked for is in it, and runs the model otherwise: the vectors are the model's own,
bit for bit (a phrase's vector does not depend on the batch it is computed in; a test checks).

The table holds no user data (only the models' vocabulary) and lives in the cache folder
(:func:`lifelog.paths.cache_dir`), keyed by the text model's files (size and modification time)
and :data:`VOCABULARY_VERSION`: a different model or vocabulary makes it stale, and a stale
table is never read. It is made by ``packaging/setup.sh``, by ``lifelog service`` and by the app
once they have started (:func:`lifelog.encoders.text.ensure_phrase_table`, a few seconds), never
by a question.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

TABLE_FILE = "text-phrases.npz"
VOCABULARY_VERSION = 1


def phrase_key(text: str) -> str | None:
    """The table's key for ``text``: lower case, single spaces (what the model's uncased tokenizer
    sees alike); None for text the table never holds (not plain ASCII: accents and symbols are
    left to the model's own normaliser)."""
    if not text.isascii() or not text.isprintable():
        return None
    key = " ".join(text.lower().split())
    return key or None


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def vocabulary(models_dir: Path) -> list[str]:
    """The phrases kept, sorted: ImageNet classes' lemmas, the WordNet words that name them, the
    object detector's classes, the scene lexicon's words, and each one-word noun's plural."""
    words: set[str] = set()

    def add(items: Iterable[Any]) -> None:
        for item in items:
            key = phrase_key(str(item))
            if key is not None:
                words.add(key)

    with open(models_dir / "imagenet_labels.json", encoding="utf-8") as fh:
        for cls in json.load(fh):
            add(cls.get("lemmas", [cls.get("lemma", "")]))
    for name in ("imagenet_wordnet.json", "ssd_mobilenetv2_oidv4_labels.json"):
        try:
            with open(models_dir / name, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError):  # an optional model not built: its words are left out
            continue
        # the WordNet words naming the classes; the detector's classes (the first is "???")
        add(doc.get("words", {}) if isinstance(doc, dict) else doc[1:])
    from lifelog.paths import REPO_ROOT

    try:
        with open(REPO_ROOT / "assets" / "scene_lexicon.json", encoding="utf-8") as fh:
            for entry in json.load(fh).get("entries", []):
                add(entry.get("words", []))
    except (OSError, ValueError):
        pass
    words |= {_plural(w) for w in list(words) if " " not in w and w.isalpha()}
    return sorted(words)


def _model_stamp(model_files: Sequence[Path]) -> list[int]:
    """What the table is keyed on: the text model's files' sizes and modification times."""
    out: list[int] = [VOCABULARY_VERSION]
    for f in model_files:
        st = os.stat(f)
        out += [st.st_size, st.st_mtime_ns]
    return out


def table_path() -> Path:
    from lifelog.paths import cache_dir

    return cache_dir() / TABLE_FILE


class PhraseTable:
    """Phrase → its vector, from the table file (read once, when first needed)."""

    def __init__(self, path: Path, model_files: Sequence[Path]) -> None:
        self.path = path
        self.model_files = list(model_files)
        self._lock = threading.Lock()
        self._rows: dict[str, int] | None = None
        self._vectors: npt.NDArray[np.float32] | None = None

    def _load(self) -> dict[str, int]:
        with self._lock:
            if self._rows is None:
                self._rows = {}
                try:
                    with np.load(self.path, allow_pickle=False) as doc:
                        if doc["stamp"].tolist() == _model_stamp(self.model_files):
                            self._vectors = np.asarray(doc["vectors"], dtype=np.float32)
                            self._rows = {t: i for i, t in enumerate(doc["texts"].tolist())}
                except (OSError, ValueError, KeyError):  # none yet, or not a table: the model answers
                    pass
            return self._rows

    def lookup(self, texts: Sequence[str]) -> npt.NDArray[np.float32] | None:
        """The vectors of ``texts``, when every one is in the table; else None."""
        rows = self._load()
        if not rows or self._vectors is None:
            return None
        idx = []
        for t in texts:
            key = phrase_key(t)
            row = rows.get(key) if key is not None else None
            if row is None:
                return None
            idx.append(row)
        return self._vectors[idx].copy()


def write_table(path: Path, texts: Sequence[str], vectors: npt.NDArray[np.float32],
                model_files: Sequence[Path]) -> Path:
    """Write the table of ``texts`` and their ``vectors`` (atomically), keyed on ``model_files``."""
    from lifelog.store.files import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, texts=np.asarray(list(texts)), vectors=np.asarray(vectors, dtype=np.float32),
             stamp=np.asarray(_model_stamp(model_files)))
    atomic_write(path, buf.getvalue())
    return path


def is_current(path: Path, model_files: Sequence[Path]) -> bool:
    try:
        with np.load(path, allow_pickle=False) as doc:
            return bool(doc["stamp"].tolist() == _model_stamp(model_files))
    except (OSError, ValueError, KeyError):
        return False
