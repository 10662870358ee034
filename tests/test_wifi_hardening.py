"""Issue #20 (an outside audit): error answers never echo the request, and LocalSend approval
questions are rate-limited, collapsed and answerable from another terminal."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from wifi_helpers import Running, read_response, run_receiver, tls_socket

from lifelog.sources.wifi.client import CompanionClient
from lifelog.sources.wifi.common import ReceiverLimits
from lifelog.sources.wifi.localsend import LocalSendSender
from lifelog.sources.wifi.registry import list_devices

PHONE_FP = "c0ffee" * 10 + "abcd"
MAX_ERROR_BYTES = 1024  # an error answer says what was wrong in a sentence, never more


def _bulk_port(running: Running) -> int:
    port = running.receiver.app.bulk_port
    assert port
    return port


def _one_response(port: int, data: bytes) -> tuple[int, bytes]:
    with tls_socket(port) as s:
        s.sendall(data)
        status, _h, body = read_response(s)
    return status, body


def _bounded(status: int, body: bytes, expect: int, marker: bytes = b"") -> None:
    assert status == expect, (status, body[:300])
    assert len(body) <= MAX_ERROR_BYTES, f"{len(body)} bytes of error: {body[:300]!r}"
    if marker:
        assert marker not in body, body[:300]
    assert "error" in json.loads(body)


def test_errors_never_echo_the_request(data_dir: Path) -> None:
    with run_receiver(data_dir) as running:
        client, pairing = running.pair()
        port = running.port
        data = bytes(range(256)) * 4
        s, _h, doc = client.request("POST", "/api/v1/uploads", doc={
            "name": "v.mp4", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        uid = doc["upload_id"]
        auth = f"Authorization: Bearer {pairing.credential}\r\n"
        # (1) the audit's case: a body with ~150 KB of trailing bytes, parsed as a next request.
        junk = b"Q" * 150_000
        head = (f"PUT /api/v1/uploads/{uid} HTTP/1.1\r\nHost: x\r\n{auth}"
                f"Content-Range: bytes 0-{len(data) - 1}/{len(data)}\r\nContent-Length: {len(data)}\r\n\r\n")
        with tls_socket(port) as sock:
            sock.sendall(head.encode() + data + junk)
            answers = []
            try:
                while True:
                    answers.append(read_response(sock))
            except (ConnectionError, OSError):
                pass
        bad = [(st, body) for st, _h, body in answers if st == 400]
        assert bad, [a[0] for a in answers]
        for st, body in bad:
            _bounded(st, body, 400, b"QQQQ")
        # (2) a malformed header: the parser's message quotes it; the answer does not.
        st, body = _one_response(port, b"GET /api/v1/info HTTP/1.1\r\nX-Bad\x01: " + b"B" * 6000 + b"\r\n\r\n")
        _bounded(st, body, 400, b"BBBB")
        # (3) a request line far too long.
        st, body = _one_response(port, b"GET /" + b"P" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert st in (400, 414), st
        assert len(body) <= MAX_ERROR_BYTES and b"PPPP" not in body
        # (4) an absurd Content-Range number: refused as malformed, not echoed, not a 500.
        digits = "9" * 5000
        st, body = _one_response(port, (f"PUT /api/v1/uploads/{uid} HTTP/1.1\r\nHost: x\r\n{auth}"
                                        f"Content-Range: bytes 0-0/{digits}\r\nContent-Length: 1\r\n\r\nx").encode())
        _bounded(st, body, 400, b"99999999999999999999999")
        # (5) an absurd declared size and a long non-media extension in JSON.
        s, _h, doc = client.request("POST", "/api/v1/uploads", doc={
            "name": "v." + "e" * 200, "size": 10, "sha256": "0" * 64})
        assert s == 415 and len(doc["error"]) < 200 and "e" * 20 not in doc["error"], doc
        s, _h, doc = client.request("POST", "/api/v1/uploads", body=(
            b'{"name": "v.mp4", "sha256": "' + b"0" * 64 + b'", "size": ' + b"7" * 4000 + b"}"),
            headers={"Content-Type": "application/json"})
        assert s in (400, 413) and "7" * 30 not in doc["error"], doc
        # (6) JSON nested too deep for the parser: a 400, not a 500.
        s, _h, doc = client.request("POST", "/api/v1/have", body=b"[" * 200_000,
                                    headers={"Content-Type": "application/json"})
        assert s == 400 and doc["error"] == "body is not JSON", doc
        # (7) the bulk port: a repeated long header name is not echoed in full; a Unicode digit is
        # no Content-Length (it used to end the connection with an exception).
        name = "X-" + "N" * 3000
        st, body = _one_response(_bulk_port(running), (f"PUT /api/v1/uploads/{uid} HTTP/1.1\r\n{name}: 1\r\n"
                                                       f"{name}: 2\r\n\r\n").encode())
        _bounded(st, body, 400, b"N" * 100)
        st, body = _one_response(_bulk_port(running), (f"PUT /api/v1/uploads/{uid} HTTP/1.1\r\nHost: x\r\n{auth}"
                                                       "Content-Length: ²\r\n\r\n").encode())
        _bounded(st, body, 400)
        # The receiver still serves, and every refusal it logged is one bounded line.
        assert client.info()["service"] == "lifelog"
        assert all(len(e.message) < 1000 for e in running.events), max(len(e.message) for e in running.events)


# ----------------------------------------------------------------- LocalSend approvals
def _info(alias: str, fp: str = PHONE_FP) -> dict[str, Any]:
    return {"alias": alias, "version": "2.1", "deviceModel": "Pixel", "deviceType": "mobile", "fingerprint": fp,
            "port": 53317, "protocol": "https", "download": False}


def _files() -> dict[str, Any]:
    data = b"\x01" * 4096
    return {"f0": {"id": "f0", "fileName": "clip.mp4", "size": len(data), "fileType": "video/mp4",
                   "sha256": hashlib.sha256(data).hexdigest()}}


def _prepare(running: Running, alias: str, fp: str = PHONE_FP) -> tuple[int, dict[str, str], dict[str, Any]]:
    c = CompanionClient(running.url, running.receiver.fingerprint, timeout=200)
    try:
        return c.request("POST", "/api/localsend/v2/prepare-upload", doc={"info": _info(alias, fp), "files": _files()})
    finally:
        c.close()


def test_localsend_approval_questions_are_rate_limited_per_address(data_dir: Path) -> None:
    asked: list[LocalSendSender] = []

    def approver(s: LocalSendSender) -> bool:
        asked.append(s)
        return False

    limits = ReceiverLimits(approval_prompts_per_address=3, approval_window_s=600, approval_cooldown_s=600)
    with run_receiver(data_dir, limits, approve_localsend=approver) as running:
        statuses = [_prepare(running, f"spammer {i}")[0] for i in range(3)]
        assert statuses == [403, 403, 403] and len(asked) == 3
        # A fourth, fifth … new alias from the same address: no question, 429 with Retry-After.
        for i in range(3, 8):
            s, h, doc = _prepare(running, f"spammer {i}")
            assert s == 429 and int(h["retry-after"]) > 0 and "too many" in doc["error"], (s, doc)
        assert len(asked) == 3
        # A refused sender asking again at once is refused without a question.
        s, _h, doc = _prepare(running, "spammer 0")
        assert s == 403 and len(asked) == 3
    # Known senders are never held up by the limit (a fresh receiver, a known one and a flood).
    reg_limits = ReceiverLimits(approval_prompts_per_address=1)
    with run_receiver(data_dir, reg_limits, approve_localsend=lambda s: True) as running:
        assert _prepare(running, "friend")[0] == 200
        assert _prepare(running, "stranger")[0] == 429
        assert _prepare(running, "friend")[0] in (200, 409)
    assert [d.name for d in list_devices(data_dir)] == ["friend"]


def test_a_second_request_of_a_waiting_sender_joins_its_question(data_dir: Path) -> None:
    asked: list[LocalSendSender] = []
    release = threading.Event()

    def approver(s: LocalSendSender) -> bool:
        asked.append(s)
        release.wait(60)
        return True

    with run_receiver(data_dir, approve_localsend=approver) as running, ThreadPoolExecutor(4) as pool:
        futs = [pool.submit(_prepare, running, "Nice Orange") for _ in range(4)]
        deadline = time.monotonic() + 30
        while not asked and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # the other three arrive while the question is open
        release.set()
        statuses = sorted(f.result()[0] for f in futs)
        assert len(asked) == 1, asked  # one question for four requests
        assert asked[0].request_id  # the question carries its id for `lifelog devices approve`
        assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}, statuses
        assert [d.name for d in list_devices(data_dir)] == ["Nice Orange"]
        # The waiting file is empty again.
        from lifelog.sources.wifi.approvals import list_requests

        assert list_requests(data_dir) == []


def test_cli_approves_and_denies_localsend_senders_from_another_terminal(data_dir: Path) -> None:
    from helpers import cli_env, json_doc, run_cli

    from lifelog.sources.wifi.approvals import list_requests

    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
         "--port", "0", "--json-events", "--no-mdns"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        port, fp = int(first["port"]), first["fingerprint"]

        class _R:  # what _prepare needs of a running receiver
            url = f"https://127.0.0.1:{port}"

            class receiver:
                fingerprint = fp

        with ThreadPoolExecutor(2) as pool:
            for alias, verb, expect in (("Nice Orange", "approve", 200), ("Stranger", "deny", 403)):
                fut = pool.submit(_prepare, _R, alias)  # type: ignore[arg-type]
                deadline = time.monotonic() + 60
                while not list_requests(data_dir) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if verb == "approve":
                    waiting = json_doc(run_cli(data_dir, "devices", "approve", "--list", "--json"))["requests"]
                    assert [w["alias"] for w in waiting] == [alias], waiting
                    assert waiting[0]["address"] == "127.0.0.1" and waiting[0]["files"] == 1
                    rid = waiting[0]["id"]
                else:
                    rid = list_requests(data_dir)[0].id
                    text = run_cli(data_dir, "devices", "approve", "--list")
                    assert rid in text.stdout and alias in text.stdout, text.stdout
                done = run_cli(data_dir, "devices", verb, rid, "--json")
                assert done.returncode == 0, done.stderr
                assert json_doc(done)[{"approve": "approved", "deny": "denied"}[verb]]["alias"] == alias
                s, _h, doc = fut.result(timeout=60)
                assert s == expect, doc
        assert [d.name for d in list_devices(data_dir)] == ["Nice Orange"]
        # Unknown or already answered ids are usage errors; nothing waits any more.
        bad = run_cli(data_dir, "devices", "approve", "abcdef")
        assert bad.returncode == 2 and "no pending LocalSend request" in bad.stderr
        assert list_requests(data_dir) == []
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    assert rc == 0
    assert not (data_dir / "devices" / "localsend-pending.json").exists() or json.loads(
        (data_dir / "devices" / "localsend-pending.json").read_text())["pending"] == []
