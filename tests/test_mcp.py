"""The MCP server (lifelog/serve/mcp.py), called with the MCP SDK's own client: over stdio (a real
``python -m lifelog mcp`` subprocess, via ``stdio_client``) and over streamable HTTP (a real
server on a free loopback port, via ``streamable_http_client``), against a small real memory
(real clips, real models, real LanceDB). Grants are real grants (lifelog.api.grants)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from lifelog.paths import REPO_ROOT

CEST = timezone(timedelta(hours=2))
CAT_AT = datetime(2024, 5, 14, 8, 0, tzinfo=CEST)
ROCKET_AT = datetime(2024, 5, 14, 12, 0, tzinfo=CEST)
NOW = "2024-05-14T20:00:00+02:00"
TOOLS = {"ask", "search", "get_episode", "people", "timeline"}


@dataclass
class Built:
    data_dir: Path
    cat_episode: str
    rocket_episode: str


@pytest.fixture(scope="module")
def built(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Built:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("mcp")
    cat = make_clip(root / "cat.mp4", media.path("chelsea.png"), 6, CAT_AT, fps=10, size=(320, 240))
    rocket = make_clip(root / "rocket.mp4", media.path("rocket.jpg"), 6, ROCKET_AT, fps=10, size=(320, 240),
                       effect="zoom_in", seed=3)
    mem = Memory(root / "memory")
    assert mem.import_paths([cat, rocket]).imported == 2
    eps = mem.episodes()

    def at(t: datetime) -> str:
        return next(e.id for e in eps if abs((e.start - t).total_seconds()) < 60)

    return Built(root / "memory", at(CAT_AT), at(ROCKET_AT))


def _grant(data_dir: Path, name: str, scopes: str) -> tuple[str, str]:
    from lifelog.api.grants import Grants

    g, token = Grants(data_dir).add(name, scopes, days=1)
    return g.id, token


def _revoke(data_dir: Path, grant_id: str) -> None:
    from lifelog.api.grants import Grants

    Grants(data_dir).revoke(grant_id)


def _log(data_dir: Path, grant_id: str) -> list[dict[str, Any]]:
    from lifelog.api import Memory
    from lifelog.api.grants import read_log

    return read_log(Memory(data_dir), grant_id)


def _env(**extra: str) -> dict[str, str]:
    return {"LIFELOG_PASSPHRASE": os.environ.get("LIFELOG_PASSPHRASE", "test passphrase"), **extra}


@asynccontextmanager
async def _stdio_session(data_dir: Path, token: str) -> AsyncIterator[Any]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "lifelog", "--data-dir", str(data_dir), "mcp"],
        env=_env(LIFELOG_GRANT_TOKEN=token), cwd=str(REPO_ROOT),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def _http_session(url: str, token: str | None) -> AsyncIterator[Any]:
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
            streamable_http_client(url, http_client=http) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        yield session


def _run(fn: Callable[[], Awaitable[None]]) -> None:
    anyio.run(fn)


def _doc(result: Any) -> Any:
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


def _images(result: Any) -> list[bytes]:
    return [base64.b64decode(c.data) for c in result.content if c.type == "image"]


def _error(result: Any) -> str:
    assert result.is_error, "the call should have been refused"
    return str(result.content[0].text)


# ------------------------------------------------------------------ stdio
def test_stdio_ask_finds_the_right_episode_with_thumbnails_and_is_logged(built: Built) -> None:
    gid, token = _grant(built.data_dir, "assistant", "ask,episodes,people,thumbnails,transcripts,search")

    async def main() -> None:
        async with _stdio_session(built.data_dir, token) as s:
            tools = await s.list_tools()
            names = {t.name for t in tools.tools}
            assert names >= TOOLS
            ask_tool = next(t for t in tools.tools if t.name == "ask")
            assert "question" in ask_tool.input_schema["properties"] and ask_tool.description

            res = await s.call_tool("ask", {"question": "when did I last see a cat?", "now": NOW})
            doc = _doc(res)
            assert doc["hits"] and doc["hits"][0]["episode_id"] == built.cat_episode
            imgs = _images(res)
            assert imgs and all(b[:3] == b"\xff\xd8\xff" for b in imgs)  # real JPEG thumbnails

            res = await s.call_tool("ask", {"question": "when did I last see a cat?", "now": NOW, "images": False})
            assert _doc(res)["hits"][0]["episode_id"] == built.cat_episode and not _images(res)

            res = await s.call_tool("get_episode", {"episode_id": built.rocket_episode})
            ep = _doc(res)
            assert ep["id"] == built.rocket_episode and ep["evidence"] and ep["transcript"] == []
            assert 1 <= len(_images(res)) <= 5  # its frames' thumbnails, as images

            timeline = _doc(await s.call_tool("timeline", {}))
            assert timeline["days"] == [{"day": "2024-05-14", "episodes": 2}]
            day = _doc(await s.call_tool("timeline", {"day": "2024-05-14"}))
            assert [e["id"] for e in day["episodes"]] == [built.cat_episode, built.rocket_episode]

            missing = _error(await s.call_tool("get_episode", {"episode_id": "no-such-episode"}))
            assert missing.startswith("not found")

    _run(main)
    log = _log(built.data_dir, gid)
    asks = [e for e in log if e["op"] == "ask"]
    assert len(asks) == 2 and all(e["via"] == "mcp" and e["outcome"] == "ok" for e in asks)
    assert asks[0]["episodes"][0] == built.cat_episode
    assert asks[0]["question"] == "when did I last see a cat?"
    assert any(e["op"] == "thumbnail" and e["outcome"] == "ok" for e in log)
    assert any(e["op"] == "episode" and e["outcome"] == "not_found" for e in log)


def test_stdio_scope_refusal_no_thumbnails_then_revocation(built: Built) -> None:
    gid, token = _grant(built.data_dir, "narrow", "ask,episodes")

    async def main() -> None:
        async with _stdio_session(built.data_dir, token) as s:
            said = _error(await s.call_tool("ask", {"question": "what did someone say about the trip?",
                                                    "now": NOW}))
            assert "transcripts" in said and said.startswith("forbidden")
            people = _error(await s.call_tool("people", {}))
            assert "'people'" in people

            res = await s.call_tool("ask", {"question": "when did I last see a cat?", "now": NOW})
            doc = _doc(res)
            assert doc["hits"][0]["episode_id"] == built.cat_episode
            assert not _images(res)  # no thumbnails scope: no images, and no thumbnail ids either
            assert all(ev["thumbnail"] is None for h in doc["hits"] for ev in h["evidence"])
            ep = _doc(await s.call_tool("get_episode", {"episode_id": built.cat_episode}))
            assert ep["transcript"] is None and "transcripts" in ep["withheld"]
            assert not _images(await s.call_tool("get_episode", {"episode_id": built.cat_episode}))

            _revoke(built.data_dir, gid)
            gone = _error(await s.call_tool("ask", {"question": "when did I last see a cat?", "now": NOW}))
            assert gone.startswith("unauthorized") and "revoked" in gone

    _run(main)
    log = _log(built.data_dir, gid)
    assert any(e["op"] == "ask" and e["outcome"] == "refused" and "transcripts" in e.get("detail", "") for e in log)
    assert log[-1]["outcome"] == "refused" and log[-1]["via"] == "mcp" and "revoked" in log[-1]["detail"]


def _start_stdio(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "mcp", *args],
        env={**os.environ, **_env(), "LIFELOG_GRANT_TOKEN": "", **env}, cwd=REPO_ROOT,
        input="", capture_output=True, text=True, timeout=120,
    )


def test_stdio_refuses_to_start_without_a_valid_token(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lifelog.commands.main import main

    # the real process: exit 2, one line on stderr, nothing at all on stdout
    proc = _start_stdio(built.data_dir, LIFELOG_GRANT_TOKEN="llg_0123456789_" + "x" * 43)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "refusing to start the MCP server" in proc.stderr and "valid grant token" in proc.stderr

    gid, token = _grant(built.data_dir, "soon revoked", "ask")
    _revoke(built.data_dir, gid)
    empty = tmp_path / "token"
    empty.write_text("\n")
    cases = [  # the same command in this process (each case would otherwise cost a process start)
        ((), "", "no grant token"),
        ((), token, "this grant was revoked"),
        (("--token-file", str(tmp_path / "absent")), "", "cannot read the grant token file"),
        (("--token-file", str(empty)), token, "is empty"),  # the file, when given, wins over the env
    ]
    for args, env_token, words in cases:
        monkeypatch.setenv("LIFELOG_GRANT_TOKEN", env_token)
        code = main(["--data-dir", str(built.data_dir), "mcp", *args])
        out, err = capsys.readouterr()
        assert code == 2 and out == "", (args, out, err)
        assert err.startswith("lifelog: ") and words in err.splitlines()[-1], (args, err)


# ------------------------------------------------------------------ streamable HTTP
@pytest.fixture
def http_server(built: Built) -> Any:
    from lifelog.serve.mcp import McpHttpServer

    with McpHttpServer(built.data_dir, port=0) as server:
        yield server


def test_http_ask_images_resources_and_revocation(built: Built, http_server: Any) -> None:
    gid, token = _grant(built.data_dir, "http assistant", "ask,episodes,thumbnails")
    assert http_server.host == "127.0.0.1"

    async def main() -> None:
        async with _http_session(http_server.url, token) as s:
            assert {t.name for t in (await s.list_tools()).tools} >= TOOLS
            res = await s.call_tool("ask", {"question": "when did I last see a rocket?", "now": NOW})
            assert _doc(res)["hits"][0]["episode_id"] == built.rocket_episode
            assert _images(res)
            day = await s.read_resource("lifelog://day/2024-05-14")
            text = day.contents[0].text
            assert built.cat_episode in text and built.rocket_episode in text and "2 episode(s)" in text
            with pytest.raises(MCPError, match="'profile' scope"):  # this grant has no profile scope
                await s.read_resource("lifelog://profile")
            _revoke(built.data_dir, gid)
            with pytest.raises(Exception):  # noqa: B017 - the transport's error for an HTTP 401
                with anyio.fail_after(60):
                    await s.call_tool("ask", {"question": "when did I last see a rocket?", "now": NOW})

    _run(main)
    log = _log(built.data_dir, gid)
    assert any(e["op"] == "ask" and e["via"] == "mcp" and e["outcome"] == "ok" for e in log)
    assert log[-1]["outcome"] == "refused" and "revoked" in log[-1]["detail"]


def test_http_profile_resource_with_the_profile_scope(built: Built, http_server: Any) -> None:
    from lifelog.api import Memory
    from lifelog.api.profile import read_profile, refresh_profile

    _, token = _grant(built.data_dir, "profile reader", "profile")
    refresh_profile(Memory(built.data_dir))
    expected = read_profile(Memory(built.data_dir)).text

    async def main() -> None:
        async with _http_session(http_server.url, token) as s:
            uris = {str(r.uri) for r in (await s.list_resources()).resources}
            assert "lifelog://profile" in uris
            templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
            assert "lifelog://day/{day}" in templates
            text = (await s.read_resource("lifelog://profile")).contents[0].text
            assert text == expected and "## People" in text  # the profile the user reads
            with pytest.raises(MCPError, match="'episodes' scope"):
                await s.read_resource("lifelog://day/2024-05-14")

    _run(main)


def test_http_requests_without_a_valid_token_get_401(built: Built, http_server: Any) -> None:
    import httpx

    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}}
    hdrs = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    gid, token = _grant(built.data_dir, "http expired soon", "ask")
    _revoke(built.data_dir, gid)
    for auth in (None, "Bearer", "Bearer llg_0123456789_" + "y" * 43, f"Bearer {token}", f"Basic {token}"):
        h = dict(hdrs, **({"Authorization": auth} if auth is not None else {}))
        r = httpx.post(http_server.url, json=init, headers=h, timeout=30)
        assert r.status_code == 401, (auth, r.status_code, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer") and r.json()["error"] == "unauthorized"

    _, good = _grant(built.data_dir, "http ok", "ask")
    r = httpx.post(http_server.url, json=init, headers=dict(hdrs, Authorization=f"Bearer {good}"), timeout=30)
    assert r.status_code == 200

    async def main() -> None:  # the SDK's own client, without a token, cannot even initialize
        with pytest.raises(Exception):  # noqa: B017
            with anyio.fail_after(60):
                async with _http_session(http_server.url, None):
                    pass

    _run(main)


def test_http_refuses_a_non_loopback_address_without_opt_in(built: Built) -> None:
    from lifelog.serve.mcp import McpHttpServer

    with pytest.raises(ValueError, match="loopback"):
        McpHttpServer(built.data_dir, host="0.0.0.0")


def test_http_bad_arguments_and_malformed_json_are_clear_errors(built: Built, http_server: Any) -> None:
    import httpx

    _, token = _grant(built.data_dir, "clumsy", "ask,search,episodes")
    hdrs = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
            "Authorization": f"Bearer {token}"}
    for body in (b"{not json", b"[]", b'{"jsonrpc": "2.0"}', b"\xff\xfe"):
        r = httpx.post(http_server.url, content=body, headers=hdrs, timeout=30)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)

    async def main() -> None:
        async with _http_session(http_server.url, token) as s:
            err = _error(await s.call_tool("timeline", {"day": "14/05/2024"}))
            assert err.startswith("bad request") and "YYYY-MM-DD" in err
            assert _error(await s.call_tool("ask", {"question": "  "})).startswith("bad request")
            assert "limit" in _error(await s.call_tool("ask", {"question": "a cat?", "limit": 10_000}))
            assert "ISO 8601" in _error(await s.call_tool("search", {"query": "cat", "start": "soon"}))
            assert "'objects'" in _error(await s.call_tool("objects", {}))
            # the server still answers after all that
            hits = _doc(await s.call_tool("search", {"query": "cat", "images": False}))["hits"]
            assert hits and hits[0]["episode_id"] == built.cat_episode
            early = _doc(await s.call_tool("search", {"query": "cat", "end": "2024-05-14T07:00:00+02:00"}))
            assert early["hits"] == []  # the cat was seen at 08:00, after this window

    _run(main)


def test_cli_http_serves_with_a_token_refuses_without_and_stops_on_sigterm(
    built: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    import signal

    import httpx

    from lifelog.commands.main import main

    _, token = _grant(built.data_dir, "cli http", "ask")
    assert main(["--data-dir", str(built.data_dir), "mcp", "--http", "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err
    proc = subprocess.Popen([sys.executable, "-m", "lifelog", "--data-dir", str(built.data_dir), "mcp", "--http",
                             "--port", "0"], env={**os.environ, **_env()}, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = ""
        for line in proc.stderr:  # the line that says where it listens
            if "streamable HTTP at" in line:
                break
        url = line.split(" at ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "t", "version": "1"}}}
        hdrs = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        assert httpx.post(url, json=init, headers=hdrs, timeout=30).status_code == 401
        ok = httpx.post(url, json=init, headers=dict(hdrs, Authorization=f"Bearer {token}"), timeout=30)
        assert ok.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert proc.stdout is not None and proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_http_client_that_disconnects_mid_call_leaves_the_server_serving(built: Built, http_server: Any) -> None:
    import httpx

    _, token = _grant(built.data_dir, "flaky client", "ask,thumbnails")
    hdrs = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
            "Authorization": f"Bearer {token}"}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}}
    with httpx.Client(timeout=60) as c:
        r = c.post(http_server.url, json=init, headers=hdrs)
        assert r.status_code == 200
        sess = dict(hdrs, **{"mcp-session-id": r.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"})
        c.post(http_server.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=sess)
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "ask", "arguments": {"question": "when did I last see a cat?", "now": NOW}}}
        for _ in range(3):  # ask, then hang up before reading the answer
            with c.stream("POST", http_server.url, json=call, headers=sess) as resp:
                assert resp.status_code == 200

    async def main() -> None:
        async with _http_session(http_server.url, token) as s:
            res = await s.call_tool("ask", {"question": "when did I last see a cat?", "now": NOW})
            assert _doc(res)["hits"][0]["episode_id"] == built.cat_episode and _images(res)

    _run(main)


def test_forgotten_episode_is_not_found_over_mcp(built: Built, http_server: Any) -> None:
    """Last in this file: it forgets the rocket episode of the shared memory."""
    from lifelog.api import Memory
    from lifelog.api.privacy import ForgetRequest

    _, token = _grant(built.data_dir, "after forget", "ask,episodes,thumbnails")

    async def fetch_rocket(s: Any) -> Any:
        return await s.call_tool("get_episode", {"episode_id": built.rocket_episode})

    async def main() -> None:
        async with _http_session(http_server.url, token) as s:
            assert _doc(await fetch_rocket(s))["id"] == built.rocket_episode
            Memory(built.data_dir).forget(ForgetRequest("episode", built.rocket_episode))
            assert _error(await fetch_rocket(s)).startswith("not found")
            day = _doc(await s.call_tool("timeline", {"day": "2024-05-14"}))
            assert [e["id"] for e in day["episodes"]] == [built.cat_episode]
            res = await s.call_tool("ask", {"question": "when did I last see a rocket?", "now": NOW})
            assert all(h["episode_id"] != built.rocket_episode for h in _doc(res)["hits"])

    _run(main)
