"""Kept originals are encrypted at rest (issue #12): footage synced from a device, received over
Wi-Fi and recorded from the webcam is kept under ``<data>/originals`` only as streamed
AES-256-GCM (``….lgo``); a plain decoder cannot open it and no slice of the source is in it; the
decrypted copy is byte for byte the source; *Play clip* gets a working decrypted copy in the
private scratch folder; tampering is detected; forget and retention remove the kept copies; a
memory with plaintext originals (an older version) is encrypted when it is next opened."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import av
import pytest
from wifi_helpers import clip, run_receiver

from lifelog.api import Memory
from lifelog.privacy.forget import ForgetRequest
from lifelog.sources.base import FolderSource
from lifelog.sources.sync import originals_dir, sync_source
from lifelog.store.originals import (
    SUFFIX,
    decrypted_copy,
    encrypted_path,
    is_encrypted,
    kept_copy,
    open_original,
    plain_original,
)
from lifelog.store.scratch import private_roots
from lifelog.store.vault import FILE_CHUNK, Vault, VaultCorruptError, encrypted_file_size

CEST = timezone(timedelta(hours=2))
T_CLIP = datetime(2024, 6, 3, 9, 0, tzinfo=CEST)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plain_of(mem: Memory, kept: Path) -> bytes:
    with open_original(mem.data_dir, mem.vault, kept) as f:
        return f.read()


def _kept_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "originals").rglob("*") if p.is_file())


def _assert_unreadable_at_rest(data_dir: Path, source: bytes) -> None:
    """Every file under originals is an encrypted kept copy: no decoder opens it and it holds no
    slice of the source's bytes (three 64-byte slices: start, middle, end)."""
    files = _kept_files(data_dir)
    assert files, "something is kept"
    n = len(source)
    slices = [source[i : i + 64] for i in (0, n // 2, max(0, n - 64))]
    for p in files:
        assert p.name.endswith(SUFFIX), f"{p} is kept in the clear"
        raw = p.read_bytes()
        assert not any(s in raw for s in slices), f"{p} contains the source's bytes"
        with pytest.raises(av.error.FFmpegError):  # ffprobe cannot read it either
            av.open(str(p)).close()


def _assert_plays(mem: Memory, episode_id: str, source: bytes) -> None:
    media = mem.episode_media(episode_id)
    assert media is not None and media.exists and media.kind == "video"
    assert media.path.read_bytes() == source, "Play clip gets the original, byte for byte"
    assert any(r in media.path.parents for r in private_roots(mem.data_dir)), "only in the private scratch"
    assert oct(media.path.stat().st_mode & 0o777) == "0o600"
    with av.open(str(media.path)) as c:
        assert c.streams.video and next(c.decode(video=0)) is not None


# ----------------------------------------------------------------------- the format
@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096 + 17])
def test_streamed_encryption_round_trip_and_tampering(tmp_path: Path, size: int) -> None:
    vault = Vault(tmp_path / "vault", secrets.token_bytes(32), "passphrase")
    src = tmp_path / "src.bin"
    data = os.urandom(size)
    src.write_bytes(data)
    enc = tmp_path / "kept.lgo"
    assert vault.encrypt_file(src, enc, b"original:dev/a.mp4", chunk=4096) == size
    assert encrypted_file_size(enc) == size
    assert not list(tmp_path.glob(".tmp-*")), "written whole, through a temporary file"
    out = tmp_path / "out.bin"
    assert vault.decrypt_file(enc, out, b"original:dev/a.mp4") == size and out.read_bytes() == data
    with vault.open_file(enc, b"original:dev/a.mp4") as r:  # random access, as a player seeks
        r.seek(size // 2)
        assert r.read(100) == data[size // 2 : size // 2 + 100]

    raw = enc.read_bytes()
    header, rec = 24, 4096 + 28
    chunks = [raw[header + i : header + i + rec] for i in range(0, len(raw) - header, rec)]
    bad: dict[str, bytes] = {"a flipped bit": raw[:-1] + bytes([raw[-1] ^ 1]),
                             "a cut mid-chunk": raw[:-5],
                             "a copy of the last chunk appended": raw + chunks[-1]}
    if len(chunks) >= 2:
        bad["the last chunk dropped"] = raw[: header + rec * (len(chunks) - 1)]
        bad["two chunks swapped"] = raw[:header] + chunks[1] + chunks[0] + b"".join(chunks[2:])
    for what, blob in bad.items():
        enc.write_bytes(blob)
        out.unlink(missing_ok=True)
        with pytest.raises(VaultCorruptError):
            vault.decrypt_file(enc, out, b"original:dev/a.mp4")
        assert not out.exists(), f"{what}: nothing half-decrypted is left"
    enc.write_bytes(raw)
    with pytest.raises(VaultCorruptError):  # a kept copy moved under another name does not read
        vault.decrypt_file(enc, out, b"original:dev/b.mp4")
    other = Vault(tmp_path / "v2", secrets.token_bytes(32), "passphrase")
    with pytest.raises(VaultCorruptError):
        other.decrypt_file(enc, out, b"original:dev/a.mp4")


def test_streaming_keeps_memory_bounded(tmp_path: Path) -> None:
    """A file of several chunks is read a chunk at a time (never whole)."""
    vault = Vault(tmp_path / "vault", secrets.token_bytes(32), "passphrase")
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for _ in range(5):
            f.write(os.urandom(FILE_CHUNK))
    reads: list[int] = []

    class Spy:
        def __init__(self, f: Any) -> None:
            self.f = f

        def read(self, n: int = -1) -> bytes:
            reads.append(n)
            return bytes(self.f.read(n))

    with open(src, "rb") as f:
        vault.encrypt_file(Spy(f), tmp_path / "big.lgo")  # type: ignore[arg-type]
    assert reads and all(0 < n <= FILE_CHUNK for n in reads)
    h = hashlib.sha256()
    with vault.open_file(tmp_path / "big.lgo") as r:
        while block := r.read(FILE_CHUNK):
            h.update(block)
    assert h.hexdigest() == _sha(src.read_bytes())


# ------------------------------------------------------------------------ the sources
@pytest.fixture
def card_clip(tmp_path: Path, media: Any) -> Path:
    from lifelog.sample.compose import make_clip  # test data only

    card = tmp_path / "card"
    card.mkdir()
    return Path(make_clip(card / "rocket.mp4", media.path("rocket.jpg"), 6, T_CLIP, fps=10, size=(320, 240)))


def test_sync_keeps_the_original_encrypted_plays_it_and_forget_removes_it(
    data_dir: Path, card_clip: Path, models_ready: None
) -> None:
    mem = Memory(data_dir)
    res = sync_source(mem, FolderSource(card_clip.parent, device_id="folder-card"))
    assert res.ok and res.imported == 1, res.to_json()
    source = card_clip.read_bytes()
    _assert_unreadable_at_rest(data_dir, source)

    # The media row and the ledger name the kept original as imported; it is kept as <name>.lgo.
    recorded = originals_dir(data_dir, "folder-card") / "rocket.mp4"
    row = mem.store.rows("media", None, columns=["path"]).to_pylist()[0]
    assert Path(row["path"]) == recorded.resolve()
    ledger_doc = (data_dir / "devices" / "folder-card" / "ledger.json").read_text()
    assert str(recorded) in ledger_doc
    kept = kept_copy(data_dir, row["path"])
    assert kept == encrypted_path(recorded) and is_encrypted(kept)
    assert _plain_of(mem, kept) == source, "the decrypted copy is the source, byte for byte"

    (ep,) = mem.episodes()
    _assert_plays(mem, ep.id, source)
    with plain_original(data_dir, mem.vault, kept, "reindex-test.mp4") as p:  # re-index, transcription
        assert p.read_bytes() == source
    assert not p.exists(), "a copy made for reading is removed afterwards"

    # Tampering with one chunk is detected: Play clip says the original is not there.
    raw = bytearray(kept.read_bytes())
    raw[100] ^= 0x40
    kept.write_bytes(bytes(raw))
    for r in private_roots(data_dir):  # the earlier decrypted copy would be reused
        for f in r.rglob("*.mp4"):
            f.unlink()
    with pytest.raises(VaultCorruptError):
        _plain_of(mem, kept)
    assert not mem.episode_media(ep.id).exists  # type: ignore[union-attr]

    # Forget removes the kept copy and the decrypted copies given out.
    mem.episode_media(ep.id)
    mem.forget(ForgetRequest("device", "folder-card"))
    assert _kept_files(data_dir) == []
    assert not any(f.is_file() for r in private_roots(data_dir) for f in r.rglob("*"))


def test_forget_of_an_episode_and_retention_remove_the_encrypted_copy(
    data_dir: Path, card_clip: Path, models_ready: None
) -> None:
    mem = Memory(data_dir)
    assert sync_source(mem, FolderSource(card_clip.parent, device_id="folder-card")).imported == 1
    (ep,) = mem.episodes()
    kept = _kept_files(data_dir)
    assert len(kept) == 1 and is_encrypted(kept[0])
    plan = mem.plan_retention(datetime(2030, 1, 1, tzinfo=CEST))
    assert plan.counts()["originals"] == 0  # no rule set
    from lifelog.api.settings import save_settings

    rules = mem.settings.retention.model_copy(update={"originals_days": 1})
    mem.settings = mem.settings.model_copy(update={"retention": rules})
    save_settings(data_dir, mem.settings)
    plan = mem.apply_retention(datetime(2030, 1, 1, tzinfo=CEST))
    assert plan.counts()["originals"] == 1
    assert _kept_files(data_dir) == [], "retention shreds the encrypted copy"
    assert mem.episode_media(ep.id) is not None and not mem.episode_media(ep.id).exists  # type: ignore[union-attr]
    # And forget of the episode, on a fresh sync of another memory.
    other = data_dir.parent / "other"
    mem2 = Memory(other)
    assert sync_source(mem2, FolderSource(card_clip.parent, device_id="folder-card")).imported == 1
    (ep2,) = mem2.episodes()
    res = mem2.forget(ForgetRequest("episode", ep2.id))
    assert res.originals_removed == 1 and _kept_files(other) == []


def test_wifi_upload_is_kept_encrypted(
    data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    cat = clip(tmp_path_factory, media, "cat")
    with run_receiver(data_dir) as running:
        client, pairing = running.pair()
        out = client.upload(cat)
        assert out["status"] == "imported", out
    source = cat.read_bytes()
    _assert_unreadable_at_rest(data_dir, source)
    mem = Memory(data_dir)
    (kept,) = _kept_files(data_dir)
    assert kept.parent.name == pairing.device_id and _plain_of(mem, kept) == source
    (ep,) = mem.episodes()
    _assert_plays(mem, ep.id, source)
    mem.forget(ForgetRequest("device", pairing.device_id))
    assert _kept_files(data_dir) == []


def test_wifi_recovery_encrypts_an_original_imported_before_a_kill(
    data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    """A receiver killed after the import and before the encryption: its next start keeps the
    original encrypted."""
    from lifelog.sources.wifi.common import INCOMING_DIR, RECEIVED_DIR
    from lifelog.sources.wifi.recovery import reconcile_incoming, write_import_marker

    cat = clip(tmp_path_factory, media, "cat")
    mem = Memory(data_dir)
    dev = "wifi-0123456789"
    dest = data_dir / RECEIVED_DIR / dev / f"abcd-{cat.name}"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(cat.read_bytes())
    assert mem.import_paths([dest], device=dev).imported == 1
    part = data_dir / INCOMING_DIR / dev / "abcd.part"
    part.parent.mkdir(parents=True)
    write_import_marker(data_dir, dev, "abcd", part, dest, None)
    said = reconcile_incoming(data_dir, mem.stored_media, lambda _s, _m: None, mem.keep_original)
    assert said and "kept" in said[0]
    assert not dest.exists() and _plain_of(mem, encrypted_path(dest)) == cat.read_bytes()
    _assert_unreadable_at_rest(data_dir, cat.read_bytes())


def test_webcam_segments_are_kept_encrypted(data_dir: Path, media: Any, models_ready: None) -> None:
    from lifelog.sources.sim.camera import SimCamera
    from lifelog.sources.webcam import record_to_memory

    mem = Memory(data_dir)
    cam = SimCamera(Path(media.path("vtest.avi")), T_CLIP, fps=10)
    res = record_to_memory(mem, cam, segment_s=4, duration_s=6, cancel=threading.Event())
    assert res.error is None and not res.failed and res.imported == 2
    kept = _kept_files(data_dir)
    assert len(kept) == 2 and all(is_encrypted(k) for k in kept)
    for named, k in zip(sorted(res.segments), kept, strict=True):
        assert encrypted_path(Path(named)) == k and not Path(named).exists()
        plain = _plain_of(mem, k)
        _assert_unreadable_at_rest(data_dir, plain)
        with av.open(str(decrypted_copy(data_dir, mem.vault, k, Path(named).name))) as c:
            assert c.streams.video
    ep = mem.episodes()[0]
    media_ = mem.episode_media(ep.id)
    assert media_ is not None and media_.exists
    mem.forget(ForgetRequest("everything"))
    assert _kept_files(data_dir) == []


# ---------------------------------------------------------------- an older memory
def test_plaintext_originals_of_an_older_memory_are_encrypted_on_open(
    data_dir: Path, card_clip: Path, models_ready: None
) -> None:
    mem = Memory(data_dir)
    assert sync_source(mem, FolderSource(card_clip.parent, device_id="folder-card")).imported == 1
    source = card_clip.read_bytes()
    # Turn it back into what an older version left: the plaintext at the recorded path.
    recorded = originals_dir(data_dir, "folder-card") / "rocket.mp4"
    mem.vault.decrypt_file(encrypted_path(recorded), recorded, b"original:folder-card/rocket.mp4")
    encrypted_path(recorded).unlink()
    stray = originals_dir(data_dir, "folder-card") / "not-imported.mp4"  # e.g. a sync cut before its import
    stray.write_bytes(source[:1000])
    assert recorded.read_bytes() == source
    (ep,) = mem.episodes()

    again = Memory(data_dir)
    assert again.originals_encrypted == 1
    assert not recorded.exists() and stray.read_bytes() == source[:1000], "only what the memory holds"
    assert _plain_of(again, encrypted_path(recorded)) == source
    stray.unlink()
    _assert_unreadable_at_rest(data_dir, source)
    _assert_plays(again, ep.id, source)
    assert Memory(data_dir).originals_encrypted == 0


def test_reindex_decodes_frames_from_the_encrypted_original(
    data_dir: Path, card_clip: Path, models_ready: None
) -> None:
    from lifelog.ingest.reindex import _from_original  # the step that reads originals

    mem = Memory(data_dir)
    assert sync_source(mem, FolderSource(card_clip.parent, device_id="folder-card")).imported == 1
    (m,) = mem.store.rows("media", None, columns=["id", "kind", "path", "size"]).to_pylist()
    group = mem.store.rows("frames", None, columns=["id", "offset_s"]).to_pylist()
    assert group
    got = _from_original(m, group, mem.vault, data_dir)
    assert set(got) == {r["id"] for r in group}, "every frame re-decoded from the kept original"
    assert all(im.shape[0] == 240 and im.shape[1] == 320 for im in got.values())
    leftovers = [f for r in private_roots(data_dir) for f in r.rglob("*") if f.is_file()]
    assert leftovers == [], "the decrypted copy made for re-indexing is removed"
