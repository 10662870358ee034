"""The operations served to other programs, one function each, shared by the HTTP API
(:mod:`lifelog.serve.http`) and the MCP server (:mod:`lifelog.serve.mcp`). See docs/api.md.

Every operation takes the :class:`~lifelog.api.Memory`, the caller's verified
:class:`~lifelog.api.grants.Grant` (from :func:`authenticate`) and typed arguments, and:

* refuses what the grant's scopes do not allow (:class:`Forbidden`, with the scope to ask for);
* reads only what the grant may see: episodes overlapping its period, never an episode in which
  one of its excluded people was seen (nor those people), no transcript text without the
  ``transcripts`` scope, no thumbnail id without ``thumbnails``; the trash, unfinished imports
  and forgotten data are never served (a forgotten episode asked for by id is :class:`NotFound`,
  the same as one outside the grant: a client cannot tell "not shared" from "not there");
* appends one entry to the grant's access log (op, outcome, episode ids returned, counts; the
  question only encrypted), whether it succeeds or not;
* returns JSON-able dicts/lists shaped like the CLI contract's (``lifelog ask --json`` …), except
  that a ``thumbnail`` is a thumbnail *id* (for :func:`thumbnail`), never a file path.

Errors are :class:`ServeError` subclasses carrying the HTTP status they map to (401, 403, 404,
422); MCP reports them as tool errors. Nothing here writes to the memory.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from lifelog.api import EpisodeInfo, Memory
from lifelog.api.grants import (
    Grant,
    Grants,
    Kind,
    Outcome,
    Via,
    asks_what_was_said,
    client_answer,
    episode_people_ids,
    log_access,
    thumbnail_owners,
    visible_episode,
)

__all__ = [
    "BadRequest",
    "Forbidden",
    "NotFound",
    "ServeError",
    "Unauthorized",
    "ask",
    "authenticate",
    "days",
    "episode",
    "episodes",
    "grants_for",
    "objects",
    "people",
    "profile",
    "search",
    "status",
    "thumbnail",
]

MAX_QUESTION = 1000  # characters
MAX_LIMIT = 50
_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,127}$")
_BLOB_RE = re.compile(r"^[0-9a-f][0-9a-f_-]{0,127}$")


# ------------------------------------------------------------------------ errors
class ServeError(Exception):
    """A request that cannot be served; ``status`` is the HTTP status it maps to, ``code`` a
    stable word for clients, the message is for people."""

    status = 500
    code = "error"
    outcome: Outcome = "error"


class Unauthorized(ServeError):
    status, code, outcome = 401, "unauthorized", "refused"


class Forbidden(ServeError):
    """The grant's scopes do not allow this."""

    status, code, outcome = 403, "forbidden", "refused"


class NotFound(ServeError):
    status, code, outcome = 404, "not_found", "not_found"


class BadRequest(ServeError):
    status, code, outcome = 422, "bad_request", "bad_request"


# ------------------------------------------------------------------------ grants
_GRANTS: dict[Path, Grants] = {}
_GRANTS_LOCK = threading.Lock()


def grants_for(memory: Memory) -> Grants:
    """The (shared, change-aware) grants of a memory."""
    with _GRANTS_LOCK:
        g = _GRANTS.get(memory.data_dir)
        if g is None:
            g = _GRANTS[memory.data_dir] = Grants(memory.data_dir)
        return g


def authenticate(memory: Memory, token: str | None, *, op: str = "auth", via: Via = "http") -> Grant:
    """The active grant of a bearer token, or :class:`Unauthorized` (missing, unknown, expired or
    revoked: a revoked grant is refused from the next request on). A revoked or expired grant's
    refused attempt is written to its access log."""
    grants = grants_for(memory)
    g = grants.match(token)
    if g is None:
        raise Unauthorized("a valid grant token is needed (Authorization: Bearer …; see `lifelog grants add`)")
    state = g.state()
    if state != "active":
        log_access(memory, g.id, op, "refused", via=via, status=401, detail=f"grant {state}")
        raise Unauthorized(f"this grant was {state}" + (" by the user" if state == "revoked" else ""))
    return g


