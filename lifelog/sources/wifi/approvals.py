"""LocalSend approval requests waiting for the user, on disk so another process can answer.

A running receiver writes every new LocalSend sender that asks to send files to
``<data>/devices/localsend-pending.json`` (0600, written atomically under an advisory lock) and
polls it for an answer while it waits. ``lifelog devices approve --list`` shows them,
``lifelog devices approve ID`` / ``lifelog devices deny ID`` answer one — from any terminal of
the same user, with or without the receiver's own terminal. The app can answer the same way
(:func:`answer_request`) besides its own dialog. The file holds no secret: an alias, the
fingerprint the sender claimed, its address and what it offers.

Requests end when answered, after :data:`REQUEST_TTL_S` (refused), or when the receiver that
asked stops (a receiver clears its own at start and stop; entries of a dead process are ignored).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from lifelog.sources.wifi.registry import DEVICES_DIR

PENDING_NAME = "localsend-pending.json"
REQUEST_TTL_S = 120.0  # as long as the receiver waits for an answer

Answer = Literal["approve", "deny"]


class ApprovalError(ValueError):
    """No such pending request (unknown, answered, expired, or its receiver stopped)."""


@dataclass(frozen=True)
class ApprovalRequest:
    """A LocalSend sender waiting for the user's answer."""

    id: str  # short, typed by the user: `lifelog devices approve ID`
    alias: str
    fingerprint: str
    address: str
    device_model: str | None
    device_type: str | None
    files: int
    total_bytes: int
    asked_at: float  # unix seconds
    expires_at: float
    pid: int  # the receiver's process
    answer: Answer | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(doc: dict[str, Any]) -> ApprovalRequest:
        ans = doc.get("answer")
        return ApprovalRequest(
            id=str(doc["id"]),
            alias=str(doc["alias"]),
            fingerprint=str(doc["fingerprint"]),
            address=str(doc["address"]),
            device_model=_opt(doc.get("device_model")),
            device_type=_opt(doc.get("device_type")),
            files=int(doc.get("files") or 0),
            total_bytes=int(doc.get("total_bytes") or 0),
            asked_at=float(doc["asked_at"]),
            expires_at=float(doc["expires_at"]),
            pid=int(doc["pid"]),
            answer=ans if ans in ("approve", "deny") else None,
        )


def _opt(v: Any) -> str | None:
    return str(v) if v is not None else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, but not ours to answer for
        return True
    return True


class ApprovalBook:
    """Read-modify-write access to the pending-requests file; safe across threads and processes."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / DEVICES_DIR
        self.path = self.dir / PENDING_NAME
        self._tlock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[ApprovalRequest]]:
        """The current requests (live ones only); changes to the list are written back."""
        from lifelog.store.files import atomic_write

        self.dir.mkdir(parents=True, exist_ok=True)
        with self._tlock:
            fd = os.open(self.dir / "localsend-pending.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                before = self._read()
                now = time.time()
                live = [r for r in before if r.expires_at > now and _alive(r.pid)]
                reqs = list(live)
                yield reqs
                if reqs != before:
                    atomic_write(self.path, json.dumps({"pending": [r.to_json() for r in reqs]}).encode("utf-8"))
                    with contextlib.suppress(OSError):
                        os.chmod(self.path, 0o600)
            finally:
                os.close(fd)

    def _read(self) -> list[ApprovalRequest]:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            return [ApprovalRequest.from_json(d) for d in raw.get("pending") or []]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return []  # a damaged file only holds questions: start over

    def add(
        self,
        alias: str,
        fingerprint: str,
        address: str,
        device_model: str | None = None,
        device_type: str | None = None,
        files: int = 0,
        total_bytes: int = 0,
        ttl_s: float = REQUEST_TTL_S,
    ) -> ApprovalRequest:
        with self._locked() as reqs:
            taken = {r.id for r in reqs}
            rid = secrets.token_hex(3)
            while rid in taken:
                rid = secrets.token_hex(3)
            now = time.time()
            req = ApprovalRequest(rid, alias, fingerprint, address, device_model, device_type, files, total_bytes,
                                  now, now + ttl_s, os.getpid())
            reqs.append(req)
        return req

    def pending(self) -> list[ApprovalRequest]:
        """Requests still waiting for an answer, oldest first."""
        with self._locked() as reqs:
            return sorted((r for r in reqs if r.answer is None), key=lambda r: r.asked_at)

    def answer(self, request_id: str, approve: bool) -> ApprovalRequest:
        """Answer a waiting request; :class:`ApprovalError` when there is none by that id."""
        with self._locked() as reqs:
            for i, r in enumerate(reqs):
                if r.id == request_id.strip().lower():
                    if r.answer is not None:
                        raise ApprovalError(f"request {request_id} was already answered ({r.answer})")
                    reqs[i] = replace(r, answer="approve" if approve else "deny")
                    return reqs[i]
        raise ApprovalError(
            f"no pending LocalSend request {request_id!r} (answered, expired, or its receiver stopped)"[:200]
        )

    def answer_of(self, request_id: str) -> bool | None:
        """True / False once answered, None while waiting (or when it is gone)."""
        for r in self._read():
            if r.id == request_id and r.answer is not None:
                return r.answer == "approve"
        return None

    def remove(self, request_id: str) -> None:
        with self._locked() as reqs:
            reqs[:] = [r for r in reqs if r.id != request_id]

    def clear_own(self) -> None:
        """Forget this process's requests (a receiver starting or stopping)."""
        with self._locked() as reqs:
            reqs[:] = [r for r in reqs if r.pid != os.getpid()]


def list_requests(data_dir: Path) -> list[ApprovalRequest]:
    """LocalSend senders waiting for the user's answer, oldest first."""
    return ApprovalBook(data_dir).pending()


def answer_request(data_dir: Path, request_id: str, approve: bool) -> ApprovalRequest:
    """Approve or deny a waiting LocalSend sender (the receiver that asked acts on it within a
    second); :class:`ApprovalError` when no request has that id."""
    return ApprovalBook(data_dir).answer(request_id, approve)
