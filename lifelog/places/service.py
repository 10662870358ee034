"""Places of one memory: built from the files' GPS fixes and recurring scenes, named by the user.

:meth:`Places.refresh` derives every place again from what is stored (idempotent: running it
twice changes nothing; cheap enough to run after each import, each forget and nightly):

* an episode whose file has a GPS fix is at the **gps** place whose centre is within
  ``radius_m`` of it; fixes are grouped greedily in time order;
* an episode without one joins a **scene** place when its vector (the mean of its frames'
  semantic vectors) is close to a scene that recurs in at least ``scene_min_visits`` files;
* a place a user named keeps its name and its anchor (centre or scene vector, fixed when it was
  named): re-clustering never renames or moves it, and what lies within reach of it is at it;
* an automatic place keeps its id when most of its episodes stay together; its name is a sign
  read there when one stands out (:mod:`lifelog.places.signs`), else, for a gps place, the
  offline reverse-geocoded town (:mod:`lifelog.places.geocode`);
* a place with no episodes left disappears.

Names and centres are vault ciphertext; writes are made by callers holding the write lock.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from lifelog.ingest.geo import GeoFix, decrypt_fix
from lifelog.places import geocode
from lifelog.places.cluster import F32, PlaceParams, cluster_fixes, cluster_scenes, mean_fix, unit
from lifelog.places.signs import sign_name
from lifelog.store.db import SCHEMAS, SEMANTIC_DIM, Store
from lifelog.store.sql import sql_in, sql_str
from lifelog.store.vault import Vault

PlaceKind = Literal["gps", "scene"]
MAX_NAME = 80


NameSource = Literal["user", "sign", "geocode"]
"""Where a place's name came from: the user, a sign read there, or offline reverse geocoding."""


def _name_source(value: object) -> NameSource | None:
    for k in ("user", "sign", "geocode"):
        if value == k:
            return k
    return None


class PlacesError(ValueError):
    """A place operation that cannot be done (unknown id, bad or taken name); the message says why."""


@dataclass(frozen=True)
class PlaceInfo:
    id: str
    kind: str  # gps | scene
    name: str | None
    name_source: NameSource | None
    episodes: int
    first_seen: datetime | None
    last_seen: datetime | None

    @property
    def label(self) -> str:
        """What to call it: its name, or a description when it has none."""
        if self.name:
            return self.name
        return "a recurring scene" if self.kind == "scene" else "a place"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "name": self.name, "name_source": self.name_source,
            "label": self.label, "episodes": self.episodes,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
        }


@dataclass(frozen=True)
class Visit:
    """An episode at a place."""

    episode_id: str
    place_id: str
    start: datetime
    end: datetime


@dataclass
class RefreshReport:
    places: int = 0
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    visits: int = 0
    changed: bool = False


@dataclass
class _Place:
    id: str
    kind: PlaceKind
    name: str | None
    name_source: NameSource | None
    user_named: bool
    center: GeoFix | None
    vector: list[float] | None
    created_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return "pl" + uuid.uuid4().hex[:8]