# ------------------------------------------------------------------------ logging
@dataclass
class _Record:
    episodes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def _served(
    memory: Memory, grant: Grant, op: str, kind: Kind, via: Via, question: str | None = None
) -> Iterator[_Record]:
    rec = _Record()
    try:
        if not grant.allows(kind):
            raise Forbidden(f"this grant may not read {kind} (the {kind!r} scope was not given)")
        yield rec
    except ServeError as e:
        log_access(memory, grant.id, op, e.outcome, via=via, status=e.status, question=question, detail=str(e))
        raise
    except Exception as e:
        log_access(memory, grant.id, op, "error", via=via, status=500, question=question, detail=type(e).__name__)
        raise
    log_access(memory, grant.id, op, "ok", via=via, status=200, episodes=rec.episodes, counts=rec.counts,
               question=question)


# ------------------------------------------------------------------------ filters
def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{what} is empty")
    if len(value) > MAX_QUESTION:
        raise BadRequest(f"{what} is longer than {MAX_QUESTION} characters")
    if any(ord(c) < 32 and c not in "\t\n" for c in value):
        raise BadRequest(f"{what} holds control characters")
    return value.strip()


def _aware(t: datetime | None, memory: Memory) -> datetime | None:
    """A time from the client, with the memory's zone when it has none; years outside
    1900–2999 are refused (the store's time filters cannot express them)."""
    if t is None:
        return None
    if not 1900 <= t.year <= 2999:
        raise BadRequest(f"{t.isoformat()} is out of range (years 1900–2999)")
    return t if t.tzinfo else t.replace(tzinfo=memory.tz)


