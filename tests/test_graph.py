"""Issue #15 (part 2): the knowledge graph, on real footage.

A module fixture composes clips from the real sample photos — Obama alone at 09:00 and Obama
with Biden in one frame at 11:00 (both with a GPS position in Edinburgh written into the MP4),
then, in a second import, Biden alone the next morning and a cup of coffee — and imports them
through the real pipeline (faces, places, objects) into a real memory; the graph is built by
the imports themselves. Each test works on its own copy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from helpers import REPO_ROOT, cli_env, error_line, json_doc, run_cli
from PIL import Image

PASS = "test passphrase"
T_A = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)  # Obama alone (Edinburgh)
T_B = datetime(2024, 5, 14, 11, 0, tzinfo=UTC)  # Obama and Biden together (Edinburgh)
T_C = datetime(2024, 5, 15, 10, 0, tzinfo=UTC)  # Biden alone, no GPS (second import)
T_D = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)  # a cup of coffee (second import)
EDI = "+55.9533-003.1883+050.000/"
EDI_50M = "+55.9537-003.1880/"

pytestmark = [pytest.mark.media]


# ------------------------------------------------------------------ making media
def _scene(media: Any, name: str, w: int, h: int, face_frac: float = 0.3) -> np.ndarray:
    """A head-and-shoulders view of a portrait, ``w`` × ``h``, the face ``face_frac`` of the width."""
    from lifelog.faces import get_face_models

    img = np.asarray(Image.open(media.path(name)).convert("RGB"))
    scale = 900 / max(img.shape[:2])
    small = np.asarray(Image.fromarray(img).resize((round(img.shape[1] * scale), round(img.shape[0] * scale))))
    d = max(get_face_models().detect(small), key=lambda d: d.w)
    cx, cy = (d.x + d.w / 2) / scale, (d.y + d.h / 2) / scale
    cw = d.w / scale / face_frac
    ch = cw * h / w
    x0, y0 = max(0, int(cx - cw / 2)), max(0, int(cy - ch * 0.45))
    crop = img[y0 : y0 + int(ch), x0 : x0 + int(cw)]
    return np.asarray(Image.fromarray(crop).resize((w, h)))


def _with_location(src: Path, dst: Path, location: str) -> Path:
    with av.open(str(src)) as i, av.open(str(dst), "w", format="mp4") as o:
        ct = i.metadata.get("creation_time")
        if ct:
            o.metadata["creation_time"] = ct
        o.metadata["location"] = location
        ovs = o.add_stream_from_template(i.streams.video[0])
        for pkt in i.demux(i.streams.video[0]):
            if pkt.dts is None:
                continue
            pkt.stream = ovs
            o.mux(pkt)
    src.unlink()
    return dst


@dataclass
class Built:
    root: Path
    clips: dict[str, Path]
    second_import: list[str]  # episodes of the second import


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, media: Any, models_ready: None) -> Built:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip  # test data only

    mp = pytest.MonkeyPatch()
    mp.setenv("LIFELOG_PASSPHRASE", PASS)
    work = tmp_path_factory.mktemp("graph")
    src = work / "footage"
    src.mkdir()
    together = np.concatenate([_scene(media, "obama2.jpg", 480, 540), _scene(media, "biden.jpg", 480, 540)], axis=1)
    clips = {
        "a": _with_location(make_clip(src / "a-raw.mp4", _scene(media, "obama.jpg", 640, 360), 8, T_A,
                                      effect="zoom_in", seed=1), src / "a.mp4", EDI),
        "b": _with_location(make_clip(src / "b-raw.mp4", together, 8, T_B, effect="zoom_in", seed=2),
                            src / "b.mp4", EDI_50M),
        "c": make_clip(src / "c.mp4", _scene(media, "biden.jpg", 640, 360), 8, T_C, effect="zoom_in", seed=3),
        "d": make_clip(src / "d.mp4", media.path("coffee.png"), 4, T_D, fps=10, size=(320, 240)),
    }
    mem = Memory(work / "memory")
    first = mem.import_paths([clips["a"], clips["b"]])
    assert first.imported == 2 and not first.failed and not first.warnings, first
    second = mem.import_paths([clips["c"], clips["d"]])
    assert second.imported == 2 and not second.failed and not second.warnings, second
    mp.undo()
    return Built(work / "memory", clips, list(second.episodes))


@dataclass
class Mem:
    root: Path
    api: Any  # lifelog.api.Memory
    built: Built

    @property
    def store(self) -> Any:
        return self.api.store

    @property
    def vault(self) -> Any:
        return self.api.vault

    def episode(self, clip: str) -> str:
        from lifelog.ingest.media import content_hash

        mid = content_hash(self.built.clips[clip])
        eps = [r["id"] for r in self.store.rows("episodes", f"media_id = '{mid}'", columns=["id"]).to_pylist()]
        assert len(eps) == 1, eps
        return str(eps[0])

    def people_in(self, clip: str) -> set[str]:
        from lifelog.ingest.media import content_hash

        mid = content_hash(self.built.clips[clip])
        rows = self.store.rows("faces", f"media_id = '{mid}' AND person_id IS NOT NULL", columns=["person_id"])
        return {str(p) for p in rows.column("person_id").to_pylist()}

    def cast(self) -> tuple[str, str, str]:
        """(Biden, Obama as seen alone at 09:00, Obama as seen with Biden at 11:00)."""
        (biden,) = self.people_in("c")
        (obama_a,) = self.people_in("a")
        b = self.people_in("b")
        assert biden in b and len(b) == 2, b
        (obama_b,) = b - {biden}
        return biden, obama_a, obama_b


@pytest.fixture
def mem(built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mem:
    from lifelog.api import Memory

    monkeypatch.setenv("LIFELOG_PASSPHRASE", PASS)
    root = tmp_path / "memory"
    shutil.copytree(built.root, root)
    return Mem(root, Memory(root), built)


def snapshot(store: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The current graph without the times it was learnt at: (edges, nodes)."""
    from lifelog.graph import tables

    edges = tables.open_table(store, tables.EDGES)
    nodes = tables.open_table(store, tables.NODES)
    assert edges is not None and nodes is not None
    e = tables.read(edges, "expired_at IS NULL").to_pylist()
    n = tables.read(nodes, None).to_pylist()
    ek = sorted((r["id"], r["kind"], r["src"], r["dst"], r["episode_id"], r["weight"], r["source"],
                 *((r["valid_from"], r["valid_to"]) if r["episode_id"] else ())) for r in e)
    nk = sorted((r["id"], r["kind"], r["ref"], r["first"], r["last"], r["episodes"]) for r in n)
    return ek, nk


