"""The MCP server (issue #17): the memory's served operations as Model Context Protocol tools
and resources, over stdio (``lifelog mcp``) and streamable HTTP on loopback (``lifelog mcp
--http``, or :class:`McpHttpServer` from Python).

It is a thin adapter over :mod:`lifelog.serve.ops`: every tool call verifies the grant token
again (a revoked or expired grant is refused on its next call), hands the verified grant to the
operation, which checks the scopes, logs the request under the grant and returns a JSON-able
document. This module only turns that document into MCP content (text + structured content,
thumbnails as ``ImageContent``) and the operations' typed errors into MCP tool errors.

Built on the SDK's high-level server (``mcp.server.mcpserver.MCPServer``, FastMCP's successor in
mcp 2): tools are typed Python functions whose signatures become the input schemas, resources
and resource templates are decorators, and it brings both transports. The low-level ``Server``
would only add hand-written JSON schemas and dispatch (docs/mcp.md).

Where the token comes from: over stdio, the one token the process was started with (checked
before the server starts, and again on every call); over HTTP, the ``Authorization: Bearer``
header of each request — a request without a valid token is answered 401 before it reaches
the MCP layer, and the tools re-read the header of the request that carried the call.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import ipaddress
import json
import threading
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent, ToolAnnotations

from lifelog.api import Memory
from lifelog.api.grants import Grant
from lifelog.serve import ops

__all__ = [
    "MAX_IMAGES",
    "McpHttpServer",
    "TokenRefused",
    "build_server",
    "check_token",
    "run_stdio",
]

MAX_IMAGES = 5  # thumbnails attached to one tool result (each a small JPEG; one per moment for ask/search)
SERVER_NAME = "lifelog"
_T = TypeVar("_T")
# The bearer token of the HTTP request that carried the message being handled: set by the gate
# (an ASGI middleware); the SDK runs each message's handler in its sender's context.
_REQUEST_TOKEN: contextvars.ContextVar[str | None] = contextvars.ContextVar("lifelog_mcp_token", default=None)

INSTRUCTIONS = (
    "lifelog is the user's private, on-device visual memory: what their camera, glasses or phone "
    "recorded, cut into episodes (a stretch of footage with a start and end time), with labels, "
    "people (faces grouped on the device, named by the user), everyday objects, read text and "
    "transcribed speech. Start with `ask` for a question in plain words; use `search` for "
    "moments matching words in a time window, `timeline` to see which days and episodes exist, "
    "`get_episode` for the evidence of one episode and `people` for who was seen. "
    "You see only what the user's grant for you allows (a period, some kinds, some people): a "
    "refusal names the missing scope, and nothing outside the grant is hinted at. Times are ISO "
    "8601 with the memory's time zone. Everything you read is logged for the user."
)

ASK_DESCRIPTION = """Answer a question about the user's past in plain words, from their visual memory.

Examples: "when did I last see my keys?", "how many times did I have coffee this week?",
"what did someone say about the trip?", "when did I see Sam?".

Returns the answer as one sentence, the question's intent (last, first, count, when, list, where,
what …), a count for "how many" questions, and the moments that show it, best first: each with
its episode_id (pass it to get_episode), start and end time and evidence (labels, objects,
people, read text, and what was said when the grant allows transcripts). With images=true and a
grant that includes thumbnails, one thumbnail per moment (at most 5) follows as an image.

