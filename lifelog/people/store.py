"""Reading and writing the ``people`` table and the people columns of the ``faces`` table.

:class:`PeopleTables` is the only place that touches those two tables for :mod:`lifelog.people`;
the rows it hands out are typed: :class:`PersonRow` (one ``people`` row), :class:`FaceRows` (faces
as arrays, for clustering) and :class:`PersonStats` (what a person's faces add up to). The edit
log (``person_edits``) is :mod:`lifelog.people.edits`.

Faces of imports that have not finished (or were killed and will be rolled back) are left out
of every read that lists or places faces: they must neither be listed nor start or join a person.

Writes are not locked here: callers hold the data dir's write lock (``lifelog.api`` does).
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lifelog.people.cluster import F32, person_centroid
from lifelog.people.types import AssignedBy, PeopleError, as_assigned_by
from lifelog.store.db import FACE_DIM, SCHEMAS, Store
from lifelog.store.sql import sql_in, sql_str
from lifelog.store.vault import Vault

PEOPLE_TABLE = "people"
FACES_TABLE = "faces"
FACE_COLUMNS = [
    "id", "frame_id", "t", "episode_id", "embedding", "quality", "seed", "person_id", "assigned_by", "crop_id",
    "model",
]

FaceAssignment = tuple[str | None, AssignedBy | None]
"""A face's ``(person_id, assigned_by)``; ``(None, None)``: no person."""


def now() -> datetime:
    """The time stamp of a write (UTC)."""
    return datetime.now(UTC)


def new_person_id() -> str:
    return uuid.uuid4().hex[:10]


@dataclass(frozen=True)
class PersonRow:
    """One row of the ``people`` table, fields in the table's column order (``PEOPLE_SCHEMA``)."""

    id: str
    name_enc: bytes | None  # the vault-encrypted name, aad "person-name:<id>"
    hidden: bool | None
    user_locked: bool | None  # a user edited this person; automatic clustering leaves it alone
    centroid: list[float] | None  # mean descriptor of the person's good faces
    updated_at: datetime | None
    created_at: datetime | None
    merged_into: str | None  # set when a user merged this person into another
    cannot_link: list[str] | None  # people a user split from this one
    model: str | None  # face model of the centroid

    @classmethod
    def new(cls, person_id: str, now: datetime, *, locked: bool, cannot_link: list[str]) -> PersonRow:
        """A person without a name or faces yet."""
        return cls(
            id=person_id, name_enc=None, hidden=False, user_locked=locked, centroid=None, updated_at=now,
            created_at=now, merged_into=None, cannot_link=cannot_link, model=None,
        )

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> PersonRow:
        """From a table row (or a snapshot of one); a column that is missing is null."""
        values: dict[str, Any] = {f.name: row.get(f.name) for f in fields(cls)}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class FaceRows:
    """Faces as arrays, one entry per face (from :meth:`PeopleTables.faces`)."""

    ids: list[str]
    frames: list[str]  # frame id (the face id when it has none): one person per frame
    t: list[datetime | None]
    episodes: list[str | None]
    emb: F32  # (n, 128); NaN rows for faces without a descriptor
    quality: npt.NDArray[np.float32]
    seed: npt.NDArray[np.bool_]
    person: list[str | None]
    by: list[AssignedBy | None]
    crop: list[str | None]
    model: list[str | None]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class PersonStats:
    """What the faces of one person add up to."""

    first: datetime | None = None
    last: datetime | None = None
    episodes: set[str] = field(default_factory=set)
    faces: int = 0
    best_score: float = -1.0
    best_crop: str | None = None  # vault blob id of the best face crop


_NameCache = dict[tuple[str, bytes], str]
# Per vault: (person id, name ciphertext) -> name. A rename writes a new ciphertext and a forgotten
# person has no row, so neither is ever answered from it; a vault that is dropped drops its names.
_NAMES: weakref.WeakKeyDictionary[Vault, _NameCache] = weakref.WeakKeyDictionary()
_NAMES_MAX = 4096


