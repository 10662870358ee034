"""The lifelog desktop app's main window (``ui.app`` starts it; importing this module imports the
pages and the core, which ``ui.app.main`` does only after the first window is up): a navigation
list on the left and one page at a time on the right (a ``QStackedWidget``), a menu and a status bar.

Pages are registered in one place, :data:`PAGES`: add a page with one line
``PageSpec("key", "Title", PageClass)``. The third field is any :data:`PageFactory` — the page
class itself, or a function taking the context — and it is called as ``factory(ctx)`` with the
window's :class:`ui.context.AppContext` when the window is built. A page may define any of these
(all optional):

``show_with(**kw)``   called by ``ctx.navigate(key, **kw)`` after the page is shown
``on_changed(what)``  another page changed the memory (``ctx.changed("episodes" | "people" | …)``)
``focus_box()``       (the Ask page) Ctrl+K puts the cursor in the question box
``can_close()``       asked before the window closes; False keeps it open (e.g. an import runs)
``before_close()``    the window is closing: cancel long work (the window then waits for the pools)
``read_only``         attribute set to True when the memory folder cannot be written

Threading: every core call goes through ``ctx.tasks`` (reads on a small pool, writes serialised
on one thread); the UI thread only renders plain data. See docs/app.md.

At start-up the window applies the retention rules (and purges the trash of what has been there
longer than ``retention.trash_days``) once, on its write thread, and says in the status bar what
was removed, if anything (:meth:`MainWindow.apply_retention_at_start`). That and the nightly
schedule's start (:meth:`MainWindow.start_scheduler`) wait until the timeline has drawn its first
day (:meth:`MainWindow.after_first_content`; at most :data:`FIRST_CONTENT_WAIT_MS`): the day the
window opens on is read first, not behind them (issue #18, a fast start). The status bar also
offers **Undo** after a move to the trash (:mod:`ui.trash`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lifelog.api import Memory
from lifelog.api.background import close_to_tray, set_close_to_tray
from ui.archive import Archiver, archiver_for
from ui.context import AppContext
from ui.forget import Forgetter, forgetter_for
from ui.pages.ask import AskPage
from ui.pages.connected import ConnectedPage
from ui.pages.devices import DevicesPage
from ui.pages.graph import GraphPage
from ui.pages.importer import Page as ImportPage
from ui.pages.objects import ObjectsPage
from ui.pages.people import PeoplePage
from ui.pages.profile import ProfilePage
from ui.pages.settings import Page as SettingsPage
from ui.pages.timeline import TimelinePage
from ui.pages.upkeep import SchedulerKeeper, UpkeepIndicator, UpkeepPage, monitor_for
from ui.pages.welcome import Page as WelcomePage
from ui.pages.welcome import is_first_run
from ui.qt import (
    QAction,
    QApplication,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QFileDialog,
    QHBoxLayout,
    QKeySequence,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QShortcut,
    QSize,
    QStackedWidget,
    Qt,
    QTimer,
    QWidget,
)
from ui.tasks import Tasks
from ui.trash import UNDO_MS, Trasher, trasher_for
from ui.tray import Notifier, ServiceWatch, Tray
from ui.widgets import thumbs_for

log = logging.getLogger(__name__)


PageFactory = Callable[[AppContext], QWidget]
"""What builds a page: its class, or a function, called with the window's context."""


@dataclass(frozen=True)
class PageSpec:
    key: str  # what ctx.navigate() takes
    title: str  # shown in the navigation and the Go menu
    page: PageFactory  # called as page(ctx) when the window is built
    nav: bool = True  # False: reachable by navigate() only (e.g. the first-run welcome)


# One line per page, in navigation order.
PAGES: list[PageSpec] = [
    PageSpec("timeline", "Timeline", TimelinePage),
    PageSpec("ask", "Ask", AskPage),
    PageSpec("people", "People", PeoplePage),
    PageSpec("objects", "Objects", ObjectsPage),
    PageSpec("graph", "People & Places", GraphPage),
    PageSpec("import", "Import", ImportPage),
    PageSpec("devices", "Devices", DevicesPage),
    PageSpec("profile", "Profile", ProfilePage),
    PageSpec("upkeep", "Upkeep", UpkeepPage),
    PageSpec("connected", "Connected apps", ConnectedPage),
    PageSpec("settings", "Settings", SettingsPage),
    PageSpec("welcome", "Welcome", WelcomePage, nav=False),
]