class Places:
    def __init__(self, store: Store, vault: Vault, params: PlaceParams | None = None) -> None:
        self.store = store
        self.vault = vault
        self.params = params or PlaceParams()

    # ------------------------------------------------------------------ reading
    def _places(self, where: str | None = None) -> dict[str, _Place]:
        out: dict[str, _Place] = {}
        for r in self.store.rows("places", where).to_pylist():
            pid = r["id"]
            name = self.vault.decrypt_text(r["name_enc"], f"place-name:{pid}") if r["name_enc"] else None
            center = None
            if r["center_enc"]:
                d = json.loads(self.vault.decrypt_text(r["center_enc"], f"place-center:{pid}"))
                center = GeoFix(float(d["lat"]), float(d["lon"]))
            out[pid] = _Place(pid, "scene" if r["kind"] == "scene" else "gps", name or None,
                              _name_source(r["name_source"]), bool(r["user_named"]), center, r["vector"],
                              r["created_at"])
        return out

    def _visits(self, where: str | None = None, *, shown: bool = True) -> list[Visit]:
        hidden = self.store.committed_filter(episode_column="episode_id") if shown else None
        cond = " AND ".join(f"({c})" for c in (where, hidden) if c) or None
        rows = self.store.rows("place_visits", cond, columns=["episode_id", "place_id", "start", "end"]).to_pylist()
        return [Visit(r["episode_id"], r["place_id"], r["start"], r["end"]) for r in rows]

    def _info(self, p: _Place, visits: list[Visit]) -> PlaceInfo:
        mine = [v for v in visits if v.place_id == p.id]
        return PlaceInfo(
            id=p.id, kind=p.kind, name=p.name, name_source=p.name_source, episodes=len(mine),
            first_seen=min((v.start for v in mine), default=None), last_seen=max((v.end for v in mine), default=None),
        )

    def all(self) -> list[PlaceInfo]:
        """Every place with an episode the user can see, most recently seen first."""
        self.store.refresh()
        visits = self._visits()
        infos = [self._info(p, visits) for p in self._places().values()]
        infos = [i for i in infos if i.episodes]
        epoch = datetime.min.replace(tzinfo=UTC)
        return sorted(infos, key=lambda i: (i.last_seen or epoch, i.id), reverse=True)

    def get(self, place_id: object) -> PlaceInfo:
        if not isinstance(place_id, str) or not place_id.strip():
            raise PlacesError("a place id is needed (see `lifelog places`)")
        pid = place_id.strip()
        p = self._places(f"id = {sql_str(pid)}").get(pid)
        if p is None:
            raise PlacesError(f"no place with id {pid!r} (see `lifelog places`)")
        return self._info(p, self._visits(f"place_id = {sql_str(pid)}"))

    def episodes_at(self, place_id: str) -> list[Visit]:
        """The episodes at a place, oldest first."""
        info = self.get(place_id)
        return sorted(self._visits(f"place_id = {sql_str(info.id)}"), key=lambda v: v.start)

    def place_of(self, episode_id: str) -> PlaceInfo | None:
        """The place an episode is at, or None (no GPS fix and no recurring scene)."""
        vs = self._visits(f"episode_id = {sql_str(episode_id)}")
        return self.get(vs[0].place_id) if vs else None

    def places_of(self, episode_ids: list[str]) -> dict[str, PlaceInfo]:
        """The place of each of ``episode_ids`` that has one (for recall: one read, not one per episode)."""
        if not episode_ids:
            return {}
        vs = self._visits(sql_in("episode_id", episode_ids))
        places = self._places(sql_in("id", sorted({v.place_id for v in vs}))) if vs else {}
        everyone = self._visits(sql_in("place_id", sorted(places))) if places else []
        infos = {pid: self._info(p, everyone) for pid, p in places.items()}
        return {v.episode_id: infos[v.place_id] for v in vs if v.place_id in infos}

    def find(self, name: str) -> PlaceInfo | None:
        """The place called ``name`` (case and accents ignored), or None."""
        key = _fold(name)
        for p in self._places().values():
            if p.name and _fold(p.name) == key:
                return self.get(p.id)
        return None

    # ----------------------------------------------------------------- editing
    def name(self, place_id: str, name: object) -> PlaceInfo:
        """Name (or rename) a place. It keeps the name and its anchor from then on. Two places
        cannot share a name: questions about "home" must mean one place."""
        info = self.get(place_id)
        clean = _check_name(name)
        other = self.find(clean)
        if other is not None and other.id != info.id:
            raise PlacesError(f"another place is already called {other.name!r} (id {other.id}): "
                              "rename that one first, or choose another name")
        p = self._places(f"id = {sql_str(info.id)}")[info.id]
        p.name, p.name_source, p.user_named = clean, "user", True
        self._write_places([p])
        return self.get(info.id)

    # --------------------------------------------------------------- clustering
    def refresh(self) -> RefreshReport:
        """Derive every place again from the stored fixes, episodes and names (idempotent)."""
        self.store.refresh()
        report = RefreshReport()
        old = self._places()
        old_visits = {v.episode_id: v for v in self._visits(shown=False)}
        ep = self.store.rows("episodes", self.store.committed_filter(),
                             columns=["id", "media_id", "start", "end", "semantic"]).to_pylist()
        ep.sort(key=lambda r: (r["start"], r["id"]))
        fixes: dict[str, GeoFix] = {}
        for r in self.store.rows("media_geo", "status = 'ok'", columns=["media_id", "fix_enc"]).to_pylist():
            fix = decrypt_fix(self.vault, r["media_id"], r["fix_enc"])
            if fix is not None:
                fixes[r["media_id"]] = fix
        groups: list[tuple[PlaceKind, _Place | None, list[dict[str, Any]]]] = []
        groups += self._gps_groups([r for r in ep if r["media_id"] in fixes], fixes, old)
        groups += self._scene_groups([r for r in ep if r["media_id"] not in fixes and r["semantic"] is not None], old)
        new_places: dict[str, _Place] = {}
        visits: dict[str, Visit] = {}
        taken: set[str] = set()
        # automatic groups keep the id of the old automatic place most of their episodes were at
        for kind, anchor, rows in sorted(groups, key=lambda g: -len(g[2])):
            if not rows:
                continue
            if anchor is not None:
                place = anchor
            else:
                votes = Counter(old_visits[r["id"]].place_id for r in rows if r["id"] in old_visits)
                pid = next((p for p, _ in votes.most_common()
                            if p in old and not old[p].user_named and old[p].kind == kind and p not in taken), None)
                if pid is None:
                    pid = _new_id()
                    report.created.append(pid)
                prev = old.get(pid)
                place = _Place(pid, kind, None, None, False, None, None, prev.created_at if prev else None)
                self._describe(place, rows, fixes)
            taken.add(place.id)
            new_places[place.id] = place
            for r in rows:
                visits[r["id"]] = Visit(r["id"], place.id, r["start"], r["end"])
        report.removed = sorted(set(old) - set(new_places))
        report.places, report.visits = len(new_places), len(visits)
        changed = [p for pid, p in new_places.items() if pid not in old or _differs(old[pid], p)]
        if changed:
            self._write_places(changed)
        if report.removed:
            self.store.delete("places", sql_in("id", report.removed))
        gone = [e for e, v in old_visits.items() if e not in visits or visits[e].place_id != v.place_id]
        if gone:
            self.store.delete("place_visits", sql_in("id", gone))
        media = {r["id"]: r["media_id"] for r in ep}
        add = [v for e, v in visits.items() if e not in old_visits or old_visits[e].place_id != v.place_id]
        if add:
            self.store.add("place_visits", [
                {"id": v.episode_id, "episode_id": v.episode_id, "media_id": media.get(v.episode_id),
                 "place_id": v.place_id, "start": v.start, "end": v.end} for v in add])
        report.changed = bool(changed or report.removed or gone or add)
        return report

    def _gps_groups(
        self, rows: list[dict[str, Any]], fixes: dict[str, GeoFix], old: dict[str, _Place]
    ) -> list[tuple[PlaceKind, _Place | None, list[dict[str, Any]]]]:
        anchors = [p for p in old.values() if p.user_named and p.kind == "gps" and p.center is not None]
        labels = cluster_fixes([fixes[r["media_id"]] for r in rows], [a.center for a in anchors if a.center],
                               self.params.radius_m)
        return _grouped("gps", anchors, rows, labels, min_media=1)

    def _scene_groups(
        self, rows: list[dict[str, Any]], old: dict[str, _Place]
    ) -> list[tuple[PlaceKind, _Place | None, list[dict[str, Any]]]]:
        anchors = [p for p in old.values() if p.user_named and p.kind == "scene" and p.vector is not None]
        if not rows:
            return []
        vecs: F32 = unit(np.asarray([r["semantic"] for r in rows], dtype=np.float32).reshape(len(rows), SEMANTIC_DIM))
        anchor_vecs = np.asarray([a.vector for a in anchors], dtype=np.float32).reshape(len(anchors), SEMANTIC_DIM)
        labels = cluster_scenes(vecs, anchor_vecs, self.params.scene_similarity)
        for r, v in zip(rows, vecs, strict=True):
            r["_unit"] = v
        return _grouped("scene", anchors, rows, labels, min_media=self.params.scene_min_visits)

    def _describe(self, place: _Place, rows: list[dict[str, Any]], fixes: dict[str, GeoFix]) -> None:
        """Centre or scene vector, and an automatic name, of an automatic place."""
        if place.kind == "gps":
            place.center = mean_fix([fixes[r["media_id"]] for r in rows])
        else:
            mean = np.mean(np.stack([r["_unit"] for r in rows]), axis=0)
            place.vector = [float(x) for x in unit(mean.reshape(1, -1))[0]]
        sign = sign_name(self.store, self.vault, [r["id"] for r in rows], self.params.sign_min_share)
        if sign:
            place.name, place.name_source = sign, "sign"
        elif place.center is not None:
            geo = geocode.place_name(place.center)
            place.name, place.name_source = geo, "geocode" if geo else None

    # ----------------------------------------------------------------- writing
    def _write_places(self, places: list[_Place]) -> None:
        now = _now()
        rows = [{
            "id": p.id, "kind": p.kind,
            "name_enc": self.vault.encrypt_text(p.name, f"place-name:{p.id}") if p.name else None,
            "name_source": p.name_source, "user_named": p.user_named,
            "center_enc": self.vault.encrypt_text(json.dumps({"lat": p.center.lat, "lon": p.center.lon}),
                                                  f"place-center:{p.id}") if p.center else None,
            "vector": p.vector, "created_at": p.created_at or now, "updated_at": now,
        } for p in places]
        batch = pa.Table.from_pylist(rows, schema=SCHEMAS["places"])
        (self.store.table("places").merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
         .execute(batch, on_bad_vectors="null"))


