"""A cancel stops every stage of an import with speech beside it (issue #21), and keeps whole files
only — with a real video (``vtest.avi``: 80 s of people walking, Debian opencv-doc), real
recorded speech, the real models (encoder, objects, OCR, faces, Whisper) and a real LanceDB.

The cancel is set from another thread, as the app's Cancel button and the CLI's Ctrl-C do, once
the progress shows the video's frames being encoded. No wall-clock time is asserted here: the
stop latency is measured by ``bench/cancel.py`` (``bench/results/cancel.json``). What is asserted
is what a user would notice: the import says it was cancelled, the file finished before is
there whole (with its transcript or pending for ``lifelog transcribe``), nothing of the others
is (no rows, no vault blobs, no journal entries), and nothing of the import is still running.
An analyzer sees the cancel between the frames of its batch: OCR stops after the frame it is
reading, not after the whole batch.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import assert_consistent, journal_entries, store_rows
from PIL import Image

pytestmark = pytest.mark.usefixtures("models_ready")

LIBRIVOX = "sense_and_sensibility_01_austen_64kb-0{}.wav"


def _stage_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.is_alive() and t.name.startswith("lifelog-")]


@pytest.fixture(scope="module")
def inputs(media: Any, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A clip with recorded speech, the real video, another clip with speech."""
    from lifelog.sample.compose import make_clip

    if not media.has(LIBRIVOX.format(870)) or not media.has("vtest.avi"):
        pytest.skip("the LibriVox speech or vtest.avi (sample media) was not fetched")
    d = tmp_path_factory.mktemp("cancel-inputs")
    t0 = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
    talk = [make_clip(d / f"a{i}-talk.mp4", media.path("obama.jpg"), 11, t0.replace(minute=i),
                      audio_wav=[media.path(LIBRIVOX.format(n))], seed=i) for i, n in enumerate((870, 920))]
    return [talk[0], Path(media.path("vtest.avi")), talk[1]]


def test_cancel_mid_video_stops_import_and_speech_and_keeps_whole_files(inputs: list[Path], tmp_path: Path) -> None:
    from lifelog.api import Memory
    from lifelog.ingest.media import content_hash

    data = tmp_path / "memory"
    mem = Memory(data, passphrase="p")
    cancel = threading.Event()
    video_encoding = threading.Event()
    running_at_cancel: list[str] = []

    def progress(p: Any) -> None:
        if p.stage == "encoding" and p.current and Path(str(p.current)).name == "vtest.avi":
            video_encoding.set()

    def canceller() -> None:  # another thread, as the app's Cancel button and the CLI's Ctrl-C
        if video_encoding.wait(600):
            running_at_cancel.extend(_stage_threads())
            cancel.set()

    t = threading.Thread(target=canceller)
    t.start()
    result, speech = mem.import_and_transcribe(inputs, progress=progress, cancel=cancel)
    t.join(60)
    assert cancel.is_set() and any(n.startswith("lifelog-analyse") for n in running_at_cancel)  # mid-video
    assert result.cancelled and result.failed == []
    assert result.imported == 1  # the clip finished before the cancel is kept ...
    kept = content_hash(inputs[0])
    assert {r["id"] for r in store_rows(data, "media", ["id"])} == {kept}
    for table in ("frames", "episodes", "faces", "ocr", "detections"):
        try:
            rows = store_rows(data, table, ["media_id"])
        except Exception:  # the table was never made: no rows
            rows = []
        assert {r["media_id"] for r in rows} <= {kept}, table
    for other in inputs[1:]:  # ... nothing of the video cut short or of the file after it
        assert not list((data / "vault" / "blobs").rglob(f"{content_hash(other)}*"))
    assert journal_entries(data) == []
    speech_journal = data / "journal-speech"
    assert not speech_journal.exists() or not [p for p in speech_journal.iterdir() if not p.name.startswith(".")]
    assert_consistent(data)
    # its speech: transcribed whole, or left pending for `lifelog transcribe` — never half
    assert [s.media_id for s in speech] in ([], [kept])
    assert all(s.status == "done" and s.utterances >= 1 for s in speech)
    from lifelog.speech.store import pending_media

    mem.store.refresh()
    pending = [m["id"] for m in pending_media(mem.store)]
    assert pending == ([] if speech else [kept])
    assert _stage_threads() == []  # the decoder, the lanes and the speech thread all stopped
    # what the cancel left is finished by the next run: the rest imported, every transcript written
    again, speech2 = Memory(data, passphrase="p").import_and_transcribe(inputs)
    assert (again.imported, again.skipped, again.failed) == (2, 1, [])
    assert sorted(s.media_id for s in speech2 if s.status == "done") == sorted(
        {content_hash(inputs[2])} | ({kept} if not speech else set()))


def test_ocr_sees_a_cancel_between_the_frames_of_its_batch(media: Any, tmp_path: Path) -> None:
    """OCR reads a frame in ~50-60 ms; a batch of 16 is most of a second. A cancel during the
    batch stops it after the frame being read (the import's frames are handed to every analyzer
    through a sequence that checks the cancel between frames)."""
    from lifelog.encoders.analyzers import FrameInput
    from lifelog.ingest.pipeline import ImportCancelled, _StopBetweenFrames
    from lifelog.ocr.analyzers import OcrAnalyzer
    from lifelog.store.vault import Vault

    signs = [n for n in (f"scenetext0{i}.jpg" for i in range(1, 7)) if media.has(n)]
    if len(signs) < 3:
        pytest.skip("the street signs (opencv-doc) were not fetched")
    vault = Vault.open(tmp_path, passphrase="p")
    t0 = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
    frames = [FrameInput(f"m-{k:05d}", t0.replace(second=k),
                         np.asarray(Image.open(media.path(signs[k % len(signs)])).convert("RGB")))
              for k in range(8)]
    whole = OcrAnalyzer(vault, min_interval_s=0.0, gate=False)
    whole.analyze(_StopBetweenFrames(frames, lambda: False))
    assert whole.stats.frames == len(frames)  # without a cancel every frame is read

    ocr = OcrAnalyzer(vault, min_interval_s=0.0, gate=False)
    stop = threading.Event()
    read_before = [0]

    def should_stop() -> bool:
        # the cancel arrives while the second sign is being read
        if ocr.stats.frames >= 2 and not stop.is_set():
            read_before[0] = ocr.stats.frames
            stop.set()
        return stop.is_set()

    with pytest.raises(ImportCancelled):
        ocr.analyze(_StopBetweenFrames(frames, should_stop))
    assert ocr.stats.frames == read_before[0] == 2  # stopped after the frame it was reading
