"""Issue #20 (outside audit): a full disk while speech is written is reported per file, like the
visual path, with the JSON document printed and exit 3 — for `lifelog import` and `lifelog
transcribe` alike; nothing already stored changes and the next run with space finishes the job.

All of it is real: the real CLI as a process, a real full filesystem (a tmpfs filled with
``posix_fallocate``), the real Whisper model and real recorded speech.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import json_doc, run_cli, tmpfs

pytestmark = pytest.mark.usefixtures("models_ready")

DISK_FULL = "disk full"
SPEECH = "cards_001.wav"  # real recorded speech (a few seconds)
MORE_SPEECH = "cards_002.wav"


@contextmanager
def _disk_full(mnt: Path, left: int) -> Iterator[None]:
    """Take all but ``left`` free bytes of the filesystem at ``mnt``: writes fail with ENOSPC."""
    filler = mnt / "filler"
    st = os.statvfs(mnt)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.posix_fallocate(fd, 0, st.f_bavail * st.f_frsize - left)
    finally:
        os.close(fd)
    try:
        yield
    finally:
        filler.unlink()


def _speech_failures(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in doc["transcripts"] if t["status"] == "failed"]


@pytest.fixture
def speech_file(media: Any, tmp_path: Path) -> Path:
    """Two real speech recordings in a folder; the path of the first."""
    src = tmp_path / "src"
    src.mkdir()
    for name in (SPEECH, MORE_SPEECH):
        try:
            shutil.copyfile(media.path(name), src / name)
        except KeyError:
            pytest.skip(f"{name} was not fetched")
    return src / SPEECH


# With no byte left the first write to fail is a plain file (OSError, ENOSPC); with a little
# left it is LanceDB's commit (its own error type, "No space left on device … commit.rs").
@pytest.mark.parametrize("left", [0, 16 << 10], ids=["no-byte-left", "lance-commit-fails"])
def test_full_disk_while_writing_speech_is_a_per_file_failure(speech_file: Path, tmp_path: Path, left: int) -> None:
    with tmpfs(tmp_path / "mnt", "48m") as mnt:
        data = mnt / "memory"
        # The visual import has room; the transcripts are left for later.
        proc = run_cli(data, "import", str(speech_file.parent), "--no-transcribe", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json_doc(proc)["imported"] == 2

        with _disk_full(mnt, left):
            # `lifelog import` of the same file: nothing new to import, the transcript is due.
            proc = run_cli(data, "import", str(speech_file), "--json")
            assert "Traceback" not in proc.stderr, proc.stderr
            assert "commit.rs" not in proc.stderr, proc.stderr
            assert proc.returncode == 3, proc.stderr
            doc = json_doc(proc)
            assert doc["skipped"] == 1 and doc["failed"] == [], doc
            # Both pending transcripts fail, each named with the reason (after the first the
            # second is not even transcribed: its write would fail the same way).
            fails = _speech_failures(doc)
            assert sorted(Path(f["path"]).name for f in fails) == [SPEECH, MORE_SPEECH], fails
            for f in fails:
                assert DISK_FULL in f["error"] and "nothing already stored was changed" in f["error"], f
                assert f"lifelog: {f['path']}: no transcript: {f['error']}" in proc.stderr.splitlines()

            # `lifelog transcribe` says the same.
            proc = run_cli(data, "transcribe", "--json")
            assert "Traceback" not in proc.stderr, proc.stderr
            assert proc.returncode == 3, proc.stderr
            fails = _speech_failures(json_doc(proc))
            assert len(fails) == 2 and all(DISK_FULL in f["error"] for f in fails), fails

            proc = run_cli(data, "transcribe")  # the human form names the file and the reason
            assert proc.returncode == 3, proc.stderr
            assert SPEECH in proc.stdout and DISK_FULL in proc.stdout, proc.stdout

        # With space again the transcript is written: nothing was recorded as done or failed.
        proc = run_cli(data, "transcribe", "--json")
        assert proc.returncode == 0, proc.stderr
        done = json_doc(proc)["transcripts"]
        assert len(done) == 2 and all(t["status"] == "done" and t["utterances"] >= 1 for t in done), done
        assert not [p for p in (data / "journal-speech").iterdir() if not p.name.startswith(".")]
        proc = run_cli(data, "transcribe", "--json")
        assert proc.returncode == 0 and json_doc(proc)["transcripts"] == [], proc.stdout
