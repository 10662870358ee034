"""The receiver's shared state and request plumbing, handed to each of its features.

:class:`ReceiverContext` holds what pairing, paired uploads and LocalSend all use: the data dir,
the TLS identity, the device registry and the index of received files, the import worker, the
limits and the uploads in flight; and the steps every handler takes — emit an event, refuse a
request (logged, with a JSON error), authenticate a paired device, read a JSON body, and move a
verified file into ``originals/<device>/``, import it and keep it encrypted. It runs on the
receiver's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifelog.sources.capture import CaptureWatch, recorded_in_quiet_hours
from lifelog.sources.wifi.common import (
    RECEIVED_DIR,
    EventFn,
    EventKind,
    ImportOutcome,
    ImportWorker,
    OutcomeDoc,
    ReceiverEvent,
    ReceiverLimits,
    RequestLike,
)
from lifelog.sources.wifi.recovery import write_import_marker
from lifelog.sources.wifi.registry import SKIPPED_BY_RULE, ReceivedIndex, Registry, WifiDevice

if TYPE_CHECKING:
    from aiohttp import web

    from lifelog.sources.wifi.tls import TlsIdentity

log = logging.getLogger("lifelog.wifi")

MAX_ECHO = 200  # at most this much of a request (a path, a header) goes into a log line or an event

# What a request the HTTP parser could not read is told: a fixed sentence per kind of error,
# never the parser's message (it quotes the offending bytes — a whole body, sometimes).
_MALFORMED = {
    "BadHttpMethod": "malformed request line (not an HTTP method)",
    "BadStatusLine": "malformed request line",
    "LineTooLong": "request line or header too long",
    "InvalidHeader": "malformed header",
    "BadHttpMessage": "malformed request head",
    "InvalidURLError": "malformed request target",
    "ContentLengthError": "body does not match its Content-Length",
    "TransferEncodingError": "malformed chunked body",
    "ContentEncodingError": "malformed content encoding",
}


def _recorded_in_quiet_hours(data_dir: Path, part: Path, name: str) -> str | None:
    """Why the received ``part`` (sent as ``name``) is skipped: its capture time lies in quiet hours."""
    from lifelog.ingest.decode import capture_time

    when = capture_time(part, kind_from=name)
    return recorded_in_quiet_hours(data_dir, when) if when is not None else None


def _clip(text: str, n: int = MAX_ECHO) -> str:
    return text if len(text) <= n else f"{text[:n]}… ({len(text)} characters)"


class ReceiverContext:
    """State and plumbing shared by the receiver's features; see the module docstring."""

    def __init__(
        self,
        data_dir: Path,
        worker: ImportWorker,
        identity: TlsIdentity,
        on_event: EventFn,
        limits: ReceiverLimits,
        alias: str,
    ) -> None:
        self.data_dir = data_dir
        self.worker = worker
        self.identity = identity
        self.on_event = on_event
        self.limits = limits
        self.alias = alias
        self.registry = Registry(data_dir)
        self.received = ReceivedIndex(data_dir)
        self.active_uploads = 0  # bodies being received, paired and LocalSend alike
        self.active_by_device: dict[str, int] = {}
        self.port = 0  # set once listening
        self.bulk_port: int | None = None  # the bulk upload port, once listening (see bulk.py)
        self.direct_io = True  # write upload bodies with O_DIRECT where the file system allows
        self.capture = CaptureWatch(data_dir)  # the pause for everything (lifelog.sources.capture)

    # ---------------------------------------------------------------- events
    def emit(self, kind: EventKind, message: str, device_id: str | None = None, **detail: Any) -> None:
        ev = ReceiverEvent(kind, message, device_id, detail)
        if kind in ("refused", "failed", "warning"):
            log.warning("%s%s", message, f" (device {device_id})" if device_id else "")
        else:
            log.info("%s", message)
        try:
            self.on_event(ev)
        except Exception:  # a broken listener must not break the receiver
            log.exception("event listener failed")

    # -------------------------------------------------------------- requests
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
            f"{request.method[:16]} {_clip(request.path)} from {self.peer(request)}: {status} {message}",
            device_id,
            status=status,
            reason=message,
        )
        return self.error(status, message, **extra)

    def malformed(self, request: Any, status: int, exc: BaseException | None) -> web.Response:
        """The answer to a request the HTTP layer could not parse or handle (aiohttp's
        ``handle_error``): a bounded JSON error that says what was wrong and echoes nothing of
        the request, and one bounded log line (no traceback quoting the bytes)."""
        from aiohttp import web

        if status >= 500:
            message = "internal error"
            log.error("error handling a request from %s: %s", self.peer(request), _clip(repr(exc)), exc_info=exc)
        else:
            message = _MALFORMED.get(type(exc).__name__, "malformed HTTP request")
            self.emit("refused", f"malformed request from {self.peer(request)}: {status} {message}",
                      status=status, reason=message)
        resp = web.json_response({"error": message}, status=status)
        resp.force_close()
        return resp

    def paused_refusal(self, request: RequestLike, device_id: str | None = None) -> web.Response | None:
        """423 ``{"error": "capture is paused until …", "paused": true, "until"}`` (with
        ``Retry-After``) while capture is paused; None when it is on."""
        from datetime import UTC, datetime

        st = self.capture.state(device=device_id)
        if not st.paused:
            return None
        resp = self.refuse(request, 423, st.message(), device_id, paused=True,
                           until=st.until.isoformat() if st.until else None, rule=st.to_json()["rule"])
        left = (st.until - datetime.now(UTC)).total_seconds() if st.until else 60.0
        if st.rule == "excluded_device":
            left = 3600.0  # an exclusion does not end by itself
        resp.headers["Retry-After"] = str(max(1, min(3600, int(left) + 1)))
        return resp

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
        except (ValueError, UnicodeDecodeError, RecursionError):  # (RecursionError: absurd nesting)
            return self.refuse(request, 400, "body is not JSON")
        if not isinstance(doc, dict):
            return self.refuse(request, 400, "body must be a JSON object")
        return doc

    def bulk_doc(self) -> dict[str, int]:
        """``{"bulk_port": N}`` while the bulk port listens (merged into info and upload answers)."""
        return {"bulk_port": self.bulk_port} if self.bulk_port else {}

    async def stored(self, media_ids: list[str]) -> set[str]:
        """Which of ``media_ids`` the memory holds (asked off the event loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.worker.has, media_ids)

    # ---------------------------------------------------------------- import
    async def import_received(
        self, part: Path, name: str, dev: WifiDevice, tag: str, sha256: str | None, keep_on_busy: bool
    ) -> tuple[int, OutcomeDoc | dict[str, Any]]:
        """Move a verified part file into ``originals/<device>/``, import it (one at a time), then
        keep it encrypted (``<name>.lgo``; the plaintext is shredded).

        Returns the HTTP status and the outcome document: 200 imported/skipped, 422 failed (the
        file is deleted: nothing is stored), 503 busy (with ``keep_on_busy`` the part file is put
        back so the sender can retry the import without sending the bytes again).
        """
        st = self.capture.state(device=dev.id)
        if st.paused:  # never imported while paused: the received bytes are dropped
            part.unlink(missing_ok=True)
            msg = st.message()
            self.emit("refused", f"{dev.name}: {name} dropped: {msg}", dev.id, status=423, reason=msg)
            return 423, {"status": "paused", "error": msg, "paused": True, "rule": st.to_json()["rule"]}
        loop = asyncio.get_running_loop()
        why = await loop.run_in_executor(self.worker.pool, _recorded_in_quiet_hours, self.data_dir, part, name)
        if why is not None:  # recorded during quiet hours: never imported, never asked for again
            part.unlink(missing_ok=True)
            if sha256:
                self.received.add(sha256, SKIPPED_BY_RULE)
            self.emit("skipped", f"{dev.name}: {name} skipped: {why}", dev.id, name=name, reason=why, episodes=[])
            return 200, {"status": "skipped", "error": None, "media_id": None, "import": {}, "rule": "quiet_hours",
                         "reason": why}
        dest_dir = self.data_dir / RECEIVED_DIR / dev.id
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / f"{tag}-{name}"
        if dest.resolve().parent != dest_dir.resolve():  # pragma: no cover - safe_name already refused it
            part.unlink(missing_ok=True)
            return 400, {"status": "failed", "error": "file name escapes the receive folder"}
        # Written before the move and removed once the outcome is settled: a receiver killed in
        # between finds it at its next start (see recovery.reconcile_incoming).
        marker = write_import_marker(self.data_dir, dev.id, tag, part, dest, sha256)
        os.replace(part, dest)
        try:
            out = await loop.run_in_executor(self.worker.pool, self.worker.run, dest, dev.id)
        except Exception as e:  # the import itself broke: keep nothing half-done, tell the sender
            log.exception("import of %s failed", dest)
            out = ImportOutcome("failed", f"import error: {e}", None, {})
        try:
            if out.status == "busy":
                if keep_on_busy:
                    os.replace(dest, part)
                else:
                    dest.unlink(missing_ok=True)
                self.emit("warning", f"{dev.name}: {name} received but not imported: {out.error}", dev.id)
                return 503, out.to_json()
            if out.status == "failed":
                dest.unlink(missing_ok=True)
                self.emit("failed", f"{dev.name}: {name} not imported: {out.error}", dev.id, name=name,
                          error=out.error)
                return 422, out.to_json()
            if out.media_id and sha256:
                self.received.add(sha256, out.media_id)
            if out.status == "skipped":
                dest.unlink(missing_ok=True)  # the memory already had these bytes
            elif out.status == "imported":  # kept encrypted at rest (<name>.lgo), the plaintext shredded
                try:
                    await loop.run_in_executor(self.worker.pool, self.worker.target.keep_original, dest)
                except Exception:  # (a full disk) the next open of the memory encrypts it
                    log.exception("could not encrypt the kept original %s yet", dest)
            self.emit(
                out.status, f"{dev.name}: {name} {out.status}", dev.id, name=name,
                episodes=out.result.get("episodes", []),
            )
            return 200, out.to_json()
        finally:
            marker.unlink(missing_ok=True)
