"""Word error rate, for the speech benchmark and tests; words are compared after
:func:`lifelog.store.terms.words` normalisation (case, punctuation, "10" = "ten")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lifelog.store.terms import words


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    prev = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        cur = [i] + [0] * len(hyp)
        r = ref[i - 1]
        for j in range(1, len(hyp) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != hyp[j - 1]))
        prev = cur
    return prev[-1]


def word_error_rate(pairs: Iterable[tuple[str, str]]) -> tuple[float, int, int]:
    """Corpus WER over (reference, hypothesis) texts: (errors / reference words, errors, words)."""
    errors = total = 0
    for ref, hyp in pairs:
        r, h = words(ref), words(hyp)
        errors += edit_distance(r, h)
        total += len(r)
    return (errors / total if total else 0.0), errors, total
