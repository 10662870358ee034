"""Who spoke: attribute an utterance to a person from the faces seen while it was said.

The rule (precision first — a wrong name is worse than "unknown speaker"):

    an utterance is attributed to person P when, among the faces detected in the frames
    sampled between ``start - tolerance`` and ``end + tolerance``, **every** face belongs to
    P — exactly one known person is visible and no unidentified face is.

Frames are sampled about every 2 s (``capture.sample_interval_s``), so ``tolerance_s``
(default 1 s) lets a short utterance between two samples see its neighbours. Otherwise the
speaker is ``None`` ("unknown speaker"): nobody visible (the wearer speaking, or someone off
camera), two or more people, or a face not yet assigned to a person.

A better cue where it is available — the mouth movement of each visible face (from face
landmarks) correlated with voice activity — can replace the rule per utterance; the function
takes plain rows so that signal can be added without changing callers (docs/speech.md).

People change after import (naming, merging, splitting clusters): :func:`reattribute` recomputes
``speaker_id`` for stored utterances from the current ``faces`` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lifelog.store.db import Store
from lifelog.store.sql import sql_str


@dataclass(frozen=True)
class FaceSighting:
    t: datetime
    person_id: str | None


def _sightings(faces: Iterable[Mapping[str, Any] | FaceSighting]) -> list[FaceSighting]:
    out = []
    for f in faces:
        if isinstance(f, FaceSighting):
            out.append(f)
        elif f.get("t") is not None:
            out.append(FaceSighting(f["t"], f.get("person_id")))
    return out


def attribute_speaker(
    start: datetime,
    end: datetime,
    faces: Iterable[Mapping[str, Any] | FaceSighting],
    tolerance_s: float = 1.0,
) -> str | None:
    """The person_id of the one known person visible during [start, end], else ``None``.

    ``faces`` are rows of the ``faces`` table (``t``, ``person_id``) or :class:`FaceSighting`;
    rows outside the span are ignored, so a whole media's faces can be passed.
    """
    lo = start - timedelta(seconds=tolerance_s)
    hi = end + timedelta(seconds=tolerance_s)
    people: set[str] = set()
    for f in _sightings(faces):
        if lo <= f.t <= hi:
            if not f.person_id:
                return None  # someone we cannot name is in view: they might be the speaker
            people.add(f.person_id)
    return next(iter(people)) if len(people) == 1 else None


def media_faces(store: Store, media_id: str) -> list[FaceSighting]:
    rows = store.rows("faces", f"media_id = {sql_str(media_id)}", columns=["t", "person_id"]).to_pylist()
    return sorted(_sightings(rows), key=lambda f: f.t)


def reattribute(store: Store, media_id: str | None = None, tolerance_s: float = 1.0) -> int:
    """Recompute ``speaker_id`` of stored utterances (one media, or all); returns how many changed."""
    where = f"media_id = {sql_str(media_id)}" if media_id else None
    rows = store.rows("utterances", where, columns=["id", "media_id", "start", "end", "speaker_id"]).to_pylist()
    faces_of: dict[str, list[FaceSighting]] = {}
    changed = 0
    for r in rows:
        mid = r["media_id"]
        if mid not in faces_of:
            faces_of[mid] = media_faces(store, mid)
        who = attribute_speaker(r["start"], r["end"], faces_of[mid], tolerance_s)
        if who != r.get("speaker_id"):
            store.table("utterances").update(
                where=f"id = {sql_str(r['id'])}", values={"speaker_id": who}
            )
            changed += 1
    return changed
