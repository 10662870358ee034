"""Files written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def shred_file(path: Path) -> bool:
    """Overwrite a regular file with random bytes, then unlink it (best effort on SSDs and
    copy-on-write filesystems); False when it was not there. A link is unlinked, never followed."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError:  # a symlink (ELOOP) or a special file: remove the name, write nothing
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True
    with os.fdopen(fd, "wb") as f:
        left = os.fstat(f.fileno()).st_size
        while left > 0:
            n = min(1 << 20, left)
            f.write(os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (best effort: some file systems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
