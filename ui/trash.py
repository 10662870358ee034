"""The trash, from the app (docs/privacy.md "The trash"): the everyday delete, with Undo.

**Move to trash** (the Timeline's episode panel, and a day) calls :meth:`Trasher.move` /
:meth:`Trasher.move_day`: :meth:`lifelog.api.Memory.trash_episodes` runs on the write thread
(after any write already queued; while another process holds the memory it waits, like a
forget). The episodes leave every page at once (``ctx.changed("forgotten")``: pages read the
memory again), the status bar says what went, and :attr:`Trasher.undoable` is set: the window
shows an **Undo** button in the status bar (:meth:`Trasher.undo` restores that batch).

The Trash view (Settings ▸ Privacy, :mod:`ui.pages.privacy`) restores entries
(:meth:`Trasher.restore`) and empties the trash (:meth:`lifelog.api.Memory.empty_trash`, for
good, after a confirmation). What stays in the trash longer than ``retention.trash_days`` is
forgotten for good when the app starts (``ui.app``) and by ``lifelog retention --apply``.

One window has one :class:`Trasher` (:func:`trasher_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from lifelog.api.privacy import TrashEntry
from ui.context import AppContext
from ui.qt import QObject, Signal
from ui.tasks import TaskControl
from ui.widgets import guarded

UNDO_MS = 30_000  # how long the status bar offers Undo


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def waiting_write(fn: Callable[[], Any], control: TaskControl) -> Any:
    """Run ``fn`` on the write thread, waiting (cancellably) while another process writes."""
    from lifelog.api.errors import WriteLockBusy, WriterWaitCancelled
    from lifelog.api.lock import when_writer_free

    if control.cancelled.is_set():
        return None
    try:
        return fn()
    except WriteLockBusy:
        control.progress("waiting")
    try:
        return when_writer_free(fn, control.cancelled)
    except WriterWaitCancelled:
        return None


class Trasher(QObject):
    """Move to trash, Undo, restore (see the module doc)."""

    trashed = Signal(object)  # TrashEntry, before ctx.changed
    restored = Signal(object)  # list of episode ids, before ctx.changed
    undo_changed = Signal(bool)  # whether Undo is offered now

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.undoable: TrashEntry | None = None
        self.read_only = False
        self.jobs: list[TaskControl] = []

    def _run(self, fn: Callable[[], Any], done: Callable[[Any], None], on_error: Callable[[str], None]) -> None:
        control = self.ctx.tasks.long_write(lambda c: waiting_write(fn, c), None, guarded(self, done),
                                            guarded(self, on_error))
        self.jobs = [*self.jobs[-7:], control]

    def move(self, episode_ids: Iterable[str], what: str, on_error: Callable[[str], None]) -> None:
        """Move episodes to the trash (``what`` names them: "the episode at 15:00")."""
        ids = list(episode_ids)
        if self._refuse(on_error) or not ids:
            return
        mem = self.ctx.memory
        self._run(lambda: mem.trash_episodes(ids, now=self.ctx.now()), lambda e: self._moved(what, e),
                  lambda msg: self._failed("move to the trash", msg, on_error))

    def move_day(self, day: date, what: str, on_error: Callable[[str], None]) -> None:
        """Move every episode of a day to the trash (one entry: one Undo)."""
        if self._refuse(on_error):
            return
        mem = self.ctx.memory
        self._run(lambda: mem.trash_day(day, now=self.ctx.now()), lambda e: self._moved(what, e),
                  lambda msg: self._failed("move to the trash", msg, on_error))

    def undo(self) -> None:
        """Restore what was last moved to the trash."""
        entry, self.undoable = self.undoable, None
        self.undo_changed.emit(False)
        if entry is not None:
            self.restore([entry.id], f"{_plural(len(entry.episodes), 'episode')}",
                         lambda msg: self.ctx.status(msg))

    def restore(self, ids: list[str], what: str, on_error: Callable[[str], None]) -> None:
        """Take trash entries (or episodes) out of the trash."""
        if self._refuse(on_error):
            return
        mem = self.ctx.memory
        self._run(lambda: mem.restore_from_trash(ids), lambda r: self._restored(what, r),
                  lambda msg: self._failed("restore", msg, on_error))

    def _refuse(self, on_error: Callable[[str], None]) -> bool:
        if self.read_only:
            on_error("This memory is open read-only (lifelog is already open on it): nothing can be changed here.")
        return self.read_only

    def _moved(self, what: str, entry: TrashEntry | None) -> None:
        if entry is None:
            self.ctx.status(f"Nothing moved: {what} is in the trash already (or the wait was cancelled).")
            return
        self.undoable = entry
        self.trashed.emit(entry)
        self.undo_changed.emit(True)
        self.ctx.changed("forgotten")  # every page reads the memory again: they are gone from it
        days = self.ctx.memory.settings.retention.trash_days
        self.ctx.status(f"Moved {what} to the trash ({_plural(len(entry.episodes), 'episode')}; "
                        f"restorable for {days} days).")

    def _restored(self, what: str, ids: list[str] | None) -> None:
        if ids is None:
            self.ctx.status("Nothing restored: cancelled while waiting for the memory.")
            return
        if self.undoable is not None and {e.id for e in self.undoable.episodes} <= set(ids):
            self.undoable = None
            self.undo_changed.emit(False)
        self.restored.emit(ids)
        self.ctx.changed("forgotten")
        self.ctx.status(f"Restored {what} from the trash.")

    def _failed(self, doing: str, msg: str, on_error: Callable[[str], None]) -> None:
        msg = f"Could not {doing}: {msg}"
        self.ctx.status(msg)
        on_error(msg)

    def before_close(self) -> None:
        for job in self.jobs:
            job.cancel()  # stops a wait for another writer


def trasher_for(ctx: AppContext) -> Trasher:
    """The one :class:`Trasher` of a window (a child of its task pools)."""
    found = ctx.tasks.findChild(Trasher)
    if isinstance(found, Trasher):
        return found
    return Trasher(ctx, parent=ctx.tasks)
