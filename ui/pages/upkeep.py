"""Memory upkeep: the nightly consolidation pass in the app (issue #14, docs/app.md).

The page shows the last pass (when, its outcome, what each step did), the next scheduled run and
who schedules it (this app, or ``lifelog service``), and the running pass's step and progress
with **Cancel** — whichever process runs it: the page polls the shared status
(:func:`lifelog.api.consolidate.status`) through one :class:`UpkeepMonitor` per window, which
also drives the status-bar indicator (:class:`UpkeepIndicator`). **Run now** runs one pass on
the write thread (:meth:`ui.tasks.Tasks.long_write`: progress and cancel like an import).
**Keep running in the background** (:mod:`lifelog.api.background`): closing the window then
leaves ``lifelog service`` running for this memory.

:class:`SchedulerKeeper` is the window's start/close hook: it hosts the nightly schedule in the
app (:func:`lifelog.api.consolidate.start_host`) unless another process hosts it, stops it when
the window closes, and then starts the background service when the option is on.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from lifelog.api import consolidate
from lifelog.api.background import keep_running, service_host, set_keep_running, start_service
from lifelog.api.consolidate import STEP_NAMES, STEP_TITLES, PassResult, SchedulerHost, Status
from ui.context import AppContext
from ui.qt import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QObject,
    QProgressBar,
    QPushButton,
    QTimer,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.tasks import TaskControl
from ui.widgets import error_line, guarded, heading, human_bytes, muted, when

log = logging.getLogger(__name__)

POLL_IDLE_MS = 3000  # how often the shared status is read when no pass runs
POLL_RUNNING_MS = 700  # … and while one runs (progress moves)

OUTCOME_WORDS = {"ok": "finished", "cancelled": "cancelled", "failed": "finished with errors"}
STEP_STATUS_WORDS = {"done": "done", "done-earlier": "done by the pass before", "failed": "failed",
                     "cancelled": "cancelled", "not-run": "not run"}


def _time(iso: str | None, tz: Any) -> str:
    if not iso:
        return "—"
    try:
        return when(datetime.fromisoformat(iso), tz)
    except ValueError:
        return iso


def _figure(key: str, value: float) -> str:
    words = key.replace("_", " ")
    if "bytes" in key:
        return f"{words.replace('bytes ', '').replace(' bytes', '')} {human_bytes(int(value))}"
    return f"{words} {value:g}" if isinstance(value, float) else f"{words} {value}"


def _figures(figures: dict[str, Any]) -> str:
    """A step's figures in a line: ``merged 1, groups 1`` / ``before 2.6 MB, after 888.3 KB``."""
    parts = [_figure(k, v) for k, v in figures.items() if isinstance(v, int | float) and not isinstance(v, bool) and v]
    return ", ".join(parts) or "nothing to do"


def running_text(st: Status) -> str:
    """One line about the running pass: ``Step 3 of 8: Grouping faces into people (12/40)``."""
    r = st.running
    if r is None:
        return ""
    title = STEP_TITLES.get(r.step, r.step or "starting")
    steps = r.steps or len(STEP_NAMES)
    count = f" ({r.done}/{r.total})" if r.total else ""
    return f"Step {r.step_index + 1} of {steps}: {title}{count}"


def last_text(st: Status, tz: Any) -> str:
    last = st.last
    if not last:
        return "No pass has run on this memory yet."
    outcome = OUTCOME_WORDS.get(str(last.get("outcome")), str(last.get("outcome")))
    by = "the nightly schedule" if last.get("trigger") == "scheduled" else "you (Run now)"
    secs = float(last.get("seconds") or 0.0)
    text = f"{_time(last.get('started'), tz)} — {outcome} in {secs:.1f} s, started by {by}"
    if last.get("resumed"):
        text += "; it finished a pass cut short earlier"
    if last.get("error"):
        text += f". Errors: {last['error']}"
    return text + "."


def next_text(st: Status, tz: Any, enabled: bool) -> str:
    host = st.host
    if host is None:
        return ("Not scheduled: neither this app nor `lifelog service` hosts the nightly pass for this "
                "memory now.")
    who = "this app" if host.get("kind") == "app" else f"lifelog {host.get('kind', 'service')}"
    who += f" (process {host.get('pid', '?')})"
    window = st.window or {}
    span = f" The window is {window.get('start', '02:00')}–{window.get('end', '05:00')}" \
           f" {window.get('timezone', '')}".rstrip() + "."
    if not enabled or not st.next_run:
        return f"The nightly pass is off (Settings ▸ consolidation); scheduler hosted by {who}."
    return f"{_time(st.next_run, tz)}, scheduled by {who}.{span}"


