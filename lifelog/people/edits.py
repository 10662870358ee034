"""The undo log of user edits of people: recording an edit before it is applied, undoing it.

Each edit gets a ``person_edits`` row (``PERSON_EDIT_SCHEMA``) *before* it changes anything, with
a vault-encrypted JSON snapshot (aad ``"person-edit:<id>"``) of every people row and face
assignment it is about to change, and state ``applying``; the edit marks it ``done`` when it is
fully written. Undoing restores the snapshot (``undone``). An entry still ``applying`` is an
edit interrupted midway: :meth:`EditLog.recover` rolls it back (``failed``).

The snapshot JSON (stored, so its shape must not change)::

    {"people": {person_id: row | null, ...},        # null: the edit creates that person
     "faces":  {face_id: [person_id, assigned_by], ...}}

where a row is the ``people`` row without ``centroid`` (recomputed from the faces), bytes as
``{"b64": ...}`` and datetimes as ``{"t": isoformat}``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypedDict

from lifelog.people.store import FaceAssignment, PeopleTables, PersonRow, now
from lifelog.people.types import Edit, EditOp, EditState, PeopleError, as_assigned_by, as_edit_op, as_edit_state
from lifelog.store.sql import sql_in
from lifelog.store.vault import Vault

EDITS_TABLE = "person_edits"


class Snapshot(TypedDict):
    """What an edit is about to change, as stored (encrypted) in its log entry."""

    people: dict[str, dict[str, Any] | None]  # person id -> row as JSON (see row_to_json), None: new
    faces: dict[str, list[str | None]]  # face id -> [person_id, assigned_by]


class EditLog:
    """The ``person_edits`` table of one memory."""

    def __init__(self, tables: PeopleTables, vault: Vault) -> None:
        self.tables = tables
        self.store = tables.store
        self.vault = vault

    def snapshot(self, person_ids: Iterable[str], face_ids: Iterable[str]) -> Snapshot:
        """The current people rows and face assignments an edit may change."""
        pids = sorted(set(person_ids))
        rows = self.tables.people(sql_in("id", pids)) if pids else {}
        fids = sorted(set(face_ids))
        faces: dict[str, list[str | None]] = {}
        if fids:
            faces = {fid: [p, b] for fid, (p, b) in self.tables.assignments(fids).items()}
        return {"people": {pid: row_to_json(rows.get(pid)) for pid in pids}, "faces": faces}

    def begin(self, op: EditOp, person_ids: list[str], snapshot: Snapshot) -> int:
        """Log an edit about to be applied (state ``applying``); returns its ``seq``."""
        seqs = self.store.rows(EDITS_TABLE, columns=["seq"]).column("seq").to_pylist()
        seq = (max(seqs) + 1) if seqs else 1
        edit_id = f"{seq:010d}"
        payload = self.vault.encrypt(json.dumps(snapshot).encode("utf-8"), f"person-edit:{edit_id}".encode())
        self.store.add(
            EDITS_TABLE,
            [{"id": edit_id, "seq": seq, "at": now(), "op": op, "person_ids": person_ids, "state": "applying",
              "undone_at": None, "payload_enc": payload}],
        )
        return seq

    def set_state(self, seq: int, state: EditState) -> None:
        values: dict[str, Any] = {"state": state}
        if state == "undone":
            values["undone_at"] = now()
        self.store.table(EDITS_TABLE).update(where=f"seq = {int(seq)}", values=values)

    def load_snapshot(self, seq: int) -> Snapshot:
        row = self.store.rows(EDITS_TABLE, f"seq = {int(seq)}").to_pylist()[0]
        data = self.vault.decrypt(row["payload_enc"], f"person-edit:{row['id']}".encode())
        snap = json.loads(data)
        return {"people": snap.get("people", {}), "faces": snap.get("faces", {})}

    def restore(self, snap: Snapshot) -> None:
        """Put back the people rows and face assignments of a snapshot."""
        people = snap["people"]
        gone = [pid for pid, r in people.items() if r is None]
        keep = [row_from_json(r) for r in people.values() if r is not None]
        changes: dict[str, FaceAssignment] = {
            fid: (v[0], as_assigned_by(v[1])) for fid, v in snap["faces"].items()
        }
        if gone:  # people the edit created: faces that joined them since go back to the pool
            for fid in self.tables.face_ids_of(gone):
                changes.setdefault(fid, (None, None))
        self.tables.write_faces(changes)
        self.tables.write_people(keep)
        self.tables.delete_people(gone)
        self.tables.refresh_centroids([r.id for r in keep])

    def recover(self) -> None:
        """Roll back an edit that was interrupted midway (its log entry still says ``applying``)."""
        rows = self.store.rows(EDITS_TABLE, "state = 'applying'", columns=["seq"]).to_pylist()
        for r in sorted(rows, key=lambda r: -r["seq"]):
            self.restore(self.load_snapshot(r["seq"]))
            self.set_state(r["seq"], "failed")

    def latest_done(self) -> Edit:
        """The latest edit that is not undone yet; :class:`PeopleError` when there is none."""
        rows = self.store.rows(EDITS_TABLE, "state = 'done'", columns=["seq", "op", "person_ids", "at"]).to_pylist()
        if not rows:
            raise PeopleError("nothing to undo: no edit of people is left to take back")
        last = max(rows, key=lambda r: r["seq"])
        return Edit(last["seq"], as_edit_op(last["op"]), list(last["person_ids"] or []), last["at"], "done")

    def history(self) -> list[Edit]:
        """The edit log, latest first."""
        rows = self.store.rows(EDITS_TABLE, columns=["seq", "op", "person_ids", "at", "state"]).to_pylist()
        rows.sort(key=lambda r: -r["seq"])
        return [
            Edit(r["seq"], as_edit_op(r["op"]), list(r["person_ids"] or []), r["at"], as_edit_state(r["state"]))
            for r in rows
        ]


def row_to_json(row: PersonRow | None) -> dict[str, Any] | None:
    """A people row as snapshot JSON (without the centroid, which is recomputed from the faces)."""
    if row is None:
        return None
    out: dict[str, Any] = {}
    for k, v in row.to_dict().items():
        if k == "centroid":
            continue  # recomputed from the faces
        if isinstance(v, bytes):
            out[k] = {"b64": base64.b64encode(v).decode()}
        elif isinstance(v, datetime):
            out[k] = {"t": v.isoformat()}
        else:
            out[k] = v
    return out


def row_from_json(data: dict[str, Any]) -> PersonRow:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict) and "b64" in v:
            out[k] = base64.b64decode(v["b64"])
        elif isinstance(v, dict) and "t" in v:
            out[k] = datetime.fromisoformat(v["t"])
        else:
            out[k] = v
    return PersonRow.from_dict(out)
