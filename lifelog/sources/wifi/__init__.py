"""The Wi-Fi receiver: the desktop as the server that phones, glasses' companion apps and
LocalSend send footage to.

* :mod:`.tls` — a self-signed certificate made once per memory; clients pin its SHA-256
  fingerprint (no certificate authority involved).
* :mod:`.pairing` — one-time pairing offers (a token in a QR code, or a 6-digit PIN).
* :mod:`.registry` — paired devices and their hashed credentials (``<data>/devices/wifi.json``).
* :mod:`.server` — the aiohttp HTTPS app: pairing, deduplication, resumable uploads handed to
  ``Memory.import_paths`` on a single import worker.
* :mod:`.localsend` — a LocalSend v2.1 receiver on the same server.
* :mod:`.mdns` — the ``_lifelog._tcp.local.`` advertisement.
* :mod:`.client` — the companion client (tests, benches, and a reference for app developers).
* :mod:`.cli` — ``lifelog serve``; pairing and revoking for ``lifelog devices``.

See docs/wifi.md (protocol) and docs/security.md (threat model). Importing this package loads
nothing heavy and starts nothing.
"""
