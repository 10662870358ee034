"""Device sources: where footage comes from before it enters the import pipeline.

Every source (a USB/DCF volume, a GoPro-style camera on Wi-Fi, a plain folder, a webcam) is
read through one interface (:mod:`lifelog.sources.base`); :mod:`lifelog.sources.sync` takes
only what is new from a paired source (per-device ledger, resumable partial downloads,
verification) and hands verified files to the :class:`~lifelog.sources.base.ImportTarget` the
front end passes in (its memory). The Wi-Fi receiver (the desktop as the server) lives in
:mod:`lifelog.sources.wifi`. See docs/devices.md.

Importing this package does nothing and loads nothing heavy.
"""
