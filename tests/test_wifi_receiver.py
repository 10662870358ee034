"""The Wi-Fi receiver end to end: real HTTPS on loopback, a paired companion, real video that
then answers a question, resume after a cut, deduplication, TLS pinning, and the CLI."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wifi_helpers import NOW, Running, clip, run_receiver

from lifelog.sources.wifi.client import CompanionClient, FingerprintMismatch, ReceiverError, UploadInterrupted
from lifelog.sources.wifi.common import INCOMING_DIR, RECEIVED_DIR
from lifelog.sources.wifi.pairing import parse_uri
from lifelog.sources.wifi.registry import list_devices
from lifelog.sources.wifi.tls import ensure_identity
from lifelog.store.originals import is_encrypted, open_original
from lifelog.store.vault import Vault


@pytest.fixture
def receiver(data_dir: Path) -> Iterator[Running]:
    with run_receiver(data_dir) as running:
        yield running

pytestmark = [pytest.mark.media]


def _sha(p: Path) -> str:
    """SHA-256 of a file; of a kept original (kept encrypted, ``….lgo``) of its decrypted bytes."""
    if is_encrypted(p):
        data_dir = next(d for d in p.parents if d.name == "originals").parent
        with open_original(data_dir, Vault.open(data_dir, create=False), p) as f:
            return hashlib.sha256(f.read()).hexdigest()
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _media_rows(data_dir: Path) -> list[dict[str, Any]]:
    from helpers import store_rows

    return store_rows(data_dir, "media", ["id", "device", "path"])


# ----------------------------------------------------------------------------- TLS
def test_certificate_is_made_once_with_a_private_key(data_dir: Path) -> None:
    a = ensure_identity(data_dir)
    b = ensure_identity(data_dir)
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    assert stat.S_IMODE(a.key_path.stat().st_mode) == 0o600
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(a.cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert hashlib.sha256(cert.public_bytes(__import__("cryptography.hazmat.primitives.serialization",
                          fromlist=["Encoding"]).Encoding.DER)).hexdigest() == a.fingerprint


def test_client_refuses_a_receiver_with_another_fingerprint(receiver: Any) -> None:
    wrong = "ab" * 32
    client = CompanionClient(receiver.url, wrong)
    with pytest.raises(FingerprintMismatch):
        client.info()
    # Nothing was sent: the receiver saw no request at all, so no pairing could have leaked.
    assert not receiver.refusals()
    assert CompanionClient(receiver.url, receiver.receiver.fingerprint).info()["service"] == "lifelog"


# ------------------------------------------------------------------ pair + upload
def test_paired_upload_of_real_video_answers_a_question(
    receiver: Any, data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    cat = clip(tmp_path_factory, media, "cat")
    client, pairing = receiver.pair("Sam's glasses")
    assert pairing.device_id.startswith("wifi-")
    out = client.upload(cat)
    assert out["status"] == "imported", out
    assert out["import"]["episodes"], out

    from lifelog.api import Memory
    from lifelog.recall.answer import ask

    mem = Memory(data_dir)
    eps = mem.episodes()
    assert len(eps) == 1
    ans = ask(mem, "when did I last see a cat?", now=NOW, thumbnails=False)
    assert ans.hits and ans.hits[0].episode_id == eps[0].id, ans.answer
    # The media row records which device sent it; the received copy is byte-identical.
    rows = _media_rows(data_dir)
    assert [r["device"] for r in rows] == [pairing.device_id]
    kept = list((data_dir / RECEIVED_DIR / pairing.device_id).iterdir())
    assert len(kept) == 1 and _sha(kept[0]) == _sha(cat)
    assert not list((data_dir / INCOMING_DIR / pairing.device_id).iterdir())  # no part files left
    assert [d.id for d in list_devices(data_dir)] == [pairing.device_id]
    assert any(e.kind == "imported" for e in receiver.events)


def test_resume_after_a_cut_at_half(
    receiver: Any, data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    cat = clip(tmp_path_factory, media, "cat")
    size = cat.stat().st_size
    client, pairing = receiver.pair()
    with pytest.raises(UploadInterrupted):
        client.upload(cat, cut_at=size // 2)
    up = client.create_upload(cat)
    offset = client.settled_offset(up["upload_id"])
    assert offset == size // 2  # every byte that arrived counts
    part = data_dir / INCOMING_DIR / pairing.device_id / f"{up['upload_id']}.part"
    assert part.read_bytes() == cat.read_bytes()[:offset]  # only bytes that arrived, in order
    # A fresh client (the app restarted) resumes from the receiver's offset.
    client2 = CompanionClient.from_pairing(pairing)
    sent: list[int] = []
    out = client2.upload(cat, chunk=64 * 1024, progress=lambda done, total: sent.append(done))
    assert out["status"] == "imported", out
    assert sent[0] > offset and sent[-1] == size and min(sent) > offset
    kept = next((data_dir / RECEIVED_DIR / pairing.device_id).iterdir())
    assert _sha(kept) == _sha(cat)
    assert len(_media_rows(data_dir)) == 1


def test_have_reports_what_the_memory_holds_and_a_resend_is_skipped(
    receiver: Any, data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    cat, rocket = clip(tmp_path_factory, media, "cat"), clip(tmp_path_factory, media, "rocket")
    client, _ = receiver.pair()
    assert client.have([cat, rocket]) == set()
    assert client.upload(cat)["status"] == "imported"
    assert client.have([cat, rocket]) == {cat}
    # Another paired device sending the same bytes: told up front, nothing sent or stored again.
    other, _ = receiver.pair("second phone")
    assert other.have([cat]) == {cat}
    assert other.upload(cat) == {"status": "skipped", "have": True}
    assert len(_media_rows(data_dir)) == 1


def test_a_forgotten_file_is_no_longer_reported_as_had(
    receiver: Any, data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    """``have`` asks the store, not only the receiver's own index: deleted media is sent again."""
    cat = clip(tmp_path_factory, media, "cat")
    client, _ = receiver.pair()
    client.upload(cat)
    from lifelog.store.db import Store
    from lifelog.store.sql import sql_str

    store = Store(data_dir)
    mid = _media_rows(data_dir)[0]["id"]
    store.delete("media", f"id = {sql_str(mid)}")
    assert client.have([cat]) == set()


