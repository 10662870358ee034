"""``lifelog import`` and the app's import transcribe speech beside the import (issue #21): each
imported file's speech is transcribed while the next file imports
(:meth:`lifelog.api.Memory.import_and_transcribe`). What the user sees stays what it was: the
CLI's JSON document (every field of the contract, the transcripts), a speech line on stderr, the
exit codes; the importer row shows the speech; Ctrl-C on the CLI and the row's Cancel stop both
the import and the transcription, keeping whole files only.

All real: the CLI as a process, the app's import child process, Qt offscreen, the real models
(Whisper tiny.en, the encoder, the detector), real recorded speech (LibriVox) muxed into
composed clips, the real video ``vtest.avi`` and a real LanceDB on disk.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_consistent, cli_env, journal_entries, json_doc, run_cli, store_rows

pytestmark = pytest.mark.usefixtures("models_ready")

LIBRIVOX = "sense_and_sensibility_01_austen_64kb-0{}.wav"
WAIT_MS = 300_000
# every field `lifelog import --json` has had (docs/cli.md): the contract only grows
IMPORT_FIELDS = {"imported", "skipped", "failed", "episodes", "ignored", "warnings", "cancelled", "frames_decoded",
                 "frames_embedded", "footage_seconds", "rolled_back", "stage_seconds", "transcripts"}


@pytest.fixture(scope="module")
def clips(media: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four clips with recorded speech (talk0..talk3) and the real video."""
    from lifelog.sample.compose import make_clip

    if not media.has(LIBRIVOX.format(870)) or not media.has("vtest.avi"):
        pytest.skip("the LibriVox speech or vtest.avi (sample media) was not fetched")
    d = tmp_path_factory.mktemp("overlap-inputs")
    t0 = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
    out = {f"talk{i}": make_clip(d / f"talk{i}.mp4", media.path("obama.jpg"), 11, t0.replace(minute=i),
                                 audio_wav=[media.path(LIBRIVOX.format(n))], seed=i)
           for i, n in enumerate((870, 920, 930, 870))}
    out["video"] = Path(media.path("vtest.avi"))
    return out


def _hash(p: Path) -> str:
    from lifelog.ingest.media import content_hash

    return content_hash(p)


def _media(data: Path) -> set[str]:
    try:
        return {r["id"] for r in store_rows(data, "media", ["id"])}
    except Exception:  # the table is not made yet
        return set()


