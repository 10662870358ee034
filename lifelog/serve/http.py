"""The local HTTP API (issue #17): FastAPI served by uvicorn, versioned paths (``/v1/…``), an
OpenAPI schema at ``/openapi.json``. See docs/api.md.

* **Loopback only** unless the caller opts in (``allow_remote=True``; ``lifelog api --host H
  --allow-remote``); the ``Host`` header must name the loopback address too (no DNS rebinding).
* **A grant per client**: every ``/v1`` request carries ``Authorization: Bearer <token>`` of a
  grant made by the user (``lifelog grants add``); none, a wrong, expired or revoked one → 401.
  Scopes are enforced by :mod:`lifelog.serve.ops` (403 for what a grant may not read).
* Request bodies are small JSON documents: over :data:`MAX_BODY` bytes → 413 (declared or
  streamed), malformed JSON or wrong fields → 422.
* Thumbnails are served by id from the vault (decrypted in memory); no path is ever taken from
  a request. No interactive docs page (it would load scripts from the internet).

Operations run on a small pool of the app's own threads (two per CPU): the work is CPU-bound,
so more threads would add memory, not throughput. The memory's read path tolerates concurrent
readers and an import writing at the same time (tests/test_api_http.py).

:class:`ApiServer` runs it: ``start()``/``stop()`` on a thread (tests, ``lifelog service``), or
:meth:`ApiServer.run` in the foreground (``lifelog api``; Ctrl-C stops it cleanly).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import uvicorn
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from lifelog import __version__
from lifelog.api import Memory
from lifelog.api.grants import Grant
from lifelog.serve import ops

__all__ = ["DEFAULT_PORT", "MAX_BODY", "ApiServer", "RemoteBindRefused", "create_app", "is_loopback"]

_T = TypeVar("_T")
DEFAULT_PORT = 8765
MAX_BODY = 64 * 1024  # bytes of a request body
log = logging.getLogger("lifelog.api.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RemoteBindRefused(ValueError):
    """Binding to an address other than loopback without the explicit opt-in."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------ middleware
class _Guard:
    """Refuses bodies over ``max_body`` (413, declared or as they stream in) and, when serving
    loopback only, requests whose Host header names another host (400)."""

    def __init__(self, app: ASGIApp, max_body: int, loopback_only: bool) -> None:
        self.app = app
        self.max_body = max_body
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.loopback_only:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]", 1)[0]
            if not is_loopback(name):
                await _plain(send, 400, "bad_host", "this API answers only on the loopback address")
                return
        declared = headers.get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body
            except ValueError:
                too_big = True
            if too_big:
                await _plain(send, 413, "too_large", f"request bodies are limited to {self.max_body} bytes")
                return
        seen = 0
        refused = False  # a streamed body went over the limit: 413 sent, the app's answer dropped

        async def guarded_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:
                    refused = True
                    await _plain(send, 413, "too_large", f"request bodies are limited to {self.max_body} bytes")
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg: Message) -> None:
            if not refused:
                await send(msg)

        await self.app(scope, guarded_receive, guarded_send)


async def _plain(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------ request bodies
class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=ops.MAX_QUESTION, description="the question, as a person asks it")
    now: datetime | None = Field(None, description="ISO 8601 time that counts as now (default: the clock)")
    limit: int = Field(5, ge=1, le=ops.MAX_LIMIT, description="at most this many hits")


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=ops.MAX_QUESTION, description="what to look for")
    start: datetime | None = Field(None, description="only moments ending at or after this time")
    end: datetime | None = Field(None, description="only moments starting before this time")
    limit: int = Field(10, ge=1, le=ops.MAX_LIMIT)


class ErrorDoc(BaseModel):
    error: str
    message: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDoc, "description": "no valid grant token"},
    403: {"model": ErrorDoc, "description": "the grant's scopes do not allow this"},
    413: {"model": ErrorDoc, "description": "the request body is too large"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorDoc, "description": "not found or not shared"}}


# ------------------------------------------------------------------ the app
_bearer = HTTPBearer(auto_error=False, description="a grant token made with `lifelog grants add`")