# ------------------------------------------------------------------------ CLI
def test_cli_serve_pairs_from_another_process_and_stops_cleanly(data_dir: Path, tmp_path: Path) -> None:
    from helpers import cli_env

    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
         "--port", "0", "--json-events", "--no-mdns"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["event"] == "listening", first
        port = int(first["port"])
        # `lifelog devices pair wifi` runs in another process: the offer reaches the receiver on disk.
        from helpers import json_doc, run_cli

        offer = json_doc(run_cli(data_dir, "devices", "pair", "wifi", "--json"))
        assert offer["receiver_running"] is True and len(offer["pin"]) == 6
        uri = parse_uri(offer["uri"])
        assert uri.port == port and uri.fingerprint == first["fingerprint"]
        client = CompanionClient(f"https://127.0.0.1:{port}", uri.fingerprint)
        pairing = client.pair("cli phone", pin=offer["pin"])
        paired = json.loads(proc.stdout.readline())
        assert paired["event"] == "paired" and paired["device_id"] == pairing.device_id
        assert client.info()["service"] == "lifelog"
        # `lifelog devices` lists it; `lifelog devices remove ID` revokes it for the running receiver.
        listed = json_doc(run_cli(data_dir, "devices", "--json"))["devices"]
        assert [(d["id"], d["name"], d["revoked"]) for d in listed] == [(pairing.device_id, "cli phone", False)]
        removed = run_cli(data_dir, "devices", "remove", pairing.device_id, "--json")
        assert removed.returncode == 0, removed.stderr
        probe = tmp_path / "x.mp4"
        probe.write_bytes(b"1")
        with pytest.raises(ReceiverError) as e:
            client.have([probe])
        assert e.value.status == 401
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    assert rc == 0, proc.stderr.read() if proc.stderr else ""
    assert not (data_dir / "devices" / "receiver.json").exists()


def test_cli_revoke_and_pair_text(data_dir: Path, capsys: Any) -> None:
    from lifelog.commands.common import CliError
    from lifelog.commands.wifi import pair_command, revoke_command
    from lifelog.sources.wifi.registry import Registry

    assert pair_command(argparse.Namespace(data_dir=str(data_dir), json=False, name="glasses", ttl=60)) == 0
    out = capsys.readouterr()
    assert "PIN" in out.out and "lifelog://pair?" in out.out
    assert any(block in out.out for block in "█▀▄")  # the QR code, drawn with half blocks
    assert "no receiver is running" in out.err
    dev, _ = Registry(data_dir).add_device("phone")
    assert revoke_command(argparse.Namespace(data_dir=str(data_dir), json=True, id=dev.id)) == 0
    assert json.loads(capsys.readouterr().out)["removed"]["revoked"] is True
    with pytest.raises(CliError, match="no Wi-Fi device"):
        revoke_command(argparse.Namespace(data_dir=str(data_dir), json=False, id="wifi-nope"))
    assert os.environ.get("LIFELOG_PASSPHRASE")


def test_memory_busy_keeps_the_verified_bytes_and_a_retry_imports_them(
    data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    """Another lifelog process is importing (it holds the write lock): the upload is verified and
    kept, the sender is told 503 busy, and asking again later imports it without re-sending."""
    from lifelog.sources.wifi.common import ReceiverLimits
    from lifelog.store.lock import write_lock

    cat = clip(tmp_path_factory, media, "cat")
    with run_receiver(data_dir, ReceiverLimits(import_busy_wait_s=0.5)) as running:
        client, pairing = running.pair()
        with write_lock(data_dir):
            out = client.upload(cat)
        assert out["status"] == "busy" and "another lifelog process" in out["error"], out
        part = next((data_dir / INCOMING_DIR / pairing.device_id).glob("*.part"))
        assert part.read_bytes() == cat.read_bytes()
        sent: list[int] = []
        again = client.upload(cat, progress=lambda done, total: sent.append(done))
        assert again["status"] == "imported", again
        assert sent == []  # no byte was sent twice
        assert len(_media_rows(data_dir)) == 1
