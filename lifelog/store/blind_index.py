"""The blind keyword index shared by speech and OCR: words stored only as keyed hashes.

For every distinct normalised word of a text (:func:`lifelog.store.terms.index_terms`) one row
holds ``HMAC-SHA256(index_key, "lifelog-term-v1:" + word)`` truncated to 128 bits, hex. A
question's words are normalised and hashed the same way and looked up with an ``IN`` filter;
nothing on disk contains the words themselves. The index key is 32 random bytes made once per
memory and kept **encrypted in the vault** as the blob :data:`INDEX_KEY_BLOB`, so it is exactly
as safe as the vault key. What the index still reveals is written down in ``docs/privacy.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading

from lifelog.store.terms import index_terms
from lifelog.store.vault import Vault, VaultError

#: The vault blob that holds the blind index key (ids are limited to hex digits, "-" and "_").
INDEX_KEY_BLOB = "b11d0000-0000-0000-0000-000000000001"
_TERM_LABEL = b"lifelog-term-v1:"
TERM_BYTES = 16
_key_cache: dict[str, bytes] = {}
_key_lock = threading.Lock()


def index_key(vault: Vault) -> bytes:
    """The memory's blind-index key: made on first use, stored encrypted in the vault.

    Creation is race-free between processes: the encrypted key is written to a temporary file
    and hard-linked into place, which fails if another process linked its key first; then the
    key on disk is read back, so every process uses the same one.
    """
    cache_key = str(vault.root.resolve())
    with _key_lock:
        key = _key_cache.get(cache_key)
        if key is not None:
            return key
        path = vault.blob_path(INDEX_KEY_BLOB)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".tmp-{secrets.token_hex(8)}")
            data = vault.encrypt(secrets.token_bytes(32), f"blob:{INDEX_KEY_BLOB}".encode())
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        key = vault.get(INDEX_KEY_BLOB)
        if len(key) != 32:
            raise VaultError("the keyword index key in the vault is damaged")
        _key_cache[cache_key] = key
        return key


def term_hash(key: bytes, term: str) -> str:
    return hmac.new(key, _TERM_LABEL + term.encode("utf-8"), hashlib.sha256).digest()[:TERM_BYTES].hex()


def blind_terms(vault: Vault, text: str) -> list[str]:
    """The blind-index hashes an utterance text is stored under."""
    key = index_key(vault)
    return sorted(term_hash(key, t) for t in index_terms(text))
