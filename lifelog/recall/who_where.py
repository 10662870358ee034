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
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lifelog.graph.types import Presence
from lifelog.recall.context import RecallContext
from lifelog.recall.parse import Intent, ParsedQuestion

MomentKind = Literal["face", "place", "object", "said"]
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
    routine = _ROUTINE.match(pq.text)
    if routine is not None:
        return _routine(ctx, pq.text, now, limit, when)
    if _WHO.match(pq.text) and not pq.person:
        place = _place_phrase(pq)
        if place is not None:
            return _who_at(ctx, pq, place, start, end, span, limit, when)
    if _WHO.match(pq.text) and pq.person and _WITH.search(pq.text):
        return _seen_with(ctx, pq, pq.person, start, end, span, limit, when)
    if _WHO.match(pq.text) and not pq.person:
        return _who(ctx, start, end, span, limit, when, first=pq.intent == "first")
    if _WHERE.match(pq.text) and pq.person and pq.subject.strip().lower() == pq.person.strip().lower():
        if _LAST.search(_without(pq.text, w.phrase if w is not None else "")):
            return _where_person_last(ctx, pq.person, start, end, span, when)
        return _where_person(ctx, pq.person, start, end, span, limit, when)
    if pq.person and not _WHO.match(pq.text) and not _WHERE.match(pq.text):
        place = _place_phrase(pq)
        if place is not None:
            return _at_place_with(ctx, pq, place, pq.person, start, end, span, limit, when)
    if _WHERE.match(pq.text) and not pq.subject and w is not None:
        return _where_between(ctx, start, end, span, limit, when)
    if _WHERE.match(pq.text) and pq.subject and _LEFT.search(pq.text):
        return _left_thing(ctx, pq.subject, when)
    place = place_asked(pq)
    if place is not None:
        return _at_place(ctx, pq, place, start, end, span, limit, when)
    return None


_LAST = re.compile(r"\blast\b", re.IGNORECASE)
_ROUTINE = re.compile(r"^\s*what\s+(?:do|did)\s+(?:I|we)\s+(?:usually|normally|typically|generally|often|tend\s+to)\s+"
                      r"do\b", re.IGNORECASE)
_OFTEN = re.compile(r"^(?:(?:the\s+)?most|usually|often|normally|regularly|mostly)\s+", re.IGNORECASE)


def _without(text: str, phrase: str) -> str:
    return text.replace(phrase, " ") if phrase else text


def _place_phrase(pq: ParsedQuestion) -> str | None:
    """"who do I see most at the gym?", "when was I last at home with Barack?": the place phrase
    when the rest of the subject is only "most …" or the person asked about."""
    if not pq.subject:
        return None
    m = _AT_PLACE.search(pq.text)
    if m is None:
        return None
    place = m.group("place").strip()
    rest = _OFTEN.sub("", pq.subject.strip())
    rest = re.sub(r"^(?:at|in|to)\s+", "", rest, flags=re.IGNORECASE)
    rest = re.sub(r"^(?:the|my|our)\s+", "", rest, flags=re.IGNORECASE)
    if pq.person:
        rest = re.sub(rf"\s+with\s+{re.escape(pq.person)}\s*$", "", rest, flags=re.IGNORECASE)
    return place if place.lower() == rest.strip().lower() else None


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
    from lifelog.graph.query import find_people

    try:
        return find_people(ctx.store, ctx.vault, name)
    except Exception:  # no people tables yet (the faces stage is optional)
        return []


def _thumb_of(ctx: RecallContext, person_id: str, episode_id: str | None = None) -> str | None:
    """The best face crop of the person in that episode (one filtered read of the faces), or
    without an episode their best face."""
    from lifelog.people.service import People
    from lifelog.store.sql import sql_str

    if episode_id is not None:
        rows = ctx.store.rows("faces", f"person_id = {sql_str(person_id)} AND episode_id = {sql_str(episode_id)} "
                                       "AND crop_id IS NOT NULL", columns=["crop_id", "quality"]).to_pylist()
        return str(max(rows, key=lambda r: r["quality"] or 0.0)["crop_id"]) if rows else None
    try:
        return People(ctx.store, ctx.vault).get(person_id).thumbnail
    except Exception:  # merged or forgotten meanwhile
        return None


