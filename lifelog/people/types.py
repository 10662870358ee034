"""The values :mod:`lifelog.people` hands out: people, faces, sightings, edits, reports, errors.

Also the kinds stored as text in the tables (``person_edits.op`` / ``.state``,
``faces.assigned_by``) as ``Literal`` types, with checked conversions from a stored value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

EditOp = Literal["name", "merge", "split", "hide", "unhide"]
"""What a user edit did (``person_edits.op``)."""

EditState = Literal["applying", "done", "undone", "failed"]
"""Where an edit is (``person_edits.state``): ``applying`` until it is fully written (an entry
left ``applying`` was interrupted and is rolled back, then ``failed``), ``done``, ``undone``."""

AssignedBy = Literal["auto", "user"]
"""Who put a face into its person (``faces.assigned_by``); ``"user"`` locks it. Null: no person."""

_EDIT_OPS: tuple[EditOp, ...] = get_args(EditOp)
_EDIT_STATES: tuple[EditState, ...] = get_args(EditState)
_ASSIGNED_BY: tuple[AssignedBy, ...] = get_args(AssignedBy)


def as_edit_op(value: object) -> EditOp:
    """A stored ``person_edits.op`` as an :data:`EditOp` (``ValueError`` for anything else)."""
    for op in _EDIT_OPS:
        if value == op:
            return op
    raise ValueError(f"unknown people edit op {value!r}")


def as_edit_state(value: object) -> EditState:
    """A stored ``person_edits.state`` as an :data:`EditState` (``ValueError`` for anything else)."""
    for state in _EDIT_STATES:
        if value == state:
            return state
    raise ValueError(f"unknown people edit state {value!r}")


def as_assigned_by(value: object) -> AssignedBy | None:
    """A stored ``faces.assigned_by`` (null: the face has no person yet)."""
    if value is None:
        return None
    for by in _ASSIGNED_BY:
        if value == by:
            return by
    raise ValueError(f"unknown faces.assigned_by {value!r}")


class PeopleError(ValueError):
    """A people operation that cannot be done; the message is for the user."""


@dataclass(frozen=True)
class PersonBrief:
    """What an answer needs of a person (:meth:`People.brief`): no counts, no first/last seen."""

    id: str
    name: str | None
    thumbnail: str | None  # vault blob id of the person's best face crop (as PersonInfo.thumbnail)
    hidden: bool


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
    """One entry of the undo log of user edits."""

    seq: int
    op: EditOp
    person_ids: list[str]
    at: datetime
    state: EditState

    def describe(self) -> str:
        ids = self.person_ids
        if self.op == "merge" and len(ids) == 2:
            return f"merge of {ids[1]} into {ids[0]}"
        if self.op == "split" and len(ids) == 2:
            return f"split of {ids[1]} from {ids[0]}"
        return f"{self.op} of {', '.join(ids)}"


@dataclass
class AssignReport:
    """What one automatic clustering pass did."""

    attached: int = 0  # faces that joined an existing person
    new_people: list[str] = field(default_factory=list)
    seeded: int = 0  # faces in the new people
    unassigned: int = 0  # faces still without a person
    removed_people: list[str] = field(default_factory=list)  # automatic people dissolved by recluster
