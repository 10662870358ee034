"""The Wi-Fi receiver: the desktop as the server that phones, glasses' companion apps and
LocalSend send footage to.

* :mod:`.tls` — a self-signed certificate made once per memory; clients pin its SHA-256
  fingerprint (no certificate authority involved).
* :mod:`.pairing` — one-time pairing offers (a token in a QR code, or a 6-digit PIN).
* :mod:`.registry` — paired devices and their hashed credentials (``<data>/devices/wifi.json``).
* :mod:`.server` — the shell: the aiohttp HTTPS app that wires the features' routes, and the
  :class:`~.server.Receiver` that starts and stops it (``start_receiver``).
* :mod:`.pairing_routes` — ``info`` and ``pair``.
* :mod:`.uploads` — deduplication and resumable uploads of paired devices.
* :mod:`.bulk` — the bulk port (upload bodies over blocking TLS sockets) and the body pipeline.
* :mod:`.localsend` — a LocalSend v2.1 receiver on the same server.
* :mod:`.common` and :mod:`.context` — what the features share: limits, events, import
  outcomes, the name check, the single import worker that hands verified files to the
  :class:`~lifelog.sources.base.ImportTarget` it was given, and the request plumbing.
* :mod:`.mdns` — the ``_lifelog._tcp.local.`` advertisement.
* :mod:`.client` — the companion client (tests, benches, and a reference for app developers).

``lifelog serve``, and pairing and revoking for ``lifelog devices``, are in
:mod:`lifelog.commands.wifi`. See docs/wifi.md (protocol) and docs/security.md (threat model).
Importing this package loads nothing heavy and starts nothing.
"""
