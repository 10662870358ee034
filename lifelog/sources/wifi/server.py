"""The Wi-Fi receiver's shell: an aiohttp HTTPS server on its own event-loop thread.

:class:`ReceiverApp` wires the features' routes onto one aiohttp application; :class:`Receiver`
starts and stops it (and the bulk port, the mDNS advert and LocalSend discovery). The features
live in their own modules (see docs/wifi.md for the payloads):

* :mod:`.pairing_routes` — ``GET /api/v1/info`` (no auth) and ``POST /api/v1/pair``.
* :mod:`.uploads` — ``/api/v1/have`` and the resumable ``/api/v1/uploads`` (paired devices,
  ``Authorization: Bearer <credential>``), handed to the import worker.
* :mod:`.bulk` — the bulk port: the same ``PUT`` over blocking TLS sockets on threads.
* :mod:`.localsend` — the LocalSend v2.1 routes.

What they share (limits, events, import outcomes, the import worker, request plumbing) is in
:mod:`.common` and :mod:`.context`, which import none of them.

Resource bounds: one event loop serves every connection (no thread per client); connections
above ``max_connections`` are closed at once; idle connections close after
``keepalive_timeout_s``; a body that stalls for ``read_timeout_s`` ends its request; uploads in
flight are capped (429 beyond). Imports run one at a time on a single worker thread, because the
core holds a write lock while importing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifelog.sources.wifi.approvals import ApprovalBook
from lifelog.sources.wifi.common import EventFn, ImportWorker, ReceiverEvent, ReceiverLimits
from lifelog.sources.wifi.context import ReceiverContext
from lifelog.sources.wifi.localsend import LocalSendReceiver
from lifelog.sources.wifi.pairing_routes import PairingRoutes
from lifelog.sources.wifi.recovery import reconcile_incoming
from lifelog.sources.wifi.registry import DEVICES_DIR
from lifelog.sources.wifi.tls import TlsIdentity, ensure_identity, local_addresses
from lifelog.sources.wifi.uploads import STALE_DAYS, UploadRoutes, sweep_stale_uploads

if TYPE_CHECKING:
    from aiohttp import web

    from lifelog.sources.base import ImportTarget
    from lifelog.sources.wifi.bulk import BulkServer
    from lifelog.sources.wifi.localsend import Announcer, Approver
    from lifelog.sources.wifi.mdns import Advertiser


class ReceiverApp(ReceiverContext):
    """The shared state plus the features, wired onto one aiohttp application."""

    def __init__(
        self,
        data_dir: Path,
        worker: ImportWorker,
        identity: TlsIdentity,
        on_event: EventFn,
        limits: ReceiverLimits,
        approve_localsend: Approver | None,
        alias: str,
    ) -> None:
        super().__init__(data_dir, worker, identity, on_event, limits, alias)
        self.pairing = PairingRoutes(self)
        self.uploads = UploadRoutes(self)
        self.localsend = LocalSendReceiver(self, approve_localsend)

    def build(self) -> web.Application:
        from aiohttp import web

        app = web.Application(client_max_size=1024 * 1024)
        self.pairing.add_routes(app)
        self.uploads.add_routes(app)
        self.localsend.add_routes(app)
        return app


class Receiver:
    """A running receiver: its own event-loop thread, the import worker, the mDNS advert.

    Received files are imported into ``target`` (the front end passes its memory)."""

    def __init__(
        self,
        target: ImportTarget,
        host: str,
        port: int,
        on_event: EventFn | None = None,
        limits: ReceiverLimits | None = None,
        approve_localsend: Approver | None = None,
        advertise: bool = True,
        alias: str | None = None,
        bulk: bool = True,
    ) -> None:
        import socket

        self.target = target
        self.data_dir: Path = target.data_dir
        self.host = host
        self.port = port
        self.port_wanted = port != 0
        self.limits = limits or ReceiverLimits()
        self.identity = ensure_identity(self.data_dir)
        self.alias = alias or f"lifelog on {socket.gethostname() or 'this computer'}"[:60]
        self._listeners: list[EventFn] = [on_event] if on_event else []
        self.worker = ImportWorker(target, self._emit, self.limits.import_busy_wait_s)
        self.app = ReceiverApp(
            self.data_dir, self.worker, self.identity, self._emit, self.limits, approve_localsend, self.alias
        )
        self.advertise = advertise
        self.advertiser: Advertiser | None = None
        self.announcer: Announcer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.stopped = threading.Event()
        self.refused_connections = 0
        self.bulk_enabled = bulk
        self.bulk: BulkServer | None = None

    @property
    def fingerprint(self) -> str:
        return self.identity.fingerprint

    @property
    def url(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = next(iter(local_addresses()), "127.0.0.1")
        return f"https://{f'[{host}]' if ':' in host else host}:{self.port}"

    def _emit(self, ev: ReceiverEvent) -> None:
        for fn in list(self._listeners):
            fn(ev)

    # ------------------------------------------------------------- lifecycle
    def start(self) -> Receiver:
        # Before listening, so no request meets a half-done file: what a hard stop left behind.
        recovered = reconcile_incoming(self.data_dir, self.worker.has, self.app.received.add,
                                       self.worker.target.keep_original)
        self._thread = threading.Thread(target=self._run, name="lifelog-wifi-receiver", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self.worker.close()
            raise self._error
        self.app.port = self.port
        self._write_status()
        ApprovalBook(self.data_dir).clear_own()
        swept = sweep_stale_uploads(self.data_dir)
        if swept:
            self.app.emit("warning", f"deleted {swept} partial upload(s) abandoned for over {STALE_DAYS} days")
        bulk = f"; upload bodies also on port {self.app.bulk_port}" if self.app.bulk_port else ""
        self.app.emit(
            "listening",
            f"receiving on {self.url} (fingerprint {self.fingerprint[:16]}…{bulk})",
            url=self.url,
            fingerprint=self.fingerprint,
            port=self.port,
            bulk_port=self.app.bulk_port,
        )
        for message in recovered:
            self.app.emit("warning", f"recovered after a hard stop: {message}")
        if self.advertise:
            from lifelog.sources.wifi.mdns import Advertiser

            specific = self.host not in ("", "0.0.0.0", "::")
            self.advertiser = Advertiser(
                self.alias,
                self.port,
                self.fingerprint,
                on_warning=self._mdns_warning,
                addresses=[self.host] if specific and ":" not in self.host else None,
            )
            self.advertiser.start()
            self.start_localsend_discovery()
        return self

    def start_localsend_discovery(self, interface: str | None = None, port: int | None = None) -> str | None:
        """Join LocalSend's multicast group and announce (None, or why it is unavailable)."""
        from lifelog.sources.wifi.localsend import LOCALSEND_PORT, Announcer

        assert self._loop is not None
        ann = Announcer(self.app.localsend.our_info, interface=interface, port=port or LOCALSEND_PORT)
        why = asyncio.run_coroutine_threadsafe(ann.start(), self._loop).result(timeout=30)
        if why is None:
            self.announcer = ann
        else:
            self.app.emit("warning", why)
        return why

    def _mdns_warning(self, message: str) -> None:
        self.app.emit("warning", message)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start())
        except BaseException as e:
            self._error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start(self) -> None:
        from aiohttp import web

        runner = web.AppRunner(
            self.app.build(),
            handle_signals=False,
            access_log=None,
            keepalive_timeout=self.limits.keepalive_timeout_s,
            read_bufsize=self.limits.chunk_bytes,
        )
        await runner.setup()
        self._runner = runner
        server = runner.server
        assert server is not None
        original = server.connection_made
        limit = self.limits.max_connections
        bounded = _bounded_errors(self.app)

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            if len(server.connections) >= limit:
                self.refused_connections += 1
                transport.abort()
                return

            handler.__class__ = bounded  # same layout (no new slots): only handle_error differs
            original(handler, transport)

        server.connection_made = connection_made  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            server,
            self.host or None,
            self.port,
            ssl=self.identity.server_context(),
            backlog=1024,
            reuse_address=True,
            ssl_handshake_timeout=self.limits.handshake_timeout_s,
        )
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        if self.bulk_enabled:
            from lifelog.sources.wifi.bulk import BulkServer

            self.bulk = BulkServer(self.app.uploads, loop, self.identity.server_context(), self.limits)
            # The next port up when the main one was chosen (firewall rules can name both).
            self.app.bulk_port = self.bulk.start(self.host, self.port + 1 if self.port_wanted else 0)

    def _write_status(self) -> None:
        from lifelog.sources.wifi.pairing import STATUS_NAME
        from lifelog.store.files import atomic_write

        doc = {
            "pid": os.getpid(),
            "host": self.host,
            "port": self.port,
            "fingerprint": self.fingerprint,
            "started": time.time(),
        }
        atomic_write(self.data_dir / DEVICES_DIR / STATUS_NAME, json.dumps(doc).encode("utf-8"))

    def open_connections(self) -> int:
        srv = self._runner.server if self._runner is not None else None
        return len(srv.connections) if srv is not None else 0

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.stopped.set()
        if self.advertiser is not None:
            self.advertiser.stop()
        if self.announcer is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self.announcer.stop)
        self.worker.cancel.set()
        if self.bulk is not None:  # its requests end on the loop, so before the loop stops
            self.bulk.stop()
        loop = self._loop
        if loop is not None and self._thread is not None and self._thread.is_alive():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                fut.result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=30)
        self.worker.close()
        from lifelog.sources.wifi.pairing import STATUS_NAME

        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / DEVICES_DIR / STATUS_NAME).unlink()
        with contextlib.suppress(OSError):
            ApprovalBook(self.data_dir).clear_own()
        self.app.emit("stopped", "receiver stopped")

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in rest:  # connections cut mid-request: end their handlers before the loop closes
            t.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bounded_errors(app: ReceiverApp) -> type:
    """aiohttp's connection handler, answering what it cannot parse or handle through
    :meth:`ReceiverContext.malformed`: aiohttp's own answer quotes the bytes it could not parse
    (a whole body, at times) and logs them with a traceback; ours says what was wrong, bounded."""
    from aiohttp.web_protocol import RequestHandler

    class BoundedErrors(RequestHandler):
        __slots__ = ()

        def handle_error(
            self, request: Any, status: int = 500, exc: BaseException | None = None, message: str | None = None
        ) -> web.StreamResponse:
            if request.writer.output_size > 0:  # as aiohttp: the response has begun, no error can follow
                raise ConnectionError("the response was sent already; cannot send an error")
            return app.malformed(request, status, exc)

    return BoundedErrors


def start_receiver(
    target: ImportTarget,
    host: str = "0.0.0.0",
    port: int = 53317,
    on_event: EventFn | None = None,
    *,
    limits: ReceiverLimits | None = None,
    approve_localsend: Approver | None = None,
    advertise: bool = True,
    bulk: bool = True,
) -> Receiver:
    """Start receiving (returns once listening). ``port=0`` picks a free port (see ``.port``).

    ``approve_localsend(sender)`` decides about LocalSend senders not seen before (None: refuse
    them all). ``on_event`` is called from the receiver's threads with :class:`ReceiverEvent`.
    Received files are imported into ``target`` (the memory the front end opened).
    """
    return Receiver(target, host, port, on_event, limits, approve_localsend, advertise, bulk=bulk).start()
