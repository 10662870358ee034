"""Sync from a simulated DCF volume into a real memory: only new files, resume, change, crash."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lifelog.api import Memory
from lifelog.sources.base import FolderSource
from lifelog.sources.dcf import DcfVolumeSource
from lifelog.sources.ledger import Ledger
from lifelog.sources.sim.clips import make_clips
from lifelog.sources.sim.dcf import UnpluggingSource, add_file, make_volume
from lifelog.sources.sync import SyncOptions, SyncProgress, originals_dir, sync_source
from lifelog.store.originals import encrypted_path, is_encrypted, kept_copy, open_original

CEST = timezone(timedelta(hours=2))
START = datetime(2024, 5, 14, 8, 0, tzinfo=CEST)
_CLIPS: dict[str, list[tuple[Path, datetime]]] = {}


@pytest.fixture
def clips(tmp_path_factory: pytest.TempPathFactory, media: Any) -> list[tuple[Path, datetime]]:
    if "c" not in _CLIPS:
        _CLIPS["c"] = make_clips(tmp_path_factory.mktemp("clips"), 4, START)
    return _CLIPS["c"]


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def kept_sha(mem: Memory, recorded: Path) -> str:
    """SHA-256 of a kept original's plaintext: it is kept encrypted, decrypted while it is read."""
    kept = kept_copy(mem.data_dir, recorded)
    assert kept is not None and is_encrypted(kept), recorded
    h = hashlib.sha256()
    with open_original(mem.data_dir, mem.vault, kept) as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def test_sync_takes_only_new_files(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "GOPRO_CARD", "gopro", clips[:2])
    mem = Memory(data_dir)
    seen: list[SyncProgress] = []
    first = sync_source(mem, DcfVolumeSource(vol), progress=seen.append)
    assert first.ok, first.to_json()
    assert (first.listed, first.new, first.imported) == (2, 2, 2)
    assert first.bytes_downloaded == sum(p.stat().st_size for p, _ in clips[:2])
    assert seen[-1].stage == "done" and any(p.stage == "downloading" for p in seen)
    eps = mem.episodes()
    assert len(eps) == 2
    assert abs(eps[0].start - START) < timedelta(seconds=2)  # creation_time of the clip, not the copy's

    # Originals are kept under the data dir (encrypted), byte for byte, with the device's mtime.
    dev = first.device_id
    kept = originals_dir(data_dir, dev) / "100GOPRO" / "GX010001.MP4"
    assert kept_sha(mem, kept) == sha(clips[0][0])
    assert abs(encrypted_path(kept).stat().st_mtime - clips[0][1].timestamp()) < 1

    # The camera records one more clip; the next sync takes only that one.
    add_file(vol, "gopro", 3, clips[2][0], clips[2][1])
    second = sync_source(mem, DcfVolumeSource(vol))
    assert (second.listed, second.already_taken, second.new, second.imported) == (3, 2, 1, 1)
    assert second.bytes_downloaded == clips[2][0].stat().st_size
    assert len(mem.episodes()) == 3
    rows = mem.store.rows("media", None, columns=["device"]).to_pylist()
    assert {r["device"] for r in rows} == {dev}

    # Nothing new: nothing downloaded, nothing imported.
    third = sync_source(mem, DcfVolumeSource(vol))
    assert (third.new, third.imported, third.bytes_downloaded) == (0, 0, 0)


def test_unplug_mid_transfer_then_resume(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "CANON", "canon", clips[:1])
    mem = Memory(data_dir)
    size = clips[0][0].stat().st_size
    flaky = UnpluggingSource(DcfVolumeSource(vol), fraction=0.5)
    cut = sync_source(mem, flaky, options=SyncOptions(retries=1, backoff_s=0))
    assert cut.imported == 0 and len(cut.failed) == 1
    assert "incomplete" in cut.failed[0].reason and "resumes" in cut.failed[0].reason
    assert cut.bytes_downloaded == size // 2
    assert mem.episodes() == []
    ledger = Ledger(data_dir, cut.device_id)
    assert len(ledger) == 0 and ledger.partial_bytes() == size // 2

    # Plugged in again: the download continues from the partial file.
    src = DcfVolumeSource(vol)
    again = sync_source(mem, src)
    assert again.ok and again.imported == 1 and again.resumed == 1
    assert again.bytes_downloaded == size - size // 2
    kept = originals_dir(data_dir, again.device_id) / "100CANON" / "IMG_0001.MP4"
    assert kept_sha(mem, kept) == sha(clips[0][0])
    assert Ledger(data_dir, again.device_id).partial_bytes() == 0
    assert len(mem.episodes()) == 1


def test_a_file_changed_on_the_device_is_taken_again(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "PHONE", "phone", clips[:1])
    mem = Memory(data_dir)
    first = sync_source(mem, FolderSource(vol / "DCIM", device_id="folder-phone"))
    assert first.imported == 1
    # The phone overwrote the file under the same name with another recording (other size).
    name = next((vol / "DCIM" / "Camera").iterdir())
    add_file(vol, "phone", 1, clips[1][0], clips[1][1])
    assert name.exists() and name.stat().st_size == clips[1][0].stat().st_size
    second = sync_source(mem, FolderSource(vol / "DCIM", device_id="folder-phone"))
    assert (second.already_taken, second.new, second.imported) == (0, 1, 1)
    assert len(mem.episodes()) == 2
    # Both originals are kept (the first one still backs its episodes).
    kept = sorted(p for p in originals_dir(data_dir, "folder-phone").rglob("*") if p.is_file())
    assert sorted(kept_sha(mem, p) for p in kept) == sorted([sha(clips[0][0]), sha(clips[1][0])])


