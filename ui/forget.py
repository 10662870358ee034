"""Forget for good, from the app (docs/privacy.md): one flow every page uses.

A page builds a :class:`~lifelog.api.privacy.ForgetRequest` (the open episode, a day, a person,
an object, a device, everything) and calls :meth:`Forgetter.start`:

1. the plan (:meth:`lifelog.api.Memory.plan_forget`: counts, ids) is read on the read pool;
2. a window-modal :class:`ForgetDialog` (object name ``forget_dialog``) shows the plan's sentence
   ("This will forget 3 episodes, 1 person…") and that it cannot be undone; *Forget everything*
   also asks for a typed word (:data:`CONFIRM_WORD`);
3. on *Forget*, :meth:`lifelog.api.Memory.forget` runs with exactly that plan on the write thread
   (``ctx.tasks.long_write``: after any write already queued, such as an import). While another
   process holds the memory it waits (``lifelog.api.lock.when_writer_free``) and *Cancel* stops
   the wait; once forgetting has begun it runs to the end (every step is crash-safe in the core).
   The dialog shows the stage with a progress bar;
4. afterwards the thumbnail cache is emptied, :attr:`Forgetter.forgotten` is emitted with the
   request and result, every page is told (``ctx.changed("forgotten")``: they read the memory
   again, so what was forgotten leaves the screen), and the status bar says what went. A failure
   (``ForgetError`` for something that no longer exists, a read-only memory…) goes to the page's
   own error line through ``on_error``.

One window has one :class:`Forgetter` (:func:`forgetter_for`), so one forget runs at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lifelog.api.privacy import ForgetPlan, ForgetRequest, ForgetResult
from ui.context import AppContext
from ui.qt import (
    QDialog,
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
from ui.widgets import ERROR_STYLE, guarded, thumbs_for

CONFIRM_WORD = "forget"  # typed to confirm "Forget everything"
WAITING = "waiting"  # the stage reported while another writer holds the memory
STAGES = ("removing rows", "removing old versions", "done")  # Memory.forget's progress, in order
WARNING = ("This cannot be undone: the frames, faces, words and thumbnails are removed from this "
           "computer for good (only a count is kept in the audit log). The original files you "
           "imported from elsewhere are not touched.")


def sentence(plan: ForgetPlan) -> str:
    """The plan's sentence, as the dialog shows it ("This will forget 1 episode, 3 faces.")."""
    text = plan.describe()
    return text[:1].upper() + text[1:] + "."


def forgotten_text(what: str, plan: ForgetPlan) -> str:
    """The status bar line after a forget."""
    if plan.everything:
        return "Forgot everything in this memory (settings and pairings stay)."
    return f"Forgot {what}: {plan.describe().removeprefix('this will forget ')}."


def run_forget(memory: Any, plan: ForgetPlan, control: TaskControl) -> ForgetResult | None:
    """The write task: forget ``plan``, waiting (cancellably) while another process writes.
    None: cancelled while waiting, nothing was forgotten."""
    from lifelog.api.errors import WriteLockBusy, WriterWaitCancelled
    from lifelog.api.lock import when_writer_free

    if control.cancelled.is_set():  # cancelled while queued behind another write
        return None

    def attempt() -> ForgetResult:
        result: ForgetResult = memory.forget(plan, progress=control.progress)
        return result

    try:
        return attempt()
    except WriteLockBusy:
        control.progress(WAITING)
    try:
        return when_writer_free(attempt, control.cancelled)
    except WriterWaitCancelled:
        return None


@dataclass(frozen=True)
class Forgotten:
    """What :attr:`Forgetter.forgotten` carries."""

    request: ForgetRequest
    result: ForgetResult


