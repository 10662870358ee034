"""Fuzzing the receiver (issue #20): hypothesis-made requests against a real receiver on
loopback — the main port's request parsing and paired routes, the LocalSend routes, the bulk
port. Each case must get an answer (no hang) that is not a 5xx and echoes nothing much of the
request; afterwards the receiver still answers a valid request. Bounded: ~150 cases per test,
a deadline per case, no example database (nothing written to the working tree)."""

from __future__ import annotations

import json
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from wifi_helpers import Running, read_response, run_receiver, tls_socket

from lifelog.sources.wifi.client import CompanionClient
from lifelog.sources.wifi.common import ReceiverLimits
from lifelog.sources.wifi.localsend import approve_all

# Hypothesis keeps caches in ./.hypothesis; keep them out of the working tree.
set_hypothesis_home_dir(str(Path(tempfile.gettempdir()) / "lifelog-hypothesis"))

FUZZ = settings(
    max_examples=150,
    deadline=10_000,  # ms per case: a hang shows up as a failure, not a stuck run
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_ERROR_BYTES = 2048


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: Any) -> Iterator[tuple[Running, CompanionClient, Any]]:
    import os

    os.environ.setdefault("LIFELOG_PASSPHRASE", "test passphrase")
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "memory"
    data_dir.mkdir()
    limits = ReceiverLimits(approval_prompts_per_address=10**6, approval_cooldown_s=0, read_timeout_s=5,
                            keepalive_timeout_s=5)
    with run_receiver(data_dir, limits, approve_localsend=approve_all) as running:
        client, pairing = running.pair("fuzz phone")
        yield running, client, pairing
        # Still serving after everything: info, a paired request, a LocalSend register.
        assert client.info()["service"] == "lifelog"
        assert client.have([]) == set()
        s, _h, _d = client.request("POST", "/api/localsend/v2/register", doc={"alias": "x"})
        assert s == 200
        client.close()


def _exchange(port: int, data: bytes, timeout: float = 8) -> tuple[int, bytes] | None:
    """Send ``data``; the first response, or None when the receiver closed without one."""
    with tls_socket(port, timeout=timeout) as s:
        try:
            s.sendall(data)
            status, _h, body = read_response(s)
        except (ConnectionError, ssl.SSLError, BrokenPipeError):
            return None
        # socket.timeout propagates: a hang fails the case
    return status, body


def _check(answer: tuple[int, bytes] | None, sent: bytes) -> None:
    if answer is None:
        return
    status, body = answer
    assert 100 <= status < 500, (status, body[:300], sent[:300])
    if status >= 400:
        assert len(body) <= MAX_ERROR_BYTES, (status, len(body), body[:200])


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1,
                 max_size=20)
_header_value = st.one_of(st.text(max_size=60).map(lambda t: t.replace("\r", "").replace("\n", "")),
                          st.integers(min_value=-10, max_value=10**25).map(str),
                          st.sampled_from(["bytes 0-9/10", "bytes */10", "bytes 5-2/10", "bytes 0-0/0", "chunked",
                                           "application/json", "100-continue", "Bearer nope", "bytes 0-9999999/1"]))
_header_name = st.one_of(st.sampled_from(["Content-Length", "Content-Range", "Transfer-Encoding", "Content-Type",
                                          "Authorization", "Expect", "Host", "Connection"]), _token)
