"""Keys a person can manage: changing the passphrase, rotating the data key.

**Change the passphrase** (passphrase mode only): the data key is random and kept in
``vault/key.json`` wrapped by the passphrase-derived key (:mod:`lifelog.store.vault`), so a new
passphrase re-wraps it under a fresh salt — one atomic write of ``key.json``, nothing else.

**Rotate the data key**: a new random key replaces the old one and everything encrypted under
the old key is encrypted again under the new one — every vault blob (thumbnails, face crops, the
blind-index key), every ``*_enc`` column of the tables (:data:`ENCRYPTED_COLUMNS`), every kept
original under ``<data>/originals`` — then old table versions are dropped (they hold the old
ciphertext) and ``key.json`` names the new key alone.

Crash safety: before anything is re-encrypted the new key is recorded in ``key.json`` as
``next`` (keyring mode: the new key is in the keyring under an account of its own; passphrase
mode: wrapped by the same passphrase-derived key). From then on :meth:`Vault.open` gives a vault
that encrypts under the new key and decrypts under whichever key authenticates — the GCM tag is
the per-item marker — so the memory opens and reads at every instant. Each item is rewritten
atomically (a blob or an original: a temporary file renamed over it; a table: one commit per
batch). The next :func:`rotate_key` finds ``next`` and finishes: items already under the new key
are skipped. Call with the memory's write lock held.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pyarrow as pa

from lifelog.store.db import SCHEMAS, Store, schema_key
from lifelog.store.files import atomic_write
from lifelog.store.originals import SUFFIX, original_label, originals_root
from lifelog.store.vault import (
    KEYRING_SERVICE,
    PASSPHRASE_ENV,
    TEMP_PREFIX,
    UNLOCKED_WRITE_GRACE_S,
    KeyInfo,
    NextKey,
    Vault,
    VaultError,
    VaultLockedError,
    check_value,
    derive_passphrase_key,
    read_key_info,
    unwrap_key,
    wrap_key,
    write_key_info,
)

NEW_PASSPHRASE_ENV = "LIFELOG_NEW_PASSPHRASE"

#: Every vault-encrypted column of the tables: (table, column) -> the associated-data prefix
#: (the ciphertext of row ``id`` is authenticated with ``"<prefix>:<id>"``).
ENCRYPTED_COLUMNS: dict[tuple[str, str], str] = {
    ("episodes", "summary_enc"): "summary",
    ("people", "name_enc"): "person-name",
    ("person_edits", "payload_enc"): "person-edit",
    ("utterances", "text_enc"): "utterance",
    ("utterances", "words_enc"): "utterance-words",
    ("ocr", "text_enc"): "ocr",
    ("notes", "text_enc"): "note",
    ("media_geo", "fix_enc"): "geo",
    ("places", "name_enc"): "place-name",
    ("places", "center_enc"): "place-center",
    ("graph_edges", "value_enc"): "graph-edge",
}
_BATCH = 500

RotateStage = Literal["blobs", "texts", "originals", "finishing", "done"]


@dataclass(frozen=True)
class RotateProgress:
    stage: RotateStage
    done: int  # items looked at so far (all stages)
    total: int
    current: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    # The names the CLI's progress printer reads.
    @property
    def files_done(self) -> int:
        return self.done

    @property
    def files_total(self) -> int:
        return self.total


@dataclass(frozen=True)
class RotateResult:
    blobs: int  # re-encrypted by this run
    texts: int  # table cells re-encrypted by this run
    originals: int
    resumed: bool  # an earlier rotation, cut short, was finished
    cancelled: bool  # stopped on request: the rotation is still under way (run it again)


def _check_columns() -> None:
    known = {(t, c) for t, schema in SCHEMAS.items() for c in schema.names if c.endswith("_enc")}
    unknown = known - set(ENCRYPTED_COLUMNS)
    if unknown:  # a new encrypted column must be listed here, or it would keep the old key
        raise VaultError(f"key rotation does not know the encrypted columns {sorted(unknown)}")


def _info(data_dir: Path) -> KeyInfo:
    info = read_key_info(data_dir)
    if info is None:
        raise VaultError(f"no memory with a vault at {data_dir}")
    return info


# --------------------------------------------------------------- passphrase
def change_passphrase(data_dir: Path, old: str, new: str) -> None:
    """Re-wrap the data key (and a rotation's next key) under ``new``.

    :class:`VaultLockedError` when ``old`` is wrong (nothing is changed); :class:`VaultError`
    when the memory's key is in the OS keyring (there is no passphrase) or ``new`` is empty."""
    if not new:
        raise VaultError("the new passphrase is empty")
    info = _info(data_dir)
    if info.mode != "passphrase":
        raise VaultError("this memory's key is kept in the OS keyring: it has no passphrase to change")
    Vault.open(data_dir, passphrase=old, create=False)  # checks ``old``; wraps a version-1 key
    info = _info(data_dir)
    assert info.salt is not None and info.wrapped is not None
    kek = derive_passphrase_key(old, info.salt)
    key = unwrap_key(kek, info.wrapped)
    if key is None:
        raise VaultLockedError("wrong passphrase for this memory")
    salt = secrets.token_bytes(16)
    new_kek = derive_passphrase_key(new, salt)
    nxt = info.next
    if nxt is not None:
        assert nxt.wrapped is not None
        next_key = unwrap_key(kek, nxt.wrapped)
        if next_key is None:
            raise VaultLockedError("the next key of an unfinished key rotation cannot be read")
        nxt = replace(nxt, wrapped=wrap_key(new_kek, next_key))
    write_key_info(data_dir, replace(info, salt=salt, wrapped=wrap_key(new_kek, key), next=nxt))


# ----------------------------------------------------------------- rotation
def _begin(data_dir: Path, passphrase: str | None) -> bool:
    """Record a new key as ``next`` in ``key.json``; False when a rotation was already under way."""
    Vault.open(data_dir, passphrase=passphrase, create=False)  # the current key(s) must open
    info = _info(data_dir)
    if info.next is not None:
        return False
    key = secrets.token_bytes(32)
    if info.mode == "keyring":
        import keyring

        account = f"{info.account.split('#', 1)[0]}#{secrets.token_hex(4)}"
        keyring.set_password(KEYRING_SERVICE, account, base64.b64encode(key).decode())
        nxt = NextKey(account, None, check_value(key))
    else:
        if not passphrase:
            raise VaultLockedError(f"this memory is protected by a passphrase: set {PASSPHRASE_ENV}")
        assert info.salt is not None
        nxt = NextKey(info.account, wrap_key(derive_passphrase_key(passphrase, info.salt), key), check_value(key))
    write_key_info(data_dir, replace(info, next=nxt))
    return True


def _finish(data_dir: Path) -> None:
    info = _info(data_dir)
    nxt = info.next
    if nxt is None:
        return
    if info.mode == "keyring":
        done = replace(info, account=nxt.account, check=nxt.check, next=None)
    else:
        done = replace(info, wrapped=nxt.wrapped, check=nxt.check, next=None)
    write_key_info(data_dir, done)
    if info.mode == "keyring" and info.account != nxt.account:
        import keyring

        with contextlib.suppress(Exception):  # best effort: the old key opens nothing any more
            keyring.delete_password(KEYRING_SERVICE, info.account)


def _blob_files(vault: Vault) -> list[Path]:
    blobs = vault.root / "blobs"
    if not blobs.is_dir():
        return []
    return sorted(p for p in blobs.glob("*/*.bin") if not p.name.startswith(TEMP_PREFIX))


def _original_files(data_dir: Path) -> list[Path]:
    root = originals_root(data_dir)
    if not root.is_dir():
        return []
    cutoff = time.time() - UNLOCKED_WRITE_GRACE_S
    for tmp in root.rglob(f"{TEMP_PREFIX}*"):  # debris of a re-encryption that was killed
        with contextlib.suppress(OSError):
            if tmp.is_file() and tmp.lstat().st_mtime < cutoff:
                tmp.unlink()
    return sorted(p for p in root.rglob(f"*{SUFFIX}") if p.is_file() and not p.name.startswith(TEMP_PREFIX))


def rotate_key(
    data_dir: Path,
    store: Store,
    passphrase: str | None = None,
    progress: Callable[[RotateProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> RotateResult:
    """Rotate the data key, or finish a rotation cut short (see the module's docstring).

    ``passphrase`` (passphrase mode) must open the memory: :class:`VaultLockedError` otherwise,
    with nothing changed. Cancelling leaves the rotation under way; the memory stays readable."""
    _check_columns()
    passphrase = passphrase or os.environ.get(PASSPHRASE_ENV) or None
    resumed = not _begin(data_dir, passphrase)
    vault = Vault.open(data_dir, passphrase=passphrase, create=False)
    assert vault.rotating
    vault.remove_orphan_temps()
    store.refresh()

    blobs = _blob_files(vault)
    tables = sorted({t for t, _ in ENCRYPTED_COLUMNS})
    counts = {t: store.count(t) for t in tables}
    originals = _original_files(data_dir)
    total = len(blobs) + sum(counts.values()) + len(originals)
    done = 0
    n_blobs = n_texts = n_orig = 0

    def report(stage: RotateStage, current: str = "") -> bool:
        if progress is not None:
            progress(RotateProgress(stage, done, total, current))
        return cancel is not None and cancel.is_set()

    def stopped() -> RotateResult:
        return RotateResult(n_blobs, n_texts, n_orig, resumed, True)

    if report("blobs"):
        return stopped()
    for path in blobs:
        aad = f"blob:{path.stem}".encode()
        raw = path.read_bytes()
        if not vault.under_current_key(raw, aad):
            atomic_write(path, vault.encrypt(vault.decrypt(raw, aad), aad))
            n_blobs += 1
        done += 1
        if report("blobs", path.stem):
            return stopped()

    for name in tables:
        cols = [(c, prefix) for (t, c), prefix in ENCRYPTED_COLUMNS.items() if t == name]
        tbl = store.table(name)
        key = schema_key(SCHEMAS[name])
        rows = store.rows(name).to_pylist()
        pending: list[dict[str, object]] = []
        for row in rows:
            changed = False
            for col, prefix in cols:
                value = row.get(col)
                if not value:
                    continue
                aad = f"{prefix}:{row[key]}".encode()
                if not vault.under_current_key(value, aad):
                    row[col] = vault.encrypt(vault.decrypt(value, aad), aad)
                    changed = True
                    n_texts += 1
            if changed:
                pending.append(row)
            done += 1
            if len(pending) >= _BATCH:
                _write_rows(tbl, key, pending)
                pending = []
                if report("texts", name):
                    return stopped()
        if pending:
            _write_rows(tbl, key, pending)
        if report("texts", name):
            return stopped()

    for path in originals:
        label = original_label(data_dir, path)
        if not vault.file_under_current_key(path, label):
            with vault.open_file(path, label) as r:
                st = path.stat()
                vault.encrypt_file(r, path, label)
                os.utime(path, (st.st_atime, st.st_mtime))  # the capture-time fallback, kept
            n_orig += 1
        done += 1
        if report("originals", path.name):
            return stopped()

    report("finishing")
    store.compact()  # old table versions hold the old ciphertext
    _finish(data_dir)
    report("done")
    return RotateResult(n_blobs, n_texts, n_orig, resumed, False)


def _write_rows(tbl: object, key: str, rows: list[dict[str, object]]) -> None:
    """Replace whole rows (matched on ``key``) in one commit."""
    schema: pa.Schema = tbl.schema  # type: ignore[attr-defined]
    batch = pa.Table.from_pylist(rows, schema=schema)
    # a row without a vector (a gps place) keeps it null (LanceDB otherwise refuses the batch)
    tbl.merge_insert(key).when_matched_update_all().execute(batch, on_bad_vectors="null")  # type: ignore[attr-defined]