Limits: it only sees footage the user recorded and imported, within the grant's period and
kinds; relative times ("yesterday", "this week") are read against `now` (ISO 8601, default the
server's clock). It says it found nothing rather than guessing."""

SEARCH_DESCRIPTION = """Find moments matching some words, optionally within a time window.

`query` is a few words (objects, scenes, words that were said or read, a person's name);
`start`/`end` are ISO 8601 dates or date-times bounding the window (either may be omitted).
Returns matching moments best first, each with episode_id, start, end, score and its evidence;
one thumbnail per moment (at most 5) as an image when images=true and the grant includes
thumbnails. Use `ask` for questions in full sentences; use this when you know what to look for
and when."""

EPISODE_DESCRIPTION = """One episode in full: its times, description (summary and labels), the
people and everyday objects seen, its frames, and what was said (only when the grant includes
transcripts). Thumbnails of its frames follow as images (at most 5) when images=true and the grant
includes thumbnails. An id outside the grant, forgotten or unknown is "not found"."""

PEOPLE_DESCRIPTION = """The people the memory knows: faces grouped on the device, with the name
the user gave (or none), when each was first and last seen, and in how many episodes. Only
people the grant allows are listed; use a person's name in `ask` ("when did I last see Sam?")."""

TIMELINE_DESCRIPTION = """Which days have footage, and the episodes in a period.

Without `day`, `start` or `end`: the days with footage (date and number of episodes). With
`day` (YYYY-MM-DD, the memory's time zone): that day's episodes. With `start`/`end` (ISO 8601
dates or date-times): the episodes in that window. Each episode has its id (for get_episode),
start, end, summary, people and objects. Only the grant's period is visible."""

OBJECTS_DESCRIPTION = """Everyday objects seen (phone, mug, laptop, keys …): without `name`, each
object with when it was first and last seen and in how many episodes; with `name`, the episodes in
which that object was seen (episode_id, first and last sighting). Only within the grant's period."""

PROFILE_DESCRIPTION = ("The user's memory profile as plain text: what the memory believes about their routines, "
                       "places and people. Says 'not available yet' where this version has none.")
DAY_DESCRIPTION = ("One day (YYYY-MM-DD, the memory's time zone) as plain text: its episodes with times, "
                   "summaries, people and objects, as far as the grant may see.")

_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


class TokenRefused(Exception):
    """The grant token is missing, unknown, expired or revoked (the message says which)."""


# ------------------------------------------------------------------ the ops seam
def check_token(memory: Memory, token: str | None, *, op: str = "mcp") -> Grant:
    """The active grant of ``token`` (:func:`lifelog.serve.ops.authenticate`);
    :class:`TokenRefused` with a clear message when it is missing, unknown, expired or revoked."""
    if not token or not token.strip():
        raise TokenRefused("no grant token: create one with `lifelog grants add NAME --scope …` and give it "
                           "to the client")
    try:
        return ops.authenticate(memory, token.strip(), op=op, via="mcp")
    except ops.ServeError as e:
        raise TokenRefused(str(e)) from e


def _run_op(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """An operation, its typed errors as MCP tool errors (the message says what is missing)."""
    try:
        return fn(*args, via="mcp", **kwargs)
    except ops.Forbidden as e:
        raise ToolError(f"forbidden: {e}") from e
    except ops.NotFound as e:
        raise ToolError(f"not found: {e}") from e
    except ops.BadRequest as e:
        raise ToolError(f"bad request: {e}") from e
    except ops.Unauthorized as e:
        raise ToolError(f"unauthorized: {e}") from e


def _when(value: str | None, memory: Memory, what: str, *, end: bool = False) -> datetime | None:
    """An ISO 8601 date or date-time from a client; a date is the start of that day in the
    memory's zone (for an ``end``, the start of the next day: the day is included)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        d = date.fromisoformat(text)
    except ValueError:
        try:
            t = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            raise ToolError(f"bad request: {what} must be an ISO 8601 date or date-time, not {value[:40]!r}") from None
        return t if t.tzinfo else t.replace(tzinfo=memory.tz)
    start = datetime.combine(d, time(0), tzinfo=memory.tz)
    return start + timedelta(days=1) if end else start


def _day(value: str, what: str = "day") -> date:
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise ToolError(f"bad request: {what} must be YYYY-MM-DD, not {str(value)[:40]!r}") from None


def _thumbnail(memory: Memory, grant: Grant, blob_id: str) -> bytes | None:
    """The thumbnail's JPEG bytes when the grant may see it (ops decides and logs), else None."""
    try:
        return ops.thumbnail(memory, grant, blob_id, via="mcp")
    except ops.ServeError:
        return None


# ------------------------------------------------------------------ content
def _thumb_ids(doc: Any) -> list[str]:
    """Thumbnail ids in an operation's document (``thumbnail``: an id, ``thumbnails``: ids), in
    order, without repeats."""
    out: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str) and value and value not in out:
            out.append(value)

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "thumbnail":
                    add(value)
                elif key == "thumbnails" and isinstance(value, list):
                    for v in value:
                        add(v)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    return out


def _pictures(doc: Any) -> list[str]:
    """The thumbnails worth showing: for moments (``hits``), the first of each moment, best
    first; otherwise every thumbnail of the document in order."""
    if isinstance(doc, dict) and isinstance(doc.get("hits"), list):
        firsts = (_thumb_ids(h)[:1] for h in doc["hits"])
        return list(dict.fromkeys(i for ids in firsts for i in ids))
    return _thumb_ids(doc)


def _result(memory: Memory, grant: Grant, doc: Any, *, images: bool) -> CallToolResult:
    """The document as JSON text and structured content; with ``images``, up to
    :data:`MAX_IMAGES` of its thumbnails as JPEG images (each fetched through ops, so only what
    the grant may see, and logged)."""
    content: list[ContentBlock] = [TextContent(type="text", text=json.dumps(doc, ensure_ascii=False))]
    shown = 0
    if images:
        for blob_id in _pictures(doc):
            if shown >= MAX_IMAGES:
                break
            data = _thumbnail(memory, grant, blob_id)
            if data:
                content.append(ImageContent(type="image", data=base64.b64encode(data).decode("ascii"),
                                            mime_type="image/jpeg", _meta={"thumbnail": blob_id}))
                shown += 1
    structured = doc if isinstance(doc, dict) else {"items": doc}
    return CallToolResult(content=content, structured_content=structured)


def _guarded(body: Callable[[], CallToolResult]) -> CallToolResult:
    """A tool's result, or its refusal as an MCP tool error whose text is just the reason
    (``forbidden: … the 'transcripts' scope was not given``), for the assistant to relay."""
    try:
        return body()
    except ToolError as e:
        return CallToolResult(content=[TextContent(type="text", text=str(e))], is_error=True)


def _day_text(day: date, episodes: list[dict[str, Any]]) -> str:
    """A plain-text account of a day from its episodes (until day descriptions are served)."""
    if not episodes:
        return f"{day.isoformat()}: no footage this grant may see."
    lines = [f"{day.isoformat()}: {len(episodes)} episode(s)."]
    for e in episodes:
        start, end = datetime.fromisoformat(e["start"]), datetime.fromisoformat(e["end"])
        extra = [", ".join(e[k]) for k in ("people", "objects") if e.get(k)]
        said = e.get("description") or e.get("summary") or ""
        lines.append(f"{start:%H:%M}–{end:%H:%M} {said}".rstrip()
                     + (f" ({'; '.join(extra)})" if extra else "") + f" [episode {e['id']}]")
    return "\n".join(lines)


def _bearer(headers: Mapping[str, str] | None) -> str | None:
    if not headers:
        return None
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# ------------------------------------------------------------------ the server
def build_server(memory: Memory, *, token: str | None = None) -> MCPServer[Any]:
    """The MCP server over ``memory``. ``token``: the stdio grant token (checked again on every
    call); None for HTTP, where each request's own bearer token is used."""
    server: MCPServer[Any] = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, log_level="WARNING",
                                       version=_version())

    def request_token(ctx: Context[Any, Any] | None) -> str | None:
        if token is not None:
            return token
        return _REQUEST_TOKEN.get() or (_bearer(ctx.headers) if ctx is not None else None)

    def grant_of(ctx: Context[Any, Any], op: str) -> Grant:
        tok = request_token(ctx)
        try:
            return check_token(memory, tok, op=op)
        except TokenRefused as e:
            raise ToolError(f"unauthorized: {e}") from e

    @server.tool(name="ask", description=ASK_DESCRIPTION, annotations=_READ_ONLY)
    def ask(question: str, ctx: Context[Any, Any], now: str | None = None, limit: int = 5,
            images: bool = True) -> CallToolResult:
        def body() -> CallToolResult:
            grant = grant_of(ctx, "ask")
            doc = _run_op(ops.ask, memory, grant, question, now=_when(now, memory, "now"), limit=limit)
            return _result(memory, grant, doc, images=images)

        return _guarded(body)

    @server.tool(name="search", description=SEARCH_DESCRIPTION, annotations=_READ_ONLY)
    def search(query: str, ctx: Context[Any, Any], start: str | None = None, end: str | None = None,
               limit: int = 10, images: bool = True) -> CallToolResult:
        def body() -> CallToolResult:
            grant = grant_of(ctx, "search")
            doc = _run_op(ops.search, memory, grant, query, start=_when(start, memory, "start"),
                          end=_when(end, memory, "end", end=True), limit=limit)
            return _result(memory, grant, doc, images=images)

        return _guarded(body)

    @server.tool(name="get_episode", description=EPISODE_DESCRIPTION, annotations=_READ_ONLY)
    def get_episode(episode_id: str, ctx: Context[Any, Any], images: bool = True) -> CallToolResult:
        def body() -> CallToolResult:
            grant = grant_of(ctx, "episode")
            doc = _run_op(ops.episode, memory, grant, episode_id)
            return _result(memory, grant, doc, images=images)

        return _guarded(body)

    @server.tool(name="people", description=PEOPLE_DESCRIPTION, annotations=_READ_ONLY)
    def people(ctx: Context[Any, Any], images: bool = False) -> CallToolResult:
        def body() -> CallToolResult:
            grant = grant_of(ctx, "people")
            return _result(memory, grant, {"people": _run_op(ops.people, memory, grant)}, images=images)

        return _guarded(body)

    @server.tool(name="objects", description=OBJECTS_DESCRIPTION, annotations=_READ_ONLY)
    def objects(ctx: Context[Any, Any], name: str | None = None, images: bool = False) -> CallToolResult:
        def body() -> CallToolResult:
            grant = grant_of(ctx, "objects")
            doc = _run_op(ops.objects, memory, grant, name)
            return _result(memory, grant, {"objects" if name is None else "sightings": doc}, images=images)

        return _guarded(body)

    @server.tool(name="timeline", description=TIMELINE_DESCRIPTION, annotations=_READ_ONLY)
    def timeline(ctx: Context[Any, Any], day: str | None = None, start: str | None = None,
                 end: str | None = None) -> CallToolResult:
        def body() -> CallToolResult:
            grant = grant_of(ctx, "timeline")
            if day is None and start is None and end is None:
                return _result(memory, grant, {"days": _run_op(ops.days, memory, grant)}, images=False)
            eps = _run_op(ops.episodes, memory, grant, day=_day(day) if day is not None else None,
                          start=_when(start, memory, "start"), end=_when(end, memory, "end", end=True))
            return _result(memory, grant, {"episodes": eps}, images=False)

        return _guarded(body)

    def resource_grant(ctx: Context[Any, Any] | None, op: str) -> Grant:
        tok = request_token(ctx)
        try:
            return check_token(memory, tok, op=op)
        except TokenRefused as e:
            raise ResourceError(f"unauthorized: {e}") from e

    @server.resource("lifelog://profile", name="profile", description=PROFILE_DESCRIPTION, mime_type="text/plain")
    def profile() -> str:  # a static resource gets no Context: the token comes from the request
        grant = resource_grant(None, "profile")
        try:
            doc = ops.profile(memory, grant, via="mcp")
        except ops.NotFound as e:
            return f"not available yet: {e}"
        except ops.ServeError as e:
            raise ResourceError(f"{e.code}: {e}") from e
        text = doc.get("text")
        return text if isinstance(text, str) else json.dumps(doc, ensure_ascii=False, indent=1)

    @server.resource("lifelog://day/{day}", name="day", description=DAY_DESCRIPTION, mime_type="text/plain")
    def day_summary(day: str, ctx: Context[Any, Any]) -> str:
        grant = resource_grant(ctx, "day")
        try:
            d = date.fromisoformat(day)
        except ValueError:
            raise ResourceError(f"bad request: the day must be YYYY-MM-DD, not {day[:40]!r}") from None
        served_summary = getattr(ops, "day_summary", None)  # the stored day description, once ops serves it
        try:
            if callable(served_summary):
                doc = served_summary(memory, grant, d, via="mcp")
                if isinstance(doc, dict) and isinstance(doc.get("text"), str):
                    return str(doc["text"])
            eps = ops.episodes(memory, grant, day=d, via="mcp")
        except ops.ServeError as e:
            raise ResourceError(f"{e.code}: {e}") from e
        return _day_text(d, eps)

    return server


