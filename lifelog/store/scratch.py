"""A private folder for decrypted files that a caller must be given as paths.

The app shows decrypted thumbnails from memory and never writes them. The CLI's ``--json``
output names thumbnail *files* (the contract's ``"thumbnail": "path"``), so those files have to
exist somewhere; that somewhere must never be a shared directory such as ``/tmp``, where another
local user can pre-create the folder, plant a symlink and have lifelog write a decrypted image
wherever they choose.

:func:`private_dir` gives ``$XDG_RUNTIME_DIR/lifelog-<memory>/<name>`` when the runtime dir
exists, belongs to this user and is private (it lives in RAM and is emptied at logout), else
``<data>/run/<name>`` inside the (0700) data dir. Every folder on the way that lifelog creates is
made 0700 and then checked — a real directory, not a symlink, owned by this user, no access for
group or others — and anything else is refused with :class:`UnsafeDirectory`.
:func:`write_private` writes through the checked folder's descriptor with
``O_CREAT | O_EXCL | O_NOFOLLOW`` and renames into place, so a planted file or symlink is never
followed. :func:`clear_private` removes a memory's folders (``lifelog forget`` and deleting a
memory call it); files older than :data:`MAX_AGE_S` are swept whenever the folder is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
import time
from pathlib import Path
from typing import BinaryIO

MAX_AGE_S = 3600.0  # decrypted files a CLI consumer had time to read are swept after this


class UnsafeDirectory(RuntimeError):
    """A folder lifelog would write decrypted data to is not private to this user."""


def _check_private(path: Path) -> None:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"{path} is not a real directory (a symlink or a file); refusing to write there")
    if st.st_uid != os.geteuid():
        raise UnsafeDirectory(f"{path} belongs to another user; refusing to write decrypted data there")
    if st.st_mode & 0o077:
        raise UnsafeDirectory(f"{path} is readable by other users (mode {st.st_mode & 0o777:o}); refusing")


def _check_owned(path: Path) -> None:
    """The memory folder itself: ours and not writable by others (it may be readable: what is
    inside is encrypted, and the ``run`` folder below it is private)."""
    st = os.stat(path)
    if st.st_uid != os.geteuid():
        raise UnsafeDirectory(f"{path} belongs to another user; refusing to write decrypted data there")
    if st.st_mode & 0o022:
        raise UnsafeDirectory(f"{path} is writable by other users (mode {st.st_mode & 0o777:o}); refusing")


def _make_private(path: Path) -> None:
    """Create ``path`` (0700) if missing, then check it is private; never follows a symlink."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    _check_private(path)


def _runtime_base() -> Path | None:
    raw = os.environ.get("XDG_RUNTIME_DIR")
    if not raw:
        return None
    base = Path(raw)
    try:
        _check_private(base)
    except (OSError, UnsafeDirectory):
        return None  # a runtime dir that is not private to us is not used at all
    return base


def _memory_tag(data_dir: Path) -> str:
    return hashlib.sha256(os.fsencode(data_dir.resolve())).hexdigest()[:16]


def private_roots(data_dir: Path) -> list[Path]:
    """Every place :func:`private_dir` may use for this memory (for clearing)."""
    roots = [data_dir / "run"]
    base = _runtime_base()
    if base is not None:
        roots.append(base / f"lifelog-{_memory_tag(data_dir)}")
    return roots


def private_dir(data_dir: Path, name: str) -> Path:
    """A private folder for this memory's decrypted files of one kind (e.g. ``"thumbs"``)."""
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"not a folder name: {name!r}")
    base = _runtime_base()
    if base is not None:
        root = base / f"lifelog-{_memory_tag(data_dir)}"
    else:
        _check_owned(data_dir)
        root = data_dir / "run"
    _make_private(root)
    d = root / name
    _make_private(d)
    _sweep(d)
    return d


def write_private(folder: Path, filename: str, data: bytes | BinaryIO) -> Path:
    """Write ``data`` (bytes, or a file to copy a block at a time) as ``folder/filename`` (0600)
    without following any planted link."""
    if not filename or "/" in filename or filename.startswith("."):
        raise ValueError(f"not a file name: {filename!r}")
    _check_private(folder)
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        tmp = f".tmp-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(data, bytes):
                    f.write(data)
                else:
                    while block := data.read(1 << 20):
                        f.write(block)
            os.rename(tmp, filename, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise
    finally:
        os.close(dfd)
    return folder / filename


def clear_private(data_dir: Path) -> None:
    """Remove every decrypted file this memory gave out as a path."""
    for root in private_roots(data_dir):
        try:
            st = os.lstat(root)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            root.unlink()  # never follow it
        elif stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid():
            shutil.rmtree(root)


def _sweep(folder: Path) -> None:
    cutoff = time.time() - MAX_AGE_S
    with os.scandir(folder) as it:
        for e in it:
            try:
                if e.stat(follow_symlinks=False).st_mtime < cutoff or e.is_symlink():
                    os.unlink(e.path)
            except OSError:
                pass
