"""The vault: encryption at rest for image bytes and for text the user saw or said.

Key custody (see ``docs/privacy.md``):

1. **OS keyring** (Secret Service, macOS Keychain, Windows Credential Manager) through
   :mod:`keyring`. A random 256-bit key is created on first use and stored under the service
   ``lifelog`` with a per-data-dir account name. This is the default on a desktop.
2. **Passphrase** where no usable keyring exists (a headless server, CI): a random data key is
   kept in ``vault/key.json`` *wrapped* (AES-256-GCM) by a key derived with scrypt from
   ``$LIFELOG_PASSPHRASE`` and a random salt, so changing the passphrase re-wraps only
   (:mod:`lifelog.store.keys`). A memory from before wrapping (version 1: the derived key *was*
   the data key) is migrated on opening: its data key is wrapped under a fresh salt.
3. Otherwise the vault refuses to open (:class:`VaultLockedError`) — there is **no plaintext mode**.
   keyrings.alt's ``PlaintextKeyring`` and the ``fail`` backend are treated as "no keyring".

Every ciphertext is AES-256-GCM: ``b"LLV1" | nonce(12) | ciphertext+tag``, authenticated with
an associated-data string naming what it is (e.g. ``b"thumb:<id>"``), so blobs cannot be swapped.
``vault/key.json`` also holds a key-check value, so a wrong passphrase is reported as such
instead of as corrupt data. While a key rotation is under way (:mod:`lifelog.store.keys`) it
also holds the next key (``next``): the vault then encrypts under the next key and decrypts
under whichever of the two authenticates, so a rotation cut short leaves a readable memory.

Files too big to hold in memory (the kept originals under ``<data>/originals``) are encrypted
*streaming* (:meth:`Vault.encrypt_file`, :meth:`Vault.decrypt_file`, :meth:`Vault.open_file`):
``b"LLF1" | chunk size (u32) | file id (16)``, then chunks of ``chunk size`` plaintext bytes,
each ``nonce(12) | ciphertext | tag(16)``, AES-256-GCM under a per-file key (HKDF-SHA256 of the
vault key, salted with the file id). Each chunk's associated data is the header, the caller's
label, the chunk's index and a final-chunk flag, so chunks cannot be swapped, reordered,
dropped, or the file cut short or extended without the read failing.
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
import struct
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from lifelog.store.files import atomic_write

MAGIC = b"LLV1"
KEYRING_SERVICE = "lifelog"
PASSPHRASE_ENV = "LIFELOG_PASSPHRASE"
_CHECK_LABEL = b"lifelog key check v1"
_WRAP_AAD = b"lifelog wrapped data key v2"

FILE_MAGIC = b"LLF1"
FILE_CHUNK = 1 << 20  # plaintext bytes per chunk of a streamed file
_FILE_HEADER = struct.Struct(">4sI16s")  # magic, chunk size, file id
_FILE_KEY_INFO = b"lifelog file key v1"
_NONCE, _TAG = 12, 16

KeyMode = Literal["keyring", "passphrase"]

#: The prefix of the temporary file a blob is written to before it is renamed into place
#: (:func:`lifelog.store.files.atomic_write`, and the blind-index key's own creation).
TEMP_PREFIX = ".tmp-"
#: How old a temporary file of a blob written without the write lock must be to count as debris.
UNLOCKED_WRITE_GRACE_S = 300.0


class VaultError(RuntimeError):
    """Base class for vault failures."""


class VaultLockedError(VaultError):
    """No key can be obtained (no keyring and no passphrase, or a wrong passphrase)."""


class VaultCorruptError(VaultError):
    """A ciphertext failed authentication: tampered, truncated or encrypted under another key."""


def keyring_usable() -> bool:
    """True when the active keyring backend really protects secrets."""
    try:
        import keyring
        from keyring.backends import fail
    except Exception:
        return False
    try:
        backend = keyring.get_keyring()
    except Exception:
        return False
    if isinstance(backend, fail.Keyring):
        return False
    name = f"{type(backend).__module__}.{type(backend).__name__}".lower()
    if "plaintext" in name or "keyrings.alt" in name or "null" in name:
        return False
    try:
        return float(getattr(backend, "priority", 0)) > 0
    except Exception:
        return False


def _b64(b: bytes | None) -> str | None:
    return base64.b64encode(b).decode() if b else None


def _unb64(s: object) -> bytes | None:
    return base64.b64decode(str(s)) if s else None


@dataclass(frozen=True)
class NextKey:
    """The key a rotation is moving to: in the keyring under ``account`` (keyring mode) or
    ``wrapped`` by the passphrase-derived key (passphrase mode); ``check`` its key-check value."""

    account: str
    wrapped: bytes | None
    check: bytes


@dataclass(frozen=True)
class KeyInfo:
    mode: KeyMode
    account: str
    salt: bytes | None
    check: bytes
    wrapped: bytes | None = None  # passphrase mode, version 2: the data key wrapped by the derived key
    next: NextKey | None = None  # a key rotation under way

    def to_json(self) -> dict[str, object]:
        d: dict[str, object] = {
            "version": "2" if self.wrapped or self.mode == "keyring" else "1",
            "mode": self.mode,
            "account": self.account,
            "salt": _b64(self.salt),
            "check": _b64(self.check),
        }
        if self.wrapped:
            d["wrapped"] = _b64(self.wrapped)
        if self.next is not None:
            d["next"] = {"account": self.next.account, "wrapped": _b64(self.next.wrapped),
                         "check": _b64(self.next.check)}
        return d

    @classmethod
    def from_json(cls, d: dict[str, object]) -> KeyInfo:
        mode = d.get("mode")
        if mode != "keyring" and mode != "passphrase":
            raise VaultError(f"vault/key.json has an unknown key mode {mode!r}")
        nxt = d.get("next")
        return cls(
            mode="keyring" if mode == "keyring" else "passphrase",
            account=str(d.get("account") or ""),
            salt=_unb64(d.get("salt")),
            check=_unb64(d.get("check")) or b"",
            wrapped=_unb64(d.get("wrapped")),
            next=NextKey(str(nxt.get("account") or ""), _unb64(nxt.get("wrapped")), _unb64(nxt.get("check")) or b"")
            if isinstance(nxt, dict) else None,
        )


def key_info_path(data_dir: Path) -> Path:
    return data_dir / "vault" / "key.json"


def read_key_info(data_dir: Path) -> KeyInfo | None:
    """The memory's ``vault/key.json``, or None when it has no vault yet."""
    info_path = key_info_path(data_dir)
    if not info_path.exists():
        return None
    try:
        return KeyInfo.from_json(json.loads(info_path.read_text()))
    except (ValueError, KeyError, AttributeError) as e:
        raise VaultError(f"{info_path} is unreadable: {e}") from e


