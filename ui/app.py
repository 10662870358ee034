"""``lifelog app``: start the desktop app (the window itself is :mod:`ui.main_window`).

Start-up is ordered for a fast first window (issue #18, measured by ``bench/startup.py``):
importing this module costs only Qt; :func:`main` takes the instance lock, shows a start
window ("Opening your memory…", the size and title of the main window) within a fraction of a
second, and only then imports the core and the pages (LanceDB alone takes seconds to import),
opens the memory — asking for its passphrase where no keyring holds the key — and puts the main
window in its place.

A second start on the same memory brings the first app's window to the front
(:func:`ui.instance.knock`) and exits; closing the window can keep lifelog running in the tray
(:mod:`ui.tray`, asked once).

``MainWindow``, ``PAGES``, ``PageSpec``… are still importable from here (loaded on first use).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ui.qt import QApplication, QLabel, QMessageBox, Qt, QTimer, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from ui.main_window import (
        FIRST_RUN_PAGE,
        PAGES,
        START_PAGE,
        UI_SWITCH_INTERVAL_S,
        MainWindow,
        PageFactory,
        PageSpec,
    )

__all__ = ["FIRST_RUN_PAGE", "PAGES", "START_PAGE", "UI_SWITCH_INTERVAL_S", "MainWindow", "PageFactory", "PageSpec",
           "StartWindow", "main"]

log = logging.getLogger(__name__)
SWITCH_INTERVAL_S = 0.001  # sys.setswitchinterval for the app process (ui.main_window.UI_SWITCH_INTERVAL_S)
_FROM_WINDOW = {"FIRST_RUN_PAGE", "PAGES", "START_PAGE", "UI_SWITCH_INTERVAL_S", "MainWindow", "PageFactory",
                "PageSpec"}


def __getattr__(name: str) -> Any:
    if name in _FROM_WINDOW:
        from ui import main_window

        return getattr(main_window, name)
    raise AttributeError(f"module 'ui.app' has no attribute {name!r}")


class StartWindow(QWidget):
    """What shows while the core loads: the main window's title and size, and one line."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.setObjectName("start_window")
        self.setWindowTitle(f"lifelog — {folder}")
        self.resize(1280, 800)
        lay = QVBoxLayout(self)
        self.label = QLabel("Opening your memory…")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        f = self.label.font()
        f.setPointSizeF(f.pointSizeF() * 1.4)
        self.label.setFont(f)
        lay.addWidget(self.label)


def _quit_on_sigterm(app: QApplication) -> Callable[[], None]:
    """SIGTERM (logout, ``systemctl stop``, ``kill``) quits like File ▸ Quit: the event loop ends and
    the locks, sockets and open writers are released by the normal exit path, not cut off.
    Python runs signal handlers only between bytecodes, so a timer wakes it while Qt waits."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    def term(*_: object) -> None:
        app.setProperty("lifelog_terminated", True)  # before the event loop runs, main() checks this
        app.quit()

    app.setProperty("lifelog_terminated", False)
    before = signal.signal(signal.SIGTERM, term)
    wake = QTimer(app)
    wake.timeout.connect(lambda: None)
    wake.start(200)

    def restore() -> None:
        wake.stop()
        wake.deleteLater()
        signal.signal(signal.SIGTERM, before)

    return restore


def main(data_dir: str | Path | None = None, now: datetime | None = None) -> int:
    """``lifelog app``: open the window on a memory folder; returns the exit code."""
    # Everything the app (LanceDB, the vault, the Wi-Fi receiver, sync) creates is private to
    # the user: umask 0o077 before anything is written (docs/privacy.md; lifelog.store.modes).
    os.umask(0o077)
    from lifelog.api.process import limit_arenas

    limit_arenas()  # before any thread: two malloc arenas (lifelog.store.heap, issue #21)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("lifelog")
    from ui.theme import follow_system  # the look: light or dark as the system is (ui/theme.py)

    follow_system(app)
    # A worker running Python code (an import) hands the GIL back to the UI thread within 1 ms
    # instead of 5: measured in bench/ui.py, it cuts the longest event-loop stall of an import.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    restore_sigterm = _quit_on_sigterm(app)
    try:
        return _open(app, data_dir, now)
    finally:
        restore_sigterm()


def _open(app: QApplication, data_dir: str | Path | None, now: datetime | None) -> int:
    from lifelog.api.settings import chosen_data_dir
    from lifelog.api.settings import data_dir as default_data_dir
    from ui.instance import AlreadyRunning, FrontDoor, InstanceLock, knock

    folder = default_data_dir(data_dir)
    if not data_dir and not os.environ.get("LIFELOG_HOME"):
        folder = chosen_data_dir() or folder  # Settings ▸ "choose another memory folder"
    try:
        lock = InstanceLock.acquire(folder)
    except AlreadyRunning as e:
        if knock(folder):  # the first app brought its window to the front
            print(f"lifelog is already open on {folder}: its window was brought to the front", file=sys.stderr)
            return 0
        QMessageBox.critical(None, "lifelog is already open", str(e))
        return 2
    start = StartWindow(folder)
    start.show()
    app.processEvents()
    door: FrontDoor | None = None
    # Importing the core and building the window allocate hundreds of thousands of objects and
    # free almost none: the cyclic collector's passes over them cost ~10% of that CPU for nothing
    # (issue #18). It is off until the window is built, then one collection and a freeze (below).
    import gc

    gc.disable()
    try:
        if not lock.read_only:
            try:
                door = FrontDoor(folder, lambda: None)
            except OSError as e:  # a second start then shows the message instead
                log.warning("no front door for a second start: %s", e)
        try:
            from ui.passphrase import open_memory_asking  # asks for the passphrase where no keyring is

            opened = open_memory_asking(folder, parent=start)
        except Exception as e:  # a clear message instead of a traceback (bad folder…)
            log.exception("cannot open the memory")
            QMessageBox.critical(start, "lifelog cannot open this memory", f"{folder}:\n{e}")
            return 2
        if opened is None:  # the passphrase was not given
            return 1
        memory = opened
        from ui.main_window import MainWindow

        win = MainWindow(memory, now=now, read_only=lock.read_only)
        win.setGeometry(start.geometry())
        win.show()
        start.close()
        if door is not None:
            door.on_knock = win.open_from_tray
        # with a tray, a hidden window is not "the last window closed": Quit quits
        app.setQuitOnLastWindowClosed(not win.tray.visible)
        win.start_scheduler()
        # What is loaded by now lives as long as the app: out of the collector's sight, a full
        # collection no longer walks it (111 ms stalls on a day switch before; bench/timeline.py)
        gc.enable()
        gc.collect()
        gc.freeze()
        if memory.permissions_fixed:  # said once, without blocking; the core also logged it (lifelog.permissions)
            win.statusBar().showMessage(f"lifelog: {memory.permissions_fixed}", 30_000)
        if app.property("lifelog_terminated"):  # SIGTERM while opening: no event loop to quit yet
            return 0
        return int(app.exec())
    finally:
        gc.enable()  # also when the memory did not open
        start.close()
        if door is not None:
            door.close()
        lock.release()
