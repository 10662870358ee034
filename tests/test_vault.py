"""The vault: encryption at rest, key custody, and never a silent plaintext mode."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from lifelog.store import vault as vault_mod
from lifelog.store.vault import Vault, VaultCorruptError, VaultLockedError


def test_blob_roundtrip_and_no_plaintext_on_disk(data_dir: Path) -> None:
    v = Vault.open(data_dir, passphrase="correct horse")
    secret = b"\xff\xd8JPEG bytes of a private moment" * 20
    path = v.put("abc123-00001", secret)
    raw = path.read_bytes()
    assert b"private moment" not in raw
    assert v.get("abc123-00001") == secret
    text = v.encrypt_text("Sam said the trip is on", "summary:x")
    assert b"trip" not in text
    assert v.decrypt_text(text, "summary:x") == "Sam said the trip is on"


def test_wrong_passphrase_is_reported_as_such(data_dir: Path) -> None:
    Vault.open(data_dir, passphrase="one")
    with pytest.raises(VaultLockedError, match="wrong passphrase"):
        Vault.open(data_dir, passphrase="two")


def test_no_keyring_and_no_passphrase_refuses(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFELOG_PASSPHRASE", raising=False)
    monkeypatch.setattr(vault_mod, "keyring_usable", lambda: False)
    with pytest.raises(VaultLockedError, match="LIFELOG_PASSPHRASE"):
        Vault.open(data_dir)
    assert not (data_dir / "vault" / "key.json").exists()


def test_headless_keyring_backend_is_not_trusted() -> None:
    # On this machine (no D-Bus session) keyring's active backend is fail.Keyring.
    import keyring
    from keyring.backends import fail

    if isinstance(keyring.get_keyring(), fail.Keyring):
        assert vault_mod.keyring_usable() is False


def test_ciphertext_cannot_be_swapped_or_tampered(data_dir: Path) -> None:
    v = Vault.open(data_dir, passphrase="p")
    a = v.put("aa-1", b"first")
    b = v.put("aa-2", b"second")
    b.write_bytes(a.read_bytes())  # move blob 1's ciphertext under blob 2's name
    with pytest.raises(VaultCorruptError):
        v.get("aa-2")
    raw = bytearray(a.read_bytes())
    raw[-1] ^= 1
    a.write_bytes(bytes(raw))
    with pytest.raises(VaultCorruptError):
        v.get("aa-1")


def test_delete_removes_blob(data_dir: Path) -> None:
    v = Vault.open(data_dir, passphrase="p")
    p = v.put("bb-1", b"x" * 1000)
    v.delete("bb-1")
    assert not p.exists()
    assert not v.has("bb-1")


def test_key_file_holds_no_key(data_dir: Path) -> None:
    v = Vault.open(data_dir, passphrase="p")
    info = json.loads((data_dir / "vault" / "key.json").read_text())
    assert info["mode"] == "passphrase"
    # the data key is there only wrapped (AES-GCM) by the passphrase-derived key
    assert set(info) == {"version", "mode", "account", "salt", "check", "wrapped"}
    assert v._aead is not None and len(base64.b64decode(info["wrapped"])) == 12 + 32 + 16
    assert v.mode == "passphrase"


def test_hostile_blob_ids_are_refused(data_dir: Path) -> None:
    v = Vault.open(data_dir, passphrase="p")
    for bad in ["../../etc/passwd", "", "a/b", "AB"]:
        with pytest.raises(ValueError):
            v.put(bad, b"x")
