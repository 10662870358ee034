"""The C heap of a lifelog process: at most two malloc arenas (glibc).

glibc gives each thread that allocates under contention an arena of its own (up to 8 per core),
and an arena keeps what was freed in it. An import runs a decoder thread, analysis lanes and the
models' thread pools; over many short clips their arenas filled with the freed frames and
buffers of the files before, and the import's peak RSS grew past 1 GB (issue #21). Two arenas
(what ``MALLOC_ARENA_MAX=2`` sets) keep it at ~0.82-0.84 GB for 60 clips of 10 s, and the
import was no slower (13.7 s against 14.3 s: less memory to fault in; bench/ingest.py --child).

:func:`limit_arenas` is called first thing by the command and the app, and by the importer (for
a process that imports as a library); arenas made before it keep serving their threads. A
``MALLOC_ARENA_MAX`` set in the environment wins; elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import os
import sys
import threading

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number
_done = threading.Event()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Limit this process to ``arenas`` malloc arenas (once); whether it was done here."""
    if _done.is_set() or os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    _done.set()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (musl): its allocator has no such arenas
        return False
