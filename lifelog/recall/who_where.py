"""Who and where, answered through the knowledge graph (issue 15, ``docs/graph.md``).

"who did I meet on Tuesday?", "who was I with this morning?" → the people seen in the window;
"who did I see with Barack?" → the people who shared episodes with Barack; "where was I on
Tuesday?" → the places of the window's episodes; "where did I see Barack?" → his places; "when
was I last at home?" → the visits of a place the user named; "where did I leave my keys?" → the
last moment with keys and its place. Each reply names people (or "someone not named yet", whose
face the front ends offer to name) and places, with the episodes as evidence.

This module knows nothing of :mod:`lifelog.recall.answer`: it returns a :class:`GraphReply` that
the answer turns into an ``Answer`` (one way, no cycle). ``None`` means "not a graph question":
the visual search answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from lifelog.graph.types import Presence
from lifelog.recall.context import RecallContext
from lifelog.recall.parse import Intent, ParsedQuestion

MomentKind = Literal["face", "place", "object"]
UNNAMED = "someone not named yet"
MOST_NAMED = 5  # people or places named in one sentence; the rest are "and N more"


@dataclass(frozen=True)
class Moment:
    """An episode the reply rests on, and what it shows (a name, a place, an object)."""

    episode_id: str
    start: datetime
    end: datetime
    kind: MomentKind
    text: str
    thumb_id: str | None = None  # vault blob id of a picture of it (a face crop, a frame)


@dataclass(frozen=True)
class GraphReply:
    intent: Intent
    sentence: str
    moments: list[Moment] = field(default_factory=list)
    to_name: list[str] = field(default_factory=list)  # ids of people the reply is about who have no name


_WHO = re.compile(r"^\s*who(?:m)?\b(?!\s+(?:said|says|mentioned|told|talked|spoke))", re.IGNORECASE)
_WITH = re.compile(r"\bwith\b", re.IGNORECASE)
_WHERE = re.compile(r"^\s*where\b", re.IGNORECASE)
_LEFT = re.compile(r"\b(?:leave|left|put|keep|kept|lose|lost|drop|dropped|forget|forgot|last\s+(?:see|saw|have|had))\b",
                   re.IGNORECASE)
_AT_PLACE = re.compile(r"\b(?:at|in|to)\s+(?:the\s+|my\s+|our\s+)?(?P<place>[^?!.,]+?)\s*(?:[?!.]|$|\b(?:with|on|this|"
                       r"yesterday|today|last|since|before|after|between|in\s+the)\b)", re.IGNORECASE)


def graph_question(ctx: RecallContext, pq: ParsedQuestion, now: datetime, limit: int,
                   when: Callable[[datetime], str]) -> GraphReply | None:
    """The graph's answer to ``pq``, or None when the question is not one the graph answers.
    ``when`` formats a moment as the answers do ("today at 17:00", in the memory's zone)."""
    w = pq.window
    start = w.start if w is not None else None
    end = w.end if w is not None and w.end is not None else now
    span = f" {w.phrase}" if w is not None and w.phrase else ""
    if _WHO.match(pq.text) and pq.person and _WITH.search(pq.text):
        return _seen_with(ctx, pq, pq.person, start, end, span, limit, when)
    if _WHO.match(pq.text) and not pq.person:
        return _who(ctx, start, end, span, limit, when, first=pq.intent == "first")
    if _WHERE.match(pq.text) and pq.person and pq.subject.strip().lower() == pq.person.strip().lower():
        return _where_person(ctx, pq.person, start, end, span, limit, when)
    if _WHERE.match(pq.text) and not pq.subject and w is not None:
        return _where_between(ctx, start, end, span, limit, when)
    if _WHERE.match(pq.text) and pq.subject and _LEFT.search(pq.text):
        return _left_thing(ctx, pq.subject, when)
    place = place_asked(pq)
    if place is not None:
        return _at_place(ctx, pq, place, start, end, span, limit, when)
    return None


def place_asked(pq: ParsedQuestion) -> str | None:
    """"when was I last at the gym?": the place phrase, when it is the whole subject."""
    if not pq.subject or pq.person:
        return None
    m = _AT_PLACE.search(pq.text)
    if m is None:
        return None
    place = m.group("place").strip()
    subject = re.sub(r"^(?:the|my|our)\s+", "", pq.subject.strip(), flags=re.IGNORECASE)
    return place if place.lower() == subject.lower() else None


# ---------------------------------------------------------------------- people
def _person_ids(ctx: RecallContext, name: str) -> list[tuple[str, str]]:
    """(id, name) of the people called ``name`` (full, first or last name)."""
    from lifelog.people.service import People

    try:
        return [(p.id, p.name or name) for p in People(ctx.store, ctx.vault).find(name)]
    except Exception:  # no people tables yet (the faces stage is optional)
        return []


def _thumb_of(ctx: RecallContext, person_id: str) -> str | None:
    from lifelog.people.service import People

    try:
        return People(ctx.store, ctx.vault).get(person_id).thumbnail
    except Exception:  # merged or forgotten meanwhile
        return None


def _episode_spans(ctx: RecallContext, ids: list[str]) -> dict[str, tuple[datetime, datetime]]:
    from lifelog.store.sql import sql_in

    if not ids:
        return {}
    where = sql_in("id", ids)
    hidden = ctx.store.committed_filter(episode_column="id")
    if hidden:
        where = f"{where} AND {hidden}"
    rows = ctx.store.rows("episodes", where, columns=["id", "start", "end"]).to_pylist()
    return {r["id"]: (r["start"], r["end"]) for r in rows}


def _listed(items: list[str]) -> str:
    if len(items) > MOST_NAMED:
        items = [*items[:MOST_NAMED], f"{len(items) - MOST_NAMED} more"]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _presence_moments(ctx: RecallContext, presences: list[Presence], kind: MomentKind,
                      label: Callable[[Presence], str], limit: int, first: bool = False) -> list[Moment]:
    """One moment per episode (latest first, or oldest with ``first``), each naming whoever or
    whatever of ``presences`` it shows."""
    shows: dict[str, list[Presence]] = {}
    for p in presences:
        for e in p.episode_ids:
            shows.setdefault(e, []).append(p)
    spans = _episode_spans(ctx, list(shows))
    order = sorted(spans, key=lambda e: spans[e][0], reverse=not first)
    out = []
    for e in order[:limit]:
        ps = shows[e]
        thumb = _thumb_of(ctx, ps[0].node_id) if kind == "face" else None
        out.append(Moment(e, spans[e][0], spans[e][1], kind, ", ".join(label(p) for p in ps), thumb))
    return out


def _who(ctx: RecallContext, start: datetime | None, end: datetime, span: str, limit: int,
         when: Callable[[datetime], str], first: bool) -> GraphReply:
    from lifelog.graph.query import people_between

    seen = people_between(ctx.store, ctx.vault, start, end)
    if not seen:
        return GraphReply("list", f"I didn't see anyone I can recognise{span}.")
    moments = _presence_moments(ctx, seen, "face", _person_label, limit, first)
    named = [p for p in seen if p.label]
    unnamed = [p for p in seen if not p.label]
    parts = [f"{p.label} ({', '.join(when(t) for t in _times(ctx, p.episode_ids, 2))})" for p in named]
    if unnamed:
        parts.append(UNNAMED if len(unnamed) == 1 else f"{len(unnamed)} people not named yet")
    return GraphReply("list", f"You saw {_listed(parts)}{span}.", moments, [p.node_id for p in unnamed])


def _times(ctx: RecallContext, episode_ids: tuple[str, ...], most: int) -> list[datetime]:
    """The starts of the latest ``most`` of ``episode_ids``, in time order."""
    spans = _episode_spans(ctx, list(episode_ids))
    return sorted(s for s, _ in spans.values())[-most:]


def _seen_with(ctx: RecallContext, pq: ParsedQuestion, name: str, start: datetime | None, end: datetime, span: str,
               limit: int, when: Callable[[datetime], str]) -> GraphReply:
    from lifelog.graph.query import seen_with

    people = _person_ids(ctx, name)
    if not people:
        return GraphReply("list", f"I don't know anyone called {name} yet.")
    full = people[0][1]
    others: dict[str, Presence] = {}
    for pid, _ in people:
        for p in seen_with(ctx.store, ctx.vault, pid, start, end):
            if p.node_id not in {q for q, _ in people}:
                others.setdefault(p.node_id, p)
    if not others:
        return GraphReply("list", f"I didn't see anyone with {full}{span}.")
    ps = list(others.values())
    moments = _presence_moments(ctx, ps, "face", _person_label, limit)
    names = [p.label for p in ps if p.label]
    unnamed = [p.node_id for p in ps if not p.label]
    if unnamed:
        names.append(UNNAMED if len(unnamed) == 1 else f"{len(unnamed)} people not named yet")
    moments_text = ", ".join(when(m.start) for m in moments[:3])
    return GraphReply("list", f"With {full} you saw {_listed(names)}{span} ({moments_text}).", moments, unnamed)


# ---------------------------------------------------------------------- places
def _person_label(p: Presence) -> str:
    return p.label or UNNAMED


def _place_label(p: Presence) -> str:
    return f"at {p.label}" if p.label else "at a place you have not named"


def _where_between(ctx: RecallContext, start: datetime | None, end: datetime, span: str, limit: int,
                   when: Callable[[datetime], str]) -> GraphReply:
    from lifelog.graph.query import places_between

    places = places_between(ctx.store, ctx.vault, start, end)
    if not places:
        return GraphReply("where", f"I don't know where you were{span}: no place is known for those moments.")
    moments = _presence_moments(ctx, places, "place", _place_label, limit)
    parts = [f"{_place_label(p)} ({', '.join(when(t) for t in _times(ctx, p.episode_ids, 2))})" for p in places]
    lead = span.strip() or "lately"
    return GraphReply("where", f"{lead[0].upper()}{lead[1:]} you were {_listed(parts)}.", moments)


def _where_person(ctx: RecallContext, name: str, start: datetime | None, end: datetime, span: str, limit: int,
                  when: Callable[[datetime], str]) -> GraphReply:
    from lifelog.graph.query import people_between, places_of_person

    people = _person_ids(ctx, name)
    if not people:
        return GraphReply("where", f"I don't know anyone called {name} yet.")
    full = people[0][1]
    places = [p for pid, _ in people for p in places_of_person(ctx.store, ctx.vault, pid, start, end)]
    ids = {pid for pid, _ in people}
    seen = [p for p in people_between(ctx.store, ctx.vault, start, end) if p.node_id in ids]
    if places:
        moments = _presence_moments(ctx, places, "place", _place_label, limit)
        parts = [f"{_place_label(p)} ({', '.join(when(t) for t in _times(ctx, p.episode_ids, 2))})" for p in places]
        placed = {e for p in places for e in p.episode_ids}
        elsewhere = len({e for p in seen for e in p.episode_ids} - placed)
        more = f"; {elsewhere} more time{'s' if elsewhere != 1 else ''} I don't know where" if elsewhere else ""
        return GraphReply("where", f"You saw {full} {_listed(parts)}{span}{more}.", moments)
    if not seen:
        return GraphReply("where", f"I didn't see {full}{span}.")
    moments = _presence_moments(ctx, seen, "face", lambda p: full, limit)
    return GraphReply("where", f"You saw {full} {when(moments[0].start)}{span}, but I don't know where "
                               "(no place known).", moments)


def _at_place(ctx: RecallContext, pq: ParsedQuestion, place: str, start: datetime | None, end: datetime, span: str,
              limit: int, when: Callable[[datetime], str]) -> GraphReply | None:
    """"when was I last at home?": the visits of a place the user named. None when no place has
    that name (the pictures may still show a gym or a beach: the visual search answers)."""
    from lifelog.graph.query import places_between
    from lifelog.places import Places

    try:
        info = Places(ctx.store, ctx.vault).find(place)
    except Exception:  # no places tables yet
        info = None
    if info is None:
        return None
    visits = [p for p in places_between(ctx.store, ctx.vault, start, end) if p.node_id == info.id]
    name = info.name or place
    if re.search(rf"\bthe\s+{re.escape(place)}", pq.text, re.IGNORECASE) and not name.lower().startswith("the "):
        name = f"the {name}"
    if not visits:
        return GraphReply(pq.intent, f"You were not at {name}{span}.", [], [])
    moments = _presence_moments(ctx, visits, "place", lambda p: f"at {name}", limit, first=pq.intent == "first")
    n = visits[0].count
    more = f" ({n} visits in all)" if n > 1 else ""
    if pq.intent == "count":
        return GraphReply("count", f"You were at {name} {n} time{'s' if n != 1 else ''}{span}.", moments)
    if pq.intent == "first":
        return GraphReply("first", f"You were first at {name} {when(moments[0].start)}{more}.", moments)
    return GraphReply(pq.intent if pq.intent in ("last", "when") else "last",
                      f"You were last at {name} {when(moments[0].start)}{more}.", moments)


# ---------------------------------------------------------------------- things
def _left_thing(ctx: RecallContext, thing: str, when: Callable[[datetime], str]) -> GraphReply | None:
    """"where did I leave my keys?": the last moment the object was seen, and its place."""
    from lifelog.graph.query import last_seen_thing
    from lifelog.places import Places

    word = re.sub(r"^(?:my|the|a|an|our)\s+", "", thing.strip(), flags=re.IGNORECASE)
    seen = last_seen_thing(ctx.store, ctx.vault, word)
    if seen is None:
        return None  # not an everyday object the graph keeps: the pictures are searched
    ep = seen.episode_ids[-1]
    spans = _episode_spans(ctx, [ep])
    if ep not in spans:
        return None
    a, b = spans[ep]
    try:
        place = Places(ctx.store, ctx.vault).places_of([ep]).get(ep)
    except Exception:  # no places tables yet
        place = None
    where = (f", at {place.name}" if place is not None and place.name
             else ", at a place you have not named" if place is not None else " (no place known)")
    return GraphReply("where", f"The last time I saw {word} was {when(a)}{where}.",
                      [Moment(ep, a, b, "object", seen.label or word)])
