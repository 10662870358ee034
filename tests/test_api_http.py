"""The local HTTP API end to end: the real server (uvicorn on a free loopback port) called with a
real ``httpx`` client, against a small real memory (real clips, faces and speech; see
tests/api_helpers.py). Every answer is checked for what a client sees: the right episode, scope
refusals, revocation, bad tokens, bad bodies, path traversal, excluded people, forgotten data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import NOW, Built, bearer, build_memory, copy_memory, running
from helpers import cli_env


@pytest.fixture(scope="module")
def built(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_memory(tmp_path_factory, media)


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[Any]:
    with running(built.data) as s:
        yield s


@pytest.fixture
def client(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def _grant(data: Path, scopes: str, **kw: Any) -> tuple[Any, str]:
    from lifelog.api.grants import Grants

    return Grants(data).add("test client", scopes, **kw)


def _ask(client: httpx.Client, token: str, question: str, **extra: Any) -> httpx.Response:
    return client.post("/v1/ask", json={"question": question, "now": NOW, **extra}, headers=bearer(token))


def _log(data: Path, grant_id: str) -> list[dict[str, Any]]:
    from lifelog.api import Memory
    from lifelog.api.grants import read_log

    return read_log(Memory(data), grant_id)


# ------------------------------------------------------------------ answers
def test_ask_gets_the_right_episode_with_its_thumbnail_and_is_logged(built: Built, client: httpx.Client) -> None:
    g, token = _grant(built.data, "ask,thumbnails")
    r = _ask(client, token, "when did I last see a cat?")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["intent"] == "last" and doc["hits"][0]["episode_id"] == built.cat
    assert doc["hits"][0]["start"].startswith("2024-05-15T19:00")
    thumb = next(e["thumbnail"] for e in doc["hits"][0]["evidence"] if e["thumbnail"])
    assert "/" not in thumb  # an id, never a path on the server
    img = client.get(f"/v1/thumbnails/{thumb}", headers=bearer(token))
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert img.content[:2] == b"\xff\xd8"

    entries = _log(built.data, g.id)
    ask_entry = next(e for e in entries if e["op"] == "ask")
    assert ask_entry["outcome"] == "ok" and ask_entry["episodes"][0] == built.cat and ask_entry["via"] == "http"
    assert ask_entry["question"] == "when did I last see a cat?"  # decrypted for the user
    assert any(e["op"] == "thumbnail" and e["outcome"] == "ok" for e in entries)
    raw = (built.data / "access" / f"{g.id}.jsonl").read_text()
    assert "cat" not in raw and oct((built.data / "access" / f"{g.id}.jsonl").stat().st_mode & 0o777) == "0o600"


def test_browse_days_episodes_people_status(built: Built, client: httpx.Client) -> None:
    _, token = _grant(built.data, "episodes,people,status,objects")
    h = bearer(token)
    days = client.get("/v1/days", headers=h).json()
    assert days == [{"day": "2024-05-14", "episodes": 2}, {"day": "2024-05-15", "episodes": 1}]
    eps = client.get("/v1/episodes", params={"start": "2024-05-14T00:00:00+00:00",
                                             "end": "2024-05-15T00:00:00+00:00"}, headers=h).json()
    assert [e["id"] for e in eps] == [built.meeting, built.biden]
    assert all(e["thumbnails"] == [] for e in eps)  # no thumbnails scope
    one = client.get(f"/v1/episodes/{built.cat}", headers=h).json()
    assert one["id"] == built.cat and one["evidence"] and all(f["thumbnail"] is None for f in one["evidence"])
    assert one["transcript"] is None and set(one["withheld"]) == {"transcripts", "thumbnails"}
    people = client.get("/v1/people", headers=h).json()
    assert {p["id"] for p in people} == {built.obama_person, built.biden_person}
    assert all(p["thumbnail"] is None for p in people)
    st = client.get("/v1/status", headers=h).json()
    assert st["episodes"] == 3 and st["days"] == 2 and "token" not in json.dumps(st["grant"])
    assert client.get("/v1/objects", headers=h).status_code == 200
    # schema, unauthenticated (it holds no data)
    spec = client.get("/openapi.json").json()
    assert "/v1/ask" in spec["paths"] and "/v1/thumbnails/{thumb_id}" in spec["paths"]


# ------------------------------------------------------------------ scopes
def test_a_grant_without_transcripts_never_reads_what_was_said(built: Built, client: httpx.Client) -> None:
    g, token = _grant(built.data, "ask,episodes,search")
    r = _ask(client, token, "did anyone mention Dashwood?")
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "forbidden" and "transcripts" in r.json()["message"]
    s = client.post("/v1/search", json={"query": "what did someone say about Dashwood"}, headers=bearer(token))
    assert s.status_code == 403
    ep = client.get(f"/v1/episodes/{built.meeting}", headers=bearer(token))
    assert ep.status_code == 200 and ep.json()["transcript"] is None
    assert "Dashwood" not in ep.text and "Dashwood" not in r.text
    # a kind not granted at all
    p = client.get("/v1/people", headers=bearer(token))
    assert p.status_code == 403 and "people" in p.json()["message"]
    assert client.get("/v1/thumbnails/" + built.cat + "0", headers=bearer(token)).status_code == 403
    refused = [e for e in _log(built.data, g.id) if e["outcome"] == "refused"]
    assert {e["op"] for e in refused} >= {"ask", "search", "people"}

    # the same question with the scope: the quote and the right episode
    _, full = _grant(built.data, "ask,transcripts,episodes")
    ok = _ask(client, full, "did anyone mention Dashwood?")
    assert ok.status_code == 200 and ok.json()["hits"][0]["episode_id"] == built.meeting
    assert "Dashwood" in ok.text
    tr = client.get(f"/v1/episodes/{built.meeting}", headers=bearer(full)).json()["transcript"]
    assert any("Dashwood" in u["text"] for u in tr)
    # the moment's description says what was said ("… talked about … Dashwood …"): only with the scope
    described = client.get(f"/v1/episodes/{built.meeting}", headers=bearer(full)).json()["description"]
    assert "Dashwood" in described
    listed = client.get("/v1/episodes", headers=bearer(token))
    assert listed.status_code == 200 and built.meeting in listed.text and "Dashwood" not in listed.text


def test_an_excluded_person_is_never_returned(built: Built, client: httpx.Client) -> None:
    _, token = _grant(built.data, "all", exclude_people=[built.obama_person])
    h = bearer(token)
    assert built.obama_person not in {p["id"] for p in client.get("/v1/people", headers=h).json()}
    assert built.meeting not in {e["id"] for e in client.get("/v1/episodes", headers=h).json()}
    assert client.get(f"/v1/episodes/{built.meeting}", headers=h).status_code == 404
    said = _ask(client, token, "did anyone mention Dashwood?").json()
    assert said["hits"] == [] and "Dashwood" not in said["answer"]
    # his face crop, even by its exact id
    from lifelog.api import Memory

    crop = Memory(built.data).person(built.obama_person).thumbnail
    assert crop and client.get(f"/v1/thumbnails/{crop}", headers=h).status_code == 404
    assert client.get("/v1/days", headers=h).json()[0] == {"day": "2024-05-14", "episodes": 1}
    # the other person's crop is served
    other = Memory(built.data).person(built.biden_person).thumbnail
    assert client.get(f"/v1/thumbnails/{other}", headers=h).status_code == 200


def test_a_period_limits_every_answer(built: Built, client: httpx.Client) -> None:
    _, token = _grant(built.data, "ask,episodes,people", period_start=datetime(2024, 5, 15, tzinfo=UTC))
    h = bearer(token)
    assert [e["id"] for e in client.get("/v1/episodes", headers=h).json()] == [built.cat]
    assert client.get(f"/v1/episodes/{built.biden}", headers=h).status_code == 404
    assert client.get("/v1/people", headers=h).json() == []  # nobody was seen on the cat's day
    rocket = _ask(client, token, "when did I first see a suit?").json()  # the meeting: outside the period
    assert all(x["episode_id"] == built.cat for x in rocket["hits"])


# ------------------------------------------------------------------ tokens
def test_missing_bad_expired_and_revoked_tokens_get_401(built: Built, client: httpx.Client) -> None:
    assert client.get("/v1/status").status_code == 401
    r = client.get("/v1/status", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    _, good = _grant(built.data, "status")
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert client.get("/v1/status", headers=bearer(forged)).status_code == 401
    assert client.get("/v1/status", headers={"Authorization": f"Basic {good}"}).status_code == 401
    old, expired = _grant(built.data, "status", days=1, now=datetime.now(UTC) - timedelta(days=2))
    r = client.get("/v1/status", headers=bearer(expired))
    assert r.status_code == 401 and "expired" in r.json()["message"]

    g, token = _grant(built.data, "status,ask")
    assert client.get("/v1/status", headers=bearer(token)).status_code == 200
    out = subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(built.data), "grants", "revoke", g.id,
                          "--json"], capture_output=True, text=True, env=cli_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["state"] == "revoked"
    r = client.get("/v1/status", headers=bearer(token))  # the very next request
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    assert _ask(client, token, "when did I last see a cat?").status_code == 401
    assert [e["outcome"] for e in _log(built.data, g.id)][-2:] == ["refused", "refused"]
    assert _log(built.data, old.id)[-1]["detail"] == "grant expired"


# ------------------------------------------------------------------ bad input
def test_oversized_and_malformed_bodies(built: Built, server: Any, client: httpx.Client) -> None:
    _, token = _grant(built.data, "ask,search")
    h = bearer(token)
    big = client.post("/v1/ask", content=json.dumps({"question": "x" * 100_000}), headers={
        **h, "content-type": "application/json"})
    assert big.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        yield b'{"question": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}'

    streamed = client.post("/v1/ask", content=chunks(), headers={**h, "content-type": "application/json"})
    assert streamed.status_code == 413
    for body in (b'{"question": "when did I', b"\xff\xfe not json", b"[1, 2", b'"just a string"'):
        r = client.post("/v1/ask", content=body, headers={**h, "content-type": "application/json"})
        assert r.status_code == 422, (body, r.status_code, r.text)
    for doc in ({"question": ""}, {"question": 5}, {"question": "cat?", "limit": 0},
                {"question": "cat?", "limit": 10_000}, {"question": "cat?", "extra": 1},
                {"question": "cat?", "now": "yesterday-ish"}, {"query": "cat", "start": "2024-05-15T00:00:00Z",
                                                              "end": "2024-05-14T00:00:00Z"}):
        path = "/v1/search" if "query" in doc else "/v1/ask"
        r = client.post(path, json=doc, headers=h)
        assert r.status_code == 422, (doc, r.text)
    assert _ask(client, token, "when did I last see a cat?").status_code == 200  # still serving


def test_thumbnail_requests_cannot_reach_files(built: Built, client: httpx.Client) -> None:
    _, token = _grant(built.data, "thumbnails,episodes")
    h = bearer(token)
    ep = client.get(f"/v1/episodes/{built.cat}", headers=h).json()
    real = ep["evidence"][0]["thumbnail"]
    assert client.get(f"/v1/thumbnails/{real}", headers=h).status_code == 200
    assert ep["thumbnails"] and all(client.get(f"/v1/thumbnails/{t}", headers=h).status_code == 200
                                    for t in ep["thumbnails"])
    attempts = [
        "../../grants.json", "..%2F..%2Fgrants.json", "%2e%2e%2f%2e%2e%2fvault%2fkey.json", "..", "%2e%2e",
        f"{real[:2]}%2F{real}.bin", f"../blobs/{real[:2]}/{real}", "%2Fetc%2Fpasswd", "....//....//grants.json",
        f"{real}%00.jpg", f"{real}/../../vault/key.json", "vault", "key", "a" * 129, real.upper(),
    ]
    secrets_on_disk = [(built.data / "grants.json").read_bytes()[:40],
                       (built.data / "vault" / "key.json").read_bytes()[:40]]
    for a in attempts:
        r = client.get(f"/v1/thumbnails/{a}", headers=h)
        assert r.status_code in (404, 422), (a, r.status_code)
        assert not any(s in r.content for s in secrets_on_disk)
        assert r.content[:2] != b"\xff\xd8"


def test_a_client_that_disconnects_mid_response_does_not_stop_the_server(
    built: Built, server: Any, client: httpx.Client
) -> None:
    _, token = _grant(built.data, "episodes,thumbnails,ask")
    req = (f"GET /v1/episodes HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
           f"Authorization: Bearer {token}\r\n\r\n").encode()
    for i in range(6):
        s = socket.create_connection(("127.0.0.1", server.port))
        if i % 2:  # reset the connection while the answer is coming back
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(req if i < 4 else req[:30])  # the last ones hang up half-way through the request
        if i < 4:
            s.recv(16)
        s.close()
    ask = (f"POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {token}\r\n"
           "Content-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"question\": \"when").encode()
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(ask)  # a body promised and never sent
    s.close()
    r = client.post("/v1/ask", json={"question": "when did I last see a cat?", "now": NOW}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["hits"][0]["episode_id"] == built.cat


# ------------------------------------------------------------------ the memory changing under it
def test_an_import_writing_while_clients_read(built: Built, media: Any, tmp_path: Path) -> None:
    from lifelog.sample.compose import make_clip

    data = copy_memory(built, tmp_path / "memory")
    new = [make_clip(tmp_path / f"rocket{i}.mp4", media.path("rocket.jpg"), 6,
                     datetime(2024, 5, 16, 9 + i, 0, tzinfo=UTC), fps=10, size=(320, 240), seed=i) for i in range(3)]
    _, token = _grant(data, "ask,episodes,status")
    errors: list[str] = []
    done = threading.Event()
    seen: list[int] = []
    with running(data) as srv:

        def reader() -> None:
            with httpx.Client(base_url=srv.url, timeout=120) as c:
                while not done.is_set():
                    for r in (c.get("/v1/episodes", headers=bearer(token)),
                              c.post("/v1/ask", json={"question": "when did I last see a cat?", "now": NOW},
                                     headers=bearer(token)),
                              c.get("/v1/days", headers=bearer(token))):
                        if r.status_code != 200:
                            errors.append(f"{r.request.url}: {r.status_code} {r.text[:200]}")
                    eps = c.get("/v1/episodes", headers=bearer(token))
                    if eps.status_code == 200:
                        seen.append(len(eps.json()))

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            out = subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(data), "import",
                                  *map(str, new), "--no-transcribe", "--json"],
                                 capture_output=True, text=True, env=cli_env(), timeout=600)
        finally:
            done.set()
            for t in threads:
                t.join(120)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["imported"] == 3
        assert not errors, errors[:3]
        assert seen and min(seen) >= 3
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            eps = c.get("/v1/episodes", headers=bearer(token)).json()
        assert len(eps) == 6  # the import is visible to the running server


def test_forgotten_and_trashed_episodes_are_never_served(built: Built, tmp_path: Path) -> None:
    data = copy_memory(built, tmp_path / "memory")
    _, token = _grant(data, "all")
    h = bearer(token)
    with running(data) as srv, httpx.Client(base_url=srv.url, timeout=120) as c:
        doc = c.get(f"/v1/episodes/{built.cat}", headers=h).json()
        thumb = doc["evidence"][0]["thumbnail"]
        assert c.get(f"/v1/thumbnails/{thumb}", headers=h).status_code == 200
        out = subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(data), "forget", "--episode",
                              built.cat, "--yes"], capture_output=True, text=True, env=cli_env(), timeout=300)
        assert out.returncode == 0, out.stderr
        r = c.get(f"/v1/episodes/{built.cat}", headers=h)
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        assert c.get(f"/v1/thumbnails/{thumb}", headers=h).status_code == 404
        cat = c.post("/v1/ask", json={"question": "when did I last see a cat?", "now": NOW}, headers=h).json()
        assert all(x["episode_id"] != built.cat for x in cat["hits"])
        assert built.cat not in {e["id"] for e in c.get("/v1/episodes", headers=h).json()}

        from lifelog.api import Memory

        Memory(data).trash_episodes([built.biden])
        assert c.get(f"/v1/episodes/{built.biden}", headers=h).status_code == 404
        assert built.biden not in {e["id"] for e in c.get("/v1/episodes", headers=h).json()}


# ------------------------------------------------------------------ binding
def test_loopback_only_unless_the_user_opts_in(built: Built, server: Any) -> None:
    from lifelog.api import Memory
    from lifelog.serve.http import ApiServer, RemoteBindRefused

    with pytest.raises(RemoteBindRefused, match="--allow-remote"):
        ApiServer(Memory(built.data), "0.0.0.0", 0)
    out = subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(built.data), "api", "--host",
                          "0.0.0.0", "--port", "0"], capture_output=True, text=True, env=cli_env(), timeout=120)
    assert out.returncode == 2 and "--allow-remote" in out.stderr
    _, token = _grant(built.data, "status")
    r = httpx.get(f"{server.url}/v1/status", headers={**bearer(token), "Host": "evil.example:80"})
    assert r.status_code == 400  # a page on another site resolving to 127.0.0.1 gets nothing


def test_lifelog_api_serves_in_the_foreground_and_stops_on_ctrl_c(built: Built) -> None:
    _, token = _grant(built.data, "status")
    proc = subprocess.Popen([sys.executable, "-m", "lifelog", "--data-dir", str(built.data), "api", "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=cli_env())
    try:
        assert proc.stderr is not None
        line = ""
        while "API on" not in line:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "lifelog api exited"
        url = line.split("API on ", 1)[1].split("/v1", 1)[0]
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/v1/status", headers=bearer(token), timeout=60).json()["episodes"] == 3
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(60) == 0
        assert "stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_host_program_runs_it_in_its_own_event_loop(built: Built) -> None:
    """How `lifelog service` hosts it: ``await serve()`` in the host's loop, stopped from another
    thread; the host's signal handlers are left alone."""
    import asyncio

    from lifelog.api import Memory
    from lifelog.serve.http import ApiServer

    _, token = _grant(built.data, "status")
    server = ApiServer(Memory(built.data), port=0)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    got: list[int] = []

    def client() -> None:
        try:
            for _ in range(600):
                try:
                    got.append(httpx.get(f"{server.url}/v1/status", headers=bearer(token), timeout=60).status_code)
                    break
                except httpx.ConnectError:
                    threading.Event().wait(0.05)
        finally:
            server.stop()

    async def host() -> None:
        t = threading.Thread(target=client)
        t.start()
        await server.serve()
        t.join()

    asyncio.run(host())
    assert got == [200]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
