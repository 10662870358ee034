"""Each episode's label peaks: every label of its frames with its highest score there.

They bound the label mass of every frame of the episode (Σ weight·score over the labels a
question names), so a question rules out, by reading one row per episode, the episodes where no
frame can clear its threshold — at a year of memories most of a weakly seen thing's ~40,000
sightings (lifelog.recall.retrieve, docs/recall.md "At a million frames"). The import writes
them with the episode; merging episodes takes the maximum; forgetting frames leaves a bound that
still holds. Memories made before them have nulls ("not known": those episodes' frames are read)
until :func:`fill_peaks` (the nightly pass's ``peaks`` step) fills them in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import pyarrow as pa

from lifelog.store.db import Store
from lifelog.store.sql import sql_in

FILL_CHUNK = 512  # episodes per read of their frames and per write


def peak_labels(
    frames: Iterable[tuple[Sequence[str] | None, Sequence[float] | None]],
) -> tuple[list[str], list[float]]:
    """The episode's ``peak_labels`` and ``peak_scores`` (lifelog.store.db.EPISODE_SCHEMA): every
    label of any of its frames (``(labels, label_scores)`` each) with its highest score, best first.

    Whatever weights a question gives its labels, no frame's mass (Σ weight·score over the
    labels it has) exceeds the same sum over these maxima, so an episode whose peaks do not clear
    a threshold has no frame that does. Merging episodes takes the maximum of their peaks
    (:func:`merge_peaks`); forgetting frames leaves a bound that is still valid."""
    best: dict[str, float] = {}
    for labels, scores in frames:
        for lab, s in zip(labels or (), scores or (), strict=False):
            v = float(s)
            if v > best.get(lab, -1.0):
                best[lab] = v
    ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
    return [k for k, _ in ranked], [v for _, v in ranked]


def merge_peaks(
    peaks: Iterable[tuple[Sequence[str] | None, Sequence[float] | None]],
) -> tuple[list[str] | None, list[float] | None]:
    """The peaks of episodes merged into one: the maximum of theirs, or ``(None, None)`` (not
    known) when any of them is not known."""
    parts = list(peaks)
    if any(labels is None or scores is None for labels, scores in parts):
        return None, None
    return peak_labels(parts)


def fill_peaks(store: Store, should_stop: Callable[[], bool] = lambda: False,
               progress: Callable[[int, int], None] | None = None) -> int:
    """Give every episode without peaks its peaks from its frames; returns how many were filled.
    An episode with no frames (audio, or every frame forgotten) gets empty peaks. Stops between
    chunks when ``should_stop()``; what was written stays (a later run does the rest)."""
    todo = store.rows("episodes", "peak_labels IS NULL", columns=["id"]).column("id").to_pylist()
    done = 0
    schema = pa.schema([store.table("episodes").schema.field(n) for n in ("id", "peak_labels", "peak_scores")])
    for a in range(0, len(todo), FILL_CHUNK):
        if should_stop():
            break
        chunk = [str(i) for i in todo[a:a + FILL_CHUNK]]
        frames = store.rows("frames", sql_in("episode_id", chunk), columns=["episode_id", "labels", "label_scores"])
        by_ep: dict[str, list[tuple[list[str] | None, list[float] | None]]] = {}
        for ep, labels, scores in zip(frames.column("episode_id").to_pylist(), frames.column("labels").to_pylist(),
                                      frames.column("label_scores").to_pylist(), strict=True):
            by_ep.setdefault(str(ep), []).append((labels, scores))
        rows = []
        for ep in chunk:
            names, values = peak_labels(by_ep.get(ep, []))
            rows.append({"id": ep, "peak_labels": names, "peak_scores": values})
        with store.write_guard():
            store.table("episodes").merge_insert("id").when_matched_update_all().execute(
                pa.Table.from_pylist(rows, schema=schema))
        done += len(chunk)
        if progress is not None:
            progress(done, len(todo))
    return done