def _grouped(
    kind: PlaceKind, anchors: list[_Place], rows: list[dict[str, Any]], labels: list[int], min_media: int
) -> list[tuple[PlaceKind, _Place | None, list[dict[str, Any]]]]:
    by: dict[int, list[dict[str, Any]]] = {}
    for r, k in zip(rows, labels, strict=True):
        by.setdefault(k, []).append(r)
    out: list[tuple[PlaceKind, _Place | None, list[dict[str, Any]]]] = []
    for k, members in by.items():
        if k < len(anchors):
            out.append((kind, anchors[k], members))
        elif len({m["media_id"] for m in members}) >= min_media:
            out.append((kind, None, members))
    return out


def _differs(a: _Place, b: _Place) -> bool:
    def close(x: GeoFix | None, y: GeoFix | None) -> bool:
        if x is None or y is None:
            return x is y
        return abs(x.lat - y.lat) < 1e-9 and abs(x.lon - y.lon) < 1e-9

    def same_vec(x: list[float] | None, y: list[float] | None) -> bool:
        if x is None or y is None:
            return x is y
        return bool(np.allclose(np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32), atol=1e-6))

    return (a.kind, a.name, a.name_source, a.user_named) != (b.kind, b.name, b.name_source, b.user_named) or not (
        close(a.center, b.center) and same_vec(a.vector, b.vector))


def _fold(name: str) -> str:
    s = unicodedata.normalize("NFKD", name)
    return " ".join("".join(c for c in s if not unicodedata.combining(c)).casefold().split())


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise PlacesError("a place's name must be text")
    clean = " ".join(name.split())
    if not clean:
        raise PlacesError("a place needs a name that is not empty")
    if len(clean) > MAX_NAME:
        raise PlacesError(f"a place's name is at most {MAX_NAME} characters")
    if any(unicodedata.category(c).startswith("C") for c in clean):
        raise PlacesError("a place's name cannot contain control characters")
    return clean
