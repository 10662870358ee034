"""Paired Wi-Fi devices, their credentials (hashed) and open pairing offers.

One JSON file, ``<data>/devices/wifi.json``, written atomically (temp file + rename) under an
advisory lock (``<data>/devices/wifi.lock``) so ``lifelog devices pair`` in one process and
``lifelog serve`` in another can both change it. Nothing secret is stored in the clear:

* a device credential is 32 random bytes; only its SHA-256 is stored (a high-entropy secret
  needs no slow hash);
* a pairing token likewise; a 6-digit PIN is stored as a salted SHA-256 and dies after
  :data:`MAX_PIN_ATTEMPTS` wrong guesses or at its expiry, whichever comes first.

LocalSend senders (``kind="localsend"``) are remembered here too, by alias and the certificate
fingerprint they announced (trust on first use, after the user approved them).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

DEVICES_DIR = Path("devices")
REGISTRY_NAME = "wifi.json"
RECEIVED_NAME = "wifi-received.json"
MAX_PIN_ATTEMPTS = 5
LAST_SEEN_EVERY_S = 60.0

_T = TypeVar("_T")

WifiKind = Literal["wifi", "localsend"]  # a paired companion | an approved LocalSend sender


class RegistryError(Exception):
    """The registry file is unreadable or a device id is unknown."""


@dataclass(frozen=True)
class WifiDevice:
    id: str
    name: str
    kind: WifiKind
    paired_at: datetime
    last_seen: datetime | None
    revoked: bool
    fingerprint: str | None = None  # LocalSend: the certificate fingerprint it announced

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "paired_at": self.paired_at.isoformat(),
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "revoked": self.revoked,
            "fingerprint": self.fingerprint,
        }


@dataclass
class _Offer:
    id: str
    token_sha256: str
    pin_salt: str
    pin_sha256: str
    expires: float  # unix seconds
    attempts: int = 0
    used: bool = False
    dead: bool = False  # too many wrong PINs


@dataclass
class _Doc:
    devices: list[dict[str, Any]] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_dt(v: Any) -> datetime | None:
    return datetime.fromisoformat(v) if isinstance(v, str) and v else None


def _device(d: dict[str, Any]) -> WifiDevice:
    paired = _parse_dt(d.get("paired_at")) or _now()
    return WifiDevice(
        id=str(d["id"]),
        name=str(d.get("name") or ""),
        kind="localsend" if d.get("kind") == "localsend" else "wifi",
        paired_at=paired,
        last_seen=_parse_dt(d.get("last_seen")),
        revoked=bool(d.get("revoked")),
        fingerprint=d.get("fingerprint"),
    )


class Registry:
    """Read-modify-write access to ``wifi.json``; safe across threads and processes."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / DEVICES_DIR
        self.path = self.dir / REGISTRY_NAME
        self._tlock = threading.Lock()
        self._seen_written: dict[str, float] = {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._tlock:
            fd = os.open(self.dir / "wifi.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _load(self) -> _Doc:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return _Doc()
        except (OSError, ValueError) as e:
            raise RegistryError(f"{self.path} is unreadable ({e}); move it away to start over") from e
        return _Doc(devices=list(raw.get("devices") or []), offers=list(raw.get("offers") or []))

    def _save(self, doc: _Doc) -> None:
        from lifelog.store.files import atomic_write

        now = time.time()
        doc.offers = [o for o in doc.offers if o.get("expires", 0) > now - 3600]  # keep briefly, for 410s
        data = json.dumps({"version": 1, "devices": doc.devices, "offers": doc.offers}, indent=1)
        atomic_write(self.path, data.encode("utf-8"))

    def _update(self, fn: Callable[[_Doc], _T]) -> _T:
        with self._locked():
            doc = self._load()
            out = fn(doc)
            self._save(doc)
            return out

    # ----------------------------------------------------------------- devices
    def devices(self) -> list[WifiDevice]:
        with self._locked():
            return [_device(d) for d in self._load().devices]

    def get(self, device_id: str) -> WifiDevice | None:
        return next((d for d in self.devices() if d.id == device_id), None)

    def add_device(self, name: str, kind: WifiKind = "wifi", fingerprint: str | None = None) -> tuple[WifiDevice, str]:
        """A new device and its credential (returned once, stored only as a hash)."""
        credential = secrets.token_urlsafe(32)
        prefix = "ls" if kind == "localsend" else "wifi"
        rec = {
            "id": f"{prefix}-{secrets.token_hex(5)}",
            "name": name,
            "kind": kind,
            "paired_at": _now().isoformat(),
            "last_seen": None,
            "revoked": False,
            "fingerprint": fingerprint,
            "credential_sha256": sha256_hex(credential),
        }
        self._update(lambda doc: doc.devices.append(rec))
        return _device(rec), credential

    def authenticate(self, credential: str) -> WifiDevice | None:
        """The device a bearer credential belongs to (revoked ones included: the caller says why)."""
        h = sha256_hex(credential)
        for d in self._raw_devices():
            if d.get("credential_sha256") and hmac.compare_digest(str(d["credential_sha256"]), h):
                return _device(d)
        return None

    def _raw_devices(self) -> list[dict[str, Any]]:
        with self._locked():
            return self._load().devices

    def revoke(self, device_id: str) -> WifiDevice:
        def fn(doc: _Doc) -> WifiDevice:
            for d in doc.devices:
                if d["id"] == device_id:
                    d["revoked"] = True
                    d["credential_sha256"] = None  # the old credential can never work again
                    return _device(d)
            raise RegistryError(f"no Wi-Fi device with id {device_id!r}")

        return self._update(fn)

    def touch(self, device_id: str) -> None:
        """Record ``last_seen`` (at most once a minute per device)."""
        now = time.monotonic()
        if now - self._seen_written.get(device_id, -1e9) < LAST_SEEN_EVERY_S:
            return
        self._seen_written[device_id] = now

        def fn(doc: _Doc) -> None:
            for d in doc.devices:
                if d["id"] == device_id:
                    d["last_seen"] = _now().isoformat()

        self._update(fn)

    def localsend_sender(self, alias: str) -> WifiDevice | None:
        """The approved (or revoked) LocalSend sender with this alias, if any."""
        for d in self.devices():
            if d.kind == "localsend" and d.name == alias:
                return d
        return None

    # ------------------------------------------------------------------ offers
    def add_offer(self, token: str, pin: str, expires: float) -> str:
        salt = secrets.token_hex(8)
        offer = _Offer(
            id=secrets.token_hex(6),
            token_sha256=sha256_hex(token),
            pin_salt=salt,
            pin_sha256=sha256_hex(salt + pin),
            expires=expires,
        )
        self._update(lambda doc: doc.offers.append(asdict(offer)))
        return offer.id

    def redeem(self, *, token: str | None, pin: str | None) -> str:
        """Use up the offer matching ``token`` or ``pin``: its id; else :class:`PairingRefused`."""

        def fn(doc: _Doc) -> str:
            now = time.time()
            if token is not None:
                h = sha256_hex(token)
                for o in doc.offers:
                    if hmac.compare_digest(str(o["token_sha256"]), h):
                        if o.get("used"):
                            raise PairingRefused(410, "this pairing code was already used; make a new one")
                        if o.get("expires", 0) <= now:
                            raise PairingRefused(410, "this pairing code has expired; make a new one")
                        if o.get("dead"):
                            raise PairingRefused(410, "this pairing offer was withdrawn; make a new one")
                        o["used"] = True
                        return str(o["id"])
                raise PairingRefused(401, "unknown pairing code")
            assert pin is not None
            live = [o for o in doc.offers if not o.get("used") and not o.get("dead") and o.get("expires", 0) > now]
            for o in live:
                if hmac.compare_digest(str(o["pin_sha256"]), sha256_hex(str(o["pin_salt"]) + pin)):
                    o["used"] = True
                    return str(o["id"])
            for o in live:  # a wrong PIN counts against every live offer: 5 guesses in all
                o["attempts"] = int(o.get("attempts", 0)) + 1
                if o["attempts"] >= MAX_PIN_ATTEMPTS:
                    o["dead"] = True
            if not live:
                raise PairingRefused(410, "no pairing offer is open (expired, used or withdrawn); make a new one")
            raise PairingRefused(401, "wrong PIN")

        # The refusal must still be saved (attempt counters), so catch, save, re-raise.
        err: list[PairingRefused] = []

        def guarded(doc: _Doc) -> str:
            try:
                return fn(doc)
            except PairingRefused as e:
                err.append(e)
                return ""

        out = self._update(guarded)
        if err:
            raise err[0]
        return out

    def offer_state(self, offer_id: str) -> dict[str, Any] | None:
        with self._locked():
            return next((dict(o) for o in self._load().offers if o["id"] == offer_id), None)


class PairingRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def list_devices(data_dir: Path) -> list[WifiDevice]:
    """Paired Wi-Fi companions and approved LocalSend senders (revoked ones flagged)."""
    return Registry(data_dir).devices()


def revoke(data_dir: Path, device_id: str) -> WifiDevice:
    """Revoke a device: its credential stops working at once (a running receiver included)."""
    return Registry(data_dir).revoke(device_id)


#: What :class:`ReceivedIndex` holds for a file skipped by a privacy rule (recorded during quiet
#: hours): the sender is told the receiver "has" it, so it is not sent again.
SKIPPED_BY_RULE = "skipped-by-rule"


class ReceivedIndex:
    """sha256 → content hash (BLAKE2b, the store's media id) of files received over Wi-Fi, so
    ``have`` can answer for a sender's SHA-256 without re-reading the footage (or
    :data:`SKIPPED_BY_RULE` for a file a privacy rule skipped)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / DEVICES_DIR / RECEIVED_NAME
        self._lock = threading.Lock()
        self._cache: dict[str, str] | None = None

    def _read(self) -> dict[str, str]:
        if self._cache is None:
            try:
                raw = json.loads(self.path.read_text("utf-8"))
                self._cache = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
            except (FileNotFoundError, ValueError):
                self._cache = {}
        return self._cache

    def get(self, sha256: str) -> str | None:
        with self._lock:
            return self._read().get(sha256)

    def skipped_by_rule(self, sha256: str) -> bool:
        return self.get(sha256) == SKIPPED_BY_RULE

    def add(self, sha256: str, media_id: str) -> None:
        from lifelog.store.files import atomic_write

        with self._lock:
            d = self._read()
            d[sha256] = media_id
            atomic_write(self.path, json.dumps(d).encode("utf-8"))
