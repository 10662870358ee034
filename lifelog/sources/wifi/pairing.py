"""Pairing offers: what the QR code (or the PIN) carries.

An offer is a one-time token (``secrets.token_urlsafe(24)``) and a 6-digit PIN, both valid for
``ttl_s`` seconds (10 minutes by default) and for one pairing only. The QR code encodes a URI::

    lifelog://pair?v=1&h=192.168.1.20&p=53317&fp=<sha256 hex>&t=<token>&exp=<unix seconds>

``h``/``p`` say where the receiver listens, ``fp`` is the SHA-256 fingerprint of its
certificate (the companion pins it), ``t`` the token, ``exp`` its expiry. A camera-less device
gets the address, port, fingerprint and PIN typed in instead (``POST /api/v1/pair {"pin"}``);
five wrong PINs kill every open offer.
"""

from __future__ import annotations

import io
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from lifelog.sources.wifi.registry import DEVICES_DIR, Registry
from lifelog.sources.wifi.tls import ensure_identity, local_addresses, normalize_fingerprint

DEFAULT_PORT = 53317  # the LocalSend port, so LocalSend phones find the receiver too
DEFAULT_TTL_S = 600
STATUS_NAME = "receiver.json"  # written by a running receiver: where it listens
URI_SCHEME = "lifelog"


class PairingUriError(ValueError):
    pass


@dataclass(frozen=True)
class PairingOffer:
    address: str
    port: int
    fingerprint: str
    token: str
    pin: str
    expiry: datetime
    offer_id: str

    @property
    def uri(self) -> str:
        q = {
            "v": "1",
            "h": self.address,
            "p": str(self.port),
            "fp": self.fingerprint,
            "t": self.token,
            "exp": str(int(self.expiry.timestamp())),
        }
        return f"{URI_SCHEME}://pair?{urlencode(q)}"

    def _qr(self) -> Any:
        import segno

        return segno.make(self.uri, error="m")

    def qr_svg(self) -> str:
        buf = io.BytesIO()
        self._qr().save(buf, kind="svg", scale=4, border=2)
        return buf.getvalue().decode("utf-8")

    def qr_png(self, scale: int = 6) -> bytes:
        buf = io.BytesIO()
        self._qr().save(buf, kind="png", scale=scale, border=2)
        return buf.getvalue()

    def qr_terminal(self) -> str:
        """The QR code as text for a terminal (UTF-8 half blocks)."""
        buf = io.StringIO()
        self._qr().terminal(out=buf, compact=True)
        return buf.getvalue()

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "port": self.port,
            "fingerprint": self.fingerprint,
            "token": self.token,
            "pin": self.pin,
            "expires": self.expiry.isoformat(),
            "uri": self.uri,
        }


@dataclass(frozen=True)
class PairingUri:
    host: str
    port: int
    fingerprint: str
    token: str
    expires: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"


def parse_uri(uri: str) -> PairingUri:
    """Read a ``lifelog://pair?…`` URI; :class:`PairingUriError` saying what is wrong."""
    u = urlparse(uri)
    if u.scheme != URI_SCHEME or u.netloc != "pair":
        raise PairingUriError("not a lifelog pairing code (expected lifelog://pair?…)")
    q = {k: v[0] for k, v in parse_qs(u.query).items()}
    missing = [k for k in ("h", "p", "fp", "t", "exp") if not q.get(k)]
    if missing:
        raise PairingUriError(f"pairing code lacks {', '.join(missing)}")
    try:
        port = int(q["p"])
        exp = int(q["exp"])
        fp = normalize_fingerprint(q["fp"])
    except ValueError as e:
        raise PairingUriError(f"pairing code is malformed: {e}") from e
    if not 0 < port < 65536:
        raise PairingUriError("pairing code has an impossible port")
    return PairingUri(q["h"], port, fp, q["t"], exp)


def receiver_status(data_dir: Path) -> dict[str, Any] | None:
    """Where a running receiver listens (None when none is running)."""
    p = data_dir / DEVICES_DIR / STATUS_NAME
    try:
        doc = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    pid = int(doc.get("pid", 0))
    try:
        import psutil

        if not pid or not psutil.pid_exists(pid):
            return None
    except ImportError:  # pragma: no cover - psutil is a dependency
        pass
    return dict(doc)


def new_pairing_offer(
    data_dir: Path, ttl_s: float = DEFAULT_TTL_S, host: str | None = None, port: int | None = None
) -> PairingOffer:
    """A fresh one-time offer, stored (hashed) so the running receiver accepts it."""
    if ttl_s <= 0 or ttl_s > 24 * 3600:
        raise ValueError("a pairing offer lives between 1 second and 24 hours")
    ident = ensure_identity(data_dir)
    status = receiver_status(data_dir) or {}
    if port is None:
        port = int(status.get("port") or DEFAULT_PORT)
    if host is None:
        listen = str(status.get("host") or "")
        specific = listen not in ("0.0.0.0", "::", "")
        host = listen if specific else next(iter(local_addresses()), "127.0.0.1")
    token = secrets.token_urlsafe(24)
    pin = f"{secrets.randbelow(10**6):06d}"
    expires = time.time() + ttl_s
    offer_id = Registry(data_dir).add_offer(token, pin, expires)
    return PairingOffer(host, port, ident.fingerprint, token, pin, datetime.fromtimestamp(int(expires), UTC), offer_id)