class UpkeepMonitor(QObject):
    """Reads the shared consolidation status on the read pool, often while a pass runs."""

    updated = Signal(object)  # Status

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.status: Status | None = None
        self._in_flight = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.poll)
        self.stopped = False
        QTimer.singleShot(0, self.poll)

    def poll(self) -> None:
        if self._in_flight or self.stopped:
            return
        self._in_flight = True
        data_dir = self.ctx.memory.data_dir
        self.ctx.tasks.read(lambda: consolidate.status(data_dir), self._got, self._failed)

    def _got(self, st: Status) -> None:
        self._in_flight = False
        self.status = st
        self.updated.emit(st)
        self._again()

    def _failed(self, message: str) -> None:
        self._in_flight = False
        log.warning("consolidation status: %s", message)
        self._again()

    def _again(self) -> None:
        if not self.stopped:
            running = self.status is not None and self.status.running is not None
            self.timer.start(POLL_RUNNING_MS if running else POLL_IDLE_MS)

    def stop(self) -> None:
        self.stopped = True
        self.timer.stop()


def monitor_for(ctx: AppContext) -> UpkeepMonitor:
    """The one monitor of a window (a child of its task pools)."""
    found = ctx.tasks.findChild(UpkeepMonitor)
    if isinstance(found, UpkeepMonitor):
        return found
    return UpkeepMonitor(ctx, parent=ctx.tasks)


class UpkeepIndicator(QPushButton):
    """The status-bar indicator: visible while a pass runs (in the app or the service)."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.setObjectName("upkeep_indicator")
        self.setFlat(True)
        self.setToolTip("The memory is being tidied (consolidation). Click for details.")
        self.setVisible(False)
        self.clicked.connect(lambda: ctx.navigate("upkeep"))
        monitor_for(ctx).updated.connect(self.show_status)

    def show_status(self, st: Status) -> None:
        if st.running is None:
            self.setVisible(False)
            return
        self.setText("Tidying the memory — " + running_text(st))
        self.setVisible(True)


class SchedulerKeeper:
    """The window's start/close hook for the nightly schedule (see the module docstring)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._host: SchedulerHost | None = None
        self._lock = threading.Lock()
        self.started = False  # start() ran to its end (hosting or not)
        self.error: str | None = None
        self.elsewhere: dict[str, Any] | None = None  # the other host, when there is one
        self.service_args: list[str] = []  # extra `lifelog service` options (tests: no receiver)

    @property
    def host(self) -> SchedulerHost | None:
        with self._lock:
            return self._host

    def start(self) -> None:
        """Host the schedule here unless another process does (off the UI thread)."""
        data_dir = self.ctx.memory.data_dir

        def work() -> SchedulerHost | None:
            host = consolidate.start_host(data_dir, kind="app")
            with self._lock:
                self._host = host  # kept here at once: a window closing meanwhile still stops it
            if host is None:
                self.elsewhere = consolidate.status(data_dir).host
            return host

        def done(host: SchedulerHost | None) -> None:
            self.started = True
            if host is None:
                who = self.elsewhere or {}
                self.ctx.status(f"The nightly pass is scheduled by lifelog {who.get('kind', 'service')} "
                                f"(process {who.get('pid', '?')}).")

        def failed(message: str) -> None:
            self.started = True
            self.error = message
            self.ctx.status(f"The nightly pass cannot be scheduled: {message}")

        self.ctx.tasks.read(work, done, failed)

    def stop(self) -> None:
        """Stop hosting (a pass the schedule started is cancelled; the next pass finishes it)."""
        with self._lock:
            host, self._host = self._host, None
        if host is not None:
            host.stop()

    def after_close(self, read_only: bool) -> int | None:
        """The window closed: start ``lifelog service`` when the user chose to keep lifelog
        running in the background (and no service runs yet); its process id."""
        data_dir = self.ctx.memory.data_dir
        if read_only or not keep_running(data_dir) or service_host(data_dir) is not None:
            return None
        try:
            pid = start_service(data_dir, self.service_args)
        except OSError as e:
            log.error("could not start lifelog service: %s", e)
            return None
        log.info("lifelog service started in the background (process %d)", pid)
        return pid


