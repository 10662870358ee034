"""Paired uploads: deduplication and resumable uploads, handed to the import worker.

* ``POST /api/v1/have`` ``{files: [{sha256, size, name}]}`` → which ones the memory already holds.
* ``POST /api/v1/uploads`` ``{name, size, sha256}`` → ``{upload_id, offset}`` (idempotent: the
  same device sending the same file again gets the same upload back, with its offset).
* ``HEAD /api/v1/uploads/{id}`` → ``Upload-Offset`` / ``Upload-Length`` headers (resume point).
* ``GET  /api/v1/uploads/{id}`` → the same as JSON.
* ``PUT  /api/v1/uploads/{id}`` with ``Content-Range: bytes a-b/size`` — one chunk; when the
  last byte lands, the size and SHA-256 are checked and the file goes to the import.
* ``DELETE /api/v1/uploads/{id}`` — abandon an upload.

All of them need ``Authorization: Bearer <credential>``. :class:`UploadRoutes` is also the
:class:`~lifelog.sources.wifi.common.PutHandler` of the bulk port (:mod:`.bulk`): both ports run
the same checks before and after a body (:meth:`UploadRoutes.begin_put` /
:meth:`UploadRoutes.after_body`, on the event loop). A part file no one resumes for
:data:`STALE_DAYS` is swept at start (:func:`sweep_stale_uploads`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifelog.sources.wifi.common import INCOMING_DIR, NameRefused, RequestLike, Upload, safe_name
from lifelog.sources.wifi.registry import SKIPPED_BY_RULE

if TYPE_CHECKING:
    from _hashlib import HASH

    from aiohttp import web

    from lifelog.sources.wifi.context import ReceiverContext
    from lifelog.sources.wifi.registry import WifiDevice

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
# At most 19 digits (any file size fits): a longer number is refused as malformed, never echoed
# back, and never handed to int() (which refuses over 4,300 digits).
_RANGE = re.compile(r"^bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19})$")
_RANGE_EMPTY = re.compile(r"^bytes \*/([0-9]{1,19})$")


class UploadRoutes:
    """The paired-upload routes and the uploads in progress (their ``.part`` files survive a restart)."""

    def __init__(self, ctx: ReceiverContext) -> None:
        self.ctx = ctx
        self.uploads: dict[str, Upload] = {}

    @property
    def direct_io(self) -> bool:
        return self.ctx.direct_io

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/have", self.have)
        app.router.add_post("/api/v1/uploads", self.create_upload)
        app.router.add_route("HEAD", "/api/v1/uploads/{upload_id}", self.head_upload)
        app.router.add_get("/api/v1/uploads/{upload_id}", self.get_upload, allow_head=False)
        app.router.add_put("/api/v1/uploads/{upload_id}", self.put_upload)
        app.router.add_delete("/api/v1/uploads/{upload_id}", self.delete_upload)

    async def have(self, request: web.Request) -> web.Response:
        from aiohttp import web

        got = await self.ctx.authed_json(request)
        if isinstance(got, web.Response):
            return got
        dev, body = got
        files = body.get("files")
        if not isinstance(files, list):
            return self.ctx.refuse(request, 400, "files must be a list", dev.id)
        most = self.ctx.limits.max_have_files
        if len(files) > most:
            return self.ctx.refuse(request, 413, f"at most {most} files per request", dev.id)
        shas: list[str] = []
        for f in files:
            sha = f.get("sha256") if isinstance(f, dict) else None
            if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
                return self.ctx.refuse(request, 400, "every file needs a sha256 (64 hex digits)", dev.id)
            shas.append(sha.lower())
        known = {s: m for s in shas if (m := self.ctx.received.get(s)) is not None}
        present = await self.ctx.stored(sorted(set(known.values())))
        have = [s for s in shas if known.get(s) in present or known.get(s) == SKIPPED_BY_RULE]
        return web.json_response({"have": have, "missing": [s for s in shas if s not in set(have)]})

    def _upload_id(self, device_id: str, sha: str, size: int) -> str:
        return hashlib.sha256(f"{device_id}\0{sha}\0{size}".encode()).hexdigest()[:32]

    def _authed_upload(self, request: web.Request, missing: web.Response) -> Upload | web.Response:
        """The paired device's upload named in the path, or the response to send instead: the
        refusal of a bad credential, or ``missing`` for an upload it does not have."""
        from aiohttp import web

        dev = self.ctx.authenticate(request)
        if isinstance(dev, web.Response):
            return dev
        up = self._load_upload(dev, request.match_info["upload_id"])
        return missing if up is None else up

    def _load_upload(self, dev: WifiDevice, upload_id: str) -> Upload | None:
        if not _UPLOAD_ID.match(upload_id):
            return None
        up = self.uploads.get(upload_id)
        if up is not None:
            return up if up.device_id == dev.id else None
        d = self.ctx.data_dir / INCOMING_DIR / dev.id
        meta = d / f"{upload_id}.json"
        try:
            doc = json.loads(meta.read_text("utf-8"))
            up = Upload(
                upload_id, dev.id, str(doc["name"]), int(doc["size"]), str(doc["sha256"]), d / f"{upload_id}.part",
                meta,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # (a damaged session file: the sender starts a new one)
        self.uploads[upload_id] = up
        return up

    @staticmethod
    def _ensure_part(up: Upload) -> None:
        """A session whose part file vanished (deleted by hand, a crash) starts over cleanly from
        byte 0 instead of failing on the missing file."""
        if not up.part.exists():
            up.part.parent.mkdir(parents=True, exist_ok=True)
            up.part.touch()
            up.hasher, up.hashed = None, 0

    async def create_upload(self, request: web.Request) -> web.Response:
        from aiohttp import web

        got = await self.ctx.authed_json(request)
        if isinstance(got, web.Response):
            return got
        dev, body = got
        size, sha = body.get("size"), body.get("sha256")
        try:
            name = safe_name(body.get("name"))
        except NameRefused as e:
            return self.ctx.refuse(request, e.status, str(e), dev.id)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return self.ctx.refuse(request, 400, "size must be a whole number of bytes", dev.id)
        if size == 0:
            return self.ctx.refuse(request, 400, "an empty (0-byte) file is not footage; nothing to upload", dev.id)
        if size > self.ctx.limits.max_file_bytes:
            return self.ctx.refuse(
                request,
                413,
                f"declared size {_num(size)} bytes is over the limit of {self.ctx.limits.max_file_bytes} bytes",
                dev.id,
            )
        if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
            return self.ctx.refuse(request, 400, "sha256 must be 64 hexadecimal digits", dev.id)
        sha = sha.lower()
        if (refused := self.ctx.paused_refusal(request, dev.id)) is not None:
            old = self._load_upload(dev, self._upload_id(dev.id, sha, size))
            if old is not None and not old.busy:  # a half-received upload is dropped while paused
                self._discard(old)
            return refused
        mid = self.ctx.received.get(sha)
        if mid is not None and (mid == SKIPPED_BY_RULE or mid in await self.ctx.stored([mid])):
            return web.json_response({"upload_id": None, "have": True, "status": "skipped"})
        upload_id = self._upload_id(dev.id, sha, size)
        up = self._load_upload(dev, upload_id)
        if up is not None and not up.busy:
            self._ensure_part(up)
        if up is None:
            d = self.ctx.data_dir / INCOMING_DIR / dev.id
            d.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(d).free
            if size + self.ctx.limits.free_space_reserve > free:
                return self.ctx.refuse(
                    request,
                    507,
                    f"not enough free disk space for {size} bytes "
                    f"({free} free, {self.ctx.limits.free_space_reserve} kept in reserve)",
                    dev.id,
                )
            up = Upload(upload_id, dev.id, name, size, sha, d / f"{upload_id}.part", d / f"{upload_id}.json")
            from lifelog.store.files import atomic_write

            atomic_write(
                up.meta, json.dumps({"name": name, "size": size, "sha256": sha, "created": time.time()}).encode("utf-8")
            )
            up.part.touch()
            self.uploads[upload_id] = up
            self.ctx.emit(
                "upload",
                f"{dev.name}: receiving {name} ({size} bytes)",
                dev.id,
                upload_id=upload_id,
                name=name,
                size=size,
            )
            return web.json_response({"upload_id": upload_id, "offset": 0, "size": size, **self.ctx.bulk_doc()},
                                     status=201)
        return web.json_response(
            {"upload_id": upload_id, "offset": up.offset(), "size": up.size, **self.ctx.bulk_doc()}
        )

    async def head_upload(self, request: web.Request) -> web.Response:
        from aiohttp import web

        up = self._authed_upload(request, web.Response(status=404))
        if isinstance(up, web.Response):
            return up
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

        up = self._authed_upload(request, self.ctx.error(404, "no such upload (finished, abandoned or never made)"))
        if isinstance(up, web.Response):
            return up
        return web.json_response(
            {"upload_id": up.id, "name": up.name, "size": up.size, "offset": up.offset(), "receiving": up.busy}
        )

    async def delete_upload(self, request: web.Request) -> web.Response:
        from aiohttp import web

        up = self._authed_upload(request, self.ctx.error(404, "no such upload"))
        if isinstance(up, web.Response):
            return up
        if up.busy:
            return self.ctx.error(409, "a chunk of this upload is being received")
        self._discard(up)
        return web.Response(status=204)

    def _discard(self, up: Upload) -> None:
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
    ) -> tuple[WifiDevice, Upload] | web.Response:
        """Check a chunk's headers before a byte of its body is read; on success the upload is
        marked busy (call :meth:`end_put` after)."""
        from aiohttp import web

        ctx, lim = self.ctx, self.ctx.limits
        dev = ctx.authenticate(request)
        if isinstance(dev, web.Response):
            return dev
        if request.headers.get("Transfer-Encoding"):
            return ctx.refuse(request, 411, "Content-Length is required (no chunked bodies)", dev.id)
        if clen is None:
            return ctx.refuse(request, 411, "Content-Length is required (no chunked bodies)", dev.id)
        if clen > lim.max_file_bytes:
            return ctx.refuse(request, 413, f"body of {_num(clen)} bytes is over the limit", dev.id)
        up = self._load_upload(dev, upload_id)
        if (refused := ctx.paused_refusal(request, dev.id)) is not None:
            if up is not None and not up.busy:  # a half-received upload is dropped while paused
                self._discard(up)
            return refused
        if up is None:
            return ctx.refuse(request, 404, "no such upload; create it with POST /api/v1/uploads", dev.id)
        if not up.busy:
            self._ensure_part(up)
        cr = request.headers.get("Content-Range", "")
        offset = up.offset()
        if (m := _RANGE_EMPTY.match(cr)) is not None:
            start, end, total = offset, offset - 1, int(m.group(1))
        elif (m := _RANGE.match(cr)) is not None:
            start, end, total = int(m.group(1)), int(m.group(2)), int(m.group(3))
        else:
            return ctx.refuse(request, 400, "Content-Range must be 'bytes START-END/SIZE'", dev.id)
        if total != up.size:
            return ctx.refuse(request, 400, f"Content-Range size {total} is not the declared size {up.size}", dev.id)
        if end >= up.size or end < start - (1 if m.re is _RANGE_EMPTY else 0):
            return ctx.refuse(request, 400, "Content-Range is outside the file", dev.id)
        if clen != end - start + 1:
            return ctx.refuse(
                request, 400, f"Content-Length {clen} does not match Content-Range ({end - start + 1} bytes)", dev.id
            )
        if start != offset:
            return ctx.refuse(
                request, 409, f"the upload is at byte {offset}; resume from there", dev.id, offset=offset
            )
        if up.busy:
            return ctx.refuse(request, 409, "another chunk of this upload is being received", dev.id)
        if ctx.active_uploads >= lim.max_uploads or ctx.active_by_device.get(dev.id, 0) >= lim.max_uploads_per_device:
            ctx.emit("refused", f"too many uploads at once; {dev.name} asked to retry", dev.id, status=429)
            return web.json_response(
                {"error": "too many uploads at once; retry shortly"}, status=429, headers={"Retry-After": "5"}
            )
        up.busy = True
        ctx.active_uploads += 1
        ctx.active_by_device[dev.id] = ctx.active_by_device.get(dev.id, 0) + 1
        return dev, up

    def end_put(self, dev: WifiDevice, up: Upload) -> None:
        up.busy = False
        self.ctx.active_uploads -= 1
        self.ctx.active_by_device[dev.id] -= 1

    async def after_body(self, request: RequestLike, dev: WifiDevice, up: Upload, err: str | None) -> web.Response:
        """The answer to a chunk once its body was stored: an error, the new offset, or — after
        the last byte — verification and the import's outcome."""
        from aiohttp import web

        if self.ctx.capture.paused(dev.id):  # paused while this chunk came in: the upload is dropped
            self._discard(up)
            refused = self.ctx.paused_refusal(request, dev.id)
            if refused is not None:
                return refused
        if err is not None:
            return self.ctx.refuse(request, 400, err, dev.id, offset=up.offset())
        if up.offset() < up.size:
            return web.json_response({"upload_id": up.id, "offset": up.offset(), "size": up.size})
        return await self._finish(request, dev, up)

    def hasher_at(self, up: Upload, offset: int) -> HASH:
        """A SHA-256 state over the part's first ``offset`` bytes (re-read after a restart)."""
        h = up.hasher
        if h is None or up.hashed != offset:
            h = hashlib.sha256()
            with contextlib.suppress(FileNotFoundError), open(up.part, "rb") as f:
                left = offset
                while left > 0 and (b := f.read(min(left, 4 * 1024 * 1024))):
                    h.update(b)
                    left -= len(b)
            up.hasher, up.hashed = h, offset
        return h

    async def _receive(self, request: web.Request, up: Upload, clen: int) -> str | None:
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
        h = await loop.run_in_executor(None, self.hasher_at, up, start)
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
                    if self.ctx.capture.paused():  # capture paused mid-chunk: after_body drops the upload
                        error = "capture was paused"
                        break
                    chunk = await asyncio.wait_for(request.content.readany(), self.ctx.limits.read_timeout_s)
                    if not chunk:
                        break
                    await feed(chunk[: clen - got])
            except TimeoutError:
                error = f"no data for {self.ctx.limits.read_timeout_s:.0f} s; resume from the offset"
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

    async def _finish(self, request: RequestLike, dev: WifiDevice, up: Upload) -> web.Response:
        from aiohttp import web

        digest = self.hasher_at(up, up.size).hexdigest()
        if digest != up.sha256:
            self._discard(up)
            return self.ctx.refuse(
                request,
                422,
                "the received bytes do not match the declared sha256; upload again from the start",
                dev.id,
                outcome="failed",
            )
        self.ctx.emit("received", f"{dev.name}: {up.name} received and verified ({up.size} bytes)", dev.id,
                      upload_id=up.id, name=up.name, size=up.size)
        status, doc = await self.ctx.import_received(up.part, up.name, dev, up.id[:8], up.sha256, keep_on_busy=True)
        if status == 503:
            up.hasher, up.hashed = None, 0
        else:
            with contextlib.suppress(FileNotFoundError):
                up.meta.unlink()
            self.uploads.pop(up.id, None)
        headers = {"Retry-After": "30"} if status == 503 else None
        return web.json_response({"upload_id": up.id, "offset": up.size, **doc}, status=status, headers=headers)


def _num(n: int) -> str:
    """A number from a request, for an error message: absurd ones are not echoed in full."""
    return str(n) if n < 10**19 else "more than 10^19"


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


