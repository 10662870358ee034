"""The :class:`People` service: everything a caller does with the people of one memory.

It composes the package's parts — :class:`~lifelog.people.store.PeopleTables` (the rows),
:class:`~lifelog.people.edits.EditLog` (the undo log), :mod:`lifelog.people.assign` (automatic
clustering) — and adds the reading side (list, find, sightings) and the user edits (name, hide,
merge, split, undo). The method is described in :mod:`lifelog.people`.

Writes are not locked here: callers hold the data dir's write lock (``lifelog.api`` does).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

from lifelog.people import assign
from lifelog.people.cluster import ClusterParams
from lifelog.people.edits import EditLog
from lifelog.people.names import clean_name, name_key
from lifelog.people.store import FaceAssignment, PeopleTables, PersonRow, PersonStats, new_person_id, now
from lifelog.people.types import (
    AssignReport,
    Edit,
    EditOp,
    EditState,
    FaceInfo,
    PeopleError,
    PersonBrief,
    PersonInfo,
    Sighting,
)
from lifelog.store.db import Store
from lifelog.store.sql import sql_in, sql_str
from lifelog.store.vault import Vault


class People:
    """The people of one memory. ``People(store, vault)``; see :mod:`lifelog.people`."""

    def __init__(self, store: Store, vault: Vault, params: ClusterParams | None = None) -> None:
        self.store = store
        self.vault = vault
        self.params = params or ClusterParams()
        self.tables = PeopleTables(store, vault)
        self.log = EditLog(self.tables, vault)

    # ------------------------------------------------------------------ reading
    def _info(self, row: PersonRow, s: PersonStats | None) -> PersonInfo:
        return PersonInfo(
            id=row.id,
            name=self.tables.name_of(row),
            first_seen=s.first if s else None,
            last_seen=s.last if s else None,
            episodes=len(s.episodes) if s else 0,
            faces=s.faces if s else 0,
            thumbnail=s.best_crop if s else None,
            hidden=bool(row.hidden),
            locked=bool(row.user_locked),
        )

    def _infos(self, rows: Sequence[PersonRow]) -> list[PersonInfo]:
        stats = self.tables.stats([r.id for r in rows])
        return [self._info(r, stats.get(r.id)) for r in rows]

    def get(self, person_id: str) -> PersonInfo:
        return self._infos([self.tables.person(person_id)])[0]

    def brief(self, person_ids: Sequence[str]) -> dict[str, PersonBrief]:
        """Id, name, best face crop and hidden flag of each of ``person_ids`` that still exists
        (merged-away and unknown ids are absent): one read of the people rows and one of three
        face columns for all of them, instead of :meth:`get`'s full stats per person."""
        wanted = sorted({p for p in person_ids if p})
        if not wanted:
            return {}
        rows = {pid: r for pid, r in self.tables.brief_rows(wanted).items() if not r.merged_into}
        crops = self.tables.best_crops(list(rows)) if rows else {}
        return {pid: PersonBrief(pid, self.tables.name_of(r), crops.get(pid), bool(r.hidden))
                for pid, r in rows.items()}

    def _named_rows(self) -> list[tuple[PersonRow, str]]:
        rows = [r for r in self.tables.people().values() if not r.merged_into and r.name_enc]
        return [(r, n) for r in rows if (n := self.tables.name_of(r))]

    def names(self) -> list[tuple[str, str]]:
        """(id, name) of every named person (hidden ones too), as :meth:`list` would give them,
        without their stats."""
        if self.store.trashed_episodes():  # someone seen only in the trash is not listed
            return [(p.id, p.name) for p in self.list(include_hidden=True) if p.name]
        return sorted((r.id, n) for r, n in self._named_rows())

    def _find_rows(self, name: str) -> list[tuple[PersonRow, str]]:
        key = name_key(name)
        if not key:
            return []
        named = [(r, n, name_key(n)) for r, n in self._named_rows()]
        hits = [(r, n) for r, n, k in named if k == key]
        if not hits:
            hits = [(r, n) for r, n, k in named if key in k.split()]
        return hits

    def find_ids(self, name: str) -> list[tuple[str, str]]:
        """(id, name) of the people :meth:`find` gives, without their stats (one read of the
        people rows; names decrypted once per vault)."""
        return [(r.id, n) for r, n in self._find_rows(name)]

    def find(self, name: str) -> list[PersonInfo]:
        """People whose name matches ``name`` (case and spacing ignored): the full name, else a
        first name or surname. For questions like "when did I last see Sam?"."""
        hits = [r for r, _ in self._find_rows(name)]
        if not hits:
            return []
        return self._infos(hits)

    def faces(self, person_id: str) -> list[FaceInfo]:
        """The faces of a person, best first (ids for :meth:`split`; crops are vault blobs)."""
        row = self.tables.person(person_id)
        f = self.tables.faces(f"person_id = {sql_str(row.id)}", shown=True)
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
        row = self.tables.person(person_id)
        f = self.tables.faces(f"person_id = {sql_str(row.id)}", shown=True)
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
            out.append(Sighting(row.id, ep, min(times), max(times), len(idx), f.crop[best]))
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
        pairs = self.tables.episode_people(episode_ids)
        rows = self.tables.people(sql_in("id", {p for _, p in pairs})) if pairs else {}
        label = {pid: (self.tables.name_of(r) or f"person {pid}") for pid, r in rows.items() if not r.hidden}
        out: dict[str, list[str]] = {}
        for ep, pid in sorted(pairs):
            if pid in label:
                out.setdefault(ep, []).append(label[pid])
        return {ep: sorted(set(names)) for ep, names in out.items()}

    def edits(self) -> list[Edit]:
        """The edit log, latest first."""
        return self.log.history()

    # ---------------------------------------------------------------- edit log
    def _set_state(self, seq: int, state: EditState) -> None:
        """Mark a logged edit; every user edit ends here with ``"done"`` once fully written."""
        self.log.set_state(seq, state)

    def _recover(self) -> None:
        self.log.recover()

    @contextmanager
    def _edit(self, op: EditOp, person_ids: list[str], face_ids: list[str]) -> Iterator[None]:
        """Log the edit with a snapshot of what it may change, apply it (the ``with`` body),
        mark it done. An exception leaves the entry ``applying``: the next edit rolls it back."""
        seq = self.log.begin(op, person_ids, self.log.snapshot(person_ids, face_ids))
        yield
        self._set_state(seq, "done")

    def undo(self) -> Edit:
        """Undo the latest edit that is not undone yet; :class:`PeopleError` when there is none."""
        self._recover()
        last = self.log.latest_done()
        self.log.restore(self.log.load_snapshot(last.seq))
        self._set_state(last.seq, "undone")
        self.assign_new_faces()
        return replace(last, state="undone")

    # ------------------------------------------------------------ user edits
    def _lock_faces(self, person_id: str) -> tuple[dict[str, FaceAssignment], list[str]]:
        f = self.tables.faces(f"person_id = {sql_str(person_id)}")
        return {fid: (person_id, "user") for fid in f.ids}, f.ids

    def name(self, person_id: str, name: str) -> PersonInfo:
        """Name a person (or rename). Locks the person and its current faces."""
        text = clean_name(name)
        self._recover()
        row = self.tables.person(person_id)
        pid = row.id
        locks, fids = self._lock_faces(pid)
        with self._edit("name", [pid], fids):
            self.tables.write_people(
                [replace(row, name_enc=self.tables.encrypt_name(pid, text), user_locked=True, updated_at=now())]
            )
            self.tables.write_faces(locks)
        return self.get(pid)

    def hide(self, person_id: str) -> PersonInfo:
        """Hide a person from the list (e.g. a stranger). Their faces stay theirs, so new faces of
        them keep joining the hidden person instead of showing up as someone new."""
        return self._set_hidden(person_id, True)

    def unhide(self, person_id: str) -> PersonInfo:
        return self._set_hidden(person_id, False)

    def _set_hidden(self, person_id: str, hidden: bool) -> PersonInfo:
        self._recover()
        row = self.tables.person(person_id)
        pid = row.id
        if bool(row.hidden) == hidden:
            raise PeopleError(f"person {pid} is {'already' if hidden else 'not'} hidden")
        locks, fids = self._lock_faces(pid)
        with self._edit("hide" if hidden else "unhide", [pid], fids):
            self.tables.write_people([replace(row, hidden=hidden, user_locked=True, updated_at=now())])
            self.tables.write_faces(locks)
        return self.get(pid)

    def merge(self, into_id: str, other_id: str) -> PersonInfo:
        """Merge ``other_id`` into ``into_id``: its faces join ``into_id``, which keeps its name
        (or takes the other's if it has none). ``other_id`` stops being listed."""
        self._recover()  # an edit cut off half-way is rolled back before this one reads anything
        a = self.tables.person(into_id)
        b = self.tables.person(other_id)
        if a.id == b.id:
            raise PeopleError("cannot merge a person with itself: give two different ids")
        la, fa = self._lock_faces(a.id)
        lb, fb = self._lock_faces(b.id)
        with self._edit("merge", [a.id, b.id], fa + fb):
            name_enc = a.name_enc
            if not a.name_enc and b.name_enc:
                name = self.tables.name_of(b)
                if name:
                    name_enc = self.tables.encrypt_name(a.id, name)
            links = set(a.cannot_link or []) | set(b.cannot_link or [])
            links -= {a.id, b.id}
            t = now()
            a = replace(a, name_enc=name_enc, user_locked=True, cannot_link=sorted(links), updated_at=t,
                        hidden=bool(a.hidden) and bool(b.hidden))
            b = replace(b, merged_into=a.id, user_locked=True, hidden=True, updated_at=t)
            self.tables.write_faces({**la, **{fid: (a.id, "user") for fid in lb}})
            self.tables.write_people([a, b])
            self.tables.refresh_centroids([a.id])
        return self.get(a.id)

    def split(self, person_id: str, face_ids: Sequence[str]) -> PersonInfo:
        """Move ``face_ids`` out of a person into a new person; the two will not be merged again
        automatically. Returns the new person."""
        self._recover()
        row = self.tables.person(person_id)
        pid = row.id
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
        new_id = new_person_id()
        with self._edit("split", [pid, new_id], fids):
            t = now()
            new_row = PersonRow.new(new_id, t, locked=True, cannot_link=[pid])
            row = replace(row, user_locked=True, updated_at=t, cannot_link=sorted({*(row.cannot_link or []), new_id}))
            self.tables.write_people([row, new_row])
            self.tables.write_faces({**locks, **{fid: (new_id, "user") for fid in wanted}})
            self.tables.refresh_centroids([pid, new_id])
        return self.get(new_id)

    # ------------------------------------------------------------ clustering
    def assign_new_faces(self) -> AssignReport:
        """Place the faces that have no person yet (after an import): attach, seed, attach."""
        return assign.assign_new_faces(self.tables, self.params)

    def recluster(self) -> AssignReport:
        """Cluster every automatic assignment again from scratch (e.g. nightly, or after the
        thresholds changed). Locked faces and locked people stay as the user left them; automatic
        people keep their ids where most of their faces stay together."""
        self._recover()
        return assign.recluster(self.tables, self.params)

    # last in the class: after it, ``list`` in annotations would name this method
    def list(self, include_hidden: bool = False) -> list[PersonInfo]:
        """Every person (hidden ones too with ``include_hidden``), most recently seen first."""
        self.store.refresh()
        rows = [r for r in self.tables.people().values() if not r.merged_into]
        if not include_hidden:
            rows = [r for r in rows if not r.hidden]
        if not rows:
            return []
        out = self._infos(rows)
        if self.store.trashed_episodes():  # someone seen only in episodes in the trash is not listed
            out = [p for p in out if p.faces]
        out.sort(key=lambda p: (p.last_seen or datetime.min.replace(tzinfo=UTC), p.id), reverse=True)
        return out
