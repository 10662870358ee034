"""Issue #13 part 4: keys a person can manage — `lifelog key change-passphrase` and
`lifelog key rotate`, on a real memory (two real clips imported, one synced from a card so a
kept original exists), through the real CLI. Rotation is proved on disk: the old ciphertext of
a thumbnail, a summary and a kept original is no longer in any file; and a rotation SIGKILLed
half-way leaves a memory that opens and reads, finished by the next run."""

from __future__ import annotations

import hashlib
import io
import shutil
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO_ROOT, cli_env, json_doc, run_cli

PASS = "test passphrase"
T_CAT = datetime(2024, 5, 15, 19, 0, tzinfo=UTC)
T_ROCKET = datetime(2024, 5, 16, 9, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 17, 12, 0, tzinfo=UTC)

pytestmark = [pytest.mark.media, pytest.mark.slow]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, media: Any, models_ready: None) -> Path:
    from lifelog.api import Memory
    from lifelog.api.devices import FolderSource, sync_source
    from lifelog.sample.compose import make_clip  # test data only

    root = tmp_path_factory.mktemp("keys")
    src = root / "footage"
    src.mkdir()
    cat = make_clip(src / "cat.mp4", media.path("chelsea.png"), 6, T_CAT, fps=10, size=(320, 240))
    card = root / "card"
    card.mkdir()
    make_clip(card / "rocket.mp4", media.path("rocket.jpg"), 6, T_ROCKET, fps=10, size=(320, 240))
    data = root / "memory"
    mem = Memory(data, passphrase=PASS)
    assert mem.import_paths([cat]).imported == 1
    synced = sync_source(mem, FolderSource(card))
    assert synced.ok and synced.imported == 1, synced.to_json()
    return data


@pytest.fixture
def data(template: Path, tmp_path: Path) -> Path:
    d = tmp_path / "memory"
    shutil.copytree(template, d, symlinks=True)
    return d


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in _files(root)}


def _needles(data: Path) -> dict[str, bytes]:
    """Pieces of ciphertext under the current key: a thumbnail, a summary, a kept original."""
    from helpers import store_rows

    blobs = sorted((data / "vault" / "blobs").glob("*/*.bin"))
    assert blobs
    summary = next(r["summary_enc"] for r in store_rows(data, "episodes", ["summary_enc"]) if r["summary_enc"])
    kept = sorted((data / "originals").rglob("*.lgo"))
    assert kept, "the synced clip is kept as an encrypted original"
    return {
        "thumbnail": blobs[-1].read_bytes()[16:64],
        "summary": summary[16:48],
        "original": kept[0].read_bytes()[24 + 12 : 24 + 12 + 48],
    }


