"""The bulk port: upload bodies over blocking TLS sockets on threads, for speed.

The main port (aiohttp) decrypts TLS inside asyncio through a Python-level memory BIO, which on
a small machine tops out well below a disk copy. Upload bodies are the only bulk traffic, so
the receiver also listens on a second port that takes exactly one request per connection,
``PUT /api/v1/uploads/{id}``, with the same headers, answers and checks as the main port's PUT
(the same :meth:`~lifelog.sources.wifi.uploads.UploadRoutes.begin_put` /
:meth:`~lifelog.sources.wifi.uploads.UploadRoutes.after_body` code, reached through the
:class:`~lifelog.sources.wifi.common.PutHandler` protocol and run on the event loop). Here the
body is received with ``SSLSocket.recv_into`` into large buffers and handed down a pipeline —
receive → SHA-256 → write → background ``fdatasync`` — whose stages each run on their own
thread and release the GIL, so decrypting, hashing and writing overlap on the cores. The
pipeline (:class:`BodyWriter`) also serves the main port's bodies.

Bounds: at most ``ReceiverLimits.max_bulk_connections`` connections at once (more are closed at
once; a client then uses the main port), a handshake timeout, a header size limit and a read
timeout. Everything but the transport is shared with the main port, so authentication, limits,
hostile-input refusals, partial consistency and resumability are the same. The main port keeps
accepting PUTs: the bulk port is an optimisation a client may ignore (or that a firewall may
block).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import mmap
import os
import queue
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from aiohttp import web

    from lifelog.sources.wifi.common import PutHandler, ReceiverLimits, Upload

log = logging.getLogger("lifelog.wifi")

MAX_HEAD_BYTES = 16 * 1024
BUF_BYTES = 4 * 1024 * 1024  # one receive buffer
BUFFERS = 4  # in flight between the stages: 16 MiB per upload (256 MiB at 16 uploads at once)
FLUSH_EVERY = 64 * 1024 * 1024  # start writing back to disk every this many bytes
_HAS_PWRITE = hasattr(os, "pwrite")
ALIGN = 4096  # O_DIRECT alignment of memory, file offsets and lengths (covers 512 and 4 KiB sectors)
_PUT_PATH = re.compile(r"^/api/v1/uploads/([^/?#]{1,64})$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_DIGITS = re.compile(r"^[0-9]{1,19}$")  # (str.isdigit() also takes "²", which int() refuses)
_REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 409: "Conflict", 411: "Length Required", 413: "Payload Too Large",
            422: "Unprocessable Entity", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
            503: "Service Unavailable", 505: "HTTP Version Not Supported"}

T = TypeVar("T")


class Headers(Mapping[str, str]):
    """Request headers, looked up case-insensitively."""

    def __init__(self, items: dict[str, str]) -> None:
        self._d = {k.lower(): v for k, v in items.items()}

    def __getitem__(self, key: str) -> str:
        return self._d[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._d.get(key.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)


@dataclass(frozen=True)
class BulkRequest:
    """A parsed request head (what :class:`~lifelog.sources.wifi.common.RequestLike` reads)."""

    method: str
    path: str
    remote: str | None
    headers: Headers


class HeadRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_head(sock: ssl.SSLSocket, timeout_s: float, limit: int = MAX_HEAD_BYTES) -> tuple[bytes, bytes]:
    """The request head (up to the blank line) and whatever body bytes came with it; the whole
    head must arrive within ``timeout_s`` (a byte now and then does not keep a thread busy)."""
    deadline = time.monotonic() + timeout_s
    buf = b""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            return buf[:end], buf[end + 4:]
        if len(buf) > limit:
            raise HeadRefused(431, f"request head over {limit} bytes")
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request head too slow")
        sock.settimeout(left)
        b = sock.recv(65536)
        if not b:
            raise ConnectionError("closed before a request")
        buf += b


def parse_head(head: bytes, remote: str | None) -> BulkRequest:
    """A strict HTTP/1.1 request head; :class:`HeadRefused` for anything odd."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError as e:
        raise HeadRefused(400, "request head is not ASCII") from e
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1].startswith("/"):
        raise HeadRefused(400, "malformed request line")
    if parts[2] != "HTTP/1.1":
        raise HeadRefused(505, "only HTTP/1.1 is spoken here")
    items: dict[str, str] = {}
    for ln in lines[1:]:
        name, sep, value = ln.partition(":")
        if not sep or not _TOKEN.match(name) or any(c in value for c in "\r\n\x00"):
            raise HeadRefused(400, "malformed header line")
        if name.lower() in (k.lower() for k in items):
            shown = name if len(name) <= 40 else f"{name[:40]}…"  # never echo much of a request back
            raise HeadRefused(400, f"header {shown} given twice")
        items[name] = value.strip(" \t")
    return BulkRequest(parts[0], parts[1], remote, Headers(items))