class CrashingMemory(Memory):
    """A memory whose import dies (as a killed process would) the first time it is called."""

    crashes = 1

    def import_paths(self, paths_: list[Path], progress: Any = None, cancel: threading.Event | None = None,
                     device: str | None = None) -> Any:  # fmt: skip
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("power cut")
        return super().import_paths(paths_, progress=progress, cancel=cancel, device=device)


def test_crash_between_download_and_import_leaves_nothing_half_done(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "DJI", "dji", clips[:1])
    mem = CrashingMemory(data_dir)
    with pytest.raises(RuntimeError, match="power cut"):
        sync_source(mem, DcfVolumeSource(vol))
    dev = DcfVolumeSource(vol).identity().id
    assert len(Ledger(data_dir, dev)) == 0  # not recorded as taken
    assert mem.episodes() == []
    assert mem.store.rows("media", None, columns=["id"]).num_rows == 0

    after = sync_source(mem, DcfVolumeSource(vol))
    assert after.ok and after.imported == 1
    assert after.bytes_downloaded == 0  # the verified copy was reused, not downloaded again
    assert len(mem.episodes()) == 1
    assert len(Ledger(data_dir, dev)) == 1


def test_originals_can_be_dropped_after_import(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "SONY", "sony", clips[:1])
    mem = Memory(data_dir)
    res = sync_source(mem, DcfVolumeSource(vol), options=SyncOptions(keep_originals=False))
    assert res.imported == 1
    assert not originals_dir(data_dir, res.device_id).exists()
    assert not any(p.is_file() for p in (data_dir / "devices" / res.device_id / "partial").glob("*"))
    # The device is never written to.
    assert sha(vol / "DCIM" / "100MSDCF" / "C0001.MP4") == sha(clips[0][0])


def test_a_partial_of_an_older_version_is_not_resumed(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "CARD", "canon", clips[:1])
    mem = Memory(data_dir)
    cut = sync_source(mem, UnpluggingSource(DcfVolumeSource(vol)), options=SyncOptions(retries=1, backoff_s=0))
    assert cut.failed and Ledger(data_dir, cut.device_id).partial_bytes() > 0
    add_file(vol, "canon", 1, clips[1][0], clips[1][1])  # same name, other recording
    res = sync_source(mem, DcfVolumeSource(vol, DcfVolumeSource(vol).identity()))
    assert res.ok and res.imported == 1 and res.resumed == 0
    assert res.bytes_downloaded == clips[1][0].stat().st_size
    kept = originals_dir(data_dir, res.device_id) / "100CANON" / "IMG_0001.MP4"
    assert kept_sha(mem, kept) == sha(clips[1][0])


def test_cancel_mid_download_keeps_the_partial_and_reports_progress(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "CARD", "dji", clips[:2])
    mem = Memory(data_dir)
    cancel = threading.Event()
    seen: list[SyncProgress] = []

    def progress(p: SyncProgress) -> None:
        seen.append(p)
        if p.stage == "downloading" and p.bytes_done > 0:
            cancel.set()

    src = UnpluggingSource(DcfVolumeSource(vol), fraction=1.0)  # plain reads, counted
    res = sync_source(mem, src, progress=progress, cancel=cancel)
    assert res.cancelled and res.imported == 0 and mem.episodes() == []
    assert len(Ledger(data_dir, res.device_id)) == 0
    fractions = [p.fraction for p in seen if p.stage == "downloading"]
    assert fractions == sorted(fractions) and 0 < fractions[-1] <= 1
    again = sync_source(mem, DcfVolumeSource(vol))
    assert again.ok and again.imported == 2


def test_a_sync_waits_its_turn_while_another_import_holds_the_memory(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    """The user imports a folder while a card syncs: the sync waits for the write lock instead of
    failing its files, and both end up in the memory."""
    from lifelog.store.lock import write_lock

    vol = make_volume(tmp_path / "media", "CANON", "canon", clips[:1])
    mem = Memory(data_dir)
    holding = threading.Event()
    release = threading.Event()

    def other_import() -> None:
        with write_lock(data_dir):
            holding.set()
            release.wait(30)

    t = threading.Thread(target=other_import)
    t.start()
    assert holding.wait(30)
    stages: list[str] = []

    def progress(p: SyncProgress) -> None:
        stages.append(p.stage)
        if p.stage == "importing":
            threading.Timer(0.5, release.set).start()  # the other import finishes a moment later

    result = sync_source(mem, DcfVolumeSource(vol), progress=progress)
    t.join()
    assert result.ok and result.imported == 1, result.to_json()
    assert len(mem.episodes()) == 1


def test_a_cancelled_sync_stops_waiting_for_the_memory(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    from lifelog.sources.sync import SyncCancelled, import_when_free
    from lifelog.store.lock import write_lock

    vol_file = clips[0][0]
    mem = Memory(data_dir)
    cancel = threading.Event()
    with write_lock(data_dir):
        threading.Timer(0.3, cancel.set).start()
        with pytest.raises(SyncCancelled):
            import_when_free(mem, [vol_file], cancel=cancel, device="test", poll_s=0.1)
    assert mem.episodes() == []
