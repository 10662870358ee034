"""LocalSend v2.1 uploads (trust on first use, approval, refusals) and the mDNS advertisement."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from wifi_helpers import Running, clip, run_receiver

from lifelog.sources.wifi.client import CompanionClient
from lifelog.sources.wifi.localsend import LocalSendSender
from lifelog.sources.wifi.mdns import SERVICE_TYPE, Advertiser
from lifelog.sources.wifi.registry import list_devices, revoke

PHONE_FP = "c0ffee" * 10 + "abcd"


def _info(alias: str = "Nice Orange", fp: str = PHONE_FP) -> dict[str, Any]:
    return {"alias": alias, "version": "2.1", "deviceModel": "Pixel", "deviceType": "mobile", "fingerprint": fp,
            "port": 53317, "protocol": "https", "download": False}


def _files(*paths: Path, names: list[str] | None = None) -> dict[str, Any]:
    out = {}
    for i, p in enumerate(paths):
        data = p.read_bytes()
        out[f"f{i}"] = {"id": f"f{i}", "fileName": (names or [q.name for q in paths])[i], "size": len(data),
                        "fileType": "video/mp4", "sha256": hashlib.sha256(data).hexdigest()}
    return out


def _sender(running: Running) -> CompanionClient:
    return CompanionClient(running.url, running.receiver.fingerprint)


def _approvals(data_dir: Path, approve: bool) -> tuple[Any, list[LocalSendSender]]:
    asked: list[LocalSendSender] = []

    def approver(s: LocalSendSender) -> bool:
        asked.append(s)
        return approve

    return run_receiver(data_dir, approve_localsend=approver), asked


def test_localsend_upload_after_approval_is_imported(
    data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    cat = clip(tmp_path_factory, media, "cat")
    gen, asked = _approvals(data_dir, True)
    with gen as running:
        c = _sender(running)
        s, _h, reg = c.request("POST", "/api/localsend/v2/register", doc=_info())
        assert s == 200 and reg["fingerprint"] == running.receiver.fingerprint and reg["version"] == "2.1"
        s, _h, prep = c.request("POST", "/api/localsend/v2/prepare-upload",
                                doc={"info": _info(), "files": _files(cat)})
        assert s == 200 and set(prep["files"]) == {"f0"}, prep
        assert [a.alias for a in asked] == ["Nice Orange"]
        q = f"sessionId={prep['sessionId']}&fileId=f0&token={prep['files']['f0']}"
        s, _h, doc = c.request("POST", f"/api/localsend/v2/upload?{q}", body=cat.read_bytes())
        assert s == 200 and doc["status"] == "imported", doc
        from lifelog.api import Memory

        assert len(Memory(data_dir).episodes()) == 1
        dev = next(d for d in list_devices(data_dir) if d.kind == "localsend")
        assert dev.name == "Nice Orange" and dev.fingerprint == PHONE_FP
        # Sending the same file again: nothing needs sending (204), and no second question.
        s, _h, _d = c.request("POST", "/api/localsend/v2/prepare-upload", doc={"info": _info(), "files": _files(cat)})
        assert s == 204 and len(asked) == 1


def test_localsend_refusals(data_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "clip.mp4"
    f.write_bytes(b"\x01" * 4096)
    # No approver (a headless receiver): unknown senders are refused.
    with run_receiver(data_dir) as running:
        s, _h, doc = _sender(running).request("POST", "/api/localsend/v2/prepare-upload",
                                              doc={"info": _info(), "files": _files(f)})
        assert s == 403 and "approval" in doc["error"]
    # The user says no.
    gen, asked = _approvals(data_dir, False)
    with gen as running:
        s, _h, doc = _sender(running).request("POST", "/api/localsend/v2/prepare-upload",
                                              doc={"info": _info(), "files": _files(f)})
        assert s == 403 and "not approved" in doc["error"] and len(asked) == 1
    assert list_devices(data_dir) == []
    gen, asked = _approvals(data_dir, True)
    with gen as running:
        c = _sender(running)
        s, _h, prep = c.request("POST", "/api/localsend/v2/prepare-upload", doc={"info": _info(), "files": _files(f)})
        assert s == 200
        # A known alias presenting another fingerprint is refused without asking.
        s, _h, doc = c.request("POST", "/api/localsend/v2/prepare-upload",
                               doc={"info": _info(fp="ee" * 32), "files": _files(f)})
        assert s == 403 and "another certificate fingerprint" in doc["error"] and len(asked) == 1
        # Wrong token, wrong file id, lying size.
        for q in (f"sessionId={prep['sessionId']}&fileId=f0&token=nope",
                  f"sessionId=nope&fileId=f0&token={prep['files']['f0']}",
                  f"sessionId={prep['sessionId']}&fileId=zz&token={prep['files']['f0']}"):
            s, _h, doc = c.request("POST", f"/api/localsend/v2/upload?{q}", body=f.read_bytes())
            assert s == 403, doc
        q = f"sessionId={prep['sessionId']}&fileId=f0&token={prep['files']['f0']}"
        s, _h, doc = c.request("POST", f"/api/localsend/v2/upload?{q}", body=f.read_bytes()[:100])
        assert s == 400 and "declared size" in doc["error"]
        # Hostile and non-media names are left out; with nothing left there is nothing to send.
        s, _h, _d = c.request("POST", "/api/localsend/v2/prepare-upload", doc={
            "info": _info(), "files": _files(f, f, names=["../../.ssh/authorized_keys", "notes.txt"])})
        assert s == 204
        s, _h, _d = c.request("POST", f"/api/localsend/v2/cancel?sessionId={prep['sessionId']}")
        assert s == 200 and not list((data_dir / "devices" / "incoming").rglob("*.part"))
        # A revoked sender is refused.
        revoke(data_dir, next(d.id for d in list_devices(data_dir)))
        s, _h, doc = c.request("POST", "/api/localsend/v2/prepare-upload", doc={"info": _info(), "files": _files(f)})
        assert s == 403 and "revoked" in doc["error"]
        assert any(e.kind == "refused" for e in running.events)


# ---------------------------------------------------------------------------- mDNS
def test_mdns_advertisement_on_loopback_or_a_clear_warning() -> None:
    warnings: list[str] = []
    adv = Advertiser("lifelog test", 53999, "ab" * 32, on_warning=warnings.append, addresses=["127.0.0.1"],
                     interfaces=["127.0.0.1"])
    ok = adv.start()
    try:
        if not ok:
            assert warnings and "still receiving" in warnings[0] and adv.error
            pytest.skip(f"no multicast on loopback here: {adv.error}")
        from zeroconf import Zeroconf

        zc = Zeroconf(interfaces=["127.0.0.1"])
        try:
            info = None
            deadline = time.monotonic() + 10
            while info is None and time.monotonic() < deadline:
                info = zc.get_service_info(SERVICE_TYPE, adv.instance_name, timeout=1000)
            assert info is not None, "advertised service not found on loopback"
            assert info.port == 53999 and info.properties[b"fp"] == b"ab" * 8
        finally:
            zc.close()
    finally:
        adv.stop()


def test_mdns_failure_degrades_to_a_warning_and_the_receiver_keeps_serving(data_dir: Path) -> None:
    warnings: list[str] = []
    adv = Advertiser("lifelog test", 53999, "ab" * 32, on_warning=warnings.append,
                     interfaces=["203.0.113.77"])  # not an address of this machine
    assert adv.start() is False
    assert warnings and "mDNS advertisement unavailable" in warnings[0]
    adv.stop()
    with run_receiver(data_dir) as running:  # the receiver itself does not depend on mDNS
        assert _sender(running).info()["service"] == "lifelog"


def test_localsend_multicast_announcement_is_answered(data_dir: Path) -> None:
    import json
    import socket
    import struct

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]  # a free UDP port stands in for 53317
    probe.close()
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    phone.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    phone.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    phone.bind(("", port))
    lo = socket.inet_aton("127.0.0.1")
    group = struct.pack("4s4s", socket.inet_aton("224.0.0.167"), lo)
    phone.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)
    phone.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, lo)
    phone.settimeout(1.0)
    with run_receiver(data_dir) as running, phone:
        why = running.receiver.start_localsend_discovery(interface="127.0.0.1", port=port)
        if why is not None:
            pytest.skip(f"no multicast on loopback here: {why}")
        hello = {"alias": "Nice Orange", "version": "2.1", "fingerprint": PHONE_FP, "port": 53317,
                 "protocol": "https", "deviceType": "mobile", "announce": True}
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while not any(m.get("announce") is False for m in got) and time.monotonic() < deadline:
            phone.sendto(json.dumps(hello).encode(), ("224.0.0.167", port))
            try:
                while True:
                    data, _addr = phone.recvfrom(65536)
                    msg = json.loads(data)
                    if msg.get("fingerprint") == running.receiver.fingerprint:
                        got.append(msg)
            except TimeoutError:
                pass
        answers = [m for m in got if m.get("announce") is False]
        assert answers, got
        assert answers[0]["port"] == running.port and answers[0]["protocol"] == "https"
        assert running.receiver.announcer is not None
        assert "Nice Orange" in running.receiver.announcer.seen
