"""Where an export's files go and come from: a folder, or one encrypted archive file.

**Folder** (the default): the files as they are, written into ``DEST.partial-<random>`` and
renamed to ``DEST`` only once the manifest is written, so nothing half-written ever looks like
an export.

**Encrypted archive** (``--encrypted``): the same files as a POSIX tar stream, cut into chunks
of 1 MiB, each sealed with AES-256-GCM under a key derived from a passphrase with scrypt::

    "LLXA" | version (1 byte) | header length (4 bytes, big-endian) | header (JSON, UTF-8)
    then, per chunk:  ciphertext length (4 bytes, big-endian) | ciphertext + 16-byte tag

The nonce of chunk ``i`` is ``nonce_prefix (7 bytes) | i (4 bytes, big-endian) | last (1 byte:
1 for the final chunk, else 0)``; the associated data of every chunk is the whole header (magic
to JSON). So chunks cannot be reordered, dropped, swapped with another archive's or cut off at
the end without failing authentication, and the header cannot be changed either. The header
carries a key-check value (HMAC-SHA256 of a constant), so a wrong passphrase is told apart from
a damaged file. Decrypted bytes exist only in memory while reading.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import os
import secrets
import shutil
import struct
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from lifelog.privacy.export.format import (
    MANIFEST,
    PARTIAL,
    ArchiveError,
    ArchiveRefused,
    ArchiveUsageError,
    WrongPassphrase,
)
from lifelog.store.files import fsync_dir

MAGIC = b"LLXA"
CONTAINER_VERSION = 1
CHUNK = 1 << 20
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
_CHECK_LABEL = b"lifelog export key check v1"
_BLOCK = 1 << 20


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _check(key: bytes) -> bytes:
    return hmac.new(key, _CHECK_LABEL, hashlib.sha256).digest()


def is_encrypted(path: Path) -> bool:
    """True when ``path`` is an encrypted archive file (not a folder)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except (IsADirectoryError, FileNotFoundError, PermissionError):
        return False


def check_name(name: str) -> str:
    """A member name as written in the manifest: relative, '/'-separated, no '..' or '.'."""
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in name:
        raise ArchiveRefused(f"the archive names a file outside itself ({name!r})")
    return name


