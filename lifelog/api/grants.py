"""Grants and the access log (:mod:`lifelog.privacy.grants`), and what the servers in
:mod:`lifelog.serve` need of the memory to serve a grant's client, for the front ends: the
``lifelog grants`` command, the HTTP API and MCP server, (later) the app's Grants page.

Serving helpers read the memory the way a client may see it: thumbnails named by their vault id
(never a file path), the trash and unfinished imports hidden, the people of episodes by id (so a
grant's excluded people can be filtered out).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from lifelog.api.memory import EpisodeInfo, Memory
from lifelog.privacy.grants import (
    KINDS,
    Grant,
    GrantError,
    Grants,
    Kind,
    Outcome,
    Via,
    clear_access_logs,
    parse_scopes,
    read_access_log,
)
from lifelog.privacy.grants import log_access as _log_access
from lifelog.store.db import Store
from lifelog.store.vault import Vault

if TYPE_CHECKING:
    from lifelog.recall.answer import Answer
    from lifelog.recall.context import EpisodeView

__all__ = [
    "KINDS",
    "Grant",
    "GrantError",
    "Grants",
    "Kind",
    "Outcome",
    "ThumbOwner",
    "Via",
    "asks_what_was_said",
    "clear_access_logs",
    "client_answer",
    "episode_people_ids",
    "grants_of",
    "log_access",
    "parse_scopes",
    "read_log",
    "thumbnail_owners",
    "visible_episode",
]


def grants_of(memory: Memory) -> Grants:
    """The grants of a memory (cheap: re-reads ``grants.json`` only when it changed; keep one)."""
    return Grants(memory.data_dir)


def log_access(
    memory: Memory,
    grant_id: str,
    op: str,
    outcome: Outcome,
    *,
    via: Via = "http",
    status: int = 200,
    episodes: Iterable[str] = (),
    counts: dict[str, int] | None = None,
    question: str | None = None,
    detail: str | None = None,
) -> None:
    """Append one request to the grant's access log (the question encrypted, see
    :mod:`lifelog.privacy.grants`)."""
    _log_access(memory.data_dir, memory.vault, grant_id, op, outcome, via=via, status=status,
                episodes=episodes, counts=counts, question=question, detail=detail)


def read_log(memory: Memory, grant_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """A grant's access log (or every grant's), oldest first, questions decrypted."""
    return read_access_log(memory.data_dir, memory.vault, grant_id, limit)


# ------------------------------------------------------------------ serving helpers
class _ClientView:
    """The memory as recall sees it for a client: evidence names thumbnails by their vault id
    (what ``GET /v1/thumbnails/{id}`` takes) instead of a decrypted file."""

    def __init__(self, memory: Memory) -> None:
        self._m = memory

    @property
    def store(self) -> Store:
        return self._m.store

    @property
    def vault(self) -> Vault:
        return self._m.vault

    @property
    def tz(self) -> tzinfo:
        return self._m.tz

    def episodes_between(self, start: datetime | None, end: datetime | None) -> Sequence[EpisodeView]:
        return self._m.episodes_between(start, end)

    def thumbnail(self, blob_id: str) -> bytes:
        return self._m.thumbnail(blob_id)

    def thumbnail_file(self, blob_id: str | None) -> str | None:
        return blob_id or None


def client_answer(memory: Memory, question: str, now: datetime, limit: int) -> Answer:
    """:meth:`Memory.ask`, with thumbnail ids in the evidence and no file written."""
    from lifelog.recall.answer import ask

    return ask(_ClientView(memory), question, now=now, limit=limit, thumbnails=True)


def asks_what_was_said(memory: Memory, question: str, now: datetime) -> bool:
    """Whether a question is about what was said (answered from transcripts)."""
    from lifelog.recall.parse import QuestionError, parse_question
    from lifelog.speech.recall import parse_speech_question

    try:
        pq = parse_question(question, now, memory.tz)
    except QuestionError:
        return False
    return parse_speech_question(pq.text) is not None


def visible_episode(memory: Memory, episode_id: str) -> EpisodeInfo | None:
    """One episode as readers see it: None when unknown, forgotten, in the trash or in an import
    not finished yet. Its ``people`` are filled in."""
    from lifelog.store.sql import sql_str

    hidden = memory.store.committed_filter(episode_column="id")
    where = f"id = {sql_str(episode_id)}" + (f" AND {hidden}" if hidden else "")
    memory.store.refresh()
    if not memory.store.count("episodes", where):
        return None
    ep = memory.episode(episode_id)
    if ep is None:
        return None
    from dataclasses import replace

    from lifelog.people.service import People

    seen = People(memory.store, memory.vault).people_in_episodes([ep.id])
    return replace(ep, people=seen.get(ep.id, []))


def episode_people_ids(memory: Memory, episode_ids: Sequence[str]) -> dict[str, set[str]]:
    """Per episode, the ids of the people seen in it (hidden people too); episodes without
    people are absent."""
    if not episode_ids:
        return {}
    from lifelog.people.service import People

    out: dict[str, set[str]] = {}
    for ep, pid in People(memory.store, memory.vault).tables.episode_people(list(episode_ids)):
        out.setdefault(ep, set()).add(pid)
    return out


@dataclass(frozen=True)
class ThumbOwner:
    """Where a thumbnail (a vault blob) belongs: a frame or face crop of an episode, and for a
    face crop, whose face it is."""

    episode_id: str | None
    person_id: str | None = None


def thumbnail_owners(memory: Memory, blob_id: str) -> list[ThumbOwner]:
    """Every frame and face crop that shows thumbnail ``blob_id`` (empty: it is no thumbnail of
    this memory's readable rows). The id is only ever compared, never turned into a path."""
    from lifelog.store.sql import sql_str

    memory.store.refresh()
    out: list[ThumbOwner] = []
    hidden = memory.store.committed_filter()
    frames_where = f"thumb_id = {sql_str(blob_id)}" + (f" AND {hidden}" if hidden else "")
    for r in memory.store.rows("frames", frames_where, columns=["episode_id"]).to_pylist():
        out.append(ThumbOwner(r["episode_id"]))
    if memory.store.count("faces"):
        faces_where = f"crop_id = {sql_str(blob_id)}" + (f" AND {hidden}" if hidden else "")
        for r in memory.store.rows("faces", faces_where, columns=["episode_id", "person_id"]).to_pylist():
            out.append(ThumbOwner(r["episode_id"], r["person_id"]))
    return out

