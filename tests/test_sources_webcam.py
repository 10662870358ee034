"""Webcam recording from a simulated camera (real footage): segments, import, pause, stop, crash."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import av
import pytest

from lifelog.api import Memory
from lifelog.ingest.media import parse_creation_time
from lifelog.sources.sim.camera import SimCamera
from lifelog.sources.webcam import CameraError, Cv2Camera, Recorder, RecorderState, record_to_memory
from lifelog.store.originals import decrypted_copy, is_encrypted, kept_copy

CEST = timezone(timedelta(hours=2))
START = datetime(2024, 5, 17, 14, 0, tzinfo=CEST)


@pytest.fixture
def footage(media: Any) -> Path:
    return Path(media.path("vtest.avi"))  # a real street scene (OpenCV's sample video)


def capture_time_of(p: Path) -> datetime:
    with av.open(str(p)) as c:
        t = parse_creation_time(c.metadata["creation_time"])
    assert t is not None
    return t


def seconds_of(p: Path) -> float:
    with av.open(str(p)) as c:
        s = c.streams.video[0]
        if s.duration and s.time_base:
            return float(s.duration * s.time_base)
        return float(c.duration or 0) / 1e6


def test_record_segments_import_with_capture_times(footage: Path, data_dir: Path, models_ready: None) -> None:
    mem = Memory(data_dir)
    states: list[RecorderState] = []
    cam = SimCamera(footage, START, fps=10)
    res = record_to_memory(mem, cam, segment_s=4, duration_s=10, on_state=states.append)
    assert res.error is None and not res.failed
    named = [Path(s) for s in res.segments]  # kept encrypted: read through decrypted copies
    kept = [kept_copy(data_dir, p) for p in named]
    assert len(named) == 3 and all(p.suffix == ".mp4" and k is not None and is_encrypted(k) for p, k in
                                    zip(named, kept, strict=True))
    segs = [decrypted_copy(data_dir, mem.vault, k, p.name) for p, k in zip(named, kept, strict=True) if k]
    assert res.imported == 3 and res.frames == 100
    assert not list((data_dir / "originals").rglob("*.part"))
    # Each segment carries its real capture start as creation_time.
    for i, p in enumerate(segs):
        assert abs(capture_time_of(p) - (START + timedelta(seconds=4 * i))) < timedelta(seconds=0.5)
    assert 3.5 <= seconds_of(segs[0]) <= 4.1
    eps = mem.episodes()
    assert eps and abs(eps[0].start - START) < timedelta(seconds=1)
    assert abs(eps[-1].end - (START + timedelta(seconds=10))) < timedelta(seconds=1.5)
    assert {s.status for s in states} >= {"recording", "stopped"}
    assert states[-1].status == "stopped" and states[-1].segments_done == 3


def test_pause_leaves_a_gap(footage: Path, data_dir: Path, models_ready: None) -> None:
    mem = Memory(data_dir)
    rec_box: list[Recorder] = []

    def on_state(s: RecorderState) -> None:
        if s.frames_seen == 30:  # 3 s in: pause for 20 s of camera time
            rec_box[0].pause()
        elif s.frames_seen == 230:
            rec_box[0].resume()

    cam = SimCamera(footage, START, fps=10)
    res = record_to_memory(mem, cam, segment_s=60, duration_s=26, on_state=on_state, recorder_ready=rec_box.append)
    assert len(res.segments) == 2  # pausing closes the segment
    eps = mem.episodes()
    covered = [(e.start, e.end) for e in eps]
    gap_from, gap_to = START + timedelta(seconds=4), START + timedelta(seconds=22)
    assert all(end <= gap_from or start >= gap_to for start, end in covered), covered
    assert min(s for s, _ in covered) < gap_from and max(e for _, e in covered) > gap_to


def test_stop_mid_segment_keeps_finished_segments(footage: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    done: list[Path] = []
    rec: Recorder

    def on_state(s: RecorderState) -> None:
        if s.frames_seen == 75:  # 7.5 s: the second segment is half written
            rec.stop()

    rec = Recorder(SimCamera(footage, START, fps=10), out, segment_s=5, on_state=on_state,
                   on_segment=lambda seg: done.append(seg.path))  # fmt: skip
    segs = rec.run()
    assert [s.frames for s in segs] == [50, 25]  # a clean stop finalises the segment in progress
    assert rec.state.status == "stopped"
    assert all(seconds_of(p) > 0 for p in done)


def test_crash_loses_only_the_segment_in_progress(footage: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec"

    class Boom(Exception):
        pass

    def on_state(s: RecorderState) -> None:
        if s.frames_seen == 75:
            raise Boom

    rec = Recorder(SimCamera(footage, START, fps=10), out, segment_s=5, on_state=on_state)
    with pytest.raises(Boom):
        rec.run()
    files = sorted(out.rglob("*"))
    mp4s = [p for p in files if p.is_file()]
    assert len(mp4s) == 1 and mp4s[0].suffix == ".mp4"  # the first, complete segment
    assert 4.5 <= seconds_of(mp4s[0]) <= 5.1


def test_unplugged_camera_ends_the_recording_with_a_reason(footage: Path, data_dir: Path,
                                                          models_ready: None) -> None:  # fmt: skip
    mem = Memory(data_dir)
    res = record_to_memory(mem, SimCamera(footage, START, fps=10, unplug_after=35), segment_s=2)
    assert res.error is not None and "unplugged" in res.error
    assert res.frames == 35 and res.imported == len(res.segments) == 2


def test_missing_camera_is_a_clear_error() -> None:
    with pytest.raises(CameraError, match="no camera at /dev/video99"):
        Cv2Camera(path="/dev/video99")
    with pytest.raises(CameraError, match="cannot open camera 9"):
        Cv2Camera(index=9)


def test_recording_can_be_cancelled(footage: Path, tmp_path: Path) -> None:
    cancel = threading.Event()

    def on_state(s: RecorderState) -> None:
        if s.frames_seen == 12:
            cancel.set()

    rec = Recorder(SimCamera(footage, START, fps=10), tmp_path / "r", segment_s=60, on_state=on_state)
    segs = rec.run(cancel=cancel)
    assert [s.frames for s in segs] == [12]
