"""Export and import an archive from the app (issue #12 part 4; the format: docs/export-format.md).

*File ▸ Export memory…* and *File ▸ Import archive…* open a window-modal dialog (object names
``export_dialog`` / ``import_dialog``), kept on the window's one :class:`Archiver`
(:func:`archiver_for`) as ``archiver.dialog`` while shown:

* **Export**: where it goes (*Choose…* asks for a folder, or a file when *Encrypted* is ticked;
  the line can also be typed), optionally a date range (whole days in the memory's zone), and
  *Encrypted* with the passphrase asked twice. :meth:`lifelog.api.Memory.export` runs on the write
  thread (``ctx.tasks.long_write``, so after an import already queued) with a progress bar and
  **Cancel**: the core writes under ``DEST.partial-*`` and renames only once complete, so a
  cancelled export leaves nothing. The status bar says where it went and how much.
* **Import**: a folder or an encrypted file (*Choose file…* / *Choose folder…*) and its
  passphrase. :meth:`lifelog.api.Memory.import_archive` runs on the write thread with progress
  and **Cancel**; while another process writes the memory it waits
  (:func:`lifelog.api.lock.when_writer_free`, Cancel stops the wait). A tampered, truncated or
  newer-version archive, or a wrong passphrase, is refused before anything is written: the
  dialog says why in red and stays open. Afterwards every page reads the memory again
  (``ctx.changed("episodes")``; ``"settings"`` too when the archive's settings were restored).

Tests do not use file pickers: they type the path into ``dest_edit`` / ``src_edit`` (or pass
``dest=`` / ``src=`` to :meth:`Archiver.export_dialog` / :meth:`Archiver.import_dialog`), fill
the other fields and click ``go_button`` / ``cancel_button`` like a user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from lifelog.api.archive import ArchiveImportResult, ArchiveProgress, ExportResult
from ui.context import AppContext
from ui.qt import (
    QCheckBox,
    QDate,
    QDateEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QObject,
    QProgressBar,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.tasks import TaskControl
from ui.widgets import ERROR_STYLE, guarded, human_bytes

WAITING = "waiting"  # reported while another process holds the memory (import)
STAGE_WORDS = {"reading": "Reading", "checking": "Checking", "rows": "Writing rows", "media": "Copying pictures",
               "vectors": "Vectors", "writing": "Writing", "indexes": "Rebuilding the keyword index",
               "done": "Finishing"}
PLAIN_WARNING = ("An export that is not encrypted can be read by anyone who gets the folder: "
                 "keep it somewhere private, or tick Encrypted.")


@dataclass(frozen=True)
class Outcome:
    """What an archive task returns: the core's result, or that it was cancelled, or why it failed
    (an error the user can act on; anything else reaches ``on_error``)."""

    result: ExportResult | ArchiveImportResult | None = None
    cancelled: bool = False
    error: str = ""


def exported_text(r: ExportResult) -> str:
    """The status bar line after an export."""
    c = r.counts
    what = (f"{c.get('episodes', 0)} episodes, {c.get('people', 0)} people, {c.get('utterances', 0)} things said, "
            f"{c.get('thumbnails', 0)} thumbnails, {c.get('originals', 0)} originals")
    tail = " (encrypted)." if r.encrypted else " — not encrypted: keep it somewhere private."
    return f"Exported {what} ({human_bytes(r.bytes)}) to {r.dest}{tail}"


def imported_text(r: ArchiveImportResult) -> str:
    """The status bar line after an import."""
    a = r.added
    skipped = sum(r.skipped.values())
    text = (f"Imported {a.get('episodes', 0)} episodes, {a.get('people', 0)} people, "
            f"{a.get('utterances', 0)} things said from {r.source}")
    if skipped:
        text += f" ({skipped} rows were already here)"
    if r.vectors != "carried":
        text += f"; vectors {r.vectors}"
    return text + "."


def day_range(first: date, last: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """Whole days ``first``..``last`` (inclusive) in the memory's zone, as ``[start, end)``."""
    return datetime.combine(first, time(0), tzinfo=tz), datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)


