"""The import pipeline at speed (issue 21): short files committed in batches, the face and text
gates, and every fault the faster pipeline must survive — a kill at each of its stages, a
corrupt file in the middle of a batch, a cancel.

Real clips composed from the sample media, the real models, a real LanceDB on disk; the kills
are real SIGKILLs of a real ``lifelog import`` (the harness is ``bench/crash.py``).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from helpers import assert_consistent, journal_entries, store_rows

from lifelog.paths import REPO_ROOT

pytestmark = pytest.mark.usefixtures("models_ready")

T0 = datetime(2024, 5, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def clips(media: Any, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Five short real clips of different pictures, an hour apart."""
    from lifelog.sources.sim.clips import make_clips

    return [p for p, _ in make_clips(tmp_path_factory.mktemp("clips"), 5, T0, seconds=4.0)]


def _store(data: Path) -> tuple[Any, Any]:
    from lifelog.store.db import Store
    from lifelog.store.vault import Vault

    data.mkdir(parents=True, exist_ok=True)
    return Store(data), Vault.open(data, passphrase="p")


def _count_appends(store: Any) -> dict[str, int]:
    """Counts the store's appends per table (the real appends still happen)."""
    counts: dict[str, int] = {}
    real = store.add

    def add(name: str, rows: Any) -> None:
        if rows:
            counts[name] = counts.get(name, 0) + 1
        real(name, rows)

    store.add = add
    return counts


def _ids(data: Path, table: str) -> list[str]:
    return sorted(r["id"] for r in store_rows(data, table, ["id"]))


def test_short_clips_are_written_in_one_batch_with_the_rows_of_a_file_by_file_import(
    clips: list[Path], tmp_path: Path
) -> None:
    from lifelog.config import Settings
    from lifelog.ingest.pipeline import Importer

    batched, single = tmp_path / "batched", tmp_path / "single"
    store, vault = _store(batched)
    appends = _count_appends(store)
    committed: list[list[str]] = []

    def after_commit(ids: list[str]) -> None:  # the seam for speech in the background
        assert all(store.has_media(m) for m in ids)  # committed, readable
        assert not set(ids) & set(journal_entries(batched))
        committed.append(ids)

    importer = Importer(store, vault, Settings(), after_commit=after_commit)
    importer.commit_after_s = 3600.0  # only the batch sizes decide here, not how busy the machine is
    got = importer.run(clips)
    store2, vault2 = _store(single)
    appends2 = _count_appends(store2)
    one_by_one = Importer(store2, vault2, Settings())
    one_by_one.commit_files = 1  # the old way: every file its own appends
    want = one_by_one.run(clips)
    assert (got.imported, got.failed) == (5, []) and (want.imported, want.failed) == (5, [])
    assert got.frames_embedded == want.frames_embedded > 0
    assert sorted(got.episodes) == sorted(want.episodes)
    for table in ("media", "episodes", "frames"):
        assert _ids(batched, table) == _ids(single, table), table
    # one append (a LanceDB commit) per table per batch (the first file alone, then 2, then the
    # last 2), against one per file
    assert appends["media"] == appends["frames"] == appends["episodes"] == 3
    assert [len(b) for b in committed] == [1, 2, 2]
    assert sorted(m for b in committed for m in b) == _ids(batched, "media")
    assert appends2["media"] == appends2["frames"] == appends2["episodes"] == 5
    assert journal_entries(batched) == []
    assert_consistent(batched)


def test_a_corrupt_file_in_the_middle_of_a_batch_fails_alone(clips: list[Path], tmp_path: Path) -> None:
    from lifelog.config import Settings
    from lifelog.ingest.media import content_hash
    from lifelog.ingest.pipeline import Importer

    bad = tmp_path / "in" / "broken.mp4"
    bad.parent.mkdir()
    raw = clips[1].read_bytes()
    bad.write_bytes(raw[:48] + bytes(range(256)) * 64)  # a real header, then garbage
    files = [clips[0], clips[1], bad, clips[2], clips[3]]
    data = tmp_path / "memory"
    store, vault = _store(data)
    result = Importer(store, vault, Settings()).run(files)
    assert result.imported == 4
    assert [f.path for f in result.failed] == [str(bad)]
    assert result.failed[0].error  # in words
    assert _ids(data, "media") == sorted(content_hash(p) for p in files if p != bad)
    assert journal_entries(data) == []
    assert not list((data / "vault" / "blobs").rglob(f"{content_hash(bad)}*"))
    assert_consistent(data)


def test_cancel_stops_every_stage_and_keeps_the_files_already_analysed(clips: list[Path], tmp_path: Path) -> None:
    from lifelog.config import Settings
    from lifelog.ingest.media import content_hash
    from lifelog.ingest.pipeline import Importer

    data = tmp_path / "memory"
    store, vault = _store(data)
    cancel = threading.Event()
    seen_decoding: list[int] = []

    def progress(p: Any) -> None:
        if p.stage == "decoding" and p.files_done == 2:  # the third file is journalled and decoding
            seen_decoding.append(p.files_done)
            cancel.set()

    before = {t.ident for t in threading.enumerate()}
    result = Importer(store, vault, Settings()).run(clips, progress=progress, cancel=cancel)
    assert seen_decoding and result.cancelled
    # the two files analysed before the cancel are committed; the third is gone without a trace
    assert result.imported == 2 and result.failed == []
    assert _ids(data, "media") == sorted(content_hash(p) for p in clips[:2])
    assert not list((data / "vault" / "blobs").rglob(f"{content_hash(clips[2])}*"))
    assert journal_entries(data) == []
    assert_consistent(data)
    # every stage stopped: no decoder or other worker thread of the import is left running
    left = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert [n for n in left if n.startswith("lifelog-")] == []


