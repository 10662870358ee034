"""The memory's single writer: one process at a time holds ``<data>/write.lock``.

Readers never wait (LanceDB reads a consistent version); every write — an import, a people
edit, a transcription, a re-index, a model switch — runs inside :func:`write_lock`. Background
work that must not fail just because the user is importing something else at the same moment
goes through :func:`when_writer_free`, the one cancellable "wait for the writer" loop.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

LOCK_NAME = "write.lock"

_T = TypeVar("_T")


class WriteLockBusy(RuntimeError):
    """Another lifelog process (or thread) is writing to this memory now."""


class WriterWaitCancelled(RuntimeError):
    """Cancelled while waiting for another writer to finish."""


@contextmanager
def write_lock(data_dir: Path, wait: bool = False) -> Iterator[None]:
    """Hold the memory's write lock; :class:`WriteLockBusy` at once when another holds it,
    unless ``wait`` (then block until it is free)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as e:
            raise WriteLockBusy(
                f"another lifelog process is writing to {data_dir} (an import is running); try again later"
            ) from e
        yield
    finally:
        os.close(fd)


def when_writer_free(
    fn: Callable[[], _T],
    cancel: threading.Event | None = None,
    *,
    poll_s: float = 2.0,
    give_up_s: float = 3600.0,
) -> _T:
    """``fn()``, tried again every ``poll_s`` while it raises :class:`WriteLockBusy`.

    Gives up (re-raising :class:`WriteLockBusy`) after ``give_up_s`` seconds of waiting; raises
    :class:`WriterWaitCancelled` as soon as ``cancel`` is set while waiting. ``fn`` takes the
    lock itself (e.g. ``memory.import_paths``), so nothing is held between tries.
    """
    deadline = time.monotonic() + give_up_s
    while True:
        try:
            return fn()
        except WriteLockBusy:
            if time.monotonic() >= deadline:
                raise
            if cancel is not None and cancel.is_set():
                raise WriterWaitCancelled("cancelled while waiting for another import to finish") from None
        left = max(0.0, deadline - time.monotonic())
        if cancel is not None:
            if cancel.wait(min(poll_s, left)):
                raise WriterWaitCancelled("cancelled while waiting for another import to finish")
        else:
            time.sleep(min(poll_s, left))