def drop_graph(store: Any) -> None:
    """As a memory made before the graph: its tables empty (the store creates them so)."""
    from lifelog.graph import tables

    for t in tables.TABLES:
        store.table(t).delete("true")


# ------------------------------------------------------------------------ tests
def test_seen_with_where_and_what_on_real_footage(mem: Mem) -> None:
    from lifelog.graph import query

    s, v = mem.store, mem.vault
    biden, obama_a, obama_b = mem.cast()
    assert obama_a != obama_b  # two photos of Obama, two people until the user merges them
    ep_a, ep_b, ep_c, ep_d = (mem.episode(c) for c in "abcd")

    with_biden = query.seen_with(s, v, biden)
    assert [(p.node_id, p.episode_ids) for p in with_biden] == [(obama_b, (ep_b,))]
    assert query.seen_with(s, v, obama_a) == []  # alone all day

    day1 = query.people_between(s, v, T_A - timedelta(hours=1), T_A + timedelta(hours=6))
    assert {p.node_id: p.episode_ids for p in day1} == {biden: (ep_b,), obama_a: (ep_a,), obama_b: (ep_b,)}
    everyone = query.people_between(s, v, None, None)
    assert everyone[0].node_id == biden and everyone[0].episode_ids == (ep_b, ep_c) and everyone[0].count == 2
    # a window that touches nothing, and one that holds only the second day
    assert query.people_between(s, v, T_A - timedelta(days=3), T_A - timedelta(days=2)) == []
    assert [p.node_id for p in query.people_between(s, v, T_C, T_C + timedelta(hours=1))] == [biden]

    places = query.places_between(s, v)
    assert len(places) == 1 and set(places[0].episode_ids) == {ep_a, ep_b} and places[0].label
    edinburgh = places[0].node_id
    assert {p.node_id for p in query.people_at(s, v, edinburgh)} == {biden, obama_a, obama_b}
    assert [p.node_id for p in query.places_of_person(s, v, biden)] == [edinburgh]
    assert query.places_of_person(s, v, biden)[0].episode_ids == (ep_b,)  # not at a place the next day

    things = query.things_between(s, v, T_D - timedelta(minutes=1), T_D + timedelta(minutes=5))
    assert things and all(t.episode_ids == (ep_d,) for t in things)
    cup = query.last_seen_thing(s, v, things[0].node_id)
    assert cup is not None and cup.episode_ids == (ep_d,)
    assert query.last_seen_thing(s, v, "giraffe") is None


def test_incremental_build_equals_a_full_rebuild_and_is_idempotent(mem: Mem, tmp_path: Path) -> None:
    from lifelog.graph.build import build_graph

    incremental = snapshot(mem.store)
    assert any(k[1] == "with_thing" and k[4] == mem.episode("d") for k in incremental[0])
    again = build_graph(mem.store, mem.vault, mem.built.second_import)
    assert (again.added, again.expired, again.removed, again.nodes, again.nodes_removed) == (0, 0, 0, 0, 0)
    assert snapshot(mem.store) == incremental
    drop_graph(mem.store)
    full = build_graph(mem.store, mem.vault, None)
    assert full.full and full.added == len(incremental[0])
    assert snapshot(mem.store) == incremental


