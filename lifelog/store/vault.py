"""The vault: encryption at rest for image bytes and for text the user saw or said.

Key custody (see ``docs/privacy.md``):

1. **OS keyring** (Secret Service, macOS Keychain, Windows Credential Manager) through
   :mod:`keyring`. A random 256-bit key is created on first use and stored under the service
   ``lifelog`` with a per-data-dir account name. This is the default on a desktop.
2. **Passphrase** where no usable keyring exists (a headless server, CI): the key is derived
   with scrypt from ``$LIFELOG_PASSPHRASE`` and a random salt kept in ``vault/key.json``.
3. Otherwise the vault refuses to open (:class:`VaultLockedError`) — there is **no plaintext mode**.
   keyrings.alt's ``PlaintextKeyring`` and the ``fail`` backend are treated as "no keyring".

Every ciphertext is AES-256-GCM: ``b"LLV1" | nonce(12) | ciphertext+tag``, authenticated with
an associated-data string naming what it is (e.g. ``b"thumb:<id>"``), so blobs cannot be swapped.
``vault/key.json`` also holds a key-check value, so a wrong passphrase is reported as such
instead of as corrupt data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from lifelog.store.files import atomic_write

MAGIC = b"LLV1"
KEYRING_SERVICE = "lifelog"
PASSPHRASE_ENV = "LIFELOG_PASSPHRASE"
_CHECK_LABEL = b"lifelog key check v1"

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


@dataclass(frozen=True)
class KeyInfo:
    mode: KeyMode
    account: str
    salt: bytes | None
    check: bytes

    def to_json(self) -> dict[str, str | None]:
        return {
            "version": "1",
            "mode": self.mode,
            "account": self.account,
            "salt": base64.b64encode(self.salt).decode() if self.salt else None,
            "check": base64.b64encode(self.check).decode(),
        }

    @classmethod
    def from_json(cls, d: dict[str, str | None]) -> KeyInfo:
        mode = d.get("mode")
        if mode != "keyring" and mode != "passphrase":
            raise VaultError(f"vault/key.json has an unknown key mode {mode!r}")
        salt = d.get("salt")
        return cls(
            mode="keyring" if mode == "keyring" else "passphrase",
            account=str(d.get("account") or ""),
            salt=base64.b64decode(salt) if salt else None,
            check=base64.b64decode(str(d.get("check") or "")),
        )


def _derive(passphrase: str, salt: bytes) -> bytes:
    # n=2**15, r=8: 32 MiB and ~0.1 s; the passphrase is the weak link, not the KDF.
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode("utf-8"))


def _check_value(key: bytes) -> bytes:
    return hmac.new(key, _CHECK_LABEL, hashlib.sha256).digest()


class Vault:
    """Encrypts and stores blobs under ``<data>/vault``; encrypts short texts for table columns."""

    def __init__(self, root: Path, key: bytes, mode: KeyMode) -> None:
        self.root = root
        self.mode: KeyMode = mode
        self._aead = AESGCM(key)

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
            key = _derive(passphrase, salt)
            info = KeyInfo("passphrase", account, salt, _check_value(key))
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
        return _derive(passphrase, info.salt)

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
        renames it into place, and every ``put`` runs under that lock (the importer's, for
        thumbnails and face crops), so with the lock held no ``put`` is in the middle of a
        write and every temporary file next to the blobs is debris. The exception: blobs in
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