# ------------------------------------------------------------------ the command line
def test_cli_import_transcribes_beside_with_the_same_document(clips: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "memory"
    proc = run_cli(data, "import", str(clips["talk0"]), str(clips["talk1"]), "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    doc = json_doc(proc)
    assert set(doc) >= IMPORT_FIELDS, sorted(IMPORT_FIELDS - set(doc))
    assert (doc["imported"], doc["failed"], doc["cancelled"]) == (2, [], False)
    got = {Path(t["path"]).name: t for t in doc["transcripts"]}
    assert set(got) == {"talk0.mp4", "talk1.mp4"}
    assert all(t["status"] == "done" and t["utterances"] >= 1 for t in got.values()), got
    assert " transcribing " in proc.stderr  # the speech line on stderr
    # nothing is left for `lifelog transcribe`
    again = run_cli(data, "transcribe", "--json", timeout=300)
    assert again.returncode == 0 and json_doc(again)["transcripts"] == [], again.stderr[-2000:]


def test_ctrl_c_stops_the_import_and_its_speech_and_keeps_whole_files(clips: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "memory"
    files = [clips["talk0"], clips["video"], clips["talk2"]]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog", "--data-dir", str(data), "import", *map(str, files), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )
    try:
        deadline = time.monotonic() + 300
        while not _media(data) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the first clip is committed: the video is being imported now
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err, err[-3000:]
    assert proc.returncode == 130, err[-3000:]
    doc = json.loads(out)  # the document is still printed, saying what was kept
    assert set(doc) >= IMPORT_FIELDS
    assert doc["cancelled"] is True and doc["failed"] == []
    assert "import cancelled; files already finished are kept" in err
    kept = _media(data)
    assert _hash(clips["talk0"]) in kept and _hash(clips["video"]) not in kept and _hash(clips["talk2"]) not in kept
    assert doc["imported"] == len(kept) == 1
    assert [t["status"] for t in doc["transcripts"]] in ([], ["done"])  # written whole, or pending
    assert journal_entries(data) == []
    assert_consistent(data)
    # the next run finishes the job: the rest imported, every transcript written
    proc2 = run_cli(data, "import", *map(str, files), "--json", timeout=600)
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    doc2 = json_doc(proc2)
    assert (doc2["imported"], doc2["skipped"]) == (2, 1)
    names = {Path(t["path"]).name for t in doc2["transcripts"] if t["status"] == "done"}
    assert "talk2.mp4" in names and ("talk0.mp4" in names) == (doc["transcripts"] == [])


# ------------------------------------------------------------------ the app
def _folder(d: Path, *files: Path) -> Path:
    """One queue row for several files: a folder of copies, named in import order."""
    d.mkdir()
    for k, f in enumerate(files):
        shutil.copyfile(f, d / f"{k}-{f.name}")
    return d


class _Page:
    """The Import page on a real memory (faces and OCR off to keep it short)."""

    def __init__(self, qtbot: Any, data: Path) -> None:
        from lifelog.api import Memory
        from lifelog.config import Settings, save_settings
        from ui.context import AppContext
        from ui.pages.importer import Page
        from ui.tasks import Tasks

        s = Settings()
        s.capture.faces = False
        s.capture.ocr_interval_s = 0.0
        data.mkdir(parents=True, exist_ok=True)
        save_settings(data, s)
        self.memory = Memory(data)
        self.tasks = Tasks()
        self.ctx = AppContext(self.memory, self.tasks, changed=lambda _k: None, status=lambda _s: None)
        self.page = Page(self.ctx)
        qtbot.addWidget(self.page)

    def close(self) -> None:
        self.page.shutdown()  # waits for the write thread and lets the import process exit


def test_the_importer_row_shows_the_speech_and_cancel_stops_both(
    qtbot: Any, clips: dict[str, Path], tmp_path: Path
) -> None:
    data = tmp_path / "memory"
    h = _Page(qtbot, data)
    try:
        page = h.page
        shown: list[str] = []
        (item,) = page.add_paths([_folder(tmp_path / "talks", clips["talk0"], clips["talk1"], clips["talk3"])])

        def finished() -> bool:
            shown.append(f"{item.state}: {item.detail}")
            return item.finished

        qtbot.waitUntil(finished, timeout=WAIT_MS)
        assert item.state == "done", item.detail
        assert item.outcome is not None
        assert sorted(s.status for s in item.outcome.speech) == ["done"] * 3
        # the speech was shown on the row: beside the import, or after it
        assert any("speech" in line for line in shown), shown

        # Cancel while the video imports: the import and the speech stop, whole files are kept
        (run,) = page.add_paths([_folder(tmp_path / "cut", clips["talk2"], clips["video"])])
        qtbot.waitUntil(lambda: run.latest is not None and run.latest.files_done >= 1, timeout=WAIT_MS)
        page.cancel_item(run)
        qtbot.waitUntil(lambda: run.finished, timeout=WAIT_MS)
        assert run.state == "cancelled", run.detail
        kept = _media(data)
        assert _hash(clips["talk2"]) in kept and _hash(clips["video"]) not in kept
        assert journal_entries(data) == []
        assert_consistent(data)
    finally:
        h.close()


# ------------------------------------------------------------------ the order: beside or after
@pytest.mark.parametrize("min_cpus", [0, 10**6], ids=["beside-the-import", "after-the-import"])
def test_the_same_transcripts_whether_speech_runs_beside_or_after_the_import(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, min_cpus: int
) -> None:
    """Speech is prepared during the import only on machines with enough CPUs (on two the import
    keeps both busy: lifelog.speech.worker.BESIDE_MIN_CPUS); either way the user gets the same
    transcripts, found by the same words."""
    import lifelog.speech.worker as worker
    from lifelog.api import Memory
    from lifelog.speech.store import pending_media, search_words

    monkeypatch.setattr(worker, "BESIDE_MIN_CPUS", min_cpus)
    mem = Memory(tmp_path / "memory", passphrase="p")
    result, speech = mem.import_and_transcribe([clips["talk0"], clips["talk1"], clips["talk2"]])
    assert (result.imported, result.failed) == (3, [])
    assert sorted(s.status for s in speech) == ["done"] * 3 and all(s.utterances >= 1 for s in speech)
    mem.store.refresh()
    assert pending_media(mem.store) == []
    assert search_words(mem.store, mem.vault, "dashwood") and search_words(mem.store, mem.vault, "amiable")
