"""People: faces grouped into identities, conservatively, with user edits that stick and undo.

**Clustering** (thresholds in :class:`ClusterParams`, chosen on ``bench/people.py``; the method
and the figures are in ``docs/people.md``). Faces are compared by the Euclidean distance of their
128-d dlib descriptors (dlib's own same-person cut is 0.6). As new faces arrive
(:meth:`People.assign_new_faces`), see :func:`place_faces`:

1. **Group** the new faces that are good enough to seed (:mod:`lifelog.faces.quality`: big
   enough, sharp, not turned away, not covered, not cut off) by average-linkage agglomerative
   clustering cut at ``seed_link``, never putting two faces of one frame together. A group whose
   mean is within ``group_attach`` of one existing person — and ``margin`` closer to it than to
   any other — joins that person whole. Otherwise a group with faces in at least
   ``seed_min_faces`` different frames becomes a **new person**; smaller groups wait.
2. **Attach** every face still without a person, alone: within ``attach`` of a person's centroid,
   or within ``attach - nearest_offset`` of one of the person's good faces (including the groups
   that just joined it: another photo, another day) while no further than ``attach_far`` from
   the centroid; ``attach_weak`` instead of ``attach`` for faces that may not seed; always with
   the ``margin`` over the next person, and never into a person already in the same frame.

Faces that fit nowhere stay unassigned (``person_id`` null) and are tried again on the next
call, when more evidence may have arrived. Small, blurry or covered faces never start a person.

**User edits** — :meth:`~People.name`, :meth:`~People.merge`, :meth:`~People.split`,
:meth:`~People.hide`, :meth:`~People.unhide` — are recorded in the ``person_edits`` table
before they are applied, with an encrypted snapshot of every people row and face assignment
they change; :meth:`~People.undo` restores the latest snapshot, also after a restart. An edit
**locks** what the user saw: the person becomes ``user_locked`` and its faces
``assigned_by = "user"``. Automatic clustering (:meth:`~People.assign_new_faces`,
:meth:`~People.recluster`) never moves a locked face, never dissolves, renames or merges a
locked person, and faces it adds to a locked person later remain ``"auto"`` (revisable).

Writes are not locked here: callers hold the data dir's write lock (``lifelog.api`` does). An
edit interrupted midway (its log entry still ``applying``) is rolled back by the next edit.
"""

from __future__ import annotations

import base64
import json
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lifelog.store.db import FACE_DIM, SCHEMAS, Store
from lifelog.store.sql import sql_in, sql_str
from lifelog.store.vault import Vault

MAX_NAME_CHARS = 100
MAX_EXEMPLARS = 200  # good faces per person kept for nearest-face evidence

F32 = npt.NDArray[np.float32]


class PeopleError(ValueError):
    """A people operation that cannot be done; the message is for the user."""


@dataclass(frozen=True)
class ClusterParams:
    """Distances are Euclidean between dlib descriptors (dlib's own same/different cut is 0.6)."""

    seed_link: float = 0.45  # average-linkage cut grouping good faces
    seed_min_faces: int = 3  # a group with faces in this many different frames becomes a person
    group_attach: float = 0.45  # a group joins a person whose centroid is this close to the group's
    attach: float = 0.50  # a good face alone joins a person within this distance of its centroid
    attach_weak: float = 0.45  # a small / blurry / turned / occluded / cut face: stricter
    nearest_offset: float = 0.10  # ...or is within attach - this of one of the person's good faces
    attach_far: float = 0.60  # ...but never further than this from the centroid (dlib's own cut)
    margin: float = 0.06  # ...and must be this much closer to that person than to any other
    max_seed_pool: int = 4000  # at most this many faces (the best) are clustered in one pass


@dataclass(frozen=True)
class PersonInfo:
    id: str
    name: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    episodes: int
    faces: int
    thumbnail: str | None  # vault blob id of the person's best face crop
    hidden: bool
    locked: bool  # a user edited this person; automatic clustering will not undo it

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "episodes": self.episodes,
            "faces": self.faces,
            "thumbnail": self.thumbnail,
            "hidden": self.hidden,
        }


@dataclass(frozen=True)
class Sighting:
    """One episode in which a person was seen."""

    person_id: str
    episode_id: str
    first: datetime
    last: datetime
    faces: int
    best_crop: str | None


@dataclass(frozen=True)
class FaceInfo:
    id: str
    person_id: str | None
    t: datetime | None
    episode_id: str | None
    quality: float
    crop_id: str | None
    locked: bool


@dataclass(frozen=True)
class Edit:
    seq: int
    op: str
    person_ids: list[str]
    at: datetime
    state: str

    def describe(self) -> str:
        ids = self.person_ids
        if self.op == "merge" and len(ids) == 2:
            return f"merge of {ids[1]} into {ids[0]}"
        if self.op == "split" and len(ids) == 2:
            return f"split of {ids[1]} from {ids[0]}"
        return f"{self.op} of {', '.join(ids)}"


@dataclass
class AssignReport:
    attached: int = 0  # faces that joined an existing person
    new_people: list[str] = field(default_factory=list)
    seeded: int = 0  # faces in the new people
    unassigned: int = 0  # faces still without a person
    removed_people: list[str] = field(default_factory=list)  # automatic people dissolved by recluster