def test_a_rename_keeps_history(mem: Mem) -> None:
    from lifelog.graph import query, tables

    biden, _, _ = mem.cast()
    mem.api.name_person(biden, "Joe")
    mem.api.name_person(biden, "Joseph Biden")
    spans = query.name_history(mem.store, mem.vault, f"person:{biden}")
    assert [(s.name, s.valid_to is None) for s in spans] == [("Joe", False), ("Joseph Biden", True)]
    assert spans[0].valid_to is not None and spans[0].valid_to <= spans[1].valid_from
    edges = tables.read(tables.open_table(mem.store, tables.EDGES),
                        f"src = 'person:{biden}' AND kind IN ('named', 'renamed')")
    kinds = sorted((r["kind"], r["expired_at"] is None) for r in edges.to_pylist())
    assert kinds == [("named", False), ("renamed", True)]
    # the label of every answer is the current name, read from the people domain
    assert [p.label for p in query.seen_with(mem.store, mem.vault, mem.cast()[2])] == ["Joseph Biden"]
    # no name in plain text in the graph's files
    for d in tables.TABLES:
        for p in (mem.root / "db" / f"{d}.lance").rglob("*"):
            if p.is_file():
                assert b"Joseph" not in p.read_bytes() and b"Joe" not in p.read_bytes(), p


def test_a_merge_moves_edges_and_expires_the_old_ones(mem: Mem) -> None:
    from lifelog.graph import query, tables

    s, v = mem.store, mem.vault
    biden, obama_a, obama_b = mem.cast()
    mem.api.name_person(obama_b, "B. Obama")
    mem.api.name_person(obama_a, "Barack")
    mem.api.merge_people(obama_a, obama_b)
    assert [(p.node_id, p.label) for p in query.seen_with(s, v, biden)] == [(obama_a, "Barack")]
    me = [p for p in query.people_between(s, v, None, None) if p.node_id == obama_a]
    assert me and me[0].episode_ids == (mem.episode("a"), mem.episode("b"))
    assert obama_b not in {p.node_id for p in query.people_between(s, v, None, None)}
    # a question about the old id answers as the person it was merged into
    assert [p.node_id for p in query.seen_with(s, v, obama_b)] == [biden]
    old = tables.read(tables.open_table(s, tables.EDGES), f"src = 'person:{obama_b}' OR dst = 'person:{obama_b}'")
    rows = old.to_pylist()
    assert rows and {r["kind"] for r in rows if r["expired_at"] is not None} >= {"seen", "seen_with", "named"}
    assert {r["kind"] for r in rows if r["expired_at"] is None} == {"merged"}
    names = query.name_history(s, v, f"person:{obama_a}")
    assert {(n.node, n.name) for n in names} == {(f"person:{obama_b}", "B. Obama"), (f"person:{obama_a}", "Barack")}
    # undo: the merge edge expires and the person's edges come back as new current edges
    mem.api.undo_people_edit()
    assert [p.node_id for p in query.seen_with(s, v, biden)] == [obama_b]
    merged = [r for r in tables.read(tables.open_table(s, tables.EDGES), "kind = 'merged'").to_pylist()]
    assert merged and all(r["expired_at"] is not None for r in merged)


def _graph_bytes(root: Path) -> bytes:
    from lifelog.graph import tables

    return b"".join(p.read_bytes() for d in tables.TABLES for p in (root / "db" / f"{d}.lance").rglob("*")
                    if p.is_file())


def test_forget_cascades_through_the_graph(mem: Mem) -> None:
    from lifelog.api.privacy import ForgetRequest
    from lifelog.graph import query

    s, v = mem.store, mem.vault
    biden, _, obama_b = mem.cast()
    mem.api.name_person(biden, "Joe")
    from lifelog.api import graph as gapi

    fact = gapi.add_fact(mem.api, biden, "went to Delaware")
    assert biden.encode() in _graph_bytes(mem.root)  # the scan finds what it looks for
    mem.api.forget(ForgetRequest("person", biden))
    assert biden.encode() not in _graph_bytes(mem.root)  # current and old versions alike
    assert fact.id.encode() not in _graph_bytes(mem.root)
    assert query.seen_with(s, v, obama_b) == []
    assert query.list_facts(s, v, None, with_retracted=True) == []
    # the day of the cup goes whole: its episode, its thing and its day node
    ep_d = mem.episode("d")
    mem.api.forget(ForgetRequest("day", None, T_D.replace(hour=0), T_D.replace(hour=0) + timedelta(days=1)))
    assert ep_d.encode() not in _graph_bytes(mem.root)
    assert b"day:2024-05-15" not in _graph_bytes(mem.root)
    assert query.things_between(s, v) == []
    # a place: everything recorded there, so its node and every edge to it
    (place,) = query.places_between(s, v)
    mem.api.forget(ForgetRequest("place", place.node_id))
    assert place.node_id.encode() not in _graph_bytes(mem.root)
    assert query.people_between(s, v, None, None) == []


