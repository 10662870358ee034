"""`lifelog devices`, `lifelog sync`, `lifelog record` as real processes."""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import cli_env, error_line, json_doc, run_cli

from lifelog.paths import REPO_ROOT
from lifelog.sources.sim.clips import make_clips
from lifelog.sources.sim.dcf import add_file, make_volume
from lifelog.sources.sim.gopro_server import GoProServer

CEST = timezone(timedelta(hours=2))
START = datetime(2024, 5, 18, 10, 0, tzinfo=CEST)
_CLIPS: dict[str, list[tuple[Path, datetime]]] = {}


@pytest.fixture
def clips(tmp_path_factory: pytest.TempPathFactory, media: Any) -> list[tuple[Path, datetime]]:
    if "c" not in _CLIPS:
        _CLIPS["c"] = make_clips(tmp_path_factory.mktemp("cli_clips"), 3, START)
    return _CLIPS["c"]


def test_pair_sync_list_remove_a_usb_volume(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    mounts = tmp_path / "media"
    vol = make_volume(mounts, "GOPRO", "gopro", clips[:1])
    env = cli_env(LIFELOG_MOUNT_ROOTS=str(mounts))

    doc = json_doc(run_cli(data_dir, "devices", "--json", env=env))
    assert doc["devices"] == [] and [u["path"] for u in doc["unpaired_volumes"]] == [str(vol)]

    p = run_cli(data_dir, "devices", "pair", "usb", "--volume", "--json", env=env)
    assert p.returncode == 0, p.stderr
    dev = json_doc(p)
    assert dev["kind"] == "usb" and "HERO12" in dev["label"]

    s = run_cli(data_dir, "sync", "--json", env=env)
    assert s.returncode == 0, s.stderr
    [r] = json_doc(s)["devices"]
    assert (r["device"], r["imported"], r["failed"]) == (dev["id"], 1, [])

    add_file(vol, "gopro", 2, clips[1][0], clips[1][1])
    [r] = json_doc(run_cli(data_dir, "sync", dev["id"], "--json", env=env))["devices"]
    assert (r["already_taken"], r["imported"]) == (1, 1)

    listed = json_doc(run_cli(data_dir, "devices", "--json", env=env))
    [d] = listed["devices"]
    assert d["id"] == dev["id"] and d["connected"] is True and d["taken"] == 2 and listed["unpaired_volumes"] == []

    eps = json_doc(run_cli(data_dir, "episodes", "--json", env=env))
    assert len(eps) == 2

    rm = run_cli(data_dir, "devices", "remove", dev["id"], "--json", env=env)
    assert rm.returncode == 0 and json_doc(rm)["removed"]["id"] == dev["id"]
    assert json_doc(run_cli(data_dir, "devices", "--json", env=env))["devices"] == []
    # Not paired any more: the volume is not synced.
    s = run_cli(data_dir, "sync", dev["id"], env=env)
    assert s.returncode == 2 and "no paired device" in error_line(s)


def test_pair_and_sync_a_gopro(data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None) -> None:
    with GoProServer() as cam:
        cam.add("100GOPRO", "GX010001.MP4", clips[0][0], clips[0][1].timestamp())
        cam.listing_extra.append({"n": "../../../../tmp/evil.MP4", "s": "10", "mod": "1"})
        p = run_cli(data_dir, "devices", "pair", "gopro", cam.url, "--json")
        assert p.returncode == 0, p.stderr
        dev = json_doc(p)
        assert dev["kind"] == "gopro" and dev["details"]["url"] == cam.url
        s = run_cli(data_dir, "sync", "--json")
        assert s.returncode == 0, s.stderr
        [r] = json_doc(s)["devices"]
        assert r["imported"] == 1 and len(r["refused"]) == 1 and "path traversal" in r["refused"][0]["reason"]
        human = run_cli(data_dir, "sync")
        assert human.returncode == 0 and "1 taken before" in human.stdout and "refused" in human.stdout


def test_sync_ctrl_c_cancels_cleanly_and_resumes(
    data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    size = clips[0][0].stat().st_size
    with GoProServer() as cam:
        cam.add("100GOPRO", "GX010001.MP4", clips[0][0], clips[0][1].timestamp())
        cam.fault("GX010001.MP4", "slow", bytes_per_s=max(20_000, size // 30), times=1)
        dev = json_doc(run_cli(data_dir, "devices", "pair", "gopro", cam.url, "--json"))
        cmd = [sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "sync", "--json"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
                                cwd=REPO_ROOT)  # fmt: skip
        partial = data_dir / "devices" / dev["id"] / "partial"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(p.stat().st_size for p in partial.glob("*.part")):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        doc = json.loads(out)
        assert doc["cancelled"] is True, (out, err)
        assert [r["imported"] for r in doc["devices"]] == [0], (out, err)
        got = sum(p.stat().st_size for p in partial.glob("*.part"))
        assert 0 < got < size
        s = run_cli(data_dir, "sync", "--json")
        [r] = json_doc(s)["devices"]
        assert s.returncode == 0 and r["imported"] == 1 and r["resumed"] == 1
        assert r["bytes_downloaded"] == size - got


def test_bad_commands_get_one_line_errors(tmp_path: Path, data_dir: Path) -> None:
    env = cli_env(LIFELOG_MOUNT_ROOTS=str(tmp_path / "none"))
    cases: list[tuple[list[str], int, str]] = [
        (["devices", "pair", "usb", str(tmp_path / "nope")], 2, "is not a mounted folder"),
        (["devices", "pair", "usb", str(tmp_path)], 2, "no DCF layout"),
        (["devices", "pair", "usb", "--volume"], 2, "exactly one mounted DCF volume"),
        (["devices", "pair", "gopro", "ftp://x"], 2, "not an http(s) camera address"),
        (["devices", "pair", "gopro", "http://127.0.0.1:9"], 1, "cannot reach the camera"),
        (["devices", "remove", "usb-0000"], 2, "no paired device"),
        (["sync"], 2, "no paired devices"),
        (["sync", "usb-0000"], 2, "no paired device"),
        (["record", "--device", "/dev/video99"], 1, "no camera at /dev/video99"),
        (["record", "--segment-s", "0"], 2, "--segment-s"),
    ]
    for args, code, msg in cases:
        p = run_cli(data_dir, *args, env=env)
        assert p.returncode == code, (args, p.returncode, p.stderr)
        assert msg in error_line(p), (args, p.stderr)


def test_delete_after_needs_confirmation(tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]]) -> None:
    mounts = tmp_path / "media"
    vol = make_volume(mounts, "CANON", "canon", clips[:1])
    env = cli_env(LIFELOG_MOUNT_ROOTS=str(mounts))
    assert run_cli(data_dir, "devices", "pair", "usb", str(vol), env=env).returncode == 0
    p = run_cli(data_dir, "sync", "--delete-after", env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 2 and "--yes" in error_line(p)
    assert len(list((vol / "DCIM" / "100CANON").iterdir())) == 1


@pytest.mark.skipif(importlib.util.find_spec("lifelog.commands.wifi") is None, reason="Wi-Fi receiver absent")
def test_pair_wifi_delegates_to_the_receiver(data_dir: Path) -> None:
    p = run_cli(data_dir, "devices", "pair", "wifi", "--json")
    assert p.returncode == 0, p.stderr
    doc = json_doc(p)
    assert doc["pin"] and doc["uri"]


def test_sync_watch_takes_a_paired_card_when_it_is_plugged_in(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    mounts = tmp_path / "media"
    mounts.mkdir()
    card = make_volume(tmp_path / "drawer", "GOPRO", "gopro", clips[:1])
    env = cli_env(LIFELOG_MOUNT_ROOTS=str(mounts))
    dev = json_doc(run_cli(data_dir, "devices", "pair", "usb", str(card), "--json", env=env))
    cmd = [sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "sync", "--watch", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
    try:
        ledger = data_dir / "devices" / dev["id"] / "ledger.json"
        assert proc.stderr is not None
        while "watching for paired volumes" not in (line := proc.stderr.readline()):  # card still out
            assert line, "sync --watch ended early"
        shutil.move(str(card), mounts / "GOPRO")  # plugged in
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not ledger.exists():
            time.sleep(0.1)
        assert ledger.exists(), "the card was not synced"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert doc["not_connected"] == [dev["id"]]
    assert [(r["device"], r["imported"]) for r in doc["devices"]] == [(dev["id"], 1)]
