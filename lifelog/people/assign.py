"""Automatic clustering of a memory's faces: :func:`place_faces` run over the store.

:func:`assign_new_faces` places the faces that have no person yet (after an import);
:func:`recluster` places every automatic assignment again from scratch. Neither moves a face a
user locked (``assigned_by = "user"``), nor dissolves, renames or merges a locked person; faces
they add to a locked person remain ``"auto"`` (revisable).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lifelog.people.cluster import ClusterParams, FacePool, Target, place_faces
from lifelog.people.store import FaceAssignment, FaceRows, PeopleTables, PersonRow, new_person_id, now
from lifelog.people.types import AssignReport


def targets_of(
    people: dict[str, PersonRow], f: FaceRows, members: npt.NDArray[np.bool_]
) -> tuple[list[str], list[Target]]:
    """Existing people as targets, from the faces marked in ``members``."""
    ids, targets = [], []
    person = np.asarray(f.person, dtype=object)
    for pid, row in people.items():
        if row.merged_into:
            continue
        m = members & (person == pid)
        if not m.any():
            continue
        ids.append(pid)
        targets.append(Target.of(f.emb[m], f.seed[m], f.quality[m], {f.frames[i] for i in np.nonzero(m)[0]}))
    return ids, targets


def _pool(f: FaceRows, free: npt.NDArray[np.intp]) -> FacePool:
    return FacePool(f.emb[free], f.seed[free], f.quality[free], [f.frames[i] for i in free])


def _count(report: AssignReport, placed: npt.NDArray[np.int64], n_before: int) -> None:
    report.attached = int(((placed >= 0) & (placed < n_before)).sum())
    report.seeded = int((placed >= n_before).sum())
    report.unassigned = int((placed < 0).sum())


def assign_new_faces(tables: PeopleTables, params: ClusterParams) -> AssignReport:
    """Place the faces that have no person yet (after an import): attach, seed, attach."""
    tables.store.refresh()
    f = tables.faces()
    report = AssignReport()
    if len(f) == 0:
        return report
    assigned = np.asarray([p is not None for p in f.person], dtype=bool)
    free = np.nonzero(~assigned & np.isfinite(f.emb).all(axis=1))[0]
    if len(free) == 0:
        return report
    ids, targets = targets_of(tables.people(), f, assigned)
    placed, n_before = place_faces(_pool(f, free), targets, params)
    new_ids = [new_person_id() for _ in range(len(targets) - n_before)]
    all_ids = ids + new_ids
    t = now()
    tables.write_people(PersonRow.new(pid, t, locked=False, cannot_link=[]) for pid in new_ids)
    changes: dict[str, FaceAssignment] = {
        f.ids[i]: (all_ids[k], "auto") for i, k in zip(free, placed, strict=True) if k >= 0
    }
    tables.write_faces(changes)
    tables.refresh_centroids({all_ids[k] for k in placed if k >= 0})
    report.new_people = new_ids
    _count(report, placed, n_before)
    return report


def recluster(tables: PeopleTables, params: ClusterParams) -> AssignReport:
    """Cluster every automatic assignment again from scratch (e.g. nightly, or after the
    thresholds changed). Locked faces and locked people stay as the user left them; automatic
    people keep their ids where most of their faces stay together.

    The caller rolls back an interrupted edit first (:meth:`lifelog.people.edits.EditLog.recover`).
    """
    tables.store.refresh()
    f = tables.faces()
    report = AssignReport()
    if len(f) == 0:
        return report
    people = tables.people()
    locked_people = {pid for pid, r in people.items() if r.user_locked and not r.merged_into}
    fixed = np.asarray(
        [f.by[i] == "user" and f.person[i] in locked_people for i in range(len(f))], dtype=bool
    )
    ids, targets = targets_of({p: people[p] for p in locked_people}, f, fixed)
    free = np.nonzero(~fixed & np.isfinite(f.emb).all(axis=1))[0]
    placed, n_before = place_faces(_pool(f, free), targets, params)
    # keep the ids of automatic people: each new group takes the old id most of its faces had
    old_auto = {pid for pid, r in people.items() if not r.user_locked and not r.merged_into}
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
            new_ids[k] = new_person_id()
            created.append(new_ids[k])
    all_ids = ids + [new_ids[k] for k in range(n_before, len(targets))]
    t = now()
    tables.write_people(PersonRow.new(pid, t, locked=False, cannot_link=[]) for pid in created)
    changes: dict[str, FaceAssignment] = {}
    for i, k in zip(free, placed, strict=True):
        new: FaceAssignment = (all_ids[k], "auto") if k >= 0 else (None, None)
        if (f.person[i], f.by[i]) != new:
            changes[f.ids[i]] = new
    tables.write_faces(changes)
    dissolved = sorted(old_auto - taken)
    tables.delete_people(dissolved)
    tables.refresh_centroids(set(all_ids))
    report.new_people = created
    report.removed_people = dissolved
    _count(report, placed, n_before)
    return report