# ============================================================================ names
def clean_name(name: object) -> str:
    """A person's name as stored (NFC, trimmed, inner whitespace collapsed) or a :class:`PeopleError`."""
    if not isinstance(name, str):
        raise PeopleError("a name must be text")
    for ch in name:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") and ch != " ":
            raise PeopleError(
                f"a name cannot contain control or invisible characters (found U+{ord(ch):04X}); "
                "type it on one line"
            )
    text = " ".join(unicodedata.normalize("NFC", name).split())
    if not text:
        raise PeopleError("a name cannot be empty")
    if len(text) > MAX_NAME_CHARS:
        raise PeopleError(f"a name can be at most {MAX_NAME_CHARS} characters (this one has {len(text)})")
    return text


def _name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


# ================================================================= the algorithm
def pairwise(a: F32, b: F32) -> npt.NDArray[np.float32]:
    """Euclidean distances (len(a), len(b))."""
    aa = (a.astype(np.float64) ** 2).sum(1)[:, None]
    bb = (b.astype(np.float64) ** 2).sum(1)[None, :]
    d2 = np.maximum(aa + bb - 2.0 * (a.astype(np.float64) @ b.astype(np.float64).T), 0.0)
    out: npt.NDArray[np.float32] = np.sqrt(d2).astype(np.float32)
    return out


def _components(emb: F32, threshold: float, block: int = 2048) -> npt.NDArray[np.int64]:
    """Connected components of the graph 'distance <= threshold' (single linkage), by union-find."""
    n = len(emb)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for s in range(0, n, block):
        d = pairwise(emb[s : s + block], emb)
        ii, jj = np.nonzero(d <= threshold)
        for i, j in zip(ii + s, jj, strict=True):
            if i < j:
                ri, rj = find(int(i)), find(int(j))
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    return np.asarray([find(i) for i in range(n)], dtype=np.int64)


def average_linkage(emb: F32, groups: Sequence[str], threshold: float) -> npt.NDArray[np.int64]:
    """Average-linkage agglomerative clustering cut at ``threshold``; faces with the same
    ``groups`` value (frame id) are never in one cluster. Returns a cluster label per face.

    Each single-linkage component is clustered on its own (average-linkage clusters below a cut
    never span two of them) with the nearest-neighbour-chain algorithm: O(n²) per component.
    Cannot-links are infinite distances, which the average keeps infinite, so a cluster never
    holds two faces of one frame.
    """
    n = len(emb)
    labels = np.arange(n, dtype=np.int64)
    if n < 2:
        return labels
    comp = _components(emb, threshold)
    for root in np.unique(comp):
        idx = np.nonzero(comp == root)[0]
        if len(idx) < 2:
            continue
        sub = _nn_chain(emb[idx], [groups[i] for i in idx], threshold)
        labels[idx] = idx[sub]
    return labels


def _nn_chain(emb: F32, groups: Sequence[str], threshold: float) -> npt.NDArray[np.int64]:
    n = len(emb)
    d = pairwise(emb, emb).astype(np.float64)
    g = np.asarray(groups, dtype=object)
    d[g[:, None] == g[None, :]] = np.inf  # same frame (and the diagonal)
    size = np.ones(n)
    active = np.ones(n, dtype=bool)
    parent = np.arange(n)
    chain: list[int] = []
    remaining = n
    while remaining > 1:
        if not chain:
            chain.append(int(np.nonzero(active)[0][0]))
        a = chain[-1]
        row = d[a]
        b = int(np.argmin(row))
        if len(chain) > 1 and row[chain[-2]] <= row[b]:
            b = chain[-2]
        if not np.isfinite(row[b]):
            # a's cluster cannot join anything: retire it from the chain
            active[a] = False
            d[a, :] = np.inf
            d[:, a] = np.inf
            chain.clear()
            remaining -= 1
            continue
        if len(chain) > 1 and b == chain[-2]:
            chain.pop()
            chain.pop()
            if row[b] <= threshold:
                parent[b] = a
            new = (size[a] * d[a] + size[b] * d[b]) / (size[a] + size[b])
            d[a, :] = new
            d[:, a] = new
            d[a, a] = np.inf
            d[b, :] = np.inf
            d[:, b] = np.inf
            active[b] = False
            size[a] += size[b]
            remaining -= 1
        else:
            chain.append(b)

    def root(i: int) -> int:
        while parent[i] != i:
            i = int(parent[i])
        return i

    return np.asarray([root(i) for i in range(n)], dtype=np.int64)


@dataclass
class _Pool:
    """Faces to place, as arrays (one row per face)."""

    emb: F32
    seed: npt.NDArray[np.bool_]
    quality: npt.NDArray[np.float32]
    frames: list[str]


