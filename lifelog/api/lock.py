"""The memory's single writer, for the front ends: :func:`when_writer_free` runs a write (an
import, a forget) and waits, cancellably, while another process holds the memory."""

from __future__ import annotations

from lifelog.store.lock import when_writer_free

__all__ = ["when_writer_free"]
