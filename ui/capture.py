"""The capture switch (issue #13): "Capture paused (until …)" with one click to toggle.

:class:`CaptureToggle` is a flat button that shows the data dir's capture state and pauses
(until resumed) or resumes on a click. A 1 s :class:`QTimer` reads the cheap check
(:class:`lifelog.api.capture.CaptureWatch`: a ``stat`` at most every 0.5 s, the file re-read
only when it changed), so a ``lifelog pause`` in a terminal, a timed pause running out or the
other toggle in the window shows within about a second. The window's status bar and the
Devices page each carry one.
"""

from __future__ import annotations

from pathlib import Path

from lifelog.api.capture import CaptureState, CaptureWatch, pause, resume
from ui.qt import QPushButton, QTimer, QWidget

POLL_MS = 1000


class CaptureToggle(QPushButton):
    def __init__(self, data_dir: Path, parent: QWidget | None = None, *, poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.setObjectName("capture_toggle")
        self.data_dir = Path(data_dir)
        self.watch = CaptureWatch(self.data_dir)
        self.shown: CaptureState | None = None
        self.clicked.connect(self.toggle)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(poll_ms)
        self.refresh()

    def refresh(self) -> None:
        st = self.watch.state()
        if st == self.shown:
            return
        self.shown = st
        if st.paused and st.rule is not None:  # private mode (quiet hours) or unreadable settings
            self.setText(f"⏸ {st.message()[:1].upper()}{st.message()[1:80]}")
            self.setToolTip("A privacy rule (Settings ▸ Privacy) keeps capture off. Click to pause as well.")
        elif st.paused:
            text = "Capture paused" + (f" (until {st.message().removeprefix('capture is paused until ')})"
                                       if st.until else "")
            self.setText(f"⏸ {text}")
            self.setToolTip("Webcam, device sync and the Wi-Fi receiver take nothing new. Click to resume.")
        else:
            self.setText("● Capture on")
            self.setToolTip("Click to pause all capture (webcam, device sync, Wi-Fi receiver) until you resume")

    def toggle(self) -> None:
        st = self.watch.state()
        if st.paused and st.rule is None:
            resume(self.data_dir)
        else:
            pause(self.data_dir)
        self.refresh()
