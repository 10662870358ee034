"""Shared pieces of the Wi-Fi receiver tests: a real receiver on loopback, a paired companion,
small real clips, and raw TLS sockets for requests a well-behaved client would never send."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from lifelog.api import Memory
from lifelog.sources.wifi.client import CompanionClient, Pairing
from lifelog.sources.wifi.common import ReceiverEvent, ReceiverLimits
from lifelog.sources.wifi.pairing import new_pairing_offer
from lifelog.sources.wifi.server import Receiver, start_receiver

CEST = timezone(timedelta(hours=2))
CAT_AT = datetime(2024, 5, 14, 8, 0, tzinfo=CEST)
ROCKET_AT = datetime(2024, 5, 14, 12, 0, tzinfo=CEST)
NOW = datetime(2024, 5, 14, 20, 0, tzinfo=CEST)

_CLIPS: dict[str, Path] = {}


def clip(tmp_path_factory: Any, media: Any, which: str) -> Path:
    """Small real H.264 clips (320x240, 10 fps) made once per session from the sample photos."""
    if which not in _CLIPS:
        from lifelog.sample.compose import make_clip

        root: Path = tmp_path_factory.mktemp(f"wifi-{which}")
        src, at, seconds = {"cat": ("chelsea.png", CAT_AT, 8), "rocket": ("rocket.jpg", ROCKET_AT, 6)}[which]
        _CLIPS[which] = make_clip(root / f"{which}.mp4", media.path(src), seconds, at, fps=10, size=(320, 240),
                                  effect="pan", seed=7)
    return _CLIPS[which]


class Running:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.events: list[ReceiverEvent] = []
        receiver._listeners.append(self.events.append)

    @property
    def port(self) -> int:
        return self.receiver.port

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def refusals(self) -> list[ReceiverEvent]:
        return [e for e in self.events if e.kind == "refused"]

    def pair(self, name: str = "test phone") -> tuple[CompanionClient, Pairing]:
        offer = new_pairing_offer(self.receiver.data_dir, host="127.0.0.1", port=self.port)
        return CompanionClient.pair_with_uri(offer.uri, name, timeout=120)


@contextlib.contextmanager
def run_receiver(data_dir: Path, limits: ReceiverLimits | None = None, **kw: Any) -> Iterator[Running]:
    rec = start_receiver(Memory(data_dir), "127.0.0.1", 0, limits=limits, advertise=False, **kw)
    try:
        yield Running(rec)
    finally:
        rec.stop()


def tls_socket(port: int, timeout: float = 30) -> ssl.SSLSocket:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(s)


def read_response(s: ssl.SSLSocket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response (status, headers, body by Content-Length)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            raise ConnectionError(f"closed before a response: {buf!r}")
        buf += b
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        b = s.recv(65536)
        if not b:
            break
        rest += b
    return status, headers, rest[:n]


def raw_request(port: int, head: str, body: bytes = b"", close_after: bool = False) -> tuple[int, dict[str, Any]]:
    with tls_socket(port) as s:
        s.sendall(head.encode("latin-1") + body)
        if close_after:
            return 0, {}
        status, _h, raw = read_response(s)
    return status, (json.loads(raw) if raw else {})
