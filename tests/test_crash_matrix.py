"""Crash matrix (bounded): a real ``lifelog import`` SIGKILLed at its write steps, and a real
``lifelog transcribe`` killed mid-way, then re-run: the store equals a clean run's.

The kill points are found by watching the data dir (the journal entry appearing, a vault blob
being written, a table's version count growing), never by hooks in the product. After each
re-run: the same rows in media, episodes, frames, faces and OCR (same ids) as an uninterrupted
import, no vault blob that no row references, no ``.tmp-`` file, no journal entry. The harness is
``bench/crash.py``, which runs every step of every file (``python bench/crash.py``); here a few
points on short clips from the sample media keep the test under about 90 s.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lifelog.paths import REPO_ROOT

# (step, n-th file): file 1 is a clip with a face, file 2 a clip with text (OCR), file 3 a photo
IMPORT_POINTS = [("blob-tmp", 2), ("frames", 2), ("episodes", 2), ("media", 2)]  # bench: every step
SPEECH_POINTS = [("transcripts", 1)]  # the first file's transcript committed, the second one running


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lifelog_bench_crash", REPO_ROOT / "bench" / "crash.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def crash() -> ModuleType:
    return _harness()


@pytest.fixture(scope="module")
def inputs(crash: ModuleType, media: Any, models_ready: None,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    footage, speech = crash.make_inputs(tmp_path_factory.mktemp("crash-inputs"))
    return footage, speech


def _explain(o: Any) -> str:
    return f"{o.command} killed at {o.step} of file {o.nth}: seen {o.seen}; problems {o.problems}"


def test_import_killed_at_each_write_step_recovers_to_a_clean_store(
    crash: ModuleType, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    footage, _ = inputs
    t0 = time.monotonic()
    clean = crash.clean_import(tmp_path, footage)
    # the clean run has every kind of row the matrix compares
    assert all(clean["counts"][t] > 0 for t in ("media", "episodes", "frames", "faces", "ocr")), clean["counts"]
    assert clean["orphan_blobs"] == [] and clean["tmp_files"] == [] and clean["journal"] == []
    outcomes = []
    for step, nth in IMPORT_POINTS:
        for _attempt in range(5):  # a half-written blob lasts about a millisecond: a loaded machine
            o = crash.run_import_point(tmp_path, footage, step, nth, clean, crash.cli_import(footage))
            if o.killed:
                assert o.ok, _explain(o)  # every kill that landed recovers, whether or not it hit its point
            # the watcher may not be scheduled in time, or the kill may land just after the blob was
            # renamed into place (the thumbnails are written on the analysis lane while the next file
            # decodes): then the point is tried again
            if o.killed and (step != "blob-tmp" or o.seen["tmp_files"]):
                break
        outcomes.append(o)
        assert o.killed, f"the import finished before {step} of file {nth} was seen"
        assert o.ok, _explain(o)
    by_step = {o.step: o for o in outcomes}
    # the kills really landed mid-file: the file was journalled, and the later points had written rows
    assert all(o.seen["journal"] for o in outcomes if o.step != "media"), [o.seen for o in outcomes]
    assert by_step["blob-tmp"].seen["tmp_files"], "no blob was caught half-written"
    assert "frames" in by_step["frames"].seen["tables_written"]
    assert "episodes" in by_step["episodes"].seen["tables_written"]
    assert "media" in by_step["media"].seen["tables_written"]
    print(f"\n{len(outcomes)} import kill points in {time.monotonic() - t0:.1f} s")


def test_transcribe_killed_mid_way_recovers_to_a_clean_store(
    crash: ModuleType, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    _, speech = inputs
    t0 = time.monotonic()
    clean = crash.clean_transcribe(tmp_path, speech)
    assert clean["counts"]["utterances"] > 0 and clean["counts"]["transcripts"] == 3, clean["counts"]
    for step, nth in SPEECH_POINTS:
        o = crash.run_transcribe_point(tmp_path, speech, step, nth, clean, crash.cli_transcribe)
        assert o.killed, f"transcription finished before {step} of file {nth} was seen"
        assert o.seen["versions"]["transcripts"] >= 1
        assert o.ok, _explain(o)
        assert o.counts["utterances"] == clean["counts"]["utterances"]
    print(f"\n{len(SPEECH_POINTS)} transcribe kill point(s) in {time.monotonic() - t0:.1f} s")
