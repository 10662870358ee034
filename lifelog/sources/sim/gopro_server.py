"""A simulated GoPro: a real HTTP server on loopback speaking the Open GoPro media endpoints.

Serves real files with ``Range: bytes=N-`` support and injectable faults::

    with GoProServer() as cam:
        cam.add("100GOPRO", "GX010001.MP4", path, mtime)
        cam.fault("GX010001.MP4", "truncate", fraction=0.5, times=1)   # cut the body at 50% once
        cam.fault("GX010001.MP4", "stall", fraction=0.5, seconds=30)   # go silent at 50%
        cam.fault("GX010001.MP4", "503", times=2)                      # busy twice, then fine
        cam.fault("GX010001.MP4", "slow", bytes_per_s=200_000)          # a slow body
        cam.fault("GX010001.MP4", "wrong_length", extra=1000)          # declares more than it sends
        cam.fault("GX010001.MP4", "extra_bytes", extra=1000)           # sends more than the file
        cam.listing_extra.append({"n": "../../x.MP4", "s": "10"})      # hostile listing entries
        GoProSource(cam.url).list_media()

``requests`` records (path, Range header) of every media request; ``keep_alives`` counts them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import unquote

FaultKind = Literal["truncate", "stall", "503", "slow", "wrong_length", "extra_bytes"]


@dataclass
class Fault:
    kind: FaultKind
    times: int | None  # None: every request
    fraction: float = 0.5
    seconds: float = 30.0  # stall: how long the body stops before the connection closes
    bytes_per_s: int = 0
    extra: int = 0


@dataclass
class _File:
    folder: str
    name: str
    path: Path
    mtime: int


@dataclass
class _State:
    files: dict[str, _File] = field(default_factory=dict)  # "100GOPRO/GX010001.MP4" -> file
    faults: dict[str, list[Fault]] = field(default_factory=dict)  # file name -> faults
    listing_extra: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    keep_alives: int = 0
    info: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, doc: Any, status: int = 200) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        st = self.server.state
        path = self.path.split("?", 1)[0]
        if path == "/gopro/camera/keep_alive":
            with st.lock:
                st.keep_alives += 1
            self._json({})
        elif path == "/gopro/camera/info":
            self._json(st.info) if st.info else self._json({"error": "not supported"}, 404)
        elif path == "/gopro/media/list":
            folders: dict[str, list[dict[str, Any]]] = {}
            for f in st.files.values():
                folders.setdefault(f.folder, []).append(
                    {"n": f.name, "cre": str(f.mtime), "mod": str(f.mtime), "s": str(f.path.stat().st_size)}
                )
            media = [{"d": d, "fs": fs} for d, fs in folders.items()]
            if st.listing_extra:
                media.append({"d": "100GOPRO", "fs": list(st.listing_extra)})
            self._json({"id": "1554375628411872255", "media": media})
        elif path.startswith("/videos/DCIM/"):
            self._media(unquote(path[len("/videos/DCIM/") :]))
        else:
            self._json({"error": "not found"}, 404)

    def _take_fault(self, name: str) -> Fault | None:
        st = self.server.state
        with st.lock:
            for f in st.faults.get(name, []):
                if f.times is None:
                    return f
                if f.times > 0:
                    f.times -= 1
                    return f
        return None

    def _media(self, rel: str) -> None:
        st = self.server.state
        rng = self.headers.get("Range")
        with st.lock:
            st.requests.append((rel, rng))
            f = st.files.get(rel)
        if f is None:
            self._json({"error": "no such file"}, 404)
            return
        fault = self._take_fault(f.name)
        if fault is not None and fault.kind == "503":
            body = b'{"error":"busy"}'
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        size = f.path.stat().st_size
        start = 0
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
            if not m or int(m.group(1)) >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(m.group(1))
        length = size - start
        send = length
        declared = length
        if fault is not None and fault.kind in ("truncate", "stall"):
            send = max(0, int(size * fault.fraction) - start)
        elif fault is not None and fault.kind == "wrong_length":
            declared = length + fault.extra
        elif fault is not None and fault.kind == "extra_bytes":
            declared = send = length + fault.extra
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(declared))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        rate = fault.bytes_per_s if fault is not None and fault.kind == "slow" else 0
        with open(f.path, "rb") as fh:
            if fault is None:  # the fast path: the kernel copies the file to the socket
                try:
                    self.wfile.flush()
                    self.connection.sendfile(fh, start, length)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                return
            fh.seek(start)
            left = min(send, length)
            chunk = 1024 * 1024 if not rate else max(1024, rate // 20)
            try:
                while left > 0:
                    data = fh.read(min(chunk, left))
                    if not data:
                        break
                    self.wfile.write(data)
                    left -= len(data)
                    if rate:
                        time.sleep(len(data) / rate)
                if send > length:
                    self.wfile.write(os.urandom(send - length))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return
        if send < declared:  # cut the connection mid-body, as a camera going out of range does
            self.wfile.flush()
            if fault is not None and fault.kind == "stall":
                self.server.stop.wait(fault.seconds)  # silent, connection open (the client times out)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State
    stop: threading.Event


class GoProServer:
    """A simulated camera on ``127.0.0.1`` (an ephemeral port); a context manager."""

    def __init__(self, serial: str | None = "C3501324500711", model: str = "HERO12 Black") -> None:
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.state = _State()
        self._srv.stop = threading.Event()
        if serial:
            self._srv.state.info = {"model_name": model, "serial_number": serial, "firmware_version": "H23.01.01.10.00",
                                    "ap_ssid": f"GP{serial[-8:]}"}  # fmt: skip
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._srv.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def state(self) -> _State:
        return self._srv.state

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        return list(self.state.requests)

    @property
    def keep_alives(self) -> int:
        return self.state.keep_alives

    @property
    def listing_extra(self) -> list[dict[str, Any]]:
        return self.state.listing_extra

    def add(self, folder: str, name: str, path: Path, mtime: float) -> None:
        self.state.files[f"{folder}/{name}"] = _File(folder, name, Path(path), int(mtime))

    def fault(self, name: str, kind: FaultKind, *, times: int | None = None, **kw: Any) -> None:
        self.state.faults.setdefault(name, []).append(Fault(kind, times, **kw))

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def start(self) -> GoProServer:
        self._thread = threading.Thread(target=self._srv.serve_forever, name="sim-gopro", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._srv.stop.set()
        self._srv.shutdown()
        self._srv.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> GoProServer:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
