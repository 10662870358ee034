"""The companion client: pairs from a ``lifelog://pair`` URI, pins the receiver's certificate,
asks which files the desktop already has, and uploads with resume.

Used by the tests and ``bench/sync.py``, and a reference for companion-app developers: every
step here is a plain HTTPS request described in docs/wifi.md. Standard library only
(``http.client`` + ``ssl``), synchronous. Upload bodies go to the receiver's bulk port when it
offers one (``bulk_port``; ``Expect: 100-continue``, the file sent in 4 MiB reads), else — or
when that port cannot be reached — to the main port.

Pinning: the TLS handshake accepts any certificate, then — before a single byte of a request is
sent — the SHA-256 of the server's certificate is compared with the pinned fingerprint and the
connection is dropped on a mismatch (:class:`~lifelog.sources.wifi.tls.FingerprintMismatch`).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from lifelog.sources.wifi.tls import FingerprintMismatch, check_peer, client_context, normalize_fingerprint

__all__ = ["CompanionClient", "FingerprintMismatch", "Pairing", "ReceiverError", "UploadInterrupted"]

DEFAULT_CHUNK = 256 * 1024 * 1024
SEND_BUF = 4 * 1024 * 1024


class ReceiverError(Exception):
    """The receiver answered with an error status (its JSON ``error`` is the message)."""

    def __init__(self, status: int, message: str, doc: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.doc = doc or {}


class UploadInterrupted(Exception):
    """The connection broke during an upload; :meth:`CompanionClient.upload` again resumes it."""


@dataclass(frozen=True)
class Pairing:
    base_url: str
    fingerprint: str
    device_id: str
    credential: str
    name: str

    def to_json(self) -> dict[str, str]:
        return {
            "base_url": self.base_url,
            "fingerprint": self.fingerprint,
            "device_id": self.device_id,
            "credential": self.credential,
            "name": self.name,
        }


class _PinnedConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, fingerprint: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=client_context(), blocksize=1024 * 1024)
        self._fingerprint = fingerprint

    def connect(self) -> None:
        super().connect()
        try:
            check_peer(self.sock, self._fingerprint)
        except FingerprintMismatch:
            self.sock.close()
            raise


class _Window:
    """``n`` bytes of a file from its current position, as a file-like body."""

    def __init__(self, f: Any, n: int) -> None:
        self.f, self.left = f, n

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size < 0 else min(size, self.left)
        b: bytes = self.f.read(size)
        self.left -= len(b)
        return b


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(4 * 1024 * 1024):
            h.update(b)
    return h.hexdigest()


class CompanionClient:
    def __init__(self, base_url: str, fingerprint: str, credential: str | None = None, timeout: float = 600) -> None:
        u = urlparse(base_url)
        if u.scheme != "https" or not u.hostname:
            raise ValueError("the receiver's address must be https://HOST:PORT")
        self.base_url = base_url.rstrip("/")
        self.host = u.hostname
        self.port = u.port or 443
        self.fingerprint = normalize_fingerprint(fingerprint)
        self.credential = credential
        self.timeout = timeout
        self._conn: _PinnedConnection | None = None
        self._sha_cache: dict[tuple[str, int, int], str] = {}
        self.use_bulk = True  # send bodies to the receiver's bulk port when it offers one
        self._bulk_port: int | None = None

    # --------------------------------------------------------------- plumbing
    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> CompanionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> _PinnedConnection:
        if self._conn is None:
            self._conn = _PinnedConnection(self.host, self.port, self.fingerprint, self.timeout)
            self._conn.connect()  # pins before anything is sent
        return self._conn

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {"Accept": "application/json"}
        if self.credential:
            h["Authorization"] = f"Bearer {self.credential}"
        h.update(extra or {})
        return h

    def request(
        self, method: str, path: str, doc: Any = None, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        hdrs = self._headers(headers)
        if doc is not None:
            body = json.dumps(doc).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # a kept-alive connection the server closed: one fresh try when safe
                if attempt or (body is not None and not isinstance(body, bytes)):
                    raise
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, _parse(raw)

    def _check(self, status: int, doc: dict[str, Any], ok: tuple[int, ...] = (200, 201)) -> dict[str, Any]:
        if status not in ok:
            raise ReceiverError(status, str(doc.get("error") or doc.get("text") or "error"), doc)
        return doc

    # ----------------------------------------------------------------- API
    def info(self) -> dict[str, Any]:
        s, _h, d = self.request("GET", "/api/v1/info")
        return self._check(s, d)

    def pair(self, device_name: str, token: str | None = None, pin: str | None = None) -> Pairing:
        body: dict[str, Any] = {"device_name": device_name}
        if token is not None:
            body["token"] = token
        if pin is not None:
            body["pin"] = pin
        s, _h, d = self.request("POST", "/api/v1/pair", doc=body)
        d = self._check(s, d)
        self.credential = str(d["credential"])
        return Pairing(self.base_url, self.fingerprint, str(d["device_id"]), self.credential, str(d["name"]))

    @classmethod
    def pair_with_uri(cls, uri: str, device_name: str, timeout: float = 600) -> tuple[CompanionClient, Pairing]:
        from lifelog.sources.wifi.pairing import parse_uri

        p = parse_uri(uri)
        client = cls(p.base_url, p.fingerprint, timeout=timeout)
        return client, client.pair(device_name, token=p.token)

    @classmethod
    def from_pairing(cls, pairing: Pairing, timeout: float = 600) -> CompanionClient:
        return cls(pairing.base_url, pairing.fingerprint, pairing.credential, timeout=timeout)

    def sha256(self, path: Path) -> str:
        st = path.stat()
        key = (os.fspath(path), st.st_size, st.st_mtime_ns)
        if key not in self._sha_cache:
            self._sha_cache[key] = file_sha256(path)
        return self._sha_cache[key]

    def have(self, paths: list[Path]) -> set[Path]:
        """The files the desktop already holds (by SHA-256)."""
        files = [{"sha256": self.sha256(p), "size": p.stat().st_size, "name": p.name} for p in paths]
        s, _h, d = self.request("POST", "/api/v1/have", doc={"files": files})
        have = set(self._check(s, d).get("have") or [])
        return {p for p in paths if self.sha256(p) in have}

    def create_upload(self, path: Path, name: str | None = None) -> dict[str, Any]:
        doc = {"name": name or path.name, "size": path.stat().st_size, "sha256": self.sha256(path)}
        s, _h, d = self.request("POST", "/api/v1/uploads", doc=doc)
        d = self._check(s, d)
        port = d.get("bulk_port")
        self._bulk_port = port if self.use_bulk and isinstance(port, int) and 0 < port < 65536 else None
        return d

    def settled_offset(self, upload_id: str, wait_s: float = 60.0) -> int:
        """The resume offset once no chunk of the upload is still being received."""
        import time

        deadline = time.monotonic() + wait_s
        while True:
            s, h, d = self.request("HEAD", f"/api/v1/uploads/{quote(upload_id)}")
            self._check(s, d, (200,))
            if h.get("upload-busy") != "1" or time.monotonic() > deadline:
                return int(h["upload-offset"])
            time.sleep(0.1)

    def offset(self, upload_id: str) -> int:
        s, h, d = self.request("HEAD", f"/api/v1/uploads/{quote(upload_id)}")
        self._check(s, d, (200,))
        return int(h["upload-offset"])

    def upload(
        self,
        path: Path,
        name: str | None = None,
        chunk: int = DEFAULT_CHUNK,
        cut_at: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Send ``path`` (resuming where the receiver stands) and return the receiver's answer:
        ``{"status": "imported"|"skipped"|"failed"|"busy", "import": {...}, …}``.

        ``cut_at`` simulates the connection dropping once that byte offset was sent
        (:class:`UploadInterrupted`); a second call resumes.
        """
        path = Path(path)
        size = path.stat().st_size
        created = self.create_upload(path, name)
        if created.get("have"):
            return {"status": "skipped", "have": True}
        upload_id = str(created["upload_id"])
        offset = self.settled_offset(upload_id)  # a chunk cut a moment ago may still be landing
        if offset >= size:  # all bytes are there; the import was pending: ask for it again
            return self._put(upload_id, None, 0, size, offset)
        with open(path, "rb") as f:
            while offset < size:
                # No tiny last chunk: a remainder under a quarter chunk rides along (one request,
                # one connection and one fsync fewer).
                end = size if size - offset <= chunk + chunk // 4 else offset + chunk
                f.seek(offset)
                if cut_at is not None and offset <= cut_at < end:
                    self._cut(upload_id, f, offset, end, size, cut_at)
                try:
                    result = self._put_chunk(upload_id, f, end - offset, size, offset)
                except ReceiverError as e:
                    if e.status != 409:
                        raise
                    offset = self.settled_offset(upload_id)  # the receiver stands elsewhere: follow it
                    continue
                offset = int(result.get("offset", end))
                if progress is not None:
                    progress(offset, size)
                if "status" in result:
                    return result
        return result

    def _put_chunk(self, upload_id: str, f: Any, n: int, size: int, offset: int) -> dict[str, Any]:
        """One chunk from ``f``'s position: on the bulk port when offered and reachable, else on
        the main port."""
        if self._bulk_port is not None:
            try:
                return self._put_bulk(upload_id, f, n, size, offset)
            except _BulkUnreachable:
                self._bulk_port = None  # a firewall, an old receiver: the main port takes PUTs too
                f.seek(offset)
        return self._put(upload_id, _Window(f, n), n, size, offset)

    def _bulk_connect(self) -> ssl.SSLSocket:
        assert self._bulk_port is not None
        try:
            raw = socket.create_connection((self.host, self._bulk_port), timeout=min(self.timeout, 30))
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock = client_context().wrap_socket(raw)
        except (OSError, ssl.SSLError) as e:
            raise _BulkUnreachable(str(e)) from e
        try:
            check_peer(sock, self.fingerprint)  # pinned before a byte of the request is sent
        except FingerprintMismatch:
            sock.close()
            raise
        sock.settimeout(self.timeout)
        return sock

    def _bulk_head(self, upload_id: str, n: int, size: int, offset: int) -> bytes:
        rng = f"bytes {offset}-{offset + n - 1}/{size}" if n else f"bytes */{size}"
        hdrs = self._headers({"Content-Range": rng, "Content-Length": str(n), "Expect": "100-continue",
                              "Content-Type": "application/octet-stream", "Host": self.host})
        lines = [f"PUT /api/v1/uploads/{quote(upload_id)} HTTP/1.1", *(f"{k}: {v}" for k, v in hdrs.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _put_bulk(self, upload_id: str, f: Any, n: int, size: int, offset: int) -> dict[str, Any]:
        """``PUT`` on the bulk port: headers, wait for ``100 Continue`` (or the refusal), then the
        body straight from the file in large buffers."""
        sock = self._bulk_connect()
        try:
            try:
                sock.sendall(self._bulk_head(upload_id, n, size, offset))
                reader = _ResponseReader(sock)
                status, doc = reader.read()
            except (OSError, ConnectionError) as e:
                raise _BulkUnreachable(str(e)) from e  # nothing of the body was sent: no harm
            if status == 100:
                try:
                    _send_file(sock, f, n)
                    status, doc = reader.read()
                except (OSError, ConnectionError) as e:
                    raise UploadInterrupted(f"connection lost while uploading: {e}") from e
        finally:
            sock.close()
        if (status, doc.get("status")) in ((422, "failed"), (503, "busy")):
            return doc
        return self._check(status, doc)

    def _put(self, upload_id: str, body: Any, n: int, size: int, offset: int) -> dict[str, Any]:
        rng = f"bytes {offset}-{offset + n - 1}/{size}" if n else f"bytes */{size}"
        headers = {"Content-Range": rng, "Content-Length": str(n), "Content-Type": "application/octet-stream"}
        try:
            s, _h, d = self.request("PUT", f"/api/v1/uploads/{quote(upload_id)}", body=body or b"", headers=headers)
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise UploadInterrupted(f"connection lost while uploading: {e}") from e
        if (s, d.get("status")) in ((422, "failed"), (503, "busy")):
            # The bytes arrived and were verified; the import refused them (failed) or has to wait
            # (busy: call upload() again later — nothing is re-sent). The receiver's answer.
            return d
        return self._check(s, d)

    def _cut(self, upload_id: str, f: Any, offset: int, end: int, size: int, cut_at: int) -> None:
        """Declare the chunk, send it up to ``cut_at``, then drop the connection (a simulated cut)."""
        if self._bulk_port is not None:
            sock = self._bulk_connect()
            sock.sendall(self._bulk_head(upload_id, end - offset, size, offset))
            status, doc = _ResponseReader(sock).read()
            if status != 100:
                sock.close()
                self._check(status, doc)
            _send_file(sock, f, cut_at - offset)
            _hang_up(sock)
            raise UploadInterrupted(f"connection cut after byte {cut_at}")
        conn = self._connection()
        conn.putrequest("PUT", f"/api/v1/uploads/{quote(upload_id)}")
        for k, v in self._headers(
            {"Content-Range": f"bytes {offset}-{end - 1}/{size}", "Content-Length": str(end - offset)}
        ).items():
            conn.putheader(k, v)
        conn.endheaders()
        left = cut_at - offset
        while left > 0:
            b = f.read(min(left, 1024 * 1024))
            conn.send(b)
            left -= len(b)
        assert conn.sock is not None
        _hang_up(conn.sock)
        self.close()
        raise UploadInterrupted(f"connection cut after byte {cut_at}")


class _BulkUnreachable(Exception):
    """The bulk port could not be reached before any body byte was sent."""


def _hang_up(sock: Any) -> None:
    """End the stream after exactly the bytes sent, then wait for the receiver to hang up, so
    every byte sent arrives (closing at once could reset the connection and drop them)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(30)
        while sock.recv(65536):
            pass
    sock.close()


def _send_file(sock: ssl.SSLSocket, f: Any, n: int) -> None:
    """``n`` bytes from ``f``'s position, read into one reused buffer (no per-chunk allocation)."""
    buf = bytearray(min(SEND_BUF, max(n, 1)))
    with memoryview(buf) as mv:
        while n > 0:
            got = f.readinto(mv[: min(len(buf), n)])
            if not got:
                raise OSError("the file got shorter while it was being sent")
            sock.sendall(mv[:got])
            n -= got


class _ResponseReader:
    """HTTP/1.1 responses (interim ``100`` ones too) read off a raw socket."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.buf = b""

    def read(self) -> tuple[int, dict[str, Any]]:
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ConnectionError("response head too long")
            b = self.sock.recv(65536)
            if not b:
                raise ConnectionError("the receiver closed the connection without an answer")
            self.buf += b
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError) as e:
            raise ConnectionError(f"not an HTTP response: {lines[0][:80]!r}") from e
        if status == 100:
            return 100, {}
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        n = int(hdrs.get("content-length", "0") or 0)
        while len(self.buf) < n:
            b = self.sock.recv(65536)
            if not b:
                break
            self.buf += b
        raw, self.buf = self.buf[:n], self.buf[n:]
        return status, _parse(raw)


def _parse(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"text": raw.decode("utf-8", "replace")}
    return parsed if isinstance(parsed, dict) else {"value": parsed}
