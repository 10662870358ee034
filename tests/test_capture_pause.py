"""One pause for everything (issue #13): every capture path obeys ``<data>/capture.json``.

Real paths: a simulated DCF volume synced into a real memory, the Wi-Fi receiver on loopback with
the reference client (paired uploads and LocalSend), webcam segments from real footage, and the
``lifelog`` command as a real process.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import cli_env, json_doc, run_cli
from wifi_helpers import clip, run_receiver

from lifelog.api import Memory
from lifelog.sources import capture
from lifelog.sources.capture import CaptureError, CaptureWatch, parse_duration, parse_until
from lifelog.sources.dcf import DcfVolumeSource
from lifelog.sources.sim.camera import SimCamera
from lifelog.sources.sim.clips import make_clips
from lifelog.sources.sim.dcf import make_volume
from lifelog.sources.sync import SyncProgress, originals_dir, sync_source
from lifelog.sources.webcam import RecorderState, record_to_memory
from lifelog.sources.wifi.client import CompanionClient, ReceiverError, UploadInterrupted
from lifelog.sources.wifi.common import INCOMING_DIR, RECEIVED_DIR

CEST = timezone(timedelta(hours=2))
START = datetime(2024, 5, 19, 9, 0, tzinfo=CEST)
_CLIPS: dict[str, list[tuple[Path, datetime]]] = {}


@pytest.fixture
def clips(tmp_path_factory: pytest.TempPathFactory, media: Any) -> list[tuple[Path, datetime]]:
    if "c" not in _CLIPS:
        _CLIPS["c"] = make_clips(tmp_path_factory.mktemp("pause-clips"), 2, START)
    return _CLIPS["c"]


# ------------------------------------------------------------------ the state
def test_pause_state_timed_pause_resumes_by_itself(tmp_path: Path) -> None:
    t0 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    assert not capture.state(tmp_path).paused  # no file: capture is on
    st = capture.pause(tmp_path, for_=timedelta(hours=1), now=t0)
    assert st.paused and st.until == t0 + timedelta(hours=1) and st.since == t0
    doc = json.loads((tmp_path / "capture.json").read_text())
    assert doc == {"paused": True, "until": "2026-12-06T21:00:00+00:00", "since": "2026-12-06T20:00:00+00:00"}
    assert capture.state(tmp_path, now=t0 + timedelta(minutes=59)).paused
    later = capture.state(tmp_path, now=t0 + timedelta(hours=1))
    assert not later.paused and later.message() == "capture is on"  # resumed by itself
    assert "until" in capture.state(tmp_path, now=t0).message()

    capture.pause(tmp_path)  # until resumed
    assert capture.state(tmp_path, now=t0 + timedelta(days=400)).paused
    assert capture.resume(tmp_path).paused is False and not capture.state(tmp_path).paused
    with pytest.raises(CaptureError):
        capture.pause(tmp_path, until=datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(CaptureError):
        capture.pause(tmp_path, for_=timedelta(0))


def test_cheap_check_sees_another_process_within_a_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The watch's own clock is driven by the test: what is checked is that a pause written by
    # another process is seen once the check interval (at most a second) has passed, however
    # loaded the machine is (bench/pause.py measures the real delay).
    clock = [1000.0]
    fake_time = type("FakeTime", (), {"monotonic": staticmethod(lambda: clock[0])})
    monkeypatch.setattr(capture, "time", fake_time)
    watch = CaptureWatch(tmp_path)
    assert watch.interval_s <= 1.0
    assert not watch.paused()
    # Another process writes the file (not through this module: no in-process shortcut).
    doc = {"paused": True, "until": None, "since": datetime.now(UTC).isoformat()}
    (tmp_path / "capture.json").write_text(json.dumps(doc))
    clock[0] += watch.interval_s
    assert watch.paused()
    (tmp_path / "capture.json").write_text("{not json")  # damaged: fail closed
    clock[0] += watch.interval_s
    assert watch.paused() and watch.state().damaged
    capture.resume(tmp_path)
    assert not watch.paused()  # in this process: at once


def test_parsing_durations_and_times() -> None:
    assert parse_duration("1h") == timedelta(hours=1)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("2h30m") == timedelta(hours=2, minutes=30)
    assert parse_duration("45") == timedelta(minutes=45)
    for bad in ("", "h", "1x", "-1h", "0m"):
        with pytest.raises(CaptureError):
            parse_duration(bad)
    now = datetime(2026, 12, 6, 22, 0).astimezone()
    assert parse_until("22:30", now=now) == now.replace(minute=30)
    assert parse_until("21:00", now=now) == now.replace(hour=21) + timedelta(days=1)
    with pytest.raises(CaptureError):
        parse_until("25:00", now=now)


# ------------------------------------------------------------------ device sync
def test_sync_takes_nothing_while_paused_and_everything_after(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "CARD", "gopro", clips)
    mem = Memory(data_dir)
    capture.pause(data_dir)
    res = sync_source(mem, DcfVolumeSource(vol))
    assert res.paused and res.imported == 0 and res.bytes_downloaded == 0, res.to_json()
    assert res.to_json()["paused"] is True
    assert mem.episodes() == []
    capture.resume(data_dir)
    res = sync_source(mem, DcfVolumeSource(vol))
    assert res.ok and not res.paused and res.imported == 2, res.to_json()


def test_sync_paused_mid_item_never_imports_it(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "CARD2", "gopro", clips)
    mem = Memory(data_dir)

    def on_progress(p: SyncProgress) -> None:
        if p.stage == "downloading" and not capture.state(data_dir).paused:
            capture.pause(data_dir, for_=timedelta(hours=1))  # paused during the first download

    res = sync_source(mem, DcfVolumeSource(vol), progress=on_progress)
    assert res.paused and res.imported == 0, res.to_json()
    assert mem.episodes() == []
    capture.resume(data_dir)
    res = sync_source(mem, DcfVolumeSource(vol))
    assert res.imported == 2 and not res.paused, res.to_json()
    assert len(list(originals_dir(data_dir, res.device_id).rglob("*.lgo"))) == 2


# ------------------------------------------------------------------ webcam
def test_webcam_pause_closes_and_keeps_the_segment_and_takes_no_frames(
    media: Any, data_dir: Path, models_ready: None
) -> None:
    footage = Path(media.path("vtest.avi"))
    mem = Memory(data_dir)
    states: list[RecorderState] = []

    def on_state(s: RecorderState) -> None:
        states.append(s)
        if s.frames_seen == 30:  # 3 s of camera time in: the pause for everything
            capture.pause(data_dir)
        elif s.frames_seen == 130:
            capture.resume(data_dir)

    res = record_to_memory(mem, SimCamera(footage, START, fps=10), segment_s=60, duration_s=16, on_state=on_state)
    assert len(res.segments) == 2, res.to_json()  # the one closed at the pause was kept
    assert any(s.status == "paused" for s in states)
    # Frames 30..130 were read from the camera and dropped: ~100 frames fewer were recorded.
    assert res.frames <= 160 - 95, res.frames
    eps = mem.episodes()
    gap_from, gap_to = START + timedelta(seconds=3.2), START + timedelta(seconds=12.8)
    assert all(e.end <= gap_from or e.start >= gap_to for e in eps), [(e.start, e.end) for e in eps]


def test_webcam_paused_from_the_start_records_nothing(media: Any, tmp_path: Path) -> None:
    footage = Path(media.path("vtest.avi"))
    data = tmp_path / "d"
    data.mkdir()

    class _NoImport:  # nothing may reach an import: fail loudly if it does
        data_dir = data

        def import_paths(self, *a: Any, **k: Any) -> Any:
            raise AssertionError("imported while paused")

        def keep_original(self, p: Path) -> None:
            raise AssertionError("kept while paused")

    capture.pause(data)
    res = record_to_memory(_NoImport(), SimCamera(footage, START, fps=10), segment_s=2,  # type: ignore[arg-type]
                           duration_s=5)
    assert res.segments == [] and res.frames == 0 and not res.failed
    assert not list((data / "originals").rglob("seg-*"))


# ------------------------------------------------------------------ Wi-Fi receiver
def test_receiver_refuses_uploads_and_localsend_while_paused(
    data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    cat = clip(tmp_path_factory, media, "cat")
    size = cat.stat().st_size
    with run_receiver(data_dir, approve_localsend=lambda s: True) as running:
        client, pairing = running.pair()
        with pytest.raises(UploadInterrupted):
            client.upload(cat, cut_at=size // 2)  # half received …
        capture.pause(data_dir, for_=timedelta(minutes=30))  # … then paused
        with pytest.raises(ReceiverError) as e:
            client.upload(cat)
        assert e.value.status == 423 and e.value.doc["paused"] is True
        assert e.value.doc["error"].startswith("capture is paused until "), e.value.doc
        incoming = data_dir / INCOMING_DIR / pairing.device_id
        assert not list(incoming.glob("*.part")), "the half-received upload is dropped"
        # LocalSend: prepare-upload is refused with the same status.
        ls = CompanionClient(running.url, running.receiver.fingerprint)
        info = {"alias": "Phone", "version": "2.1", "deviceModel": "Pixel", "deviceType": "mobile",
                "fingerprint": "ab" * 32, "port": 53317, "protocol": "https", "download": False}
        files = {"f0": {"id": "f0", "fileName": cat.name, "size": size, "fileType": "video/mp4"}}
        s, headers, doc = ls.request("POST", "/api/localsend/v2/prepare-upload", doc={"info": info, "files": files})
        assert s == 423 and doc["paused"] is True, doc
        assert int(headers.get("retry-after", "0")) > 0
        assert Memory(data_dir).episodes() == []
        assert any(ev.detail.get("status") == 423 for ev in running.refusals())

        capture.resume(data_dir)
        out = client.upload(cat)
        assert out["status"] == "imported", out
        assert len(list((data_dir / RECEIVED_DIR / pairing.device_id).iterdir())) == 1


# ------------------------------------------------------------------ the command
def test_cli_pause_resume_status_and_manual_import(
    data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    p = run_cli(data_dir, "pause", "--for", "2h30m", "--json")
    assert p.returncode == 0, p.stderr
    cap = json_doc(p)["capture"]
    assert cap["paused"] is True and cap["until"] is not None
    until = datetime.fromisoformat(cap["until"])
    assert timedelta(hours=2, minutes=29) < until - datetime.now(UTC) <= timedelta(hours=2, minutes=30)
    p = run_cli(data_dir, "status", "--json")
    assert p.returncode == 0, p.stderr
    assert json_doc(p)["capture"]["paused"] is True
    # A manual import of files the user picked still works, and says capture is paused.
    p = run_cli(data_dir, "import", str(clips[0][0]), "--json", "--no-transcribe")
    assert p.returncode == 0, p.stderr
    assert json_doc(p)["imported"] == 1
    assert "capture is paused" in p.stderr
    p = run_cli(data_dir, "resume", "--json")
    assert p.returncode == 0 and json_doc(p)["capture"]["paused"] is False
    p = run_cli(data_dir, "status", "--json")
    assert json_doc(p)["capture"]["paused"] is False
    p = run_cli(data_dir, "pause", "--for", "soon", env=cli_env())
    assert p.returncode == 2 and "not a duration" in p.stderr
    p = run_cli(data_dir, "pause", "--until", "23:59", "--json")
    assert p.returncode == 0 and json_doc(p)["capture"]["until"]


# ------------------------------------------------------------------ the app
def test_app_toggle_shows_and_switches_the_pause(qtbot: Any, tmp_path: Path) -> None:
    pytest.importorskip("PySide6")
    from ui.capture import CaptureToggle

    a, b = CaptureToggle(tmp_path, poll_ms=50), CaptureToggle(tmp_path, poll_ms=50)  # status bar, Devices page
    qtbot.addWidget(a)
    qtbot.addWidget(b)
    assert "Capture on" in a.text()
    a.click()
    assert capture.state(tmp_path).paused and "Capture paused" in a.text()
    qtbot.waitUntil(lambda: "Capture paused" in b.text(), timeout=2000)  # the other one follows by polling
    b.click()
    assert not capture.state(tmp_path).paused
    qtbot.waitUntil(lambda: "Capture on" in a.text(), timeout=2000)
    capture.pause(tmp_path, for_=timedelta(minutes=30))  # as `lifelog pause --for 30m` would
    qtbot.waitUntil(lambda: "(until " in a.text(), timeout=2000)
