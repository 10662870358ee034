"""The Import page: a queue of dropped files and folders, imported one after another.

Every dropped (or chosen) file or folder becomes one row of the queue with its own progress bar
and state — queued, importing n/N files, transcribing, done (imported / skipped), failed (with
the reason) or cancelled — plus an overall bar and Cancel per row and for all.

How it stays responsive (Anki's progress model):

* Each row runs as one :meth:`ui.tasks.Tasks.long_write` (writes are serialised, so rows run
  in order on the write thread). The write thread starts ``python -m ui.import_worker`` (see
  that module: the import runs in a child process, so no native code of the models can hold
  the UI's GIL) and only waits on its pipe. The child calls
  :meth:`lifelog.api.Memory.import_and_transcribe` with the core's cancel ``Event`` (each
  imported file's speech is transcribed while the next file imports; the row shows both); the
  row's Cancel is forwarded to it and stops both.
* The write thread never touches a widget and never emits a signal per progress report: it
  only stores the latest progress dataclass on the row. A 100 ms :class:`QTimer` on the UI
  thread reads it and redraws, so thousands of reports cost the UI thread ten cheap redraws a
  second.
* Cancel sets the row's ``TaskControl.cancelled``; the core stops at its next check and rolls
  back the file it was in (its import journal), so nothing half-imported is ever visible.

Problems are never silent: every failed file is listed with its reason (from
``ImportResult.failed``), and conditions that affect the whole memory (its disk is full, its
folder is read-only, another program is writing to it) also show in a notice at the top.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ui.context import AppContext
from ui.import_worker import DISK_FULL, ImportWorker, ItemOutcome, Progress
from ui.qt import (
    QDragEnterEvent,
    QDropEvent,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QMimeData,
    QProgressBar,
    QPushButton,
    QTimer,
    QVBoxLayout,
    QWidget,
)
from ui.tasks import TaskControl

log = logging.getLogger(__name__)

REFRESH_MS = 100  # how often the queue redraws from the latest progress
RELEASE_IDLE_MS = 120_000  # the import process (and its models) goes away after this long idle
QUEUED, IMPORTING, TRANSCRIBING, DONE, FAILED, CANCELLED = (
    "queued", "importing", "transcribing", "done", "failed", "cancelled",
)
FINISHED = (DONE, FAILED, CANCELLED)


@dataclass
class ImportItem:
    """One row of the queue. ``phase`` and ``latest`` are written by the worker thread (plain
    attribute stores, atomic in CPython) and read by the UI thread's refresh timer."""

    paths: list[Path]
    label: str
    state: str = QUEUED
    detail: str = "waiting"
    fraction: float = 0.0
    phase: str = ""  # set by the worker: importing | transcribing (the latest report's)
    latest: Any = None  # the latest import progress
    speech: Any = None  # the latest speech progress (speech is transcribed beside the import)
    imported: bool = False  # the import's progress said "done"; what is left is speech
    outcome: ItemOutcome | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    control: TaskControl | None = None
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def paths_from_mime(mime: QMimeData) -> list[Path]:
    """Local files and folders carried by a drag (URLs that are not local files are left out)."""
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


class _Row(QWidget):
    """The widgets of one queue row: name, state line, progress bar, Cancel."""

    def __init__(self, item: ImportItem, on_cancel: Callable[[ImportItem], None]) -> None:
        super().__init__()
        self.item = item
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        text = QVBoxLayout()
        self.name = QLabel(item.label)
        self.name.setToolTip("\n".join(str(p) for p in item.paths))
        self.state = QLabel(item.detail)
        self.state.setWordWrap(True)
        text.addWidget(self.name)
        text.addWidget(self.state)
        lay.addLayout(text, 3)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        lay.addWidget(self.bar, 2)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop this item; files already finished are kept")
        self.cancel.clicked.connect(lambda: on_cancel(self.item))
        lay.addWidget(self.cancel)

    def show_state(self) -> None:
        it = self.item
        self.state.setText(f"{it.state}: {it.detail}" if it.detail else it.state)
        self.bar.setValue(round(1000 * (1.0 if it.state == DONE else it.fraction)))
        self.cancel.setEnabled(not it.finished and not it.cancel_requested)


