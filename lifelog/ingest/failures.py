"""Why a file failed, in words: the reasons the importer and the transcription job report per file.

A full disk is the failure that must read the same everywhere (the visual import, speech): the
write that hit it is undone, or journalled for the next writer to undo, so the reason says that
nothing already stored was changed. LanceDB reports a full disk as its own error type with the
OS message inside, so the text is checked as well as ``errno``.
"""

from __future__ import annotations

import errno

DISK_FULL = "disk full: the memory's disk has no space left (nothing already stored was changed)"

_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_DISK_FULL_TEXTS = ("No space left", "Disk quota", "File too large")


def is_disk_full(e: BaseException) -> bool:
    """True when ``e`` (an ``OSError`` or a store error wrapping one) means the disk is full."""
    if isinstance(e, OSError) and e.errno in _DISK_FULL_ERRNOS:
        return True
    text = str(e)
    return any(t in text for t in _DISK_FULL_TEXTS)


def os_reason(e: OSError) -> str:
    if is_disk_full(e):
        return DISK_FULL
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if e.errno == errno.ENOENT:
        return "file disappeared during import"
    if e.errno == errno.EIO:
        return "read error (input/output error)"
    return e.strerror.lower() if e.strerror else str(e)


def other_reason(e: Exception, what: str = "imported") -> str:
    """A store or codec error (not an ``OSError``): a full disk in words, else its type and text."""
    if is_disk_full(e):
        return DISK_FULL
    return f"could not be {what}: {type(e).__name__}: {str(e)[:300]}"
