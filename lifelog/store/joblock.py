"""Named job locks: one long job of a kind per memory at a time (``<data>/<name>.lock``).

The write lock (:mod:`lifelog.store.lock`) is taken per batch by long jobs so imports can
interleave; a job lock is held for the whole job, so a second job of the same kind (two
re-indexes at once) is refused at once instead of doing the same work twice.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class JobBusy(RuntimeError):
    """Another job of this kind runs on this memory now."""


@contextmanager
def job_lock(data_dir: Path, name: str, what: str) -> Iterator[None]:
    """Hold ``<data>/<name>.lock`` for the job; :class:`JobBusy` (saying ``what`` runs) when taken."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise JobBusy(f"{what} is already running on {data_dir}; wait for it to finish") from e
        yield
    finally:
        os.close(fd)