class Page(QWidget):
    """The import queue (``ui/app.py`` registers it as the "import" page)."""

    title = "Import"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.items: list[ImportItem] = []
        self._rows: dict[int, _Row] = {}
        self._current: ImportItem | None = None
        self.read_only = False  # set by the window when the memory folder cannot be written
        self.worker = ImportWorker(ctx.memory.data_dir)  # the child process, started on first use
        self._release_timer = QTimer(self)
        self._release_timer.setSingleShot(True)
        self._release_timer.setInterval(RELEASE_IDLE_MS)
        self._release_timer.timeout.connect(self._release_if_idle)
        # Asked before closing the window mid-import; tests replace it.
        self.ask_confirm: Callable[[], bool] = self._confirm_dialog
        self.setAcceptDrops(True)

        lay = QVBoxLayout(self)
        intro = QLabel(
            "Drop files or folders here (or on the window) to import them: video, photos and audio. "
            "Your files are only read, never changed; nothing leaves this machine."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: #a40000; font-weight: bold;")
        self.notice.hide()
        lay.addWidget(self.notice)
        buttons = QHBoxLayout()
        self.add_files_button = QPushButton("Add files…")
        self.add_files_button.clicked.connect(self.choose_files)
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.cancel_all_button = QPushButton("Cancel all")
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.clicked.connect(self.clear_finished)
        for b in (self.add_files_button, self.add_folder_button, self.cancel_all_button, self.clear_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        self.overall = QProgressBar()
        self.overall.setRange(0, 1000)
        self.overall_label = QLabel("Nothing to import yet.")
        lay.addWidget(self.overall_label)
        lay.addWidget(self.overall)
        self.queue = QListWidget()
        lay.addWidget(self.queue, 3)
        lay.addWidget(QLabel("Problems"))
        self.problems = QListWidget()
        lay.addWidget(self.problems, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._refresh)
        self._render_all()

    # ------------------------------------------------------------------ adding
    def add_paths(self, paths: Sequence[Path | str]) -> list[ImportItem]:
        """Queue each path as its own row (the UI thread only builds rows: no I/O here)."""
        added = []
        for raw in paths:
            p = Path(raw)
            item = ImportItem([p], p.name or str(p))
            self.items.append(item)
            row = _Row(item, self.cancel_item)
            self._rows[id(item)] = row
            li = QListWidgetItem()
            li.setSizeHint(row.sizeHint())
            self.queue.addItem(li)
            self.queue.setItemWidget(li, row)
            if self.read_only:
                self._finish(item, FAILED, "the memory folder is read-only: nothing can be imported into it")
                self._problem(str(p), "the memory folder is read-only")
            added.append(item)
        self._start_next()
        self._render_all()
        return added

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Import files", "",
            "Media (*.mp4 *.mov *.mkv *.webm *.avi *.jpg *.jpeg *.png *.heic *.wav *.mp3 *.m4a *.ogg *.flac);;"
            "All files (*)",
        )
        if files:
            self.add_paths(files)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder")
        if folder:
            self.add_paths([folder])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = paths_from_mime(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    # ------------------------------------------------------------------ running
    def _start_next(self) -> None:
        if self._current is not None:
            return
        nxt = next((it for it in self.items if it.state == QUEUED), None)
        if nxt is None:
            self._timer.stop()
            return
        self._current = nxt
        nxt.state, nxt.detail, nxt.phase = IMPORTING, "starting…", IMPORTING
        worker = self.worker
        self._release_timer.stop()

        def work(control: TaskControl, item: ImportItem = nxt) -> ItemOutcome:
            # On the write thread, which only waits on the child's pipe (ui/import_worker.py).
            def on_progress(p: Progress) -> None:  # read by the UI timer; no signal per report
                item.phase = p.phase
                if p.phase == TRANSCRIBING:
                    item.speech = p
                else:
                    item.imported = item.imported or p.stage == "done"
                    item.latest = p

            return worker.run(item.paths, control.cancelled, on_progress, speech_beside=True)

        def done(out: ItemOutcome, item: ImportItem = nxt) -> None:
            self._item_done(item, out)

        def failed(message: str, item: ImportItem = nxt) -> None:
            self._item_error(item, message)

        nxt.control = self.ctx.tasks.long_write(work, on_done=done, on_error=failed)
        self._timer.start()

    def _item_done(self, item: ImportItem, out: ItemOutcome) -> None:
        item.outcome = out
        r = out.result
        for f in r.failed:
            item.failures.append((f.path, f.error))
            self._problem(f.path, f.error)
        for w in r.warnings:
            self._problem(w.path, f"warning: {w.error}")
        for s in out.speech:
            if getattr(s, "status", "") == "failed":
                self._problem(str(getattr(s, "media_id", "")), f"no transcript: {s.error}")
        if out.speech_error:
            self._problem(item.label, f"speech not transcribed: {out.speech_error}")
        counts = f"imported {r.imported}, skipped {r.skipped} (already in memory)"
        if r.failed:
            counts += f", {len(r.failed)} failed"
        if r.cancelled or item.cancel_requested:
            self._finish(item, CANCELLED, f"cancelled; {counts} — files finished before are kept")
        elif r.imported + r.skipped == 0 and r.failed:
            why = r.failed[0].error if len(r.failed) == 1 else f"{len(r.failed)} files failed (see Problems)"
            self._finish(item, FAILED, why)
        elif r.imported + r.skipped == 0:
            msg = ("nothing to import: this folder has no video, photo or audio files" if out.folder
                   else "nothing to import: not a video, photo or audio file")
            self._finish(item, FAILED, msg)
            self._problem(str(item.paths[0]), msg)
        else:
            eps = len(r.episodes)
            self._finish(item, DONE, f"{counts}; {eps} new episode(s)")
        if any(DISK_FULL in f.error for f in r.failed):
            self._notify(f"The disk of the memory folder {self.ctx.memory.data_dir} is full. "
                         "Free some space and import again; nothing already stored was changed.")
        if r.imported or any(getattr(s, "status", "") == "done" for s in out.speech):
            self.ctx.changed("episodes")
        self._advance()

    def _item_error(self, item: ImportItem, message: str) -> None:
        self._finish(item, FAILED, message)
        self._problem(item.label, message)
        self._notify(message)
        self.ctx.status(f"Import failed: {message}")
        self._advance()

    def _advance(self) -> None:
        self._current = None
        self._start_next()
        self._render_all()
        if self._current is None:
            self.ctx.status(self._summary())
            self._release_timer.start()

    def _release_if_idle(self) -> None:
        if not self.busy():
            self.worker.release()

    def _finish(self, item: ImportItem, state: str, detail: str) -> None:
        item.state, item.detail = state, detail
        if state == DONE:
            item.fraction = 1.0

    # ------------------------------------------------------------------ cancel
    def cancel_item(self, item: ImportItem) -> None:
        if item.finished:
            return
        item.cancel_requested = True
        if item.state == QUEUED:
            self._finish(item, CANCELLED, "cancelled before it started")
        else:
            item.detail = "cancelling… (the file in progress is rolled back)"
            if item.control is not None:
                item.control.cancel()
        self._render_all()

    def cancel_all(self) -> None:
        for item in list(self.items):
            if item.state == QUEUED:
                self.cancel_item(item)
        if self._current is not None:
            self.cancel_item(self._current)

    def clear_finished(self) -> None:
        for i in reversed(range(len(self.items))):
            item = self.items[i]
            if item.finished:
                self.queue.takeItem(i)
                self._rows.pop(id(item), None)
                del self.items[i]
        self._render_all()

    def busy(self) -> bool:
        return self._current is not None or any(it.state == QUEUED for it in self.items)

    # -------------------------------------------------------------- closing
    def confirm_close(self) -> bool:
        """Called by the window before it closes: True when it may close now.

        Mid-import, asks first; on yes, cancels cooperatively and waits for the worker, so the
        file in progress is rolled back by the core and nothing half-imported remains.
        """
        if not self.busy():
            return True
        if not self.ask_confirm():
            return False
        self.shutdown()
        return True

    def can_close(self) -> bool:  # the window's close protocol (ui/app.py)
        return self.confirm_close()

    def before_close(self) -> None:
        self.cancel_all()
        self._timer.stop()
        self._release_timer.stop()
        self.worker.release()  # the child cancels what runs and exits when its stdin ends

    def shutdown(self, msecs: int = -1) -> bool:
        """Cancel everything and wait for the write thread (True when it finished in time)."""
        self.cancel_all()
        self._timer.stop()
        self._release_timer.stop()
        ok = self.ctx.tasks.wait_idle(msecs)
        self.worker.release(wait_s=30)
        return ok

    def _confirm_dialog(self) -> bool:
        answer = QMessageBox.question(
            self, "Stop the import?",
            "An import is running. Stop it and quit?\n\nFiles finished so far are kept; the file in "
            "progress is rolled back and can be imported again later.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return bool(answer == QMessageBox.StandardButton.Yes)

    # -------------------------------------------------------------- drawing
    def _refresh(self) -> None:
        """Timer tick: copy the worker's latest progress into the current row."""
        item = self._current
        if item is not None and not item.finished:
            p, s = item.latest, item.speech
            beside = f" · speech: {float(s.fraction):.0%} of a file" if s is not None else ""
            if item.imported and s is not None:  # the import is done; its speech is being finished
                item.state = TRANSCRIBING
                if not item.cancel_requested:
                    item.detail = f"transcribing speech ({float(s.fraction):.0%} of a file)"
                item.fraction = 1.0
            elif p is not None:
                item.fraction = float(getattr(p, "fraction", 0.0))
                total = int(getattr(p, "files_total", 0))
                done = int(getattr(p, "files_done", 0))
                stage = str(getattr(p, "stage", ""))
                if item.cancel_requested:
                    pass
                elif total:
                    item.detail = f"{stage} {min(done + 1, total)}/{total} files{beside}"
                else:
                    item.detail = f"{stage}…{beside}"
        self._render_all()

    def _render_all(self) -> None:
        for row in self._rows.values():
            row.show_state()
        n = len(self.items)
        if n == 0:
            self.overall.setValue(0)
            self.overall_label.setText("Nothing to import yet.")
            self.cancel_all_button.setEnabled(False)
            return
        done = sum(1.0 if it.finished else (it.fraction if it is self._current else 0.0) for it in self.items)
        self.overall.setValue(round(1000 * done / n))
        self.overall_label.setText(self._summary())
        self.cancel_all_button.setEnabled(self.busy())

    def _summary(self) -> str:
        by: dict[str, int] = {}
        for it in self.items:
            by[it.state] = by.get(it.state, 0) + 1
        order = (IMPORTING, TRANSCRIBING, QUEUED, DONE, FAILED, CANCELLED)
        parts = [f"{by[s]} {s}" for s in order if by.get(s)]
        return "Import queue: " + ", ".join(parts) if parts else "Nothing to import yet."

    def _problem(self, path: str, reason: str) -> None:
        self.problems.addItem(f"{path}: {reason}")

    def _notify(self, message: str) -> None:
        self.notice.setText(message)
        self.notice.show()

    def problem_lines(self) -> list[str]:
        return [self.problems.item(i).text() for i in range(self.problems.count())]