# ------------------------------------------------------------------------ kills at each stage
def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lifelog_bench_crash_p", REPO_ROOT / "bench" / "crash.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


# The third file (a photo) is the last of a batch of three: killed while it is analysed (files 1
# and 2 analysed and staged, none written), while its blobs are written, and in the batch's
# commit (the first analyzer table written, the media rows being written).
KILL_POINTS = [("journal", 3), ("blob-tmp", 3), ("faces", 3), ("media", 3)]


def test_a_kill_at_each_stage_of_a_batch_then_a_rerun_gives_the_store_of_a_clean_run(
    media: Any, tmp_path: Path
) -> None:
    crash = _harness()
    footage, _ = crash.make_inputs(tmp_path / "inputs")
    clean = crash.clean_import(tmp_path, footage)
    assert all(clean["counts"][t] > 0 for t in ("media", "episodes", "frames", "faces", "ocr")), clean["counts"]
    for step, nth in KILL_POINTS:
        o = crash.run_import_point(tmp_path, footage, step, nth, clean, crash.cli_import(footage))
        assert o.killed, f"the import finished before {step} of file {nth} was seen"
        assert o.ok, f"killed at {step} of file {nth}: seen {o.seen}; problems {o.problems}"
        if step in ("journal", "blob-tmp"):
            # mid-batch: earlier files analysed, nothing of the batch in the tables yet
            assert o.seen["journal"], o.seen


# ------------------------------------------------------------------------------ the gates
def _frame(rgb: Any, k: int) -> Any:
    from lifelog.encoders.analyzers import FrameInput

    return FrameInput(f"{'ab' * 16}-{k:05d}", T0 + timedelta(seconds=2 * k), rgb)


def test_face_gate_skips_flat_and_unchanged_frames_but_finds_every_face(media: Any, data_dir: Path) -> None:
    from lifelog.faces import FaceAnalyzer
    from lifelog.ingest.decode import load_photo

    _, vault = _store(data_dir)
    scene = load_photo(media.path("fruits.jpg")).rgb
    face = load_photo(media.path("obama.jpg")).rgb
    flat = np.full_like(scene, 12)
    frames = [_frame(flat, 0), _frame(scene, 1), _frame(scene, 2), _frame(face, 3), _frame(face, 4)]
    gated = FaceAnalyzer(vault)
    rows = gated.analyze(frames)
    full = FaceAnalyzer(vault, gate=False)
    want = full.analyze(frames)
    assert gated.stats.skipped_flat == 1
    assert gated.stats.skipped_still == 1  # the scene again, with no face in it the first time
    # both frames with the face were searched: a face seen once is looked for again
    assert sorted(r["frame_id"] for r in rows) == sorted(r["frame_id"] for r in want)
    assert {r["frame_id"] for r in rows} == {frames[3].frame_id, frames[4].frame_id}


def test_text_gate_lets_signs_through_and_skips_frames_without_text(media: Any, data_dir: Path) -> None:
    from lifelog.ingest.decode import load_photo
    from lifelog.ocr.analyzers import OcrAnalyzer, text_blobs

    _, vault = _store(data_dir)
    sign = load_photo(media.path("scenetext01.jpg")).rgb
    flat = np.full_like(sign, 128)
    assert text_blobs(sign) >= 1
    assert text_blobs(flat) == 0
    ocr = OcrAnalyzer(vault)
    rows = ocr.analyze([_frame(flat, 0), _frame(sign, 1)])
    assert ocr.stats.skipped_no_text == 1 and ocr.stats.frames == 1
    assert rows and {r["frame_id"] for r in rows} == {_frame(sign, 1).frame_id}


def test_object_gate_searches_each_new_view_once_and_finds_what_it_shows(media: Any) -> None:
    """The detector runs on a view once, not on every unchanged frame of it; a new view (or the
    same one 10 s on) is searched again, and what the views show is still found."""
    from lifelog.ingest.decode import load_photo
    from lifelog.objects.detect import DetectionAnalyzer, get_detector

    det = get_detector()
    if not det.available:
        pytest.skip("the object detector is not built (bash packaging/setup.sh)")
    cat = load_photo(media.path("chelsea.png")).rgb
    street = load_photo(media.path("fruits.jpg")).rgb
    flat = np.full_like(cat, 12)
    # frames 2 s apart: flat, the cat three times, another view, then the cat again (a new view once more)
    frames = [_frame(flat, 0), _frame(cat, 1), _frame(cat, 2), _frame(cat, 3), _frame(street, 4), _frame(cat, 9)]
    gated, full = DetectionAnalyzer(det), DetectionAnalyzer(det, gate=False)
    rows, want = gated.analyze(frames), full.analyze(frames)
    assert full.searched == 6 and gated.searched == 3 and gated.skipped == 3  # flat, the cat twice
    labels = {r["label"] for r in rows}
    assert "cat" in labels and labels == {r["label"] for r in want}
    assert {r["frame_id"] for r in rows} <= {r["frame_id"] for r in want}
