"""Kept originals: footage taken from devices, kept encrypted under ``<data>/originals``.

Sync, the Wi-Fi receiver and the webcam recorder put a verified file at
``<data>/originals/<device>/<name>`` and import it from there (the decoder needs a real file);
then :func:`keep_encrypted` encrypts it, streaming, into ``<name>.lgo`` next to it
(:meth:`lifelog.store.vault.Vault.encrypt_file`, labelled with its place under ``originals/`` so
two kept copies cannot be swapped) and shreds the plaintext. The ``media`` row and the device
ledger keep the path the file was imported from (``…/<name>``): :func:`kept_copy` turns such a
path into the file that keeps it now.

Readers that need a real file (the app's *Play clip*, re-indexing, transcription, export) get a
decrypted copy in the memory's private scratch folder (:func:`decrypted_copy`,
:func:`plain_original`; :mod:`lifelog.store.scratch`: swept after an hour, cleared by forget).

A memory from before originals were encrypted is brought up to date by
:func:`encrypt_plaintext_originals` (``Memory`` runs it on opening, when no one else writes).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from lifelog.store.files import shred_file
from lifelog.store.scratch import private_dir, write_private
from lifelog.store.vault import TEMP_PREFIX, Vault, encrypted_file_size

ORIGINALS = "originals"
SUFFIX = ".lgo"  # an encrypted kept original: "<name>.lgo"
SCRATCH = "media"  # the private folder of decrypted copies


def originals_root(data_dir: Path) -> Path:
    return Path(data_dir) / ORIGINALS


def encrypted_path(plain: Path) -> Path:
    """Where the encrypted copy of the original ``plain`` is kept."""
    return plain if plain.name.endswith(SUFFIX) else plain.with_name(plain.name + SUFFIX)


def _under_originals(data_dir: Path, path: Path) -> Path | None:
    """``path`` relative to the originals folder, or None when it is not in it (a user's own file)."""
    try:
        rel = path.resolve().relative_to(originals_root(data_dir).resolve())
    except (ValueError, OSError):
        return None
    return rel if rel.parts else None


def _label(data_dir: Path, kept: Path) -> bytes:
    rel = _under_originals(data_dir, kept)
    if rel is None:
        raise ValueError(f"{kept} is not a kept original")
    return b"original:" + os.fsencode(rel.as_posix().removesuffix(SUFFIX))


def original_label(data_dir: Path, kept: Path) -> bytes:
    """The label a kept original is encrypted with (its place under ``originals/``)."""
    return _label(data_dir, kept)


def is_kept(data_dir: Path, recorded: str | Path | None) -> bool:
    """True when ``recorded`` (a media row's or a ledger's path) names a copy lifelog keeps under
    ``originals/`` (never the user's own file), whether or not it is still there."""
    return bool(recorded) and _under_originals(data_dir, Path(str(recorded))) is not None


def kept_copy(data_dir: Path, recorded: str | Path | None) -> Path | None:
    """The file under ``<data>/originals`` that keeps the original recorded as ``recorded``: its
    encrypted copy, or the plaintext file of a memory not yet brought up to date. None when there
    is none, or ``recorded`` is not under ``originals/`` (the user's own file)."""
    if not is_kept(data_dir, recorded):
        return None
    plain = Path(str(recorded))
    for p in (encrypted_path(plain), plain):
        try:
            if stat.S_ISREG(os.lstat(p).st_mode):
                return p
        except OSError:
            continue
    return None


def is_encrypted(path: Path) -> bool:
    return path.name.endswith(SUFFIX)


def keep_encrypted(data_dir: Path, vault: Vault, plain: Path) -> Path:
    """Encrypt the imported original ``plain`` (under ``originals/``) into its kept copy and
    shred the plaintext; returns the kept copy. Safe against a second process doing the same
    (the file is locked; whoever comes second finds the work done)."""
    enc = encrypted_path(plain)
    if enc == plain:
        return enc
    label = _label(data_dir, plain)
    try:
        fd = os.open(plain, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        if enc.is_file():
            return enc
        raise
    with os.fdopen(fd, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        st = os.fstat(f.fileno())
        if st.st_nlink == 0:  # done by another process while we waited (never encrypt shredded bytes)
            if enc.is_file():
                return enc
            raise FileNotFoundError(f"{plain} was removed while waiting to encrypt it")
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{plain} is not a regular file")
        vault.encrypt_file(f, enc, label)
        mtime = st.st_mtime
        os.utime(enc, (mtime, mtime))  # the capture-time fallback the import used, kept
        shred_file(plain)
    return enc


def open_original(data_dir: Path, vault: Vault, kept: Path) -> io.BufferedReader:
    """A seekable binary reader of a kept original (decrypting as it reads)."""
    if is_encrypted(kept):
        return vault.open_file(kept, _label(data_dir, kept))
    return open(kept, "rb")


def plain_size(kept: Path) -> int:
    return encrypted_file_size(kept) if is_encrypted(kept) else kept.stat().st_size


def decrypted_copy(data_dir: Path, vault: Vault, kept: Path, name: str) -> Path:
    """A decrypted copy of the kept original ``kept`` as ``name`` in the memory's private scratch
    folder (reused while it is there and whole; swept an hour after it was made). A plaintext
    kept original (not yet encrypted) is returned as it is."""
    if not is_encrypted(kept):
        return kept
    folder = private_dir(data_dir, SCRATCH)
    target = folder / name
    size = encrypted_file_size(kept)
    try:
        st = os.lstat(target)
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_size == size:
            return target
        os.unlink(target)  # not ours or not whole: replace it
    except FileNotFoundError:
        pass
    with vault.open_file(kept, _label(data_dir, kept)) as r:
        return write_private(folder, name, r)


@contextlib.contextmanager
def plain_original(data_dir: Path, vault: Vault, kept: Path, name: str) -> Iterator[Path]:
    """A real file with the plaintext of ``kept`` for as long as the block runs (a decrypted copy
    in the private scratch folder, removed afterwards; a plaintext original as it is)."""
    if not is_encrypted(kept):
        yield kept
        return
    path = decrypted_copy(data_dir, vault, kept, f"{os.getpid()}-{name}")
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def plaintext_originals(data_dir: Path) -> list[Path]:
    """Every plaintext file under ``<data>/originals`` (not a kept ``.lgo``, a ``.part`` being
    written or a temporary file); links are never followed."""
    root = originals_root(data_dir)
    found: list[Path] = []
    if not root.is_dir() or root.is_symlink():
        return found
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
            elif (e.is_file(follow_symlinks=False) and not e.name.endswith((SUFFIX, ".part"))
                  and not e.name.startswith((".", TEMP_PREFIX))):
                found.append(Path(e.path))
    return sorted(found)


def encrypt_plaintext_originals(
    data_dir: Path, vault: Vault, imported: Callable[[Path], bool], cancel: Callable[[], bool] | None = None
) -> int:
    """Encrypt every plaintext original under ``<data>/originals`` that the memory holds
    (``imported(path)``: a media row was imported from it); files not imported yet (a sync or an
    upload interrupted before its import, a webcam segment whose import failed) are left to the
    code that imports them. The number encrypted."""
    done = 0
    for path in plaintext_originals(data_dir):
        if cancel is not None and cancel():
            break
        if imported(path):
            keep_encrypted(data_dir, vault, path)
            done += 1
    return done