def write_key_info(data_dir: Path, info: KeyInfo) -> None:
    """Replace ``vault/key.json`` atomically (whole or not at all, fsynced)."""
    atomic_write(key_info_path(data_dir), json.dumps(info.to_json(), indent=1).encode())


def wrap_key(kek: bytes, key: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(kek).encrypt(nonce, key, _WRAP_AAD)


def unwrap_key(kek: bytes, wrapped: bytes) -> bytes | None:
    """The data key, or None when ``kek`` is not the key it was wrapped with (a wrong passphrase)."""
    try:
        return AESGCM(kek).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _WRAP_AAD)
    except (InvalidTag, ValueError):
        return None


def derive_passphrase_key(passphrase: str, salt: bytes) -> bytes:
    """The key-encryption key of a passphrase (scrypt, see :func:`_derive`)."""
    return _derive(passphrase, salt)


def check_value(key: bytes) -> bytes:
    return _check_value(key)


def _derive(passphrase: str, salt: bytes) -> bytes:
    # n=2**15, r=8: 32 MiB and ~0.1 s; the passphrase is the weak link, not the KDF.
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode("utf-8"))


def _check_value(key: bytes) -> bytes:
    return hmac.new(key, _CHECK_LABEL, hashlib.sha256).digest()


class Vault:
    """Encrypts and stores blobs under ``<data>/vault``; encrypts short texts for table columns."""

    def __init__(self, root: Path, key: bytes, mode: KeyMode, *, fallback_key: bytes | None = None) -> None:
        self.root = root
        self.mode: KeyMode = mode
        self._aead = AESGCM(key)
        # Streamed files use per-file keys derived from a subkey of their own, never the vault key.
        self._file_root = HKDF(hashes.SHA256(), 32, None, _FILE_KEY_INFO).derive(key)
        # During a key rotation (lifelog.store.keys): the old key, tried when the new one fails.
        self._fallback: Vault | None = Vault(root, fallback_key, mode) if fallback_key else None

    @property
    def rotating(self) -> bool:
        """True while a key rotation is unfinished (two keys are in use)."""
        return self._fallback is not None

    def under_current_key(self, blob: bytes, aad: bytes) -> bool:
        """True when ``blob`` authenticates under the key new data is encrypted with."""
        try:
            self._aead.decrypt(blob[4:16], blob[16:], aad)
        except (InvalidTag, ValueError):
            return False
        return blob.startswith(MAGIC)

    def file_under_current_key(self, src: Path, label: bytes) -> bool:
        """True when the streamed file ``src`` (its first chunk) authenticates under the current key."""
        with _EncryptedFileReader(self, src, label, strict=True) as r:
            return r.current_key

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, data_dir: Path, *, passphrase: str | None = None, create: bool = True) -> Vault:
        """Open (or create) the vault of ``data_dir``; raises :class:`VaultLockedError` if no key."""
        root = data_dir / "vault"
        info_path = root / "key.json"
        if passphrase is None:
            passphrase = os.environ.get(PASSPHRASE_ENV) or None
        if info_path.exists():
            try:
                info = KeyInfo.from_json(json.loads(info_path.read_text()))
            except (ValueError, KeyError) as e:
                raise VaultError(f"{info_path} is unreadable: {e}") from e
            key = cls._load_key(info, passphrase)
            if not hmac.compare_digest(_check_value(key), info.check):
                if info.mode == "passphrase":
                    raise VaultLockedError(
                        f"wrong passphrase for the memory at {data_dir} (set {PASSPHRASE_ENV})"
                    )
                raise VaultLockedError(f"the keyring holds a different key for the memory at {data_dir}")
            if info.mode == "passphrase" and not info.wrapped and passphrase:
                # Version 1 (the derived key was the data key): wrap it, so a passphrase can change.
                salt = secrets.token_bytes(16)
                info = KeyInfo("passphrase", info.account, salt, info.check,
                               wrapped=wrap_key(_derive(passphrase, salt), key))
                atomic_write(info_path, json.dumps(info.to_json(), indent=1).encode())
            if info.next is not None:
                nxt = cls._load_next_key(info, passphrase)
                return cls(root, nxt, info.mode, fallback_key=key)
            return cls(root, key, info.mode)
        if not create:
            raise VaultLockedError(f"no vault at {data_dir}")
        account = f"vault-key:{hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]}"
        if keyring_usable() and not passphrase:
            import keyring

            key = secrets.token_bytes(32)
            keyring.set_password(KEYRING_SERVICE, account, base64.b64encode(key).decode())
            info = KeyInfo("keyring", account, None, _check_value(key))
        elif passphrase:
            salt = secrets.token_bytes(16)
            key = secrets.token_bytes(32)
            info = KeyInfo("passphrase", account, salt, _check_value(key),
                           wrapped=wrap_key(_derive(passphrase, salt), key))
        else:
            raise VaultLockedError(
                "no OS keyring is available to hold the encryption key, and "
                f"{PASSPHRASE_ENV} is not set. Set {PASSPHRASE_ENV} to a passphrase to protect "
                "the memory (see docs/privacy.md)"
            )
        atomic_write(info_path, json.dumps(info.to_json(), indent=1).encode())
        return cls(root, key, info.mode)

    @staticmethod
    def _load_key(info: KeyInfo, passphrase: str | None) -> bytes:
        if info.mode == "keyring":
            if not keyring_usable():
                raise VaultLockedError(
                    "this memory's key is in the OS keyring, but no keyring service is reachable "
                    "(is the desktop session unlocked?)"
                )
            import keyring

            stored = keyring.get_password(KEYRING_SERVICE, info.account)
            if not stored:
                raise VaultLockedError("the OS keyring has no key for this memory")
            return base64.b64decode(stored)
        if not passphrase:
            raise VaultLockedError(f"this memory is protected by a passphrase: set {PASSPHRASE_ENV}")
        assert info.salt is not None
        derived = _derive(passphrase, info.salt)
        if not info.wrapped:
            return derived  # version 1: the derived key is the data key (migrated by open)
        key = unwrap_key(derived, info.wrapped)
        if key is None:
            raise VaultLockedError(f"wrong passphrase for this memory (set {PASSPHRASE_ENV})")
        return key

    @staticmethod
    def _load_next_key(info: KeyInfo, passphrase: str | None) -> bytes:
        """The key an unfinished rotation is moving to (after :meth:`_load_key` succeeded)."""
        assert info.next is not None
        if info.mode == "keyring":
            import keyring

            stored = keyring.get_password(KEYRING_SERVICE, info.next.account)
            key = base64.b64decode(stored) if stored else None
        else:
            assert info.salt is not None and info.next.wrapped is not None and passphrase
            key = unwrap_key(_derive(passphrase, info.salt), info.next.wrapped)
        if key is None or not hmac.compare_digest(_check_value(key), info.next.check):
            raise VaultLockedError("the next key of an unfinished key rotation cannot be read")
        return key

    # ------------------------------------------------------------- primitives
    def encrypt(self, data: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return MAGIC + nonce + self._aead.encrypt(nonce, data, aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < len(MAGIC) + 12 + 16 or not blob.startswith(MAGIC):
            raise VaultCorruptError("not a vault ciphertext (bad header or truncated)")
        nonce = blob[4:16]
        try:
            return self._aead.decrypt(nonce, blob[16:], aad)
        except InvalidTag as e:
            if self._fallback is not None:
                return self._fallback.decrypt(blob, aad)
            raise VaultCorruptError("vault ciphertext failed authentication") from e

    def encrypt_text(self, text: str, aad: str) -> bytes:
        return self.encrypt(text.encode("utf-8"), aad.encode())

    def decrypt_text(self, blob: bytes | None, aad: str) -> str:
        if not blob:
            return ""
        return self.decrypt(blob, aad.encode()).decode("utf-8")

    # ------------------------------------------------------------------ blobs
    def blob_path(self, blob_id: str) -> Path:
        if not blob_id or any(c not in "0123456789abcdef-_" for c in blob_id):
            raise ValueError(f"invalid blob id {blob_id!r}")
        return self.root / "blobs" / blob_id[:2] / f"{blob_id}.bin"

    def put(self, blob_id: str, data: bytes) -> Path:
        """Store ``data`` encrypted as blob ``blob_id``. Call with the memory's write lock held
        (:meth:`remove_orphan_temps` relies on it)."""
        path = self.blob_path(blob_id)
        atomic_write(path, self.encrypt(data, f"blob:{blob_id}".encode()))
        return path

    def get(self, blob_id: str) -> bytes:
        path = self.blob_path(blob_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError as e:
            raise VaultError(f"blob {blob_id} is missing from the vault") from e
        return self.decrypt(raw, f"blob:{blob_id}".encode())

    def remove_orphan_temps(self, *, unlocked: Iterable[str] = (), grace_s: float = UNLOCKED_WRITE_GRACE_S) -> int:
        """Delete the temporary files (``.tmp-*``) that killed blob writes left under ``blobs/``;
        the number deleted.

        Call only with the memory's write lock held. :meth:`put` writes a temporary file and
        renames it into place, and every ``put`` runs under that lock (an import's, for
        thumbnails and face crops; an archive import's), so with the lock held no ``put`` is in
        the middle of a write and every temporary file next to the blobs is debris. The exception: blobs in
        ``unlocked`` are written *without* the lock (the blind-index key, made by whichever
        process needs it first, a reader too), through a temporary file of their own in their
        shard folder; there a temporary file is deleted only once it is ``grace_s`` old (that
        write takes milliseconds). Best effort: what cannot be deleted now is left for next time.
        """
        blobs = self.root / "blobs"
        if not blobs.is_dir():
            return 0
        shards = {self.blob_path(b).parent.name for b in unlocked}
        cutoff = time.time() - grace_s
        removed = 0
        for tmp in blobs.glob(f"*/{TEMP_PREFIX}*"):
            try:
                if tmp.parent.name in shards and tmp.lstat().st_mtime > cutoff:
                    continue
                tmp.unlink()
            except OSError:
                continue
            removed += 1
        return removed

    def has(self, blob_id: str) -> bool:
        return self.blob_path(blob_id).exists()

    def delete(self, blob_id: str) -> None:
        """Delete a blob: overwrite it with random bytes first, then unlink (best effort on SSDs)."""
        path = self.blob_path(blob_id)
        try:
            size = path.stat().st_size
            with open(path, "r+b") as f:
                f.write(secrets.token_bytes(size))
                f.flush()
                os.fsync(f.fileno())
            path.unlink()
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------ big files
    def _file_aead(self, file_id: bytes) -> AESGCM:
        return AESGCM(HKDF(hashes.SHA256(), 32, file_id, b"lifelog file v1").derive(self._file_root))

    def encrypt_file(self, src: Path | BinaryIO, dest: Path, label: bytes = b"", *, chunk: int = FILE_CHUNK) -> int:
        """Encrypt ``src`` (a path or a file open for reading) into ``dest`` streaming, a chunk at a
        time (at most two chunks in memory); ``dest`` appears whole or not at all (a temporary
        file ``.tmp-…`` next to it, fsynced, renamed). ``label`` names what it is (the same label
        must be given to read it back). Returns the number of plaintext bytes."""
        if not 0 < chunk <= 1 << 30:
            raise ValueError(f"bad chunk size {chunk}")
        if isinstance(src, Path):
            with open(src, "rb") as f:
                return self.encrypt_file(f, dest, label, chunk=chunk)
        file_id = secrets.token_bytes(16)
        header = _FILE_HEADER.pack(FILE_MAGIC, chunk, file_id)
        aead = self._file_aead(file_id)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=dest.parent)
        total = 0
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(header)
                index = 0
                block = _read_full(src, chunk)
                while True:
                    after = _read_full(src, chunk) if len(block) == chunk else b""
                    final = not after
                    nonce = secrets.token_bytes(_NONCE)
                    out.write(nonce + aead.encrypt(nonce, block, _chunk_aad(header, label, index, final)))
                    total += len(block)
                    if final:
                        break
                    block, index = after, index + 1
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return total

    def open_file(self, src: Path, label: bytes = b"") -> io.BufferedReader:
        """A seekable reader of the plaintext of a file made by :meth:`encrypt_file`; every chunk
        is authenticated as it is read (:class:`VaultCorruptError` on any tampering)."""
        return io.BufferedReader(_EncryptedFileReader(self, src, label), buffer_size=FILE_CHUNK)

    def decrypt_file(self, src: Path, dest: Path, label: bytes = b"") -> int:
        """Decrypt a file made by :meth:`encrypt_file` into ``dest`` (0600, whole or not at all,
        streaming); the number of plaintext bytes. Nothing is left at ``dest`` when it fails."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=dest.parent)
        total = 0
        try:
            with self.open_file(src, label) as r, os.fdopen(fd, "wb") as out:
                while block := r.read(FILE_CHUNK):
                    out.write(block)
                    total += len(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return total


def _read_full(f: BinaryIO, n: int) -> bytes:
    parts: list[bytes] = []
    left = n
    while left > 0:
        b = f.read(left)
        if not b:
            break
        parts.append(b)
        left -= len(b)
    return b"".join(parts)


def _chunk_aad(header: bytes, label: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0) + label


def encrypted_file_size(path: Path) -> int:
    """The plaintext size of a file made by :meth:`Vault.encrypt_file` (from its length and header;
    nothing is decrypted). :class:`VaultCorruptError` when it cannot be one."""
    with open(path, "rb") as f:
        header = f.read(_FILE_HEADER.size)
        size = os.fstat(f.fileno()).st_size
    return _layout(header, size)[2]


def _layout(header: bytes, size: int) -> tuple[int, int, int]:
    """(chunk size, number of chunks, plaintext size) of a streamed file."""
    if len(header) < _FILE_HEADER.size:
        raise VaultCorruptError("not an encrypted file (truncated header)")
    magic, chunk, _fid = _FILE_HEADER.unpack(header[: _FILE_HEADER.size])
    if magic != FILE_MAGIC or not 0 < chunk <= 1 << 30:
        raise VaultCorruptError("not an encrypted file (bad header)")
    body = size - _FILE_HEADER.size
    rec = chunk + _NONCE + _TAG
    n = max(1, -(-body // rec))
    last = body - (n - 1) * rec - _NONCE - _TAG
    if last < 0:
        raise VaultCorruptError("encrypted file is truncated")
    return chunk, n, (n - 1) * chunk + last


class _EncryptedFileReader(io.RawIOBase):
    """Random access to a streamed file's plaintext, a chunk decrypted (and checked) at a time."""

    def __init__(self, vault: Vault, path: Path, label: bytes, *, strict: bool = False) -> None:
        super().__init__()
        self._f = open(path, "rb")  # noqa: SIM115 - closed in close()
        try:
            self._header = self._f.read(_FILE_HEADER.size)
            self._chunk, self._n, self._size = _layout(self._header, os.fstat(self._f.fileno()).st_size)
        except BaseException:
            self._f.close()
            raise
        self._aead = vault._file_aead(self._header[8:24])
        self._label = label
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None
        self.current_key = True
        if vault._fallback is not None:  # a rotation under way: the file is under one key or the other
            try:
                self._chunk_key_check(0)
            except VaultCorruptError:
                self.current_key = False
                if not strict:
                    self._aead = vault._fallback._file_aead(self._header[8:24])

    def _chunk_key_check(self, index: int) -> None:
        """Authenticate chunk ``index`` (raises :class:`VaultCorruptError`), keeping nothing."""
        try:
            self._plain(index)
        except VaultCorruptError:
            self._cached = None
            raise

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def _plain(self, index: int) -> bytes:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        rec = self._chunk + _NONCE + _TAG
        self._f.seek(_FILE_HEADER.size + index * rec)
        raw = _read_full(self._f, rec)
        final = index == self._n - 1
        try:
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _chunk_aad(self._header, self._label, index, final))
        except (InvalidTag, ValueError) as e:
            raise VaultCorruptError(f"encrypted file failed authentication at chunk {index}") from e
        if len(plain) != (self._chunk if not final else self._size - index * self._chunk):
            raise VaultCorruptError(f"encrypted file has a chunk of the wrong size ({index})")
        self._cached = (index, plain)
        return plain

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._pos >= self._size:
            if self._size == 0:
                self._plain(0)  # an empty file still has its (final) chunk to authenticate
            return 0
        index, at = divmod(self._pos, self._chunk)
        data = self._plain(index)[at : at + len(buffer)]
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._f.close()
            self._cached = None
        super().close()