class ForgetDialog(QDialog):
    """Confirm, then show the progress of one forget. Tests find it as ``forgetter.dialog`` (or by
    its object name) and click :attr:`forget_button` / :attr:`cancel_button` like a user."""

    def __init__(self, title: str, plan: ForgetPlan, word: str | None, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setObjectName("forget_dialog")
        self.setWindowTitle(title)
        self.plan = plan
        self.word = word
        self.running = False
        self.stage = ""
        self.reports: list[str] = []  # the stages the running forget reported, in order
        self.on_forget: Callable[[], None] = lambda: None
        self.on_cancel: Callable[[], None] = lambda: None

        self.heading = QLabel(title)
        f = self.heading.font()
        f.setBold(True)
        self.heading.setFont(f)
        self.heading.setWordWrap(True)
        self.summary = QLabel(sentence(plan))
        self.summary.setObjectName("forget_summary")
        self.summary.setWordWrap(True)
        self.warning = QLabel(WARNING)
        self.warning.setObjectName("forget_warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(ERROR_STYLE + " font-weight: bold;")
        lay = QVBoxLayout(self)
        lay.addWidget(self.heading)
        lay.addWidget(self.summary)
        lay.addWidget(self.warning)
        self.word_box: QLineEdit | None = None
        if word is not None:
            lay.addWidget(QLabel(f"Type <b>{word}</b> to confirm:"))
            box = QLineEdit()
            box.setObjectName("forget_word")
            box.setPlaceholderText(word)
            box.textChanged.connect(lambda _t: self._update_buttons())
            lay.addWidget(box)
            self.word_box = box
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.stage_label = QLabel("")
        self.stage_label.setWordWrap(True)
        self.stage_label.setVisible(False)
        lay.addWidget(self.stage_label)
        lay.addWidget(self.progress)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("forget_cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.forget_button = QPushButton("Forget everything" if plan.everything else "Forget")
        self.forget_button.setObjectName("forget_confirm")
        self.forget_button.setStyleSheet("QPushButton { color: #a40000; font-weight: bold; }")
        self.forget_button.clicked.connect(self._confirmed)
        self.cancel_button.setDefault(True)  # Return does not forget
        self.cancel_button.setAutoDefault(True)
        self.forget_button.setAutoDefault(False)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.forget_button)
        lay.addLayout(buttons)
        self.setMinimumWidth(460)
        self._update_buttons()

    def word_ok(self) -> bool:
        return self.word is None or (self.word_box is not None
                                     and self.word_box.text().strip().lower() == self.word.lower())

    def _update_buttons(self) -> None:
        self.forget_button.setEnabled(not self.running and self.word_ok())

    def _confirmed(self) -> None:
        if self.running or not self.word_ok():
            return
        self.running = True
        self.forget_button.setVisible(False)
        if self.word_box is not None:
            self.word_box.setEnabled(False)
        self._draw(WAITING)  # queued until the write thread takes it
        self.on_forget()

    def show_stage(self, stage: str) -> None:
        """A progress report of the running forget (a stage of :data:`STAGES` or WAITING)."""
        self.reports.append(stage)
        self._draw(stage)

    def _draw(self, stage: str) -> None:
        self.stage = stage
        self.stage_label.setVisible(True)
        self.progress.setVisible(True)
        if stage == WAITING:
            self.progress.setRange(0, 0)  # busy: we do not know how long the other write takes
            self.stage_label.setText("Waiting for the memory: another import or edit is writing to it. "
                                     "Cancel stops waiting; nothing is forgotten yet.")
            self.cancel_button.setText("Cancel")
            self.cancel_button.setEnabled(True)
            return
        step = STAGES.index(stage) + 1 if stage in STAGES else 1
        self.progress.setRange(0, len(STAGES))
        self.progress.setValue(step)
        self.stage_label.setText(f"Forgetting: {stage}…" if stage != "done" else "Forgotten.")
        self.cancel_button.setEnabled(False)  # once begun, a forget runs to its end
        self.cancel_button.setToolTip("A forget that has begun cannot be stopped half-way")

    def reject(self) -> None:
        if not self.running:
            super().reject()
        elif self.stage == WAITING:
            self.cancel_button.setEnabled(False)
            self.stage_label.setText("Stopping…")
            self.on_cancel()
        # forgetting has begun: the dialog closes when it is done

    def finish(self) -> None:
        """The forget ended (done or failed): close for good."""
        self.running = False
        super().reject()


class Forgetter(QObject):
    """The forget flow of one window (see the module doc). ``dialog`` is the open dialog, if any;
    ``job`` the running forget's control."""

    forgotten = Signal(object)  # Forgotten, before ctx.changed("forgotten")

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.dialog: ForgetDialog | None = None
        self.job: TaskControl | None = None
        self.last: Forgotten | None = None
        self.read_only = False  # set by the window when the memory is open read-only
        self._token = 0

    def busy(self) -> bool:
        return self.dialog is not None or self.job is not None

    def start(self, request: ForgetRequest, what: str, parent: QWidget,
              on_error: Callable[[str], None], *, word: str | None = None) -> None:
        """Plan ``request`` (read pool), ask (``what`` names it: "the episode at 15:00"), forget.
        ``word``: the user must type it to confirm. Failures go to ``on_error``."""
        if self.busy():
            self.ctx.status("A forget is already being confirmed or running.")
            return
        if self.read_only:
            on_error("This memory is open read-only (lifelog is already open on it): nothing can be forgotten here.")
            return
        self._token += 1
        token = self._token
        mem = self.ctx.memory

        def planned(plan: ForgetPlan) -> None:
            if token != self._token or self.busy():
                return
            if plan.is_empty():
                on_error(f"Nothing to forget: {plan.describe().removeprefix('this will forget ')}.")
                return
            self._ask(request, what, plan, parent, on_error, word)

        self.ctx.status(f"Looking at what forgetting {what} would remove…")
        self.ctx.tasks.read(lambda: mem.plan_forget(request), guarded(self, planned),
                            guarded(self, lambda msg: self._failed_plan(on_error, msg)))

    def _failed_plan(self, on_error: Callable[[str], None], msg: str) -> None:
        self.ctx.status("Nothing was forgotten.")
        on_error(msg)

    def _ask(self, request: ForgetRequest, what: str, plan: ForgetPlan, parent: QWidget,
             on_error: Callable[[str], None], word: str | None) -> None:
        title = "Forget everything?" if plan.everything else f"Forget {what}?"
        dlg = ForgetDialog(title, plan, word, parent)
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        mem = self.ctx.memory

        def go() -> None:
            self.ctx.status(f"Forgetting {what}…")
            self.job = self.ctx.tasks.long_write(lambda control: run_forget(mem, plan, control),
                                                 guarded(dlg, dlg.show_stage),
                                                 guarded(self, lambda r: self._done(request, what, r, on_error)),
                                                 guarded(self, lambda msg: self._failed(on_error, msg)))

        def cancel() -> None:
            if self.job is not None:
                self.job.cancel()

        def closed(_code: int) -> None:
            if self.dialog is dlg:
                self.dialog = None
                if self.job is None:
                    self.ctx.status("Nothing was forgotten.")

        dlg.on_forget = go
        dlg.on_cancel = cancel
        dlg.finished.connect(closed)
        self.dialog = dlg
        dlg.open()  # window-modal, no nested event loop (and testable)

    def _close_dialog(self) -> None:
        dlg, self.dialog, self.job = self.dialog, None, None
        if dlg is not None:
            dlg.finish()

    def _done(self, request: ForgetRequest, what: str, result: ForgetResult | None,
              on_error: Callable[[str], None]) -> None:
        self._close_dialog()
        if result is None:
            msg = f"Nothing was forgotten: cancelled while waiting to forget {what}."
            self.ctx.status(msg)
            on_error(msg)
            return
        thumbs_for(self.ctx.memory, self.ctx.tasks).drop_all()  # no forgotten picture stays in memory
        self.last = Forgotten(request, result)
        self.forgotten.emit(self.last)
        self.ctx.changed("forgotten")
        self.ctx.status(forgotten_text(what, result.plan))

    def _failed(self, on_error: Callable[[str], None], msg: str) -> None:
        self._close_dialog()
        msg = f"Could not forget: {msg}"
        self.ctx.status(msg)
        on_error(msg)
        self.ctx.changed("forgotten")  # a forget that failed half-way may still have removed something

    def before_close(self) -> None:
        if self.job is not None:
            self.job.cancel()  # stops a wait; a forget that has begun finishes


def forgetter_for(ctx: AppContext) -> Forgetter:
    """The one :class:`Forgetter` of a window (a child of its task pools)."""
    found = ctx.tasks.findChild(Forgetter)
    if isinstance(found, Forgetter):
        return found
    return Forgetter(ctx, parent=ctx.tasks)
