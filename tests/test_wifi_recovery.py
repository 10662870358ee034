"""An upload cut by a receiver crash is delivered on retry (issue #20, audit finding 1).

The real thing: a `lifelog serve` process is killed (SIGKILL) after it said "received" and
before the import finished — the import is held up deterministically by holding the memory's
write lock from the test, as another lifelog process importing would — then started again; the
reference client's retry of the same file succeeds, the memory answers for it, and no stray
copy is left in the receiver's folders.
"""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from wifi_helpers import NOW, clip, run_receiver

from lifelog.sources.wifi.client import CompanionClient
from lifelog.sources.wifi.common import INCOMING_DIR, RECEIVED_DIR
from lifelog.sources.wifi.pairing import new_pairing_offer
from lifelog.store.originals import is_encrypted, open_original
from lifelog.store.vault import Vault

pytestmark = [pytest.mark.media]


def _sha(p: Path) -> str:
    """SHA-256 of a file; of a kept original (kept encrypted, ``….lgo``) of its decrypted bytes."""
    if is_encrypted(p):
        data_dir = next(d for d in p.parents if d.name == "originals").parent
        with open_original(data_dir, Vault.open(data_dir, create=False), p) as f:
            return hashlib.sha256(f.read()).hexdigest()
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], dict[str, Any], list[dict[str, Any]]]:
    """A real `lifelog serve`; its "listening" event, and a list its later events are read into."""
    from helpers import cli_env

    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
         "--port", str(port), "--json-events", "--no-mdns"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert first["event"] == "listening", first
    events: list[dict[str, Any]] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            events.append(json.loads(line))

    threading.Thread(target=pump, daemon=True).start()
    return proc, first, events


def _wait(cond: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() >= deadline:  # a guard against hanging, not a measure of speed
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_upload_cut_by_a_receiver_kill_is_delivered_on_retry(
    data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    from lifelog.store.lock import write_lock

    cat = clip(tmp_path_factory, media, "cat")
    port = _free_port()
    proc, first, events = _serve(data_dir, port)
    try:
        assert first["bulk_port"], first  # the client sends its bodies to the bulk port
        offer = new_pairing_offer(data_dir, host="127.0.0.1", port=port)
        client, pairing = CompanionClient.pair_with_uri(offer.uri, "crash phone", timeout=120)
        incoming = data_dir / INCOMING_DIR / pairing.device_id
        originals = data_dir / RECEIVED_DIR / pairing.device_id
        outcome: list[Any] = []

        def send() -> None:
            try:
                outcome.append(client.upload(cat))
            except Exception as e:  # the receiver is killed under it
                outcome.append(e)

        with write_lock(data_dir):  # the receiver's import waits for this "other import"
            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            _wait(lambda: any(e["event"] == "received" for e in events), "the received event")
            # Received and verified; the file is moved to originals/ and waits for the lock.
            _wait(lambda: originals.is_dir() and any(originals.iterdir()) and not list(incoming.glob("*.part")),
                  "the move into originals/")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            sender.join(timeout=60)
        assert outcome and isinstance(outcome[0], Exception), outcome  # the sender never got an answer
        # The state the audit found: the session's .part gone, a plaintext copy in originals/.
        assert list(incoming.glob("*.json")) and not list(incoming.glob("*.part"))
        assert [_sha(p) for p in originals.iterdir()] == [_sha(cat)]

        proc, _first, events = _serve(data_dir, port)  # started again, on the same port
        client.close()
        out = client.upload(cat)  # the companion retries the same file
        assert out["status"] == "imported", out
        assert any(e["event"] == "warning" and "recovered" in e["message"] for e in events), events

        from lifelog.api import Memory
        from lifelog.recall.answer import ask

        mem = Memory(data_dir)
        ans = ask(mem, "when did I last see a cat?", now=NOW, thumbnails=False)
        assert ans.hits, ans.answer
        assert [_sha(p) for p in originals.iterdir()] == [_sha(cat)]  # the one kept original
        assert not list(incoming.iterdir())  # no part, session or marker left
        assert client.have([cat]) == {cat}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=60)
            assert rc == 0, proc.stderr.read() if proc.stderr else ""


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk-port", "main-port"])
def test_a_session_whose_part_vanished_starts_over_on_both_ports(
    data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None, bulk: bool
) -> None:
    """A session file whose bytes are gone (deleted by hand, a crash) used to fail every retry
    (500 FileNotFoundError on the main port, a dropped connection on the bulk port)."""
    cat = clip(tmp_path_factory, media, "cat")
    size = cat.stat().st_size
    with run_receiver(data_dir) as running:
        client, pairing = running.pair()
        client.use_bulk = bulk
        up = client.create_upload(cat)
        assert (up.get("bulk_port") is not None) and (client._bulk_port is not None) == bulk
        from lifelog.sources.wifi.client import UploadInterrupted

        with pytest.raises(UploadInterrupted):
            client.upload(cat, cut_at=size // 2)
        part = data_dir / INCOMING_DIR / pairing.device_id / f"{up['upload_id']}.part"
        _wait(lambda: client.settled_offset(up["upload_id"]) == size // 2, "the cut chunk to land")
        part.unlink()  # the bytes vanish under a session the receiver has in memory
        client.close()
        out = client.upload(cat)
        assert out["status"] == "imported", out
        assert [_sha(p) for p in (data_dir / RECEIVED_DIR / pairing.device_id).iterdir()] == [_sha(cat)]
        assert not list((data_dir / INCOMING_DIR / pairing.device_id).iterdir())