@dataclass
class _Target:
    """An existing person as the algorithm sees it."""

    centroid: F32  # mean descriptor of the person's good faces
    frames: set[str]  # frames the person is already in
    exemplars: F32  # (k, 128) the person's best good faces, for nearest-face evidence

    @classmethod
    def of(cls, emb: F32, seed: npt.NDArray[np.bool_], quality: npt.NDArray[np.float32], frames: set[str]) -> _Target:
        good = seed if seed.any() else np.ones(len(emb), dtype=bool)
        idx = np.nonzero(good)[0]
        idx = idx[np.argsort(-quality[idx], kind="stable")[:MAX_EXEMPLARS]]
        return cls(emb[good].mean(axis=0).astype(np.float32), set(frames), emb[idx].astype(np.float32))


def place_faces(pool: _Pool, targets: list[_Target], params: ClusterParams) -> tuple[npt.NDArray[np.int64], int]:
    """Where each face of ``pool`` goes: an index into ``targets`` (existing or new), or -1.

    1. The good (seed) faces are grouped by average linkage; a group whose centroid is within
       ``group_attach`` of one person (and ``margin`` closer than to any other) joins it whole —
       a group's mean is steadier than any of its faces; otherwise a group with faces in
       ``seed_min_faces`` frames becomes a new person.
    2. Every face still free is tried alone against all people: ``attach`` for good faces,
       ``attach_weak`` for the others.

    New people are appended to ``targets``. Returns (assignment per face, len(targets) before).
    """
    n = len(pool.emb)
    n_before = len(targets)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out, n_before
    free = np.nonzero(pool.seed)[0]
    if len(free) > params.max_seed_pool:
        free = free[np.argsort(-pool.quality[free], kind="stable")[: params.max_seed_pool]]
    if len(free):
        labels = average_linkage(pool.emb[free], [pool.frames[i] for i in free], params.seed_link)
        groups = [free[labels == lab] for lab in np.unique(labels)]
        groups.sort(key=len, reverse=True)
        n_existing = len(targets)
        for members in groups:
            frames = {pool.frames[i] for i in members}
            centroid = pool.emb[members].mean(axis=0).astype(np.float32)
            k = _best_target(centroid, targets[:n_existing], params.group_attach, params.margin, frames)
            if k is not None:
                t = targets[k]
                t.frames |= frames
                # the group's faces now vouch for faces like them (another photo, another day)
                t.exemplars = np.concatenate([t.exemplars, pool.emb[members]])
            elif len(frames) >= params.seed_min_faces:
                ones = np.ones(len(members), dtype=bool)
                targets.append(_Target.of(pool.emb[members], ones, pool.quality[members], frames))
                k = len(targets) - 1
            else:
                continue
            out[members] = k
    _attach(pool, targets, out, params)
    return out, n_before


def _best_target(
    x: F32, targets: list[_Target], threshold: float, margin: float, frames: set[str]
) -> int | None:
    if not targets:
        return None
    d = pairwise(x[None, :], np.stack([t.centroid for t in targets]))[0]
    order = np.argsort(d)
    best = int(order[0])
    second = float(d[order[1]]) if len(order) > 1 else np.inf
    if d[best] > threshold or second - float(d[best]) < margin:
        return None
    if frames & targets[best].frames:
        return None
    return best


def _attach(pool: _Pool, targets: list[_Target], out: npt.NDArray[np.int64], params: ClusterParams) -> None:
    free = np.nonzero(out < 0)[0]
    if not targets or len(free) == 0:
        return
    emb = pool.emb[free]
    d_cent = pairwise(emb, np.stack([t.centroid for t in targets]))
    d_near = np.stack([pairwise(emb, t.exemplars).min(axis=1) for t in targets], axis=1)
    # a face is as close to a person as its centroid, or as its nearest good face plus the
    # nearest-face allowance (never beyond ``attach_far`` of the centroid)
    d = np.where(d_cent <= params.attach_far, np.minimum(d_cent, d_near + params.nearest_offset), d_cent)
    for row in np.argsort(-pool.quality[free], kind="stable"):
        i = int(free[row])
        dist = d[row]
        order = np.argsort(dist)
        best = int(order[0])
        second = float(dist[order[1]]) if len(order) > 1 else np.inf
        limit = params.attach if pool.seed[i] else params.attach_weak
        if dist[best] > limit or second - float(dist[best]) < params.margin:
            continue
        if pool.frames[i] in targets[best].frames:
            continue  # that person is already someone else in this frame
        out[i] = best
        targets[best].frames.add(pool.frames[i])


# ===================================================================== the store
PEOPLE_TABLE = "people"
FACES_TABLE = "faces"
EDITS_TABLE = "person_edits"
_FACE_COLUMNS = [
    "id", "frame_id", "t", "episode_id", "embedding", "quality", "seed", "person_id", "assigned_by", "crop_id",
    "model",
]


@dataclass
class _Faces:
    ids: list[str]
    frames: list[str]
    t: list[datetime | None]
    episodes: list[str | None]
    emb: F32
    quality: npt.NDArray[np.float32]
    seed: npt.NDArray[np.bool_]
    person: list[str | None]
    by: list[str | None]
    crop: list[str | None]
    model: list[str | None]

    def __len__(self) -> int:
        return len(self.ids)


def _now() -> datetime:
    return datetime.now(UTC)