_paths = st.one_of(
    st.sampled_from(["/api/v1/info", "/api/v1/pair", "/api/v1/have", "/api/v1/uploads",
                     "/api/v1/uploads/" + "a" * 32, "/api/v1/uploads/zz", "/api/localsend/v2/register",
                     "/api/localsend/v2/info", "/api/localsend/v2/prepare-upload", "/api/localsend/v2/upload",
                     "/api/localsend/v2/upload?sessionId=x&fileId=y&token=z", "/api/localsend/v2/cancel?sessionId=q",
                     "/", "/%00", "/api/v1/uploads/../../etc/passwd", "*"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=80).map(lambda t: "/" + t),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30) | st.floats(allow_nan=False)
    | st.text(max_size=40) | st.sampled_from(["\ud800", "x\udfff", "\x00", "é" * 3]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


def _auth_header(pairing: Any) -> st.SearchStrategy[list[tuple[str, str]]]:
    return st.sampled_from([[], [("Authorization", f"Bearer {pairing.credential}")], [("Authorization", "Bearer x")]])


@FUZZ
@given(data=st.data())
def test_fuzz_main_port_requests(fuzzed: tuple[Running, CompanionClient, Any], data: st.DataObject) -> None:
    """Well-framed HTTP/1.1 requests with fuzzed methods, paths, headers and bodies."""
    running, _client, pairing = fuzzed
    method = data.draw(st.one_of(st.sampled_from(["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH"]),
                                 _token))
    path = data.draw(_paths)
    headers = data.draw(st.lists(st.tuples(_header_name, _header_value), max_size=6))
    headers += data.draw(_auth_header(pairing))
    body = data.draw(st.one_of(st.binary(max_size=2000), _json.map(lambda d: json.dumps(d).encode())))
    # The body is framed by its true length (a lying Content-Length is the bad-input tests' job:
    # the receiver then waits for the missing bytes, as it should).
    headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")]
    lines = [f"{method} {path} HTTP/1.1", "Host: fuzz", *(f"{k}: {v}" for k, v in headers),
             f"Content-Length: {len(body)}", "Connection: close"]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogatepass") + body
    _check(_exchange(running.port, raw), raw)


@FUZZ
@given(head=st.binary(min_size=1, max_size=3000), tail=st.binary(max_size=3000))
def test_fuzz_main_port_raw_bytes(fuzzed: tuple[Running, CompanionClient, Any], head: bytes, tail: bytes) -> None:
    """Arbitrary bytes where a request should be: a bounded 400 or a closed connection."""
    running = fuzzed[0]
    raw = head + b"\r\n\r\n" + tail
    _check(_exchange(running.port, raw), raw)


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_fuzz_localsend(fuzzed: tuple[Running, CompanionClient, Any], data: st.DataObject) -> None:
    """LocalSend bodies: prepare-upload with fuzzed info/files, then upload/cancel on its session."""
    running = fuzzed[0]
    c = CompanionClient(running.url, running.receiver.fingerprint, timeout=30)
    try:
        name = st.one_of(st.sampled_from(["a.mp4", "../x.mp4", "b.MOV", ".hidden.mp4", "c.txt", "",
                                          "d" * 300 + ".mp4"]),
                         st.text(max_size=40))
        file_doc = st.fixed_dictionaries({}, optional={
            "id": st.one_of(st.text(max_size=20), _json), "fileName": st.one_of(name, _json),
            "size": st.one_of(st.integers(min_value=-5, max_value=10**14), _json),
            "sha256": st.one_of(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), _json),
            "fileType": st.text(max_size=10)})
        info = st.fixed_dictionaries({}, optional={
            "alias": st.one_of(st.sampled_from(["Fuzz Phone", "Other"]), st.sampled_from(["Fuzz Phone", "Other"]),
                               st.text(max_size=120), _json),
            "fingerprint": st.one_of(st.sampled_from(["ab" * 32]), st.text(max_size=210), _json),
            "deviceModel": _json, "deviceType": _json})
        doc = data.draw(st.one_of(
            st.fixed_dictionaries({"info": info, "files": st.dictionaries(st.text(max_size=10), file_doc, max_size=4)}),
            _json))
        s, _h, prep = c.request("POST", "/api/localsend/v2/prepare-upload", doc=doc)
        assert s < 500, (s, prep)
        if s == 200:
            sid, files = prep["sessionId"], prep["files"]
            fid = data.draw(st.sampled_from([*files, "nope"]))
            token = files.get(fid, "nope") if data.draw(st.booleans()) else data.draw(st.text(max_size=30))
            body = data.draw(st.binary(max_size=3000))
            from urllib.parse import urlencode

            q = urlencode({"sessionId": sid, "fileId": fid, "token": token})
            s, _h, out = c.request("POST", f"/api/localsend/v2/upload?{q}", body=body)
            assert s < 500, (s, out)
            s, _h, _d = c.request("POST", f"/api/localsend/v2/cancel?{urlencode({'sessionId': sid})}")
            assert s == 200
        for path in ("/api/localsend/v2/register", "/api/localsend/v2/info"):
            s, _h, _d = c.request("POST" if path.endswith("register") else "GET", path,
                                  doc=data.draw(_json) if path.endswith("register") else None)
            assert s == 200
    finally:
        c.close()


@FUZZ
@given(data=st.data())
def test_fuzz_bulk_port(fuzzed: tuple[Running, CompanionClient, Any], data: st.DataObject) -> None:
    """The bulk port's strict head parser and its PUT checks."""
    running, _client, pairing = fuzzed
    port = running.receiver.app.bulk_port
    assert port
    raw = data.draw(st.one_of(
        st.binary(max_size=2000).map(lambda b: b + b"\r\n\r\n"),
        st.builds(
            lambda m, p, hs, body: ("\r\n".join([f"{m} {p} HTTP/1.1", *(f"{k}: {v}" for k, v in hs)])
                                    + "\r\n\r\n").encode("utf-8", "surrogatepass") + body,
            st.sampled_from(["PUT", "GET", "POST", "put"]),
            st.one_of(st.just("/api/v1/uploads/" + "b" * 32), _paths),
            st.lists(st.tuples(_header_name, _header_value), max_size=6).map(
                lambda hs: [*hs, ("Authorization", f"Bearer {pairing.credential}")]),
            st.binary(max_size=500)),
    ))
    _check(_exchange(port, raw), raw)
