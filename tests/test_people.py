"""People from real faces in real imports: one person across days, edits, undo, bad input.

A module fixture composes H.264 clips (head-worn-camera style) from the real photos — Obama
on Monday and again, from another photo, on Tuesday; Biden on Tuesday; a stranger (the
astronaut) on Wednesday — imports them with the face analyzer into a real store and vault, and
assigns people. Each test works on its own copy of that memory.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lifelog.people.cluster import ClusterParams, average_linkage
from lifelog.people.names import MAX_NAME_CHARS, clean_name
from lifelog.people.service import People
from lifelog.people.types import PeopleError
from lifelog.store.db import Store
from lifelog.store.vault import Vault

PASS = "test passphrase"
MONDAY = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)
TUESDAY_LATER = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
WEDNESDAY = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)


# ------------------------------------------------------------------ pure parts
def test_clean_name() -> None:
    assert clean_name("  Sam   Smith ") == "Sam Smith"
    assert clean_name("Zoë") == "Zoë"
    assert clean_name("Ze\u0301") == "Zé"  # NFC
    with pytest.raises(PeopleError, match="empty"):
        clean_name("   ")
    with pytest.raises(PeopleError, match="empty"):
        clean_name("")
    with pytest.raises(PeopleError, match=f"at most {MAX_NAME_CHARS} characters"):
        clean_name("x" * 10_000)
    for bad in ("Sam\nSmith", "Sam\x00", "\x1b[31mSam", "Sam\u202eevil", "Sam\tSmith"):
        with pytest.raises(PeopleError, match="control or invisible"):
            clean_name(bad)
    with pytest.raises(PeopleError, match="text"):
        clean_name(None)


def test_average_linkage_respects_the_cut_and_same_frame() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, (6, 128)).astype(np.float32)  # within a group: ~0.16 apart
    b = a + np.float32(0.5 / np.sqrt(128) * 2)  # a second tight group ~1.0 away
    emb = np.concatenate([a, b])
    frames = [f"f{i}" for i in range(12)]
    labels = average_linkage(emb, frames, 0.45)
    assert len(set(labels[:6])) == 1 and len(set(labels[6:])) == 1 and labels[0] != labels[6]
    # two faces of one frame are never one person, however close
    frames[1] = frames[0]
    labels = average_linkage(emb, frames, 0.45)
    assert labels[0] != labels[1]


# -------------------------------------------------------------- the memory
@dataclass
class Built:
    root: Path
    obama_media: set[str]
    biden_media: str
    stranger_media: str


def _scene(media: Any, name: str, face_frac: float = 0.3) -> np.ndarray:
    """A 16:9 head-and-shoulders view of a portrait, the face ``face_frac`` of the width."""
    from lifelog.faces import get_face_models

    img = np.asarray(Image.open(media.path(name)).convert("RGB"))
    scale = 900 / max(img.shape[:2])
    small = np.asarray(Image.fromarray(img).resize((round(img.shape[1] * scale), round(img.shape[0] * scale))))
    d = max(get_face_models().detect(small), key=lambda d: d.w)
    fw = d.w / scale
    cx, cy = (d.x + d.w / 2) / scale, (d.y + d.h / 2) / scale
    w = fw / face_frac
    h = w * 9 / 16
    x0, y0 = max(0, int(cx - w / 2)), max(0, int(cy - h * 0.45))
    crop = img[y0 : y0 + int(h), x0 : x0 + int(w)]
    pad_h, pad_w = int(h) - crop.shape[0], int(w) - crop.shape[1]
    if pad_h > 0 or pad_w > 0:  # photo edge: extend with the edge pixels
        crop = np.pad(crop, ((0, max(0, pad_h)), (0, max(0, pad_w)), (0, 0)), mode="edge")
    return np.ascontiguousarray(crop)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, media: Any, models_ready: None) -> Built:
    from lifelog.config import Settings
    from lifelog.faces import FaceAnalyzer
    from lifelog.ingest.media import content_hash
    from lifelog.ingest.pipeline import Importer
    from lifelog.sample.compose import make_clip

    work = tmp_path_factory.mktemp("people")
    plan = [
        ("obama.jpg", MONDAY, "obama"),
        ("obama2.jpg", TUESDAY, "obama"),
        ("biden.jpg", TUESDAY_LATER, "biden"),
        ("astronaut.png", WEDNESDAY, "stranger"),
    ]
    clips: dict[str, list[Path]] = {}
    for i, (name, start, who) in enumerate(plan):
        p = work / f"{Path(name).stem}.mp4"
        make_clip(p, _scene(media, name), 8.0, start, effect="zoom_in", seed=i)
        clips.setdefault(who, []).append(p)
    root = work / "memory"
    store = Store(root)
    vault = Vault.open(root, passphrase=PASS)
    importer = Importer(store, vault, Settings(), analyzers=[FaceAnalyzer(vault)])
    # Monday and Tuesday arrive in separate imports, as they would from a camera
    first = importer.run([clips["obama"][0]])
    assert not first.failed
    People(store, vault).assign_new_faces()
    rest = importer.run([clips["obama"][1], *clips["biden"]])
    assert not rest.failed and not rest.warnings
    People(store, vault).assign_new_faces()
    return Built(
        root,
        {content_hash(p) for p in clips["obama"]},
        content_hash(clips["biden"][0]),
        content_hash(clips["stranger"][0]),
    )


@dataclass
class Mem:
    root: Path
    store: Store
    vault: Vault
    people: People
    built: Built
    clips_dir: Path

    def reopen(self) -> Mem:
        store = Store(self.root)
        vault = Vault.open(self.root, passphrase=PASS)
        return Mem(self.root, store, vault, People(store, vault), self.built, self.clips_dir)

    def by_media(self) -> dict[str, set[str | None]]:
        rows = self.store.rows("faces", columns=["media_id", "person_id"]).to_pylist()
        out: dict[str, set[str | None]] = {}
        for r in rows:
            out.setdefault(r["media_id"], set()).add(r["person_id"])
        return out

    def person_of(self, media_ids: set[str] | str) -> str:
        ids = {media_ids} if isinstance(media_ids, str) else media_ids
        found = {p for m, ps in self.by_media().items() if m in ids for p in ps if p}
        assert len(found) == 1, found
        return found.pop()

    def state(self) -> tuple[Any, ...]:
        """Everything a people operation may change (to check that a refused one changed nothing)."""
        faces = sorted((r["id"], r["person_id"], r["assigned_by"]) for r in self.store.rows(
            "faces", columns=["id", "person_id", "assigned_by"]).to_pylist())
        people = sorted((p.id, p.name, p.hidden, p.faces) for p in self.people.list(include_hidden=True))
        return tuple(faces), tuple(people), len(self.people.edits())


@pytest.fixture
def mem(built: Built, tmp_path: Path) -> Iterator[Mem]:
    root = tmp_path / "memory"
    shutil.copytree(built.root, root)
    store = Store(root)
    vault = Vault.open(root, passphrase=PASS)
    yield Mem(root, store, vault, People(store, vault), built, tmp_path)


# ------------------------------------------------------------------- clustering
def test_same_person_on_two_days_is_one_person(mem: Mem) -> None:
    by_media = mem.by_media()
    obama = mem.person_of(mem.built.obama_media)
    biden = mem.person_of(mem.built.biden_media)
    assert obama != biden
    for mid in mem.built.obama_media:
        assert by_media[mid] <= {obama, None}
    listed = {p.id: p for p in mem.people.list()}
    assert set(listed) == {obama, biden}
    o = listed[obama]
    assert o.first_seen is not None and o.first_seen.date() == MONDAY.date()
    assert o.last_seen is not None and o.last_seen.date() == TUESDAY.date()
    assert o.episodes == 2 and o.faces >= 6 and o.thumbnail
    assert mem.vault.get(o.thumbnail)[:3] == b"\xff\xd8\xff"
    assert listed[biden].episodes == 1
    eps = mem.people.episodes_with(obama)
    assert len(eps) == 2 and eps[0].split("-")[0] != eps[1].split("-")[0]  # two files, Monday first
    assert [s.first.date() for s in mem.people.sightings(obama)] == [MONDAY.date(), TUESDAY.date()]


def test_stranger_never_joins_a_named_person(mem: Mem) -> None:
    from lifelog.config import Settings
    from lifelog.faces import FaceAnalyzer
    from lifelog.ingest.pipeline import Importer

    obama = mem.person_of(mem.built.obama_media)
    mem.people.name(obama, "Barack")
    clip = next(mem.built.root.parent.glob("astronaut.mp4"))
    Importer(mem.store, mem.vault, Settings(), analyzers=[FaceAnalyzer(mem.vault)]).run([clip])
    mem.people.assign_new_faces()
    stranger = mem.by_media()[mem.built.stranger_media]
    assert stranger and obama not in stranger
    assert mem.people.get(obama).name == "Barack"


def test_recluster_keeps_people_and_ids(mem: Mem) -> None:
    before = {p.id: p.faces for p in mem.people.list()}
    report = mem.people.recluster()
    assert {p.id: p.faces for p in mem.people.list()} == before
    assert report.new_people == [] and report.removed_people == []


# ------------------------------------------------------------------ user edits
def test_name_find_and_undo_after_reopen(mem: Mem) -> None:
    obama = mem.person_of(mem.built.obama_media)
    info = mem.people.name(obama, "  Barack   Obama ")
    assert info.name == "Barack Obama" and info.locked
    again = mem.reopen()
    assert again.people.get(obama).name == "Barack Obama"
    assert [p.id for p in again.people.find("barack")] == [obama]
    assert [p.id for p in again.people.find("Barack Obama")] == [obama]
    assert again.people.find("Sam") == []
    # "when did I last see Barack?" / "... on Tuesday?"
    people, seen = again.people.sightings_of("barack")
    assert [p.id for p in people] == [obama]
    assert [x.first.date() for x in seen] == [TUESDAY.date(), MONDAY.date()]  # latest first
    _, tuesday = again.people.sightings_of("Barack", start=TUESDAY.replace(hour=0), end=TUESDAY.replace(hour=23))
    assert [x.first.date() for x in tuesday] == [TUESDAY.date()]
    assert again.people.sightings_of("Sam") == ([], [])
    eps = again.people.episodes_with(obama)
    biden = again.person_of(again.built.biden_media)
    shown = again.people.people_in_episodes([*eps, *again.people.episodes_with(biden)])
    assert [shown[e] for e in eps] == [["Barack Obama"], ["Barack Obama"]]
    # an unnamed person's episode shows them by id (episodes are keyed by content hash: no order)
    assert [shown[e] for e in again.people.episodes_with(biden)] == [[f"person {biden}"]]
    # the name is vault ciphertext on disk
    raw = again.store.rows("people", columns=["name_enc"]).column("name_enc").to_pylist()
    assert all(b"Barack" not in (r or b"") for r in raw)
    edit = again.people.undo()
    assert edit.op == "name" and edit.person_ids == [obama]
    assert again.reopen().people.get(obama).name is None


def test_merge_and_undo(mem: Mem) -> None:
    obama = mem.person_of(mem.built.obama_media)
    biden = mem.person_of(mem.built.biden_media)
    n_o, n_b = mem.people.get(obama).faces, mem.people.get(biden).faces
    mem.people.name(biden, "Joe")
    merged = mem.people.merge(obama, biden)
    assert merged.id == obama and merged.faces == n_o + n_b and merged.name == "Joe"
    assert [p.id for p in mem.people.list()] == [obama]
    with pytest.raises(PeopleError, match=f"merged into {obama}"):
        mem.people.get(biden)
    # a re-clustering does not undo the user's merge
    mem.people.recluster()
    assert mem.people.get(obama).faces == n_o + n_b
    again = mem.reopen()
    assert again.people.undo().op == "merge"
    assert again.people.get(obama).faces == n_o and again.people.get(biden).faces == n_b
    assert again.people.get(biden).name == "Joe" and again.people.get(obama).name is None
    assert again.people.undo().op == "name"
    assert again.people.get(biden).name is None


def test_split_and_undo(mem: Mem) -> None:
    obama = mem.person_of(mem.built.obama_media)
    faces = mem.people.faces(obama)
    tuesday = [f.id for f in faces if f.t is not None and f.t.date() == TUESDAY.date()]
    assert tuesday and len(tuesday) < len(faces)
    new = mem.people.split(obama, tuesday)
    assert new.faces == len(tuesday) and new.id != obama
    assert mem.people.get(obama).faces == len(faces) - len(tuesday)
    # the split sticks through a full re-clustering and a reopen
    mem.people.recluster()
    again = mem.reopen()
    assert {f.id for f in again.people.faces(new.id)} == set(tuesday)
    assert again.people.undo().op == "split"
    assert again.people.get(obama).faces == len(faces)
    with pytest.raises(PeopleError, match="no person"):
        again.people.get(new.id)


def test_hide_and_undo(mem: Mem) -> None:
    biden = mem.person_of(mem.built.biden_media)
    mem.people.hide(biden)
    assert biden not in {p.id for p in mem.people.list()}
    assert biden in {p.id for p in mem.people.list(include_hidden=True) if p.hidden}
    again = mem.reopen()
    again.people.recluster()
    assert again.people.get(biden).hidden
    assert again.people.undo().op == "hide"
    assert biden in {p.id for p in again.people.list()}


def test_every_edit_undoes_in_reverse_order(mem: Mem) -> None:
    start = mem.state()
    obama = mem.person_of(mem.built.obama_media)
    biden = mem.person_of(mem.built.biden_media)
    some = [f.id for f in mem.people.faces(obama)][:2]
    mem.people.name(obama, "Barack")
    mem.people.hide(biden)
    mem.people.merge(obama, biden)
    mem.people.split(obama, some)
    ops = [e.op for e in mem.people.edits() if e.state == "done"]
    assert ops[:4] == ["split", "merge", "hide", "name"]
    for _ in ops:
        mem.people.undo()
    with pytest.raises(PeopleError, match="nothing to undo"):
        mem.people.undo()
    faces, people, _ = mem.state()
    assert (faces, people) == start[:2]


def test_interrupted_edit_is_rolled_back(mem: Mem, monkeypatch: pytest.MonkeyPatch) -> None:
    obama = mem.person_of(mem.built.obama_media)
    biden = mem.person_of(mem.built.biden_media)
    start = mem.state()

    def crash(self: People, seq: int, state: str) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(People, "_set_state", crash)
    with pytest.raises(OSError):
        mem.people.merge(obama, biden)  # applied, but its log entry still says "applying"
    monkeypatch.undo()
    again = mem.reopen()
    with pytest.raises(PeopleError, match="nothing to undo"):
        again.people.undo()  # the next edit first rolls the broken one back
    faces, people, _ = again.state()
    assert (faces, people) == start[:2]
    assert [e.state for e in again.people.edits()] == ["failed"]


def test_merge_after_an_interrupted_edit_rolls_that_edit_back_first(mem: Mem, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name whose edit was cut off is not half-kept by the merge that comes next: the merge
    first rolls it back, so undoing the merge returns exactly to where the user started."""
    obama = mem.person_of(mem.built.obama_media)
    biden = mem.person_of(mem.built.biden_media)
    start = mem.state()

    def crash(self: People, seq: int, state: str) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(People, "_set_state", crash)
    with pytest.raises(OSError):
        mem.people.name(obama, "Barack")  # written, but its log entry still says "applying"
    monkeypatch.undo()
    again = mem.reopen()
    merged = again.people.merge(obama, biden)
    assert merged.name is None, "the interrupted name must not survive into the merge"
    assert [e.state for e in again.people.edits()] == ["done", "failed"]
    again.people.undo()
    faces, people, _ = again.state()
    assert (faces, people) == start[:2]


