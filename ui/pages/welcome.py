"""First run: a welcome shown when the memory is empty and the app has never been opened on it.

It says where the memory lives, that nothing leaves the machine and how it is encrypted, and
shows the retention rules in one line (by default strangers' faces 90 days, the trash 30 days, the rest kept)
with a link to Settings, and offers three ways on: **Load the sample days** (the demo's compose
on the write thread, then the import and transcription in the import process of
ui/import_worker.py; progress and Cancel),
**Import my footage** (the Import page) and **Start empty**.

"Never opened" is a marker file ``<data>/app-opened`` (an ISO time stamp), written when the user
picks one of the three; a memory that already has episodes never shows the welcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from ui.context import AppContext
from ui.import_worker import ImportWorker, Progress
from ui.qt import QHBoxLayout, QLabel, QProgressBar, QPushButton, QTimer, QVBoxLayout, QWidget
from ui.tasks import TaskControl

MARKER = "app-opened"


def is_first_run(memory: Any) -> bool:
    """True when the memory has no episodes and no app has been opened on it (does I/O: run it
    on ``ctx.tasks.read``)."""
    if (Path(memory.data_dir) / MARKER).exists():
        return False
    return int(memory.stats().get("episodes", 0)) == 0


def mark_opened(data_dir: Path) -> None:
    """Remember that the welcome was answered (a read-only folder just shows it again)."""
    from lifelog.api.settings import write_marker

    write_marker(Path(data_dir), MARKER)


SampleStage = Literal["fetching", "composing", "importing", "transcribing"]


@dataclass(frozen=True)
class SampleProgress:
    stage: SampleStage
    fraction: float  # 0..1 within the stage
    detail: str = ""


@dataclass
class SampleResult:
    imported: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    days: list[date] = field(default_factory=list)
    cancelled: bool = False


def prepare_sample_days(
    report: Callable[[SampleProgress], None],
    out_dir: Path | None = None,
    days: Sequence[str] | None = None,
) -> tuple[list[Path], list[date]]:
    """Fetch the real sample media (cached) and compose the sample days, as ``lifelog demo``
    does; returns the files to import and the days."""
    from lifelog.api.sample import compose_sample_days, fetch_sample_media

    report(SampleProgress("fetching", 0.0, "the real sample media (cached after the first time)"))
    media = fetch_sample_media()
    report(SampleProgress("composing", 0.0, "the sample days from the real media"))
    composed = compose_sample_days(media, out_dir, days)
    return composed.files, composed.days


def load_sample_days(
    worker: ImportWorker,
    cancel: threading.Event,
    report: Callable[[SampleProgress], None],
    out_dir: Path | None = None,
    days: Sequence[str] | None = None,
) -> SampleResult:
    """Compose the sample days here, then import and transcribe them in the import process
    (``worker``, see ui/import_worker.py); ``cancel`` stops between and inside the steps."""
    files, day_list = prepare_sample_days(report, out_dir, days)
    out = SampleResult(days=day_list)
    if cancel.is_set():
        out.cancelled = True
        return out

    def on_progress(p: Progress) -> None:
        if p.phase == "transcribing":
            report(SampleProgress("transcribing", p.fraction, "speech, on this machine"))
        else:
            report(SampleProgress("importing", p.fraction,
                                  f"{min(p.files_done + 1, max(p.files_total, 1))}/{p.files_total} files"))

    got = worker.run(files, cancel, on_progress)
    r = got.result
    out.imported, out.skipped, out.cancelled = r.imported, r.skipped, r.cancelled or cancel.is_set()
    out.failed = [(f.path, f.error) for f in r.failed]
    if got.speech_error:
        out.failed.append(("speech", got.speech_error))
    return out


def _key_sentence(mode: str) -> str:
    if mode == "passphrase":
        return ("Everything is encrypted at rest (AES-256-GCM). This machine has no OS keyring, so the "
                "key is derived from your passphrase (LIFELOG_PASSPHRASE): without it the memory cannot "
                "be read.")
    return ("Everything is encrypted at rest (AES-256-GCM) with a key kept in your OS keyring "
            "(Secret Service, Keychain or Credential Manager), never in the memory folder.")


class Page(QWidget):
    """The first-run welcome (registered with ``nav=False``: reached by ``navigate("welcome")``)."""

    title = "Welcome"

    def __init__(self, ctx: AppContext, sample_days: Sequence[str] | None = None,
                 sample_dir: Path | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.read_only = False
        self.sample_days = sample_days  # None: every day of the recipe (as `lifelog demo`)
        self.sample_dir = sample_dir
        self.control: TaskControl | None = None
        self.worker = ImportWorker(ctx.memory.data_dir)
        self.result: SampleResult | None = None
        self._latest: SampleProgress | None = None
        mem = ctx.memory
        lay = QVBoxLayout(self)
        head = QLabel("<h2>Welcome to lifelog</h2>")
        lay.addWidget(head)
        self.where = QLabel(
            f"<p>Your memory lives in <b>{mem.data_dir}</b> on this computer. lifelog reads your "
            "footage once, keeps a compact private index of it there (what was seen, who, what was "
            "said) and answers questions such as <i>when did I last see a cat?</i></p>"
            "<p><b>Nothing leaves this machine</b>: no account, no cloud, no uploads; the models run "
            "here. Your files are only read, never changed.</p>"
            f"<p>{_key_sentence(getattr(mem.vault, 'mode', 'keyring'))}</p>"
        )
        self.where.setWordWrap(True)
        lay.addWidget(self.where)
        from ui.pages.privacy import retention_line

        line = retention_line(mem.settings.retention)
        self.retention = QLabel(f"<p>How long memories are kept: {line[:1].upper() + line[1:]}. "
                                '<a href="settings">Change in Settings ▸ Privacy</a></p>')
        self.retention.setObjectName("welcome_retention")
        self.retention.setWordWrap(True)
        self.retention.linkActivated.connect(lambda _link: self.ctx.navigate("settings"))
        lay.addWidget(self.retention)
        buttons = QHBoxLayout()
        self.sample_button = QPushButton("Load the sample days")
        self.sample_button.setToolTip("Two composed days of real sample footage, to try questions on")
        self.sample_button.clicked.connect(self.load_sample)
        self.import_button = QPushButton("Import my footage")
        self.import_button.clicked.connect(self.import_footage)
        self.empty_button = QPushButton("Start empty")
        self.empty_button.clicked.connect(self.start_empty)
        for b in (self.sample_button, self.import_button, self.empty_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.state = QLabel("")
        self.state.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        lay.addWidget(self.state)
        lay.addWidget(self.progress)
        lay.addWidget(self.cancel_button)
        lay.addStretch(1)
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._refresh)

    # ------------------------------------------------------------------ choices
    def _answered(self) -> None:
        data_dir = self.ctx.memory.data_dir
        self.ctx.tasks.write(lambda: mark_opened(data_dir))

    def start_empty(self) -> None:
        self._answered()
        self.ctx.navigate("timeline")

    def import_footage(self) -> None:
        self._answered()
        self.ctx.navigate("import")

    def load_sample(self) -> None:
        if self.control is not None:
            return
        if self.read_only:
            self.state.setText("The memory folder is read-only: the sample days cannot be loaded into it.")
            return
        self._answered()
        for b in (self.sample_button, self.import_button, self.empty_button):
            b.setEnabled(False)
        self.progress.show()
        self.cancel_button.show()
        self.state.setText("Starting…")
        days, out_dir = self.sample_days, self.sample_dir
        worker = self.worker

        def work(control: TaskControl) -> SampleResult:
            def report(p: SampleProgress) -> None:
                self._latest = p  # read by the UI timer; no signal per report

            try:
                return load_sample_days(worker, control.cancelled, report, out_dir=out_dir, days=days)
            finally:
                worker.release()

        self.control = self.ctx.tasks.long_write(work, on_done=self._done, on_error=self._failed)
        self._timer.start()

    def cancel(self) -> None:
        if self.control is not None:
            self.control.cancel()
            self.state.setText("Cancelling… (the file in progress is rolled back)")

    # ------------------------------------------------------------------ results
    def _refresh(self) -> None:
        p = self._latest
        if p is None or (self.control is not None and self.control.cancelled.is_set()):
            return
        stages = ("fetching", "composing", "importing", "transcribing")
        i = stages.index(p.stage) if p.stage in stages else 0
        weights = (0.05, 0.25, 0.55, 0.15)
        overall = sum(weights[:i]) + weights[i] * max(0.0, min(p.fraction, 1.0))
        self.progress.setValue(round(1000 * overall))
        self.state.setText(f"{p.stage.capitalize()} {p.detail}…")

    def _finish(self) -> None:
        self._timer.stop()
        self.control = None
        self.cancel_button.hide()
        for b in (self.sample_button, self.import_button, self.empty_button):
            b.setEnabled(True)

    def _done(self, result: SampleResult) -> None:
        self._finish()
        self.result = result
        if result.imported:
            self.ctx.changed("episodes")
        if result.cancelled:
            self.state.setText(f"Cancelled. {result.imported} sample file(s) were imported before; "
                               "the one in progress was rolled back.")
            return
        self.progress.setValue(1000)
        msg = f"The sample days are in your memory: {result.imported} file(s) imported"
        if result.skipped:
            msg += f", {result.skipped} already there"
        if result.failed:
            msg += f"; {len(result.failed)} problem(s): " + "; ".join(f"{p}: {e}" for p, e in result.failed[:3])
        self.state.setText(msg + ".")
        self.ctx.status(msg)
        if result.days:
            self.ctx.navigate("timeline", day=result.days[-1])

    def _failed(self, message: str) -> None:
        self._finish()
        self.state.setText(f"The sample days could not be loaded: {message}")
        self.ctx.status(f"Sample days not loaded: {message}")

    def can_close(self) -> bool:
        return True

    def before_close(self) -> None:
        self.cancel()
        self.worker.release()
