"""Record from a webcam into short MP4 segments that enter the import pipeline as they close.

* A **frame source** (:class:`FrameSource`) delivers timestamped RGB frames: :class:`Cv2Camera`
  (a camera index or a device path, through OpenCV) or the simulated camera in
  :mod:`lifelog.sources.sim.camera` (real footage, the same protocol).
* The :class:`Recorder` encodes frames with H.264 (PyAV) into ``seg-<start>.mp4.part``; every
  ``segment_s`` seconds of capture time — and at pause and stop — the segment is finalised and
  renamed to ``.mp4``, with the real capture start as its MP4 ``creation_time``, and handed on.
  A crash loses at most the segment in progress (a leftover ``.part`` is removed next time).
* :func:`record_to_memory` runs a recorder and imports each closed segment on a worker thread
  (the :class:`~lifelog.sources.base.ImportTarget`'s ``import_paths([...], device="webcam-…")``)
  so capture never waits for the models.
  Segments are kept under ``<data>/originals/<webcam-id>/<day>/``, encrypted once imported
  (``seg-….mp4.lgo``, :mod:`lifelog.store.originals`); ``RecordResult.segments`` names them as
  imported (the path the media rows keep).
* The recording indicator is :class:`RecorderState` (recording / paused / stopped, the current
  segment, frame counts), reported after every frame; pause/resume/stop are thread-safe.
* **Capture paused** (:mod:`lifelog.sources.capture`; ``record_to_memory`` watches the data
  dir's switch, re-read at most every 0.5 s): the rule is the recorder's own pause — the segment
  in progress is closed at the first frame after the pause and **kept** (finalised, imported
  like any segment: its frames were taken before the pause); while paused every frame the camera
  delivers is dropped at once, unwritten and unseen by anything (the camera stays open so
  resuming is immediate), and a new segment starts at the first frame after resume.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

from lifelog.sources.base import ImportTarget, short_hash

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from lifelog.ingest.pipeline import ImportResult


class CameraError(RuntimeError):
    """No camera, or it cannot be read."""


@dataclass(frozen=True)
class Frame:
    image: npt.NDArray[np.uint8]  # H x W x 3, RGB
    time: datetime  # when it was captured (timezone-aware)


class FrameSource(Protocol):
    """A camera. ``read`` blocks until the next frame; None when the camera is gone."""

    fps: float
    label: str
    device_key: str  # stable key for the device id (index or path)

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


class Cv2Camera:
    """A real camera through OpenCV: ``index`` (0, 1…) or ``path`` (``/dev/video2``, a URL)."""

    def __init__(self, index: int | None = None, path: str | None = None, fps: float | None = None) -> None:
        import cv2

        if (index is None) == (path is None):
            raise ValueError("give a camera index or a device path")
        what = f"camera {index}" if path is None else path
        if path is not None and path.startswith("/dev/") and not os.path.exists(path):
            raise CameraError(f"no camera at {path} (is it connected?)")
        cap = cv2.VideoCapture(path) if path is not None else cv2.VideoCapture(int(index or 0))
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open {what} (not connected, busy in another app, or no permission)")
        self._cap = cap
        self.fps = float(fps or cap.get(cv2.CAP_PROP_FPS) or 30.0)
        if not 1.0 <= self.fps <= 120.0:
            self.fps = 30.0
        self.label = f"Webcam {index}" if path is None else f"Webcam {path}"
        self.device_key = f"index:{index}" if path is None else f"path:{path}"

    def read(self) -> Frame | None:
        import cv2

        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            return None
        rgb: Any = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return Frame(rgb, datetime.now(UTC))

    def close(self) -> None:
        self._cap.release()


RecorderStatus = Literal["recording", "paused", "stopped"]


@dataclass(frozen=True)
class RecorderState:
    """The recording indicator, as plain data."""

    status: RecorderStatus
    segment: str | None  # file being written
    segment_started: datetime | None
    frames_in_segment: int
    frames_recorded: int  # written to segments
    frames_seen: int  # read from the camera (also while paused)
    segments_done: int
    last_frame_time: datetime | None
    error: str | None = None


@dataclass(frozen=True)
class Segment:
    path: Path
    start: datetime
    end: datetime
    frames: int


class _SegmentWriter:
    def __init__(self, path: Path, start: datetime, size: tuple[int, int], fps: float) -> None:
        import av

        self.path = path
        self.tmp = path.with_name(path.name + ".part")
        self.start = start
        self.last = start
        self.frames = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self.container: Any = av.open(str(self.tmp), "w", format="mp4")
        self.container.metadata["creation_time"] = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        gop = max(1, round(2 * fps))
        self.stream: Any = self.container.add_stream(
            "libx264", rate=round(fps), options={"preset": "veryfast", "crf": "26",
                                                 "x264-params": f"keyint={gop}:min-keyint={gop}"}
        )  # fmt: skip
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = Fraction(1, 1000)
        self.size = size
        self._last_pts = -1

    def write(self, frame: Frame) -> None:
        import av

        w, h = self.size
        img = frame.image[:h, :w]
        vf = av.VideoFrame.from_ndarray(img, format="rgb24")
        pts = max(self._last_pts + 1, round((frame.time - self.start).total_seconds() * 1000))
        vf.pts = pts
        vf.time_base = Fraction(1, 1000)
        self._last_pts = pts
        for pkt in self.stream.encode(vf):
            self.container.mux(pkt)
        self.frames += 1
        self.last = frame.time

    def close(self) -> None:
        for pkt in self.stream.encode():
            self.container.mux(pkt)
        self.container.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
        self.tmp.unlink(missing_ok=True)


class Recorder:
    """Frames from ``camera`` into segments under ``out_dir``; see the module docstring."""

    def __init__(
        self,
        camera: FrameSource,
        out_dir: Path,
        *,
        segment_s: float = 60.0,
        on_segment: Callable[[Segment], None] | None = None,
        on_state: Callable[[RecorderState], None] | None = None,
        capture_paused: Callable[[], bool] | None = None,
    ) -> None:
        if segment_s < 1:
            raise ValueError("segments must be at least 1 second long")
        self.camera = camera
        self.out_dir = Path(out_dir)
        self.segment_s = segment_s
        self.on_segment = on_segment or (lambda s: None)
        self.on_state = on_state or (lambda s: None)
        self.segments: list[Segment] = []
        self._lock = threading.Lock()
        self._paused = False
        self._capture_paused = capture_paused or (lambda: False)  # the data dir's pause for everything
        self._held = False  # paused by it now
        self._stop = threading.Event()
        self._writer: _SegmentWriter | None = None
        self._recorded = 0
        self._seen = 0
        self._last: datetime | None = None
        self._error: str | None = None

    # thread-safe controls
    def pause(self) -> None:
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def stop(self) -> None:
        self._stop.set()

    @property
    def state(self) -> RecorderState:
        w = self._writer
        held = self._paused or self._held
        status: RecorderStatus = "stopped" if self._stop.is_set() else ("paused" if held else "recording")
        return RecorderState(
            status, w.path.name if w else None, w.start if w else None, w.frames if w else 0,
            self._recorded, self._seen, len(self.segments), self._last, self._error,
        )  # fmt: skip

    def _close_segment(self) -> None:
        w, self._writer = self._writer, None
        if w is None:
            return
        if w.frames == 0:
            w.abort()
            return
        w.close()
        seg = Segment(w.path, w.start, w.last, w.frames)
        self.segments.append(seg)
        self.on_segment(seg)

    def run(self, duration_s: float | None = None, cancel: threading.Event | None = None) -> list[Segment]:
        """Record until stopped, cancelled, ``duration_s`` of capture time passed, or the camera ends."""
        for stale in self.out_dir.glob("**/seg-*.mp4.part"):  # what a crash left: the lost segment
            stale.unlink(missing_ok=True)
        first: datetime | None = None
        try:
            while not self._stop.is_set() and not (cancel is not None and cancel.is_set()):
                frame = self.camera.read()
                if frame is None:
                    if self._seen == 0:
                        self._error = "the camera gave no picture"
                    else:
                        self._error = "the camera stopped sending pictures (unplugged?)"
                    break
                self._seen += 1
                self._last = frame.time
                first = first or frame.time
                if duration_s is not None and (frame.time - first).total_seconds() >= duration_s:
                    break
                self._held = self._capture_paused()
                with self._lock:
                    paused = self._paused or self._held
                if paused:
                    self._close_segment()
                else:
                    w = self._writer
                    if w is not None and (frame.time - w.start).total_seconds() >= self.segment_s:
                        self._close_segment()
                        w = None
                    if w is None:
                        h, wd = frame.image.shape[:2]
                        name = f"seg-{frame.time.astimezone(UTC):%Y%m%dT%H%M%S%fZ}.mp4"
                        day = frame.time.astimezone().strftime("%Y-%m-%d")
                        w = self._writer = _SegmentWriter(self.out_dir / day / name, frame.time,
                                                          (wd - wd % 2, h - h % 2), self.camera.fps)  # fmt: skip
                    w.write(frame)
                    self._recorded += 1
                self.on_state(self.state)
            self._close_segment()  # a clean stop finalises the segment in progress
        except BaseException:
            if self._writer is not None:
                self._writer.abort()
                self._writer = None
            raise
        finally:
            self._stop.set()
            self.on_state(self.state)
        return self.segments


class FailedSegment(TypedDict):
    """A closed segment the import did not take (it stays on disk for ``lifelog import``)."""

    path: str
    error: str


@dataclass
class RecordResult:
    device_id: str
    segments: list[str] = field(default_factory=list)
    imported: int = 0
    failed: list[FailedSegment] = field(default_factory=list)
    episodes: list[str] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device_id,
            "segments": self.segments,
            "imported": self.imported,
            "failed": self.failed,
            "episodes": self.episodes,
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "cancelled": self.cancelled,
        }


def webcam_id(camera: FrameSource) -> str:
    return f"webcam-{short_hash(camera.device_key)}"


def record_to_memory(
    memory: ImportTarget,
    camera: FrameSource,
    *,
    segment_s: float = 60.0,
    duration_s: float | None = None,
    cancel: threading.Event | None = None,
    on_state: Callable[[RecorderState], None] | None = None,
    recorder_ready: Callable[[Recorder], None] | None = None,
    obey_pause: bool = True,
) -> RecordResult:
    """Record from ``camera`` and import every closed segment into ``memory`` as it closes."""
    dev = webcam_id(camera)
    out = Path(memory.data_dir) / "originals" / dev
    res = RecordResult(dev)
    todo: queue.Queue[Segment | None] = queue.Queue()

    def importer() -> None:
        while (seg := todo.get()) is not None:
            try:
                from lifelog.sources.sync import import_when_free

                r: ImportResult = import_when_free(memory, [seg.path], cancel=threading.Event(), device=dev)
            except Exception as e:  # keep recording; the segment stays on disk for `lifelog import`
                res.failed.append({"path": str(seg.path), "error": f"import failed: {e}"})
                continue
            if r.imported:  # kept encrypted at rest (<segment>.lgo), the plaintext shredded
                try:
                    memory.keep_original(seg.path)
                except (OSError, ValueError) as e:  # the next open of the memory encrypts it
                    res.failed.append({"path": str(seg.path), "error": f"not encrypted yet: {e}"})
            res.imported += r.imported
            res.episodes += r.episodes
            res.failed += [{"path": f.path, "error": f.error} for f in r.failed]

    worker = threading.Thread(target=importer, name="webcam-import", daemon=True)
    worker.start()
    from lifelog.sources.capture import CaptureWatch

    watch = CaptureWatch(Path(memory.data_dir)) if obey_pause else None
    rec = Recorder(camera, out, segment_s=segment_s, on_segment=todo.put, on_state=on_state,
                   capture_paused=watch.paused if watch is not None else None)
    if recorder_ready is not None:
        recorder_ready(rec)
    try:
        segs = rec.run(duration_s=duration_s, cancel=cancel)
    finally:
        todo.put(None)
        worker.join()
        camera.close()
    res.segments = [str(s.path) for s in segs]
    res.frames = sum(s.frames for s in segs)
    res.seconds = sum((s.end - s.start).total_seconds() for s in segs)
    res.error = rec.state.error
    res.cancelled = cancel is not None and cancel.is_set()
    return res
