"""Running core work off the UI thread (Anki's taskman, Picard's thread pool).

Rules every page follows:
- The UI thread never does I/O or model work. It calls :meth:`Tasks.read` for queries and
  :meth:`Tasks.write` for anything that changes the memory.
- Writes run on a one-thread pool, one after another (one LanceDB writer, no commit conflicts).
  Reads run on a second small pool so browsing stays quick while an import writes.
- A task returns plain data; ``on_done`` runs on the UI thread and only renders it.
- Long tasks get a :class:`TaskControl`: they report progress as data (any object, typically the
  core's progress dataclass) and check ``control.cancelled`` (a ``threading.Event``) cooperatively.
  Progress reaches the UI thread through a queued signal; a page may throttle what it draws.
- Exceptions are never swallowed: ``on_error`` (or the window's status bar) gets a one-line message,
  and the traceback goes to the log.

``Tasks.wait_idle`` exists for tests and for closing the window cleanly mid-import.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ui.qt import QObject, QRunnable, QThreadPool, Signal, is_alive

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class TaskControl:
    """Handed to long tasks: report progress, check for cancel."""

    cancelled: threading.Event = field(default_factory=threading.Event)
    _emit: Callable[[Any], None] | None = None

    def progress(self, value: Any) -> None:
        if self._emit is not None:
            self._emit(value)

    def cancel(self) -> None:
        self.cancelled.set()


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)
    progress = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.fn = fn
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as e:  # reported to the UI, never swallowed
            log.error("task failed:\n%s", traceback.format_exc())
            _emit_unless_closed(self.signals.failed, _one_line(e))
            return
        _emit_unless_closed(self.signals.done, result)


def _emit_unless_closed(signal: Any, value: Any) -> None:
    """Report a job's end, unless the app has closed meanwhile: a job still running when the
    process exits (the app closed during its start-up reads) finds its signals deleted with the
    application, and nobody is left to tell."""
    try:
        signal.emit(value)
    except RuntimeError as e:
        if "deleted" not in str(e):
            raise
        log.debug("a task ended after the app closed: %s", e)


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _unless_gone(callback: Callable[[Any], None]) -> Callable[[Any], None]:
    """A late result must not reach a widget whose window was closed and deleted: drop it."""
    owner = getattr(callback, "__self__", None)
    if not isinstance(owner, QObject):
        return callback

    def deliver(value: Any) -> None:
        if is_alive(owner):
            callback(value)
        else:
            log.debug("dropped a late task result for a deleted %s", type(owner).__name__)

    return deliver


class Tasks(QObject):
    """The two pools of the app: serialised writes, a few parallel reads."""

    error = Signal(str)  # any task's failure when the caller gave no on_error

    def __init__(self, parent: QObject | None = None, read_threads: int = 2) -> None:
        super().__init__(parent)
        self.writes = QThreadPool(self)
        self.writes.setMaxThreadCount(1)
        self.reads = QThreadPool(self)
        self.reads.setMaxThreadCount(read_threads)
        self._jobs: set[_Job] = set()  # keep signal objects alive until delivered

    def read(
        self,
        fn: Callable[[], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        *,
        first: bool = False,
    ) -> None:
        """A read on the read pool. ``first``: what the user is looking at now (the timeline's
        day): it goes ahead of every queued read that is not (issue #18: at start-up the other
        pages' first reads were queued before the day the window opens on)."""
        self._start(self.reads, fn, on_done, on_error, None, priority=1 if first else 0)

    def write(
        self,
        fn: Callable[[], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._start(self.writes, fn, on_done, on_error, None)

    def long_write(
        self,
        fn: Callable[[TaskControl], T],
        on_progress: Callable[[Any], None] | None = None,
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> TaskControl:
        """A cancellable write with progress; returns the control (``.cancel()`` it to stop)."""
        control = TaskControl()
        self._start(self.writes, lambda: fn(control), on_done, on_error, (control, on_progress))
        return control

    def _start(
        self,
        pool: QThreadPool,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None,
        on_error: Callable[[str], None] | None,
        prog: tuple[TaskControl, Callable[[Any], None] | None] | None,
        priority: int = 0,
    ) -> None:
        job = _Job(fn)
        self._jobs.add(job)
        if prog is not None:
            control, on_progress = prog
            control._emit = job.signals.progress.emit
            if on_progress is not None:
                job.signals.progress.connect(on_progress)

        def finished(_: Any = None) -> None:
            self._jobs.discard(job)

        if on_done is not None:
            job.signals.done.connect(_unless_gone(on_done))
        job.signals.done.connect(finished)
        job.signals.failed.connect(_unless_gone(on_error) if on_error is not None else self.error.emit)
        job.signals.failed.connect(finished)
        pool.start(job, priority)

    def busy(self) -> bool:
        return bool(self._jobs)

    def wait_idle(self, msecs: int = -1) -> bool:
        """Block until both pools are empty (tests, window close). True when they are."""
        ok_w = self.writes.waitForDone(msecs)
        ok_r = self.reads.waitForDone(msecs)
        return bool(ok_w and ok_r)
