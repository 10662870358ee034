"""Word normalisation for the blind keyword index (speech and OCR), recall and the WER benchmark.

One function decides what counts as "the same word", so a word typed in a question, a word in
the blind index and a word scored by ``bench/speech.py`` are compared the same way:

* Unicode NFKC, case-folded, accents removed ("Café" → "cafe");
* split on anything that is not a letter or digit (hyphens and apostrophes split words:
  "ill-disposed" → "ill", "disposed"; "Sam's" → "sam", "s" — the lone "s" is a stop word);
* numbers: Whisper writes "10" where someone said "ten", so integers 0–99 are spelled out
  ("10" → "ten", "42" → "forty two"); larger numbers stay digits;
* a few spoken forms Whisper abbreviates: "Mr." → "mister", "Mrs." → "missus", "Dr." → "doctor".

:func:`index_terms` adds a light stem (plural "s"/"es"/"ies" removed) for the index, so
"tickets" in speech is found by "ticket" in a question.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_SPLIT = re.compile(r"[^\w]+|_+")
_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ABBREV = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ok": "okay"}

#: Words too common to be worth indexing (and too revealing of the index's frequency pattern).
STOP_WORDS = frozenset(
    [
        "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as",
        "is", "am", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those",
        "there", "here", "i", "me", "my", "we", "us", "our", "you", "your", "he", "him", "his", "she", "her", "they",
        "them", "their", "s", "t", "d", "ll", "re", "ve", "m", "o", "do", "does", "did", "so", "not", "no", "yes",
        "uh", "um", "oh", "ah", "hmm"
    ]
)


def _number_words(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    tens, ones = divmod(n, 10)
    return [_TENS[tens]] + ([_ONES[ones]] if ones else [])


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """Normalised words of ``text``, in order (stop words kept)."""
    s = _strip_accents(unicodedata.normalize("NFKC", text).casefold())
    out: list[str] = []
    for tok in _SPLIT.split(s):
        if not tok:
            continue
        if tok.isdigit():
            n = int(tok)
            out.extend(_number_words(n) if n < 100 else [str(n)])
            continue
        out.append(_ABBREV.get(tok, tok))
    return out


def stem(word: str) -> str:
    """A light English stem: plural endings only (enough for "ticket"/"tickets")."""
    w = word
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("ches", "shes", "sses", "xes", "zes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def index_terms(text: str) -> set[str]:
    """The distinct terms an utterance is indexed under: stems of its non-stop words."""
    return {stem(w) for w in words(text) if w not in STOP_WORDS}


def query_terms(query: str | Sequence[str]) -> list[str]:
    """The terms a keyword query must all match (AND), in query order, de-duplicated."""
    text = query if isinstance(query, str) else " ".join(query)
    seen: dict[str, None] = {}
    for w in words(text):
        if w not in STOP_WORDS:
            seen.setdefault(stem(w), None)
    return list(seen)