def _narrow(grant: Grant, start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """A window [start, end) clipped to the grant's period."""
    if grant.period_start is not None and (start is None or start < grant.period_start):
        start = grant.period_start
    if grant.period_end is not None and (end is None or end > grant.period_end):
        end = grant.period_end
    return start, end


def _filters(grant: Grant) -> bool:
    return grant.period_start is not None or grant.period_end is not None or bool(grant.exclude_people)


def _shared(memory: Memory, grant: Grant, spans: Sequence[tuple[str, datetime, datetime]]) -> set[str]:
    """Which of these episodes the grant may see: in its period, none of its excluded people."""
    ids = [i for i, s, e in spans if grant.in_period(s, e)]
    if grant.exclude_people and ids:
        excluded = set(grant.exclude_people)
        seen = episode_people_ids(memory, ids)
        ids = [i for i in ids if not (seen.get(i, set()) & excluded)]
    return set(ids)


def _episodes(memory: Memory, grant: Grant, start: datetime | None, end: datetime | None) -> list[EpisodeInfo]:
    start, end = _narrow(grant, start, end)
    if start is not None and end is not None and end <= start:
        return []
    eps = memory.episodes_between(start, end)
    ok = _shared(memory, grant, [(e.id, e.start, e.end) for e in eps])
    return [e for e in eps if e.id in ok]


def _thumb_shown(memory: Memory, grant: Grant, blob_id: str | None) -> bool:
    """Whether a thumbnail belongs to something this grant may see."""
    if not blob_id or not grant.allows("thumbnails") or not _BLOB_RE.match(blob_id):
        return False
    owners = thumbnail_owners(memory, blob_id)
    excluded = set(grant.exclude_people)
    cand = [o.episode_id for o in owners if o.episode_id and (o.person_id is None or o.person_id not in excluded)]
    for ep_id in dict.fromkeys(cand):
        ep = visible_episode(memory, ep_id)
        if ep is not None and _shared(memory, grant, [(ep.id, ep.start, ep.end)]):
            return True
    return False


def _episode_doc(e: EpisodeInfo, grant: Grant) -> dict[str, Any]:
    doc = e.to_json()
    doc["thumbnails"] = list(e.thumb_ids) if grant.allows("thumbnails") else []
    if not grant.allows("transcripts") and doc.get("description"):  # descriptions say what was said
        from lifelog.api.profile import without_speech

        doc["description"] = without_speech(str(doc["description"]))
    return doc


# ------------------------------------------------------------------------ operations
def _answer_doc(memory: Memory, grant: Grant, question: str, now: datetime, limit: int, rec: _Record) -> dict[str, Any]:
    from lifelog.api.errors import QuestionError

    if asks_what_was_said(memory, question, now) and not grant.allows("transcripts"):
        raise Forbidden("this grant may not read what was said (the 'transcripts' scope was not given)")
    filtered = _filters(grant)
    try:
        ans = client_answer(memory, question, now, MAX_LIMIT if filtered else limit)
    except QuestionError as e:
        raise BadRequest(str(e)) from e
    full = ans.to_json()
    # only the contract's keys: anything newer (e.g. people to name, for the app) is not served
    # until it is reviewed for grants
    doc: dict[str, Any] = {k: full[k] for k in ("question", "intent", "answer", "count", "hits", "understood")
                           if k in full}
    hits: list[dict[str, Any]] = [
        {k: h[k] for k in ("episode_id", "start", "end", "score", "evidence") if k in h} for h in full["hits"]
    ]
    changed = False
    if filtered:
        spans = [(h["episode_id"], datetime.fromisoformat(h["start"]), datetime.fromisoformat(h["end"]))
                 for h in hits]
        ok = _shared(memory, grant, spans)
        kept = [h for h in hits if h["episode_id"] in ok]
        changed = len(kept) != len(hits)
        hits = kept[:limit]
    for h in hits:
        ev = h["evidence"]
        if not grant.allows("transcripts"):
            from lifelog.api.profile import without_speech

            kept_ev = [x for x in ev if x.get("kind") != "transcript"]
            changed = changed or len(kept_ev) != len(ev)
            ev = kept_ev
            for x in ev:  # a moment's description says what was said: not for this grant
                text = x.get("text")
                if isinstance(text, str) and (quiet := without_speech(text)) != text:
                    x["text"], changed = quiet, True
        if not grant.allows("thumbnails"):
            for x in ev:
                x["thumbnail"] = None
        h["evidence"] = ev
    if changed:  # the sentence may speak of what was left out: say only what is shared
        doc["answer"] = _neutral_sentence(hits)
        if doc.get("count") is not None:
            unit = (doc.get("understood") or {}).get("count_unit")
            doc["count"] = len({h["start"][:10] for h in hits}) if unit == "days" else len(hits)
    doc["hits"] = hits
    rec.episodes = [h["episode_id"] for h in hits]
    rec.counts = {"hits": len(hits)}
    return doc


def _neutral_sentence(hits: list[dict[str, Any]]) -> str:
    if not hits:
        return "Nothing this grant may see answers that."
    t = datetime.fromisoformat(hits[0]["start"])
    return f"{len(hits)} moment(s) this grant may see; the first shown is at {t:%a %d %b %Y, %H:%M}."


def ask(
    memory: Memory, grant: Grant, question: str, *, now: datetime | None = None, limit: int = 5, via: Via = "http"
) -> dict[str, Any]:
    """Answer a question (``lifelog ask --json``'s shape). Scope ``ask``; a question about what
    was said also needs ``transcripts``."""
    with _served(memory, grant, "ask", "ask", via, question=question if isinstance(question, str) else None) as rec:
        q = _text(question, "the question")
        return _answer_doc(memory, grant, q, _aware(now, memory) or datetime.now(memory.tz), _limit(limit), rec)


def search(
    memory: Memory,
    grant: Grant,
    query: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 10,
    via: Via = "http",
) -> dict[str, Any]:
    """Moments matching a query (what is seen, read or said), best first, optionally within
    [start, end): ``{"query", "hits": [...]}`` with hits shaped like ``ask``'s. Scope ``search``."""
    with _served(memory, grant, "search", "search", via, question=query if isinstance(query, str) else None) as rec:
        q = _text(query, "the query")
        lim = _limit(limit)
        start, end = _aware(start, memory), _aware(end, memory)
        if start is not None and end is not None and end <= start:
            raise BadRequest("end must come after start")
        doc = _answer_doc(memory, grant, q, datetime.now(memory.tz), MAX_LIMIT, rec)
        hits = [h for h in doc["hits"]
                if (start is None or datetime.fromisoformat(h["end"]) >= start)
                and (end is None or datetime.fromisoformat(h["start"]) < end)][:lim]
        rec.episodes = [h["episode_id"] for h in hits]
        rec.counts = {"hits": len(hits)}
        return {"query": q, "hits": hits}


def days(memory: Memory, grant: Grant, *, via: Via = "http") -> list[dict[str, Any]]:
    """Days with episodes this grant may see, oldest first: ``[{"day", "episodes"}]``. Scope
    ``episodes``."""
    with _served(memory, grant, "days", "episodes", via) as rec:
        counts: dict[date, int] = {}
        for e in _episodes(memory, grant, None, None):
            d = e.start.astimezone(memory.tz).date()
            counts[d] = counts.get(d, 0) + 1
        rec.counts = {"days": len(counts)}
        return [{"day": d.isoformat(), "episodes": n} for d, n in sorted(counts.items())]


def episodes(
    memory: Memory,
    grant: Grant,
    *,
    day: date | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    via: Via = "http",
) -> list[dict[str, Any]]:
    """Episodes (``lifelog episodes --json``'s shape, plus ``thumbnails``: ids) of a day (the
    memory's zone) or overlapping [start, end), in time order. Scope ``episodes``."""
    with _served(memory, grant, "episodes", "episodes", via) as rec:
        if day is not None:
            if start is not None or end is not None:
                raise BadRequest("give a day or a start/end, not both")
            start = datetime.combine(day, time(0), tzinfo=memory.tz)
            end = start + timedelta(days=1)
        start, end = _aware(start, memory), _aware(end, memory)
        if start is not None and end is not None and end <= start:
            raise BadRequest("end must come after start")
        eps = _episodes(memory, grant, start, end)
        rec.episodes = [e.id for e in eps]
        rec.counts = {"episodes": len(eps)}
        return [_episode_doc(e, grant) for e in eps]


def _get_episode(memory: Memory, grant: Grant, episode_id: str) -> EpisodeInfo:
    if not isinstance(episode_id, str) or not _ID_RE.match(episode_id):
        raise NotFound("no such episode (or it is not shared with this grant)")
    ep = visible_episode(memory, episode_id)
    if ep is None or not _shared(memory, grant, [(ep.id, ep.start, ep.end)]):
        raise NotFound("no such episode (or it is not shared with this grant)")
    return ep


def episode(memory: Memory, grant: Grant, episode_id: str, *, via: Via = "http") -> dict[str, Any]:
    """One episode with its evidence: its fields (as in :func:`episodes`), ``frames`` (time,
    labels, thumbnail id), and what was said (``transcript``; null without the ``transcripts``
    scope). :class:`NotFound` for an unknown, forgotten, trashed or unshared episode. Scope
    ``episodes``."""
    with _served(memory, grant, "episode", "episodes", via) as rec:
        ep = _get_episode(memory, grant, episode_id)
        doc = _episode_doc(ep, grant)
        thumbs = grant.allows("thumbnails")
        doc["evidence"] = [
            {"kind": "frame", "time": f.t.isoformat(), "labels": f.labels,
             "thumbnail": f.thumb_id if thumbs else None}
            for f in memory.episode_frames(ep.id)
        ]
        withheld = [k for k in ("transcripts", "thumbnails") if not grant.allows(k)]
        if grant.allows("transcripts"):
            doc["transcript"] = [
                {"start": u.start.isoformat(), "end": u.end.isoformat(), "text": u.text, "speaker": u.speaker}
                for u in memory.episode_transcript(ep.id)
            ]
        else:
            doc["transcript"] = None
        doc["withheld"] = withheld
        rec.episodes = [ep.id]
        rec.counts = {"frames": len(doc["evidence"]), "utterances": len(doc["transcript"] or [])}
        return doc


def thumbnail(memory: Memory, grant: Grant, thumb_id: str, *, via: Via = "http") -> bytes:
    """JPEG bytes of a thumbnail this grant may see, by its id (from evidence, episodes, people,
    objects). The id is only compared with the memory's rows, never made into a path; anything
    else is :class:`NotFound`. Scope ``thumbnails``."""
    with _served(memory, grant, "thumbnail", "thumbnails", via) as rec:
        if not isinstance(thumb_id, str) or not _thumb_shown(memory, grant, thumb_id):
            raise NotFound("no such thumbnail (or it is not shared with this grant)")
        try:
            data = memory.thumbnail(thumb_id)
        except Exception as e:  # missing from the vault (forgotten meanwhile), damaged
            raise NotFound("no such thumbnail") from e
        rec.counts = {"bytes": len(data)}
        return data


def people(memory: Memory, grant: Grant, *, via: Via = "http") -> list[dict[str, Any]]:
    """People seen (``lifelog people --json``'s shape; ``thumbnail`` is an id or null), most
    recently seen first; never an excluded person; with a period or exclusions, only people seen
    in episodes the grant may see, counted over those. Scope ``people``."""
    with _served(memory, grant, "people", "people", via) as rec:
        excluded = set(grant.exclude_people)
        everyone = [p for p in memory.people() if p.id not in excluded]
        out: list[dict[str, Any]] = []
        if _filters(grant):
            eps = _episodes(memory, grant, None, None)
            span = {e.id: e for e in eps}
            per: dict[str, list[EpisodeInfo]] = {}
            for ep_id, pids in episode_people_ids(memory, list(span)).items():
                for pid in pids:
                    per.setdefault(pid, []).append(span[ep_id])
            for p in everyone:
                mine = per.get(p.id)
                if not mine:
                    continue
                doc = p.to_json()
                doc["episodes"] = len(mine)
                doc["first_seen"] = min(e.start for e in mine).isoformat()
                doc["last_seen"] = max(e.end for e in mine).isoformat()
                doc.pop("faces", None)  # counted over every episode: not the grant's to know
                out.append(doc)
        else:
            out = [p.to_json() for p in everyone]
        for doc in out:
            doc.pop("hidden", None)
            doc["thumbnail"] = doc["thumbnail"] if _thumb_shown(memory, grant, doc.get("thumbnail")) else None
        rec.counts = {"people": len(out)}
        return out


def objects(memory: Memory, grant: Grant, name: str | None = None, *, via: Via = "http") -> list[dict[str, Any]]:
    """Everyday objects seen (``lifelog objects --json``'s shape), or with ``name`` the episodes
    in which that object was seen, within the grant's period. Scope ``objects``."""
    with _served(memory, grant, "objects", "objects", via, question=name) as rec:
        start, end = _narrow(grant, None, None)
        if name is None:
            objs = memory.objects(start, end)
            docs = [o.to_json() for o in objs]
            for d in docs:
                d["thumbnail"] = d["thumbnail"] if _thumb_shown(memory, grant, d.get("thumbnail")) else None
            rec.counts = {"objects": len(docs)}
            return docs
        n = _text(name, "the object's name")
        line = memory.object_timeline(n, start, end)
        ok = _shared(memory, grant, [(s.episode_id, s.first, s.last) for s in line])
        docs = []
        for s in line:
            if s.episode_id not in ok:
                continue
            docs.append({"name": " / ".join(s.objects), "episode_id": s.episode_id,
                         "first_seen": s.first.isoformat(), "last_seen": s.last.isoformat(), "frames": s.frames,
                         "probability": round(s.probability, 3),
                         "thumbnail": s.thumbnail if _thumb_shown(memory, grant, s.thumbnail) else None})
        rec.episodes = [d["episode_id"] for d in docs]
        rec.counts = {"sightings": len(docs)}
        return docs


def profile(memory: Memory, grant: Grant, *, via: Via = "http") -> dict[str, Any]:
    """The plain-text memory profile (docs/profile.md): its text and lines. Scope ``profile``;
    refused to a grant limited to a period or excluding people (the profile covers everything)."""
    with _served(memory, grant, "profile", "profile", via):
        from lifelog.api.profile import read_profile

        if _filters(grant):
            raise Forbidden("this grant is limited to a period or excludes people; the profile covers everything")
        return read_profile(memory).to_json()


def status(memory: Memory, grant: Grant, *, via: Via = "http") -> dict[str, Any]:
    """Read-only status: the lifelog version, what this grant may see (days, episodes, first and
    last) and the grant itself (scopes, expiry; never its token). Scope ``status``."""
    with _served(memory, grant, "status", "status", via) as rec:
        from lifelog import __version__

        eps = _episodes(memory, grant, None, None)
        dset = {e.start.astimezone(memory.tz).date() for e in eps}
        rec.counts = {"episodes": len(eps)}
        return {
            "version": __version__,
            "api": "v1",
            "episodes": len(eps),
            "days": len(dset),
            "first": eps[0].start.isoformat() if eps else None,
            "last": max(e.end for e in eps).isoformat() if eps else None,
            "grant": grant.to_json(),
        }
