"""The nightly consolidation pass on real imported media (docs/consolidation.md).

A module fixture imports small real clips once — three back-to-back files of one cat scene (a
camera starting a new file every few seconds), a rocket an hour later, two and a half minutes
of a still cup of coffee (near-duplicate frames), and two portraits (faces) — into a real
LanceDB store and vault. Each test works on its own copy.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import signal
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_consistent, cli_env, json_doc, run_cli, store_rows

CEST = timezone(timedelta(hours=2))
T0 = datetime(2024, 5, 14, 9, 0, tzinfo=CEST)
NOW = datetime(2024, 5, 14, 20, 0, tzinfo=CEST)
CAT_COUNT = "how many times did I see a cat today?"


def _portrait(media: Any, name: str, face_frac: float = 0.3) -> Any:
    """A 16:9 head-and-shoulders view of a portrait, the face ``face_frac`` of the width."""
    import numpy as np
    from PIL import Image

    from lifelog.faces import get_face_models

    img = np.asarray(Image.open(media.path(name)).convert("RGB"))
    scale = 900 / max(img.shape[:2])
    small = np.asarray(Image.fromarray(img).resize((round(img.shape[1] * scale), round(img.shape[0] * scale))))
    d = max(get_face_models().detect(small), key=lambda d: d.w)
    w = d.w / scale / face_frac
    h = w * 9 / 16
    cx, cy = (d.x + d.w / 2) / scale, (d.y + d.h / 2) / scale
    x0, y0 = max(0, int(cx - w / 2)), max(0, int(cy - h * 0.45))
    crop = img[y0 : y0 + int(h), x0 : x0 + int(w)]
    pad_h, pad_w = int(h) - crop.shape[0], int(w) - crop.shape[1]
    if pad_h > 0 or pad_w > 0:
        crop = np.pad(crop, ((0, max(0, pad_h)), (0, max(0, pad_w)), (0, 0)), mode="edge")
    return np.ascontiguousarray(crop)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, media: Any, models_ready: None) -> Path:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    work = tmp_path_factory.mktemp("consolidate")
    fps, size = 10, (320, 240)
    clips = [
        make_clip(work / "cat1.mp4", media.path("chelsea.png"), 8, T0, effect="pan", seed=1, fps=fps, size=size),
        make_clip(work / "cat2.mp4", media.path("chelsea.png"), 8, T0 + timedelta(seconds=9), effect="pan",
                  seed=2, fps=fps, size=size),
        make_clip(work / "cat3.mp4", media.path("chelsea.png"), 8, T0 + timedelta(seconds=18), effect="pan",
                  seed=3, fps=fps, size=size),
        make_clip(work / "rocket.mp4", media.path("rocket.jpg"), 8, T0 + timedelta(hours=1), effect="pan", seed=4,
                  fps=fps, size=size),
        make_clip(work / "coffee.mp4", media.path("coffee.png"), 150, T0 + timedelta(hours=2), fps=2,
                  size=(320, 240), effect="static", seed=5),
        make_clip(work / "obama.mp4", _portrait(media, "obama.jpg"), 6, T0 + timedelta(hours=3), fps=5,
                  effect="zoom_in", seed=6),
        make_clip(work / "biden.mp4", _portrait(media, "biden.jpg"), 6, T0 + timedelta(hours=4), fps=5,
                  effect="zoom_in", seed=7),
    ]
    root = work / "memory"
    mem = Memory(root)
    res = mem.import_paths(clips)
    assert not res.failed and res.imported == len(clips)
    return root


@pytest.fixture
def mem(built: Path, tmp_path: Path) -> Iterator[Any]:
    from lifelog.api import Memory

    root = tmp_path / "memory"
    shutil.copytree(built, root)
    yield Memory(root)


def _cat_episodes(mem: Any) -> list[Any]:
    return [e for e in mem.episodes() if any("cat" in lab for lab in e.labels[:3])]


def _media_of(data_dir: Path, name: str) -> str:
    rows = store_rows(data_dir, "media", ["id", "path"])
    return str(next(r["id"] for r in rows if r["path"].endswith(name)))


def _peaks_bound_frames(data_dir: Path, exact: bool) -> None:
    """Every episode's label peaks bound each of its frames' label scores (``exact``: and are
    their maxima, no label more), as questions rely on to skip episodes (lifelog.ingest.peaks)."""
    frames = store_rows(data_dir, "frames", ["episode_id", "labels", "label_scores"])
    eps = {e["id"]: e for e in store_rows(data_dir, "episodes", ["id", "kind", "peak_labels", "peak_scores"])}
    best: dict[str, dict[str, float]] = {i: {} for i in eps}
    for f in frames:
        for lab, s in zip(f["labels"], f["label_scores"], strict=True):
            best[f["episode_id"]][lab] = max(best[f["episode_id"]].get(lab, 0.0), s)
    assert frames and any(e["peak_labels"] for e in eps.values())
    for i, e in eps.items():
        assert e["peak_labels"] is not None, f"episode {i} ({e['kind']}) has no peaks"
        peaks = dict(zip(e["peak_labels"], e["peak_scores"], strict=True))
        assert all(peaks.get(lab, -1.0) >= s for lab, s in best[i].items()), i
        if exact:
            assert peaks == best[i], i


# ------------------------------------------------------------------ the pass
def test_fragments_merge_and_the_count_improves(mem: Any) -> None:
    _peaks_bound_frames(mem.data_dir, exact=True)  # as the import wrote them
    assert len(_cat_episodes(mem)) == 3
    assert mem.ask(CAT_COUNT, now=NOW).count == 3  # one cat scene, counted three times
    result = mem.consolidate(now=NOW)
    assert result.outcome == "ok", result.to_json()
    assert result.step("merge").figures["merged"] == 2
    cats = _cat_episodes(mem)
    assert len(cats) == 1
    assert cats[0].start == T0 and cats[0].end >= T0 + timedelta(seconds=26)
    assert mem.ask(CAT_COUNT, now=NOW).count == 1
    # every frame of the three files belongs to the one episode now; nothing else moved
    frames = store_rows(mem.data_dir, "frames", ["episode_id", "media_id"])
    cat_media = {_media_of(mem.data_dir, f"cat{i}.mp4") for i in (1, 2, 3)}
    assert {f["episode_id"] for f in frames if f["media_id"] in cat_media} == {cats[0].id}
    assert len(mem.episodes()) == 5
    _peaks_bound_frames(mem.data_dir, exact=False)  # the merged scene's are its three files' maxima
    assert_consistent(mem.data_dir)
    # "when did I last see a cat" still finds the scene, and its thumbnails decrypt
    ans = mem.ask("when did I last see a cat?", now=NOW)
    assert ans.hits and ans.hits[0].episode_id == cats[0].id
    assert all(mem.thumbnail(t)[:2] == b"\xff\xd8" for t in cats[0].thumb_ids)
    # a second pass over an unchanged memory changes nothing
    shown = [(e.id, e.start, e.end, e.n_frames) for e in mem.episodes()]
    again = mem.consolidate(now=NOW)
    assert again.outcome == "ok"
    assert again.step("merge").figures["merged"] == 0 and again.step("dedup").figures["dropped"] == 0
    assert again.step("dedup").figures["looked_at"] == 0  # episodes unchanged since are not read again
    assert [(e.id, e.start, e.end, e.n_frames) for e in mem.episodes()] == shown


def test_merge_never_bridges_the_trash(mem: Any) -> None:
    cats = _cat_episodes(mem)
    mem.trash_episodes([cats[1].id])
    result = mem.consolidate(now=NOW)
    assert result.outcome == "ok"
    assert result.step("merge").figures["merged"] == 0
    assert [e.id for e in _cat_episodes(mem)] == [cats[0].id, cats[2].id]
    # restored, it is still its own episode, whole
    mem.restore_from_trash([cats[1].id])
    assert mem.episode(cats[1].id) is not None
    assert_consistent(mem.data_dir)


def test_forgetting_a_merged_episode_leaves_no_trace_of_any_of_its_files(mem: Any) -> None:
    from lifelog.api.privacy import ForgetRequest

    mem.consolidate(now=NOW)
    merged = _cat_episodes(mem)[0]
    cat_media = {_media_of(mem.data_dir, f"cat{i}.mp4") for i in (1, 2, 3)}
    blobs = [p for p in (mem.data_dir / "vault").rglob("*.bin") if p.name.split("-")[0] in cat_media]
    assert blobs
    mem.forget(ForgetRequest("episode", merged.id))
    for table in ("media", "frames", "faces", "ocr"):
        rows = store_rows(mem.data_dir, table, ["id", "media_id"] if table != "media" else ["id"])
        key = "id" if table == "media" else "media_id"
        assert not [r for r in rows if r[key] in cat_media], table
    assert not [p for p in blobs if p.exists()]
    assert len(mem.episodes()) == 4
    assert_consistent(mem.data_dir)


def test_near_duplicates_go_for_good_and_evidence_stays(mem: Any) -> None:
    coffee = next(e for e in mem.episodes() if e.start == T0 + timedelta(hours=2))
    before = mem.episode_frames(coffee.id)
    last_answer = mem.ask("when did I last see a cup of coffee?", now=NOW)
    result = mem.consolidate(now=NOW)
    dropped = result.step("dedup").figures["dropped"]
    assert dropped > 0
    after = mem.episode_frames(coffee.id)
    assert len(after) < len(before)
    assert after[0].id == before[0].id and after[-1].id == before[-1].id  # the episode's ends stay
    kept_ids = {f.id for f in after}
    assert set(mem.episode(coffee.id).thumb_ids) <= kept_ids  # the covers are kept frames
    # a frame is kept at least every two minutes: the time line keeps its coverage
    gaps = [(b.t - a.t).total_seconds() for a, b in itertools.pairwise(after)]
    assert max(gaps) <= 120.0 + 30.0
    gone = [f for f in before if f.id not in kept_ids]
    for f in gone:  # the thumbnail is gone from the vault, the row from the table
        assert f.thumb_id is not None and not mem.vault.blob_path(f.thumb_id).exists()
    frame_ids = {r["id"] for r in store_rows(mem.data_dir, "frames", ["id"])}
    assert not frame_ids & {f.id for f in gone}
    assert_consistent(mem.data_dir)
    # the question is still answered by the same moment
    again = mem.ask("when did I last see a cup of coffee?", now=NOW)
    assert [h.episode_id for h in again.hits[:1]] == [h.episode_id for h in last_answer.hits[:1]]


def test_recluster_never_overturns_a_users_edits(mem: Any) -> None:
    people = mem.people()
    assert len(people) >= 2, "the portraits give at least two people"
    first, second = people[0], people[1]
    mem.name_person(first.id, "Barack")
    faces = mem.person_faces(second.id)
    # a user's split: one face of the second person is someone else
    split = mem.split_person(second.id, [faces[0].id]) if len(faces) >= 2 else None

    def user_state() -> set[tuple[str, str | None]]:
        rows = store_rows(mem.data_dir, "faces", ["id", "person_id", "assigned_by"])
        return {(r["id"], r["person_id"]) for r in rows if r["assigned_by"] == "user"}

    before = user_state()
    named_before = {p.id: p.name for p in mem.people(include_hidden=True) if p.name}
    assert before
    result = mem.consolidate(now=NOW)
    assert result.step("people").status == "done"
    assert user_state() == before
    assert {p.id: p.name for p in mem.people(include_hidden=True) if p.name} == named_before
    assert mem.person(first.id).name == "Barack"
    if split is not None:
        assert mem.person(split.id).faces >= 1


def test_a_corrupt_row_is_skipped_logged_and_the_pass_goes_on(mem: Any, caplog: pytest.LogCaptureFixture) -> None:
    from lifelog.store.sql import sql_str

    cats = _cat_episodes(mem)
    coffee = next(e for e in mem.episodes() if e.start == T0 + timedelta(hours=2))
    # the last cat fragment's vector and one frame's vector of the coffee scene are damaged
    mem.store.table("episodes").update(where=f"id = {sql_str(cats[2].id)}", values={"semantic": None})
    frame = mem.episode_frames(coffee.id)[3]
    mem.store.table("frames").update(where=f"id = {sql_str(frame.id)}", values={"semantic": None})
    with caplog.at_level(logging.WARNING, logger="lifelog.consolidate"):
        result = mem.consolidate(now=NOW)
    assert result.outcome == "ok", result.to_json()
    assert result.step("merge").figures["skipped"] == 1
    assert result.step("merge").figures["merged"] == 1  # the two readable fragments still merge
    assert result.step("dedup").figures["skipped"] >= 1
    assert any(cats[2].id in r.getMessage() for r in caplog.records)
    assert len(_cat_episodes(mem)) == 2
    assert len(mem.episode_frames(coffee.id)) == coffee.n_frames  # that episode was left whole
    assert_consistent(mem.data_dir)


def test_progress_status_and_cancel_from_another_process(mem: Any) -> None:
    """A pass reports (step, done, total) and the shared status shows it; ``lifelog consolidate
    --cancel`` in another process stops it; the next pass finishes what it left."""
    from lifelog.api import consolidate as cons

    seen: list[tuple[str, int, int]] = []
    in_merge = threading.Event()
    release = threading.Event()

    def progress(step: str, done: int, total: int) -> None:
        seen.append((step, done, total))
        if step == "merge" and not in_merge.is_set():
            in_merge.set()
            release.wait(60)

    box: dict[str, Any] = {}
    cancel = threading.Event()
    t = threading.Thread(target=lambda: box.setdefault(
        "r", cons.run_pass(mem, now=NOW, progress=progress, cancel=cancel)))
    t.start()
    assert in_merge.wait(60)
    st = cons.status(mem.data_dir)
    assert st.running is not None and st.running.step == "merge"
    # a second pass in another process is refused with a clear message
    busy = run_cli(mem.data_dir, "consolidate", "--json")
    assert busy.returncode == 2 and "already running" in busy.stderr
    asked = run_cli(mem.data_dir, "consolidate", "--cancel", "--json")
    assert asked.returncode == 0 and json_doc(asked)["cancel_requested"] is True
    shown = run_cli(mem.data_dir, "consolidate", "--status", "--json")
    assert json_doc(shown)["running"]["step"] == "merge"
    assert cancel.wait(60), "the pass did not see the request of the other process"
    release.set()
    t.join(120)
    first = box["r"]
    assert first.outcome == "cancelled"
    assert [s.name for s in first.steps if s.status == "done"] == ["retention"]
    assert cons.status(mem.data_dir).running is None
    last = cons.status(mem.data_dir).last
    assert last is not None and last["outcome"] == "cancelled"
    second = cons.run_pass(mem, now=NOW)
    assert second.outcome == "ok" and second.resumed
    assert second.step("retention").status == "done-earlier"
    assert len(_cat_episodes(mem)) == 1
    assert {s for s, _, _ in seen} >= {"retention", "merge"}


def test_cli_runs_a_pass_with_json(mem: Any) -> None:
    proc = run_cli(mem.data_dir, "consolidate", "--now", NOW.isoformat(), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert doc["outcome"] == "ok"
    assert [s["name"] for s in doc["steps"]][:3] == ["retention", "merge", "dedup"]
    assert next(s for s in doc["steps"] if s["name"] == "merge")["figures"]["merged"] == 2
    status = json_doc(run_cli(mem.data_dir, "consolidate", "--status", "--json"))
    assert status["last"]["pass_id"] == doc["pass_id"] and status["running"] is None


# ------------------------------------------------------------------ SIGKILL
KILL_POINTS = [
    "retention:before",
    "merge:mid",
    "merge:frames",
    "dedup:mid",
    "people:mid",
    "reindex:before",
    "describe:before",
    "profile:before",
    "compact:mid",
    "compact:after",
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_pass_killed_anywhere_is_finished_by_the_next(mem: Any, point: str) -> None:
    data_dir = mem.data_dir
    del mem
    proc = run_cli(data_dir, "consolidate", "--now", NOW.isoformat(), "--json",
                   env=cli_env(LIFELOG_CONSOLIDATE_KILL_AT=point))
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])
    journal = json.loads((data_dir / "consolidation" / "journal.json").read_text())
    step = point.split(":")[0]
    assert (step in journal["done"]) == point.endswith(":after")
    from lifelog.api import Memory

    again = Memory(data_dir)
    result = again.consolidate(now=NOW)
    assert result.outcome == "ok", result.to_json()
    assert result.resumed
    assert not (data_dir / "consolidation" / "journal.json").exists()
    assert not (data_dir / "consolidation" / "merge.json").exists()
    assert not (data_dir / "consolidation" / "dedup.json").exists()
    assert_consistent(data_dir)
    assert len(_cat_episodes(again)) == 1
    assert again.ask(CAT_COUNT, now=NOW).count == 1
    # every frame's thumbnail is there: nothing half-deleted
    for r in store_rows(data_dir, "frames", ["thumb_id"]):
        assert again.vault.blob_path(r["thumb_id"]).exists()


def test_a_pass_killed_in_retention_is_finished_by_the_next(mem: Any) -> None:
    """The trash's purge is part of retention: an episode deleted 40 days ago goes for good, even
    when the pass doing it is killed."""
    rocket = next(e for e in mem.episodes() if e.start == T0 + timedelta(hours=1))
    mem.trash_episodes([rocket.id], now=NOW - timedelta(days=40))
    data_dir = mem.data_dir
    rocket_media = _media_of(data_dir, "rocket.mp4")
    proc = run_cli(data_dir, "consolidate", "--now", NOW.isoformat(), "--json",
                   env=cli_env(LIFELOG_CONSOLIDATE_KILL_AT="retention:mid"))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    from lifelog.api import Memory

    again = Memory(data_dir)
    result = again.consolidate(now=NOW)
    assert result.outcome == "ok" and result.resumed
    assert result.step("retention").figures["removed"]["trash"] == 1
    assert again.episode(rocket.id) is None and again.trash() == []
    assert not [r for r in store_rows(data_dir, "frames", ["media_id"]) if r["media_id"] == rocket_media]
    assert not list((data_dir / "vault").rglob(f"{rocket_media}-*"))
    assert_consistent(data_dir)
