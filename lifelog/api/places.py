"""Places, for the front ends and for questions (docs/places.md).

* :func:`list_places` — every place (name or label, kind gps|scene, episodes, first/last seen);
* :func:`episodes_at` — the episodes at a place, oldest first;
* :func:`name_place` — name or rename a place (it keeps the name; two places cannot share one);
* :func:`place_of` / :func:`places_of` — the place of one episode, or of many in one read (recall);
* :func:`find_place` — the place a user called ``name`` ("home"), or None;
* :func:`refresh_places` — derive the places again now (imports and the nightly pass do it);
* :func:`forget_place` — forget for good everything recorded at a place (the place goes too).
"""

from __future__ import annotations

from lifelog.api.memory import Memory
from lifelog.places import PlaceInfo, Places, PlacesError, RefreshReport, Visit
from lifelog.privacy.forget import ForgetRequest, ForgetResult
from lifelog.store.lock import write_lock

__all__ = [
    "PlaceInfo",
    "PlacesError",
    "RefreshReport",
    "Visit",
    "episodes_at",
    "find_place",
    "forget_place",
    "list_places",
    "name_place",
    "place_of",
    "places_of",
    "refresh_places",
]


def _places(mem: Memory) -> Places:
    mem.store.refresh()
    return Places(mem.store, mem.vault)


def _local(mem: Memory, p: PlaceInfo) -> PlaceInfo:
    from dataclasses import replace

    return replace(p, first_seen=p.first_seen.astimezone(mem.tz) if p.first_seen else None,
                   last_seen=p.last_seen.astimezone(mem.tz) if p.last_seen else None)


def list_places(mem: Memory) -> list[PlaceInfo]:
    return [_local(mem, p) for p in _places(mem).all()]


def episodes_at(mem: Memory, place_id: str) -> list[Visit]:
    """:class:`PlacesError` for an unknown id."""
    return _places(mem).episodes_at(place_id)


def place_of(mem: Memory, episode_id: str) -> PlaceInfo | None:
    p = _places(mem).place_of(episode_id)
    return _local(mem, p) if p else None


def places_of(mem: Memory, episode_ids: list[str]) -> dict[str, PlaceInfo]:
    return {e: _local(mem, p) for e, p in _places(mem).places_of(episode_ids).items()}


def find_place(mem: Memory, name: str) -> PlaceInfo | None:
    p = _places(mem).find(name)
    return _local(mem, p) if p else None


def name_place(mem: Memory, place_id: str, name: str) -> PlaceInfo:
    """:class:`PlacesError` for an unknown id, an empty or over-long name, or a name another
    place has."""
    with write_lock(mem.data_dir):
        named = _places(mem).name(place_id, name)
        from lifelog.graph.build import build_graph

        build_graph(mem.store, mem.vault, [])  # the name's history (docs/graph.md)
        return _local(mem, named)


def refresh_places(mem: Memory) -> RefreshReport:
    report: RefreshReport = mem.refresh_places()
    return report


def forget_place(mem: Memory, place_id: str) -> ForgetResult:
    """Everything recorded at the place, for good (``lifelog forget`` semantics); the place goes
    with its last episode. :class:`lifelog.privacy.forget.ForgetError` for an unknown id."""
    return mem.forget(ForgetRequest("place", place_id))
