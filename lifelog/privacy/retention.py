"""Retention: each kind of memory kept only as long as the user's rules say
(:class:`lifelog.config.RetentionSettings`), oldest first, judged by when it was recorded.

* **everything** older than the limit is forgotten for good, by the same code as ``forget``;
* **copied footage** (kept originals under ``<data>/originals``) is shredded; the memory of it
  (episodes, frames, thumbnails) stays, and the app says the original is no longer there;
* **pictures**: thumbnails/keyframes are shredded from the vault and unlinked from their frames
  and episodes (labels, vectors and times stay, so questions still find the moment);
* **transcripts**: utterances and their blind-index terms go (the file is not transcribed again);
* **faces**: face rows and crops go; a person left without any face goes too;
* **strangers' faces** (``stranger_faces_days``, 90 by default): the same, for faces of nobody
  the user named (not assigned, or assigned to a person without a name); their age counts from
  the later of when they were recorded and when their footage was imported, so importing last
  year's footage never drops its faces before the user could name anyone in it;
* **the trash**: episodes moved to the trash more than ``trash_days`` ago are forgotten for good
  (:mod:`lifelog.privacy.trash`).

:func:`plan_retention` counts what would go (the preview); :func:`apply_retention` does it
under the caller's write lock, then removes old LanceDB versions so nothing survives on disk,
and records counts (never what) in the audit log as a ``purge``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lifelog.config import RetentionSettings
from lifelog.privacy import audit, trash
from lifelog.privacy.forget import (
    ForgetPlan,
    ForgetRequest,
    apply_forget,
    delete_blobs,
    plan_forget,
)
from lifelog.store.db import Store
from lifelog.store.files import shred_file
from lifelog.store.originals import encrypted_path, kept_copy
from lifelog.store.scratch import clear_private
from lifelog.store.sql import sql_in, sql_str, ts_literal
from lifelog.store.vault import Vault

CHUNK = 500


@dataclass
class RetentionPlan:
    """What the rules would remove now, by kind (counts), and the cut-off of each rule."""

    now: datetime
    cutoffs: dict[str, str] = field(default_factory=dict)
    forget: ForgetPlan | None = None  # everything older than the limit
    originals: list[str] = field(default_factory=list)  # media ids whose kept copy goes
    thumbnails: int = 0
    utterances: int = 0
    faces: int = 0
    stranger_faces: int = 0
    trash: list[str] = field(default_factory=list)  # episodes whose time in the trash is over
    # episodes past the pictures' cut-off still listing thumbnails: none after a finished run;
    # some after a run killed between shredding the pictures and unlinking them (finished now)
    episode_pictures: int = 0

    def counts(self) -> dict[str, int]:
        out = {"episodes": len(self.forget.episodes) if self.forget else 0, "originals": len(self.originals),
               "thumbnails": self.thumbnails, "utterances": self.utterances, "faces": self.faces}
        if "stranger_faces" in self.cutoffs:  # only when that rule is set
            out["stranger_faces"] = self.stranger_faces
        return out

    def is_empty(self) -> bool:
        return not any(self.counts().values()) and not self.trash and not self.episode_pictures

    def describe(self) -> str:
        names = {"episodes": "episodes forgotten", "originals": "copied files shredded",
                 "thumbnails": "pictures", "utterances": "things said", "faces": "faces",
                 "stranger_faces": "faces of strangers"}
        parts = [f"{n} {names[k]}" for k, n in self.counts().items() if n]
        if self.trash:
            parts.append(f"{len(self.trash)} episode{'s' if len(self.trash) != 1 else ''} from the trash")
        return "retention will remove " + ", ".join(parts) if parts else "retention: nothing is due"

    def to_json(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "cutoffs": self.cutoffs, "counts": self.counts(),
                "trash": len(self.trash), "summary": self.describe()}


def _cutoff(now: datetime, days: int | None) -> datetime | None:
    return now - timedelta(days=days) if days else None


def plan_retention(store: Store, rules: RetentionSettings, now: datetime) -> RetentionPlan:
    store.refresh()
    plan = RetentionPlan(now)
    if (c := _cutoff(now, rules.everything_days)) is not None:
        plan.cutoffs["everything"] = c.isoformat()
        fp = plan_forget(store, ForgetRequest("range", start=None, end=c))
        plan.forget = fp if not fp.is_empty() else None
    if (c := _cutoff(now, rules.originals_days)) is not None:
        plan.cutoffs["originals"] = c.isoformat()
        rows = store.rows("media", f"capture_start < {ts_literal(c)}", columns=["id", "path"]).to_pylist()
        plan.originals = [r["id"] for r in rows if _kept_copy(store.data_dir, r.get("path"))]
    if (c := _cutoff(now, rules.thumbnails_days)) is not None:
        plan.cutoffs["thumbnails"] = c.isoformat()
        plan.thumbnails = store.count("frames", f"t < {ts_literal(c)} AND thumb_id IS NOT NULL")
        plan.episode_pictures = store.count("episodes", f"`end` < {ts_literal(c)} AND array_length(thumb_ids) > 0")
    if (c := _cutoff(now, rules.transcripts_days)) is not None:
        plan.cutoffs["transcripts"] = c.isoformat()
        plan.utterances = store.count("utterances", f"start < {ts_literal(c)}")
    if (c := _cutoff(now, rules.faces_days)) is not None:
        plan.cutoffs["faces"] = c.isoformat()
        plan.faces = store.count("faces", f"t < {ts_literal(c)}")
    if (c := _cutoff(now, rules.stranger_faces_days)) is not None:
        plan.cutoffs["stranger_faces"] = c.isoformat()
        plan.stranger_faces = store.count("faces", _strangers_before(store, c))
    plan.cutoffs["trash"] = (now - timedelta(days=rules.trash_days)).isoformat()
    plan.trash = [e for b in trash.expired(store, rules.trash_days, now) for e in b.episodes]
    return plan


def apply_retention(store: Store, vault: Vault, plan: RetentionPlan) -> RetentionPlan:
    """Carry out ``plan`` (the caller holds the write lock); returns it, counts as done."""
    if plan.forget is not None:
        apply_forget(store, vault, plan.forget)
    if plan.originals:
        rows = store.rows("media", sql_in("id", plan.originals), columns=["path"]).to_pylist()
        for r in rows:
            if _kept_copy(store.data_dir, r.get("path")):  # the encrypted copy, and a plaintext one a crash left
                for p in {encrypted_path(Path(r["path"])), Path(r["path"])}:
                    shred_file(p)
        clear_private(store.data_dir)  # decrypted copies given out for playing
    if "thumbnails" in plan.cutoffs and (plan.thumbnails or plan.episode_pictures):
        # pictures are shredded first, then unlinked: killed in between, the rows still match the
        # cut-off and the next run (start-up, the nightly pass) finishes; never the other way
        # round, which would leave bytes no run finds again
        cut = ts_literal(datetime.fromisoformat(plan.cutoffs["thumbnails"]))
        ids = store.rows("frames", f"t < {cut} AND thumb_id IS NOT NULL", columns=["thumb_id"])
        gone = ids.column("thumb_id").to_pylist()
        delete_blobs(vault, gone)
        _unlink_straddling(store, cut, set(gone))  # before the frames lose theirs: a rerun still knows them
        store.table("frames").update(where=f"t < {cut}", values={"thumb_id": None})
        store.table("episodes").update(where=f"`end` < {cut}",
                                       values_sql={"thumb_ids": "arrow_cast(make_array(), 'List(Utf8)')"})
    if "transcripts" in plan.cutoffs and plan.utterances:
        cut = ts_literal(datetime.fromisoformat(plan.cutoffs["transcripts"]))
        store.delete("utterance_terms", f"start < {cut}")
        store.delete("utterances", f"start < {cut}")
    if "faces" in plan.cutoffs and plan.faces:
        cut = ts_literal(datetime.fromisoformat(plan.cutoffs["faces"]))
        crops = store.rows("faces", f"t < {cut}", columns=["crop_id"]).column("crop_id").to_pylist()
        delete_blobs(vault, crops)
        store.delete("faces", f"t < {cut}")
        _drop_people_without_faces(store)
    if "stranger_faces" in plan.cutoffs and plan.stranger_faces:
        where = _strangers_before(store, datetime.fromisoformat(plan.cutoffs["stranger_faces"]))
        delete_blobs(vault, store.rows("faces", where, columns=["crop_id"]).column("crop_id").to_pylist())
        store.delete("faces", where)
        _drop_people_without_faces(store)
    if plan.trash:  # forgotten for good by the forget code (its own audit entry, target "trash")
        trash_cut = datetime.fromisoformat(plan.cutoffs["trash"])
        trash.purge(store, vault, [b for b in trash.batches(store) if b.at < trash_cut])
    if any(plan.counts().values()) or plan.episode_pictures:
        store.compact()
    if any(plan.counts().values()):
        audit.record(store.data_dir, "purge", plan.counts(), target="retention")
    return plan


def _unlink_straddling(store: Store, cut: str, gone: set[str]) -> None:
    """Episodes that began before the pictures' cut-off and end after it keep only their later
    pictures: the ids of the shredded ones are taken out of their list (an episode never points
    at a picture that is no longer there)."""
    rows = store.rows("episodes", f"start < {cut} AND `end` >= {cut} AND array_length(thumb_ids) > 0",
                      columns=["id", "thumb_ids"]).to_pylist()
    for r in rows:
        kept = [t for t in r["thumb_ids"] if t not in gone]
        if len(kept) == len(r["thumb_ids"]):
            continue
        items = ", ".join(sql_str(t) for t in kept)
        store.table("episodes").update(where=f"id = {sql_str(r['id'])}",
                                       values_sql={"thumb_ids": f"arrow_cast(make_array({items}), 'List(Utf8)')"})


def _drop_people_without_faces(store: Store) -> None:
    with_faces = set(store.rows("faces", "person_id IS NOT NULL", columns=["person_id"])
                     .column("person_id").to_pylist())
    people = store.rows("people", "merged_into IS NULL", columns=["id"]).column("id").to_pylist()
    gone = [p for p in people if p not in with_faces]
    for i in range(0, len(gone), CHUNK):
        store.delete("people", sql_in("id", gone[i:i + CHUNK]))


def _strangers_before(store: Store, cut: datetime) -> str:
    """Faces of nobody the user named, recorded **and** imported before ``cut``: footage imported
    recently keeps its faces for the whole period, however old it is, so the user can name people
    first (a media row without an import time counts as imported when it was recorded)."""
    rows = store.rows("people", "name_enc IS NOT NULL", columns=["id", "name_enc"]).to_pylist()
    named = [r["id"] for r in rows if r["name_enc"]]
    mine = f" AND NOT ({sql_in('person_id', named)})" if named else ""
    recent = store.rows("media", f"imported_at >= {ts_literal(cut)}", columns=["id"]).column("id").to_pylist()
    fresh = f" AND NOT ({sql_in('media_id', recent)})" if recent else ""
    return f"t < {ts_literal(cut)}{fresh} AND (person_id IS NULL OR (person_id IS NOT NULL{mine}))"


def _kept_copy(data_dir: Path, path: str | None) -> bool:
    """A copy lifelog keeps under ``<data>/originals`` (encrypted) is there for this path."""
    return kept_copy(data_dir, path) is not None