# Per open ``faces`` table: (its version, person id -> best face crop of every person with a face).
# Held in this process only (nothing on disk), read again when the table's version changes (an
# import, an edit, a forget — from any process) and dropped at once by a forget in this process
# (:func:`drop_best_crops`). It holds ids of vault blobs, never a face or a name.
_CROPS: weakref.WeakKeyDictionary[Any, tuple[int, dict[str, str | None]]] = weakref.WeakKeyDictionary()
_CROPS_LOCK = threading.Lock()


_EPISODE_CROPS: weakref.WeakKeyDictionary[Any, tuple[int, dict[tuple[str, str], str]]] = weakref.WeakKeyDictionary()
_BRIEF_ROWS: weakref.WeakKeyDictionary[Any, tuple[int, dict[str, PersonRow]]] = weakref.WeakKeyDictionary()
_BRIEF_COLUMNS = ["id", "name_enc", "hidden", "merged_into"]


def drop_best_crops() -> None:
    """Forget every cached best crop and people row of this process (a forget calls it)."""
    with _CROPS_LOCK:
        _CROPS.clear()
        _EPISODE_CROPS.clear()
        _BRIEF_ROWS.clear()


def _first_of_best(keys: npt.NDArray[Any], score: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Per distinct key: the row with the highest score, the first in table order on a tie."""
    order = np.lexsort((np.arange(len(keys)), -score, keys))
    return np.asarray(order[np.r_[True, keys[order][1:] != keys[order][:-1]]], dtype=np.int64)


def episode_crops(store: Store, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Per (person id, episode id) of ``wanted``: the crop of the person's best face (quality) in
    that episode, the first in table order on a tie; any face with a crop, as the answers' moments
    pick it. Read once per version of the faces table for every pair (held in this process)."""
    tbl = store.table(FACES_TABLE)
    version = int(tbl.version)
    with _CROPS_LOCK:
        cached = _EPISODE_CROPS.get(tbl)
    if cached is None or cached[0] != version:
        rows = store.rows(FACES_TABLE, "person_id IS NOT NULL AND episode_id IS NOT NULL AND crop_id IS NOT NULL",
                          columns=["person_id", "episode_id", "crop_id", "quality"])
        every: dict[tuple[str, str], str] = {}
        if rows.num_rows:
            pids = rows.column("person_id").combine_chunks().dictionary_encode()
            eps = rows.column("episode_id").combine_chunks().dictionary_encode()
            pc_, ec = (a.indices.to_numpy(zero_copy_only=False).astype(np.int64) for a in (pids, eps))
            keys = pc_ * len(eps.dictionary) + ec
            score = rows.column("quality").cast(pa.float64()).fill_null(0.0).to_numpy()
            firsts = _first_of_best(keys, score)
            pn, en = pids.dictionary.to_pylist(), eps.dictionary.to_pylist()
            crops = rows.column("crop_id").take(pa.array(firsts)).to_pylist()
            every = {(pn[pc_[i]], en[ec[i]]): str(c) for i, c in zip(firsts.tolist(), crops, strict=True)}
        cached = (version, every)
        with _CROPS_LOCK:
            _EPISODE_CROPS[tbl] = cached
    return {k: cached[1][k] for k in wanted if k in cached[1]}


def _brief_rows(store: Store) -> dict[str, PersonRow]:
    """Every people row's id, name ciphertext, hidden flag and merged-into (no face vectors), read
    once per version of the people table (held in this process)."""
    tbl = store.table(PEOPLE_TABLE)
    version = int(tbl.version)
    with _CROPS_LOCK:
        cached = _BRIEF_ROWS.get(tbl)
    if cached is not None and cached[0] == version:
        return cached[1]
    rows = {r["id"]: PersonRow.from_dict(r) for r in store.rows(PEOPLE_TABLE, None, columns=_BRIEF_COLUMNS).to_pylist()}
    with _CROPS_LOCK:
        _BRIEF_ROWS[tbl] = (version, rows)
    return rows


def _crops_of_all(store: Store) -> dict[str, str | None]:
    """Person id -> best face crop (highest quality + 1 for a seed; the first in table order on a
    tie, as :meth:`PeopleTables.best_crops_read` chooses), for every person with a face, read once
    per version of the faces table. The caller makes sure no import is pending and nothing is in
    the trash (then every face is shown)."""
    tbl = store.table(FACES_TABLE)
    version = int(tbl.version)
    with _CROPS_LOCK:
        cached = _CROPS.get(tbl)
    if cached is not None and cached[0] == version:
        return cached[1]
    rows = store.rows(FACES_TABLE, "person_id IS NOT NULL", columns=["person_id", "quality", "seed", "crop_id"])
    best: dict[str, str | None] = {}
    if rows.num_rows:
        pids = rows.column("person_id").combine_chunks().dictionary_encode()
        codes = pids.indices.to_numpy(zero_copy_only=False)
        quality = rows.column("quality").cast(pa.float64()).fill_null(0.0).to_numpy()
        seed = rows.column("seed").fill_null(False).to_numpy(zero_copy_only=False).astype(np.float64)
        score = quality + seed  # as float(quality or 0.0) + (1.0 if seed else 0.0)
        firsts = _first_of_best(codes, score)  # per person: best, then first
        names = pids.dictionary.to_pylist()
        crops = rows.column("crop_id").take(pa.array(firsts)).to_pylist()
        best = {names[codes[i]]: c for i, c in zip(firsts.tolist(), crops, strict=True)}
    with _CROPS_LOCK:
        _CROPS[tbl] = (version, best)
    return best


class PeopleTables:
    """The people rows and face assignments of one memory."""

    def __init__(self, store: Store, vault: Vault) -> None:
        self.store = store
        self.vault = vault

    # ------------------------------------------------------------------ reading
    def committed(self, where: str | None, *, shown: bool = False) -> str | None:
        """``where``, leaving out the faces of imports that have not finished (or were killed and
        will be rolled back): they must neither be listed nor start or join a person. ``shown``:
        what the user is shown also leaves out the faces of episodes in the trash (clustering
        still counts them: they come back on restore)."""
        pending = self.store.committed_filter(episode_column="episode_id" if shown else None)
        if pending is None:
            return where
        return f"({where}) AND {pending}" if where else pending

    def faces(self, where: str | None = None, *, shown: bool = False) -> FaceRows:
        tbl = self.store.rows(FACES_TABLE, self.committed(where, shown=shown), columns=FACE_COLUMNS)
        n = tbl.num_rows
        emb_col = tbl.column("embedding").combine_chunks() if n else None
        if emb_col is not None and emb_col.null_count == 0:
            emb = np.asarray(emb_col.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(n, FACE_DIM)
        else:
            emb = np.asarray(
                [v if v is not None else [np.nan] * FACE_DIM for v in tbl.column("embedding").to_pylist()],
                dtype=np.float32,
            ).reshape(n, FACE_DIM)
        ids: list[str] = tbl.column("id").to_pylist()
        seed = [bool(s) for s in tbl.column("seed").to_pylist()]
        quality = [float(q or 0.0) for q in tbl.column("quality").to_pylist()]
        return FaceRows(
            ids=ids,
            frames=[fr or i for fr, i in zip(tbl.column("frame_id").to_pylist(), ids, strict=True)],
            t=tbl.column("t").to_pylist(),
            episodes=tbl.column("episode_id").to_pylist(),
            emb=emb,
            quality=np.asarray(quality, dtype=np.float32),
            seed=np.asarray(seed, dtype=bool),
            person=tbl.column("person_id").to_pylist(),
            by=[as_assigned_by(b) for b in tbl.column("assigned_by").to_pylist()],
            crop=tbl.column("crop_id").to_pylist(),
            model=tbl.column("model").to_pylist(),
        )

    def brief_rows(self, person_ids: Sequence[str]) -> dict[str, PersonRow]:
        """The rows of ``person_ids`` that exist, with only id, name ciphertext, hidden and
        merged-into (what an answer shows), from :func:`_brief_rows`."""
        every = _brief_rows(self.store)
        return {pid: every[pid] for pid in dict.fromkeys(person_ids) if pid in every}

    def people(self, where: str | None = None) -> dict[str, PersonRow]:
        """People rows by id (merged-away people too)."""
        rows = self.store.rows(PEOPLE_TABLE, where).to_pylist()
        return {r["id"]: PersonRow.from_dict(r) for r in rows}

    def person(self, person_id: object) -> PersonRow:
        """The row of a person the user can act on, or a :class:`PeopleError` saying why not."""
        if not isinstance(person_id, str) or not person_id.strip():
            raise PeopleError("a person id is needed (see `lifelog people`)")
        pid = person_id.strip()
        row = self.people(f"id = {sql_str(pid)}").get(pid)
        if row is None:
            raise PeopleError(f"no person with id {pid!r} (see `lifelog people`)")
        if row.merged_into:
            raise PeopleError(f"person {pid} was merged into {row.merged_into}; use that id")
        return row

    def name_of(self, row: PersonRow) -> str | None:
        """The person's name, decrypted once per vault and ciphertext (see ``_NAMES``)."""
        if not row.name_enc:
            return None
        cache = _NAMES.setdefault(self.vault, {})
        key = (row.id, bytes(row.name_enc))
        name = cache.get(key)
        if name is None:
            name = self.vault.decrypt_text(row.name_enc, f"person-name:{row.id}")
            if len(cache) >= _NAMES_MAX:
                cache.clear()
            cache[key] = name
        return name or None

    def encrypt_name(self, person_id: str, name: str) -> bytes:
        return self.vault.encrypt_text(name, f"person-name:{person_id}")

    def stats(self, person_ids: Sequence[str]) -> dict[str, PersonStats]:
        """Per person: first and last time seen, episodes, faces and the best face crop."""
        columns = ["person_id", "t", "episode_id", "quality", "seed", "crop_id"]
        tbl = self.store.rows(FACES_TABLE, self.committed(sql_in("person_id", person_ids), shown=True),
                              columns=columns)
        cols = {c: tbl.column(c).to_pylist() for c in columns}
        out: dict[str, PersonStats] = {}
        for i, pid in enumerate(cols["person_id"]):
            s = out.setdefault(pid, PersonStats())
            t = cols["t"][i]
            if t is not None:
                s.first = t if s.first is None or t < s.first else s.first
                s.last = t if s.last is None or t > s.last else s.last
            if cols["episode_id"][i]:
                s.episodes.add(cols["episode_id"][i])
            s.faces += 1
            score = float(cols["quality"][i] or 0.0) + (1.0 if cols["seed"][i] else 0.0)
            if score > s.best_score:
                s.best_score, s.best_crop = score, cols["crop_id"][i]
        return out

    def best_crops(self, person_ids: Sequence[str]) -> dict[str, str | None]:
        """Per person with shown faces: the best face crop, chosen as :meth:`stats` does. While no
        import is pending and nothing is in the trash, answered from :func:`_crops_of_all` (one
        read of the faces per version of the table, held in this process); else one read of
        three short columns for all of them."""
        if not person_ids:
            return {}
        if self.store.committed_filter(episode_column="episode_id") is None:
            every = _crops_of_all(self.store)
            return {pid: every[pid] for pid in dict.fromkeys(person_ids) if pid in every}
        return self.best_crops_read(person_ids)

    def best_crops_read(self, person_ids: Sequence[str]) -> dict[str, str | None]:
        """:meth:`best_crops` read from the table (one read of three short columns, no cache)."""
        if not person_ids:
            return {}
        columns = ["person_id", "quality", "seed", "crop_id"]
        tbl = self.store.rows(FACES_TABLE, self.committed(sql_in("person_id", person_ids), shown=True),
                              columns=columns)
        best: dict[str, tuple[float, str | None]] = {}
        cols = [tbl.column(c).to_pylist() for c in columns]
        for pid, q, seed, crop in zip(*cols, strict=True):
            score = float(q or 0.0) + (1.0 if seed else 0.0)
            if pid not in best or score > best[pid][0]:
                best[pid] = (score, crop)
        return {pid: crop for pid, (_, crop) in best.items()}

    def episode_people(self, episode_ids: Sequence[str]) -> set[tuple[str, str]]:
        """(episode id, person id) of every person with a face in one of ``episode_ids``."""
        tbl = self.store.rows(
            FACES_TABLE, self.committed(f"{sql_in('episode_id', episode_ids)} AND person_id IS NOT NULL", shown=True),
            columns=["episode_id", "person_id"],
        )
        return set(zip(tbl.column("episode_id").to_pylist(), tbl.column("person_id").to_pylist(), strict=True))

    def assignments(self, face_ids: Sequence[str]) -> dict[str, FaceAssignment]:
        """The current (person_id, assigned_by) of the given faces (imports in progress included)."""
        tbl = self.store.rows(FACES_TABLE, sql_in("id", face_ids), columns=["id", "person_id", "assigned_by"])
        return {r["id"]: (r["person_id"], as_assigned_by(r["assigned_by"])) for r in tbl.to_pylist()}

    def face_ids_of(self, person_ids: Sequence[str]) -> list[str]:
        """Ids of every face of the given people (imports in progress included)."""
        tbl = self.store.rows(FACES_TABLE, sql_in("person_id", person_ids), columns=["id"])
        ids: list[str] = tbl.column("id").to_pylist()
        return ids

    # ----------------------------------------------------------------- writing
    def write_faces(self, changes: Mapping[str, FaceAssignment]) -> None:
        """Set (person_id, assigned_by) of the given faces in one commit."""
        if not changes:
            return
        schema = pa.schema(
            [pa.field("id", pa.string(), nullable=False), pa.field("person_id", pa.string()),
             pa.field("assigned_by", pa.string())]
        )
        batch = pa.Table.from_pylist(
            [{"id": k, "person_id": p, "assigned_by": b} for k, (p, b) in changes.items()], schema=schema
        )
        self.store.table(FACES_TABLE).merge_insert("id").when_matched_update_all().execute(batch)

    def write_people(self, rows: Iterable[PersonRow]) -> None:
        """Insert or replace whole people rows, in one commit."""
        dicts = [r.to_dict() for r in rows]
        if not dicts:
            return
        schema = SCHEMAS[PEOPLE_TABLE]
        full = [{f.name: r.get(f.name) for f in schema} for r in dicts]
        batch = pa.Table.from_pylist(full, schema=schema)
        (
            self.store.table(PEOPLE_TABLE)
            .merge_insert("id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(batch, on_bad_vectors="null")  # a person without faces yet has no centroid
        )

    def delete_people(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self.store.delete(PEOPLE_TABLE, sql_in("id", ids))

    def refresh_centroids(self, ids: Iterable[str]) -> None:
        """Recompute the centroid (and its face model) of the given people from their faces."""
        ids = [i for i in set(ids) if i]
        if not ids:
            return
        rows = self.people(sql_in("id", ids))
        f = self.faces(sql_in("person_id", ids))
        person = np.asarray(f.person, dtype=object)
        updated = []
        for pid, row in rows.items():
            m = person == pid
            model = next((f.model[i] for i in np.nonzero(m)[0]), row.model)
            updated.append(replace(row, centroid=person_centroid(f.emb[m], f.seed[m]), model=model))
        self.write_people(updated)
