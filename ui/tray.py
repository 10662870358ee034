"""Living with lifelog in the background (issue #18): the tray icon, desktop notifications and
the watch on the background service.

* :class:`Tray` — a ``QSystemTrayIcon`` whose icon says at a glance what lifelog is doing:
  **recording** (the webcam, red), **receiving** (the Wi-Fi receiver is on, blue),
  **paused** (capture paused, grey, two bars), **consolidating** (the nightly pass runs here or in
  the service, violet) or **idle** (green). Its menu: the state in words, *Pause capture* /
  *Resume capture* (the one pause of :mod:`lifelog.api.capture`), *Open lifelog*, *Quit*. A
  click on the icon opens the window. Where the desktop has no tray
  (``QSystemTrayIcon.isSystemTrayAvailable()`` is false: offscreen, some Wayland shells) there
  is no icon, the window's close quits as before, and Settings says so.
* :class:`Notifier` — desktop notifications for finished syncs, pairing requests and LocalSend
  approvals, through ``desktop-notifier`` (a maintained library speaking the freedesktop
  notification service over D-Bus) when a session bus exists, else the tray's balloon
  (``showMessage``), else the status bar. Nothing is shown when the user turned notifications
  off (Settings ▸ Background; ``lifelog.api.background.notifications_on``).
* :class:`ServiceWatch` — whether ``lifelog service`` runs for this memory (it answers on the
  memory's local socket). When one that was running goes away without this app stopping it
  (killed, crashed), the status bar says so and offers **Restart**.

The state is read from the core through ``lifelog.api`` (capture, consolidation status, the
service's socket); the recording and receiving states are the Devices page's own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lifelog.api.background import notifications_on, service_alive, start_service
from lifelog.api.capture import CaptureWatch, pause, resume
from ui.qt import (
    QAction,
    QColor,
    QIcon,
    QMenu,
    QObject,
    QPainter,
    QPixmap,
    QPushButton,
    QSystemTrayIcon,
    Qt,
    QTimer,
    QWidget,
    Signal,
)

log = logging.getLogger(__name__)

TrayState = Literal["recording", "receiving", "paused", "consolidating", "idle"]
POLL_MS = 1000
SERVICE_POLL_MS = 2000

STATE_TEXT: dict[TrayState, str] = {
    "recording": "Recording from the webcam",
    "receiving": "Receiving from phones and glasses",
    "paused": "Capture paused",
    "consolidating": "Tidying the memory",
    "idle": "Running; nothing to do",
}
_COLOURS: dict[TrayState, str] = {
    "recording": "#d32f2f", "receiving": "#1e88e5", "paused": "#757575", "consolidating": "#8e24aa",
    "idle": "#43a047",
}


def tray_state(*, paused: bool, recording: bool, receiving: bool, consolidating: bool) -> TrayState:
    """One state for the icon; the one the user most needs to know wins (a pause overrides
    everything: nothing new is taken while it lasts)."""
    if paused:
        return "paused"
    if recording:
        return "recording"
    if receiving:
        return "receiving"
    if consolidating:
        return "consolidating"
    return "idle"


def state_icon(state: TrayState, size: int = 64) -> QIcon:
    """The icon of a state, painted (a coloured disc with a mark: two bars when paused)."""
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(_COLOURS[state]))
    m = size // 10
    p.drawEllipse(m, m, size - 2 * m, size - 2 * m)
    p.setBrush(QColor("white"))
    c, r = size // 2, size // 8
    if state == "paused":
        p.drawRect(c - 2 * r, c - 2 * r, r + r // 2, 4 * r)
        p.drawRect(c + r // 2, c - 2 * r, r + r // 2, 4 * r)
    elif state == "recording":
        p.drawEllipse(c - 2 * r, c - 2 * r, 4 * r, 4 * r)
    elif state == "consolidating":
        for dx in (-2 * r, 0, 2 * r):
            p.drawEllipse(c + dx - r // 2 - 2, c - r // 2 - 2, r + 4, r + 4)
    else:  # idle, receiving: a ring
        p.drawEllipse(c - 2 * r, c - 2 * r, 4 * r, 4 * r)
        p.setBrush(QColor(_COLOURS[state]))
        p.drawEllipse(c - r, c - r, 2 * r, 2 * r)
    p.end()
    return QIcon(pix)


def tray_available() -> bool:
    return bool(QSystemTrayIcon.isSystemTrayAvailable())


class Tray(QObject):
    """The tray icon of a window. ``window`` provides ``open_from_tray()``, ``quit_from_tray()``,
    ``tray_activity() -> (recording, receiving)`` and ``consolidating() -> bool``."""

    state_changed = Signal(str)

    def __init__(self, window: Any, data_dir: Path, *, poll_ms: int = POLL_MS) -> None:
        super().__init__(window)
        self.window = window
        self.data_dir = Path(data_dir)
        self.watch = CaptureWatch(self.data_dir)
        self.state: TrayState | None = None
        self.available = tray_available()
        self.menu = QMenu()
        self.menu.setObjectName("tray_menu")
        self.state_action = QAction("", self.menu)
        self.state_action.setEnabled(False)
        self.pause_action = QAction("Pause capture", self.menu)
        self.pause_action.triggered.connect(self.toggle_pause)
        self.open_action = QAction("Open lifelog", self.menu)
        self.open_action.triggered.connect(lambda: self.window.open_from_tray())
        self.quit_action = QAction("Quit lifelog", self.menu)
        self.quit_action.triggered.connect(lambda: self.window.quit_from_tray())
        for a in (self.state_action, None, self.pause_action, self.open_action, None, self.quit_action):
            if a is None:
                self.menu.addSeparator()
            else:
                self.menu.addAction(a)
        self.icon = QSystemTrayIcon(self)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(poll_ms)
        self.refresh()
        if self.available:
            self.icon.show()

    @property
    def visible(self) -> bool:
        return self.available and self.icon.isVisible()

    def refresh(self) -> None:
        cap = self.watch.state()
        recording, receiving = self.window.tray_activity()
        st = tray_state(paused=cap.paused, recording=recording, receiving=receiving,
                        consolidating=self.window.consolidating())
        self.pause_action.setText("Resume capture" if cap.paused and cap.rule is None else "Pause capture")
        self.pause_action.setEnabled(not (cap.paused and cap.rule is not None))  # a privacy rule is not undone here
        text = STATE_TEXT[st] if not cap.paused else cap.message()[:1].upper() + cap.message()[1:80]
        self.state_action.setText(text)
        self.icon.setToolTip(f"lifelog — {text}")
        if st != self.state:
            self.state = st
            self.icon.setIcon(state_icon(st))
            self.state_changed.emit(st)

    def toggle_pause(self) -> None:
        cap = self.watch.state()
        if cap.paused and cap.rule is None:
            resume(self.data_dir)
        else:
            pause(self.data_dir)
        self.refresh()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.window.open_from_tray()

    def hide(self) -> None:
        self.timer.stop()
        self.icon.hide()


# ------------------------------------------------------------------ notifications
NotificationKind = Literal["sync", "pairing", "localsend", "background"]


@dataclass(frozen=True)
class Sent:
    kind: NotificationKind
    title: str
    body: str
    via: Literal["desktop", "tray", "status"]


def session_bus_exists() -> bool:
    """Whether a D-Bus session bus is there to carry a desktop notification."""
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return True
    return Path(f"/run/user/{os.getuid()}/bus").exists()


def _desktop_send(title: str, body: str) -> None:
    """Send through ``desktop-notifier`` on a thread of its own (it is asyncio-based)."""
    try:
        from desktop_notifier import DesktopNotifier
    except ImportError:  # pragma: no cover - a dependency of the app
        log.warning("desktop-notifier is not installed: no desktop notification")
        return

    async def send() -> None:
        await DesktopNotifier(app_name="lifelog").send(title=title, message=body)

    def run() -> None:
        try:
            asyncio.run(send())
        except Exception as e:  # no notification service on the bus: said in the log only
            log.info("desktop notification not shown: %s", e)

    threading.Thread(target=run, name="lifelog-notify", daemon=True).start()


class Notifier:
    """Desktop notifications of one window (see the module's docstring for where they go)."""

    def __init__(self, data_dir: Path, tray: Tray | None, status: Callable[[str], None], *,
                 desktop: Callable[[str, str], None] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.tray = tray
        self.status = status
        self.desktop = desktop if desktop is not None else (_desktop_send if session_bus_exists() else None)
        self.sent: list[Sent] = []

    def notify(self, kind: NotificationKind, title: str, body: str) -> Sent | None:
        if not notifications_on(self.data_dir):
            return None
        if self.desktop is not None:
            self.desktop(title, body)
            via: Literal["desktop", "tray", "status"] = "desktop"
        elif self.tray is not None and self.tray.visible:
            self.tray.icon.showMessage(title, body, QSystemTrayIcon.MessageIcon.Information, 8000)
            via = "tray"
        else:
            self.status(f"{title}: {body}")
            via = "status"
        sent = Sent(kind, title, body, via)
        self.sent.append(sent)
        return sent


# ------------------------------------------------------------------ the background service
class ServiceWatch(QPushButton):
    """A status-bar button for the memory's ``lifelog service``: hidden while none runs and none
    was seen; "Background service running" while one answers; when one that ran is gone
    without this app stopping it, "Background service stopped — Restart" (a click restarts it,
    detached, as the app does on close with "keep running in the background")."""

    changed = Signal(str)  # "running" | "stopped" | "none"

    def __init__(self, data_dir: Path, tasks: Any, parent: QWidget | None = None, *,
                 poll_ms: int = SERVICE_POLL_MS, service_args: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("service_watch")
        self.setFlat(True)
        self.data_dir = Path(data_dir)
        self.tasks = tasks
        self.service_args = service_args
        self.pid: int | None = None
        self.state: Literal["running", "stopped", "none"] = "none"
        self.restarted_pid: int | None = None
        self._in_flight = False
        self.clicked.connect(self._clicked)
        self.setVisible(False)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.poll)
        self.timer.start(poll_ms)
        QTimer.singleShot(0, self.poll)

    def poll(self) -> None:
        if self._in_flight:
            return
        self._in_flight = True
        folder = self.data_dir
        self.tasks.read(lambda: service_alive(folder) or 0, self._seen, self._failed)

    def _failed(self, message: str) -> None:
        self._in_flight = False
        log.info("could not ask the service: %s", message)

    def _seen(self, pid: int) -> None:
        self._in_flight = False
        if pid:
            self.pid = pid
            self._show("running")
        elif self.state == "running":
            self._show("stopped")

    def _show(self, state: Literal["running", "stopped", "none"]) -> None:
        if state == self.state:
            return
        self.state = state
        if state == "running":
            self.setText("● Background service running")
            self.setToolTip(f"lifelog service (process {self.pid}) receives footage and tidies the memory at night")
        elif state == "stopped":
            self.setText("⚠ Background service stopped — Restart")
            self.setToolTip(f"lifelog service (process {self.pid}) is no longer running (killed or crashed). "
                            "Click to start it again.")
        self.setVisible(state != "none")
        self.changed.emit(state)

    def _clicked(self) -> None:
        if self.state == "stopped":
            self.restart()

    def restart(self) -> int | None:
        try:
            pid = start_service(self.data_dir, self.service_args)
        except OSError as e:
            self.setToolTip(f"The service could not be started: {e}")
            return None
        self.restarted_pid = pid
        self.setText("… Starting the background service")
        QTimer.singleShot(500, self.poll)
        return pid

    def stop_watching(self) -> None:
        self.timer.stop()
