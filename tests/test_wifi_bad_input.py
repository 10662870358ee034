"""Every bad input of issue #7's "Security and bad input" list, sent to a real receiver over
real HTTPS on loopback: each is refused with a clear status, logged, and nothing already stored
is touched."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wifi_helpers import Running, clip, raw_request, read_response, run_receiver, tls_socket

from lifelog.sources.wifi.client import CompanionClient, ReceiverError
from lifelog.sources.wifi.common import INCOMING_DIR, RECEIVED_DIR, ReceiverLimits
from lifelog.sources.wifi.pairing import new_pairing_offer, parse_uri
from lifelog.sources.wifi.registry import MAX_PIN_ATTEMPTS, Registry, list_devices, revoke


@pytest.fixture
def receiver(data_dir: Path) -> Iterator[Running]:
    with run_receiver(data_dir) as running:
        yield running


def _state(data_dir: Path) -> dict[str, Any]:
    """What the memory holds: row counts, and every file outside the receiver's own folders."""
    from lifelog.store.db import Store

    store = Store(data_dir)
    files = {}
    for p in sorted(data_dir.rglob("*")):
        rel = p.relative_to(data_dir)
        if p.is_file() and rel.parts[0] not in ("devices",) and not p.name.endswith(".lock"):
            files[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return {"counts": {t: store.count(t) for t in ("media", "episodes", "frames")}, "files": files}


def _refused(status: int, doc: dict[str, Any], expected: int, words: str) -> None:
    assert status == expected, (status, doc)
    assert words.lower() in str(doc.get("error", "")).lower(), doc


# ---------------------------------------------------------------------- pairing
def test_wrong_expired_and_reused_tokens_are_refused(receiver: Running, data_dir: Path) -> None:
    fp = receiver.receiver.fingerprint
    c = CompanionClient(receiver.url, fp)
    with pytest.raises(ReceiverError) as e:
        c.pair("intruder", token="not-a-real-token")
    assert e.value.status == 401 and "unknown pairing code" in str(e.value)

    offer = new_pairing_offer(data_dir, ttl_s=1, host="127.0.0.1", port=receiver.port)
    time.sleep(1.2)  # let it expire (waiting for a state, not measuring time)
    with pytest.raises(ReceiverError) as e:
        c.pair("late phone", token=parse_uri(offer.uri).token)
    assert e.value.status == 410 and "expired" in str(e.value)

    _client, _pairing = receiver.pair("first phone")
    offer2 = new_pairing_offer(data_dir, host="127.0.0.1", port=receiver.port)
    tok = parse_uri(offer2.uri).token
    CompanionClient(receiver.url, fp).pair("second phone", token=tok)
    with pytest.raises(ReceiverError) as e:
        CompanionClient(receiver.url, fp).pair("copycat", token=tok)
    assert e.value.status == 410 and "already used" in str(e.value)
    assert sorted(d.name for d in list_devices(data_dir)) == ["first phone", "second phone"]
    reasons = [e.detail.get("status") for e in receiver.refusals()]
    assert reasons.count(401) == 1 and reasons.count(410) == 2  # each refusal is logged as an event
    # The token is never written in the clear.
    assert tok not in (data_dir / "devices" / "wifi.json").read_text()


def test_pin_pairing_dies_after_too_many_wrong_guesses(receiver: Running, data_dir: Path) -> None:
    offer = new_pairing_offer(data_dir, host="127.0.0.1", port=receiver.port)
    wrong = f"{(int(offer.pin) + 1) % 10**6:06d}"
    c = CompanionClient(receiver.url, offer.fingerprint)
    for _ in range(MAX_PIN_ATTEMPTS):
        with pytest.raises(ReceiverError) as e:
            c.pair("guesser", pin=wrong)
        assert e.value.status == 401
    with pytest.raises(ReceiverError) as e:
        c.pair("guesser", pin=offer.pin)  # even the right PIN: the offer is dead
    assert e.value.status == 410
    assert list_devices(data_dir) == []
    assert offer.pin not in (data_dir / "devices" / "wifi.json").read_text()
    # The PIN path works on a fresh offer.
    offer2 = new_pairing_offer(data_dir, host="127.0.0.1", port=receiver.port)
    assert c.pair("typed pin", pin=offer2.pin).device_id.startswith("wifi-")


def test_revoked_device_is_refused(receiver: Running, data_dir: Path, tmp_path: Path) -> None:
    client, pairing = receiver.pair()
    f = tmp_path / "a.mp4"
    f.write_bytes(b"x" * 1000)
    assert client.have([f]) == set()
    revoke(data_dir, pairing.device_id)
    for call in (lambda: client.have([f]), lambda: client.upload(f)):
        with pytest.raises(ReceiverError) as e:
            call()
        assert e.value.status == 401 and "revoked" in str(e.value)
    assert [d.revoked for d in list_devices(data_dir)] == [True]
    with pytest.raises(ReceiverError) as e:
        CompanionClient(receiver.url, pairing.fingerprint).have([f])  # no credential at all
    assert e.value.status == 401


# ---------------------------------------------------------------------- uploads
HOSTILE_NAMES = [
    ("../../../etc/cron.d/evil.mp4", 400, "path separator"),
    ("..\\..\\evil.mp4", 400, "path separator"),
    ("/etc/passwd.mp4", 400, "path separator"),
    ("..", 400, "dot"),
    (".bashrc.mp4", 400, "dot"),
    ("clip\x00.mp4", 400, "control"),
    ("clip\n.mp4", 400, "control"),
    ("a" * 300 + ".mp4", 400, "absurdly long"),
    ("é" * 130 + ".mp4", 400, "absurdly long"),  # 260 bytes in UTF-8, 134 characters
    ("", 400, "missing"),
    ("payload.exe", 415, "not a media file"),
    ("noextension", 415, "not a media file"),
]


@pytest.mark.parametrize(("name", "status", "words"), HOSTILE_NAMES)
def test_hostile_file_names_are_refused(receiver: Running, data_dir: Path, name: str, status: int,
                                        words: str) -> None:
    client, _pairing = receiver.pair()
    before = _state(data_dir)
    s, _h, doc = client.request("POST", "/api/v1/uploads",
                                doc={"name": name, "size": 10, "sha256": "0" * 64})
    _refused(s, doc, status, words)
    assert not list((data_dir / INCOMING_DIR).rglob("*.part"))
    assert _state(data_dir) == before
    assert receiver.refusals()[-1].detail["status"] == status


def test_zero_and_absurd_declared_sizes_are_refused_before_any_body(receiver: Running, data_dir: Path) -> None:
    client, pairing = receiver.pair()
    s, _h, doc = client.request("POST", "/api/v1/uploads", doc={"name": "a.mp4", "size": 0, "sha256": "0" * 64})
    _refused(s, doc, 400, "0-byte")
    s, _h, doc = client.request("POST", "/api/v1/uploads",
                                doc={"name": "a.mp4", "size": 50 * 1000**3, "sha256": "0" * 64})
    _refused(s, doc, 413, "over the limit")
    # A raw PUT declaring 50 GB is answered at once, without the receiver reading a body.
    head = (f"PUT /api/v1/uploads/{'0' * 32} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {pairing.credential}\r\n"
            f"Content-Range: bytes 0-{50 * 1000**3 - 1}/{50 * 1000**3}\r\nContent-Length: {50 * 1000**3}\r\n\r\n")
    with tls_socket(receiver.port) as sock:
        sock.sendall(head.encode())
        status, _h, body = read_response(sock)
    assert status == 413 and "over the limit" in json.loads(body)["error"]
    assert not list((data_dir / INCOMING_DIR).rglob("*.part"))


def _start(client: CompanionClient, data: bytes, name: str = "v.mp4") -> str:
    s, _h, doc = client.request("POST", "/api/v1/uploads", doc={
        "name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    assert s == 201, doc
    return str(doc["upload_id"])


def _put_head(pairing: Any, upload_id: str, start: int, end: int, total: int, clen: int) -> str:
    return (f"PUT /api/v1/uploads/{upload_id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {pairing.credential}\r\n"
            f"Content-Range: bytes {start}-{end}/{total}\r\nContent-Length: {clen}\r\n\r\n")


def test_lying_content_length_is_refused_and_the_partial_stays_consistent(
    receiver: Running, data_dir: Path
) -> None:
    client, pairing = receiver.pair()
    port = receiver.port
    data = bytes(range(256)) * 40  # 10,240 bytes
    uid = _start(client, data)
    part = data_dir / INCOMING_DIR / pairing.device_id / f"{uid}.part"

    # (a) Content-Length disagrees with Content-Range: refused before reading.
    s, doc = raw_request(port, _put_head(pairing, uid, 0, 999, len(data), 500), data[:500])
    _refused(s, doc, 400, "does not match")
    assert client.offset(uid) == 0

    # (b) a body shorter than its Content-Length, then the sender vanishes: the bytes that did
    # arrive are kept, in order, and HEAD says where to resume.
    raw_request(port, _put_head(pairing, uid, 0, 999, len(data), 1000), data[:400], close_after=True)
    deadline = time.monotonic() + 30
    while client.offset(uid) != 400 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.offset(uid) == 400
    assert part.read_bytes() == data[:400]

    # (c) a body longer than its Content-Length: the surplus is parsed as a next request, which
    # is malformed, so the connection gets a 400. Whether the declared chunk was taken first
    # depends on how the bytes arrived; either way the part is an exact prefix of the file.
    with tls_socket(port) as sock:
        sock.sendall(_put_head(pairing, uid, 400, 1399, len(data), 1000).encode() + data[400:1400] + b"JUNK" * 64)
        statuses = []
        try:
            while True:
                status, _h, _body = read_response(sock)
                statuses.append(status)
        except (ConnectionError, OSError):
            pass
    assert 400 in statuses and set(statuses) <= {200, 400}, statuses
    offset = client.offset(uid)
    assert offset in (400, 1400) and part.read_bytes() == data[:offset]

    # (d) a chunk that does not start at the offset is refused with the resume point.
    s, doc = raw_request(port, _put_head(pairing, uid, 0, 99, len(data), 100), data[:100])
    assert s == 409 and doc["offset"] == offset
    # (e) no Content-Length at all (chunked) is refused.
    s, doc = raw_request(port, f"PUT /api/v1/uploads/{uid} HTTP/1.1\r\nHost: x\r\n"
                         f"Authorization: Bearer {pairing.credential}\r\n"
                         f"Content-Range: bytes {offset}-{offset + 9}/{len(data)}\r\n"
                         "Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n")
    assert s == 411
    assert part.read_bytes() == data[:offset]


def test_bytes_that_do_not_match_the_declared_hash_are_discarded(receiver: Running, data_dir: Path) -> None:
    client, pairing = receiver.pair()
    data = b"\x00" * 5000
    s, _h, doc = client.request("POST", "/api/v1/uploads", doc={"name": "v.mp4", "size": 5000, "sha256": "1" * 64})
    uid = doc["upload_id"]
    s, doc = raw_request(receiver.port, _put_head(pairing, uid, 0, 4999, 5000, 5000), data)
    _refused(s, doc, 422, "do not match the declared sha256")
    assert not list((data_dir / INCOMING_DIR).rglob("*.part"))
    assert not (data_dir / RECEIVED_DIR).exists() or not list((data_dir / RECEIVED_DIR).rglob("*"))


def test_garbage_bytes_named_like_video_are_reported_and_nothing_is_stored(
    receiver: Running, data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    client, pairing = receiver.pair()
    cat = clip(tmp_path_factory, media, "cat")
    assert client.upload(cat)["status"] == "imported"
    before = _state(data_dir)
    junk = tmp_path_factory.mktemp("junk") / "holiday.mp4"
    junk.write_bytes(hashlib.sha256(b"seed").digest() * 4000)
    out = client.upload(junk)
    assert out["status"] == "failed" and out["error"], out
    assert _state(data_dir)["counts"] == before["counts"]
    kept = [p.name for p in (data_dir / RECEIVED_DIR / pairing.device_id).iterdir()]
    assert kept == [next(iter(kept))] and kept[0].endswith("cat.mp4.lgo")  # the garbage was discarded
    assert not list((data_dir / INCOMING_DIR).rglob("*.part"))
    assert any(e.kind == "failed" for e in receiver.events)


def test_too_many_uploads_at_once_get_429(data_dir: Path) -> None:
    with run_receiver(data_dir, ReceiverLimits(max_uploads=1)) as running:
        client, pairing = running.pair()
        a, b = b"a" * 2000, b"b" * 2000
        ua, ub = _start(client, a, "a.mp4"), _start(client, b, "b.mp4")
        with tls_socket(running.port) as slow:  # holds the only upload slot: half a body sent
            slow.sendall(_put_head(pairing, ua, 0, 1999, 2000, 2000).encode() + a[:1000])
            deadline = time.monotonic() + 30
            while running.receiver.app.active_uploads < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            s, doc = raw_request(running.port, _put_head(pairing, ub, 0, 1999, 2000, 2000), b)
            assert s == 429 and "retry" in doc["error"]
        assert client.offset(ub) == 0


# ------------------------------------------------------------------ connections
def _open_tls(port: int, n: int) -> list[Any]:
    socks = []
    for _ in range(n):
        socks.append(tls_socket(port))
    return socks


def test_hundreds_of_idle_connections_do_not_block_a_paired_client(receiver: Running, data_dir: Path) -> None:
    _client, pairing = receiver.pair()
    threads_before = threading.active_count()
    socks = _open_tls(receiver.port, 300)
    try:
        # Half of them start a request and stall in the middle of the headers.
        for s in socks[::2]:
            s.sendall(b"POST /api/v1/have HTTP/1.1\r\nHost: x\r\nContent-Le")
        deadline = time.monotonic() + 30
        while receiver.receiver.open_connections() < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.receiver.open_connections() >= 300
        fresh = CompanionClient.from_pairing(pairing)
        assert fresh.info()["service"] == "lifelog"
        f = data_dir.parent / "x.mp4"
        f.write_bytes(b"1" * 100)
        assert fresh.have([f]) == set()
        # One event loop serves them all: no thread per connection.
        assert threading.active_count() <= threads_before + 2
    finally:
        for s in socks:
            s.close()


def test_connections_over_the_limit_are_closed_and_service_recovers(data_dir: Path) -> None:
    with run_receiver(data_dir, ReceiverLimits(max_connections=20)) as running:
        client, pairing = running.pair()
        client.close()
        socks = _open_tls(running.port, 20)
        deadline = time.monotonic() + 30
        while running.receiver.open_connections() < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        extra = tls_socket(running.port)
        extra.sendall(b"GET /api/v1/info HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises((ConnectionError, OSError)):
            read_response(extra)  # closed without an answer
        assert running.receiver.refused_connections >= 1
        for s in socks:
            s.close()
        deadline = time.monotonic() + 30
        while running.receiver.open_connections() > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert CompanionClient.from_pairing(pairing).info()["service"] == "lifelog"


@pytest.mark.slow
def test_a_thousand_concurrent_connections(data_dir: Path) -> None:
    with run_receiver(data_dir) as running:
        _client, pairing = running.pair()
        socks = _open_tls(running.port, 1000)
        try:
            assert CompanionClient.from_pairing(pairing).info()["service"] == "lifelog"
        finally:
            for s in socks:
                s.close()


def test_registry_survives_a_corrupt_file_with_a_clear_error(data_dir: Path) -> None:
    from lifelog.sources.wifi.registry import RegistryError

    p = data_dir / "devices" / "wifi.json"
    p.parent.mkdir(parents=True)
    p.write_text("{not json")
    with pytest.raises(RegistryError, match="unreadable"):
        Registry(data_dir).devices()
    assert p.read_text() == "{not json"  # nothing overwritten


def test_abandoned_partial_uploads_are_swept_and_fresh_ones_kept(receiver: Running, data_dir: Path) -> None:
    import os

    from lifelog.sources.wifi.uploads import STALE_DAYS, sweep_stale_uploads

    client, pairing = receiver.pair()
    old, fresh = _start(client, b"o" * 3000, "old.mp4"), _start(client, b"f" * 3000, "fresh.mp4")
    d = data_dir / INCOMING_DIR / pairing.device_id
    meta = d / f"{old}.json"
    doc = json.loads(meta.read_text())
    doc["created"] = time.time() - (STALE_DAYS + 1) * 86400
    meta.write_text(json.dumps(doc))
    past = time.time() - (STALE_DAYS + 1) * 86400
    os.utime(d / f"{old}.part", (past, past))
    assert sweep_stale_uploads(data_dir) == 1
    assert sorted(p.name for p in d.iterdir()) == sorted([f"{fresh}.json", f"{fresh}.part"])