def _thumbs_of(ctx: RecallContext, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """:func:`_thumb_of` for many (person id, episode id) pairs: from the crops held per version
    of the faces table (:func:`lifelog.people.store.episode_crops`)."""
    from lifelog.people.store import episode_crops

    if not wanted:
        return {}
    return episode_crops(ctx.store, wanted)


def _thumbs_read(ctx: RecallContext, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """:func:`_thumbs_of` from one read of the faces (no cache): the reference it equals."""
    from lifelog.store.sql import sql_in

    if not wanted:
        return {}
    people, eps = sorted({p for p, _ in wanted}), sorted({e for _, e in wanted})
    rows = ctx.store.rows("faces", f"{sql_in('person_id', people)} AND {sql_in('episode_id', eps)} "
                                   "AND crop_id IS NOT NULL", columns=["person_id", "episode_id", "crop_id", "quality"])
    best: dict[tuple[str, str], tuple[float, str]] = {}
    for r in rows.to_pylist():  # the first of the best, as max() in _thumb_of picks it
        key, q = (r["person_id"], r["episode_id"]), r["quality"] or 0.0
        if key not in best or q > best[key][0]:
            best[key] = (q, str(r["crop_id"]))
    return {k: best[k][1] for k in wanted if k in best}


def _known_spans(presences: list[Presence]) -> dict[str, tuple[datetime, datetime]]:
    """(start, end) of the presences' episodes, as their edges give them."""
    return {e: span for p in presences for e, span in zip(p.episode_ids, p.spans, strict=True)}


def _episode_spans(ctx: RecallContext, ids: list[str], known: dict[str, tuple[datetime, datetime]] | None = None
                   ) -> dict[str, tuple[datetime, datetime]]:
    """(start, end) of the episodes that are shown (not in the trash, not of an import still
    running): from ``known`` (the graph's edges, which leave the trash out) unless an import is
    running, else one read of the episodes."""
    from lifelog.store.sql import sql_in

    if not ids:
        return {}
    if known is not None and all(e in known for e in ids) and not ctx.store.uncommitted_media():
        return {e: known[e] for e in ids}
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
    # the latest (or first) ``limit`` episodes overall are among each presence's latest (first) few:
    # episode ids are in time order
    near = {e for p in presences for e in (p.episode_ids[:limit] if first else p.episode_ids[-limit:])}
    spans = _episode_spans(ctx, sorted(near), _known_spans(presences))
    order = sorted(spans, key=lambda e: spans[e][0], reverse=not first)[:limit]
    thumbs = _thumbs_of(ctx, [(shows[e][0].node_id, e) for e in order]) if kind == "face" else {}
    out = []
    for e in order:
        ps = shows[e]
        out.append(Moment(e, spans[e][0], spans[e][1], kind, ", ".join(label(p) for p in ps),
                          thumbs.get((ps[0].node_id, e))))
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
    latest = _latest(ctx, named[:MOST_NAMED])
    parts = [f"{p.label} ({', '.join(when(t) for t in latest.get(p.node_id, []))})" for p in named]
    if unnamed:
        parts.append(UNNAMED if len(unnamed) == 1 else f"{len(unnamed)} people not named yet")
    return GraphReply("list", f"You saw {_listed(parts)}{span}.", moments, _offered(unnamed, moments))


def _offered(unnamed: list[Presence], moments: list[Moment]) -> list[str]:
    """The people not named yet a reply offers to name: those its moments show first, a few."""
    shown = {m.episode_id for m in moments}
    order = sorted(unnamed, key=lambda p: not shown & set(p.episode_ids))
    return [p.node_id for p in order[:MOST_NAMED]]


def _latest(ctx: RecallContext, presences: list[Presence], most: int = 2) -> dict[str, list[datetime]]:
    """:func:`_times` for many presences in one read of the episodes."""
    spans = _episode_spans(ctx, [e for p in presences for e in p.episode_ids[-most:]], _known_spans(presences))
    return {p.node_id: sorted(spans[e][0] for e in p.episode_ids[-most:] if e in spans) for p in presences}


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
    unnamed = [p for p in ps if not p.label]
    if unnamed:
        names.append(UNNAMED if len(unnamed) == 1 else f"{len(unnamed)} people not named yet")
    moments_text = ", ".join(when(m.start) for m in moments[:3])
    return GraphReply("list", f"With {full} you saw {_listed(names)}{span} ({moments_text}).", moments,
                      _offered(unnamed, moments))


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
    latest = _latest(ctx, places[:MOST_NAMED])
    parts = [f"{_place_label(p)} ({', '.join(when(t) for t in latest.get(p.node_id, []))})" for p in places]
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
        latest = _latest(ctx, places[:MOST_NAMED])
        parts = [f"{_place_label(p)} ({', '.join(when(t) for t in latest.get(p.node_id, []))})" for p in places]
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
    from lifelog.graph.query import find_place, places_between

    try:
        info = find_place(ctx.store, ctx.vault, place)
    except Exception:  # no places tables yet
        info = None
    if info is None:
        return None
    visits = [p for p in places_between(ctx.store, ctx.vault, start, end) if p.node_id == info[0]]
    name = info[1] or place
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


# ------------------------------------------------------------ people at places
def _find_place(ctx: RecallContext, place: str) -> tuple[str, str] | None:
    """(id, name) of the place the user named ``place``, or None."""
    from lifelog.graph.query import find_place

    bare = re.sub(r"^(?:the|my|our)\s+", "", place, flags=re.IGNORECASE)
    try:  # "the gym" named "gym", or "the gym"
        info = find_place(ctx.store, ctx.vault, *dict.fromkeys((place, bare, f"the {bare}")))
    except Exception:  # no places tables yet
        return None
    return (info[0], info[1] or place) if info is not None else None


def _the(pq: ParsedQuestion, place: str, name: str) -> str:
    if re.search(rf"\bthe\s+{re.escape(place)}", pq.text, re.IGNORECASE) and not name.lower().startswith("the "):
        return f"the {name}"
    return name


def _who_at(ctx: RecallContext, pq: ParsedQuestion, place: str, start: datetime | None, end: datetime, span: str,
            limit: int, when: Callable[[datetime], str]) -> GraphReply:
    """"who do I see most at the gym?": the people seen at a named place, most episodes first."""
    from lifelog.graph.query import people_at

    found = _find_place(ctx, place)
    if found is None:
        return GraphReply("list", f"I don't know a place called {_the(pq, place, place)}.")
    pid, name = found
    name = _the(pq, place, name)
    seen = people_at(ctx.store, ctx.vault, pid, start, end)
    if not seen:
        return GraphReply("list", f"I didn't see anyone I can recognise at {name}{span}.")
    moments = _presence_moments(ctx, seen, "face", _person_label, limit)
    parts = [f"{_person_label(p)} ({p.count} time{'s' if p.count != 1 else ''})" for p in seen]
    lead = "most often " if len(seen) > 1 else ""
    return GraphReply("list", f"At {name}{span} you saw {lead}{_listed(parts)}.", moments,
                      _offered([p for p in seen if not p.label], moments))


def _at_place_with(ctx: RecallContext, pq: ParsedQuestion, place: str, person: str, start: datetime | None,
                   end: datetime, span: str, limit: int, when: Callable[[datetime], str]) -> GraphReply | None:
    """"when was I last at home with Barack?": the episodes at the place where the person was
    seen (the person → place edges). None when no place has that name."""
    from lifelog.graph.query import places_of_person

    found = _find_place(ctx, place)
    if found is None:
        return None
    people = _person_ids(ctx, person)
    if not people:
        return GraphReply(pq.intent, f"I don't know anyone called {person} yet.")
    pid, name = found
    name = _the(pq, place, name)
    full = people[0][1]
    visits = [p for q, _ in people for p in places_of_person(ctx.store, ctx.vault, q, start, end, place_id=pid)
              if p.node_id == pid]
    if not visits:
        return GraphReply(pq.intent, f"You were never at {name} with {full}{span}, as far as I saw.")
    first = pq.intent == "first"
    moments = _presence_moments(ctx, visits, "place", lambda p: f"at {name} with {full}", limit, first=first)
    n = len({e for p in visits for e in p.episode_ids})
    more = f" ({n} times in all)" if n > 1 else ""
    if pq.intent == "count":
        return GraphReply("count", f"You were at {name} with {full} {n} time{'s' if n != 1 else ''}{span}.", moments)
    word = "first" if first else "last"
    return GraphReply("first" if first else "last",
                      f"You were {word} at {name} with {full} {when(moments[0].start)}{more}.", moments)


def _where_person_last(ctx: RecallContext, name: str, start: datetime | None, end: datetime, span: str,
                       when: Callable[[datetime], str]) -> GraphReply:
    """"where did I see Barack last?": the last episode with the person, and its place."""
    from lifelog.graph.query import last_seen, places_of_person

    people = _person_ids(ctx, name)
    if not people:
        return GraphReply("where", f"I don't know anyone called {name} yet.")
    full = people[0][1]
    ids = {pid for pid, _ in people}
    lasts = [x for pid in sorted(ids) if (x := last_seen(ctx.store, ctx.vault, pid, start, end)) is not None]
    spans = _episode_spans(ctx, [e for e, _, _ in lasts], {e: (a, b) for e, a, b in lasts})
    if not spans:
        return GraphReply("where", f"I didn't see {full}{span}.")
    ep = max(spans, key=lambda e: (spans[e][0], e))
    a, b = spans[ep]
    at = [p for pid in ids for p in places_of_person(ctx.store, ctx.vault, pid, a, b) if ep in p.episode_ids]
    if at:
        where = _place_label(at[0])
        text = f"{full} {where}"
    else:
        where, text = "but I don't know where (no place known)", full
    thumb = _thumb_of(ctx, next(iter(ids)), ep)
    return GraphReply("where", f"You last saw {full} {when(a)}, {where}.",
                      [Moment(ep, a, b, "place" if at else "face", text, thumb if not at else None)])


# ---------------------------------------------------------------------- routines
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_RE = re.compile(r"\b(?:on\s+)?(?P<day>mon|tues|wednes|thurs|fri|satur|sun)days?\b", re.IGNORECASE)
_PART_RE = re.compile(r"\b(?P<part>morning|afternoon|evening|night)s?\b", re.IGNORECASE)
_PARTS = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 22), "night": (22, 29)}
ROUTINE_MIN_DAYS = 2  # fewer matching days than this: too few to speak of a routine
ROUTINE_SHARE = 0.5  # something recurs when it is there on at least this share of the days (and two)
_STOP = frozenset({"someone", "named", "with", "from", "into", "over", "under", "your", "while", "then", "some",
                   "this", "that", "there", "read", "video", "photo", "clip", "morning", "afternoon", "evening",
                   "night", "today"})


