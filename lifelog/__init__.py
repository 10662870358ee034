"""lifelog — an on-device visual memory.

The core library. It never imports Qt (``tests/test_architecture.py`` enforces that);
the desktop app in ``ui/`` calls it through :mod:`lifelog.api`.
"""

__version__ = "0.2.0"
