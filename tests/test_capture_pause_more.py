"""Issue #13, a gap a verifier found: the ``sync --watch`` loop itself obeys the one pause.

A real ``lifelog sync --watch`` process watches a mount root; a paired card (a simulated DCF
volume) is plugged in while capture is paused with the real ``lifelog pause``: nothing is copied
or imported, however long it stays plugged in. ``lifelog resume`` and the same process takes it.
"""

from __future__ import annotations

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
from helpers import cli_env, json_doc, run_cli

from lifelog.paths import REPO_ROOT
from lifelog.sources.sim.clips import make_clips
from lifelog.sources.sim.dcf import make_volume

pytestmark = [pytest.mark.media]

START = datetime(2024, 5, 19, 9, 0, tzinfo=timezone(timedelta(hours=2)))
WATCH_INTERVAL_S = 2.0  # lifelog.sources.sync.watch_paired looks for volumes this often


def _files_under(d: Path) -> list[Path]:
    return [p for p in d.rglob("*") if p.is_file()] if d.is_dir() else []


def _taken(ledger: Path) -> int:
    """Items the device's ledger records as taken (rewritten atomically after each)."""
    try:
        doc = json.loads(ledger.read_text())
    except (FileNotFoundError, ValueError):
        return 0
    items = doc.get("items", doc) if isinstance(doc, dict) else doc
    return len(items) if isinstance(items, (dict, list)) else 0


def test_sync_watch_takes_nothing_while_paused_and_the_card_after_resume(
    tmp_path: Path, data_dir: Path, media: Any, models_ready: None
) -> None:
    clips = make_clips(tmp_path / "clips", 2, START)
    mounts = tmp_path / "media"
    mounts.mkdir()
    card = make_volume(tmp_path / "drawer", "GOPRO", "gopro", clips)
    env = cli_env(LIFELOG_MOUNT_ROOTS=str(mounts))
    dev = json_doc(run_cli(data_dir, "devices", "pair", "usb", str(card), "--json", env=env))
    ledger = data_dir / "devices" / dev["id"] / "ledger.json"
    cmd = [sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "sync", "--watch", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
    try:
        assert proc.stderr is not None
        while "watching for paired volumes" not in (line := proc.stderr.readline()):  # the card is still out
            assert line, "sync --watch ended early"
        paused = run_cli(data_dir, "pause", "--json", env=env)
        assert paused.returncode == 0, paused.stderr
        shutil.move(str(card), mounts / "GOPRO")  # plugged in while paused
        time.sleep(4 * WATCH_INTERVAL_S)  # several looks at the mounted card (a wait, not a measurement)
        assert proc.poll() is None, "sync --watch keeps running while paused"
        assert not ledger.exists(), "nothing was taken from the card while paused"
        assert _files_under(data_dir / "originals") == []
        assert _files_under(data_dir / "devices" / dev["id"] / "partial") == []
        assert json_doc(run_cli(data_dir, "episodes", "--json", env=env)) == []

        resumed = run_cli(data_dir, "resume", env=env)
        assert resumed.returncode == 0, resumed.stderr
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and _taken(ledger) < 2:
            time.sleep(0.2)
        assert _taken(ledger) == 2, "the card was not synced after resume"
        time.sleep(2 * WATCH_INTERVAL_S)  # let the sync return to watching before Ctrl-C (a wait only)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert [(r["device"], r["imported"]) for r in doc["devices"]] == [(dev["id"], 2)]
    assert len(json_doc(run_cli(data_dir, "episodes", "--json", env=env))) >= 1