def test_facts_are_encrypted_bitemporal_and_checked(mem: Mem) -> None:
    from lifelog.api import graph as gapi
    from lifelog.graph import query

    biden, _, _ = mem.cast()
    f = gapi.add_fact(mem.api, biden, "  likes   ice cream ")
    assert f.text == "likes ice cream" and f.subject == f"person:{biden}"
    assert b"ice cream" not in _graph_bytes(mem.root)
    (place,) = query.places_between(mem.store, mem.vault)
    gapi.add_fact(mem.api, place.node_id, "the office")
    for bad in ("", "   ", "a\nb\x00", "x" * 501):
        with pytest.raises(gapi.GraphError):
            gapi.add_fact(mem.api, biden, bad)
    with pytest.raises(gapi.GraphError, match="no person, place or object"):
        gapi.add_fact(mem.api, "nobody-at-all", "hello")
    assert [x.text for x in query.facts_about(mem.store, mem.vault, biden)] == ["likes ice cream"]
    gapi.retract_fact(mem.api, f.id)
    assert query.facts_about(mem.store, mem.vault, biden) == []
    kept = query.list_facts(mem.store, mem.vault, biden, with_retracted=True)
    assert [(x.id, x.expired_at is not None) for x in kept] == [(f.id, True)]
    with pytest.raises(gapi.GraphError, match="already retracted"):
        gapi.retract_fact(mem.api, f.id)


def test_key_rotation_keeps_facts_and_names_readable(mem: Mem) -> None:
    from lifelog.api import graph as gapi
    from lifelog.graph import query

    biden, _, _ = mem.cast()
    mem.api.name_person(biden, "Joe")
    mem.api.name_person(biden, "Joseph")
    gapi.add_fact(mem.api, biden, "likes trains")
    before = _graph_bytes(mem.root)
    mem.api.rotate_key(PASS)
    assert [f.text for f in query.facts_about(mem.api.store, mem.api.vault, biden)] == ["likes trains"]
    assert [n.name for n in query.name_history(mem.api.store, mem.api.vault, f"person:{biden}")] == ["Joe", "Joseph"]
    assert _graph_bytes(mem.root) != before


def test_a_memory_without_graph_tables_answers_from_the_domains(mem: Mem) -> None:
    from lifelog.graph import query, tables

    before = [(p.node_id, p.episode_ids) for p in query.people_between(mem.store, mem.vault, None, None)]
    things = [(p.node_id, p.episode_ids) for p in query.things_between(mem.store, mem.vault)]
    drop_graph(mem.store)
    assert [(p.node_id, p.episode_ids) for p in query.people_between(mem.store, mem.vault, None, None)] == before
    assert [(p.node_id, p.episode_ids) for p in query.things_between(mem.store, mem.vault)] == things
    assert query.facts_about(mem.store, mem.vault, "anyone") == []
    assert query.name_history(mem.store, mem.vault, "person:x") == []
    assert not query.stats(mem.store).built
    assert mem.store.count(tables.EDGES) == 0  # a reader writes nothing


def test_trash_hides_and_restore_brings_back(mem: Mem) -> None:
    from lifelog.graph import query

    biden, _, obama_b = mem.cast()
    mem.api.trash_episodes([mem.episode("b")])
    assert query.seen_with(mem.store, mem.vault, biden) == []
    mem.api.restore_from_trash([mem.episode("b")])
    assert [p.node_id for p in query.seen_with(mem.store, mem.vault, biden)] == [obama_b]


def _by_key(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["kind"], r["src"], r["dst"], r["episode_id"]))


