"""The Devices page's third box, **Webcam**: Record / Pause / Resume / Stop with a red dot, the
elapsed recording time and the segment being written, in the panel and in the window's status
bar.

The capture loop (:class:`lifelog.api.devices.Recorder`, which does not write the memory) runs
on the panel's own one-thread pool, so a recording that lasts all day never holds the app's
write thread; each segment it closes is handed, through a queued signal, to ``ctx.tasks.write``
(:func:`lifelog.api.devices.import_segment`), so segment imports take their turn with every
other write of the app.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lifelog.api import ImportResult
from lifelog.api.devices import (
    BUSY_WAIT_S,
    FrameSource,
    Recorder,
    RecorderState,
    Segment,
    import_segment,
    open_camera,
    webcam_id,
)
from ui.context import AppContext
from ui.pages.devices.text import format_elapsed
from ui.qt import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QTimer, QVBoxLayout, Signal
from ui.tasks import TaskControl, Tasks

TICK_MS = 250  # redraw of the recording indicator
CAMERA_CHOICES = 4  # camera indices offered in the chooser (0…3)


class WebcamPanel(QGroupBox):
    """Recording from a webcam. ``problem(line)`` lists a failure under the page's Problems.
    Tunables: ``camera_factory`` (camera index → frame source) and ``segment_s``."""

    segment_closed = Signal(object)  # Segment, from the recorder's thread

    def __init__(self, ctx: AppContext, *, problem: Callable[[str], None]) -> None:
        super().__init__("Webcam")
        self.ctx = ctx
        self._problem = problem
        self.read_only = False
        self.camera_factory: Callable[[int], FrameSource] = open_camera
        self.segment_s = 60.0
        # The recorder: its own one-thread pool (a recording may last all day).
        self._loops = Tasks(self, read_threads=1)
        self.recorder: Recorder | None = None
        self._control: TaskControl | None = None
        self.state: RecorderState | None = None  # the latest, drawn by the timer
        self._fps = 30.0
        self._device = ""
        self._submitted: set[Path] = set()
        self.segments_imported: list[Path] = []
        self.recording_problems: list[str] = []

        self.segment_closed.connect(self._import_segment)
        self._build()
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._on_tick)

    def _build(self) -> None:
        cl = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Camera"))
        self.camera_choice = QComboBox()
        for i in range(CAMERA_CHOICES):
            self.camera_choice.addItem(f"Camera {i}", i)
        top.addWidget(self.camera_choice)
        self.record_button = QPushButton("Record")
        self.record_button.clicked.connect(self.start_recording)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_recording)
        for b in (self.record_button, self.pause_button, self.stop_button):
            top.addWidget(b)
        top.addStretch(1)
        cl.addLayout(top)
        ind = QHBoxLayout()
        self.rec_dot = QLabel("●")
        self.rec_dot.setStyleSheet("color: #d00000; font-size: 20px;")
        self.rec_dot.hide()
        ind.addWidget(self.rec_dot)
        self.rec_label = QLabel("Not recording.")
        self.rec_label.setWordWrap(True)
        ind.addWidget(self.rec_label, 1)
        cl.addLayout(ind)
        note = QLabel(
            "Recording is cut into short segments; each one is imported as soon as it closes, and kept "
            "in the memory folder (originals)."
        )
        note.setWordWrap(True)
        cl.addWidget(note)
        self._show()

    @property
    def recording(self) -> bool:
        return self._control is not None

    def start_recording(self) -> None:
        if self.recording:
            return
        if self.read_only:
            self.rec_label.setText("The memory is open read-only: recordings cannot be imported into it.")
            return
        index = int(self.camera_choice.currentData() or 0)
        factory, segment_s, data_dir = self.camera_factory, self.segment_s, self.ctx.memory.data_dir
        self.state = None
        self._submitted = set()
        self.recording_problems = []
        emit_segment = self.segment_closed.emit

        def work(control: TaskControl) -> list[Segment]:
            camera = factory(index)
            try:
                self._fps = float(camera.fps) or 30.0
                self._device = webcam_id(camera)

                def on_state(s: RecorderState) -> None:
                    self.state = s  # drawn by the UI timer

                from lifelog.api.capture import CaptureWatch  # the pause for everything (issue #13)

                rec = Recorder(camera, data_dir / "originals" / self._device, segment_s=segment_s,
                               on_segment=emit_segment, on_state=on_state,
                               capture_paused=CaptureWatch(data_dir).paused)  # fmt: skip
                self.recorder = rec
                return rec.run(cancel=control.cancelled)
            finally:
                camera.close()

        self._control = self._loops.long_write(work, None, self._recording_done, self._recording_failed)
        self.rec_label.setText(f"Opening camera {index}…")
        self._show()
        if not self._tick.isActive():
            self._tick.start()

    def toggle_pause(self) -> None:
        rec = self.recorder
        if rec is None:
            return
        st = rec.state
        if st.status == "paused":
            rec.resume()
        elif st.status == "recording":
            rec.pause()
        self.state = rec.state
        self._show()

    def stop_recording(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()
        if self._control is not None:
            self._control.cancel()
        self._show()

    def _import_segment(self, seg: Segment) -> None:
        """A closed segment (UI thread): import it on the app's write thread."""
        if seg.path in self._submitted:
            return
        self._submitted.add(seg.path)
        memory, device = self.ctx.memory, self._device

        def done(res: ImportResult) -> None:
            for f in res.failed:
                self._rec_problem(f"{Path(f.path).name}: {f.error}")
            if res.imported:
                self.segments_imported.append(seg.path)
                self.ctx.changed("episodes")
            elif not res.failed:
                self.segments_imported.append(seg.path)  # the same content was already in memory
            self._show()

        def failed(message: str) -> None:
            self._rec_problem(f"{seg.path.name} was recorded but not imported ({message}); it is kept in "
                              f"{seg.path.parent} for `lifelog import`")  # fmt: skip

        self.ctx.tasks.write(lambda: import_segment(memory, seg.path, device, give_up_s=BUSY_WAIT_S), done, failed)

    def _rec_problem(self, line: str) -> None:
        self.recording_problems.append(line)
        self._problem(f"Webcam: {line}")

    def _recording_done(self, segments: list[Segment]) -> None:
        state = self.recorder.state if self.recorder is not None else None
        self._control = None
        self.recorder = None
        for seg in segments:  # any whose signal has not arrived yet
            self._import_segment(seg)
        if state is not None and state.error:
            self._rec_problem(state.error)
        self.state = state
        self._show()
        self.ctx.status(f"Recording stopped: {len(segments)} segment(s)")

    def _recording_failed(self, message: str) -> None:
        self._control = None
        self.recorder = None
        self._rec_problem(f"recording stopped: {message}")
        self._show()
        self.ctx.status(f"Webcam: {message}")

    def indicator_text(self) -> str:
        """What the recording indicator says (also in the status bar while recording)."""
        s = self.state
        if self.recording and s is None:
            return "Opening the camera…"
        if s is None:
            return "Not recording."
        elapsed = format_elapsed(s.frames_recorded / self._fps if self._fps else 0)
        if self.recording and s.status == "recording":
            seg = f" — segment {s.segment}" if s.segment else ""
            return f"Recording {elapsed}{seg}"
        if self.recording and s.status == "paused":
            return f"Paused at {elapsed} (nothing is recorded)"
        if self.recording:
            return "Stopping… (closing the last segment)"
        done = len(self.segments_imported)
        total = s.segments_done
        return f"Stopped: {elapsed} recorded in {total} segment(s), {done} imported."

    def _show(self) -> None:
        s = self.state
        live = self.recording
        status = s.status if s is not None else ""
        self.record_button.setEnabled(not live)
        self.camera_choice.setEnabled(not live)
        self.pause_button.setEnabled(live and self.recorder is not None and status in ("recording", "paused"))
        self.pause_button.setText("Resume" if status == "paused" and live else "Pause")
        self.stop_button.setEnabled(live)
        self.rec_dot.setVisible(live and status == "recording")
        self.rec_label.setText(self.indicator_text())

    def _on_tick(self) -> None:
        if not self.recording:
            self._tick.stop()
            return
        self._show()
        if self.state is not None and self.state.status != "stopped":
            self.ctx.status(("● " if self.state.status == "recording" else "") + self.indicator_text())

    def close_now(self, wait_ms: int) -> None:
        """The window closes: stop recording; the segment in progress is closed and imported."""
        self._tick.stop()
        if self.recording:
            self.stop_recording()
            self._loops.wait_idle(wait_ms)
            rec = self.recorder
            if rec is not None:  # the done signal is queued: import what it closed now
                for seg in rec.segments:
                    self._import_segment(seg)
