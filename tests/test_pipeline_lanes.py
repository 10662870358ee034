"""The import's stages overlapped (issue 21): decode, encoder and analyzers on their own threads
with bounded hand-overs. What a user sees must not depend on it: the same memories as an import
that runs the stages one after the other, a cancel that stops every lane and keeps only whole
files, a corrupt file that fails alone, and a failing analyzer on a lane that degrades its own
signal only.

Real clips and photos from the sample media (a face, a sign), the real models (encoder, faces,
OCR, object detector), a real LanceDB on disk. Batches are made small so that several are in
flight on the lanes at once.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from helpers import assert_consistent, journal_entries, store_rows

from lifelog.paths import REPO_ROOT

pytestmark = pytest.mark.usefixtures("models_ready")

# what a user could notice, table by table: which rows, and what they say
COMPARED = {
    "episodes": ["id", "labels"],
    "frames": ["id", "labels"],
    "faces": ["id", "box"],
    "ocr": ["id", "box"],
    "ocr_terms": ["ocr_id"],  # the terms are keyed hashes under each memory's own key
    "detections": ["id", "label", "box"],
}


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lifelog_bench_crash_lanes", REPO_ROOT / "bench" / "crash.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def footage(media: Any, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A clip with a face, a clip with a sign, a photo of a face (in that order)."""
    folder, _ = _harness().make_inputs(tmp_path_factory.mktemp("lanes-inputs"))
    return sorted(folder.iterdir())


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    import lifelog.ingest.pipeline as pipeline

    monkeypatch.setattr(pipeline, "BATCH", 2)


def _table(data: Path, table: str) -> list[tuple[Any, ...]]:
    cols = COMPARED[table]
    try:
        rows = store_rows(data, table, cols)
    except Exception:  # the table was never made: no rows
        return []
    return sorted(tuple(repr(r[c]) for c in cols) for r in rows)


def _lane_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("lifelog-") and t.is_alive()]


