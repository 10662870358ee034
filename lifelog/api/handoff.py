"""Handing a command to the running ``lifelog service`` of the same memory (issue #18).

A cold ``lifelog ask`` spends most of its time importing (LanceDB's own import is ~2.5 s of
pydantic schema building) and loading the text encoder. When a ``lifelog service`` runs for the
memory, it has all of that loaded: the command sends it the question over a Unix socket in the
memory folder and prints what comes back — the same bytes the command would print itself
(the service formats them with the command's own code) and the same exit code.

* :data:`SOCKET` — ``<data>/run/service.sock``; the service binds it with the mode 0600 inside
  the private memory folder (0700);
* :func:`socket_path` — where it is, or None when the path is too long for ``AF_UNIX``;
* :func:`trusted_socket` — the socket is owned by this user, is a socket, and neither the socket
  nor its folder is open to others (never send a question to someone else's socket);
* :func:`send` — one request, one reply (JSON lines); None when no service answers (no socket,
  refused, timed out, another version), so the caller falls back to answering in-process.

The server side (:mod:`lifelog.serve.asks`) also checks the peer's user id (``SO_PEERCRED``).
This module imports only the standard library and :mod:`lifelog.paths`: importing it must not
cost what it is meant to save.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

SOCKET = "run/service.sock"
PROTOCOL = 1
MAX_MESSAGE = 16 * 1024 * 1024  # a reply with evidence can be large; a request is small
CONNECT_TIMEOUT_S = 0.5
REPLY_TIMEOUT_S = 120.0
_AF_UNIX_MAX = 107  # sun_path is 108 bytes with its NUL on Linux

__all__ = ["PROTOCOL", "SOCKET", "read_message", "resolve_data_dir", "send", "socket_path", "trusted_socket",
           "write_message"]


def resolve_data_dir(explicit: str | os.PathLike[str] | None) -> Path:
    """The memory folder a command would open (``--data-dir``, ``LIFELOG_HOME``, the chosen one)."""
    from lifelog.paths import data_dir

    return data_dir(explicit)


def socket_path(data_dir: Path | str) -> Path | None:
    path = Path(data_dir) / SOCKET
    return path if len(os.fsencode(path)) <= _AF_UNIX_MAX else None


def trusted_socket(path: Path) -> bool:
    """Owned by this user, a socket, mode 0600 or stricter, in a folder only this user can enter."""
    try:
        st = path.lstat()
        parent = path.parent.lstat()
    except OSError:
        return False
    uid = os.getuid()
    return (stat.S_ISSOCK(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o077
            and parent.st_uid == uid and not parent.st_mode & 0o022)


def write_message(sock: socket.socket, doc: dict[str, Any]) -> None:
    sock.sendall(json.dumps(doc, ensure_ascii=False).encode() + b"\n")


def read_message(sock: socket.socket, limit: int = MAX_MESSAGE) -> dict[str, Any] | None:
    """One JSON line; None when the peer closed first, sent too much or not an object."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        nl = chunk.find(b"\n")
        if nl >= 0:
            chunks.append(chunk[:nl])
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    try:
        doc = json.loads(b"".join(chunks))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def send(data_dir: Path | str, request: dict[str, Any], *,
         reply_timeout_s: float = REPLY_TIMEOUT_S) -> dict[str, Any] | None:
    """Send ``request`` to the memory's service; its reply, or None (then answer in-process)."""
    from lifelog import __version__

    path = socket_path(data_dir)
    if path is None or not trusted_socket(path):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT_S)
        sock.connect(os.fspath(path))
        sock.settimeout(reply_timeout_s)
        write_message(sock, {**request, "protocol": PROTOCOL, "version": __version__})
        reply = read_message(sock)
    except OSError:  # no service (a stale socket file), refused, timed out
        return None
    finally:
        sock.close()
    if reply is None or reply.get("ok") is not True:
        return None
    return reply
