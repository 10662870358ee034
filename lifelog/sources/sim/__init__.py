"""Simulated devices for tests and benchmarks, speaking the real protocols.

* :mod:`.dcf` makes a DCF volume (``DCIM/100GOPRO/GX010001.MP4`` …) in a folder;
* :mod:`.gopro_server` is a real HTTP server on loopback with the Open GoPro media endpoints,
  Range support and injectable faults;
* :mod:`.camera` is a frame source with the same protocol as the OpenCV-backed webcam, fed by
  real footage.
"""
