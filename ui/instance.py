"""One app per memory folder: a lock file held for the app's lifetime.

``<data>/app.lock`` is locked with ``fcntl.flock`` (released by the kernel when the process ends,
even when it is killed, so a stale lock never blocks the next start). A second app started on the
same folder gets :class:`AlreadyRunning` with a clear message and must not open a writer; the
process id of the first app is written into the file so the message can name it.

A folder that cannot be written (a read-only disk or mount, no permission) cannot hold the lock:
:meth:`InstanceLock.acquire` then returns a lock with ``read_only=True`` and the app opens the
memory for browsing only (its Import page refuses with a clear message).

A second start on the same folder first knocks (:func:`knock`) on the first app's :class:`FrontDoor`
(a ``QLocalServer`` in the memory folder): the first app brings its window to the front (also
out of the tray) and the second exits quietly. Only when nobody answers (the holder is not an
app: a test, an older version) is the message shown.

The import's own ``write.lock`` (``lifelog.store.lock.write_lock``) still guards every
write, so the CLI and the app never write at the same time either.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# ---------------------------------------------------------------- bringing the first app to the front
FRONT_SOCKET = "run/app.sock"
KNOCK = b"front\n"


def front_socket(data_dir: Path) -> Path:
    return Path(data_dir) / FRONT_SOCKET


def knock(data_dir: Path, timeout_ms: int = 2000) -> bool:
    """Ask the app that holds this memory to bring its window to the front; True when it said it
    did. Only a socket owned by this user, private, in the private memory folder is used."""
    from lifelog.api.handoff import trusted_socket
    from ui.qt import QLocalSocket

    path = front_socket(data_dir)
    if not trusted_socket(path):
        return False
    sock = QLocalSocket()
    sock.connectToServer(str(path))
    if not sock.waitForConnected(timeout_ms):
        return False
    try:
        sock.write(KNOCK)
        sock.flush()
        if not sock.waitForReadyRead(timeout_ms):
            return False
        return bytes(sock.readAll().data()).startswith(b"ok")
    finally:
        sock.disconnectFromServer()


class FrontDoor:
    """The first app's end of :func:`knock`: a ``QLocalServer`` on ``<data>/run/app.sock``
    (mode 0700 via ``UserAccessOption``, in the 0700 memory folder); ``on_knock`` is called on the
    UI thread for each knock. Only the holder of the instance lock opens it, so a socket file
    found there was left by a killed app and is replaced."""

    def __init__(self, data_dir: Path, on_knock: Callable[[], None]) -> None:
        from ui.qt import QLocalServer

        self.path = front_socket(data_dir)
        self.on_knock = on_knock
        self.knocks = 0
        self.server = QLocalServer()
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        QLocalServer.removeServer(str(self.path))  # a stale socket of a killed app
        self.listening = bool(self.server.listen(str(self.path)))
        self.server.newConnection.connect(self._connection)

    def _connection(self) -> None:
        while self.server.hasPendingConnections():
            conn = self.server.nextPendingConnection()
            if conn is None:
                return
            conn.readyRead.connect(lambda c=conn: self._read(c))
            conn.disconnected.connect(conn.deleteLater)

    def _read(self, conn: Any) -> None:
        if bytes(conn.readAll().data()).startswith(KNOCK.strip()):
            self.knocks += 1
            conn.write(b"ok\n")
            conn.flush()
            self.on_knock()

    def close(self) -> None:
        if self.listening:
            self.server.close()  # removes the socket file
            self.listening = False