class UpkeepPage(QWidget):
    """The Memory upkeep page (``ui/app.py`` registers it as "upkeep")."""

    title = "Upkeep"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.read_only = False
        self.control: TaskControl | None = None  # the pass this page runs, while it runs
        self.result: PassResult | None = None  # what the last Run now returned
        self.progress_seen: list[tuple[str, int, int]] = []
        self.status: Status | None = None
        lay = QVBoxLayout(self)
        lay.addWidget(heading("Memory upkeep"))
        lay.addWidget(muted(
            "Every night lifelog tidies the memory: it merges fragments of the same moment, groups "
            "faces, drops near-duplicate frames, describes days and moments in words, refreshes the "
            "memory profile and compacts the store. Nothing leaves this computer."))

        now_box = QGroupBox("Now")
        nl = QVBoxLayout(now_box)
        self.now_label = QLabel("No pass is running.")
        self.now_label.setWordWrap(True)
        nl.addWidget(self.now_label)
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        nl.addWidget(self.bar)
        row = QHBoxLayout()
        self.run_button = QPushButton("Run now")
        self.run_button.setToolTip("Run one pass now (it takes turns with imports)")
        self.run_button.clicked.connect(self.run_now)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        nl.addLayout(row)
        self.error = error_line()
        nl.addWidget(self.error)
        lay.addWidget(now_box)

        last_box = QGroupBox("Last pass")
        ll = QVBoxLayout(last_box)
        self.last_label = QLabel("Looking…")
        self.last_label.setWordWrap(True)
        ll.addWidget(self.last_label)
        self.steps = QTreeWidget()
        self.steps.setHeaderLabels(["Step", "Result", "Time", "What it did"])
        self.steps.setRootIsDecorated(False)
        self.steps.setColumnWidth(0, 260)
        self.steps.setColumnWidth(1, 170)
        self.steps.setColumnWidth(2, 70)
        ll.addWidget(self.steps, 1)
        lay.addWidget(last_box, 1)

        next_box = QGroupBox("Next pass")
        xl = QVBoxLayout(next_box)
        self.next_label = QLabel("Looking…")
        self.next_label.setWordWrap(True)
        xl.addWidget(self.next_label)
        self.background = QCheckBox("Keep running in the background")
        self.background.setToolTip("When the window closes, `lifelog service` keeps the nightly pass, the Wi-Fi "
                                   "receiver and USB watching going for this memory")
        self.background.setChecked(keep_running(ctx.memory.data_dir))
        self.background.toggled.connect(self.set_background)
        xl.addWidget(self.background)
        xl.addWidget(muted("When on, closing this window leaves `lifelog service` running: the nightly pass, "
                           "receiving from your phone over Wi-Fi and syncing camera cards go on without the "
                           "app. Stop it with `kill` or your system's service manager (docs/app.md)."))
        lay.addWidget(next_box)

        self.monitor = monitor_for(ctx)
        self.monitor.updated.connect(self.show_status)
        if self.monitor.status is not None:
            self.show_status(self.monitor.status)

    # ------------------------------------------------------------------ status
    def show_status(self, st: Status) -> None:
        self.status = st
        tz = self.ctx.memory.tz
        self.last_label.setText(last_text(st, tz))
        self._show_steps(st.last)
        self.next_label.setText(next_text(st, tz, self.ctx.memory.settings.consolidation.enabled))
        ours = self.control is not None
        if st.running is not None:
            where = "in this app" if ours or st.running.pid == _pid() else f"in process {st.running.pid}"
            self.now_label.setText(f"A pass is running {where}. " + running_text(st))
            self._bar(st.running.step_index, st.running.steps, st.running.done, st.running.total)
            self.cancel_button.setEnabled(True)
            self.run_button.setEnabled(False)
        elif not ours:
            outcome = (st.last or {}).get("outcome")
            self.now_label.setText("No pass is running." + (
                f" The last one {OUTCOME_WORDS.get(str(outcome), str(outcome))}." if outcome else ""))
            self.bar.setVisible(False)
            self.cancel_button.setEnabled(False)
            self.run_button.setEnabled(not self.read_only)

    def _bar(self, index: int, steps: int, done: int, total: int) -> None:
        steps = steps or len(STEP_NAMES)
        frac = (done / total) if total else 0.0
        self.bar.setRange(0, 1000)
        self.bar.setValue(int(1000 * (index + min(1.0, frac)) / steps))
        self.bar.setVisible(True)

    def _show_steps(self, last: dict[str, Any] | None) -> None:
        self.steps.clear()
        for s in (last or {}).get("steps") or []:
            status = str(s.get("status"))
            what = s.get("error") or (_figures(s.get("figures") or {}) if status in ("done", "done-earlier") else "")
            item = QTreeWidgetItem([STEP_TITLES.get(str(s.get("name")), str(s.get("name"))),
                                    STEP_STATUS_WORDS.get(status, status), f"{float(s.get('seconds') or 0):.1f} s",
                                    str(what)])
            item.setToolTip(3, str(what))
            self.steps.addTopLevelItem(item)

    # ------------------------------------------------------------------ run / cancel
    def run_now(self) -> None:
        if self.control is not None or self.read_only:
            return
        mem, now = self.ctx.memory, self.ctx.now()
        self.error.setVisible(False)
        self.result = None
        self.progress_seen = []
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.now_label.setText("Starting a pass… (it waits for an import to finish first)")
        self.bar.setRange(0, 0)  # busy until the first step reports
        self.bar.setVisible(True)

        def work(control: TaskControl) -> PassResult:
            def progress(step: str, done: int, total: int) -> None:
                control.progress((step, done, total))

            return consolidate.run_pass(mem, now=now, progress=progress, cancel=control.cancelled)

        self.control = self.ctx.tasks.long_write(work, guarded(self, self._progress), self._done, self._failed)
        self.ctx.status("Tidying the memory…")

    def _progress(self, value: Any) -> None:
        step, done, total = value
        self.progress_seen.append((step, done, total))
        index = STEP_NAMES.index(step) if step in STEP_NAMES else 0
        count = f" ({done}/{total})" if total else ""
        self.now_label.setText(f"A pass is running in this app. Step {index + 1} of {len(STEP_NAMES)}: "
                               f"{STEP_TITLES.get(step, step)}{count}")
        self._bar(index, len(STEP_NAMES), done, total)

    def _done(self, result: PassResult) -> None:
        self.control = None
        self.result = result
        self.cancel_button.setEnabled(False)
        self.run_button.setEnabled(not self.read_only)
        self.bar.setVisible(False)
        words = OUTCOME_WORDS.get(result.outcome, result.outcome)
        self.now_label.setText(f"The pass {words} in {result.seconds:.1f} s.")
        self.ctx.status(f"Memory upkeep: the pass {words}.")
        self.monitor.poll()
        if any(s.status == "done" for s in result.steps):
            self.ctx.changed("forgotten")  # merged or dropped episodes: pages re-read what they show

    def _failed(self, message: str) -> None:
        self.control = None
        self.cancel_button.setEnabled(False)
        self.run_button.setEnabled(not self.read_only)
        self.bar.setVisible(False)
        self.now_label.setText("No pass was run.")
        self.error.setText(f"The pass could not run: {message}")
        self.error.setVisible(True)
        self.monitor.poll()

    def cancel(self) -> None:
        """Stop the running pass: this app's at once, another process's through the shared request."""
        if self.control is not None:
            self.control.cancel()
        data_dir: Path = self.ctx.memory.data_dir
        self.cancel_button.setEnabled(False)
        self.now_label.setText("Cancelling… the pass stops at its next safe point; the next pass finishes it.")
        self.ctx.tasks.read(lambda: consolidate.request_cancel(data_dir), lambda _: self.monitor.poll())

    # ------------------------------------------------------------------ background option
    def set_background(self, on: bool) -> None:
        data_dir = self.ctx.memory.data_dir

        def failed(message: str) -> None:
            self.error.setText(f"Could not save the option: {message}")
            self.error.setVisible(True)

        self.ctx.tasks.read(lambda: set_keep_running(data_dir, on),
                            lambda _: self.ctx.status("lifelog will keep running in the background after the "
                                                      "window closes." if on else
                                                      "Closing the window stops lifelog."), failed)

    # ------------------------------------------------------------------ window hooks
    def on_changed(self, what: str) -> None:
        if what == "settings":
            self.monitor.poll()

    def before_close(self) -> None:
        if self.control is not None:
            self.control.cancel()  # a pass cut short is finished by the next one
        self.monitor.stop()


def _pid() -> int:
    import os

    return os.getpid()
