"""The quick probe (issue 21): a file opened only to read what it holds decodes no picture
(``decode.PROBE_OPTIONS``), and must still describe it as the full probe does — size, codec, frame
rate, duration, creation time — in every container lifelog imports. Real files written by FFmpeg
(PyAV) in each container, plus the sample media's real clips."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from lifelog.ingest import decode

CONTAINERS = [("mp4", "h264"), ("mkv", "h264"), ("ts", "h264"), ("webm", "vp9"), ("mov", "mpeg4"), ("avi", "mpeg4")]


def _clip(path: Path, codec: str) -> Path:
    rng = np.random.default_rng(7)
    with av.open(str(path), "w") as out:
        out.metadata["creation_time"] = "2026-11-20T09:15:00.000000Z"
        s = out.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        for _ in range(50):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), format="rgb24")
            for pkt in s.encode(frame):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return path


@pytest.mark.parametrize(("ext", "codec"), CONTAINERS)
def test_the_quick_probe_describes_a_video_as_the_full_one_does(tmp_path: Path, ext: str, codec: str) -> None:
    path = _clip(tmp_path / f"clip.{ext}", codec)
    quick, full = decode.probe_video(path), decode._probe_video(path, probe=False)
    assert (quick.width, quick.height, quick.codec) == (320, 240, full.codec)
    assert quick.fps == pytest.approx(full.fps) and quick.fps > 0
    assert quick.duration_s == pytest.approx(full.duration_s, abs=0.05) and quick.duration_s > 1.5
    assert quick.creation_time == full.creation_time
    if ext in ("mp4", "mov", "mkv"):
        assert quick.creation_time == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)


def test_the_sample_clips_probe_the_same_quick_or_full(media: Any) -> None:
    clips = sorted(Path(media.root).glob("*.mp4")) + sorted(Path(media.root).glob("*.avi"))
    assert clips
    for p in clips:
        assert decode.probe_video(p) == decode._probe_video(p, probe=False), p.name
