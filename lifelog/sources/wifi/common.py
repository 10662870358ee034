"""What every part of the receiver shares: limits, events, import outcomes, the name check, the
import worker and the state of one upload.

The receiver's features (:mod:`.pairing_routes`, :mod:`.uploads`, :mod:`.bulk`,
:mod:`.localsend`) import this module and :mod:`.context`; only the shell (:mod:`.server`)
imports the features, so nothing here imports them back.
"""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

from lifelog.sources.wifi.registry import DEVICES_DIR

if TYPE_CHECKING:
    from _hashlib import HASH

    from aiohttp import web

    from lifelog.sources.base import ImportTarget
    from lifelog.sources.wifi.registry import WifiDevice

log = logging.getLogger("lifelog.wifi")

API_VERSION = 1
INCOMING_DIR = DEVICES_DIR / "incoming"
RECEIVED_DIR = Path("originals")  # shared with lifelog.sources.sync: <data>/originals/<device>/
MAX_NAME_BYTES = 255


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
    # LocalSend approval questions (docs/security.md): a new sender may ask the user at most
    # this often per address; a sender refused (or not answered) is not asked about again for a
    # while; at most so many questions wait at once. Beyond: 429 with Retry-After, no question.
    approval_prompts_per_address: int = 3
    approval_window_s: float = 600.0
    approval_cooldown_s: float = 60.0
    max_pending_approvals: int = 8


EventKind = Literal[
    "listening",
    "paired",
    "approval",  # a new LocalSend sender asks to send files
    "refused",
    "upload",
    "received",
    "imported",
    "skipped",
    "failed",
    "warning",
    "stopped",
]


@dataclass(frozen=True)
class ReceiverEvent:
    """Something a user may want to see: plain data for the CLI (``--json-events``) and the app."""

    kind: EventKind
    message: str
    device_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, "message": self.message, "device_id": self.device_id, **self.detail}


EventFn = Callable[[ReceiverEvent], None]

ImportStatus = Literal["imported", "skipped", "failed", "busy"]

# What the sender is told about an import (docs/wifi.md); "import" is the core's ImportResult.
OutcomeDoc = TypedDict(
    "OutcomeDoc",
    {"status": ImportStatus, "error": str | None, "media_id": str | None, "import": dict[str, Any]},
)


@dataclass(frozen=True)
class ImportOutcome:
    status: ImportStatus
    error: str | None
    media_id: str | None
    result: dict[str, Any]  # the core's ImportResult as JSON ({} when the import never ran)

    def to_json(self) -> OutcomeDoc:
        return {"status": self.status, "error": self.error, "media_id": self.media_id, "import": self.result}


class RequestLike(Protocol):
    """What refusals and authentication read of a request (an aiohttp request or a bulk one)."""

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
        shown = ext if len(ext) <= 12 else f"{ext[:12]}…"  # never echo much of a request back
        raise NameRefused(415, f"not a media file the memory imports ({shown or 'no extension'})")
    return str(name.strip())


class ImportWorker:
    """Hands verified files to the :class:`~lifelog.sources.base.ImportTarget` one at a time
    (one thread: the core holds a write lock while importing)."""

    def __init__(self, target: ImportTarget, on_event: EventFn, busy_wait_s: float = 120.0) -> None:
        self.target = target
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
                lambda: self.target.import_paths([path], cancel=self.cancel, device=device_id),
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
        """Which of ``media_ids`` the memory holds (blocking: call it off the event loop)."""
        return self.target.stored_media(media_ids)

    def close(self) -> None:
        self.cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class Upload:
    """One resumable upload of a paired device: ``<data>/devices/incoming/<device>/<id>.part``
    (the bytes so far) and ``<id>.json`` (name, size, SHA-256, when it was created)."""

    id: str
    device_id: str
    name: str
    size: int
    sha256: str
    part: Path
    meta: Path
    hasher: HASH | None = None  # SHA-256 state over bytes [0, hashed)
    hashed: int = 0
    busy: bool = False

    def offset(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0


class PutHandler(Protocol):
    """What a transport for upload bodies (the main port's ``PUT`` or :mod:`.bulk`) calls: the
    checks before a body and the answer after it (on the receiver's event loop), and the
    SHA-256 state to continue from (it may read the part file: call it off the loop)."""

    @property
    def direct_io(self) -> bool:
        """Write bodies with ``O_DIRECT`` where the file system allows."""
        ...

    def begin_put(
        self, request: RequestLike, upload_id: str, clen: int | None
    ) -> tuple[WifiDevice, Upload] | web.Response: ...

    def end_put(self, dev: WifiDevice, up: Upload) -> None: ...

    async def after_body(
        self, request: RequestLike, dev: WifiDevice, up: Upload, err: str | None
    ) -> web.Response: ...

    def hasher_at(self, up: Upload, offset: int) -> HASH: ...