def run_export(memory: Any, dest: Path, start: datetime | None, end: datetime | None, passphrase: str | None,
               control: TaskControl) -> Outcome:
    """The write task of an export."""
    from lifelog.api.archive import ArchiveCancelled, ArchiveError

    if control.cancelled.is_set():  # cancelled while queued behind another write
        return Outcome(cancelled=True)
    try:
        result: ExportResult = memory.export(dest, start, end, passphrase=passphrase, progress=control.progress,
                                             cancel=control.cancelled)
    except ArchiveCancelled:
        return Outcome(cancelled=True)
    except ArchiveError as e:
        return Outcome(error=f"Could not export: {e}")
    except OSError as e:
        return Outcome(error=f"Could not export: {e.strerror or e}")
    return Outcome(result)


def run_import(memory: Any, src: Path, passphrase: str | None, control: TaskControl) -> Outcome:
    """The write task of an import: refused archives and wrong passphrases become an error the
    dialog shows; waits (cancellably) while another process writes the memory."""
    from lifelog.api.archive import (
        ArchiveCancelled,
        ArchiveError,
        ArchiveRefused,
        WrongPassphrase,
        is_encrypted,
    )
    from lifelog.api.errors import WriteLockBusy, WriterWaitCancelled
    from lifelog.api.lock import when_writer_free

    if control.cancelled.is_set():
        return Outcome(cancelled=True)
    if not src.exists():
        return Outcome(error=f"There is no {src}.")
    encrypted = is_encrypted(src)
    if encrypted and not passphrase:
        return Outcome(error="This archive is encrypted: enter its passphrase.")

    def attempt() -> ArchiveImportResult:
        result: ArchiveImportResult = memory.import_archive(
            src, passphrase=passphrase if encrypted else None, progress=control.progress, cancel=control.cancelled)
        return result

    try:
        try:
            return Outcome(attempt())
        except WriteLockBusy:
            control.progress(WAITING)
        return Outcome(when_writer_free(attempt, control.cancelled))
    except (ArchiveCancelled, WriterWaitCancelled):
        return Outcome(cancelled=True)
    except WrongPassphrase:
        return Outcome(error="Wrong passphrase: it does not open this archive. Nothing was imported.")
    except ArchiveRefused as e:
        return Outcome(error=f"Refused: {e}. Nothing was imported.")
    except ArchiveError as e:
        return Outcome(error=f"Could not import: {e}")