def _found(root: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for p in _files(root):
        raw = p.read_bytes()
        for what, needle in needles.items():
            if needle in raw:
                hits.setdefault(what, []).append(str(p.relative_to(root)))
    return hits


def _readable(data: Path, passphrase: str = PASS) -> None:
    """Every episode's summary and thumbnails decrypt, the kept original plays, questions answer."""
    from PIL import Image

    from lifelog.api import Memory

    mem = Memory(data, passphrase=passphrase)
    eps = mem.episodes_between(None, None)
    assert len(eps) == 2
    for ep in eps:
        assert ep.summary
        for t in ep.thumb_ids:
            with Image.open(io.BytesIO(mem.thumbnail(t))) as im:
                assert im.size[0] > 0
    played = [mem.episode_media(ep.id, decrypt=True) for ep in eps]
    assert any(m is not None and m.exists and m.path.stat().st_size > 0 for m in played)
    ans = mem.ask("when did I see a rocket?", now=NOW)
    assert ans.hits, ans.answer


def test_change_passphrase_old_refused_new_opens(data: Path) -> None:
    from lifelog.api import Memory
    from lifelog.api.errors import VaultLockedError

    env = cli_env(LIFELOG_PASSPHRASE=PASS, LIFELOG_NEW_PASSPHRASE="a new one")
    proc = run_cli(data, "key", "change-passphrase", env=env)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(VaultLockedError, match="wrong passphrase"):
        Memory(data, passphrase=PASS)
    _readable(data, "a new one")
    proc = run_cli(data, "status", env=cli_env(LIFELOG_PASSPHRASE=PASS))
    assert proc.returncode == 2


def test_wrong_passphrase_is_refused_and_nothing_changes(data: Path) -> None:
    before = _digest(data)
    for action in ("change-passphrase", "rotate"):
        proc = run_cli(data, "key", action, env=cli_env(LIFELOG_PASSPHRASE="not it", LIFELOG_NEW_PASSPHRASE="x"))
        assert proc.returncode == 2, proc.stderr
        assert "wrong passphrase" in proc.stderr
    assert _digest(data) == before


def test_rotate_reencrypts_everything(data: Path) -> None:
    needles = _needles(data)
    assert set(_found(data, needles)) == set(needles)  # the scan finds them before
    proc = run_cli(data, "key", "rotate", "--json", env=cli_env(LIFELOG_PASSPHRASE=PASS))
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert doc["finished"] and not doc["resumed"]
    assert doc["blobs"] > 0 and doc["texts"] > 0 and doc["originals"] == 1
    assert _found(data, needles) == {}
    key_json = (data / "vault" / "key.json").read_text()
    assert '"next"' not in key_json
    _readable(data)


_DRIVER = textwrap.dedent("""
    import sys, time
    from lifelog.api import Memory
    def progress(p):
        print(p.done, p.total, p.stage, flush=True)
        time.sleep(0.05)  # slow enough for the test to kill it half-way
    Memory(sys.argv[1]).rotate_key(progress=progress)
    print("finished", flush=True)
""")


def test_rotation_killed_half_way_opens_and_is_finished_next_time(data: Path) -> None:
    from lifelog.api.keys import rotation_unfinished

    needles = _needles(data)
    proc = subprocess.Popen([sys.executable, "-c", _DRIVER, str(data)], stdout=subprocess.PIPE, text=True,
                            env=cli_env(LIFELOG_PASSPHRASE=PASS), cwd=REPO_ROOT)
    assert proc.stdout is not None
    killed_at = None
    for line in proc.stdout:
        parts = line.split()
        assert parts[0] != "finished", "the rotation ended before it could be killed"
        done, total = int(parts[0]), int(parts[1])
        if total and done >= total // 2:
            proc.send_signal(signal.SIGKILL)
            killed_at = (done, total)
            break
    proc.wait(30)
    assert killed_at is not None and proc.returncode == -signal.SIGKILL
    assert rotation_unfinished(data)
    _readable(data)  # some items under the old key, some under the new one: all read
    done = run_cli(data, "key", "rotate", "--json", env=cli_env(LIFELOG_PASSPHRASE=PASS))
    assert done.returncode == 0, done.stderr
    doc = json_doc(done)
    assert doc["finished"] and doc["resumed"]
    assert not rotation_unfinished(data)
    assert _found(data, needles) == {}
    _readable(data)


def test_a_version_1_passphrase_memory_is_wrapped_on_open(data_dir: Path) -> None:
    """Before wrapping, the passphrase-derived key was the data key: opening wraps it (same key,
    so everything stays readable) and the passphrase can then be changed."""
    import base64
    import json
    import secrets

    from lifelog.api.errors import VaultLockedError
    from lifelog.store import keys, vault

    salt = secrets.token_bytes(16)
    derived = vault.derive_passphrase_key(PASS, salt)
    (data_dir / "vault").mkdir()
    old = vault.KeyInfo("passphrase", "vault-key:x", salt, vault.check_value(derived))
    vault.write_key_info(data_dir, old)
    assert json.loads((data_dir / "vault" / "key.json").read_text())["version"] == "1"
    vault.Vault(data_dir / "vault", derived, "passphrase").put("ab-1", b"a picture")
    v = vault.Vault.open(data_dir, passphrase=PASS)
    info = json.loads((data_dir / "vault" / "key.json").read_text())
    assert info["version"] == "2" and info["wrapped"] and base64.b64decode(info["salt"]) != salt
    assert v.get("ab-1") == b"a picture"
    keys.change_passphrase(data_dir, PASS, "another")
    with pytest.raises(VaultLockedError):
        vault.Vault.open(data_dir, passphrase=PASS)
    assert vault.Vault.open(data_dir, passphrase="another").get("ab-1") == b"a picture"


class _MemoryKeyring:
    """An in-memory keyring backend (the user's real keyring is never touched)."""

    priority = 1

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, user: str) -> str | None:
        return self.secrets.get((service, user))

    def set_password(self, service: str, user: str, password: str) -> None:
        self.secrets[(service, user)] = password

    def delete_password(self, service: str, user: str) -> None:
        self.secrets.pop((service, user), None)


def test_rotation_in_keyring_mode_moves_to_a_new_keyring_entry(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring

    from lifelog.store import keys, vault
    from lifelog.store.db import Store

    ring = _MemoryKeyring()
    monkeypatch.setattr(keyring, "get_password", ring.get_password)
    monkeypatch.setattr(keyring, "set_password", ring.set_password)
    monkeypatch.setattr(keyring, "delete_password", ring.delete_password)
    monkeypatch.setattr(vault, "keyring_usable", lambda: True)
    monkeypatch.delenv("LIFELOG_PASSPHRASE", raising=False)
    v = vault.Vault.open(data_dir)
    assert v.mode == "keyring" and len(ring.secrets) == 1
    old_blob = v.put("cd-1", b"a face").read_bytes()
    with pytest.raises(vault.VaultError, match="keyring"):
        keys.change_passphrase(data_dir, "x", "y")
    result = keys.rotate_key(data_dir, Store(data_dir))
    assert result.blobs == 1 and not result.cancelled
    assert len(ring.secrets) == 1  # the old entry is gone, the new one is the memory's key
    info = vault.read_key_info(data_dir)
    assert info is not None and info.next is None and (vault.KEYRING_SERVICE, info.account) in ring.secrets
    assert (data_dir / "vault" / "blobs" / "cd" / "cd-1.bin").read_bytes() != old_blob
    assert vault.Vault.open(data_dir).get("cd-1") == b"a face"