START_PAGE = "timeline"
UI_SWITCH_INTERVAL_S = 0.001  # sys.setswitchinterval for the app process (see main)
FIRST_RUN_PAGE = "welcome"  # shown instead when the memory is empty, if such a page is registered
FIRST_CONTENT_WAIT_MS = 5_000  # deferred start-up work starts by then even if the timeline has not drawn


class MainWindow(QMainWindow):
    def __init__(self, memory: Memory, now: datetime | None = None, *, read_only: bool = False,
                 pages: list[PageSpec] | None = None) -> None:
        super().__init__()
        self.memory = memory
        self.read_only = read_only
        self.tasks = Tasks(self)
        self.tasks.error.connect(lambda msg: self.status(f"Error: {msg}"))
        fixed_now = now

        def now_fn() -> datetime:
            return fixed_now if fixed_now is not None else datetime.now().astimezone()

        self.ctx = AppContext(memory=memory, tasks=self.tasks, now=now_fn, navigate=self.navigate,
                              status=self.status, changed=self.changed)
        self.thumbs = thumbs_for(memory, self.tasks)
        self.setWindowTitle(f"lifelog — {memory.data_dir}" + ("  (read-only)" if read_only else ""))
        self.resize(1280, 800)
        self.setAcceptDrops(True)

        self.nav = QListWidget()
        self.nav.setFixedWidth(150)
        self.nav.setIconSize(QSize(16, 16))
        f = self.nav.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.nav.setFont(f)
        self.nav.setSpacing(3)
        self.stack = QStackedWidget()
        self.specs: list[PageSpec] = list(pages if pages is not None else PAGES)
        self.pages: dict[str, QWidget] = {}
        for spec in self.specs:
            page = spec.page(self.ctx)
            if read_only and hasattr(page, "read_only"):
                page.read_only = True
            self.pages[spec.key] = page
            self.stack.addWidget(page)
            if spec.nav:
                item = QListWidgetItem(spec.title)
                item.setData(Qt.ItemDataRole.UserRole, spec.key)
                self.nav.addItem(item)
        forgetter_for(self.ctx).read_only = read_only
        self.trasher = trasher_for(self.ctx)
        self.trasher.read_only = read_only
        self.undo_button = QPushButton("Undo")
        self.undo_button.setObjectName("undo_trash")
        self.undo_button.setToolTip("Restore what was just moved to the trash")
        self.undo_button.setVisible(False)
        self.undo_button.clicked.connect(self.trasher.undo)
        self.statusBar().addPermanentWidget(self.undo_button)
        from ui.capture import CaptureToggle  # the pause for everything (issue #13)

        self.capture_toggle = CaptureToggle(memory.data_dir, self)
        self.statusBar().addPermanentWidget(self.capture_toggle)
        # the nightly pass: an indicator while one runs (here or in `lifelog service`), and the
        # schedule hosted by this window once start_scheduler() is called (main() does; issue #14)
        self.upkeep_indicator = UpkeepIndicator(self.ctx)
        self.statusBar().addPermanentWidget(self.upkeep_indicator)
        self.scheduler = SchedulerKeeper(self.ctx)
        self.service_pid: int | None = None  # `lifelog service` started on close (keep running)
        # living in the background (issue #18, ui/tray.py): the service's state, the tray icon,
        # desktop notifications
        self.service_watch = ServiceWatch(memory.data_dir, self.tasks, self)
        self.statusBar().addPermanentWidget(self.service_watch)
        self.tray = Tray(self, memory.data_dir)
        self.notifier = Notifier(memory.data_dir, self.tray, self.status)
        self.quitting = False  # Quit (menu, tray): the close really quits, even with the tray
        self.hidden_to_tray = False
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.timeout.connect(lambda: self.undo_button.setVisible(False))
        self.trasher.undo_changed.connect(self._offer_undo)
        self.nav.currentItemChanged.connect(self._nav_changed)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(4, 4, 4, 0)
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        # start-up work that can wait until the timeline shows its day (after_first_content)
        self._deferred: list[Callable[[], None]] | None = []
        first_content = getattr(self.pages.get(START_PAGE), "first_content", None)
        if first_content is not None and not getattr(self.pages[START_PAGE], "content_shown", False):
            first_content.connect(self._run_deferred)
            QTimer.singleShot(FIRST_CONTENT_WAIT_MS, self, self._run_deferred)
        else:
            self._deferred = None  # no timeline to wait for: now

        self._build_menu()
        self.focus_ask = QShortcut(QKeySequence("Ctrl+K"), self)
        self.focus_ask.setContext(Qt.ShortcutContext.ApplicationShortcut)
        self.focus_ask.activated.connect(self.focus_ask_box)
        self._connect_notifications()
        self.status(f"Memory: {memory.data_dir}" + (" — read-only: browsing only" if read_only else ""))
        self.navigate(START_PAGE)
        if FIRST_RUN_PAGE in self.pages:
            # empty and never opened (a marker file)
            self.tasks.read(lambda: 0 if is_first_run(memory) else 1, self._first_run)
        self.retention_result: Any = None  # what the start-up retention removed (a RetentionPlan), once done
        if not read_only:
            self.after_first_content(self.apply_retention_at_start)

    def after_first_content(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the start page has drawn its first content (at once if it has)."""
        if self._deferred is None:
            fn()
        else:
            self._deferred.append(fn)

    def _run_deferred(self) -> None:
        if getattr(self, "_closed", False):
            return
        waiting, self._deferred = self._deferred, None
        for fn in waiting or []:
            fn()

    # ------------------------------------------------------------------ pages
    @property
    def import_page(self) -> QWidget | None:
        """The Import page when one is registered (drops and File ▸ Import go there)."""
        return self.pages.get("import")

    def page(self, key: str) -> QWidget:
        return self.pages[key]

    def current_key(self) -> str:
        current = self.stack.currentWidget()
        return next((k for k, p in self.pages.items() if p is current), "")

    def navigate(self, key: str, **kwargs: Any) -> None:
        page = self.pages.get(key)
        if page is None:
            self.status(f"There is no {key} page in this app.")
            return
        self.stack.setCurrentWidget(page)
        for i in range(self.nav.count()):
            item = self.nav.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == key and self.nav.currentRow() != i:
                self.nav.blockSignals(True)
                self.nav.setCurrentRow(i)
                self.nav.blockSignals(False)
        if kwargs:
            show_with = getattr(page, "show_with", None)
            if callable(show_with):
                show_with(**kwargs)
            elif "paths" in kwargs and callable(getattr(page, "add_paths", None)):
                page.add_paths(kwargs["paths"])  # type: ignore[attr-defined]

    def _nav_changed(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if current is not None:
            self.navigate(str(current.data(Qt.ItemDataRole.UserRole)))

    def status(self, message: str) -> None:
        self.statusBar().showMessage(message)

    def changed(self, what: str) -> None:
        """Tell every page that the memory changed (they re-read what they show). ``"synced"``
        (a paired device's sync finished; the status bar says how it went) is a notification."""
        if what == "synced":
            self.notifier.notify("sync", "lifelog: sync finished", self.statusBar().currentMessage())
            return
        for page in self.pages.values():
            hook = getattr(page, "on_changed", None)
            if callable(hook):
                hook(what)

    def _offer_undo(self, offered: bool) -> None:
        self.undo_button.setVisible(offered)
        if offered:
            self._undo_timer.start(UNDO_MS)

    def apply_retention_at_start(self) -> None:
        """The retention rules and the trash's purge, once, on the write thread. Another process
        writing (an import from the command line) is not waited for: the next start does it."""
        memory, now = self.memory, self.ctx.now

        def work() -> Any:
            from lifelog.api.errors import WriteLockBusy

            try:
                return memory.apply_retention(now())
            except WriteLockBusy:
                return None

        def done(plan: Any) -> None:
            self.retention_result = plan
            if plan is not None and not plan.is_empty():
                removed = plan.describe().removeprefix("retention will remove ")
                self.status(f"Retention removed for good: {removed} (rules in Settings ▸ Privacy).")
                self.changed("forgotten")

        def failed(msg: str) -> None:
            self.retention_result = False
            self.status(f"Retention could not be applied: {msg}")

        self.tasks.write(work, done, failed)

    def focus_ask_box(self) -> None:
        self.navigate("ask")
        page = self.pages.get("ask")
        focus = getattr(page, "focus_box", None)
        if callable(focus):
            focus()

    def _first_run(self, episodes: int) -> None:
        if episodes == 0 and self.current_key() == START_PAGE:
            self.navigate(FIRST_RUN_PAGE)

    # ------------------------------------------------------------------- menu
    def _build_menu(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.import_files_action = QAction("Import &files…", self)
        self.import_files_action.setShortcut(QKeySequence("Ctrl+O"))
        self.import_files_action.triggered.connect(lambda: self.import_dialog(folder=False))
        self.import_folder_action = QAction("Import f&older…", self)
        self.import_folder_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.import_folder_action.triggered.connect(lambda: self.import_dialog(folder=True))
        for a in (self.import_files_action, self.import_folder_action):
            a.setEnabled(self.import_page is not None and not self.read_only)
            file_menu.addAction(a)
        file_menu.addSeparator()
        self.archiver = archiver_for(self.ctx)  # File ▸ Export memory… / Import archive… (ui/archive.py)
        self.archiver.read_only = self.read_only
        self.export_action = QAction("&Export memory…", self)
        self.export_action.triggered.connect(lambda: self.archiver.export_dialog(self))
        self.import_archive_action = QAction("Import &archive…", self)
        self.import_archive_action.setEnabled(not self.read_only)
        self.import_archive_action.triggered.connect(lambda: self.archiver.import_dialog(self))
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.import_archive_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.quit_from_tray)
        file_menu.addAction(quit_action)

        go = bar.addMenu("&Go")
        n = 0
        for spec in self.specs:
            if not spec.nav:
                continue
            n += 1
            action = QAction(spec.title, self)
            if n <= 9:
                action.setShortcut(QKeySequence(f"Ctrl+{n}"))
            action.triggered.connect(lambda _=False, k=spec.key: self.navigate(k))
            go.addAction(action)
        ask = QAction("Ask a question", self)
        ask.setShortcut(QKeySequence("Ctrl+K"))
        ask.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # the window-wide shortcut handles it
        ask.triggered.connect(self.focus_ask_box)
        go.addSeparator()
        go.addAction(ask)

    def import_dialog(self, folder: bool) -> None:
        page = self.import_page
        if page is None:
            return
        self.navigate("import")
        chooser = getattr(page, "choose_folder" if folder else "choose_files", None)
        if callable(chooser):
            chooser()
            return
        if folder:
            d = QFileDialog.getExistingDirectory(self, "Import a folder")
            paths = [Path(d)] if d else []
        else:
            files, _ = QFileDialog.getOpenFileNames(self, "Import files")
            paths = [Path(f) for f in files]
        if paths:
            self.navigate("import", paths=paths)

    # ------------------------------------------------------- drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.import_page is not None and event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths and self.import_page is not None:
            event.acceptProposedAction()
            self.navigate("import", paths=paths)

    # ------------------------------------------------- tray and notifications
    def tray_activity(self) -> tuple[bool, bool]:
        """(recording from the webcam, the Wi-Fi receiver on): the Devices page's own state."""
        devices = self.pages.get("devices")
        recording = bool(getattr(devices, "recording", False))
        wifi = getattr(devices, "wifi", None)
        return recording, getattr(wifi, "receiver", None) is not None

    def consolidating(self) -> bool:
        """Whether a nightly pass runs now (here or in the service): the window's upkeep monitor."""
        status = monitor_for(self.ctx).status
        return status is not None and status.running is not None

    def open_from_tray(self) -> None:
        """Bring the window back (the tray's Open, a click on its icon, a second start)."""
        self.hidden_to_tray = False
        if self.isMinimized():
            self.showNormal()
        else:
            self.show()
        self.raise_()
        self.activateWindow()

    def quit_from_tray(self) -> None:
        """Quit for real (the tray's Quit, File ▸ Quit): the window closes as it always did."""
        self.quitting = True
        if self.close():
            if QApplication.instance() is not None:
                QApplication.quit()  # the window may have been hidden: no "last window closed"
        else:
            self.quitting = False  # a page kept it open (an import runs)

    def _connect_notifications(self) -> None:
        devices = self.pages.get("devices")
        wifi = getattr(devices, "wifi", None)
        if wifi is None:
            return
        wifi.approval_asked.connect(lambda req: self.notifier.notify(
            "localsend", "lifelog: accept files?",
            f"{req.sender.alias} wants to send files (LocalSend). Accept or decline on the Devices page."))
        wifi.receiver_event.connect(self._receiver_event)

    def _receiver_event(self, ev: Any) -> None:
        if getattr(ev, "kind", None) == "paired":
            name = str(ev.detail.get("name") or ev.device_id or "a device")
            self.notifier.notify("pairing", "lifelog: device paired", f"{name} is paired and can send footage.")

    def _ask_close_to_tray(self) -> bool:
        """Asked once, on the first close where a tray exists; remembered (Settings changes it)."""
        box, keep = self.close_question()
        box.exec()
        return box.clickedButton() is keep

    def close_question(self) -> tuple[QMessageBox, QPushButton]:
        """The question (and its "Keep running" button), not shown yet."""
        box = QMessageBox(self)
        box.setObjectName("close_to_tray_question")
        box.setWindowTitle("Keep lifelog running?")
        box.setText("Keep lifelog running in the background?")
        box.setInformativeText("It stays in the tray: it keeps receiving from your devices, recording and "
                               "tidying the memory at night. You can change this in Settings ▸ Background.")
        keep = box.addButton("Keep running", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        return box, keep

    def _close_hides(self) -> bool:
        """Whether this close only hides the window to the tray."""
        if self.quitting or not self.tray.visible:
            return False
        choice = close_to_tray(self.memory.data_dir)
        if choice is None:
            choice = self._ask_close_to_tray()
            with contextlib.suppress(OSError):  # a read-only memory: asked again next time
                set_close_to_tray(self.memory.data_dir, choice)
            self.changed("background")  # Settings shows the choice
        return choice

    # ------------------------------------------------------------------ close
    def closeEvent(self, event: QCloseEvent) -> None:
        if self._close_hides():
            event.ignore()
            self.hide()
            if not self.hidden_to_tray:
                self.notifier.notify("background", "lifelog is still running",
                                     "Open it again from the tray icon; Quit is in its menu.")
            self.hidden_to_tray = True
            return
        for page in self.pages.values():
            can_close = getattr(page, "can_close", None)
            if callable(can_close) and not can_close():
                event.ignore()
                return
        for page in self.pages.values():
            before = getattr(page, "before_close", None)
            if callable(before):
                before()
        forgetter = self.tasks.findChild(Forgetter)
        if isinstance(forgetter, Forgetter):
            forgetter.before_close()  # stops waiting for another writer; a forget begun finishes
        trasher = self.tasks.findChild(Trasher)
        if isinstance(trasher, Trasher):
            trasher.before_close()
        archiver = self.tasks.findChild(Archiver)
        if isinstance(archiver, Archiver):
            archiver.before_close()  # a running export or import stops at its next check, leaving nothing
        self.tasks.wait_idle()  # writes finish or stop at their next cancel check
        self.scheduler.stop()  # a scheduled pass running here is cancelled; the next one finishes it
        self.service_pid = self.scheduler.after_close(self.read_only)  # "keep running in the background"
        self.service_watch.stop_watching()
        self.tray.hide()
        self._deferred = []  # start-up work not begun yet is not begun after the close
        self._closed = True
        event.accept()

    def start_scheduler(self) -> None:
        """Host the nightly consolidation schedule in this window unless another process (the
        background service, another app) does; stopped when the window closes."""
        if not self.read_only:
            self.after_first_content(self.scheduler.start)
        self.after_first_content(_prepare_question_vocabulary)


def _prepare_question_vocabulary() -> None:
    """The vocabulary's text vectors for cold questions, made in the background once
    (lifelog.api.models); even the import of that module happens off the UI thread."""
    import threading

    def start() -> None:
        from lifelog.api.models import prepare_question_vocabulary

        prepare_question_vocabulary()

    threading.Thread(target=start, name="lifelog-phrases-start", daemon=True).start()