def response_bytes(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    for k, v in (headers or {}).items():
        if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
            lines.append(f"{k}: {v}")
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def aiohttp_response_bytes(resp: web.Response) -> bytes:
    body = resp.body
    raw = bytes(body) if isinstance(body, bytes | bytearray | memoryview) else b""
    hdrs = dict(resp.headers)
    if resp.content_type and "Content-Type" not in hdrs:
        hdrs["Content-Type"] = resp.content_type
    return response_bytes(resp.status, raw, hdrs)


def json_error(status: int, message: str) -> bytes:
    import json

    return response_bytes(status, json.dumps({"error": message}).encode("utf-8"),
                          {"Content-Type": "application/json; charset=utf-8"})


def open_direct(path: Path) -> int | None:
    """A second descriptor on ``path`` that bypasses the page cache (``O_DIRECT``), or None where
    the platform or the file system has no such thing (then every write is buffered)."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, os.O_WRONLY | flag)
    except OSError:  # tmpfs and some FUSE file systems refuse O_DIRECT
        return None


class BodyWriter:
    """Hashes and writes a body in order while the caller receives the next bytes.

    Stages on their own threads: ``hasher.update`` → write. Where the file system allows, the
    block-aligned middle of each buffer is written with ``O_DIRECT``: straight from the buffer
    to the disk, without copying it into the page cache or leaving gigabytes of dirty pages for
    the final fsync (a copy-heavy, CPU-bound cost on a small machine); the unaligned edges go
    through the page cache. Without ``O_DIRECT`` everything is buffered and a background thread
    starts writeback every :data:`FLUSH_EVERY` bytes, so the final fsync has little left to do.

    Buffers go round a bounded free list, which is the back-pressure: the receiver waits when
    the disk or the hash falls behind. Writes happen strictly in order; after a write error
    nothing more is written, so the file stays an exact prefix of the body.
    """

    def __init__(self, fd: int, pos: int, hasher: Any, direct_fd: int | None = None,
                 buffers: int = BUFFERS, buf_bytes: int = BUF_BYTES) -> None:
        self.fd = fd
        self.direct_fd = direct_fd
        self.pos = pos  # where the next byte goes
        self.hasher = hasher
        self.written = 0
        self.error: BaseException | None = None
        self._free: queue.Queue[mmap.mmap] = queue.Queue()
        for _ in range(buffers):
            self._free.put(mmap.mmap(-1, buf_bytes))  # page-aligned, as O_DIRECT needs
        self._hash_q: queue.Queue[tuple[mmap.mmap, int, int] | None] = queue.Queue()
        self._write_q: queue.Queue[tuple[mmap.mmap, int, int] | None] = queue.Queue()
        self._flush = threading.Event()
        self._done = threading.Event()
        self._threads = [
            threading.Thread(target=self._hash_loop, name="lifelog-wifi-hash", daemon=True),
            threading.Thread(target=self._write_loop, name="lifelog-wifi-write", daemon=True),
        ]
        if direct_fd is None:
            self._threads.append(threading.Thread(target=self._flush_loop, name="lifelog-wifi-flush", daemon=True))
        for t in self._threads:
            t.start()

    def buffer(self) -> mmap.mmap:
        """A free buffer to receive into (waits while all are in the pipeline)."""
        return self._free.get()

    def take_nowait(self) -> mmap.mmap | None:
        """A free buffer if one is free now (for callers that must not block), else None."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return None

    def submit(self, buf: mmap.mmap, start: int, n: int) -> None:
        """``buf[start:start + n]`` are the next bytes of the body."""
        if n:
            self._hash_q.put((buf, start, n))
        else:
            self._free.put(buf)

    def close(self) -> int:
        """Wait for every submitted byte to be hashed and written; the bytes written."""
        self._hash_q.put(None)
        self._threads[0].join()
        self._threads[1].join()
        self._done.set()
        self._flush.set()
        for t in self._threads[2:]:
            t.join()
        return self.written

    def _hash_loop(self) -> None:
        while (item := self._hash_q.get()) is not None:
            buf, start, n = item
            with memoryview(buf) as mv:
                self.hasher.update(mv[start:start + n])
            self._write_q.put(item)
        self._write_q.put(None)

    def _write_loop(self) -> None:
        since_flush = 0
        while (item := self._write_q.get()) is not None:
            buf, start, n = item
            if self.error is None:
                try:
                    with memoryview(buf) as mv:
                        self._write(mv[start:start + n], start)
                    since_flush += n
                    if since_flush >= FLUSH_EVERY and self.direct_fd is None:
                        since_flush = 0
                        self._flush.set()
                except OSError as e:  # disk full: stop writing; the part stays a prefix
                    self.error = e
            self._free.put(buf)

    def _write(self, mv: memoryview, mem_off: int) -> None:
        """Write ``mv`` at :attr:`pos`. ``mem_off`` is its offset in its page-aligned buffer,
        congruent to :attr:`pos` modulo :data:`ALIGN` (the receiver keeps it so)."""
        n = len(mv)
        head = (-self.pos) % ALIGN if self.direct_fd is not None else n
        head = min(head, n)
        mid = (n - head) // ALIGN * ALIGN if self.direct_fd is not None and mem_off % ALIGN == self.pos % ALIGN else 0
        if mid:
            self._pwrite(self.fd, mv[:head])
            try:
                self._pwrite(self.direct_fd, mv[head:head + mid])
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                self.direct_fd = None  # stricter alignment than we keep: buffered from now on
                self._pwrite(self.fd, mv[head:head + mid])
            self._pwrite(self.fd, mv[head + mid:])
        else:
            self._pwrite(self.fd, mv)

    def _pwrite(self, fd: int | None, mv: memoryview) -> None:
        assert fd is not None
        done = 0
        while done < len(mv):
            if _HAS_PWRITE:
                done += os.pwrite(fd, mv[done:], self.pos + done)
            else:  # Windows: one writer thread, so seek + write is as good
                os.lseek(fd, self.pos + done, os.SEEK_SET)
                done += os.write(fd, mv[done:])
        self.pos += done
        self.written += done

    def _flush_loop(self) -> None:
        while True:
            self._flush.wait()
            self._flush.clear()
            if self._done.is_set():
                return
            with contextlib.suppress(OSError):  # best effort: the final fsync is the one that counts
                _datasync(self.fd)


def _datasync(fd: int) -> None:
    sync = getattr(os, "fdatasync", os.fsync)  # macOS and Windows have fsync only
    sync(fd)


def receive_body(
    sock: ssl.SSLSocket, fd: int, pos: int, hasher: Any, clen: int, first: bytes, read_timeout_s: float,
    direct_fd: int | None = None,
) -> tuple[int, int, str | None]:
    """Receive ``clen`` body bytes (``first`` already read) into ``fd`` from byte ``pos``.

    Returns (bytes received, bytes written, error or None). Bytes that arrived before a cut are
    written; nothing past ``clen`` is ever read. Each buffer is filled from the offset that
    keeps it aligned with the file (see :meth:`BodyWriter._write`).
    """
    w = BodyWriter(fd, pos, hasher, direct_fd)
    got = 0
    error: str | None = None
    try:
        sock.settimeout(read_timeout_s)
        while got < clen:
            buf = w.buffer()
            start = (pos + got) % ALIGN
            fill = 0
            want = min(len(buf) - start, clen - got)
            try:
                if first:
                    take = first[:want]
                    buf[start:start + len(take)] = take
                    first = first[len(take):]
                    fill = len(take)
                with memoryview(buf) as mv:
                    while fill < want:
                        n = sock.recv_into(mv[start + fill:start + want])
                        if not n:
                            raise EOFError("the sender closed the connection")
                        fill += n
            finally:
                w.submit(buf, start, fill)
                got += fill
    except TimeoutError:
        error = f"no data for {read_timeout_s:.0f} s; resume from the offset"
    except (EOFError, OSError) as e:  # the sender went away or lied about Content-Length
        error = f"body ended early after {got} of {clen} bytes ({type(e).__name__}); resume from the offset"
    finally:
        written = w.close()
    if w.error is not None and error is None:
        error = f"could not store the upload: {w.error}"
    return got, written, error


class BulkServer:
    """The bulk port's acceptor and its per-connection threads."""

    def __init__(
        self,
        puts: PutHandler,
        loop: asyncio.AbstractEventLoop,
        context: ssl.SSLContext,
        limits: ReceiverLimits,
    ) -> None:
        self.puts = puts  # the checks and answers around a body, shared with the main port
        self.loop = loop
        self.context = context
        self.limits = limits
        self.port = 0
        self.refused_connections = 0
        self.bodies = 0  # upload bodies received here (requests that passed the checks)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._conns: dict[socket.socket, tuple[int, threading.Thread]] = {}  # accepted socket → fd, thread
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self, host: str, port: int) -> int:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host or "0.0.0.0", port))
        except OSError:
            if port == 0:
                s.close()
                raise
            s.bind((host or "0.0.0.0", 0))  # the preferred port is taken: any free one
        s.listen(128)
        s.settimeout(0.25)
        self._sock = s
        self.port = int(s.getsockname()[1])
        self._thread = threading.Thread(target=self._accept_loop, name="lifelog-wifi-bulk", daemon=True)
        self._thread.start()
        return self.port

    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        with self._lock:  # (held: a connection closes its descriptor under it, so fd is still its)
            conns = dict(self._conns)
            for fd, _t in conns.values():  # wake threads blocked in a handshake or a recv
                # Shut the descriptor down (the TLS socket took it over from the accepted one;
                # its own shutdown would also drop the TLS state another thread is using): the
                # blocked call returns as if the peer had gone; the upload ends as a cut.
                with contextlib.suppress(OSError):
                    s = socket.socket(fileno=fd)
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    finally:
                        s.detach()  # the connection's thread still owns and closes it
        for _fd, t in conns.values():
            t.join(timeout)

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                raw, addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            with self._lock:
                if len(self._conns) >= self.limits.max_bulk_connections or self._stop.is_set():
                    self.refused_connections += 1
                    raw.close()
                    continue
                t = threading.Thread(target=self._serve, args=(raw, addr), name="lifelog-wifi-bulk-conn", daemon=True)
                self._conns[raw] = (raw.fileno(), t)
            t.start()

    # ------------------------------------------------------------ on the loop
    def _on_loop(self, fn: Callable[..., T], *args: Any) -> T:
        async def call() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result()

    def _await_on_loop(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    # ------------------------------------------------------------- a request
    def _serve(self, raw: socket.socket, addr: Any) -> None:
        tls: ssl.SSLSocket | None = None
        try:
            raw.settimeout(self.limits.handshake_timeout_s)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.context.wrap_socket(raw, server_side=True)  # takes over raw's descriptor
            if self._stop.is_set():
                return
            tls.sendall(self._handle(tls, str(addr[0]) if addr else None))
        except (OSError, ssl.SSLError, ConnectionError):
            pass  # a failed handshake, a peer that went away: nothing to answer
        except Exception:
            log.exception("bulk upload connection failed")
        finally:
            with self._lock:
                with contextlib.suppress(OSError):
                    (tls or raw).close()
                self._conns.pop(raw, None)

    def _handle(self, tls: ssl.SSLSocket, remote: str | None) -> bytes:
        from aiohttp import web

        puts = self.puts
        try:
            head, first = read_head(tls, self.limits.handshake_timeout_s)
            req = parse_head(head, remote)
        except HeadRefused as e:
            return json_error(e.status, str(e))
        except TimeoutError:
            return json_error(408, "no request head in time")
        m = _PUT_PATH.match(req.path)
        if m is None:
            return json_error(404, "the bulk port takes PUT /api/v1/uploads/{id} only")
        if req.method != "PUT":
            return response_bytes(405, b'{"error": "only PUT here"}', {"Allow": "PUT",
                                                                       "Content-Type": "application/json"})
        raw_len = req.headers.get("Content-Length")
        if raw_len is not None and not _DIGITS.match(raw_len):
            return json_error(400, "Content-Length must be a whole number")
        clen = int(raw_len) if raw_len is not None else None
        began = self._on_loop(puts.begin_put, req, m.group(1), clen)
        if isinstance(began, web.Response):
            return aiohttp_response_bytes(began)
        dev, up = began
        self.bodies += 1
        try:
            if req.headers.get("Expect", "").lower() == "100-continue":
                tls.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            err = self._receive(tls, up, int(clen or 0), first)
            resp = self._await_on_loop(puts.after_body(req, dev, up, err))
        finally:
            self._on_loop(puts.end_put, dev, up)
        return aiohttp_response_bytes(resp)

    def _receive(self, tls: ssl.SSLSocket, up: Upload, clen: int, first: bytes) -> str | None:
        start = up.offset()
        h = self.puts.hasher_at(up, start)
        direct = open_direct(up.part) if self.puts.direct_io else None
        try:
            with open(up.part, "r+b", buffering=0) as f:
                got, written, error = receive_body(tls, f.fileno(), start, h, clen, first,
                                                   self.limits.read_timeout_s, direct)
                f.truncate(start + written)
                os.fsync(f.fileno())  # the offset HEAD reports survives a crash or power cut
        finally:
            if direct is not None:
                os.close(direct)
        if written != got:  # a write failed: the hash state no longer matches the file
            up.hasher, up.hashed = None, 0
        else:
            up.hashed = start + written
        if error is None and got < clen:
            error = f"body ended after {got} of {clen} bytes declared in Content-Length"
        return error