def test_questions_read_a_snapshot_that_follows_every_change(mem: Mem, monkeypatch: pytest.MonkeyPatch) -> None:
    """The edges questions read are held per process (``tables.EdgeSnapshot``, by table
    version): they are exactly what a read of the table gives, they follow a change made by
    another process, and after a forget no snapshot or cache of this process holds the person."""
    from lifelog.api import Memory
    from lifelog.api.privacy import ForgetRequest
    from lifelog.graph import query, tables

    s, v = mem.store, mem.vault
    biden, obama_a, obama_b = mem.cast()
    sec = timedelta(seconds=1)
    cases: list[tuple[list[Any], datetime | None, datetime | None, dict[str, Any]]] = [
        (["seen", "seen_with", "at", "with_thing", "on"], None, None, {}),
        (["seen", "at", "with_thing"], T_A - timedelta(hours=1), T_D + timedelta(hours=1),
         {"windows": [(T_A - 5 * sec, T_A + 5 * sec), (T_C + 2 * sec, T_C + 3 * sec)]}),
        (["seen_with", "seen"], T_B + 2 * sec, T_B + 3 * sec, {}),  # a window inside an episode
        (["at"], None, T_B + sec, {"src_kind": "person"}),
        (["at"], T_A + sec, None, {"dst_kind": "place", "src": [f"person:{biden}", f"person:{obama_a}"]}),
        (["seen"], None, None, {"dst": [f"episode:{mem.episode('c')}"]}),
        (["seen"], T_D + timedelta(days=1), None, {}),  # after everything
    ]

    def both(kinds: list[Any], a: datetime | None, b: datetime | None, kw: dict[str, Any]) -> list[dict[str, Any]]:
        fast = _by_key(query._edges(s, kinds, a, b, **kw))
        with monkeypatch.context() as m:
            m.setattr(tables, "SNAPSHOT_KINDS", ())  # the table read, as before the snapshot
            slow = _by_key(query._edges(s, kinds, a, b, **kw))
        assert fast == slow, (kinds, a, b, kw)
        return fast

    got = [both(*c) for c in cases]
    assert len(got[0]) > 10 and got[1] and got[2] and got[3] and got[4] and got[5] and got[6] == []
    assert {r["episode_id"] for r in got[2]} == {mem.episode("b")}
    assert {r["episode_id"] for r in got[1]} == {mem.episode("a"), mem.episode("c")}

    # another process (another Memory of the same folder) forgets Biden: the next question here sees it
    assert [p.node_id for p in query.seen_with(s, v, obama_b)] == [biden]
    Memory(mem.root).forget(ForgetRequest("person", biden))
    assert query.seen_with(s, v, obama_b) == []
    assert biden not in {p.node_id for p in query.people_between(s, v, None, None)}

    # forgotten here: nothing of the person is left in this process's snapshots or people rows
    assert obama_a in {p.node_id for p in query.people_between(s, v, None, None)}
    query.places_between(s, v)
    assert query._PEOPLE and query._PLACES and tables._SNAPSHOTS
    mem.api.forget(ForgetRequest("person", obama_a))
    assert not query._PEOPLE and not query._PLACES and not tables._SNAPSHOTS
    assert obama_a not in {p.node_id for p in query.people_between(s, v, None, None)}
    held = [str(k.rows.to_pylist()) for snap in tables._SNAPSHOTS.values() for k in snap.by_kind.values()]
    assert held and not any(obama_a in h for h in held)
    assert all(obama_a not in rows for _, rows, _ in query._PEOPLE.values())


def test_best_crops_and_routine_presences_held_per_process_equal_a_fresh_read(mem: Mem) -> None:
    """The best face crop of each person (held per faces-table version) and the routine's
    presences per window (from the edge snapshot's columns) are exactly what a fresh read gives,
    with the trash and without; a forget by another process is seen at the next question, and a
    forget here leaves no crop of the person in this process."""
    from lifelog.api import Memory
    from lifelog.api.privacy import ForgetRequest
    from lifelog.graph import query
    from lifelog.people import store as people_store
    from lifelog.people.service import People
    from lifelog.recall import who_where

    s, v = mem.store, mem.vault
    biden, obama_a, obama_b = mem.cast()
    pt = people_store.PeopleTables(s, v)
    everyone = sorted(pt.people())
    crops = pt.best_crops(everyone)
    assert crops == pt.best_crops_read(everyone) and set(crops) == {biden, obama_a, obama_b}
    assert all(crops.values())
    brief = People(s, v).brief(everyone)
    assert {pid: b.thumbnail for pid, b in brief.items()} == {pid: People(s, v).get(pid).thumbnail
                                                              for pid in brief}
    assert people_store._CROPS and people_store._BRIEF_ROWS  # held
    pairs = [(p, e) for p in everyone for e in (mem.episode("a"), mem.episode("b"), mem.episode("c"))]
    moments = who_where._thumbs_of(mem.api, pairs)
    assert moments == who_where._thumbs_read(mem.api, pairs) and len(moments) == 4 and people_store._EPISODE_CROPS

    hours = timedelta(hours=1)
    windows = [(T_A - hours, T_A + 3 * hours), (T_C - hours, T_D + hours)]  # the two mornings
    fast = query.presences_in_windows(s, v, windows)
    assert fast == query.presences_in_windows_read(s, v, windows)
    assert {p.node_id for p in fast[0] if p.kind == "person"} == {obama_a, obama_b, biden}
    assert {p.node_id for p in fast[1] if p.kind == "person"} == {biden}
    mem.api.trash_episodes([mem.episode("b")])  # the trash: a fresh read per question, and no edge of it
    assert pt.best_crops(everyone) == pt.best_crops_read(everyone)
    trashed = query.presences_in_windows(s, v, windows)
    assert trashed == query.presences_in_windows_read(s, v, windows)
    assert {p.node_id for p in trashed[0] if p.kind == "person"} == {obama_a}
    mem.api.restore_from_trash([mem.episode("b")])
    assert query.presences_in_windows(s, v, windows) == fast

    # another process (another Memory of the same folder) forgets Biden: seen at the next question
    Memory(mem.root).forget(ForgetRequest("person", biden))
    assert biden not in People(s, v).brief(everyone) and biden not in pt.best_crops(everyone)
    assert who_where._thumbs_of(mem.api, pairs) == who_where._thumbs_read(mem.api, pairs)
    assert all(p != biden for p, _ in who_where._thumbs_of(mem.api, pairs))
    assert pt.best_crops(everyone) == pt.best_crops_read(everyone)
    assert all(p.node_id != biden for ps in query.presences_in_windows(s, v, windows) for p in ps)

    # forgotten here: the cache is dropped at once, and what is read again holds nothing of them
    gone = crops[obama_a]
    mem.api.forget(ForgetRequest("person", obama_a))
    assert not people_store._CROPS and not people_store._EPISODE_CROPS and not people_store._BRIEF_ROWS
    left = pt.best_crops(everyone)
    assert set(left) == {obama_b} and left == pt.best_crops_read(everyone)
    assert set(People(s, v).brief(everyone)) == {obama_b}
    assert who_where._thumbs_of(mem.api, pairs) == who_where._thumbs_read(mem.api, pairs)
    held = [(pid, c) for _, every in people_store._CROPS.values() for pid, c in every.items()]
    held += [(pid, c) for _, every in people_store._EPISODE_CROPS.values() for (pid, _), c in every.items()]
    assert held and all(pid != obama_a and c != gone for pid, c in held)
    assert all(obama_a not in rows for _, rows in people_store._BRIEF_ROWS.values())


