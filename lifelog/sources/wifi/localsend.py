"""A LocalSend v2.1 receiver on the same HTTPS server (https://github.com/localsend/protocol).

Routes: ``POST /api/localsend/v2/register`` and ``GET /api/localsend/v2/info`` (who we are),
``POST /api/localsend/v2/prepare-upload`` (metadata → ``sessionId`` and a token per accepted
file; 204 when nothing needs sending, 403 when refused, 409 when too many sessions are open),
``POST /api/localsend/v2/upload?sessionId=&fileId=&token=`` (the bytes of one file) and
``POST /api/localsend/v2/cancel?sessionId=``.

Trust on first use: LocalSend senders do not pair. A sender is known by its alias and the
certificate fingerprint it announces. An alias seen for the first time is shown to the user
(the ``approve`` callback: the app asks, ``lifelog serve`` prompts on the terminal or, for
tests only, ``--approve-all-localsend``); once approved it is remembered in the registry as a
``localsend`` device. A known alias presenting another fingerprint is refused (403) and logged.
Caveat (docs/security.md): the fingerprint is the sender's own claim — LocalSend senders do not
present a client certificate — so this pin stops accidents and casual impostors, not an
attacker on the same network who copies a broadcast fingerprint. Revoke a sender like any device.

Only media files are accepted (other files in a LocalSend offer are left out of the token
map); files the memory already holds (by SHA-256, when the sender gives one) are left out too.
Uploads go through the same import worker as paired uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifelog.sources.wifi.common import INCOMING_DIR, NameRefused, safe_name
from lifelog.sources.wifi.registry import SKIPPED_BY_RULE

if TYPE_CHECKING:
    from aiohttp import web

    from lifelog.sources.wifi.context import ReceiverContext
    from lifelog.sources.wifi.registry import WifiDevice

log = logging.getLogger("lifelog.wifi")

PROTOCOL_VERSION = "2.1"
LOCALSEND_PORT = 53317
MULTICAST_GROUP = "224.0.0.167"
MAX_SESSIONS = 4
SESSION_TTL_S = 3600.0
APPROVAL_TIMEOUT_S = 120.0
MAX_FILES = 1000


@dataclass(frozen=True)
class LocalSendSender:
    alias: str
    fingerprint: str
    device_model: str | None
    device_type: str | None
    address: str
    files: int = 0  # what the sender offers in this session, for the user's approval prompt
    total_bytes: int = 0
    request_id: str | None = None  # its pending request (`lifelog devices approve ID`), once asked

    def to_json(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "fingerprint": self.fingerprint,
            "device_model": self.device_model,
            "device_type": self.device_type,
            "address": self.address,
            "files": self.files,
            "total_bytes": self.total_bytes,
            "request_id": self.request_id,
        }


# True / False: the user's answer. None: this front end does not answer itself; the question
# waits in the pending-requests file for `lifelog devices approve|deny ID` (see .approvals).
Approver = Callable[[LocalSendSender], bool | None]


def approve_all(sender: LocalSendSender) -> bool:
    """Approve every new sender — for tests and trusted networks only."""
    return True


def answer_elsewhere(sender: LocalSendSender) -> None:
    """Ask nobody here: new senders wait for ``lifelog devices approve|deny ID`` (any terminal)."""
    return None


@dataclass
class _File:
    id: str
    name: str
    size: int
    sha256: str | None
    token: str
    done: bool = False


@dataclass
class _Session:
    id: str
    device: WifiDevice
    address: str
    files: dict[str, _File]
    created: float = field(default_factory=time.monotonic)
    active: int = 0


class LocalSendReceiver:
    """The LocalSend routes and their sessions; ``approve`` decides about senders not seen
    before (None: refuse them all)."""

    def __init__(self, app: ReceiverContext, approve: Approver | None = None) -> None:
        self.app = app
        self.approve = approve
        self.sessions: dict[str, _Session] = {}
        self._question_lock = asyncio.Lock()  # one question to the front end at a time
        self._asking: dict[tuple[str, str], asyncio.Future[WifiDevice | None]] = {}  # (alias, fp) → its question
        self._prompts: dict[str, list[float]] = {}  # address → when it made us ask (rate limit)
        self._refused_at: dict[tuple[str, str], float] = {}  # (alias, fp) → when it was refused

    def add_routes(self, web_app: web.Application) -> None:
        r = web_app.router
        r.add_post("/api/localsend/v2/register", self.register)
        r.add_get("/api/localsend/v2/info", self.info)
        r.add_post("/api/localsend/v2/prepare-upload", self.prepare_upload)
        r.add_post("/api/localsend/v2/upload", self.upload)
        r.add_post("/api/localsend/v2/cancel", self.cancel)

    def our_info(self) -> dict[str, Any]:
        return {
            "alias": self.app.alias,
            "version": PROTOCOL_VERSION,
            "deviceModel": "lifelog",
            "deviceType": "desktop",
            "fingerprint": self.app.identity.fingerprint,
            "port": self.app.port or LOCALSEND_PORT,
            "protocol": "https",
            "download": False,
        }

    async def register(self, request: web.Request) -> web.Response:
        from aiohttp import web

        return web.json_response(self.our_info())

    async def info(self, request: web.Request) -> web.Response:
        from aiohttp import web

        return web.json_response(self.our_info())

    def _expire(self) -> None:
        now = time.monotonic()
        for sid, s in list(self.sessions.items()):
            if now - s.created > SESSION_TTL_S and not s.active:
                self._drop(sid)

    def _drop(self, sid: str) -> None:
        s = self.sessions.pop(sid, None)
        if s is None:
            return
        for f in s.files.values():
            with contextlib.suppress(FileNotFoundError):
                self._part(s, f).unlink()

    def _part(self, s: _Session, f: _File) -> Path:
        return self.app.data_dir / INCOMING_DIR / s.device.id / f"ls-{s.id}-{f.token[:12]}.part"

    async def _trust(self, request: web.Request, sender: LocalSendSender) -> WifiDevice | web.Response:
        """The sender's device record, approving it first if it is new; else a 403 (or a 429
        when this address asked too often)."""
        from aiohttp import web

        app, reg = self.app, self.app.registry
        known = reg.localsend_sender(sender.alias)
        if known is not None:
            if known.revoked:
                return app.refuse(request, 403, f"LocalSend sender {sender.alias!r} was revoked", known.id)
            if not hmac.compare_digest(_b(known.fingerprint or ""), _b(sender.fingerprint)):
                return app.refuse(
                    request,
                    403,
                    f"a sender calling itself {sender.alias!r} presented another certificate "
                    "fingerprint than the one approved before; refused",
                    known.id,
                )
            reg.touch(known.id)
            return known
        if self.approve is None:
            return app.refuse(
                request,
                403,
                f"unknown LocalSend sender {sender.alias!r}: approval needed "
                "(this receiver accepts no new LocalSend senders)",
            )
        key = (sender.alias, sender.fingerprint)
        asking = self._asking.get(key)
        if asking is None:  # not being asked about yet: may this address ask now?
            lim, now = app.limits, time.monotonic()
            refused_at = self._refused_at.get(key)
            if refused_at is not None and now - refused_at < lim.approval_cooldown_s:
                return app.refuse(request, 403, f"LocalSend sender {sender.alias!r} was not approved; "
                                                "ask again later")
            asked = [t for t in self._prompts.get(sender.address, []) if now - t < lim.approval_window_s]
            self._prompts[sender.address] = asked
            too_many = len(asked) >= lim.approval_prompts_per_address
            if too_many or len(self._asking) >= lim.max_pending_approvals:
                wait = int(lim.approval_window_s - (now - asked[0])) + 1 if too_many else 30
                app.emit("refused", f"LocalSend approval request from {sender.address} not shown: "
                                    f"{'too many from this address' if too_many else 'too many waiting'}",
                         status=429)
                return web.json_response({"error": "too many approval requests; try again later"}, status=429,
                                         headers={"Retry-After": str(max(1, wait))})
            asked.append(now)
            self._prune(now)
            asking = asyncio.ensure_future(self._ask(sender))
            self._asking[key] = asking
            asking.add_done_callback(lambda _f: self._asking.pop(key, None))
        # A second request of the same sender while it is being asked about joins the question.
        dev = await asyncio.shield(asking)
        if dev is None:
            return app.refuse(request, 403, f"LocalSend sender {sender.alias!r} was not approved")
        return dev

    def _prune(self, now: float) -> None:
        """Forget rate-limit state older than it matters (bounded memory under a flood)."""
        lim = self.app.limits
        for a in [a for a, ts in self._prompts.items() if not ts or now - ts[-1] >= lim.approval_window_s]:
            del self._prompts[a]
        for k in [k for k, t in self._refused_at.items() if now - t >= lim.approval_cooldown_s]:
            del self._refused_at[k]

    async def _ask(self, sender: LocalSendSender) -> WifiDevice | None:
        """Ask the user about a new sender once: the ``approve`` callback and, at the same time,
        the pending-requests file (``lifelog devices approve ID`` from any terminal). The first
        answer counts; none within :data:`APPROVAL_TIMEOUT_S` is a no."""
        from lifelog.sources.wifi.approvals import ApprovalBook

        app = self.app
        loop = asyncio.get_running_loop()
        book = ApprovalBook(app.data_dir)
        req = await loop.run_in_executor(None, lambda: book.add(
            sender.alias, sender.fingerprint, sender.address, sender.device_model, sender.device_type,
            sender.files, sender.total_bytes, APPROVAL_TIMEOUT_S))
        sender = replace(sender, request_id=req.id)
        app.emit(
            "approval",
            f"LocalSend sender {sender.alias!r} at {sender.address} asks to send files "
            f"(request {req.id}: `lifelog devices approve {req.id}` or `… deny {req.id}`)",
            detail_sender=sender.to_json(),
            request_id=req.id,
        )
        ok = False
        callback: asyncio.Future[bool | None] | None = asyncio.ensure_future(self._callback(sender))
        try:
            deadline = loop.time() + APPROVAL_TIMEOUT_S
            while loop.time() < deadline:
                if callback is not None:
                    await asyncio.wait([callback], timeout=0.25)
                    if callback.done():
                        got = callback.result()
                        callback = None
                        if got is not None:
                            ok = bool(got)
                            break
                else:
                    await asyncio.sleep(0.25)
                answered = await loop.run_in_executor(None, book.answer_of, req.id)
                if answered is not None:
                    ok = answered
                    break
        finally:
            if callback is not None:
                callback.cancel()
            with contextlib.suppress(OSError):
                await loop.run_in_executor(None, book.remove, req.id)
        if not ok:
            self._refused_at[(sender.alias, sender.fingerprint)] = time.monotonic()
            return None
        known = app.registry.localsend_sender(sender.alias)
        if known is not None:  # approved meanwhile under another request (another fingerprint)
            return known if not known.revoked and known.fingerprint == sender.fingerprint else None
        dev, _credential = app.registry.add_device(sender.alias, kind="localsend", fingerprint=sender.fingerprint)
        app.emit("paired", f"approved LocalSend sender {sender.alias!r} as {dev.id}", dev.id, name=dev.name)
        return dev

    async def _callback(self, sender: LocalSendSender) -> bool | None:
        """The front end's answer (one question at a time); None: it leaves the answer to
        the pending-requests file. A broken callback counts as a no."""
        assert self.approve is not None
        approve = self.approve
        async with self._question_lock:
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(None, approve, sender)
            except Exception:
                log.exception("the LocalSend approval callback failed")
                return False

    async def prepare_upload(self, request: web.Request) -> web.Response:
        from aiohttp import web

        app = self.app
        body = await app.json_body(request)
        if isinstance(body, web.Response):
            return body
        if (refused := app.paused_refusal(request)) is not None:
            return refused
        info, files = body.get("info"), body.get("files")
        if not isinstance(info, dict) or not isinstance(files, dict):
            return app.refuse(request, 400, "prepare-upload needs 'info' and 'files' objects")
        alias, fp = info.get("alias"), info.get("fingerprint")
        if not isinstance(alias, str) or not alias.strip() or len(alias) > 100:
            return app.refuse(request, 400, "info.alias must be 1-100 characters")
        if not isinstance(fp, str) or not fp or len(fp) > 200:
            return app.refuse(request, 400, "info.fingerprint is missing")
        if len(files) > MAX_FILES:
            return app.refuse(request, 413, f"at most {MAX_FILES} files per session")
        self._expire()
        if len(self.sessions) >= MAX_SESSIONS:
            return app.refuse(request, 409, "too many LocalSend sessions are open; try again later")
        sender = LocalSendSender(
            alias.strip(),
            fp.strip().lower(),
            _opt(info.get("deviceModel")),
            _opt(info.get("deviceType")),
            app.peer(request),
            files=len(files),
            total_bytes=sum(
                f["size"] for f in files.values()
                if isinstance(f, dict) and isinstance(f.get("size"), int) and not isinstance(f.get("size"), bool)
                and f["size"] > 0
            ),
        )
        dev = await self._trust(request, sender)
        if isinstance(dev, web.Response):
            return dev
        accepted: dict[str, _File] = {}
        for key, f in files.items():
            if not isinstance(f, dict):
                return app.refuse(request, 400, "each file must be an object", dev.id)
            size, sha = f.get("size"), f.get("sha256")
            try:
                name = safe_name(f.get("fileName"))
            except NameRefused as e:
                app.emit(
                    "refused",
                    f"LocalSend {sender.alias!r}: file {str(f.get('fileName'))[:80]!r} left out: {e}",
                    dev.id,
                    status=e.status,
                )
                continue
            if not isinstance(size, int) or isinstance(size, bool) or size <= 0 or size > app.limits.max_file_bytes:
                app.emit("refused", f"LocalSend {sender.alias!r}: {name} left out: size {str(size)[:30]!r} refused",
                         dev.id)
                continue
            sha_ok = sha.lower() if isinstance(sha, str) and len(sha) == 64 else None
            if sha_ok is not None and (mid := app.received.get(sha_ok)) is not None and (
                    mid == SKIPPED_BY_RULE or mid in await app.stored([mid])):
                continue  # already in the memory
            fid = str(f.get("id") or key)[:200]
            accepted[fid] = _File(fid, name, size, sha_ok, secrets.token_urlsafe(16))
        if not accepted:
            return web.Response(status=204)
        need = sum(f.size for f in accepted.values())
        d = app.data_dir / INCOMING_DIR / dev.id
        d.mkdir(parents=True, exist_ok=True)
        if need + app.limits.free_space_reserve > shutil.disk_usage(d).free:
            return app.refuse(request, 507, f"not enough free disk space for {need} bytes", dev.id)
        sid = secrets.token_urlsafe(16)
        self.sessions[sid] = _Session(sid, dev, sender.address, accepted)
        app.emit("upload", f"LocalSend {sender.alias!r}: {len(accepted)} file(s), {need} bytes", dev.id, session=sid)
        return web.json_response({"sessionId": sid, "files": {k: v.token for k, v in accepted.items()}})

    async def upload(self, request: web.Request) -> web.Response:
        from aiohttp import web

        app = self.app
        q = request.query
        sid, fid, token = q.get("sessionId"), q.get("fileId"), q.get("token")
        if not sid or not fid or not token:
            return app.refuse(request, 400, "sessionId, fileId and token are required")
        s = self.sessions.get(sid)
        f = s.files.get(fid) if s is not None else None
        if s is None or f is None or not hmac.compare_digest(_b(f.token), _b(token)):
            return app.refuse(request, 403, "invalid session, file or token")
        if s.address != app.peer(request):
            return app.refuse(request, 403, "upload from another address than prepare-upload", s.device.id)
        d = app.registry.get(s.device.id)
        if d is None or d.revoked:
            self._drop(sid)
            return app.refuse(request, 403, "this sender was revoked", s.device.id)
        if f.done:
            return app.refuse(request, 409, "this file was already received", s.device.id)
        if (refused := app.paused_refusal(request, s.device.id)) is not None:
            self._drop(sid)  # the session ends; the sender sends again after resume
            return refused
        clen = request.content_length
        if clen is None or clen != f.size:
            return app.refuse(request, 400, f"Content-Length must be the declared size {f.size}", s.device.id)
        if app.active_uploads >= app.limits.max_uploads:
            return web.json_response({"error": "too many uploads at once; retry shortly"}, status=429)
        part = self._part(s, f)
        part.parent.mkdir(parents=True, exist_ok=True)
        s.active += 1
        app.active_uploads += 1
        try:
            import hashlib

            h = hashlib.sha256()
            got = 0
            error: str | None = None
            with open(part, "wb") as out:
                try:
                    while got < clen:
                        if app.capture.paused():
                            error = "capture was paused"
                            break
                        chunk = await asyncio.wait_for(request.content.readany(), app.limits.read_timeout_s)
                        if not chunk:
                            break
                        out.write(chunk)
                        h.update(chunk)
                        got += len(chunk)
                except Exception as e:
                    error = f"body ended early after {got} of {clen} bytes ({type(e).__name__})"
            if error is None and got != f.size:
                error = f"received {got} of {f.size} bytes"
            if error is None and f.sha256 is not None and h.hexdigest() != f.sha256:
                error = "the received bytes do not match the declared sha256"
            if error is not None:
                part.unlink(missing_ok=True)
                if (refused := app.paused_refusal(request, s.device.id)) is not None:
                    self._drop(sid)  # a half-received file is dropped while paused
                    return refused
                return app.refuse(request, 400, error, s.device.id)
            status, doc = await app.import_received(
                part, f.name, s.device, f"ls{f.token[:6]}", f.sha256 or h.hexdigest(), keep_on_busy=False
            )
            f.done = True
            if all(x.done for x in s.files.values()):
                self.sessions.pop(sid, None)
            return web.json_response(doc, status=status)
        finally:
            s.active -= 1
            app.active_uploads -= 1

    async def cancel(self, request: web.Request) -> web.Response:
        from aiohttp import web

        sid = request.query.get("sessionId")
        s = self.sessions.get(sid) if sid else None
        if s is not None and s.address == self.app.peer(request):
            self._drop(s.id)
            self.app.emit("upload", f"LocalSend {s.device.name!r} cancelled its session", s.device.id)
        return web.Response(status=200)


def _b(text: str) -> bytes:
    """Bytes for a constant-time comparison (``hmac.compare_digest`` refuses non-ASCII str)."""
    return text.encode("utf-8", "surrogatepass")


def _opt(v: Any) -> str | None:
    return str(v)[:100] if isinstance(v, str) and v else None


class Announcer:
    """LocalSend multicast discovery (UDP 224.0.0.167:53317).

    At start it announces the receiver (``announce: true``); when another device announces
    itself it answers on the group with ``announce: false`` — the protocol's multicast fallback
    answer (the HTTP ``register`` answer to the sender is not sent: this receiver never opens
    connections to phones). At most one answer per sender address every 2 s. Where multicast
    is unavailable (no route, port taken) :meth:`start` reports why and the receiver keeps
    serving; LocalSend then finds it by address or by its HTTP scan.
    """

    def __init__(self, info: Callable[[], dict[str, Any]], interface: str | None = None,
                 group: str = MULTICAST_GROUP, port: int = LOCALSEND_PORT) -> None:
        self.info = info
        self.interface = interface
        self.group = group
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None
        self.seen: dict[str, dict[str, Any]] = {}  # alias → its last announcement
        self._answered: dict[str, float] = {}

    def _socket(self) -> Any:
        import socket
        import struct

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("", self.port))
            iface = socket.inet_aton(self.interface or "0.0.0.0")
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                            struct.pack("4s4s", socket.inet_aton(self.group), iface))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            if self.interface:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, iface)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    async def start(self) -> str | None:
        """Join the group and announce; None, or why multicast is unavailable."""
        loop = asyncio.get_running_loop()
        try:
            sock = self._socket()
            transport, _ = await loop.create_datagram_endpoint(lambda: _AnnounceProtocol(self), sock=sock)
        except OSError as e:
            return f"LocalSend multicast discovery unavailable ({e.strerror or e}); still receiving"
        self.transport = transport
        self.send(announce=True)
        return None

    def send(self, announce: bool) -> None:
        import json

        if self.transport is not None:
            msg = {**self.info(), "announce": announce, "announcement": announce}
            self.transport.sendto(json.dumps(msg).encode("utf-8"), (self.group, self.port))

    def received(self, data: bytes, addr: tuple[str, int]) -> None:
        import json

        try:
            msg = json.loads(data[:8192])
        except ValueError:
            return
        if not isinstance(msg, dict) or msg.get("fingerprint") == self.info().get("fingerprint"):
            return  # garbage, or our own announcement looping back
        alias = msg.get("alias")
        if not isinstance(alias, str):
            return
        self.seen[alias[:100]] = {k: msg.get(k) for k in ("alias", "fingerprint", "port", "protocol", "deviceType")}
        if msg.get("announce") is True or msg.get("announcement") is True:
            now = time.monotonic()
            if now - self._answered.get(addr[0], -1e9) >= 2.0:
                self._answered[addr[0]] = now
                self.send(announce=False)

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class _AnnounceProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: Announcer) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner.received(data, addr)
