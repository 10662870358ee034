"""A place takes the name of a sign read there when one stands out (docs/places.md).

The text read in a place's episodes (``ocr`` rows, decrypted in memory only, never written) is
normalised line by line; each frame's headline is compared across the place's episodes
(:func:`sign_name`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from lifelog.store.db import Store
from lifelog.store.sql import sql_in
from lifelog.store.vault import Vault

MIN_SCORE = 0.7  # recogniser confidence of a line
BIG = 0.8  # lines this tall (share of the tallest in the frame) are in large letters
_SPACE = re.compile(r"\s+")


def _clean(text: str) -> str | None:
    t = _SPACE.sub(" ", text).strip(" .,:;-_|'\"")
    letters = sum(c.isalpha() for c in t)
    if letters < 3 or len(t) > 40 or any(c.isdigit() for c in t[:1]):
        return None
    return t


def sign_name(store: Store, vault: Vault, episodes: Sequence[str], min_share: float) -> str | None:
    """The sign that stands out in ``episodes``, as it was read most often; None if none does.

    Each frame's headline is its topmost line among those in the largest letters (within
    :data:`BIG` of the tallest): a sign's name is written on top and large. A headline read in
    at least ``min_share`` of the episodes (two at least, when there are two or more), and in more
    of them than any other, names the place.
    """
    if not episodes or not store.count("ocr"):
        return None
    rows = store.rows("ocr", sql_in("episode_id", list(episodes)),
                      columns=["id", "frame_id", "episode_id", "text_enc", "score", "box"]).to_pylist()
    frames: dict[str, list[tuple[float, float, str, str]]] = {}  # frame -> (y, h, text, episode)
    for r in rows:
        if (r["score"] is not None and float(r["score"]) < MIN_SCORE) or not r["box"]:
            continue
        try:
            text = _clean(vault.decrypt_text(r["text_enc"], f"ocr:{r['id']}"))
        except Exception:
            continue
        if text:
            frames.setdefault(r["frame_id"], []).append((float(r["box"][1]), float(r["box"][3]), text, r["episode_id"]))
    seen: dict[str, set[str]] = {}
    forms: dict[str, Counter[str]] = {}
    for lines in frames.values():
        tallest = max(h for _, h, _, _ in lines)
        _, _, text, ep = min(ln for ln in lines if ln[1] >= BIG * tallest)
        key = text.casefold()
        seen.setdefault(key, set()).add(ep)
        forms.setdefault(key, Counter())[text] += 1
    if not seen:
        return None
    ranked = sorted(seen.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    key, eps = ranked[0]
    n = len(set(episodes))
    if len(eps) < min(2, n) or len(eps) < min_share * n:
        return None
    if len(ranked) > 1 and len(ranked[1][1]) == len(eps):
        return None  # two signs as common: neither stands out
    return forms[key].most_common(1)[0][0]