@pytest.mark.usefixtures("small_batches")
def test_overlapped_stages_store_the_same_memories_as_one_after_the_other(
    footage: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lifelog.ingest.pipeline as pipeline
    from lifelog.api import Memory

    got = Memory(tmp_path / "overlapped", passphrase="p").import_paths(footage)
    monkeypatch.setattr(pipeline, "PIPELINED", False)
    want = Memory(tmp_path / "sequential", passphrase="p").import_paths(footage)
    assert (got.imported, got.failed) == (3, []) and (want.imported, want.failed) == (3, [])
    assert sorted(w.error for w in got.warnings) == sorted(w.error for w in want.warnings)
    # the lanes really ran: the importing thread handed batches over and waited for them
    assert "analysis-wait" in got.stage_s and "analysis-wait" not in want.stage_s
    for table in COMPARED:
        assert _table(tmp_path / "overlapped", table) == _table(tmp_path / "sequential", table), table
    # every kind of row is there, so the comparison compared something
    for table in ("frames", "faces", "ocr", "ocr_terms"):
        assert _table(tmp_path / "overlapped", table), table
    assert journal_entries(tmp_path / "overlapped") == []
    assert_consistent(tmp_path / "overlapped")
    assert _lane_threads() == []


@pytest.mark.usefixtures("small_batches")
def test_cancel_while_the_lanes_are_busy_stops_them_all_and_keeps_whole_files_only(
    footage: list[Path], tmp_path: Path
) -> None:
    from lifelog.api import Memory
    from lifelog.ingest.media import content_hash

    data = tmp_path / "memory"
    cancel = threading.Event()
    seen: list[str] = []

    def progress(p: Any) -> None:
        # the second file's first batch is encoded and handed to the analysis lane: cancel there
        if p.stage == "encoding" and p.files_done == 1 and not cancel.is_set():
            seen.append(",".join(_lane_threads()))
            cancel.set()

    result = Memory(data, passphrase="p").import_paths(footage, progress=progress, cancel=cancel)
    assert result.cancelled and seen and "lifelog-analyse" in seen[0]  # the lanes were running
    assert result.imported == 1 and result.failed == []
    media = [r["id"] for r in store_rows(data, "media", ["id"])]
    assert media == [content_hash(footage[0])]
    for table in ("frames", "faces", "ocr", "ocr_terms", "episodes"):
        rows = store_rows(data, table, ["media_id"]) if table != "ocr_terms" else []
        assert {r["media_id"] for r in rows} <= {content_hash(footage[0])}, table
    assert not list((data / "vault" / "blobs").rglob(f"{content_hash(footage[1])}*"))
    assert journal_entries(data) == []
    assert_consistent(data)
    assert _lane_threads() == []  # every stage stopped


@pytest.mark.usefixtures("small_batches")
def test_a_corrupt_file_between_good_ones_fails_alone_with_the_lanes_running(
    footage: list[Path], tmp_path: Path
) -> None:
    from lifelog.api import Memory
    from lifelog.ingest.media import content_hash

    bad = tmp_path / "in" / "b_broken.mp4"
    bad.parent.mkdir()
    bad.write_bytes(footage[1].read_bytes()[:48] + bytes(range(256)) * 64)  # a real header, then garbage
    files = [footage[0], bad, footage[1], footage[2]]
    data = tmp_path / "memory"
    result = Memory(data, passphrase="p").import_paths(files)
    assert result.imported == 3 and [f.path for f in result.failed] == [str(bad)]
    assert sorted(r["id"] for r in store_rows(data, "media", ["id"])) == sorted(content_hash(p) for p in footage)
    assert store_rows(data, "ocr", ["id"]) and store_rows(data, "faces", ["id"])
    assert journal_entries(data) == []
    assert_consistent(data)
    assert _lane_threads() == []


@pytest.mark.usefixtures("small_batches")
def test_an_analyzer_failing_on_the_side_lane_degrades_its_own_signal_only(
    footage: list[Path], tmp_path: Path
) -> None:
    from lifelog.config import Settings
    from lifelog.faces import FaceAnalyzer
    from lifelog.ingest.pipeline import Importer
    from lifelog.objects.detect import DetectionAnalyzer, Detector
    from lifelog.ocr.analyzers import ocr_analyzers
    from lifelog.store.db import Store
    from lifelog.store.vault import Vault

    data = tmp_path / "memory"
    data.mkdir()
    store, vault = Store(data), Vault.open(data, passphrase="p")
    (tmp_path / "no-models").mkdir()
    broken = DetectionAnalyzer(Detector(models_dir=tmp_path / "no-models"))  # its model is missing
    analyzers = [broken, *ocr_analyzers(vault, min_interval_s=10.0), FaceAnalyzer(vault)]
    result = Importer(store, vault, Settings(), analyzers=analyzers).run(footage)
    assert result.imported == 3 and result.failed == []
    failed = [w for w in result.warnings if "detections analysis failed" in w.error]
    assert [w.path for w in failed] == [str(p) for p in footage]  # said once per file, in words
    assert store_rows(data, "ocr", ["id"]) and store_rows(data, "faces", ["id"])
    assert journal_entries(data) == []
    assert_consistent(data)
    assert _lane_threads() == []


@pytest.mark.usefixtures("small_batches")
def test_a_file_whose_tail_fails_on_the_lane_fails_alone_in_its_batch(footage: list[Path], tmp_path: Path) -> None:
    """A file's tail (its last batches' analysis, then its thumbnails and rows) runs on the
    analysis lane while the next file is decoded. The second and third files are one batch
    commit; the second's thumbnails cannot be written (its vault shard is blocked by a file):
    it fails alone, with a reason, and leaves nothing; the third, in the same batch, is kept."""
    from lifelog.api import Memory
    from lifelog.ingest.media import content_hash

    mids = [content_hash(p) for p in footage]
    assert len({m[:2] for m in mids}) == 3  # each file's blobs in a shard of its own
    data = tmp_path / "memory"
    mem = Memory(data, passphrase="p")
    shard = data / "vault" / "blobs" / mids[1][:2]
    shard.parent.mkdir(parents=True, exist_ok=True)
    shard.write_bytes(b"not a folder")

    result = mem.import_paths(footage)
    assert result.imported == 2 and [f.path for f in result.failed] == [str(footage[1])], result.failed
    assert result.failed[0].error and not result.cancelled
    assert sorted(r["id"] for r in store_rows(data, "media", ["id"])) == sorted([mids[0], mids[2]])
    for table in ("frames", "episodes", "faces", "ocr"):
        assert mids[1] not in {r["media_id"] for r in store_rows(data, table, ["media_id"])}, table
    assert store_rows(data, "faces", ["id"])  # the photo of a face, committed with the failed file
    assert journal_entries(data) == []
    shard.unlink()
    assert not list((data / "vault" / "blobs").rglob(f"{mids[1]}*"))
    assert_consistent(data)
    assert _lane_threads() == []
    # with the shard free again, the file imports on the next run
    again = mem.import_paths(footage)
    assert (again.imported, again.skipped, again.failed) == (1, 2, [])


def test_the_same_clip_twice_in_a_row_is_imported_once_though_the_next_file_is_made_ready_ahead(
    footage: list[Path], tmp_path: Path
) -> None:
    """The next file is hashed, probed and its decoder started while the current one imports.
    A copy of the clip just imported (here still uncommitted: the second and third files are one
    batch) must still be seen as known when its turn comes: one import, one skip, nothing
    decoded left over."""
    import shutil

    from lifelog.api import Memory
    from lifelog.ingest.media import content_hash

    src = tmp_path / "card"
    src.mkdir()
    names = ["a.mp4", "b.mp4", "c.mp4", "d.jpg"]
    for name, p in zip(names, [footage[0], footage[1], footage[1], footage[2]], strict=True):
        shutil.copyfile(p, src / name)
    data = tmp_path / "memory"
    result = Memory(data, passphrase="p").import_paths([src])
    assert (result.imported, result.skipped, result.failed) == (3, 1, [])
    assert sorted(r["id"] for r in store_rows(data, "media", ["id"])) == sorted(content_hash(p) for p in footage)
    assert journal_entries(data) == []
    assert_consistent(data)
    assert _lane_threads() == []
