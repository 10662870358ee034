"""The Wi-Fi receiver: an aiohttp HTTPS server on its own event-loop thread.

Endpoints (all JSON; see docs/wifi.md for payloads):

* ``GET  /api/v1/info`` — who this is (no auth).
* ``POST /api/v1/pair`` ``{token|pin, device_name}`` → ``{device_id, credential}`` (once).
* ``POST /api/v1/have`` ``{files: [{sha256, size, name}]}`` → which ones the memory already holds.
* ``POST /api/v1/uploads`` ``{name, size, sha256}`` → ``{upload_id, offset}`` (idempotent: the
  same device sending the same file again gets the same upload back, with its offset).
* ``HEAD /api/v1/uploads/{id}`` → ``Upload-Offset`` / ``Upload-Length`` headers (resume point).
* ``PUT  /api/v1/uploads/{id}`` with ``Content-Range: bytes a-b/size`` — one chunk; when the
  last byte lands, the size and SHA-256 are checked and the file goes to the import.
* ``DELETE /api/v1/uploads/{id}`` — abandon an upload.
* LocalSend v2.1 routes, from :mod:`.localsend`.

Everything but ``info`` and ``pair`` needs ``Authorization: Bearer <credential>``.

Upload bodies may also go to the **bulk port** (:mod:`.bulk`, advertised as ``bulk_port``): the
same ``PUT`` and the same checks (:meth:`ReceiverApp.begin_put` / :meth:`ReceiverApp.after_body`,
run on this loop), over blocking TLS sockets on threads — faster than TLS inside asyncio.

Resource bounds: one event loop serves every connection (no thread per client); connections
above ``max_connections`` are closed at once; idle connections close after
``keepalive_timeout_s``; a body that stalls for ``read_timeout_s`` ends its request; uploads in
flight are capped (429 beyond). Imports run one at a time on a single worker thread, because the
core holds a write lock while importing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lifelog.sources.wifi.registry import DEVICES_DIR, PairingRefused, ReceivedIndex, Registry, WifiDevice
from lifelog.sources.wifi.tls import TlsIdentity, ensure_identity, local_addresses

if TYPE_CHECKING:
    from aiohttp import web

    from lifelog.api import Memory
    from lifelog.sources.wifi.bulk import BulkServer
    from lifelog.sources.wifi.localsend import Announcer, Approver
    from lifelog.sources.wifi.mdns import Advertiser

log = logging.getLogger("lifelog.wifi")

API_VERSION = 1
INCOMING_DIR = DEVICES_DIR / "incoming"
RECEIVED_DIR = Path("originals")  # shared with lifelog.sources.sync: <data>/originals/<device>/
MAX_NAME_BYTES = 255
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_RANGE_EMPTY = re.compile(r"^bytes \*/(\d+)$")


@dataclass(frozen=True)
class ReceiverLimits:
    """Bounds that keep a hostile or broken sender from hurting the desktop."""

    max_file_bytes: int = 20 * 1024**3  # one upload; a bigger declaration gets 413 up front
    max_connections: int = 4096  # open connections; more are closed at once
    max_uploads: int = 16  # PUT bodies in flight, all devices (429 beyond)
    max_uploads_per_device: int = 4
    free_space_reserve: int = 512 * 1024**2  # keep this much disk free after an upload
    read_timeout_s: float = 60.0  # a body that sends nothing this long ends its request
    keepalive_timeout_s: float = 15.0  # idle connections (no request) close after this
    handshake_timeout_s: float = 10.0
    max_have_files: int = 10_000
    import_busy_wait_s: float = 120.0  # another process importing: wait this long, then 503
    chunk_bytes: int = 1024 * 1024
    max_bulk_connections: int = 64  # open connections on the bulk port; more are closed at once


@dataclass(frozen=True)
class ReceiverEvent:
    """Something a user may want to see: plain data for the CLI (``--json-events``) and the app."""

    kind: str  # listening | paired | refused | upload | received | imported | skipped | failed | warning | stopped
    message: str
    device_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, "message": self.message, "device_id": self.device_id, **self.detail}


EventFn = Callable[[ReceiverEvent], None]


@dataclass(frozen=True)
class ImportOutcome:
    status: str  # imported | skipped | failed | busy
    error: str | None
    media_id: str | None
    result: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error, "media_id": self.media_id, "import": self.result}


class RequestLike(Protocol):
    """What refusals and authentication read of a request."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def remote(self) -> str | None: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class NameRefused(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def safe_name(name: Any) -> str:
    """A sender's file name if it is a plain, sensible media file name; else :class:`NameRefused`.

    Only the last component is ever used to build a path, and only after these checks: no
    separators, no ``.``/``..``, no leading dot, no NUL or control characters, at most 255 UTF-8
    bytes, and an extension the import accepts (415 otherwise).
    """
    from lifelog.ingest.media import AUDIO_EXT, PHOTO_EXT, VIDEO_EXT

    if not isinstance(name, str) or not name.strip():
        raise NameRefused(400, "file name is missing")
    name = unicodedata.normalize("NFC", name)
    if any(c == "\x00" or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise NameRefused(400, "file name contains control characters")
    if "/" in name or "\\" in name:
        raise NameRefused(400, "file name contains a path separator (path traversal refused)")
    if name in (".", "..") or name.startswith("."):
        raise NameRefused(400, "file name starts with a dot (path traversal or hidden file refused)")
    try:
        n = len(name.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise NameRefused(400, "file name is not valid text") from e
    if n > MAX_NAME_BYTES:
        raise NameRefused(400, f"file name is absurdly long ({n} bytes; at most {MAX_NAME_BYTES})")
    ext = os.path.splitext(name)[1].lower()
    if ext not in VIDEO_EXT | PHOTO_EXT | AUDIO_EXT:
        raise NameRefused(415, f"not a media file the memory imports ({ext or 'no extension'})")
    return str(name.strip())


class ImportWorker:
    """Hands verified files to ``Memory.import_paths`` one at a time (one thread)."""

    def __init__(self, memory: Memory, on_event: EventFn, busy_wait_s: float = 120.0) -> None:
        self.memory = memory
        self.on_event = on_event
        self.busy_wait_s = busy_wait_s
        self.cancel = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lifelog-wifi-import")

    def run(self, path: Path, device_id: str) -> ImportOutcome:
        from lifelog.ingest.media import content_hash
        from lifelog.store.lock import WriteLockBusy, WriterWaitCancelled, when_writer_free

        media_id = content_hash(path)
        try:  # another lifelog process is importing: wait a little, then ask the sender to retry
            res = when_writer_free(
                lambda: self.memory.import_paths([path], cancel=self.cancel, device=device_id),
                self.cancel,
                give_up_s=self.busy_wait_s,
            )
        except (WriteLockBusy, WriterWaitCancelled) as e:
            return ImportOutcome("busy", str(e), media_id, {})
        doc = res.to_json()
        if res.failed:
            return ImportOutcome("failed", res.failed[0].error, None, doc)
        if res.cancelled:
            return ImportOutcome("busy", "the receiver is stopping; send the file again later", media_id, doc)
        if res.imported:
            return ImportOutcome("imported", None, media_id, doc)
        if res.skipped:
            return ImportOutcome("skipped", None, media_id, doc)
        return ImportOutcome("failed", "not a media file the memory imports", None, doc)

    def has(self, media_ids: list[str]) -> set[str]:
        store = self.memory.store
        store.refresh()
        return {m for m in media_ids if store.has_media(m)}

    def close(self) -> None:
        self.cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Upload:
    id: str
    device_id: str
    name: str
    size: int
    sha256: str
    part: Path
    meta: Path
    hasher: Any = None  # hashlib object over bytes [0, hashed)
    hashed: int = 0
    busy: bool = False

    def offset(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0


class ReceiverApp:
    """The aiohttp application and its state; runs inside :class:`Receiver`'s loop."""

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
        self.data_dir = data_dir
        self.worker = worker
        self.identity = identity
        self.on_event = on_event
        self.limits = limits
        self.registry = Registry(data_dir)
        self.received = ReceivedIndex(data_dir)
        self.uploads: dict[str, _Upload] = {}
        self.active_uploads = 0
        self.active_by_device: dict[str, int] = {}
        self.approve_localsend = approve_localsend
        self.alias = alias
        self.port = 0  # set once listening
        self.bulk_port: int | None = None  # the bulk upload port, once listening (see bulk.py)
        self.direct_io = True  # write upload bodies with O_DIRECT where the file system allows

    # ------------------------------------------------------------- plumbing
    def emit(self, kind: str, message: str, device_id: str | None = None, **detail: Any) -> None:
        ev = ReceiverEvent(kind, message, device_id, detail)
        if kind in ("refused", "failed", "warning"):
            log.warning("%s%s", message, f" (device {device_id})" if device_id else "")
        else:
            log.info("%s", message)
        try:
            self.on_event(ev)
        except Exception:  # a broken listener must not break the receiver
            log.exception("event listener failed")

    def build(self) -> web.Application:
        from aiohttp import web

        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_get("/api/v1/info", self.info, allow_head=False)
        app.router.add_post("/api/v1/pair", self.pair)
        app.router.add_post("/api/v1/have", self.have)
        app.router.add_post("/api/v1/uploads", self.create_upload)
        app.router.add_route("HEAD", "/api/v1/uploads/{upload_id}", self.head_upload)
        app.router.add_get("/api/v1/uploads/{upload_id}", self.get_upload, allow_head=False)
        app.router.add_put("/api/v1/uploads/{upload_id}", self.put_upload)
        app.router.add_delete("/api/v1/uploads/{upload_id}", self.delete_upload)
        from lifelog.sources.wifi.localsend import LocalSendReceiver

        self.localsend = LocalSendReceiver(self)
        self.localsend.add_routes(app)
        return app

    @staticmethod
    def error(status: int, message: str, **extra: Any) -> web.Response:
        from aiohttp import web

        return web.json_response({"error": message, **extra}, status=status)

    @staticmethod
    def peer(request: RequestLike) -> str:
        return request.remote or "?"

    def refuse(
        self, request: RequestLike, status: int, message: str, device_id: str | None = None, **extra: Any
    ) -> web.Response:
        self.emit(
            "refused",
            f"{request.method} {request.path} from {self.peer(request)}: {status} {message}",
            device_id,
            status=status,
            reason=message,
        )
        return self.error(status, message, **extra)

    def authenticate(self, request: RequestLike) -> WifiDevice | web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return self.refuse(request, 401, "missing credential (Authorization: Bearer …); pair first")
        dev = self.registry.authenticate(auth[7:].strip())
        if dev is None:
            return self.refuse(request, 401, "unknown or revoked credential; pair again")
        if dev.revoked:  # pragma: no cover - revoke clears the hash, so this is belt and braces
            return self.refuse(request, 401, "this device was revoked; pair again", dev.id)
        self.registry.touch(dev.id)
        return dev

    async def authed_json(self, request: web.Request) -> tuple[WifiDevice, dict[str, Any]] | web.Response:
        """A paired device's request with a JSON object body, or the refusal to send back."""
        from aiohttp import web

        dev = self.authenticate(request)
        if isinstance(dev, web.Response):
            return dev
        body = await self.json_body(request)
        if isinstance(body, web.Response):
            return body
        return dev, body

    async def json_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        from aiohttp import web

        try:
            doc = await request.json()
        except web.HTTPRequestEntityTooLarge:
            return self.refuse(request, 413, "request body too large")
        except (ValueError, UnicodeDecodeError):
            return self.refuse(request, 400, "body is not JSON")
        if not isinstance(doc, dict):
            return self.refuse(request, 400, "body must be a JSON object")
        return doc

    # ---------------------------------------------------------------- routes
    async def info(self, request: web.Request) -> web.Response:
        from aiohttp import web

        from lifelog import __version__

        return web.json_response(
            {
                "service": "lifelog",
                "api": API_VERSION,
                "version": __version__,
                "name": self.alias,
                "fingerprint": self.identity.fingerprint,
                **self._bulk_doc(),
            }
        )

    async def pair(self, request: web.Request) -> web.Response:
        from aiohttp import web

        body = await self.json_body(request)
        if isinstance(body, web.Response):
            return body
        token, pin, name = body.get("token"), body.get("pin"), body.get("device_name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            return self.refuse(request, 400, "device_name must be 1-100 characters")
        if any(unicodedata.category(c) == "Cc" for c in name):
            return self.refuse(request, 400, "device_name contains control characters")
        if (token is None) == (pin is None):
            return self.refuse(request, 400, "give exactly one of token or pin")
        if token is not None and (not isinstance(token, str) or len(token) > 200):
            return self.refuse(request, 400, "token must be a string")
        if pin is not None and (not isinstance(pin, str) or not re.fullmatch(r"\d{6}", pin)):
            return self.refuse(request, 400, "pin must be 6 digits")
        try:
            self.registry.redeem(token=token, pin=pin)
        except PairingRefused as e:
            return self.refuse(request, e.status, str(e))
        dev, credential = self.registry.add_device(name.strip())
        self.emit("paired", f"paired {dev.name!r} as {dev.id} from {self.peer(request)}", dev.id, name=dev.name)
        return web.json_response(
            {"device_id": dev.id, "name": dev.name, "credential": credential, "fingerprint": self.identity.fingerprint},
            status=201,
        )

    async def have(self, request: web.Request) -> web.Response:
        from aiohttp import web

        got = await self.authed_json(request)
        if isinstance(got, web.Response):
            return got
        dev, body = got
        files = body.get("files")
        if not isinstance(files, list):
            return self.refuse(request, 400, "files must be a list", dev.id)
        if len(files) > self.limits.max_have_files:
            return self.refuse(request, 413, f"at most {self.limits.max_have_files} files per request", dev.id)
        shas: list[str] = []
        for f in files:
            sha = f.get("sha256") if isinstance(f, dict) else None
            if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
                return self.refuse(request, 400, "every file needs a sha256 (64 hex digits)", dev.id)
            shas.append(sha.lower())
        known = {s: m for s in shas if (m := self.received.get(s)) is not None}
        loop = asyncio.get_running_loop()
        present = await loop.run_in_executor(None, self.worker.has, sorted(set(known.values())))
        have = [s for s in shas if known.get(s) in present]
        return web.json_response({"have": have, "missing": [s for s in shas if s not in set(have)]})

    def _upload_id(self, device_id: str, sha: str, size: int) -> str:
        return hashlib.sha256(f"{device_id}\0{sha}\0{size}".encode()).hexdigest()[:32]

    def _load_upload(self, dev: WifiDevice, upload_id: str) -> _Upload | None:
        if not _UPLOAD_ID.match(upload_id):
            return None
        up = self.uploads.get(upload_id)
        if up is not None:
            return up if up.device_id == dev.id else None
        d = self.data_dir / INCOMING_DIR / dev.id
        meta = d / f"{upload_id}.json"
        try:
            doc = json.loads(meta.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        up = _Upload(
            upload_id, dev.id, str(doc["name"]), int(doc["size"]), str(doc["sha256"]), d / f"{upload_id}.part", meta
        )
        self.uploads[upload_id] = up
        return up

    async def create_upload(self, request: web.Request) -> web.Response:
        from aiohttp import web

        got = await self.authed_json(request)
        if isinstance(got, web.Response):
            return got
        dev, body = got
        size, sha = body.get("size"), body.get("sha256")
        try:
            name = safe_name(body.get("name"))
        except NameRefused as e:
            return self.refuse(request, e.status, str(e), dev.id)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return self.refuse(request, 400, "size must be a whole number of bytes", dev.id)
        if size == 0:
            return self.refuse(request, 400, "an empty (0-byte) file is not footage; nothing to upload", dev.id)
        if size > self.limits.max_file_bytes:
            return self.refuse(
                request,
                413,
                f"declared size {size} bytes is over the limit of {self.limits.max_file_bytes} bytes",
                dev.id,
            )
        if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
            return self.refuse(request, 400, "sha256 must be 64 hexadecimal digits", dev.id)
        sha = sha.lower()
        mid = self.received.get(sha)
        if mid is not None:
            loop = asyncio.get_running_loop()
            if mid in await loop.run_in_executor(None, self.worker.has, [mid]):
                return web.json_response({"upload_id": None, "have": True, "status": "skipped"})
        upload_id = self._upload_id(dev.id, sha, size)
        up = self._load_upload(dev, upload_id)
        if up is None:
            d = self.data_dir / INCOMING_DIR / dev.id
            d.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(d).free
            if size + self.limits.free_space_reserve > free:
                return self.refuse(
                    request,
                    507,
                    f"not enough free disk space for {size} bytes "
                    f"({free} free, {self.limits.free_space_reserve} kept in reserve)",
                    dev.id,
                )
            up = _Upload(upload_id, dev.id, name, size, sha, d / f"{upload_id}.part", d / f"{upload_id}.json")
            from lifelog.store.files import atomic_write

            atomic_write(
                up.meta, json.dumps({"name": name, "size": size, "sha256": sha, "created": time.time()}).encode("utf-8")
            )
            up.part.touch()
            self.uploads[upload_id] = up
            self.emit(
                "upload",
                f"{dev.name}: receiving {name} ({size} bytes)",
                dev.id,
                upload_id=upload_id,
                name=name,
                size=size,
            )
            return web.json_response({"upload_id": upload_id, "offset": 0, "size": size, **self._bulk_doc()},
                                     status=201)
        return web.json_response({"upload_id": upload_id, "offset": up.offset(), "size": up.size, **self._bulk_doc()})

    def _bulk_doc(self) -> dict[str, int]:
        return {"bulk_port": self.bulk_port} if self.bulk_port else {}

    async def head_upload(self, request: web.Request) -> web.Response:
        from aiohttp import web

        dev = self.authenticate(request)
        if isinstance(dev, web.Response):
            return dev
        up = self._load_upload(dev, request.match_info["upload_id"])
        if up is None:
            return web.Response(status=404)
        return web.Response(
            status=200,
            headers={
                "Upload-Offset": str(up.offset()),
                "Upload-Length": str(up.size),
                "Upload-Busy": "1" if up.busy else "0",  # a chunk is still being received: ask again
                "Cache-Control": "no-store",
            },
        )

    async def get_upload(self, request: web.Request) -> web.Response:
        from aiohttp import web

        dev = self.authenticate(request)
        if isinstance(dev, web.Response):
            return dev
        up = self._load_upload(dev, request.match_info["upload_id"])
        if up is None:
            return self.error(404, "no such upload (finished, abandoned or never made)")
        return web.json_response(
            {"upload_id": up.id, "name": up.name, "size": up.size, "offset": up.offset(), "receiving": up.busy}
        )

    async def delete_upload(self, request: web.Request) -> web.Response:
        from aiohttp import web

        dev = self.authenticate(request)
        if isinstance(dev, web.Response):
            return dev
        up = self._load_upload(dev, request.match_info["upload_id"])
        if up is None:
            return self.error(404, "no such upload")
        if up.busy:
            return self.error(409, "a chunk of this upload is being received")
        self._discard(up)
        return web.Response(status=204)

    def _discard(self, up: _Upload) -> None:
        self.uploads.pop(up.id, None)
        for p in (up.part, up.meta):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    async def put_upload(self, request: web.Request) -> web.Response:
        from aiohttp import web

        began = self.begin_put(request, request.match_info["upload_id"], request.content_length)
        if isinstance(began, web.Response):
            return began
        dev, up = began
        try:
            err = await self._receive(request, up, int(request.content_length or 0))
            return await self.after_body(request, dev, up, err)
        finally:
            self.end_put(dev, up)

    def begin_put(
        self, request: RequestLike, upload_id: str, clen: int | None
    ) -> tuple[WifiDevice, _Upload] | web.Response:
        """Check a chunk's headers before a byte of its body is read; on success the upload is
        marked busy (call :meth:`end_put` after)."""
        from aiohttp import web

        dev = self.authenticate(request)
        if isinstance(dev, web.Response):
            return dev
        lim = self.limits
        if request.headers.get("Transfer-Encoding"):
            return self.refuse(request, 411, "Content-Length is required (no chunked bodies)", dev.id)
        if clen is None:
            return self.refuse(request, 411, "Content-Length is required (no chunked bodies)", dev.id)
        if clen > lim.max_file_bytes:
            return self.refuse(request, 413, f"body of {clen} bytes is over the limit", dev.id)
        up = self._load_upload(dev, upload_id)
        if up is None:
            return self.refuse(request, 404, "no such upload; create it with POST /api/v1/uploads", dev.id)
        cr = request.headers.get("Content-Range", "")
        offset = up.offset()
        if (m := _RANGE_EMPTY.match(cr)) is not None:
            start, end, total = offset, offset - 1, int(m.group(1))
        elif (m := _RANGE.match(cr)) is not None:
            start, end, total = int(m.group(1)), int(m.group(2)), int(m.group(3))
        else:
            return self.refuse(request, 400, "Content-Range must be 'bytes START-END/SIZE'", dev.id)
        if total != up.size:
            return self.refuse(request, 400, f"Content-Range size {total} is not the declared size {up.size}", dev.id)
        if end >= up.size or end < start - (1 if m.re is _RANGE_EMPTY else 0):
            return self.refuse(request, 400, "Content-Range is outside the file", dev.id)
        if clen != end - start + 1:
            return self.refuse(
                request, 400, f"Content-Length {clen} does not match Content-Range ({end - start + 1} bytes)", dev.id
            )
        if start != offset:
            return self.refuse(
                request, 409, f"the upload is at byte {offset}; resume from there", dev.id, offset=offset
            )
        if up.busy:
            return self.refuse(request, 409, "another chunk of this upload is being received", dev.id)
        if self.active_uploads >= lim.max_uploads or self.active_by_device.get(dev.id, 0) >= lim.max_uploads_per_device:
            self.emit("refused", f"too many uploads at once; {dev.name} asked to retry", dev.id, status=429)
            return web.json_response(
                {"error": "too many uploads at once; retry shortly"}, status=429, headers={"Retry-After": "5"}
            )
        up.busy = True
        self.active_uploads += 1
        self.active_by_device[dev.id] = self.active_by_device.get(dev.id, 0) + 1
        return dev, up

    def end_put(self, dev: WifiDevice, up: _Upload) -> None:
        up.busy = False
        self.active_uploads -= 1
        self.active_by_device[dev.id] -= 1

    async def after_body(self, request: RequestLike, dev: WifiDevice, up: _Upload, err: str | None) -> web.Response:
        """The answer to a chunk once its body was stored: an error, the new offset, or — after
        the last byte — verification and the import's outcome."""
        from aiohttp import web

        if err is not None:
            return self.refuse(request, 400, err, dev.id, offset=up.offset())
        if up.offset() < up.size:
            return web.json_response({"upload_id": up.id, "offset": up.offset(), "size": up.size})
        return await self._finish(request, dev, up)

    def _hasher_at(self, up: _Upload, offset: int) -> Any:
        """A SHA-256 state over the part's first ``offset`` bytes (re-read after a restart)."""
        if up.hasher is None or up.hashed != offset:
            h = hashlib.sha256()
            with open(up.part, "rb") as f:
                left = offset
                while left > 0 and (b := f.read(min(left, 4 * 1024 * 1024))):
                    h.update(b)
                    left -= len(b)
            up.hasher, up.hashed = h, offset
        return up.hasher

    async def _receive(self, request: web.Request, up: _Upload, clen: int) -> str | None:
        """Append the body to the part file; an error message, or None.

        Only whole, received bytes are kept: a body cut short (the sender went away) leaves the
        part at the last byte that arrived, which HEAD reports as the resume point.

        The event loop only decrypts, parses and copies the bytes into 4 MiB buffers; hashing
        and writing (``O_DIRECT`` where possible) run on the threads of a
        :class:`~lifelog.sources.wifi.bulk.BodyWriter`, so they overlap with receiving.
        """
        from lifelog.sources.wifi.bulk import ALIGN, BodyWriter, open_direct

        loop = asyncio.get_running_loop()
        start = up.offset()
        h = await loop.run_in_executor(None, self._hasher_at, up, start)
        got = 0
        error: str | None = None
        direct = open_direct(up.part) if self.direct_io else None
        f = open(up.part, "r+b", buffering=0)  # noqa: SIM115 - closed below, after the writer
        w = BodyWriter(f.fileno(), start, h, direct)
        cur: list[Any] = []  # [buffer, its start offset, bytes in it] being filled, or empty

        async def feed(chunk: bytes) -> None:
            nonlocal got
            with memoryview(chunk) as mv:
                while mv:
                    if not cur:
                        buf = w.take_nowait() or await loop.run_in_executor(None, w.buffer)
                        cur[:] = [buf, (start + got) % ALIGN, 0]
                    buf, b0, fill = cur
                    k = min(len(buf) - b0 - fill, len(mv))
                    buf[b0 + fill:b0 + fill + k] = mv[:k]
                    cur[2] += k
                    got += k
                    mv = mv[k:]
                    if b0 + cur[2] == len(buf):
                        w.submit(buf, b0, cur[2])
                        cur.clear()

        try:
            try:
                while got < clen:
                    chunk = await asyncio.wait_for(request.content.readany(), self.limits.read_timeout_s)
                    if not chunk:
                        break
                    await feed(chunk[: clen - got])
            except TimeoutError:
                error = f"no data for {self.limits.read_timeout_s:.0f} s; resume from the offset"
            except Exception as e:  # the sender went away or lied about Content-Length
                for chunk in _buffered(request, clen - got):  # keep what did arrive
                    await feed(chunk)
                error = (f"body ended early after {got} of {clen} bytes ({type(e).__name__}); "
                         "resume from the offset")
        finally:
            if cur:
                w.submit(cur[0], cur[1], cur[2])
            written = await loop.run_in_executor(None, w.close)

            def settle() -> None:
                try:
                    f.truncate(start + written)
                    os.fsync(f.fileno())  # the offset HEAD reports survives a crash or power cut
                finally:
                    f.close()
                    if direct is not None:
                        os.close(direct)

            await loop.run_in_executor(None, settle)
        if w.error is not None and error is None:
            error = f"could not store the upload: {w.error}"
        if written != got:  # a write failed (disk full): the hash state no longer matches the file
            up.hasher, up.hashed = None, 0
        else:
            up.hashed = start + written
        if error is None and got < clen:
            error = f"body ended after {got} of {clen} bytes declared in Content-Length"
        return error

    async def _finish(self, request: RequestLike, dev: WifiDevice, up: _Upload) -> web.Response:
        from aiohttp import web

        digest = self._hasher_at(up, up.size).hexdigest()
        if digest != up.sha256:
            self._discard(up)
            return self.refuse(
                request,
                422,
                "the received bytes do not match the declared sha256; upload again from the start",
                dev.id,
                outcome="failed",
            )
        self.emit("received", f"{dev.name}: {up.name} received and verified ({up.size} bytes)", dev.id,
                  upload_id=up.id, name=up.name, size=up.size)
        status, doc = await self.import_received(up.part, up.name, dev, up.id[:8], up.sha256, keep_on_busy=True)
        if status == 503:
            up.hasher, up.hashed = None, 0
        else:
            with contextlib.suppress(FileNotFoundError):
                up.meta.unlink()
            self.uploads.pop(up.id, None)
        headers = {"Retry-After": "30"} if status == 503 else None
        return web.json_response({"upload_id": up.id, "offset": up.size, **doc}, status=status, headers=headers)

    async def import_received(
        self, part: Path, name: str, dev: WifiDevice, tag: str, sha256: str | None, keep_on_busy: bool
    ) -> tuple[int, dict[str, Any]]:
        """Move a verified part file into ``originals/<device>/`` and import it (one at a time).

        Returns the HTTP status and the outcome document: 200 imported/skipped, 422 failed (the
        file is deleted: nothing is stored), 503 busy (with ``keep_on_busy`` the part file is put
        back so the sender can retry the import without sending the bytes again).
        """
        dest_dir = self.data_dir / RECEIVED_DIR / dev.id
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / f"{tag}-{name}"
        if dest.resolve().parent != dest_dir.resolve():  # pragma: no cover - safe_name already refused it
            part.unlink(missing_ok=True)
            return 400, {"status": "failed", "error": "file name escapes the receive folder"}
        os.replace(part, dest)
        loop = asyncio.get_running_loop()
        try:
            out = await loop.run_in_executor(self.worker.pool, self.worker.run, dest, dev.id)
        except Exception as e:  # the import itself broke: keep nothing half-done, tell the sender
            log.exception("import of %s failed", dest)
            out = ImportOutcome("failed", f"import error: {e}", None, {})
        if out.status == "busy":
            if keep_on_busy:
                os.replace(dest, part)
            else:
                dest.unlink(missing_ok=True)
            self.emit("warning", f"{dev.name}: {name} received but not imported: {out.error}", dev.id)
            return 503, out.to_json()
        if out.status == "failed":
            dest.unlink(missing_ok=True)
            self.emit("failed", f"{dev.name}: {name} not imported: {out.error}", dev.id, name=name, error=out.error)
            return 422, out.to_json()
        if out.media_id and sha256:
            self.received.add(sha256, out.media_id)
        if out.status == "skipped":
            dest.unlink(missing_ok=True)  # the memory already had these bytes
        self.emit(
            out.status, f"{dev.name}: {name} {out.status}", dev.id, name=name, episodes=out.result.get("episodes", [])
        )
        return 200, out.to_json()


def _buffered(request: web.Request, limit: int) -> list[bytes]:
    """Body bytes aiohttp received but will not hand out once the connection broke.

    aiohttp's stream raises its error before returning what it buffered; those bytes did arrive
    and count towards the resume offset. Best effort: reads the stream's buffer (a private
    attribute); if that changes, the sender merely re-sends a little more.
    """
    buf = getattr(request.content, "_buffer", None)
    skip = getattr(request.content, "_buffer_offset", 0)  # bytes of the first chunk already read
    out: list[bytes] = []
    if buf is None or not isinstance(skip, int):
        return out
    while buf and limit > 0:
        b = bytes(buf.popleft())[skip:limit + skip]
        skip = 0
        out.append(b)
        limit -= len(b)
    return out


STALE_DAYS = 7


def sweep_stale_uploads(data_dir: Path, max_age_s: float = STALE_DAYS * 86400) -> int:
    """Delete partial uploads nobody resumed for ``max_age_s`` (their senders start again)."""
    n = 0
    now = time.time()
    for meta in (data_dir / INCOMING_DIR).glob("*/*.json"):
        try:
            created = float(json.loads(meta.read_text("utf-8")).get("created", 0))
            part = meta.with_suffix(".part")
            last = max(created, part.stat().st_mtime if part.exists() else 0)
        except (OSError, ValueError, AttributeError):
            continue
        if now - last > max_age_s:
            for f in (meta, meta.with_suffix(".part")):
                f.unlink(missing_ok=True)
            n += 1
    return n


class Receiver:
    """A running receiver: its own event-loop thread, the import worker, the mDNS advert."""

    def __init__(
        self,
        memory: Memory,
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

        self.memory = memory
        self.data_dir: Path = memory.data_dir
        self.host = host
        self.port = port
        self.port_wanted = port != 0
        self.limits = limits or ReceiverLimits()
        self.identity = ensure_identity(self.data_dir)
        self.alias = alias or f"lifelog on {socket.gethostname() or 'this computer'}"[:60]
        self._listeners: list[EventFn] = [on_event] if on_event else []
        self.worker = ImportWorker(memory, self._emit, self.limits.import_busy_wait_s)
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
        self._thread = threading.Thread(target=self._run, name="lifelog-wifi-receiver", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self.worker.close()
            raise self._error
        self.app.port = self.port
        self._write_status()
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

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            if len(server.connections) >= limit:
                self.refused_connections += 1
                transport.abort()
                return
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

            self.bulk = BulkServer(self.app, loop, self.identity.server_context(), self.limits)
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


def start_receiver(
    memory_or_data_dir: Memory | Path | str,
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
    """
    from lifelog.api import Memory

    mem = memory_or_data_dir if isinstance(memory_or_data_dir, Memory) else Memory(memory_or_data_dir)
    return Receiver(mem, host, port, on_event, limits, approve_localsend, advertise, bulk=bulk).start()
