"""The service's local socket: commands handed over by a cold ``lifelog`` process (issue #18).

``lifelog ask`` first tries ``<data>/run/service.sock`` (:mod:`lifelog.api.handoff`); this
component answers there with everything already loaded. What it runs is given to it by the
command layer (``handlers``: a name → a function of the request returning
``{"code", "stdout", "stderr"}``), so the reply is printed by the command's own code and is
byte for byte what the command would print in-process.

Safety: the socket is created inside ``<data>/run`` (0700) with the mode 0600 (umask set around
``bind``), every connection's peer must be this user (``SO_PEERCRED``), a request is one JSON line
of at most 64 KiB, and requests are answered one at a time (``lock``) so a burst cannot pile up
model work. A socket file left by a killed service is replaced at start (only when nothing answers
on it: a live service keeps its socket and this component reports it as taken).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lifelog.api.handoff import PROTOCOL, read_message, socket_path, write_message

log = logging.getLogger("lifelog.service")
Handler = Callable[[dict[str, Any]], dict[str, Any]]
MAX_REQUEST = 64 * 1024


def peer_uid(conn: socket.socket) -> int | None:
    """The user id of the process at the other end (Linux ``SO_PEERCRED``), or None."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    try:
        raw = conn.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


def _alive(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(os.fspath(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


class AskSocketComponent:
    """Answers handed-over commands on ``<data>/run/service.sock``."""

    name = "socket"

    def __init__(self, data_dir: Path, handlers: Mapping[str, Handler]) -> None:
        self.data_dir = Path(data_dir)
        self.handlers = dict(handlers)
        self.path = socket_path(self.data_dir)
        self.lock = threading.Lock()
        self.answered = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        if self.path is None:
            raise OSError(f"the memory folder's path is too long for a local socket: {self.data_dir}")
        run = self.path.parent
        run.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(run, 0o700)
        if self.path.exists() or self.path.is_symlink():
            if _alive(self.path):
                raise OSError("another service answers on this memory's socket")
            self.path.unlink()  # left by a killed service
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(os.fspath(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="lifelog-service-socket", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            threading.Thread(target=self._one, args=(conn,), name="lifelog-service-ask", daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            if peer_uid(conn) != os.getuid():
                log.warning("service socket: refused a connection from another user")
                return
            conn.settimeout(10.0)
            try:
                req = read_message(conn, MAX_REQUEST)
            except OSError:
                return
            reply = self.reply(req)
            conn.settimeout(None)
            with contextlib.suppress(OSError):  # the client gave up: it answers in-process
                write_message(conn, reply)

    def reply(self, req: dict[str, Any] | None) -> dict[str, Any]:
        from lifelog import __version__

        if req is None:
            return {"ok": False, "error": "not one JSON object"}
        if req.get("protocol") != PROTOCOL or req.get("version") != __version__:
            return {"ok": False, "error": "another version of lifelog"}
        if req.get("command") == "ping":  # is the service there? (the app watches it: ui/tray.py)
            return {"ok": True, "pid": os.getpid()}
        handler = self.handlers.get(str(req.get("command")))
        if handler is None:
            return {"ok": False, "error": "not handled here"}
        with self.lock:
            try:
                out = handler(req)
            except Exception as e:  # the client answers in-process instead
                log.exception("service socket: %s failed", req.get("command"))
                return {"ok": False, "error": str(e)}
            self.answered += 1
        log.info("answered a handed-over %s (exit %s)", req.get("command"), out.get("code"))
        return {"ok": True, **out}

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def status(self) -> str:
        if self._sock is None:
            return "stopped"
        return f"answering questions on {self.path} ({self.answered} so far)"
