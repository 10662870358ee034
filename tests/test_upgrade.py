"""Upgrading over an older release (issue #18): a memory written by lifelog 0.1.0 opens in this
release with its settings and data, and answers as it did; and a memory folder on a missing or
read-only mount is a clear message, not a traceback or a new memory in the mount's place.

The fixture (``tests/fixtures/memory-0.1.0.tar.gz``, ~140 KB) was made once by the 0.1.0 code
(``tests/fixtures/make_memory_0_1_0.py``): seven photos (cats, a coffee, a rocket, three
portraits of one person named "Sam"), the zone and episode gap changed in its settings, and a
passphrase instead of a keyring. ``memory-0.1.0.json`` holds what 0.1.0 answered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import tmpfs

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECORD: dict[str, Any] = json.loads((FIXTURES / "memory-0.1.0.json").read_text())
LIFELOG = str(Path(sys.executable).with_name("lifelog"))


def _unpack(dest: Path) -> Path:
    with tarfile.open(FIXTURES / "memory-0.1.0.tar.gz") as tf:
        tf.extractall(dest, filter="data")
    return dest / "memory-0.1.0"


def _cli(*args: str, passphrase: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIFELOG_PASSPHRASE": passphrase or RECORD["passphrase"]}
    return subprocess.run([LIFELOG, *args], env=env, capture_output=True, text=True, timeout=600, cwd=cwd)


def _settled(doc: Any, ref: Any) -> Any:
    """``doc`` restricted to the keys ``ref`` has (the shape 0.1.0 knew)."""
    if isinstance(ref, dict):
        return {k: _settled(doc.get(k), v) for k, v in ref.items()}
    return doc


@pytest.mark.slow
def test_a_memory_made_by_0_1_0_opens_with_its_settings_data_and_answers(tmp_path: Path, models_ready: None,
                                                                         media: Any) -> None:
    import lifelog
    from lifelog.api import Memory
    from lifelog.api.settings import load_settings
    from lifelog.config import SETTINGS_VERSION
    from lifelog.sample.compose import write_photo

    assert RECORD["made_by"] == "0.1.0" and lifelog.__version__ != "0.1.0"
    ddir = _unpack(tmp_path)
    mem = Memory(ddir, passphrase=RECORD["passphrase"])
    assert mem.permissions_fixed is None  # a private memory stays private, nothing to repair

    # settings: every value the user had is kept; the format is the current one once saved
    old = RECORD["settings"]
    now_settings = mem.settings.model_dump(mode="json")
    assert _settled(now_settings, {k: v for k, v in old.items() if k != "version"}) == {
        k: v for k, v in old.items() if k != "version"}
    assert mem.settings.timezone == "Europe/Berlin" and mem.settings.episodes.gap_s == 900.0
    from lifelog.api.settings import save_settings

    save_settings(ddir, mem.settings)
    assert json.loads((ddir / "settings.json").read_text())["version"] == SETTINGS_VERSION
    assert load_settings(ddir) == mem.settings

    # data: the same episodes, the same named person, the same answers
    assert sorted(e.id for e in mem.episodes()) == RECORD["episodes"]
    assert sorted([p.id, p.name] for p in mem.people()) == RECORD["people"]
    now = datetime.fromisoformat(RECORD["now"])
    for question, was in RECORD["answers"].items():
        ans = mem.ask(question, now=now, limit=3).to_json()
        assert ans["answer"] == was["answer"], question
        assert ans["count"] == was["count"], question
        assert [h["episode_id"] for h in ans["hits"]] == was["episodes"], question

    # and it keeps growing: a new day imports into the old tables and is found
    later = datetime(2024, 5, 16, 7, 45, tzinfo=timezone(timedelta(hours=2)))
    photo = write_photo(tmp_path / "cat-next-day.jpg", media.path("chelsea.png"), later, max_side=640)
    result = mem.import_paths([photo])
    assert result.imported == 1 and not result.failed
    ans = mem.ask("when did I last see a cat?", now=later + timedelta(hours=1)).to_json()
    assert ans["hits"] and datetime.fromisoformat(ans["hits"][0]["start"]) == later
    assert "07:45" in ans["answer"]


@pytest.mark.slow
def test_the_cli_of_this_release_reads_the_old_memory(tmp_path: Path, models_ready: None) -> None:
    ddir = _unpack(tmp_path)
    q = "when did I last see Sam?"
    out = _cli("--data-dir", str(ddir), "ask", q, "--now", RECORD["now"], "--limit", "3", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["answer"] == RECORD["answers"][q]["answer"]
    assert [h["episode_id"] for h in doc["hits"]] == RECORD["answers"][q]["episodes"]
    # the wrong passphrase is refused as before (exit 2), the memory untouched
    bad = _cli("--data-dir", str(ddir), "episodes", "--json", passphrase="not it", cwd=tmp_path)
    assert bad.returncode == 2, bad.stderr


def test_settings_from_a_newer_release_are_refused_not_overwritten(tmp_path: Path) -> None:
    ddir = _unpack(tmp_path)
    settings = ddir / "settings.json"
    doc = json.loads(settings.read_text())
    doc["version"] = 999
    settings.write_text(json.dumps(doc))
    before = settings.read_bytes()
    out = _cli("--data-dir", str(ddir), "status", "--json", cwd=tmp_path)
    assert out.returncode == 1 and "newer lifelog" in out.stderr, out.stderr
    assert settings.read_bytes() == before


def test_a_memory_on_a_missing_mount_is_said_and_not_created(tmp_path: Path) -> None:
    gone = tmp_path / "media" / "usb-disk" / "lifelog"  # the disk's mount point is not there
    out = _cli("--data-dir", str(gone), "status", "--json", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "missing" in out.stderr and "mount it" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "media").exists()  # no new, empty memory in the mount's place
    # a new memory in an existing folder is still simply created
    fresh = tmp_path / "fresh"
    ok = _cli("--data-dir", str(fresh), "status", "--json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr and fresh.is_dir()


def test_a_memory_on_a_read_only_mount_reads_and_says_why_it_cannot_write(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "20m") as mnt:
        ddir = _unpack(mnt)
        r = subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
        episodes = _cli("--data-dir", str(ddir), "episodes", "--json", cwd=tmp_path)
        if episodes.returncode == 0:  # reading needs no write (the tables as they are today)
            assert sorted(e["id"] for e in json.loads(episodes.stdout)) == RECORD["episodes"]
        else:  # or, where opening the tables writes, the reason in words
            assert episodes.returncode == 1 and "read-only disk or mount" in episodes.stderr, episodes.stderr
            assert "lance" not in episodes.stderr.lower()
        person = RECORD["people"][0][0]
        write = _cli("--data-dir", str(ddir), "people", "name", person, "Robin", cwd=tmp_path)
        assert write.returncode == 1, write.stderr
        assert "read-only disk or mount" in write.stderr and "Traceback" not in write.stderr
        new = _cli("--data-dir", str(mnt / "another"), "status", cwd=tmp_path)
        assert new.returncode == 1 and "read-only" in new.stderr, new.stderr
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], capture_output=True, timeout=30)
