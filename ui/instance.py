"""One app per memory folder: a lock file held for the app's lifetime.

``<data>/app.lock`` is locked with ``fcntl.flock`` (released by the kernel when the process ends,
even when it is killed, so a stale lock never blocks the next start). A second app started on the
same folder gets :class:`AlreadyRunning` with a clear message and must not open a writer; the
process id of the first app is written into the file so the message can name it.

A folder that cannot be written (a read-only disk or mount, no permission) cannot hold the lock:
:meth:`InstanceLock.acquire` then returns a lock with ``read_only=True`` and the app opens the
memory for browsing only (its Import page refuses with a clear message).

The import's own ``write.lock`` (``lifelog.store.lock.write_lock``) still guards every
write, so the CLI and the app never write at the same time either.
"""

from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

LOCK_FILE = "app.lock"


class AlreadyRunning(RuntimeError):
    """Another lifelog app has this memory folder open."""


@dataclass
class InstanceLock:
    data_dir: Path
    fd: int | None
    read_only: bool = False

    @classmethod
    def acquire(cls, data_dir: Path) -> InstanceLock:
        """Take the folder's app lock, or raise :class:`AlreadyRunning`."""
        data_dir = Path(data_dir)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                return cls(data_dir, None, read_only=True)
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_pid(fd)
            os.close(fd)
            who = f" (process {other})" if other else ""
            raise AlreadyRunning(
                f"lifelog is already open on the memory at {data_dir}{who}. Switch to that window, "
                "or close it first; two apps must not write to one memory."
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass  # the pid is only for the message; the lock is what counts
        return cls(data_dir, fd)

    def release(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(raw) if raw.isdigit() else None
    except OSError:
        return None
