"""The bulk upload port (lifelog/sources/wifi/bulk.py): the same answers, refusals, partial
consistency and resume as the main port's PUT, over a real TLS socket on loopback; and a client
that cannot reach it still uploads through the main port."""

from __future__ import annotations

import hashlib
import json
import os
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wifi_helpers import Running, read_response, run_receiver, tls_socket

from lifelog.sources.wifi.client import CompanionClient, Pairing, UploadInterrupted
from lifelog.sources.wifi.common import INCOMING_DIR, ReceiverLimits


@pytest.fixture
def receiver(data_dir: Path) -> Iterator[Running]:
    with run_receiver(data_dir) as running:
        yield running


def _bulk_port(r: Running) -> int:
    port = r.receiver.app.bulk_port
    assert port is not None and port != r.port
    return port


def _start(client: CompanionClient, data: bytes, name: str = "v.mp4") -> str:
    s, _h, doc = client.request("POST", "/api/v1/uploads", doc={
        "name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    assert s == 201, doc
    return str(doc["upload_id"])


def _put(pairing: Pairing | None, uid: str, start: int, end: int, total: int, clen: int | None,
         extra: str = "") -> str:
    auth = f"Authorization: Bearer {pairing.credential}\r\n" if pairing else ""
    length = f"Content-Length: {clen}\r\n" if clen is not None else ""
    return (f"PUT /api/v1/uploads/{uid} HTTP/1.1\r\nHost: x\r\n{auth}"
            f"Content-Range: bytes {start}-{end}/{total}\r\n{length}{extra}\r\n")


def _ask(port: int, head: str | bytes, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    with tls_socket(port) as s:
        s.sendall((head.encode("latin-1") if isinstance(head, str) else head) + body)
        status, _h, raw = read_response(s)
    return status, (json.loads(raw) if raw else {})


def _error(status: int, doc: dict[str, Any], expected: int, words: str) -> None:
    assert status == expected, (status, doc)
    assert words.lower() in str(doc.get("error", "")).lower(), doc


def test_info_and_new_uploads_offer_the_bulk_port(receiver: Running) -> None:
    client, _pairing = receiver.pair()
    assert client.info()["bulk_port"] == _bulk_port(receiver)
    s, _h, doc = client.request("POST", "/api/v1/uploads", doc={"name": "a.mp4", "size": 10, "sha256": "a" * 64})
    assert s == 201 and doc["bulk_port"] == _bulk_port(receiver)


def test_bulk_port_refuses_what_the_main_port_refuses(receiver: Running, data_dir: Path) -> None:
    client, pairing = receiver.pair()
    port = _bulk_port(receiver)
    data = os.urandom(10_000)
    uid = _start(client, data)
    part = data_dir / INCOMING_DIR / pairing.device_id / f"{uid}.part"

    _error(*_ask(port, _put(None, uid, 0, 99, len(data), 100), data[:100]), 401, "missing credential")
    bad = Pairing(pairing.base_url, pairing.fingerprint, pairing.device_id, "x" * 40, pairing.name)
    _error(*_ask(port, _put(bad, uid, 0, 99, len(data), 100), data[:100]), 401, "unknown or revoked")
    _error(*_ask(port, _put(pairing, uid, 0, 999, len(data), 500), data[:500]), 400, "does not match")
    _error(*_ask(port, _put(pairing, uid, 0, 99, len(data), None)), 411, "Content-Length is required")
    _error(*_ask(port, _put(pairing, uid, 0, 9, len(data), None, "Transfer-Encoding: chunked\r\n"),
                 b"a\r\n0123456789\r\n0\r\n\r\n"), 411, "no chunked")
    _error(*_ask(port, _put(pairing, uid, 50, 99, len(data), 50), data[50:100]), 409, "resume from there")
    _error(*_ask(port, _put(pairing, "f" * 32, 0, 99, len(data), 100), data[:100]), 404, "no such upload")
    _error(*_ask(port, _put(pairing, uid, 0, 99, len(data), 100, "Content-Length: 100\r\n"), data[:100]),
           400, "twice")
    # Only PUT on an upload, only well-formed HTTP/1.1, only a bounded head.
    _error(*_ask(port, "GET /api/v1/info HTTP/1.1\r\nHost: x\r\n\r\n"), 404, "PUT /api/v1/uploads")
    s, _doc = _ask(port, f"DELETE /api/v1/uploads/{uid} HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s == 405
    _error(*_ask(port, "PUT /../../etc/passwd HTTP/1.1\r\n\r\n"), 404, "PUT /api/v1/uploads")
    _error(*_ask(port, f"PUT /api/v1/uploads/{uid} HTTP/1.0\r\n\r\n"), 505, "HTTP/1.1")
    _error(*_ask(port, b"\xff\xfe garbage\r\n\r\n"), 400, "not ASCII")
    _error(*_ask(port, f"PUT /api/v1/uploads/{uid} HTTP/1.1\r\nX-Junk: " + "a" * 40_000), 431, "request head")
    assert part.read_bytes() == b""  # nothing refused was stored
    assert client.offset(uid) == 0
    refusals = [e for e in receiver.refusals() if "401" in e.message or "409" in e.message]
    assert len(refusals) >= 3  # logged like the main port's refusals


def test_a_body_cut_short_keeps_exactly_the_bytes_that_arrived(receiver: Running, data_dir: Path) -> None:
    client, pairing = receiver.pair()
    port = _bulk_port(receiver)
    data = os.urandom(3 * 1024 * 1024 + 777)
    uid = _start(client, data)
    part = data_dir / INCOMING_DIR / pairing.device_id / f"{uid}.part"
    # The sender declares the whole file, sends 1,000,003 bytes and vanishes.
    with tls_socket(port) as s:
        s.sendall(_put(pairing, uid, 0, len(data) - 1, len(data), len(data)).encode() + data[:1_000_003])
        s.shutdown(socket.SHUT_WR)  # (ends TLS on this side too: the answer is not readable)
        while s.recv(65536):
            pass
    assert client.settled_offset(uid) == 1_000_003 and part.read_bytes() == data[:1_000_003]
    assert any("ended early" in e.message for e in receiver.refusals())
    # Resuming from that unaligned offset with Expect: 100-continue completes and verifies.
    with tls_socket(port) as s:
        s.sendall(_put(pairing, uid, 1_000_003, len(data) - 1, len(data), len(data) - 1_000_003,
                       "Expect: 100-continue\r\n").encode())
        status, _h, _raw = read_response(s)
        assert status == 100
        s.sendall(data[1_000_003:])
        status, _h, raw = read_response(s)
    doc = json.loads(raw)
    # Random bytes are no media: verified (sha256 matched), then refused by the import.
    assert status == 422 and doc["status"] == "failed", doc
    assert any(e.kind == "received" for e in receiver.events)
    assert not part.exists()


def test_a_lying_hash_is_discarded(receiver: Running, data_dir: Path) -> None:
    client, pairing = receiver.pair()
    data = os.urandom(100_000)
    _s, _h, doc = client.request("POST", "/api/v1/uploads",
                                 doc={"name": "v.mp4", "size": len(data), "sha256": "1" * 64})
    uid = doc["upload_id"]
    _error(*_ask(_bulk_port(receiver), _put(pairing, uid, 0, len(data) - 1, len(data), len(data)), data),
           422, "do not match the declared sha256")
    assert not list((data_dir / INCOMING_DIR).rglob("*.part"))


@pytest.mark.parametrize("direct_io", [True, False], ids=["o_direct", "buffered_no_pwrite"])
@pytest.mark.parametrize("bulk", [True, False], ids=["bulk_port", "main_port"])
def test_client_upload_with_cut_and_resume(
    receiver: Running, data_dir: Path, tmp_path: Path, direct_io: bool, bulk: bool, monkeypatch: Any
) -> None:
    """Megabytes cut and resumed at offsets that are not block-aligned, on either port, with
    O_DIRECT or (as on Windows) buffered seek-and-write: the part is always the exact prefix,
    the whole verifies."""
    import lifelog.sources.wifi.bulk as bulk_module

    receiver.receiver.app.direct_io = direct_io
    if not direct_io:
        monkeypatch.setattr(bulk_module, "_HAS_PWRITE", False)
    data = os.urandom(9 * 1024 * 1024 + 4097)
    src = tmp_path / "big.mp4"
    src.write_bytes(data)
    client, pairing = receiver.pair()
    client.use_bulk = bulk
    cut = 5 * 1024 * 1024 + 13
    with pytest.raises(UploadInterrupted):
        client.upload(src, cut_at=cut)
    uid = client.create_upload(src)["upload_id"]
    assert client.settled_offset(uid) == cut
    part = data_dir / INCOMING_DIR / pairing.device_id / f"{uid}.part"
    assert part.read_bytes() == data[:cut]
    # A fresh client resumes in 1 MiB + 5 chunks and is cut again, mid-chunk, after 3 whole chunks.
    chunk = 1024 * 1024 + 5
    cut2 = 8 * 1024 * 1024 + 77
    client2 = CompanionClient.from_pairing(pairing)
    client2.use_bulk = bulk
    with pytest.raises(UploadInterrupted):
        client2.upload(src, chunk=chunk, cut_at=cut2)
    assert client2.settled_offset(uid) == cut2
    assert part.read_bytes() == data[:cut2]  # every write landed where it belongs
    sent: list[int] = []
    client3 = CompanionClient.from_pairing(pairing)
    client3.use_bulk = bulk
    out = client3.upload(src, chunk=chunk, progress=lambda done, _t: sent.append(done))
    assert out["status"] == "failed"  # random bytes: verified, then the import refuses them
    assert any(e.kind == "received" for e in receiver.events)  # the SHA-256 of all bytes matched
    assert sent == [len(data)]  # the remainder (under 1.25 chunks) went as one
    bodies = receiver.receiver.bulk.bodies  # type: ignore[union-attr]
    assert bodies == 6 if bulk else bodies == 0  # 1 + 4 + 1 chunks, on the port the client chose


def test_a_client_that_cannot_reach_the_bulk_port_uses_the_main_port(
    receiver: Running, tmp_path: Path
) -> None:
    client, _pairing = receiver.pair()
    receiver.receiver.bulk.stop()  # type: ignore[union-attr]  # as if a firewall dropped it
    data = os.urandom(200_000)
    src = tmp_path / "v.mp4"
    src.write_bytes(data)
    out = client.upload(src)
    assert out["status"] == "failed" and any(e.kind == "received" for e in receiver.events)


def test_bulk_connections_over_the_limit_are_closed_and_service_recovers(data_dir: Path, tmp_path: Path) -> None:
    with run_receiver(data_dir, ReceiverLimits(max_bulk_connections=3)) as running:
        client, _pairing = running.pair()
        port = _bulk_port(running)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        bulk = running.receiver.bulk
        assert bulk is not None
        deadline = time.monotonic() + 30
        while bulk.open_connections() < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        extra = socket.create_connection(("127.0.0.1", port), timeout=30)
        with pytest.raises((ConnectionError, OSError)):
            extra.sendall(b"\x16\x03\x01")  # the start of a TLS hello
            if not extra.recv(1):
                raise ConnectionError("closed at once")
        assert bulk.refused_connections >= 1
        for s in [*idle, extra]:
            s.close()
        while bulk.open_connections() > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        src = tmp_path / "v.mp4"
        src.write_bytes(os.urandom(100_000))
        assert client.upload(src)["status"] == "failed"  # uploaded (and verified) again
        assert bulk.bodies >= 1
        deadline = time.monotonic() + 30
        while bulk.open_connections() > 0 and time.monotonic() < deadline:  # its thread ends
            time.sleep(0.02)
        assert bulk.open_connections() == 0


def test_a_request_head_trickled_byte_by_byte_is_cut_off(data_dir: Path) -> None:
    """Slowloris: a head that never completes cannot hold one of the port's threads for long."""
    with run_receiver(data_dir, ReceiverLimits(handshake_timeout_s=1.0)) as running:
        _client, pairing = running.pair()
        head = _put(pairing, "0" * 32, 0, 9, 10, 10).encode()
        with tls_socket(_bulk_port(running)) as s:
            for b in head[:-2]:  # never the final blank line; stop once the receiver answers
                if select.select([s], [], [], 0.05)[0]:
                    break
                s.sendall(bytes([b]))
            status, _h, raw = read_response(s)
        _error(status, json.loads(raw), 408, "no request head in time")


def test_stopping_the_receiver_mid_body_keeps_the_bytes_that_arrived(data_dir: Path) -> None:
    with run_receiver(data_dir) as running:
        client, pairing = running.pair()
        data = os.urandom(2_000_000)
        uid = _start(client, data)
        part = data_dir / INCOMING_DIR / pairing.device_id / f"{uid}.part"
        with tls_socket(_bulk_port(running)) as s:
            s.sendall(_put(pairing, uid, 0, len(data) - 1, len(data), len(data)).encode() + data[:300_001])
            bulk = running.receiver.bulk
            assert bulk is not None
            deadline = time.monotonic() + 30
            while bulk.bodies < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)  # let the bytes sent reach the receiver
            running.receiver.stop()  # Ctrl-C on `lifelog serve`: returns, the sender is cut
        assert part.read_bytes() == data[:300_001]
        assert bulk.open_connections() == 0