def test_answer_moments_show_the_faces_and_times_read_one_by_one(mem: Mem) -> None:
    """An answer's moments take their times from the edges and their face crops from one read
    for all of them: the same as reading each episode and each face on its own."""
    from lifelog.graph import query
    from lifelog.recall import who_where

    s, v = mem.store, mem.vault
    biden = mem.cast()[0]
    seen = query.people_between(s, v, None, None)
    pairs = [(p.node_id, e) for p in seen for e in p.episode_ids] + [(biden, mem.episode("a"))]  # not there
    want = {k: t for k in pairs if (t := who_where._thumb_of(mem.api, *k)) is not None}
    assert who_where._thumbs_of(mem.api, pairs) == want and len(want) == len(pairs) - 1
    eps = s.rows("episodes", None, columns=["id", "start", "end"]).to_pylist()
    spans = {r["id"]: (r["start"], r["end"]) for r in eps}
    for p in [*seen, *query.places_between(s, v), *query.things_between(s, v)]:
        assert dict(zip(p.episode_ids, p.spans, strict=True)) == {e: spans[e] for e in p.episode_ids}
    a = mem.api.ask("who did I meet on Tuesday?", now=T_C + timedelta(hours=12), thumbnails=True)
    faces = [ev for h in a.hits for ev in h.evidence if ev.kind == "face"]
    assert {h.episode_id for h in a.hits} == {mem.episode("a"), mem.episode("b")}
    assert faces and all(ev.thumbnail and Path(ev.thumbnail).is_file() for ev in faces)
    assert [(h.start, h.end) for h in a.hits] == [spans[h.episode_id] for h in a.hits]


def test_a_place_is_found_by_its_name_as_places_find_does(mem: Mem) -> None:
    from lifelog.graph import query
    from lifelog.places import Places

    s, v = mem.store, mem.vault
    (place,) = query.places_between(s, v)
    pl = Places(s, v)
    pl.name(place.node_id, "Café  Royal")
    for asked in ("cafe royal", "CAFÉ ROYAL", " café   royal "):
        found = pl.find(asked)
        assert found is not None and found.id == place.node_id
        assert query.find_place(s, v, asked) == (place.node_id, found.name)
    assert query.find_place(s, v, "the gym") is None
    assert query.find_place(s, v, "the gym", "cafe royal") == (place.node_id, "Café Royal")
    pl.name(place.node_id, "home")  # renamed: the old name finds nothing (names cached by ciphertext)
    assert query.find_place(s, v, "cafe royal") is None and query.find_place(s, v, "Home") == (place.node_id, "home")


def test_people_are_found_by_name_as_people_find_ids_does(mem: Mem) -> None:
    from lifelog.graph import query
    from lifelog.people.service import People

    s, v = mem.store, mem.vault
    biden, obama_a, obama_b = mem.cast()
    mem.api.name_person(biden, "Joe  Biden")
    mem.api.name_person(obama_a, "Barack Obama")
    mem.api.name_person(obama_b, "Barack")
    people = People(s, v)
    for asked in ("joe biden", "BIDEN", "Barack", "barack obama", "Obama", "nobody", "  "):
        assert query.find_people(s, v, asked) == people.find_ids(asked), asked
    assert query.find_people(s, v, "barack") == [(obama_b, "Barack")]  # the full name first
    assert sorted(query.find_people(s, v, "obama")) == [(obama_a, "Barack Obama")]
    mem.api.merge_people(obama_a, obama_b)  # merged away: no longer found, the survivor by first name
    assert query.find_people(s, v, "barack") == people.find_ids("barack") == [(obama_a, "Barack Obama")]
    assert query.find_people(s, v, "obama") == [(obama_a, "Barack Obama")]
    mem.api.name_person(biden, "Joseph")  # renamed: found by the new name only
    assert query.find_people(s, v, "joe biden") == [] and query.find_people(s, v, "joseph") == [(biden, "Joseph")]


