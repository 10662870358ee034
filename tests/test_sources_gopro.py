"""GoPro-style pull over real HTTP on loopback: list, Range resume, 503, faults, hostile listings."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lifelog.api import Memory
from lifelog.sources.base import SourceError
from lifelog.sources.gopro import GoProSource
from lifelog.sources.ledger import Ledger
from lifelog.sources.sim.clips import make_clips
from lifelog.sources.sim.gopro_server import GoProServer
from lifelog.sources.sync import SyncOptions, SyncProgress, SyncResult, originals_dir, sync_source
from lifelog.store.originals import decrypted_copy, is_encrypted, kept_copy
from lifelog.store.vault import Vault

CEST = timezone(timedelta(hours=2))
START = datetime(2024, 5, 15, 9, 0, tzinfo=CEST)
_CLIPS: dict[str, list[tuple[Path, datetime]]] = {}
FAST = SyncOptions(retries=2, backoff_s=0.01)


@pytest.fixture
def clips(tmp_path_factory: pytest.TempPathFactory, media: Any) -> list[tuple[Path, datetime]]:
    if "c" not in _CLIPS:
        _CLIPS["c"] = make_clips(tmp_path_factory.mktemp("gopro_clips"), 3, START)
    return _CLIPS["c"]


@pytest.fixture
def cam(clips: list[tuple[Path, datetime]]) -> Iterator[GoProServer]:
    with GoProServer() as srv:
        for i, (p, when) in enumerate(clips[:2], 1):
            srv.add("100GOPRO", f"GX01{i:04d}.MP4", p, when.timestamp())
        yield srv


def source(cam: GoProServer, **kw: Any) -> GoProSource:
    return GoProSource(cam.url, backoff_s=0.01, **kw)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def kept(data_dir: Path, dev: str, name: str) -> Path:
    """A decrypted copy of a kept original (it is kept encrypted under <data>/originals)."""
    recorded = originals_dir(data_dir, dev) / "100GOPRO" / name
    copy = kept_copy(data_dir, recorded)
    assert copy is not None and is_encrypted(copy), recorded
    return decrypted_copy(data_dir, Vault.open(data_dir, create=False), copy, f"test-{name}")


def test_list_and_sync_only_new_files(
    cam: GoProServer, clips: list[tuple[Path, datetime]], data_dir: Path, models_ready: None
) -> None:
    src = source(cam)
    ident = src.identity()
    assert ident.kind == "gopro" and "HERO12" in ident.label and ident.details["serial"] == "C3501324500711"
    items = sorted(src.list_media(), key=lambda i: i.name)
    assert [(i.name, i.size) for i in items] == [
        ("100GOPRO/GX010001.MP4", clips[0][0].stat().st_size),
        ("100GOPRO/GX010002.MP4", clips[1][0].stat().st_size),
    ]
    assert items[0].mtime == int(clips[0][1].timestamp())

    mem = Memory(data_dir)
    first = sync_source(mem, src)
    assert first.ok and first.imported == 2
    assert sha(kept(data_dir, ident.id, "GX010001.MP4")) == sha(clips[0][0])
    assert len(mem.episodes()) == 2

    cam.add("100GOPRO", "GX010003.MP4", clips[2][0], clips[2][1].timestamp())
    before = len(cam.requests)
    second = sync_source(mem, source(cam))
    assert (second.already_taken, second.new, second.imported) == (2, 1, 1)
    assert [r[0] for r in cam.requests[before:]] == ["100GOPRO/GX010003.MP4"]  # nothing else fetched
    assert len(mem.episodes()) == 3


def test_truncation_at_half_then_resume_with_range(
    cam: GoProServer, clips: list[tuple[Path, datetime]], data_dir: Path, models_ready: None
) -> None:
    size = clips[0][0].stat().st_size
    cam.fault("GX010001.MP4", "truncate", fraction=0.5, times=1)
    mem = Memory(data_dir)
    res = sync_source(mem, source(cam), options=FAST)
    assert res.ok and res.imported == 2 and res.resumed == 0
    got = [r for r in cam.requests if r[0].endswith("GX010001.MP4")]
    assert got == [("100GOPRO/GX010001.MP4", None), ("100GOPRO/GX010001.MP4", f"bytes={size // 2}-")]
    assert res.bytes_downloaded == size + clips[1][0].stat().st_size  # no byte fetched twice
    assert sha(kept(data_dir, res.device_id, "GX010001.MP4")) == sha(clips[0][0])


def test_camera_out_of_range_then_resume_on_next_sync(
    cam: GoProServer, clips: list[tuple[Path, datetime]], data_dir: Path, models_ready: None
) -> None:
    size = clips[0][0].stat().st_size
    cam.fault("GX010001.MP4", "truncate", fraction=0.5)  # every attempt stops at 50%
    mem = Memory(data_dir)
    res = sync_source(mem, source(cam), options=FAST)
    assert res.imported == 1 and [f.name for f in res.failed] == ["100GOPRO/GX010001.MP4"]
    assert f"got {size // 2} of {size} bytes" in res.failed[0].reason
    assert len(mem.episodes()) == 1  # only the complete file was imported
    assert Ledger(data_dir, res.device_id).partial_bytes() == size // 2

    cam.clear_faults()
    again = sync_source(mem, source(cam), options=FAST)
    assert again.ok and again.imported == 1 and again.resumed == 1
    assert again.bytes_downloaded == size - size // 2
    assert sha(kept(data_dir, res.device_id, "GX010001.MP4")) == sha(clips[0][0])


def test_busy_503_then_success(cam: GoProServer, clips: list[tuple[Path, datetime]], data_dir: Path,
                               models_ready: None) -> None:  # fmt: skip
    cam.fault("GX010001.MP4", "503", times=2)
    res = sync_source(Memory(data_dir), source(cam), options=FAST)
    assert res.ok and res.imported == 2
    assert sum(r[0].endswith("GX010001.MP4") for r in cam.requests) == 3


def test_a_file_that_never_completes_is_reported_and_nothing_imported(
    cam: GoProServer, data_dir: Path, models_ready: None
) -> None:
    cam.fault("GX010001.MP4", "truncate", fraction=0.3)
    cam.fault("GX010002.MP4", "503")  # busy forever
    mem = Memory(data_dir)
    res = sync_source(mem, source(cam, retries=1), options=FAST)
    reasons = {f.name: f.reason for f in res.failed}
    assert set(reasons) == {"100GOPRO/GX010001.MP4", "100GOPRO/GX010002.MP4"}
    assert "incomplete" in reasons["100GOPRO/GX010001.MP4"]
    assert "busy (503)" in reasons["100GOPRO/GX010002.MP4"]
    assert res.imported == 0 and mem.episodes() == []
    assert len(Ledger(data_dir, res.device_id)) == 0
    assert not originals_dir(data_dir, res.device_id).exists()


def test_lying_content_length_and_extra_bytes(
    cam: GoProServer, clips: list[tuple[Path, datetime]], data_dir: Path, models_ready: None
) -> None:
    cam.fault("GX010001.MP4", "wrong_length", extra=5000, times=1)  # claims more, sends the file, hangs up
    cam.fault("GX010002.MP4", "extra_bytes", extra=5000)  # sends more than the listing declared
    mem = Memory(data_dir)
    res = sync_source(mem, source(cam), options=FAST)
    assert res.imported == 1
    assert sha(kept(data_dir, res.device_id, "GX010001.MP4")) == sha(clips[0][0])
    [fail] = res.failed
    assert fail.name == "100GOPRO/GX010002.MP4" and "more bytes than it declared" in fail.reason
    assert Ledger(data_dir, res.device_id).partial_bytes() == 0  # the bad copy is not kept


def test_hostile_listing_entries_are_refused(cam: GoProServer, data_dir: Path, models_ready: None) -> None:
    cam.listing_extra.extend([
        {"n": "../../../etc/passwd.MP4", "s": "100", "mod": "1715670000"},
        {"n": "x" * 300 + ".MP4", "s": "100", "mod": "1715670000"},
        {"n": "EMPTY.MP4", "s": "0", "mod": "1715670000"},
        {"n": "HUGE.MP4", "s": str(50 * 1024**4), "mod": "1715670000"},
        {"n": "LIAR.MP4", "s": "lots", "mod": "1715670000"},
        {"n": "GX010001.THM", "s": "100", "mod": "1715670000"},
        {"n": "/abs.MP4", "s": "100"},
    ])  # fmt: skip
    mem = Memory(data_dir)
    res = sync_source(mem, source(cam), options=FAST)
    assert res.imported == 2
    why = {r.name.rsplit("/", 1)[-1][:8]: r.reason for r in res.refused}
    assert "path traversal" in why["passwd.M"]
    assert "longer than 255 bytes" in why["x" * 8]
    assert "0 bytes" in why["EMPTY.MP"]
    assert "absurd" in why["HUGE.MP4"]
    assert "unreadable" in why["LIAR.MP4"]
    assert "not a media file" in why["GX010001"]
    assert len(res.refused) == 7
    # Nothing was requested for a refused name, nothing was written outside the data dir.
    assert {r[0] for r in cam.requests} == {"100GOPRO/GX010001.MP4", "100GOPRO/GX010002.MP4"}
    assert not (data_dir.parent / "etc").exists()


def test_keep_alive_during_a_long_download(cam: GoProServer, data_dir: Path, models_ready: None) -> None:
    cam.fault("GX010001.MP4", "slow", bytes_per_s=400_000)
    src = source(cam, keep_alive_s=0.05)
    res = sync_source(Memory(data_dir), src, options=FAST)
    assert res.ok
    assert cam.keep_alives >= 1


def test_unreachable_camera_is_a_clear_error(data_dir: Path) -> None:
    with GoProServer() as srv:
        url = srv.url
    src = GoProSource(url, retries=1, backoff_s=0.01, timeout_s=2)
    res = sync_source(Memory(data_dir), src)
    assert res.error is not None and "cannot reach the camera" in res.error
    with pytest.raises(SourceError):
        list(src.list_media())


def test_a_camera_that_goes_silent_times_out_and_resumes(
    cam: GoProServer, clips: list[tuple[Path, datetime]], data_dir: Path, models_ready: None
) -> None:
    size = clips[0][0].stat().st_size
    cam.fault("GX010001.MP4", "stall", fraction=0.5, seconds=60, times=1)
    res = sync_source(Memory(data_dir), source(cam, timeout_s=0.5), options=FAST)
    assert res.ok and res.imported == 2
    got = [r[1] for r in cam.requests if r[0].endswith("GX010001.MP4")]
    assert got == [None, f"bytes={size // 2}-"]
    assert sha(kept(data_dir, res.device_id, "GX010001.MP4")) == sha(clips[0][0])


def test_one_sync_per_device_at_a_time(cam: GoProServer, data_dir: Path, models_ready: None) -> None:
    cam.fault("GX010001.MP4", "slow", bytes_per_s=20_000)
    mem = Memory(data_dir)
    downloading = threading.Event()
    cancel = threading.Event()

    def progress(p: SyncProgress) -> None:
        if p.stage == "downloading" and p.bytes_done:
            downloading.set()

    first: list[SyncResult] = []
    t = threading.Thread(target=lambda: first.append(sync_source(mem, source(cam), progress=progress, cancel=cancel)))
    t.start()
    try:
        assert downloading.wait(60)
        second = sync_source(mem, source(cam))
    finally:
        cancel.set()
        t.join(60)
    assert second.error is not None and "another sync of this device is running" in second.error
    assert second.bytes_downloaded == 0
    assert first[0].cancelled