# ------------------------------------------------------------------- bad input
def test_bad_input_is_refused_and_changes_nothing(mem: Mem) -> None:
    obama = mem.person_of(mem.built.obama_media)
    faces = [f.id for f in mem.people.faces(obama)]
    before = mem.state()
    cases: list[tuple[Any, str]] = [
        (lambda: mem.people.undo(), "nothing to undo"),
        (lambda: mem.people.merge(obama, obama), "with itself"),
        (lambda: mem.people.split(obama, faces), "leave person .* empty"),
        (lambda: mem.people.split(obama, []), "give the ids"),
        (lambda: mem.people.split(obama, ["nope"]), "not one of person"),
        (lambda: mem.people.name(obama, ""), "empty"),
        (lambda: mem.people.name(obama, "x" * 10_000), "at most 100 characters"),
        (lambda: mem.people.name(obama, "Sam\x07"), "control"),
        (lambda: mem.people.name("deadbeef00", "Sam"), "no person with id 'deadbeef00'"),
        (lambda: mem.people.merge(obama, "deadbeef00"), "no person"),
        (lambda: mem.people.merge("", obama), "person id is needed"),
        (lambda: mem.people.split("deadbeef00", faces[:1]), "no person"),
        (lambda: mem.people.hide("deadbeef00"), "no person"),
        (lambda: mem.people.unhide(obama), "not hidden"),
        (lambda: mem.people.episodes_with("deadbeef00"), "no person"),
    ]
    for call, message in cases:
        with pytest.raises(PeopleError, match=message):
            call()
    assert mem.state() == before


def test_params_are_conservative() -> None:
    p = ClusterParams()
    assert p.attach_weak < p.attach <= 0.5 < 0.6  # dlib's own same-person cut is 0.6
    assert p.seed_min_faces >= 3


def test_faces_of_unfinished_imports_are_left_out(mem: Mem) -> None:
    obama = mem.person_of(mem.built.obama_media)
    before = mem.people.get(obama)
    mid = sorted(mem.built.obama_media)[0]
    (mem.root / "journal").mkdir(exist_ok=True)
    (mem.root / "journal" / mid).write_text("an import of this file was killed midway")
    after = mem.people.get(obama)
    assert after.faces < before.faces and after.episodes == before.episodes - 1
    report = mem.people.assign_new_faces()  # nothing of that file is placed either
    assert report.new_people == [] and report.attached == 0