def test_a_killed_build_is_completed_by_the_next(mem: Mem, tmp_path: Path) -> None:
    from lifelog.graph import tables
    from lifelog.graph.build import build_graph
    from lifelog.store.db import Store
    from lifelog.store.vault import Vault

    clean = snapshot(mem.store)
    drop_graph(mem.store)
    code = ("import sys; from pathlib import Path; from lifelog.store.db import Store; "
            "from lifelog.store.vault import Vault; from lifelog.graph.build import build_graph; "
            "root = Path(sys.argv[1]); build_graph(Store(root), Vault.open(root, passphrase=sys.argv[2]), None)")
    for point in ("after-add", "before-nodes"):
        proc = subprocess.run([sys.executable, "-c", code, str(mem.root), PASS], cwd=REPO_ROOT, timeout=300,
                              env=cli_env(LIFELOG_GRAPH_KILL_AT=point), capture_output=True, text=True)
        assert proc.returncode == -9, proc.stderr[-2000:]
        assert (mem.root / tables.STATE_DIR / tables.DIRTY).exists()
        store = Store(mem.root)
        build_graph(store, Vault.open(mem.root, passphrase=PASS), [])  # an import's build, told of nothing
        assert not (mem.root / tables.STATE_DIR / tables.DIRTY).exists()
        assert snapshot(store) == clean
        drop_graph(store)
        drop_graph(mem.store)


def test_nightly_pass_repairs_the_graph(mem: Mem) -> None:
    from lifelog.consolidate.context import ConsolidationContext
    from lifelog.consolidate.steps import STEPS, rebuild_graph
    from lifelog.graph import tables

    names = [s.name for s in STEPS]
    assert names.index("graph") == names.index("places") + 1
    clean = snapshot(mem.store)
    # an edge lost (e.g. a build that failed after an import) comes back; nothing else changes
    tbl = tables.open_table(mem.store, tables.EDGES)
    tbl.delete("kind = 'with_thing'")
    ctx = ConsolidationContext(mem.root, mem.api.settings, mem.store, mem.vault, UTC)
    figures = rebuild_graph(ctx, datetime.now(UTC))
    assert figures["added"] >= 1 and figures["expired"] == 0
    assert snapshot(mem.store) == clean