def _version() -> str:
    from lifelog import __version__

    return str(__version__)


# ------------------------------------------------------------------ stdio
def run_stdio(memory: Memory, token: str) -> None:
    """Serve over stdin/stdout until the client closes stdin. The token is checked first
    (:class:`TokenRefused` before anything is served); nothing but protocol goes to stdout."""
    check_token(memory, token)
    server = build_server(memory, token=token)
    import anyio

    anyio.run(server.run_stdio_async)


# ------------------------------------------------------------------ streamable HTTP
def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _BearerGate:
    """ASGI middleware: HTTP requests without a valid grant token get 401 (JSON body, a
    ``WWW-Authenticate: Bearer`` header) before they reach the MCP layer."""

    def __init__(self, app: Any, memory: Memory) -> None:
        self.app = app
        self.memory = memory

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        tok = _bearer(headers)
        try:
            # Inline, not on a worker thread: a stat of grants.json and one SHA-256 (the file is
            # re-read only when it changed); a thread hop per request cost more than the check.
            check_token(self.memory, tok)
        except TokenRefused as e:
            body = json.dumps({"error": "unauthorized", "message": str(e)}).encode()
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()),
                                    (b"www-authenticate", b'Bearer realm="lifelog"')]})
            await send({"type": "http.response.body", "body": body})
            return
        reset = _REQUEST_TOKEN.set(tok)
        try:
            await self.app(scope, receive, send)
        finally:
            _REQUEST_TOKEN.reset(reset)


