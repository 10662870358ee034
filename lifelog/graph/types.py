"""Public values of the graph (``docs/graph.md``). Times are aware datetimes in UTC; callers
format them in the memory's zone (``lifelog.api.clock``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

NodeKind = Literal["person", "place", "thing", "episode", "day"]
EdgeKind = Literal["seen", "seen_with", "at", "with_thing", "said", "on", "named", "renamed", "merged", "fact"]
PresenceKind = Literal["person", "place", "thing"]

NODE_KINDS: tuple[NodeKind, ...] = ("person", "place", "thing", "episode", "day")
EDGE_KINDS: tuple[EdgeKind, ...] = (
    "seen", "seen_with", "at", "with_thing", "said", "on", "named", "renamed", "merged", "fact")
#: Edges derived from one episode (its evidence); the others are about names and the user's facts.
EPISODE_EDGES: tuple[EdgeKind, ...] = ("seen", "seen_with", "at", "with_thing", "said", "on")


class GraphError(ValueError):
    """A graph operation that cannot be done (unknown subject, bad fact text); the message says why."""


def node_id(kind: NodeKind, ref: str) -> str:
    """``person:<id>``, ``place:<id>``, ``thing:<name>``, ``episode:<id>``, ``day:<YYYY-MM-DD>``."""
    return f"{kind}:{ref}"


def split_node(node: str) -> tuple[str, str]:
    """(kind, domain ref) of a node id."""
    kind, _, ref = node.partition(":")
    return kind, ref


@dataclass(frozen=True)
class Presence:
    """Someone, somewhere or something seen, with the episodes that show it (evidence)."""

    node_id: str  # a person id (people domain), a place id (places domain) or an object's name
    kind: PresenceKind
    label: str | None  # the user's name for it, else None (decrypted at read)
    episode_ids: tuple[str, ...]  # evidence, time order
    first: datetime
    last: datetime
    count: int  # number of episodes
    #: (start, end) of each of ``episode_ids``, as the edges give them (the episode's own times)
    spans: tuple[tuple[datetime, datetime], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.node_id, "kind": self.kind, "label": self.label, "count": self.count,
                "first": self.first.isoformat(), "last": self.last.isoformat(),
                "episodes": list(self.episode_ids)}


@dataclass(frozen=True)
class Fact:
    """Something the user told the memory about a person, place or thing (bi-temporal)."""

    id: str
    subject: str  # node id: person:<id> | place:<id> | thing:<name>
    text: str
    valid_from: datetime | None  # when it became true (None: always, as far as the user said)
    valid_to: datetime | None
    learned_at: datetime
    expired_at: datetime | None  # retracted

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "subject": self.subject, "text": self.text,
                "valid_from": self.valid_from.isoformat() if self.valid_from else None,
                "valid_to": self.valid_to.isoformat() if self.valid_to else None,
                "learned_at": self.learned_at.isoformat(),
                "expired_at": self.expired_at.isoformat() if self.expired_at else None}


@dataclass(frozen=True)
class NameSpan:
    """One name a person or place had, from when to when (``valid_to`` None: still so)."""

    node: str  # the node that carried the name (a person merged into another keeps its own)
    name: str
    source: str  # user | sign | geocode | merged
    valid_from: datetime
    valid_to: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "name": self.name, "source": self.source,
                "from": self.valid_from.isoformat(), "to": self.valid_to.isoformat() if self.valid_to else None}


@dataclass
class BuildReport:
    """What one build did (figures for the CLI, the nightly pass and the bench)."""

    added: int = 0
    expired: int = 0
    removed: int = 0  # edges whose episode no longer exists
    nodes: int = 0  # nodes written (new or changed)
    nodes_removed: int = 0
    episodes: int = 0  # episodes whose frames were read (things)
    full: bool = False
    seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)  # current edges per kind afterwards

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "expired": self.expired, "removed": self.removed, "nodes": self.nodes,
                "nodes_removed": self.nodes_removed, "episodes": self.episodes, "full": self.full,
                "seconds": round(self.seconds, 3), "edges": dict(sorted(self.by_kind.items()))}


@dataclass(frozen=True)
class GraphStats:
    nodes: dict[str, int]  # per node kind
    edges: dict[str, int]  # current edges per kind
    expired: int  # edges kept as history
    facts: int  # current facts
    built: bool  # the graph tables exist

    def to_json(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "edges": self.edges, "expired_edges": self.expired, "facts": self.facts,
                "built": self.built}