# ------------------------------------------------------------------------- CLI
def test_cli_contract(mem: Mem, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    biden, _, obama_b = mem.cast()
    mem.api.name_person(biden, "Joe Biden")
    d = mem.root
    person = json_doc(run_cli(d, "graph", "person", "joe", "--json"))
    assert person["kind"] == "person" and person["id"] == biden and person["label"] == "Joe Biden"
    assert [p["id"] for p in person["people"]] == [obama_b]
    assert person["people"][0]["episodes"] == [mem.episode("b")]
    assert person["people"][0]["first"].endswith("+00:00") and len(person["places"]) == 1
    assert person["episodes"] == [mem.episode("b"), mem.episode("c")]
    ranged = json_doc(run_cli(d, "graph", "--person", biden, "--from", "2024-05-15", "--to", "2024-05-15",
                              "--json"))
    assert ranged["people"] == [] and ranged["episodes"] == [mem.episode("c")]
    day = json_doc(run_cli(d, "graph", "day", "2024-05-14", "--json"))
    assert {p["id"] for p in day["people"]} == mem.people_in("a") | mem.people_in("b")
    assert len(day["places"]) == 1 and day["things"] == []
    place = json_doc(run_cli(d, "graph", "place", person["places"][0]["id"], "--json"))
    assert {p["id"] for p in place["people"]} == mem.people_in("a") | mem.people_in("b")
    fact = json_doc(run_cli(d, "graph", "fact", "add", "Joe Biden", "was vice president", "--json"))
    listed = json_doc(run_cli(d, "graph", "fact", "list", biden, "--json"))
    assert [f["text"] for f in listed] == ["was vice president"] and listed[0]["id"] == fact["id"]
    hist = json_doc(run_cli(d, "graph", "history", biden, "--json"))
    assert [n["name"] for n in hist["names"]] == ["Joe Biden"]
    stats = json_doc(run_cli(d, "graph", "stats", "--json"))
    assert stats["built"] and stats["edges"]["seen_with"] == 1 and stats["facts"] == 1
    out = tmp_path / "graph.graphml"
    exported = json_doc(run_cli(d, "graph", "export", "--format", "graphml", str(out), "--json"))
    tree = ET.parse(out)
    ns = "{http://graphml.graphdrawing.org/xmlns}"
    assert len(tree.findall(f".//{ns}node")) >= exported["nodes"] and len(tree.findall(f".//{ns}edge")) == \
        exported["edges"]
    assert f"person:{biden}" in {n.get("id") for n in tree.findall(f".//{ns}node")}
    for args in (["graph", "person", "nobody"], ["graph", "place", "nowhere"], ["graph", "history", "zzz"],
                 ["graph", "fact", "retract", "f000"], ["graph", "day", "yesterday"], ["graph"],
                 ["graph", "export", str(out)], ["graph", "fact", "add", biden, "  "]):
        proc = run_cli(d, *args, "--json")
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stdout == "" and error_line(proc)
    assert "no person with id or name 'nobody'" in error_line(run_cli(d, "graph", "person", "nobody"))


def test_archive_round_trip_carries_places_and_facts(mem: Mem, tmp_path: Path) -> None:
    from lifelog.api import Memory
    from lifelog.api import graph as gapi
    from lifelog.api.places import list_places, name_place

    biden, _, _ = mem.cast()
    mem.api.name_person(biden, "Joe")
    mem.api.name_person(biden, "Joseph")
    (place,) = list_places(mem.api)
    name_place(mem.api, place.id, "the office")
    gapi.add_fact(mem.api, "Joseph", "was vice president")
    gapi.add_fact(mem.api, "the office", "on the Royal Mile")
    mem.api.export(tmp_path / "export")
    assert (tmp_path / "export" / "data" / "places.json").exists()
    assert b"the office" in (tmp_path / "export" / "data" / "places.json").read_bytes()
    other = Memory(tmp_path / "other")
    other.import_archive(tmp_path / "export")
    (p2,) = list_places(other)
    assert (p2.id, p2.name, p2.episodes) == (place.id, "the office", 2)
    facts = {f.subject: f.text for f in gapi.list_facts(other)}
    assert facts == {f"person:{biden}": "was vice president", f"place:{place.id}": "on the Royal Mile"}
    _, names = gapi.history(other, biden)
    assert [n.name for n in names] == ["Joe", "Joseph"]
    assert [p.node_id for p in gapi.seen_with(other, "Joseph")] == [p.node_id for p in gapi.seen_with(mem.api, biden)]
    # importing again adds nothing
    again = other.import_archive(tmp_path / "export")
    assert again.added.get("graph_edges") == 0 and again.added.get("places") == 0


# -------------------------------------------------------------------------- app
def test_people_and_places_page(mem: Mem, qtbot: Any) -> None:
    """The People & Places page lists who and where, shows a neighbourhood, moves to a linked
    person and opens a moment in the timeline."""
    from ui.app import MainWindow, PageSpec
    from ui.pages.graph import GraphPage
    from ui.pages.timeline import TimelinePage
    from ui.qt import Qt

    biden, _, obama_b = mem.cast()
    mem.api.name_person(biden, "Joe Biden")
    win = MainWindow(mem.api, now=T_C + timedelta(days=1), pages=[
        PageSpec("graph", "People & Places", GraphPage), PageSpec("timeline", "Timeline", TimelinePage)])
    qtbot.addWidget(win)
    win.show()
    win.navigate("graph")
    page = win.page("graph")
    assert isinstance(page, GraphPage)
    qtbot.waitUntil(lambda: page.loaded, timeout=60_000)
    assert page.keys[0] == f"person:{biden}"  # most episodes first
    assert page.list.item(0).text().startswith("Joe Biden\n2 episodes")
    assert page.list.item(0).data(Qt.ItemDataRole.AccessibleDescriptionRole) == "person"
    assert not page.list.item(0).icon().isNull()
    assert sum(k.startswith("place:") for k in page.keys) == 1
    assert any("someone not named yet" in page.list.item(i).text() for i in range(page.list.count()))
    page.select(f"person:{biden}")
    qtbot.waitUntil(lambda: page.detail is not None, timeout=60_000)
    assert page.title.text() == "Joe Biden — 2 episodes" and "2024-05 ■■ 2" in page.strip.text()
    assert page.links.count() == 1 and page.links.item(0).data(page_role()) == f"person:{obama_b}"
    assert page.where.count() == 1 and page.moments.count() == 2
    page.links.itemClicked.emit(page.links.item(0))  # to the person seen with him
    qtbot.waitUntil(lambda: page.detail is not None and page.detail.view.id == obama_b, timeout=60_000)
    assert page.links.item(0).text().startswith("Joe Biden")
    page.open_moment(0)
    assert win.current_key() == "timeline"
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=60_000)


def page_role() -> Any:
    from ui.pages.graph import ROLE_KEY

    return ROLE_KEY