class People:
    """The people of one memory. ``People(store, vault)``; see the module docstring."""

    def __init__(self, store: Store, vault: Vault, params: ClusterParams | None = None) -> None:
        self.store = store
        self.vault = vault
        self.params = params or ClusterParams()

    # ------------------------------------------------------------------ reading
    def _committed(self, where: str | None) -> str | None:
        """``where``, leaving out the faces of imports that have not finished (or were killed and
        will be rolled back): they must neither be listed nor start or join a person."""
        pending = self.store.committed_filter()
        if pending is None:
            return where
        return f"({where}) AND {pending}" if where else pending

    def _faces(self, where: str | None = None) -> _Faces:
        tbl = self.store.rows(FACES_TABLE, self._committed(where), columns=_FACE_COLUMNS)
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
        return _Faces(
            ids=ids,
            frames=[fr or i for fr, i in zip(tbl.column("frame_id").to_pylist(), ids, strict=True)],
            t=tbl.column("t").to_pylist(),
            episodes=tbl.column("episode_id").to_pylist(),
            emb=emb,
            quality=np.asarray(quality, dtype=np.float32),
            seed=np.asarray(seed, dtype=bool),
            person=tbl.column("person_id").to_pylist(),
            by=tbl.column("assigned_by").to_pylist(),
            crop=tbl.column("crop_id").to_pylist(),
            model=tbl.column("model").to_pylist(),
        )

    def _people_rows(self, where: str | None = None) -> dict[str, dict[str, Any]]:
        rows = self.store.rows(PEOPLE_TABLE, where).to_pylist()
        return {r["id"]: r for r in rows}

    def _person_row(self, person_id: object) -> dict[str, Any]:
        if not isinstance(person_id, str) or not person_id.strip():
            raise PeopleError("a person id is needed (see `lifelog people`)")
        pid = person_id.strip()
        rows = self._people_rows(f"id = {sql_str(pid)}")
        row = rows.get(pid)
        if row is None:
            raise PeopleError(f"no person with id {pid!r} (see `lifelog people`)")
        if row.get("merged_into"):
            raise PeopleError(f"person {pid} was merged into {row['merged_into']}; use that id")
        return row

    def _name_of(self, row: dict[str, Any]) -> str | None:
        enc = row.get("name_enc")
        if not enc:
            return None
        return self.vault.decrypt_text(enc, f"person-name:{row['id']}") or None

    def get(self, person_id: str) -> PersonInfo:
        row = self._person_row(person_id)
        stats = self._stats(self._faces_of_people([row["id"]]))
        return self._info(row, stats.get(row["id"]))

    def find(self, name: str) -> list[PersonInfo]:
        """People whose name matches ``name`` (case and spacing ignored): the full name, else a
        first name or surname. For questions like "when did I last see Sam?"."""
        key = _name_key(name)
        if not key:
            return []
        rows = [r for r in self._people_rows().values() if not r.get("merged_into") and r.get("name_enc")]
        named = [(r, _name_key(self._name_of(r) or "")) for r in rows]
        hits = [r for r, k in named if k == key]
        if not hits:
            hits = [r for r, k in named if key in k.split()]
        if not hits:
            return []
        stats = self._stats(self._faces_of_people([r["id"] for r in hits]))
        return [self._info(r, stats.get(r["id"])) for r in hits]

    def faces(self, person_id: str) -> list[FaceInfo]:
        """The faces of a person, best first (ids for :meth:`split`; crops are vault blobs)."""
        row = self._person_row(person_id)
        f = self._faces(f"person_id = {sql_str(row['id'])}")
        out = [
            FaceInfo(f.ids[i], f.person[i], f.t[i], f.episodes[i], float(f.quality[i]), f.crop[i], f.by[i] == "user")
            for i in range(len(f))
        ]
        out.sort(key=lambda x: -x.quality)
        return out

    def episodes_with(self, person_id: str) -> list[str]:
        """Ids of the episodes in which the person was seen, earliest first."""
        return [s.episode_id for s in self.sightings(person_id)]

    def sightings(self, person_id: str) -> list[Sighting]:
        """Per episode: when the person was first and last seen in it, and the best face crop."""
        row = self._person_row(person_id)
        f = self._faces(f"person_id = {sql_str(row['id'])}")
        per: dict[str, list[int]] = {}
        for i in range(len(f)):
            ep = f.episodes[i]
            if ep:
                per.setdefault(ep, []).append(i)
        out = []
        for ep, idx in per.items():
            times: list[datetime] = [t for t in (f.t[i] for i in idx) if t is not None]
            if not times:
                continue
            best = max(idx, key=lambda i: float(f.quality[i]))
            out.append(Sighting(row["id"], ep, min(times), max(times), len(idx), f.crop[best]))
        out.sort(key=lambda s: s.first)
        return out

    def sightings_of(
        self, name: str, start: datetime | None = None, end: datetime | None = None
    ) -> tuple[list[PersonInfo], list[Sighting]]:
        """For a question about someone by name: the people called that (see :meth:`find`) and
        the episodes they were seen in between ``start`` and ``end`` (either may be None), latest
        first. No people: nobody has that name yet."""
        people = self.find(name)
        out = []
        for p in people:
            for s in self.sightings(p.id):
                if (start is None or s.last >= start) and (end is None or s.first < end):
                    out.append(s)
        out.sort(key=lambda s: s.last, reverse=True)
        return people, out

    def people_in_episodes(self, episode_ids: Sequence[str]) -> dict[str, list[str]]:
        """Who was seen in each episode, for episode lists: names, or ``person <id>`` for people
        not named yet; hidden people are left out. Episodes without people are absent."""
        if not episode_ids:
            return {}
        tbl = self.store.rows(
            FACES_TABLE, self._committed(f"{sql_in('episode_id', episode_ids)} AND person_id IS NOT NULL"),
            columns=["episode_id", "person_id"],
        )
        pairs = {(e, p) for e, p in zip(tbl.column("episode_id").to_pylist(), tbl.column("person_id").to_pylist(),
                                        strict=True)}
        rows = self._people_rows(sql_in("id", {p for _, p in pairs})) if pairs else {}
        label = {pid: (self._name_of(r) or f"person {pid}") for pid, r in rows.items() if not r.get("hidden")}
        out: dict[str, list[str]] = {}
        for ep, pid in sorted(pairs):
            if pid in label:
                out.setdefault(ep, []).append(label[pid])
        return {ep: sorted(set(names)) for ep, names in out.items()}

    def _faces_of_people(self, ids: Sequence[str]) -> pa.Table:
        columns = ["person_id", "t", "episode_id", "quality", "seed", "crop_id"]
        return self.store.rows(FACES_TABLE, self._committed(sql_in("person_id", ids)), columns=columns)

    @staticmethod
    def _stats(tbl: pa.Table) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        cols = {c: tbl.column(c).to_pylist() for c in ("person_id", "t", "episode_id", "quality", "seed", "crop_id")}
        for i, pid in enumerate(cols["person_id"]):
            s = out.setdefault(pid, {"first": None, "last": None, "episodes": set(), "faces": 0, "best": (-1.0, None)})
            t = cols["t"][i]
            if t is not None:
                s["first"] = t if s["first"] is None or t < s["first"] else s["first"]
                s["last"] = t if s["last"] is None or t > s["last"] else s["last"]
            if cols["episode_id"][i]:
                s["episodes"].add(cols["episode_id"][i])
            s["faces"] += 1
            score = float(cols["quality"][i] or 0.0) + (1.0 if cols["seed"][i] else 0.0)
            if score > s["best"][0]:
                s["best"] = (score, cols["crop_id"][i])
        return out

    def _info(self, row: dict[str, Any], s: dict[str, Any] | None) -> PersonInfo:
        return PersonInfo(
            id=row["id"],
            name=self._name_of(row),
            first_seen=s["first"] if s else None,
            last_seen=s["last"] if s else None,
            episodes=len(s["episodes"]) if s else 0,
            faces=s["faces"] if s else 0,
            thumbnail=s["best"][1] if s else None,
            hidden=bool(row.get("hidden")),
            locked=bool(row.get("user_locked")),
        )

    def edits(self) -> list[Edit]:
        """The edit log, latest first."""
        rows = self.store.rows(EDITS_TABLE, columns=["seq", "op", "person_ids", "at", "state"]).to_pylist()
        rows.sort(key=lambda r: -r["seq"])
        return [Edit(r["seq"], r["op"], list(r["person_ids"] or []), r["at"], r["state"]) for r in rows]

    # ----------------------------------------------------------------- writing
    def _write_faces(self, changes: dict[str, tuple[str | None, str | None]]) -> None:
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

    def _write_people(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = [dict(r) for r in rows]
        if not rows:
            return
        schema = SCHEMAS[PEOPLE_TABLE]
        full = [{f.name: r.get(f.name) for f in schema} for r in rows]
        batch = pa.Table.from_pylist(full, schema=schema)
        (
            self.store.table(PEOPLE_TABLE)
            .merge_insert("id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(batch, on_bad_vectors="null")  # a person without faces yet has no centroid
        )

    def _delete_people(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self.store.delete(PEOPLE_TABLE, sql_in("id", ids))

    def _centroid(self, emb: F32, seed: npt.NDArray[np.bool_]) -> list[float] | None:
        if len(emb) == 0:
            return None
        use = emb[seed] if seed.any() else emb
        return [float(v) for v in use.mean(axis=0)]

    def _refresh_centroids(self, ids: Iterable[str]) -> None:
        ids = [i for i in set(ids) if i]
        if not ids:
            return
        rows = self._people_rows(sql_in("id", ids))
        f = self._faces(sql_in("person_id", ids))
        person = np.asarray(f.person, dtype=object)
        updated = []
        for pid, row in rows.items():
            m = person == pid
            row["centroid"] = self._centroid(f.emb[m], f.seed[m])
            row["model"] = next((f.model[i] for i in np.nonzero(m)[0]), row.get("model"))
            updated.append(row)
        self._write_people(updated)

    # ---------------------------------------------------------------- edit log
    def _snapshot(self, person_ids: Iterable[str], face_ids: Iterable[str]) -> dict[str, Any]:
        pids = sorted(set(person_ids))
        rows = self._people_rows(sql_in("id", pids)) if pids else {}
        fids = sorted(set(face_ids))
        faces: dict[str, list[str | None]] = {}
        if fids:
            tbl = self.store.rows(FACES_TABLE, sql_in("id", fids), columns=["id", "person_id", "assigned_by"])
            for r in tbl.to_pylist():
                faces[r["id"]] = [r["person_id"], r["assigned_by"]]
        return {"people": {pid: _row_to_json(rows.get(pid)) for pid in pids}, "faces": faces}

    def _begin(self, op: str, person_ids: list[str], snapshot: dict[str, Any]) -> int:
        seqs = self.store.rows(EDITS_TABLE, columns=["seq"]).column("seq").to_pylist()
        seq = (max(seqs) + 1) if seqs else 1
        edit_id = f"{seq:010d}"
        payload = self.vault.encrypt(json.dumps(snapshot).encode("utf-8"), f"person-edit:{edit_id}".encode())
        self.store.add(
            EDITS_TABLE,
            [{"id": edit_id, "seq": seq, "at": _now(), "op": op, "person_ids": person_ids, "state": "applying",
              "undone_at": None, "payload_enc": payload}],
        )
        return seq

    def _set_state(self, seq: int, state: str) -> None:
        values: dict[str, Any] = {"state": state}
        if state == "undone":
            values["undone_at"] = _now()
        self.store.table(EDITS_TABLE).update(where=f"seq = {int(seq)}", values=values)

    def _load_snapshot(self, seq: int) -> dict[str, Any]:
        row = self.store.rows(EDITS_TABLE, f"seq = {int(seq)}").to_pylist()[0]
        data = self.vault.decrypt(row["payload_enc"], f"person-edit:{row['id']}".encode())
        snap: dict[str, Any] = json.loads(data)
        return snap

    def _restore(self, snap: dict[str, Any]) -> None:
        """Put back the people rows and face assignments of a snapshot."""
        people: dict[str, Any] = snap.get("people", {})
        faces: dict[str, list[str | None]] = snap.get("faces", {})
        gone = [pid for pid, r in people.items() if r is None]
        keep = [_row_from_json(r) for r in people.values() if r is not None]
        changes: dict[str, tuple[str | None, str | None]] = {k: (v[0], v[1]) for k, v in faces.items()}
        if gone:  # people the edit created: faces that joined them since go back to the pool
            tbl = self.store.rows(FACES_TABLE, sql_in("person_id", gone), columns=["id"])
            for fid in tbl.column("id").to_pylist():
                changes.setdefault(fid, (None, None))
        self._write_faces(changes)
        self._write_people(keep)
        self._delete_people(gone)
        self._refresh_centroids([r["id"] for r in keep])

    def _recover(self) -> None:
        """Roll back an edit that was interrupted midway (its log entry still says ``applying``)."""
        rows = self.store.rows(EDITS_TABLE, "state = 'applying'", columns=["seq"]).to_pylist()
        for r in sorted(rows, key=lambda r: -r["seq"]):
            self._restore(self._load_snapshot(r["seq"]))
            self._set_state(r["seq"], "failed")

    def undo(self) -> Edit:
        """Undo the latest edit that is not undone yet; :class:`PeopleError` when there is none."""
        self._recover()
        rows = self.store.rows(EDITS_TABLE, "state = 'done'", columns=["seq", "op", "person_ids", "at"]).to_pylist()
        if not rows:
            raise PeopleError("nothing to undo: no edit of people is left to take back")
        last = max(rows, key=lambda r: r["seq"])
        self._restore(self._load_snapshot(last["seq"]))
        self._set_state(last["seq"], "undone")
        self.assign_new_faces()
        return Edit(last["seq"], last["op"], list(last["person_ids"] or []), last["at"], "undone")

    # ------------------------------------------------------------ user edits
    def _lock_faces(self, person_id: str) -> tuple[dict[str, tuple[str | None, str | None]], list[str]]:
        f = self._faces(f"person_id = {sql_str(person_id)}")
        return {fid: (person_id, "user") for fid in f.ids}, f.ids

    def name(self, person_id: str, name: str) -> PersonInfo:
        """Name a person (or rename). Locks the person and its current faces."""
        text = clean_name(name)
        self._recover()
        row = self._person_row(person_id)
        pid = row["id"]
        locks, fids = self._lock_faces(pid)
        seq = self._begin("name", [pid], self._snapshot([pid], fids))
        row.update(name_enc=self.vault.encrypt_text(text, f"person-name:{pid}"), user_locked=True, updated_at=_now())
        self._write_people([row])
        self._write_faces(locks)
        self._set_state(seq, "done")
        return self.get(pid)

    def hide(self, person_id: str) -> PersonInfo:
        """Hide a person from the list (e.g. a stranger). Their faces stay theirs, so new faces of
        them keep joining the hidden person instead of showing up as someone new."""
        return self._set_hidden(person_id, True)

    def unhide(self, person_id: str) -> PersonInfo:
        return self._set_hidden(person_id, False)

    def _set_hidden(self, person_id: str, hidden: bool) -> PersonInfo:
        self._recover()
        row = self._person_row(person_id)
        pid = row["id"]
        if bool(row.get("hidden")) == hidden:
            raise PeopleError(f"person {pid} is {'already' if hidden else 'not'} hidden")
        locks, fids = self._lock_faces(pid)
        seq = self._begin("hide" if hidden else "unhide", [pid], self._snapshot([pid], fids))
        row.update(hidden=hidden, user_locked=True, updated_at=_now())
        self._write_people([row])
        self._write_faces(locks)
        self._set_state(seq, "done")
        return self.get(pid)

    def merge(self, into_id: str, other_id: str) -> PersonInfo:
        """Merge ``other_id`` into ``into_id``: its faces join ``into_id``, which keeps its name
        (or takes the other's if it has none). ``other_id`` stops being listed."""
        a = self._person_row(into_id)
        b = self._person_row(other_id)
        if a["id"] == b["id"]:
            raise PeopleError("cannot merge a person with itself: give two different ids")
        la, fa = self._lock_faces(a["id"])
        lb, fb = self._lock_faces(b["id"])
        seq = self._begin("merge", [a["id"], b["id"]], self._snapshot([a["id"], b["id"]], fa + fb))
        if not a.get("name_enc") and b.get("name_enc"):
            name = self._name_of(b)
            if name:
                a["name_enc"] = self.vault.encrypt_text(name, f"person-name:{a['id']}")
        links = set(a.get("cannot_link") or []) | set(b.get("cannot_link") or [])
        links -= {a["id"], b["id"]}
        now = _now()
        a.update(user_locked=True, cannot_link=sorted(links), updated_at=now,
                 hidden=bool(a.get("hidden")) and bool(b.get("hidden")))
        b.update(merged_into=a["id"], user_locked=True, hidden=True, updated_at=now)
        self._write_faces({**la, **{fid: (a["id"], "user") for fid in lb}})
        self._write_people([a, b])
        self._refresh_centroids([a["id"]])
        self._set_state(seq, "done")
        return self.get(a["id"])

    def split(self, person_id: str, face_ids: Sequence[str]) -> PersonInfo:
        """Move ``face_ids`` out of a person into a new person; the two will not be merged again
        automatically. Returns the new person."""
        self._recover()
        row = self._person_row(person_id)
        pid = row["id"]
        if isinstance(face_ids, str):
            face_ids = [face_ids]
        wanted = list(dict.fromkeys(str(f).strip() for f in face_ids))
        if not wanted or not all(wanted):
            raise PeopleError("give the ids of the faces to split off (see `lifelog people faces ID`)")
        locks, fids = self._lock_faces(pid)
        mine = set(fids)
        strangers = [f for f in wanted if f not in mine]
        if strangers:
            raise PeopleError(f"face {strangers[0]} is not one of person {pid}'s faces")
        if len(wanted) == len(mine):
            raise PeopleError(
                f"splitting off all {len(mine)} faces would leave person {pid} empty; "
                "leave at least one face, or hide the person instead"
            )
        new_id = _new_person_id()
        seq = self._begin("split", [pid, new_id], self._snapshot([pid, new_id], fids))
        now = _now()
        new_row = {"id": new_id, "name_enc": None, "hidden": False, "user_locked": True, "centroid": None,
                   "updated_at": now, "created_at": now, "merged_into": None, "cannot_link": [pid], "model": None}
        row.update(user_locked=True, updated_at=now, cannot_link=sorted({*(row.get("cannot_link") or []), new_id}))
        self._write_people([row, new_row])
        self._write_faces({**locks, **{fid: (new_id, "user") for fid in wanted}})
        self._refresh_centroids([pid, new_id])
        self._set_state(seq, "done")
        return self.get(new_id)

    # ------------------------------------------------------------ clustering
    def _targets(
        self, people: dict[str, dict[str, Any]], f: _Faces, members: npt.NDArray[np.bool_]
    ) -> tuple[list[str], list[_Target]]:
        """Existing people as targets, from the faces marked in ``members``."""
        ids, targets = [], []
        person = np.asarray(f.person, dtype=object)
        for pid, row in people.items():
            if row.get("merged_into"):
                continue
            m = members & (person == pid)
            if not m.any():
                continue
            ids.append(pid)
            targets.append(_Target.of(f.emb[m], f.seed[m], f.quality[m], {f.frames[i] for i in np.nonzero(m)[0]}))
        return ids, targets

    def assign_new_faces(self) -> AssignReport:
        """Place the faces that have no person yet (after an import): attach, seed, attach."""
        self.store.refresh()
        f = self._faces()
        report = AssignReport()
        if len(f) == 0:
            return report
        assigned = np.asarray([p is not None for p in f.person], dtype=bool)
        free = np.nonzero(~assigned & np.isfinite(f.emb).all(axis=1))[0]
        if len(free) == 0:
            return report
        people = self._people_rows()
        ids, targets = self._targets(people, f, assigned)
        placed, n_before = place_faces(
            _Pool(f.emb[free], f.seed[free], f.quality[free], [f.frames[i] for i in free]), targets, self.params
        )
        new_ids = [_new_person_id() for _ in range(len(targets) - n_before)]
        all_ids = ids + new_ids
        now = _now()
        self._write_people(
            {"id": pid, "name_enc": None, "hidden": False, "user_locked": False, "centroid": None,
             "updated_at": now, "created_at": now, "merged_into": None, "cannot_link": [], "model": None}
            for pid in new_ids
        )
        changes: dict[str, tuple[str | None, str | None]] = {
            f.ids[i]: (all_ids[k], "auto") for i, k in zip(free, placed, strict=True) if k >= 0
        }
        self._write_faces(changes)
        self._refresh_centroids({all_ids[k] for k in placed if k >= 0})
        report.new_people = new_ids
        report.attached = int(((placed >= 0) & (placed < n_before)).sum())
        report.seeded = int((placed >= n_before).sum())
        report.unassigned = int((placed < 0).sum())
        return report

    def recluster(self) -> AssignReport:
        """Cluster every automatic assignment again from scratch (e.g. nightly, or after the
        thresholds changed). Locked faces and locked people stay as the user left them; automatic
        people keep their ids where most of their faces stay together."""
        self._recover()
        self.store.refresh()
        f = self._faces()
        report = AssignReport()
        if len(f) == 0:
            return report
        people = self._people_rows()
        locked_people = {pid for pid, r in people.items() if r.get("user_locked") and not r.get("merged_into")}
        fixed = np.asarray(
            [f.by[i] == "user" and f.person[i] in locked_people for i in range(len(f))], dtype=bool
        )
        ids, targets = self._targets({p: people[p] for p in locked_people}, f, fixed)
        free = np.nonzero(~fixed & np.isfinite(f.emb).all(axis=1))[0]
        placed, n_before = place_faces(
            _Pool(f.emb[free], f.seed[free], f.quality[free], [f.frames[i] for i in free]), targets, self.params
        )
        # keep the ids of automatic people: each new group takes the old id most of its faces had
        old_auto = {pid for pid, r in people.items() if not r.get("user_locked") and not r.get("merged_into")}
        votes: dict[int, dict[str, int]] = {}
        for i, k in zip(free, placed, strict=True):
            old = f.person[i]
            if k >= n_before and old in old_auto:
                votes.setdefault(int(k), {}).setdefault(old, 0)
                votes[int(k)][old] += 1
        new_ids: dict[int, str] = {}
        taken: set[str] = set()
        for k, v in sorted(votes.items(), key=lambda kv: -max(kv[1].values())):
            for old, _ in sorted(v.items(), key=lambda kv: -kv[1]):
                if old not in taken:
                    new_ids[k], taken = old, taken | {old}
                    break
        created = []
        for k in range(n_before, len(targets)):
            if k not in new_ids:
                new_ids[k] = _new_person_id()
                created.append(new_ids[k])
        all_ids = ids + [new_ids[k] for k in range(n_before, len(targets))]
        now = _now()
        self._write_people(
            {"id": pid, "name_enc": None, "hidden": False, "user_locked": False, "centroid": None,
             "updated_at": now, "created_at": now, "merged_into": None, "cannot_link": [], "model": None}
            for pid in created
        )
        changes: dict[str, tuple[str | None, str | None]] = {}
        for i, k in zip(free, placed, strict=True):
            new = (all_ids[k], "auto") if k >= 0 else (None, None)
            if (f.person[i], f.by[i]) != new:
                changes[f.ids[i]] = new
        self._write_faces(changes)
        dissolved = sorted(old_auto - taken)
        self._delete_people(dissolved)
        self._refresh_centroids(set(all_ids))
        report.new_people = created
        report.removed_people = dissolved
        report.attached = int(((placed >= 0) & (placed < n_before)).sum())
        report.seeded = int((placed >= n_before).sum())
        report.unassigned = int((placed < 0).sum())
        return report


    # last in the class: after it, ``list`` in annotations would name this method
    def list(self, include_hidden: bool = False) -> list[PersonInfo]:
        """Every person (hidden ones too with ``include_hidden``), most recently seen first."""
        self.store.refresh()
        rows = [r for r in self._people_rows().values() if not r.get("merged_into")]
        if not include_hidden:
            rows = [r for r in rows if not r.get("hidden")]
        if not rows:
            return []
        stats = self._stats(self._faces_of_people([r["id"] for r in rows]))
        out = [self._info(r, stats.get(r["id"])) for r in rows]
        out.sort(key=lambda p: (p.last_seen or datetime.min.replace(tzinfo=UTC), p.id), reverse=True)
        return out


def _new_person_id() -> str:
    return uuid.uuid4().hex[:10]


def _row_to_json(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k == "centroid":
            continue  # recomputed from the faces
        if isinstance(v, bytes):
            out[k] = {"b64": base64.b64encode(v).decode()}
        elif isinstance(v, datetime):
            out[k] = {"t": v.isoformat()}
        else:
            out[k] = v
    return out


def _row_from_json(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict) and "b64" in v:
            out[k] = base64.b64decode(v["b64"])
        elif isinstance(v, dict) and "t" in v:
            out[k] = datetime.fromisoformat(v["t"])
        else:
            out[k] = v
    return out