def _grant(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Grant:
    """The caller's grant (401 otherwise): checked on every request, so a revocation is immediate."""
    op = request.url.path.removeprefix("/v1/").split("/", 1)[0] or "v1"
    return ops.authenticate(request.app.state.memory, creds.credentials if creds else None, op=op, via="http")


G = Annotated[Grant, Depends(_grant)]


def create_app(
    memory: Memory, *, max_body: int = MAX_BODY, loopback_only: bool = True, workers: int = 0
) -> tuple[_Guard, FastAPI]:
    """The ASGI app serving ``memory`` (FastAPI wrapped in the size/host guard), and the FastAPI app.
    ``workers``: how many requests read the memory at once (0: two per CPU)."""
    workers = workers or 2 * (os.cpu_count() or 1)
    app = FastAPI(
        title="lifelog local API",
        version=__version__,
        description="Read-only access to a lifelog memory for a client holding a grant token "
                    "(`lifelog grants add`). See docs/api.md.",
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
    )
    app.state.memory = memory
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="lifelog-api")
    app.state.pool = pool

    async def gated(fn: Callable[..., _T], g: Grant, *args: Any, **kw: Any) -> _T:
        """Run an operation on the app's own few threads: the work is CPU-bound, so more threads
        add no throughput, only memory (each thread that ever ran recall keeps its buffers)."""
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, memory, g, *args, **kw))

    @app.exception_handler(ops.ServeError)
    async def _serve_error(_request: Request, exc: ops.ServeError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.code, "message": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, not JSON)
            return JSONResponse({"error": "bad_request", "message": "the body is not valid JSON"}, status_code=422)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return JSONResponse({"error": code, "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), exclude={"input", "ctx", "url"})
        first = errors[0] if errors else {}
        where = ".".join(str(x) for x in first.get("loc", []))
        return JSONResponse({"error": "bad_request", "message": f"{where}: {first.get('msg', 'invalid')}",
                             "detail": errors}, status_code=422)

    @app.post("/v1/ask", tags=["recall"], responses=_ERRORS)
    async def ask(body: AskBody, g: G) -> dict[str, Any]:
        """Answer a question: the sentence, the count and the moments with their evidence
        (`lifelog ask --json`'s shape; `thumbnail` is a thumbnail id)."""
        return await gated(ops.ask, g, body.question, now=body.now, limit=body.limit)

    @app.post("/v1/search", tags=["recall"], responses=_ERRORS)
    async def search(body: SearchBody, g: G) -> dict[str, Any]:
        """Moments matching a query, best first."""
        return await gated(ops.search, g, body.query, start=body.start, end=body.end, limit=body.limit)

    @app.get("/v1/days", tags=["browse"], responses=_ERRORS)
    async def days(g: G) -> list[dict[str, Any]]:
        """Days with episodes, oldest first."""
        return await gated(ops.days, g)

    @app.get("/v1/episodes", tags=["browse"], responses=_ERRORS)
    async def episodes(
        g: G,
        day: Annotated[date | None, Query(description="YYYY-MM-DD, in the memory's time zone")] = None,
        start: Annotated[datetime | None, Query()] = None,
        end: Annotated[datetime | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        """Episodes of a day or overlapping [start, end), in time order."""
        return await gated(ops.episodes, g, day=day, start=start, end=end)

    @app.get("/v1/episodes/{episode_id}", tags=["browse"], responses={**_ERRORS, **_NOT_FOUND})
    async def episode(g: G, episode_id: Annotated[str, Path(max_length=128)]) -> dict[str, Any]:
        """One episode with its evidence: frames (thumbnail ids) and, with the scope, what was said."""
        return await gated(ops.episode, g, episode_id)

    @app.get("/v1/thumbnails/{thumb_id}", tags=["browse"], response_class=Response,
             responses={**_ERRORS, **_NOT_FOUND, 200: {"content": {"image/jpeg": {}}, "description": "JPEG"}})
    async def thumbnail(g: G, thumb_id: Annotated[str, Path(max_length=128)]) -> Response:
        """A thumbnail (JPEG) by its id, decrypted in memory."""
        data = await gated(ops.thumbnail, g, thumb_id)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/v1/people", tags=["browse"], responses=_ERRORS)
    async def people(g: G) -> list[dict[str, Any]]:
        """People seen (faces grouped on the device), most recently seen first."""
        return await gated(ops.people, g)

    @app.get("/v1/objects", tags=["browse"], responses=_ERRORS)
    async def objects(
        g: G, name: Annotated[str | None, Query(min_length=1, max_length=200, description="one object")] = None
    ) -> list[dict[str, Any]]:
        """Everyday objects seen, or the episodes in which one was seen."""
        return await gated(ops.objects, g, name)

    @app.get("/v1/profile", tags=["browse"], responses={**_ERRORS, **_NOT_FOUND})
    async def profile(g: G) -> dict[str, Any]:
        """The plain-text memory profile (404 where this version has none)."""
        return await gated(ops.profile, g)

    @app.get("/v1/status", tags=["status"], responses=_ERRORS)
    async def status(g: G) -> dict[str, Any]:
        """Read-only status: version, what this grant may see, the grant itself."""
        return await gated(ops.status, g)

    return _Guard(app, max_body, loopback_only), app


# ------------------------------------------------------------------ the server
class _Embedded(uvicorn.Server):
    """uvicorn hosted by another program: it installs no signal handlers (the host owns them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """The API on ``host:port`` (port 0: a free one, see :attr:`port`)."""

    def __init__(
        self,
        memory: Memory,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        allow_remote: bool = False,
        max_body: int = MAX_BODY,
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise RemoteBindRefused(
                f"{host} is not the loopback address: serving other machines needs --allow-remote "
                "(any program that can reach it and holds a grant token can read what the grant allows)")
        self.memory = memory
        self.host = host
        self.remote = not is_loopback(host)
        asgi, self.app = create_app(memory, max_body=max_body, loopback_only=not self.remote)
        self._config = uvicorn.Config(asgi, log_level="warning", access_log=False, lifespan="off",
                                      timeout_graceful_shutdown=5, server_header=False, limit_concurrency=200)
        self._server: uvicorn.Server = _Embedded(self._config)
        self._sock = self._bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        self._thread: threading.Thread | None = None

    @staticmethod
    def _bind(host: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        # proto IPPROTO_TCP, as getaddrinfo would give: asyncio sets TCP_NODELAY on accepted
        # sockets only then, and without it a kept-alive connection waits ~40 ms per response
        # (Nagle's algorithm against the client's delayed ACK)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]") if host != "localhost" else "127.0.0.1", port))
        except OSError:
            sock.close()
            raise
        sock.listen(128)
        sock.set_inheritable(True)
        return sock

    @property
    def url(self) -> str:
        h = self.host if ":" not in self.host else f"[{self.host.strip('[]')}]"
        return f"http://{'127.0.0.1' if h == 'localhost' else h}:{self.port}"

    async def serve(self) -> None:
        """Serve until :meth:`stop` (from any thread), in the caller's event loop; signals are
        left to the host (``lifelog service``)."""
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            self._sock.close()
            self.app.state.pool.shutdown(wait=False, cancel_futures=True)

    def run(self) -> None:
        """Serve in the foreground until Ctrl-C (or SIGTERM) — uvicorn stops cleanly on either."""
        self._server = uvicorn.Server(self._config)  # this one handles Ctrl-C and SIGTERM
        try:
            self._server.run(sockets=[self._sock])
        except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised the Ctrl-C it caught
            pass
        finally:
            self._sock.close()
            self.app.state.pool.shutdown(wait=False, cancel_futures=True)

    def start(self, timeout: float = 30.0) -> None:
        """Serve on a background thread; returns once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the API server is already running")
        self._thread = threading.Thread(target=lambda: asyncio.run(self.serve()), name="lifelog-api", daemon=True)
        self._thread.start()
        stop_waiting = threading.Event()
        while not self._server.started and self._thread.is_alive():
            stop_waiting.wait(0.02)
            timeout -= 0.02
            if timeout <= 0:
                raise TimeoutError("the API server did not start")
        if not self._server.started:
            raise RuntimeError("the API server failed to start")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (requests under way finish, up to a few seconds) and release the port."""
        self._server.should_exit = True  # serve() closes the socket once uvicorn has shut down
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
