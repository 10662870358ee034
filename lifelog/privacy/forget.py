"""Forget for good: an episode, a day, a range, a person, a place, an object, a device, or everything.

Forgetting is planned first (:func:`plan_forget`: what would go, as counts the user confirms),
then applied (:func:`apply_forget`, under the memory's write lock):

* **rows** in every table that holds them: episodes, frames, faces, OCR lines and their blind
  index terms, utterances and their terms, transcripts, media, the descriptions and profile lines
  that mention them (:func:`lifelog.store.notes.forget_notes`), the optional image-text models'
  vector tables; for a person also their ``people`` row (and rows merged into it), the undo
  log's entries that name them, and the utterances attributed to them;
* **vault blobs**: thumbnails and face crops (overwritten, then unlinked);
* **files**: kept originals under ``<data>/originals`` (never the user's own source files), the
  private folder of decrypted thumbnails; device ledgers and partial downloads (``--device``,
  ``--everything``); a forgotten device is unpaired so nothing more comes from it unless paired
  again;
* **old versions**: LanceDB keeps deleted rows in older versions and fragments, so every table is
  compacted and every old version removed (:meth:`lifelog.store.db.Store.compact`): the bytes are
  really gone from the data dir.

Crash safety: the plan (ids only, never content) is written to ``<data>/forget.pending`` before
anything is deleted; every step is idempotent, and whoever next opens the memory for writing
finishes a pending plan (:func:`finish_pending`). The audit log records that a forget happened
and how much went, never what.

A forgotten place: every episode at it (everything recorded there), and so the place itself;
places are derived again after any forget (a place with no episode left goes, docs/places.md).

A forgotten person: their faces, crops, name, what they were heard saying, and the episodes
where only they appear are gone; episodes with others stay, without them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from lifelog.encoders.vectors import vector_tables
from lifelog.graph import tables as graph_tables
from lifelog.objects.timeline import Objects
from lifelog.objects.vocabulary import match_objects
from lifelog.people.store import PeopleTables
from lifelog.places import Places
from lifelog.privacy import audit
from lifelog.sources import registry
from lifelog.sources.ledger import device_dir
from lifelog.speech.store import SPEECH_TABLES
from lifelog.store.blind_index import INDEX_KEY_BLOB
from lifelog.store.db import SCHEMAS, Store, delete_rows
from lifelog.store.files import atomic_write, shred_file
from lifelog.store.notes import forget_notes
from lifelog.store.originals import ORIGINALS, encrypted_path, is_kept
from lifelog.store.scratch import clear_private
from lifelog.store.sql import overlap_conditions, sql_in, sql_str
from lifelog.store.vault import Vault

Target = Literal["episode", "day", "range", "person", "object", "device", "everything", "trash", "place"]
PENDING = "forget.pending"
CHUNK = 500  # ids per IN (...) filter


class ForgetError(ValueError):
    """The thing to forget does not exist (an unknown id, a word that names no object)."""


@dataclass(frozen=True)
class ForgetRequest:
    """What the user asked to forget. ``value`` is the id or name; ``start``/``end`` bound a day
    or a range (``start`` None: from the beginning)."""

    target: Target
    value: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class ForgetPlan:
    """What a forget removes, by id (the journal holds exactly this)."""

    target: Target
    episodes: list[str] = field(default_factory=list)  # removed whole
    media: list[str] = field(default_factory=list)  # files none of whose episodes remain
    people: list[str] = field(default_factory=list)  # people removed (aliases merged into them too)
    devices: list[str] = field(default_factory=list)  # unpaired, ledger and partials removed
    everything: bool = False
    faces: int = 0  # counted for the preview
    utterances: int = 0
    frames: int = 0

    def counts(self) -> dict[str, int]:
        return {"episodes": len(self.episodes), "files": len(self.media), "people": len(self.people),
                "devices": len(self.devices), "frames": self.frames, "faces": self.faces,
                "utterances": self.utterances}

    def describe(self) -> str:
        """One sentence for the confirmation prompt."""
        if self.everything:
            return "this will forget everything in this memory (settings and pairings stay)"
        parts = []
        for n, one, many in ((len(self.episodes), "episode", "episodes"), (len(self.media), "file", "files"),
                             (len(self.people), "person", "people"), (self.faces, "face", "faces"),
                             (self.utterances, "thing said", "things said"),
                             (len(self.devices), "device", "devices")):
            if n:
                parts.append(f"{n} {one if n == 1 else many}")
        return "this will forget " + (", ".join(parts) if parts else "nothing (nothing matches)")

    def is_empty(self) -> bool:
        return not (self.everything or self.episodes or self.media or self.people or self.devices)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "counts": self.counts(), "summary": self.describe()}


@dataclass
class ForgetResult:
    plan: ForgetPlan
    blobs_removed: int = 0
    originals_removed: int = 0
    bytes_before: int = 0
    bytes_after: int = 0

    def to_json(self) -> dict[str, Any]:
        return {**self.plan.to_json(), "forgotten": True, "blobs_removed": self.blobs_removed,
                "originals_removed": self.originals_removed, "store_bytes_before": self.bytes_before,
                "store_bytes_after": self.bytes_after}


# ------------------------------------------------------------------------------- plan
def plan_forget(store: Store, request: ForgetRequest) -> ForgetPlan:
    """What ``request`` would forget; :class:`ForgetError` when it names nothing that exists."""
    store.refresh()
    t = request.target
    plan = ForgetPlan(t)
    if t == "everything":
        plan.everything = True
        plan.episodes = _ids(store, "episodes", None)
        plan.media = _ids(store, "media", None)
        plan.people = _ids(store, "people", None)
        plan.frames = store.count("frames")
        plan.faces = store.count("faces")
        plan.utterances = store.count("utterances")
        return plan
    episodes: set[str] = set()
    if t == "episode":
        eid = _need(request.value, "an episode id")
        if not store.count("episodes", f"id = {sql_str(eid)}"):
            raise ForgetError(f"no episode {eid!r} in this memory (see `lifelog episodes`)")
        episodes.add(eid)
    elif t in ("day", "range"):
        where = " AND ".join(overlap_conditions(request.start, request.end)) or None
        episodes.update(_ids(store, "episodes", where))
    elif t == "person":
        pid = _need(request.value, "a person id")
        if not store.count("people", f"id = {sql_str(pid)}"):
            raise ForgetError(f"no person {pid!r} in this memory (see `lifelog people`)")
        people = [pid, *_ids(store, "people", f"merged_into = {sql_str(pid)}")]
        plan.people = people
        faces = store.rows("faces", sql_in("person_id", people), columns=["episode_id"]).column("episode_id")
        plan.faces = len(faces)
        plan.utterances = store.count("utterances", sql_in("speaker_id", people))
        theirs = {e for e in faces.to_pylist() if e}
        if theirs:  # episodes where nobody else was recognised go whole
            others = store.rows("faces", f"{_in_chunks('episode_id', theirs)} AND person_id IS NOT NULL AND NOT "
                                         f"{sql_in('person_id', people)}", columns=["episode_id"])
            episodes.update(theirs - set(others.column("episode_id").to_pylist()))
    elif t == "place":  # everything recorded there; the place goes with its last episode (docs/places.md)
        place = _need(request.value, "a place id")
        if not store.count("places", f"id = {sql_str(place)}"):
            raise ForgetError(f"no place {place!r} in this memory (see `lifelog places`)")
        episodes.update(str(e) for e in store.rows("place_visits", f"place_id = {sql_str(place)}",
                                                   columns=["episode_id"]).column("episode_id").to_pylist())
    elif t == "object":
        name = _need(request.value, "an object name")
        if not match_objects(name):
            raise ForgetError(f"{name!r} is not an everyday object lifelog knows (see `lifelog objects`)")
        episodes.update(s.episode_id for s in Objects(store).timeline(name))
    elif t == "device":
        dev = _need(request.value, "a device id")
        media = _ids(store, "media", f"device = {sql_str(dev)}")
        paired = registry.get(store.data_dir, dev) is not None if _valid_device(dev) else False
        if not media and not paired and not (store.data_dir / ORIGINALS / dev).is_dir():
            raise ForgetError(f"no device {dev!r} in this memory (see `lifelog devices`)")
        plan.devices = [dev]
        if media:
            episodes.update(_ids(store, "episodes", _in_chunks("media_id", media)))
            plan.media = sorted(media)
    return _with_episodes(store, plan, episodes)


def plan_episodes(store: Store, episodes: Iterable[str], target: Target = "trash") -> ForgetPlan:
    """A plan that forgets these episodes whole (and the files left with none); ids that no
    longer exist are left out (the trash's purge, lifelog.privacy.trash)."""
    store.refresh()
    wanted = sorted(set(episodes))
    existing = set(_ids(store, "episodes", _in_chunks("id", wanted))) if wanted else set()
    return _with_episodes(store, ForgetPlan(target), existing)


def _with_episodes(store: Store, plan: ForgetPlan, episodes: set[str]) -> ForgetPlan:
    """Fill in ``plan``'s episodes, their counts, and the files none of whose episodes remain."""
    t = plan.target
    plan.episodes = sorted(episodes)
    if plan.episodes:
        plan.frames = store.count("frames", _in_chunks("episode_id", plan.episodes))
        if t != "person":
            plan.faces = store.count("faces", _in_chunks("episode_id", plan.episodes))
            plan.utterances = store.count("utterances", _in_chunks("episode_id", plan.episodes))
        touched = set(store.rows("episodes", _in_chunks("id", plan.episodes), columns=["media_id"])
                      .column("media_id").to_pylist())
        # an episode consolidation merged across a file boundary holds frames of several files
        # (lifelog.consolidate.steps.merge_fragments): a file is kept while any other episode has its frames
        touched |= set(store.rows("frames", _in_chunks("episode_id", plan.episodes), columns=["media_id"])
                       .column("media_id").to_pylist())
        kept = set(store.rows("episodes", f"{_in_chunks('media_id', touched)} AND NOT "
                                          f"{_in_chunks('id', plan.episodes)}", columns=["media_id"])
                   .column("media_id").to_pylist()) if touched else set()
        kept |= set(store.rows("frames", f"{_in_chunks('media_id', touched)} AND NOT "
                                         f"{_in_chunks('episode_id', plan.episodes)}", columns=["media_id"])
                    .column("media_id").to_pylist()) if touched else set()
        plan.media = sorted(set(plan.media) | (touched - kept))
    return plan


# ------------------------------------------------------------------------------ apply
def apply_forget(
    store: Store, vault: Vault, plan: ForgetPlan, progress: Callable[[str], None] | None = None
) -> ForgetResult:
    """Carry out ``plan``. The caller holds the memory's write lock (``Memory.forget`` does)."""
    data_dir = store.data_dir
    say = progress or (lambda _stage: None)
    res = ForgetResult(plan, bytes_before=store.bytes_on_disk())
    atomic_write(data_dir / PENDING, json.dumps(asdict(plan)).encode())
    say("removing rows")
    # Descriptions and profile lines about them go first, while the ids still resolve (docs/profile.md).
    forget_notes(store, vault, people=plan.people, episodes=plan.episodes, everything=plan.everything)
    if plan.everything:
        _forget_everything(store, vault, res)
    else:
        if plan.people:
            _forget_people(store, vault, plan.people, res)
        if plan.episodes:
            _forget_episodes(store, vault, plan.episodes, res)
        for mid in plan.media:
            _forget_media(store, vault, mid, res)
        if plan.episodes or plan.media:  # a person seen only there: their centroid is of forgotten faces
            _people_after(store, vault)
        for dev in plan.devices:
            _forget_device(data_dir, dev)
        if plan.episodes or plan.media:  # places lose those episodes; one with none left goes
            Places(store, vault).refresh()
    # the graph: every node, edge and fact about them (old versions go with _compact)
    graph_tables.forget(store, people=plan.people, episodes=plan.episodes, everything=plan.everything)
    clear_private(data_dir)
    say("removing old versions")
    _compact(store)
    res.bytes_after = store.bytes_on_disk()
    audit.record(data_dir, "forget", plan.counts(), target=plan.target)
    (data_dir / PENDING).unlink(missing_ok=True)
    say("done")
    return res


def pending_plan(data_dir: Path) -> ForgetPlan | None:
    """A forget that was interrupted (killed, power cut), to be finished."""
    try:
        doc = json.loads((data_dir / PENDING).read_text())
    except FileNotFoundError:
        return None
    except ValueError:  # torn write: the journal is written atomically, so this is not ours
        return None
    return ForgetPlan(**doc)


def finish_pending(store: Store, vault: Vault) -> ForgetResult | None:
    """Finish an interrupted forget (caller holds the write lock); None when there is none."""
    plan = pending_plan(store.data_dir)
    return apply_forget(store, vault, plan) if plan is not None else None


# ----------------------------------------------------------------------------- steps
def _forget_people(store: Store, vault: Vault, people: list[str], res: ForgetResult) -> None:
    who = sql_in("person_id", people)
    crops = store.rows("faces", who, columns=["crop_id"]).column("crop_id").to_pylist()
    res.blobs_removed += delete_blobs(vault, crops)
    store.delete("faces", who)
    said = _ids(store, "utterances", sql_in("speaker_id", people))
    for chunk in _chunks(said):
        store.delete("utterance_terms", sql_in("utterance_id", chunk))
        store.delete("utterances", sql_in("id", chunk))
    names = ", ".join(sql_str(p) for p in people)
    store.delete("person_edits", f"array_has_any(person_ids, make_array({names}))")
    store.delete("people", f"{sql_in('id', people)} OR {sql_in('merged_into', people)}")


def _people_after(store: Store, vault: Vault) -> None:
    """People whose faces all went with forgotten episodes go too (their centroid, the mean of
    those faces' descriptors, is derived from what was forgotten; so is their name's link to
    them); everyone else's centroid is recomputed from the faces they have left. Idempotent."""
    with_faces = set(store.rows("faces", "person_id IS NOT NULL", columns=["person_id"])
                     .column("person_id").to_pylist())
    people = _ids(store, "people", "merged_into IS NULL")
    gone = [p for p in people if p not in with_faces]
    for chunk in _chunks(gone):
        names = ", ".join(sql_str(p) for p in chunk)
        store.table("utterances").update(where=sql_in("speaker_id", chunk), values={"speaker_id": None})
        store.delete("person_edits", f"array_has_any(person_ids, make_array({names}))")
        store.delete("people", f"{sql_in('id', chunk)} OR {sql_in('merged_into', chunk)}")
    PeopleTables(store, vault).refresh_centroids(p for p in people if p in with_faces)


def _forget_episodes(store: Store, vault: Vault, episodes: list[str], res: ForgetResult) -> None:
    for chunk in _chunks(episodes):
        where = sql_in("episode_id", chunk)
        frames = store.rows("frames", where, columns=["id", "thumb_id"])
        res.blobs_removed += delete_blobs(vault, frames.column("thumb_id").to_pylist())
        crops = store.rows("faces", where, columns=["crop_id"]).column("crop_id").to_pylist()
        res.blobs_removed += delete_blobs(vault, crops)
        said = _ids(store, "utterances", where)
        for part in _chunks(said):
            store.delete("utterance_terms", sql_in("utterance_id", part))
        for name in ("faces", "ocr", "ocr_terms", "detections", "utterances", "utterance_terms", "place_visits"):
            store.delete(name, where)
        frame_ids = frames.column("id").to_pylist()
        for part in _chunks(frame_ids):
            for vt in vector_tables(store):
                delete_rows(store.db.open_table(vt), sql_in("id", part))  # no ids left in versions
        store.delete("frames", where)
        store.delete("episodes", sql_in("id", chunk))


def _forget_media(store: Store, vault: Vault, media_id: str, res: ForgetResult) -> None:
    """A file none of whose episodes remain: every row it left, its blobs, its kept original."""
    rows = store.rows("media", f"id = {sql_str(media_id)}", columns=["path", "device"]).to_pylist()
    where = f"media_id = {sql_str(media_id)}"
    for name in store.tables_with("media_id"):
        store.delete(name, where)
    for name in SPEECH_TABLES:
        store.delete(name, where)
    for vt in vector_tables(store):
        delete_rows(store.db.open_table(vt), where)
    store.delete("media", f"id = {sql_str(media_id)}")
    bdir = vault.root / "blobs" / media_id[:2]
    if bdir.is_dir():
        res.blobs_removed += delete_blobs(vault, [p.stem for p in bdir.glob(f"{media_id}-*.bin")])
    for r in rows:
        if is_kept(store.data_dir, r.get("path")):  # never the user's own file
            plain = Path(r["path"])  # the encrypted kept copy, and a plaintext one a crash left
            if any([shred_file(encrypted_path(plain)), shred_file(plain)]):
                res.originals_removed += 1
        if r.get("device"):
            _scrub_ledger(store.data_dir, r["device"], media_id)


def _forget_device(data_dir: Path, dev: str) -> None:
    if _valid_device(dev):
        if registry.get(data_dir, dev) is not None:
            registry.remove(data_dir, dev)
        d = device_dir(data_dir, dev)
        if d.is_dir():
            shutil.rmtree(d)
    odir = data_dir / ORIGINALS / dev
    if odir.is_dir() and not odir.is_symlink():
        for p in odir.rglob("*"):
            if p.is_file() and not p.is_symlink():
                shred_file(p)
        shutil.rmtree(odir)


def _forget_everything(store: Store, vault: Vault, res: ForgetResult) -> None:
    from lifelog.privacy.grants import clear_access_logs

    clear_access_logs(store.data_dir)  # what clients read (grants stay, like pairings)
    for name in SCHEMAS:
        store.delete(name, "true")
    for vt in vector_tables(store):
        store.db.open_table(vt).delete("true")
    blobs = vault.root / "blobs"
    if blobs.is_dir():
        ids = [p.stem for p in blobs.rglob("*.bin") if p.stem != INDEX_KEY_BLOB]
        res.blobs_removed += delete_blobs(vault, ids)
    odir = store.data_dir / ORIGINALS
    if odir.is_dir() and not odir.is_symlink():
        for p in odir.rglob("*"):
            if p.is_file() and not p.is_symlink() and shred_file(p):
                res.originals_removed += 1
        shutil.rmtree(odir)
    ddir = store.data_dir / "devices"
    if ddir.is_dir():  # ledgers and partial downloads go; pairings (settings) stay
        for d in ddir.iterdir():
            if d.is_dir() and not d.is_symlink():
                for p in d.iterdir():
                    if p.name != "device.json":
                        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def _compact(store: Store) -> None:
    from datetime import timedelta

    store.compact()  # the graph's tables too (they are the store's)
    for vt in vector_tables(store):
        store.db.open_table(vt).optimize(cleanup_older_than=timedelta(0), delete_unverified=True)


# --------------------------------------------------------------------------- helpers
def _scrub_ledger(data_dir: Path, device: str, media_id: str) -> None:
    """A device's ledger keeps that an item was taken (so the next sync does not take it again)
    but loses its name and kept path."""
    if not _valid_device(device):
        return
    path = device_dir(data_dir, device) / "ledger.json"
    try:
        doc = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    entries = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        return
    changed = False
    for e in entries.values():
        if isinstance(e, dict) and e.get("content_hash") == media_id:
            e.update(name="", path=None, status="forgotten", reason="")
            changed = True
    if changed:
        atomic_write(path, json.dumps(doc, indent=1).encode())


def delete_blobs(vault: Vault, ids: Iterable[str | None]) -> int:
    n = 0
    for b in {i for i in ids if i}:
        try:
            if vault.blob_path(b).exists():
                vault.delete(b)
                n += 1
        except ValueError:
            continue
    return n


def _ids(store: Store, table: str, where: str | None) -> list[str]:
    return [str(v) for v in store.rows(table, where, columns=["id"]).column("id").to_pylist()]


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    items = list(ids)
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def _in_chunks(column: str, ids: Iterable[str]) -> str:
    parts = [sql_in(column, c) for c in _chunks(sorted(ids))]
    return "(" + " OR ".join(parts) + ")" if parts else "false"


def _need(value: str | None, what: str) -> str:
    if not value:
        raise ForgetError(f"say which: {what}")
    return value


def _valid_device(dev: str) -> bool:
    from lifelog.sources.ledger import check_device_id

    try:
        check_device_id(dev)
    except ValueError:
        return False
    return True