class McpHttpServer:
    """The MCP server over streamable HTTP at ``http://HOST:PORT/mcp``, in a thread of its own.

    ``start()`` returns once it listens (``port`` 0 picks a free one: read ``.port``), ``stop()``
    shuts it down; also a context manager. Binds to loopback unless ``allow_remote`` is set."""

    def __init__(self, memory: Memory | Path | str, *, host: str = "127.0.0.1", port: int = 0,
                 allow_remote: bool = False, json_response: bool = False) -> None:
        if not _is_loopback(host) and not allow_remote:
            raise ValueError(f"refusing to listen on {host}: the MCP server binds to loopback unless you opt in "
                             "(allow_remote=True, `lifelog mcp --http --host H --allow-remote`)")
        self.memory = memory if isinstance(memory, Memory) else Memory(memory)
        self.host = host
        self.port = port
        self.json_response = json_response
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/mcp"

    def app(self) -> Any:
        """The ASGI app (the bearer gate around the SDK's streamable-HTTP app)."""
        from mcp.server.transport_security import TransportSecuritySettings

        mcp_server = build_server(self.memory)
        security = None
        if not _is_loopback(self.host):  # the SDK's DNS-rebinding guard is for loopback names
            security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        # An SSE stream per call (the SDK's default): plain JSON answers (json_response) measured
        # slower on loopback, ~40 ms a call (small writes meeting delayed ACKs; bench/mcp.py).
        inner = mcp_server.streamable_http_app(host=self.host, transport_security=security,
                                               json_response=self.json_response)
        return _BearerGate(inner, self.memory)

    def start(self, timeout: float = 30.0) -> McpHttpServer:
        import socket

        import uvicorn

        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM,
                             socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY (40 ms per kept-alive request otherwise)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        started = threading.Event()

        def run() -> None:
            try:
                asyncio.run(self._server.serve(sockets=[sock]))
            except BaseException as e:  # reported by start() or stop()
                self._error = e
            finally:
                started.set()
                sock.close()

        self._thread = threading.Thread(target=run, name="lifelog-mcp-http", daemon=True)
        self._thread.start()
        waited = 0.0
        while not self._server.started and self._thread.is_alive() and waited < timeout:
            started.wait(0.02)
            waited += 0.02
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the MCP server did not start: {self._error or 'timed out'}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout)
        self._thread = None

    def serve_forever(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set (the CLI's Ctrl-C / SIGTERM)."""
        self.start()
        try:
            while not stop.wait(0.5):
                if self._thread is None or not self._thread.is_alive():
                    break
        finally:
            self.stop()

    def __enter__(self) -> McpHttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
