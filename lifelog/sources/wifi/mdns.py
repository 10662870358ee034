"""mDNS / DNS-SD advertisement of the receiver: ``_lifelog._tcp.local.``.

TXT records: ``v`` (API version), ``fp`` (the first 16 hex digits of the certificate
fingerprint — a hint to pick the right desktop; the full fingerprint still comes from pairing),
``name``. A network without multicast (some Wi-Fi, containers, VPNs) makes zeroconf fail: the
receiver logs a warning and keeps serving; companions then use the address in the QR code.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from lifelog.sources.wifi.tls import local_addresses

log = logging.getLogger("lifelog.wifi")

SERVICE_TYPE = "_lifelog._tcp.local."


class Advertiser:
    def __init__(
        self,
        name: str,
        port: int,
        fingerprint: str,
        on_warning: Callable[[str], None] | None = None,
        addresses: list[str] | None = None,
        interfaces: list[str] | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.fingerprint = fingerprint
        self.on_warning = on_warning
        self.addresses = addresses
        self.interfaces = interfaces
        self.registered = False
        self.error: str | None = None
        self._zc: Any = None
        self._info: Any = None
        self._lock = threading.Lock()

    @property
    def instance_name(self) -> str:
        safe = "".join(c for c in self.name if c.isprintable() and c != ".")[:50] or "lifelog"
        return f"{safe} {self.fingerprint[:6]}.{SERVICE_TYPE}"

    def service_info(self) -> Any:
        from zeroconf import ServiceInfo

        addrs = self.addresses if self.addresses is not None else (local_addresses() or ["127.0.0.1"])
        return ServiceInfo(
            SERVICE_TYPE,
            self.instance_name,
            port=self.port,
            addresses=[socket.inet_aton(a) for a in addrs],
            properties={"v": "1", "fp": self.fingerprint[:16], "name": self.name[:60]},
            server=f"lifelog-{self.fingerprint[:8]}.local.",
        )

    def start(self) -> bool:
        """Register the service; False (with a warning) when multicast is unavailable."""
        with self._lock:
            try:
                from zeroconf import Zeroconf

                kw: dict[str, Any] = {}
                if self.interfaces is not None:
                    kw["interfaces"] = self.interfaces
                self._zc = Zeroconf(**kw)
                self._info = self.service_info()
                self._zc.register_service(self._info, allow_name_change=True)
                self.registered = True
            except Exception as e:
                self.error = f"{type(e).__name__}: {e}"
                self._close_zc()
                msg = (
                    f"mDNS advertisement unavailable ({self.error}); still receiving — "
                    "companions use the address from the pairing code"
                )
                log.warning("%s", msg)
                if self.on_warning is not None:
                    self.on_warning(msg)
            return self.registered

    def _close_zc(self) -> None:
        if self._zc is not None:
            with contextlib.suppress(Exception):
                self._zc.close()
            self._zc = None

    def stop(self) -> None:
        with self._lock:
            if self._zc is not None and self.registered:
                with contextlib.suppress(Exception):
                    self._zc.unregister_service(self._info)
            self.registered = False
            self._close_zc()