# ------------------------------------------------------------------------------ writing
class Sink:
    """Receives an export's files and records the sha256 and size of each."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        remove_stale_partials(dest)
        self.partial = dest.with_name(f"{dest.name}{PARTIAL}{secrets.token_hex(4)}")
        self.files: dict[str, dict[str, Any]] = {}

    def add_bytes(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def add_file(self, name: str, src: Path) -> None:
        raise NotImplementedError

    def commit(self, manifest: dict[str, Any]) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def _note(self, name: str, sha: str, size: int) -> None:
        self.files[check_name(name)] = {"sha256": sha, "size": size}


def remove_stale_partials(dest: Path) -> list[Path]:
    """An export killed before its rename (SIGKILL, power cut) leaves ``DEST.partial-*``; it never
    looks complete (the name differs, the manifest may be missing), and the next export to the
    same name removes it, so decrypted content does not linger there."""
    gone: list[Path] = []
    for p in dest.parent.glob(f"{glob_escape(dest.name)}{PARTIAL}*"):
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
        elif p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        gone.append(p)
    return gone


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def check_dest(dest: Path, encrypted: bool) -> None:
    if dest.is_symlink() or (dest.exists() and (encrypted or not dest.is_dir() or any(dest.iterdir()))):
        raise ArchiveUsageError(f"{dest} already exists; export into a new name")
    if not dest.parent.is_dir():
        raise ArchiveUsageError(f"{dest.parent} is not a folder")


class FolderSink(Sink):
    def __init__(self, dest: Path) -> None:
        super().__init__(dest)
        self.partial.mkdir(mode=0o700)

    def _open(self, name: str) -> IO[bytes]:
        path = self.partial / check_name(name)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        return os.fdopen(fd, "wb")

    def add_bytes(self, name: str, data: bytes) -> None:
        with self._open(name) as f:
            f.write(data)
        self._note(name, hashlib.sha256(data).hexdigest(), len(data))

    def add_file(self, name: str, src: Path) -> None:
        h = hashlib.sha256()
        size = 0
        with open(src, "rb") as s, self._open(name) as f:
            while block := s.read(_BLOCK):
                h.update(block)
                f.write(block)
                size += len(block)
        self._note(name, h.hexdigest(), size)

    def commit(self, manifest: dict[str, Any]) -> None:
        with self._open(MANIFEST) as f:
            f.write(json.dumps(manifest, indent=1, sort_keys=True).encode())
        os.sync()  # every file on disk before the name says the export is complete
        if self.dest.is_dir():
            self.dest.rmdir()  # an empty folder the user made for it
        os.rename(self.partial, self.dest)
        fsync_dir(self.dest.parent)

    def abort(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)


class _ChunkWriter(io.RawIOBase):
    def __init__(self, f: IO[bytes], passphrase: str) -> None:
        super().__init__()
        salt = secrets.token_bytes(16)
        key = _derive(passphrase, salt, **SCRYPT)
        self._prefix = secrets.token_bytes(7)
        header = {
            "format": "lifelog-export-encrypted", "version": CONTAINER_VERSION, "cipher": "AES-256-GCM",
            "kdf": {"name": "scrypt", **SCRYPT, "salt": base64.b64encode(salt).decode()},
            "chunk_size": CHUNK, "nonce_prefix": base64.b64encode(self._prefix).decode(),
            "check": base64.b64encode(_check(key)).decode(),
        }
        body = json.dumps(header, sort_keys=True).encode()
        self._aad = MAGIC + bytes([CONTAINER_VERSION]) + struct.pack(">I", len(body)) + body
        self._aead = AESGCM(key)
        self._f = f
        self._buf = bytearray()
        self._i = 0
        f.write(self._aad)

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._buf += bytes(b)
        while len(self._buf) > CHUNK:
            self._seal(bytes(self._buf[:CHUNK]), last=False)
            del self._buf[:CHUNK]
        return len(b)

    def _seal(self, data: bytes, last: bool) -> None:
        nonce = self._prefix + struct.pack(">I", self._i) + (b"\x01" if last else b"\x00")
        ct = self._aead.encrypt(nonce, data, self._aad)
        self._f.write(struct.pack(">I", len(ct)) + ct)
        self._i += 1

    def finish(self) -> None:
        self._seal(bytes(self._buf), last=True)
        self._buf.clear()


class _Hashing(io.RawIOBase):
    def __init__(self, f: IO[bytes]) -> None:
        super().__init__()
        self._f = f
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.sha.update(data)
        return data


class EncryptedSink(Sink):
    def __init__(self, dest: Path, passphrase: str) -> None:
        super().__init__(dest)
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self._f = os.fdopen(fd, "wb")
        try:
            self._w = _ChunkWriter(self._f, passphrase)
            self._tar = tarfile.open(fileobj=self._w, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        except BaseException:
            self.abort()
            raise

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(check_name(name))
        info.size, info.mode, info.mtime = size, 0o600, 0
        return info

    def add_bytes(self, name: str, data: bytes) -> None:
        self._tar.addfile(self._info(name, len(data)), io.BytesIO(data))
        self._note(name, hashlib.sha256(data).hexdigest(), len(data))

    def add_file(self, name: str, src: Path) -> None:
        with open(src, "rb") as s:
            size = os.fstat(s.fileno()).st_size
            h = _Hashing(s)
            self._tar.addfile(self._info(name, size), h)
        self._note(name, h.sha.hexdigest(), size)

    def commit(self, manifest: dict[str, Any]) -> None:
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        self._tar.addfile(self._info(MANIFEST, len(data)), io.BytesIO(data))
        self._tar.close()
        self._w.finish()
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        os.rename(self.partial, self.dest)
        fsync_dir(self.dest.parent)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.partial)


# ------------------------------------------------------------------------------ reading
class _ChunkReader(io.RawIOBase):
    """The plaintext of an encrypted archive, authenticated chunk by chunk as it is read."""

    def __init__(self, f: IO[bytes], passphrase: str) -> None:
        super().__init__()
        head = f.read(9)
        if len(head) < 9 or head[:4] != MAGIC:
            raise ArchiveRefused("not a lifelog encrypted export (bad header)")
        if head[4] > CONTAINER_VERSION:
            raise ArchiveRefused(f"the archive was written by a newer lifelog (container version {head[4]}); "
                                 "update lifelog to import it")
        (n,) = struct.unpack(">I", head[5:9])
        body = f.read(n) if n < 1 << 16 else b""
        try:
            header = json.loads(body)
            kdf = header["kdf"]
            salt = base64.b64decode(kdf["salt"])
            self._prefix = base64.b64decode(header["nonce_prefix"])
            check = base64.b64decode(header["check"])
            params = {"n": int(kdf["n"]), "r": int(kdf["r"]), "p": int(kdf["p"])}
        except (ValueError, KeyError, TypeError) as e:
            raise ArchiveRefused(f"the archive's header is damaged ({e})") from e
        if params["n"] > 2**20 or params["r"] > 32 or params["p"] > 16 or len(self._prefix) != 7:
            raise ArchiveRefused("the archive's header asks for unsupported parameters")
        key = _derive(passphrase, salt, **params)
        if not hmac.compare_digest(_check(key), check):
            raise WrongPassphrase("wrong passphrase for this archive")
        self._aad = head + body
        self._aead = AESGCM(key)
        self._f = f
        self._buf = b""
        self._pos = 0
        self._i = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def _next(self) -> None:
        raw = self._f.read(4)
        if len(raw) < 4:
            raise ArchiveRefused("the archive is truncated (its last chunk is missing)")
        (n,) = struct.unpack(">I", raw)
        ct = self._f.read(n) if n <= CHUNK + 16 else b""
        if len(ct) != n or n < 16:
            raise ArchiveRefused("the archive is truncated or damaged")
        for last in (False, True):
            nonce = self._prefix + struct.pack(">I", self._i) + (b"\x01" if last else b"\x00")
            try:
                self._buf += self._aead.decrypt(nonce, ct, self._aad)
            except InvalidTag:
                continue
            self._i += 1
            if last:
                self._done = True
                if self._f.read(1):
                    raise ArchiveRefused("the archive has data after its last chunk (tampered)")
            return
        raise ArchiveRefused(f"the archive is tampered with or damaged (chunk {self._i} failed authentication)")

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buf) - self._pos < size):
            self._buf, self._pos = self._buf[self._pos:], 0
            self._next()
        end = len(self._buf) if size < 0 else self._pos + size
        out = self._buf[self._pos:end]
        self._pos += len(out)
        return out

    def drain(self) -> None:
        while not self._done:
            self._buf, self._pos = b"", 0
            self._next()
        self._buf, self._pos = b"", 0


class Source:
    """An export to read: each :meth:`members` call is one pass over its files, in the order
    they were written (the manifest last)."""

    encrypted = False

    def __init__(self, path: Path) -> None:
        self.path = path

    def members(self) -> Iterator[tuple[str, IO[bytes]]]:
        raise NotImplementedError


class FolderSource(Source):
    def members(self) -> Iterator[tuple[str, IO[bytes]]]:
        if not (self.path / MANIFEST).is_file():
            raise ArchiveRefused(f"{self.path} is not a lifelog export (no {MANIFEST}); an unfinished "
                                 "export is never renamed to its final name")
        try:
            listed = json.loads((self.path / MANIFEST).read_bytes()).get("files", {})
        except (ValueError, AttributeError) as e:
            raise ArchiveRefused(f"the manifest is damaged ({e})") from e
        for name in sorted(listed) if isinstance(listed, dict) else []:
            p = self.path / check_name(name)
            if p.is_symlink() or not p.is_file():
                raise ArchiveRefused(f"{name} is missing from the export (truncated or tampered)")
            with open(p, "rb") as f:
                yield name, f
        with open(self.path / MANIFEST, "rb") as f:
            yield MANIFEST, f


class EncryptedSource(Source):
    encrypted = True

    def __init__(self, path: Path, passphrase: str) -> None:
        super().__init__(path)
        self.passphrase = passphrase
        with open(path, "rb") as f:
            _ChunkReader(f, passphrase)  # wrong passphrase / newer version: said at once

    def members(self) -> Iterator[tuple[str, IO[bytes]]]:
        with open(self.path, "rb") as f:
            reader = _ChunkReader(f, self.passphrase)
            try:
                with tarfile.open(fileobj=reader, mode="r|") as tar:
                    for info in tar:
                        if not info.isfile():
                            raise ArchiveRefused(f"the archive holds something that is not a file ({info.name!r})")
                        member = tar.extractfile(info)
                        assert member is not None
                        yield check_name(info.name), member
            except tarfile.TarError as e:
                raise ArchiveRefused(f"the archive is damaged ({e})") from e
            reader.drain()


def open_source(path: Path, passphrase: str | None) -> Source:
    if path.is_dir():
        return FolderSource(path)
    if not path.exists():
        raise ArchiveUsageError(f"{path} does not exist")
    if not is_encrypted(path):
        raise ArchiveRefused(f"{path} is not a lifelog export (neither an export folder nor an encrypted archive)")
    if not passphrase:
        raise ArchiveUsageError("the archive is encrypted: give its passphrase")
    return EncryptedSource(path, passphrase)


__all__ = ["ArchiveError", "EncryptedSink", "FolderSink", "Sink", "Source", "check_dest", "is_encrypted",
           "open_source"]