class ArchiveDialog(QDialog):
    """The part both dialogs share: a form, a red error line, a progress bar, Cancel and the
    action button. ``reports`` keeps the progress the running task reported."""

    def __init__(self, title: str, action: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.running = False
        self.stopping = False
        self.reports: list[Any] = []
        self.on_go: Callable[[], None] = lambda: None
        self.on_cancel: Callable[[], None] = lambda: None
        self.fields: list[QWidget] = []
        lay = QVBoxLayout(self)
        self.form = QFormLayout()
        lay.addLayout(self.form)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        self.error = QLabel("")
        self.error.setObjectName("archive_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setVisible(False)
        lay.addWidget(self.error)
        self.stage_label = QLabel("")
        self.stage_label.setWordWrap(True)
        self.stage_label.setVisible(False)
        lay.addWidget(self.stage_label)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        lay.addWidget(self.progress)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("archive_cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.go_button = QPushButton(action)
        self.go_button.setObjectName("archive_go")
        self.go_button.setDefault(True)
        self.go_button.clicked.connect(self._go)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.go_button)
        lay.addLayout(buttons)
        self.setMinimumWidth(520)

    def path_row(self, label: str, edit: QLineEdit, *choosers: QPushButton) -> None:
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        for b in choosers:
            row.addWidget(b)
            self.fields.append(b)
        self.fields.append(edit)
        self.form.addRow(label, row)

    def validate(self) -> str:
        """Why the form cannot be run yet ("" when it can)."""
        return ""

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def _go(self) -> None:
        if self.running:
            return
        why = self.validate()
        if why:
            self.show_error(why)
            return
        self.show_error("")
        self.set_running(True)
        self.show_progress(None)
        self.on_go()

    def set_running(self, running: bool) -> None:
        self.running, self.stopping = running, False
        for w in self.fields:
            w.setEnabled(not running)
        self.go_button.setVisible(not running)
        self.cancel_button.setEnabled(True)
        self.stage_label.setVisible(running)
        self.progress.setVisible(running)

    def show_progress(self, report: Any) -> None:
        """A progress report of the running task: an ``ArchiveProgress``, :data:`WAITING`, or None
        (queued behind another write)."""
        if report is not None:
            self.reports.append(report)
        if self.stopping:
            return
        if isinstance(report, ArchiveProgress):
            self.progress.setRange(0, max(report.files_total, 1))
            self.progress.setValue(min(report.files_done, report.files_total))
            word = STAGE_WORDS.get(report.stage, report.stage)
            self.stage_label.setText(f"{word}… {report.current}".rstrip())
            return
        self.progress.setRange(0, 0)  # busy: how long is not known
        self.stage_label.setText("Waiting for the memory: another import or edit is writing to it."
                                 if report == WAITING else "Starting…")

    def reject(self) -> None:
        if not self.running:
            super().reject()
            return
        if not self.stopping:
            self.stopping = True
            self.cancel_button.setEnabled(False)
            self.stage_label.setText("Stopping…")
            self.on_cancel()

    def stopped(self, message: str) -> None:
        """The task ended without a result: back to the form, saying why."""
        self.set_running(False)
        self.show_error(message)

    def finish(self) -> None:
        self.running = False
        super().reject()


class ExportDialog(ArchiveDialog):
    def __init__(self, tz: tzinfo, today: date, dest: Path | None, parent: QWidget | None) -> None:
        super().__init__("Export memory", "Export", parent)
        self.setObjectName("export_dialog")
        self.tz = tz
        self.today = today
        self.dest_edit = QLineEdit(str(dest) if dest is not None else "")
        self.dest_edit.setObjectName("export_dest")
        self.dest_edit.setPlaceholderText("a new folder (or, encrypted, a new file)")
        self.choose_button = QPushButton("Choose…")
        self.choose_button.clicked.connect(self.choose)
        self.path_row("Export to:", self.dest_edit, self.choose_button)
        self.range_box = QCheckBox("Only the episodes of these days")
        self.range_box.setObjectName("export_range")
        self.from_edit = QDateEdit(QDate(today.year, today.month, 1))
        self.to_edit = QDateEdit(QDate(today.year, today.month, today.day))
        dates = QHBoxLayout()
        dates.addWidget(self.range_box)
        for label, edit in (("from", self.from_edit), ("to", self.to_edit)):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
            dates.addWidget(QLabel(label))
            dates.addWidget(edit)
        dates.addStretch(1)
        self.range_box.toggled.connect(self._update)
        self.form.addRow("Range:", dates)
        self.encrypted_box = QCheckBox("Encrypted: one file under a passphrase")
        self.encrypted_box.setObjectName("export_encrypted")
        self.encrypted_box.toggled.connect(self._update)
        self.form.addRow("", self.encrypted_box)
        self.pass1 = QLineEdit()
        self.pass2 = QLineEdit()
        for name, box in (("export_pass1", self.pass1), ("export_pass2", self.pass2)):
            box.setObjectName(name)
            box.setEchoMode(QLineEdit.EchoMode.Password)
        self.form.addRow("Passphrase:", self.pass1)
        self.form.addRow("Again:", self.pass2)
        self.fields += [self.range_box, self.from_edit, self.to_edit, self.encrypted_box, self.pass1, self.pass2]
        self._update()

    def _update(self) -> None:
        ranged, encrypted = self.range_box.isChecked(), self.encrypted_box.isChecked()
        if not self.running:
            self.from_edit.setEnabled(ranged)
            self.to_edit.setEnabled(ranged)
            self.pass1.setEnabled(encrypted)
            self.pass2.setEnabled(encrypted)
        self.note.setText("The archive is one file, encrypted under the passphrase: without it nothing can be read."
                          if encrypted else PLAIN_WARNING)

    def set_running(self, running: bool) -> None:
        super().set_running(running)
        if not running:
            self._update()

    def default_name(self) -> str:
        return f"lifelog-export-{self.today.isoformat()}" + (".llxa" if self.encrypted_box.isChecked() else "")

    def choose(self) -> None:
        """Ask for a folder (or, encrypted, a file) with the system's picker."""
        if self.encrypted_box.isChecked():
            name, _ = QFileDialog.getSaveFileName(self, "Export to an encrypted file",
                                                  str(Path.home() / self.default_name()))
            if name:
                self.dest_edit.setText(name)
            return
        folder = QFileDialog.getExistingDirectory(self, "Export into a folder", str(Path.home()))
        if folder:
            chosen = Path(folder)
            empty = not any(chosen.iterdir()) if chosen.is_dir() else False
            self.dest_edit.setText(str(chosen if empty else chosen / self.default_name()))

    def dest(self) -> Path:
        return Path(self.dest_edit.text().strip()).expanduser()

    def range(self) -> tuple[datetime | None, datetime | None]:
        if not self.range_box.isChecked():
            return None, None
        a, b = self.from_edit.date(), self.to_edit.date()
        return day_range(date(a.year(), a.month(), a.day()), date(b.year(), b.month(), b.day()), self.tz)

    def passphrase(self) -> str | None:
        return self.pass1.text() if self.encrypted_box.isChecked() else None

    def validate(self) -> str:
        if not self.dest_edit.text().strip():
            return "Choose where the export goes."
        if self.range_box.isChecked() and self.to_edit.date() < self.from_edit.date():
            return "The range ends before it starts."
        if self.encrypted_box.isChecked():
            if not self.pass1.text():
                return "Enter a passphrase (an empty one protects nothing)."
            if self.pass1.text() != self.pass2.text():
                return "The two passphrases differ."
        return ""


class ImportDialog(ArchiveDialog):
    def __init__(self, src: Path | None, parent: QWidget | None) -> None:
        super().__init__("Import archive", "Import", parent)
        self.setObjectName("import_dialog")
        self.src_edit = QLineEdit(str(src) if src is not None else "")
        self.src_edit.setObjectName("import_src")
        self.src_edit.setPlaceholderText("an export folder or an encrypted archive file")
        self.file_button = QPushButton("Choose file…")
        self.file_button.clicked.connect(lambda: self.choose(folder=False))
        self.folder_button = QPushButton("Choose folder…")
        self.folder_button.clicked.connect(lambda: self.choose(folder=True))
        self.path_row("Archive:", self.src_edit, self.file_button, self.folder_button)
        self.pass_edit = QLineEdit()
        self.pass_edit.setObjectName("import_pass")
        self.pass_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pass_edit.setPlaceholderText("only for an encrypted archive file")
        self.form.addRow("Passphrase:", self.pass_edit)
        self.fields.append(self.pass_edit)
        self.note.setText("The archive is checked whole before anything is written: a damaged or tampered one is "
                          "refused. What this memory has already is skipped, so importing twice adds nothing.")

    def choose(self, folder: bool) -> None:
        if folder:
            chosen = QFileDialog.getExistingDirectory(self, "Import an export folder", str(Path.home()))
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Import an encrypted archive", str(Path.home()))
        if chosen:
            self.src_edit.setText(chosen)

    def src(self) -> Path:
        return Path(self.src_edit.text().strip()).expanduser()

    def passphrase(self) -> str | None:
        return self.pass_edit.text() or None

    def validate(self) -> str:
        return "" if self.src_edit.text().strip() else "Choose the archive to import."


class Archiver(QObject):
    """The export and import flows of one window (see the module doc). ``dialog`` is the open
    dialog, ``job`` the running task's control, ``last`` the last result."""

    exported = Signal(object)  # ExportResult
    imported = Signal(object)  # ArchiveImportResult, before ctx.changed("episodes")

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.dialog: ArchiveDialog | None = None
        self.job: TaskControl | None = None
        self.last: ExportResult | ArchiveImportResult | None = None
        self.read_only = False  # set by the window: no import into a memory open read-only

    def busy(self) -> bool:
        return self.dialog is not None or self.job is not None

    def export_dialog(self, parent: QWidget, dest: Path | None = None) -> ExportDialog | None:
        """Open the export dialog (``dest`` fills its destination)."""
        if self.busy():
            self.ctx.status("An export or import is already open.")
            return None
        mem = self.ctx.memory
        dlg = ExportDialog(mem.tz, self.ctx.now().astimezone(mem.tz).date(), dest, parent)

        def go() -> None:
            dest, (start, end), passphrase = dlg.dest(), dlg.range(), dlg.passphrase()
            self.ctx.status(f"Exporting to {dest}…")
            self.job = self.ctx.tasks.long_write(
                lambda control: run_export(mem, dest, start, end, passphrase, control),
                guarded(dlg, dlg.show_progress), guarded(self, lambda o: self._exported(dlg, o)),
                guarded(self, lambda msg: self._failed(dlg, f"Could not export: {msg}")))

        self._open(dlg, go)
        return dlg

    def import_dialog(self, parent: QWidget, src: Path | None = None) -> ImportDialog | None:
        """Open the import dialog (``src`` fills the archive's path)."""
        if self.busy():
            self.ctx.status("An export or import is already open.")
            return None
        if self.read_only:
            self.ctx.status("This memory is open read-only (lifelog is already open on it): nothing can be imported.")
            return None
        mem = self.ctx.memory
        dlg = ImportDialog(src, parent)

        def go() -> None:
            src, passphrase = dlg.src(), dlg.passphrase()
            self.ctx.status(f"Importing {src}…")
            self.job = self.ctx.tasks.long_write(
                lambda control: run_import(mem, src, passphrase, control),
                guarded(dlg, dlg.show_progress), guarded(self, lambda o: self._imported(dlg, o)),
                guarded(self, lambda msg: self._failed(dlg, f"Could not import: {msg}", changed=True)))

        self._open(dlg, go)
        return dlg

    def _open(self, dlg: ArchiveDialog, go: Callable[[], None]) -> None:
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def cancel() -> None:
            if self.job is not None:
                self.job.cancel()

        def closed(_code: int) -> None:
            if self.dialog is dlg:
                self.dialog = None

        dlg.on_go = go
        dlg.on_cancel = cancel
        dlg.finished.connect(closed)
        self.dialog = dlg
        dlg.open()  # window-modal, no nested event loop (and testable)

    def _ended(self, dlg: ArchiveDialog, outcome: Outcome, what: str) -> bool:
        """Common handling; True when there is a result to report."""
        self.job = None
        if outcome.result is not None:
            if self.dialog is dlg:
                self.dialog = None
            dlg.finish()
            return True
        if outcome.cancelled:
            msg = ("Export cancelled: nothing was left." if what == "export"
                   else "Import cancelled: nothing was imported.")
        else:
            msg = outcome.error
        self.ctx.status(msg)
        dlg.stopped(msg)
        return False

    def _exported(self, dlg: ArchiveDialog, outcome: Outcome) -> None:
        if self._ended(dlg, outcome, "export") and isinstance(outcome.result, ExportResult):
            self.last = outcome.result
            self.exported.emit(outcome.result)
            self.ctx.status(exported_text(outcome.result))

    def _imported(self, dlg: ArchiveDialog, outcome: Outcome) -> None:
        if self._ended(dlg, outcome, "import") and isinstance(outcome.result, ArchiveImportResult):
            r = outcome.result
            self.last = r
            self.imported.emit(r)
            if r.settings == "restored":
                self.ctx.changed("settings")
            self.ctx.changed("episodes")
            self.ctx.status(imported_text(r))

    def _failed(self, dlg: ArchiveDialog, msg: str, *, changed: bool = False) -> None:
        self.job = None
        self.ctx.status(msg)
        dlg.stopped(msg)
        if changed:  # an import that failed half-way is rolled back by the next writer; read again
            self.ctx.changed("episodes")

    def before_close(self) -> None:
        if self.job is not None:
            self.job.cancel()


def archiver_for(ctx: AppContext) -> Archiver:
    """The one :class:`Archiver` of a window (a child of its task pools)."""
    found = ctx.tasks.findChild(Archiver)
    if isinstance(found, Archiver):
        return found
    return Archiver(ctx, parent=ctx.tasks)