def _routine(ctx: RecallContext, text: str, now: datetime, limit: int, when: Callable[[datetime], str]) -> GraphReply:
    """"what do I usually do on Friday mornings?": what recurs across the memory's Friday mornings
    (places, people, things, words of the episodes' descriptions), with the days as evidence."""
    from lifelog.graph.query import presences_in_windows

    dm, pm = _DAY_RE.search(text), _PART_RE.search(text)
    weekday = next((i for i, d in enumerate(_WEEKDAYS) if dm and d.startswith(dm.group("day").lower())), None)
    part = pm.group("part").lower() if pm else None
    what = (f"{_WEEKDAYS[weekday].capitalize()} " if weekday is not None else "") + (f"{part}s" if part else "")
    what = what.strip() or "days"
    if weekday is not None and not part:
        what = f"{_WEEKDAYS[weekday].capitalize()}s"
    lo, hi = _PARTS[part] if part else (0, 24)
    windows = _routine_windows(ctx, weekday, lo, hi, now)
    order = [a.date() for a, _ in windows]
    if len(order) < ROUTINE_MIN_DAYS:
        if not order:
            return GraphReply("what", f"Your memory has no {what} yet, so I can't tell what you usually do then.")
        return GraphReply("what", f"Your memory has only one of your {what} ({when(windows[0][0]).split(' at ')[0]}): "
                                  "too few to tell what you usually do then.",
                          _day_moments(ctx, presences_in_windows(ctx.store, ctx.vault, windows), windows, limit))
    per = presences_in_windows(ctx.store, ctx.vault, windows)
    words = _description_words(ctx, per)
    need = max(2, -(-len(order) * ROUTINE_SHARE // 1))
    tally: dict[tuple[str, str], int] = {}
    label: dict[tuple[str, str], str] = {}
    for i, ps in enumerate(per):
        for p in ps:
            key = (p.kind, p.node_id)
            label[key] = _person_label(p) if p.kind == "person" else (p.label or "a place you have not named")
            tally[key] = tally.get(key, 0) + 1
        for w in words[i]:
            tally[("word", w)] = tally.get(("word", w), 0) + 1
            label[("word", w)] = w
    n = len(order)
    recurring = sorted(((label[k], k[0], c) for k, c in tally.items() if c >= need), key=lambda x: (-x[2], x[0]))
    moments = _day_moments(ctx, per, windows, limit)
    if not recurring:
        return GraphReply("what", f"Nothing recurs across your {n} {what} that I can tell (no place, person or "
                                  "thing is there on most of them).", moments)
    heads = {"place": "you are usually at", "person": "you usually see", "thing": "there is usually",
             "word": "your days there read"}
    parts = []
    for kind in ("place", "person", "thing", "word"):
        items = [f"{name} ({c} of {n})" for name, k, c in recurring if k == kind]
        if items:
            parts.append(f"{heads[kind]} {_listed(items)}")
    return GraphReply("what", f"On your {n} {what}: {'; '.join(parts)}.", moments)


_Starts = npt.NDArray[np.int64]
_STARTS: weakref.WeakKeyDictionary[Any, tuple[int, _Starts]] = weakref.WeakKeyDictionary()


def _episode_starts(ctx: RecallContext) -> _Starts | None:
    """Every episode's start (UTC microseconds, sorted), read once per version of the episodes
    table this store sees; None while an import is running or episodes are in the trash (then
    the readers filter those out in their reads)."""
    store = ctx.store
    if store.uncommitted_media() or store.trashed_episodes():
        return None
    tbl = store.table("episodes")
    version = int(tbl.version)
    cached = _STARTS.get(tbl)
    if cached is not None and cached[0] == version:
        return cached[1]
    col = store.rows("episodes", None, columns=["start"]).column("start")
    starts: _Starts = np.sort(np.asarray(col.cast(pa.int64()).fill_null(np.iinfo(np.int64).min).to_numpy(),
                                         dtype=np.int64))
    starts = starts[starts != np.iinfo(np.int64).min]
    _STARTS[tbl] = (version, starts)
    return starts


def _routine_windows(ctx: RecallContext, weekday: int | None, lo: int, hi: int, now: datetime
                     ) -> list[tuple[datetime, datetime]]:
    """The windows (that weekday, or every day, from ``lo`` to ``hi`` o'clock in the memory's zone,
    before ``now``) that have an episode starting in them: the memory's span from the episodes'
    starts, then which windows hold a start (in memory when :func:`_episode_starts` has them, else
    one read of the episodes in those windows)."""
    import bisect
    from datetime import time, timedelta

    import pyarrow.compute as pc

    from lifelog.store.sql import ts_literal

    tz = ctx.tz
    known = _episode_starts(ctx)
    hidden = ctx.store.committed_filter(episode_column="id") if known is None else None
    if known is not None:
        if len(known) == 0:
            return []
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        first_t = epoch + timedelta(microseconds=int(known[0]))
        last_t = epoch + timedelta(microseconds=int(known[-1]))
    else:
        starts = ctx.store.rows("episodes", hidden or None, columns=["start"]).column("start")
        if len(starts) == 0:
            return []
        span = pc.min_max(starts).as_py()
        first_t, last_t = span["min"], span["max"]
    first, last = first_t.astimezone(tz).date() - timedelta(days=1), min(last_t, now).astimezone(tz).date()
    cands = []
    d = first
    while d <= last:
        if weekday is None or d.weekday() == weekday:
            a = datetime.combine(d, time(0), tz) + timedelta(hours=lo)
            b = min(datetime.combine(d, time(0), tz) + timedelta(hours=hi), now)
            if a < b:
                cands.append((a, b))
        d += timedelta(days=1)
    if known is not None:  # a window holds a start when the first start at or after it is before its end
        us = timedelta(microseconds=1)
        a_us = np.array([(a - datetime(1970, 1, 1, tzinfo=UTC)) // us for a, _ in cands], dtype=np.int64)
        b_us = np.array([(b - datetime(1970, 1, 1, tzinfo=UTC)) // us for _, b in cands], dtype=np.int64)
        at = np.searchsorted(known, a_us, side="left")
        held = (at < len(known)) & (known[np.clip(at, 0, len(known) - 1)] < b_us)
        return [c for c, h in zip(cands, held.tolist(), strict=True) if h]
    found: set[int] = set()
    for k in range(0, len(cands), 200):
        chunk = cands[k:k + 200]
        cond = " OR ".join(f"(start >= {ts_literal(a)} AND start < {ts_literal(b)})" for a, b in chunk)
        where = f"({cond}) AND ({hidden})" if hidden else cond
        keys = [a for a, _ in chunk]
        for t in ctx.store.rows("episodes", where, columns=["start"]).column("start").to_pylist():
            i = bisect.bisect_right(keys, t) - 1
            if i >= 0 and t < chunk[i][1]:
                found.add(k + i)
    return [cands[i] for i in sorted(found)]


def _day_moments(ctx: RecallContext, per: list[list[Presence]], windows: list[tuple[datetime, datetime]],
                 limit: int) -> list[Moment]:
    """One moment per day of a routine: its first episode, naming what the day held."""
    out: list[Moment] = []
    for ps, (a, b) in reversed(list(zip(per, windows, strict=True))):
        eps = [e for p in ps for e in p.episode_ids]
        if not eps:
            hits = _window_episode(ctx, a, b)
            if hits is None:
                continue
            out.append(Moment(hits[0], hits[1], hits[2], "place", "nothing I can name"))
        else:
            spans = _episode_spans(ctx, eps, _known_spans(ps))
            if not spans:
                continue
            first = min(spans, key=lambda e: spans[e][0])
            text = ", ".join(_person_label(p) if p.kind == "person" else _place_label(p) if p.kind == "place"
                             else p.label or p.node_id for p in ps[:4])
            out.append(Moment(first, spans[first][0], spans[first][1], "place" if any(p.kind == "place" for p in ps)
                              else "face" if any(p.kind == "person" for p in ps) else "object", text))
        if len(out) >= limit:
            break
    return out


def _window_episode(ctx: RecallContext, a: datetime, b: datetime) -> tuple[str, datetime, datetime] | None:
    from lifelog.store.sql import overlap_conditions

    conds = overlap_conditions(a, b)
    hidden = ctx.store.committed_filter(episode_column="id")
    rows = ctx.store.rows("episodes", " AND ".join([*conds, *([hidden] if hidden else [])]),
                          columns=["id", "start", "end"]).to_pylist()
    if not rows:
        return None
    r = min(rows, key=lambda r: r["start"])
    return r["id"], r["start"], r["end"]


def _description_words(ctx: RecallContext, per: list[list[Presence]]) -> list[set[str]]:
    """The activity words of each day's episode descriptions (the nightly pass writes them), less
    the names and things already counted; empty sets when nothing is described."""
    from lifelog.store.notes import episode_descriptions

    eps = sorted({e for ps in per for p in ps for e in p.episode_ids})
    try:
        texts = episode_descriptions(ctx.store, ctx.vault, eps) if eps else {}
    except Exception:  # no notes table yet
        texts = {}
    out = []
    for ps in per:
        named = {w.lower() for p in ps for w in (p.label or "").split()}
        words: set[str] = set()
        for e in {e for p in ps for e in p.episode_ids}:
            text = re.sub(r"“[^”]*”|\"[^\"]*\"", " ", texts.get(e, "")).lower()  # words read on signs
            for w in re.findall(r"[a-z]{4,}", text):
                if w not in _STOP and w not in named:
                    words.add(w)
        out.append(words)
    return out


# ------------------------------------------------------------------------ speech
def who_talked(ctx: RecallContext, pq: ParsedQuestion, topic: str | None, now: datetime, limit: int,
               when: Callable[[datetime], str]) -> GraphReply | None:
    """"who talked about the trip?": the speakers (the graph's ``said`` edges) of the utterances
    that mention the words. None when nothing said matches (the caller says so)."""
    from lifelog.graph.query import speakers_of
    from lifelog.speech.recall import episode_hits

    w = pq.window
    window = (w.start if w else None, w.end if w and w.end else now)
    span = f" {w.phrase}" if w is not None and w.phrase else ""
    eps = episode_hits(ctx.store, ctx.vault, topic, window, limit=limit * 4)
    if not eps:
        return None
    utts = [(e, h) for e in eps for h in e.hits]
    who = speakers_of(ctx.store, ctx.vault, {h.utterance.id: h.utterance.speaker_id for _, h in utts})
    by: dict[str, list[tuple[datetime, str]]] = {}
    names: dict[str, str | None] = {}
    unknown = 0
    moments: list[Moment] = []
    for e, h in sorted(utts, key=lambda eh: eh[1].time, reverse=True):
        spoke = who.get(h.utterance.id)
        label = (spoke[1] or UNNAMED) if spoke else "someone (speaker unknown)"
        if spoke is None:
            unknown += 1
        else:
            names[spoke[0]] = spoke[1]
            by.setdefault(spoke[0], []).append((h.time, h.quote))
        if len(moments) < limit and all(m.episode_id != e.episode_id for m in moments):
            thumb = _thumb_of(ctx, spoke[0], e.episode_id) if spoke else None
            moments.append(Moment(e.episode_id, e.start, e.end, "said", f'{label}: "{h.quote}"', thumb))
    about = f" about {topic}" if topic else ""
    if not by:
        return GraphReply("list", f"I heard it said {unknown} time{'s' if unknown != 1 else ''}{about}{span}, but "
                                  "I can't tell who spoke (no speaker is known for those words).", moments)
    order = sorted(by, key=lambda p: (-len(by[p]), -max(t for t, _ in by[p]).timestamp()))
    parts = [f"{names[p] or UNNAMED} ({when(max(t for t, _ in by[p]))})" for p in order]
    if unknown:
        parts.append(f"someone I can't tell ({unknown} time{'s' if unknown != 1 else ''})")
    unnamed = [p for p in order if not names[p]]
    sentence = f"{_listed(parts)} talked{about}{span}."
    return GraphReply("list", sentence[0].upper() + sentence[1:], moments, unnamed)
