"""Nothing of a memory is readable by other local users (docs/privacy.md, "Who can read the data dir").

Real processes: the real CLI imports real media into a fresh data dir (started with the common
umask 022, so the command itself must make its files private), a memory whose modes were opened
up (an older version, a script) is repaired when next opened and the CLI says so once, and, when
the tests run as root, a throwaway second user really cannot read a file of the memory.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import cli_env, json_doc, run_cli

NOTICE = "readable by other users"


def _env() -> dict[str, str]:
    return cli_env(XDG_RUNTIME_DIR=None)  # evidence thumbnails then go to <data>/run (inside the memory)


def _modes(root: Path) -> dict[str, tuple[str, int]]:
    """Every entry under ``root`` (and root): kind and permission bits; links are not followed."""
    out = {".": ("d", stat.S_IMODE(os.stat(root).st_mode))}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = os.lstat(p)
            kind = "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"
            out[str(p.relative_to(root))] = (kind, stat.S_IMODE(st.st_mode))
    return out


def _not_private(root: Path) -> list[str]:
    bad = []
    for rel, (kind, mode) in _modes(root).items():
        want = {"d": 0o700, "f": 0o600}.get(kind)
        if want is not None and mode != want:
            bad.append(f"{rel} {kind} {mode:o}")
    return bad


def _open_up(root: Path) -> int:
    """What an older lifelog (umask 022) left: folders 0755, files 0644."""
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            os.chmod(Path(dirpath) / d, 0o755)
        for f in filenames:
            p = Path(dirpath) / f
            if not p.is_symlink():
                os.chmod(p, 0o644)
                n += 1
    os.chmod(root, 0o755)
    return n


@pytest.fixture(scope="module")
def inputs(media: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short real clip (a face) and a real photo."""
    from lifelog.sample.compose import make_clip

    src = tmp_path_factory.mktemp("mode-inputs")
    make_clip(src / "obama.mp4", media.path("obama.jpg"), 3, datetime(2024, 5, 14, 9, 0, tzinfo=UTC),
              fps=10, size=(320, 240), effect="pan", seed=1)
    shutil.copyfile(media.path("coffee.png"), src / "coffee.png")
    return src


@pytest.fixture(scope="module")
def imported(inputs: Path, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A memory made by the real CLI, started with umask 022; ``objects`` wrote decrypted thumbnails."""
    data = tmp_path_factory.mktemp("mode-memory") / "memory"  # does not exist: the CLI makes it
    r = run_cli(data, "import", str(inputs), "--json", env=_env(), umask=0o022)
    assert r.returncode == 0, r.stderr
    assert json_doc(r)["imported"] == 2
    r = run_cli(data, "objects", "--json", env=_env(), umask=0o022)  # writes decrypted thumbnails
    assert r.returncode == 0, r.stderr
    assert any(o["thumbnail"] for o in json_doc(r)), r.stdout
    assert NOTICE not in r.stderr  # a memory the command made itself needs no repair
    return data


def test_cli_makes_every_folder_0700_and_every_file_0600(imported: Path) -> None:
    modes = _modes(imported)
    kinds = {k for k, _ in modes.values()}
    assert kinds <= {"d", "f"}
    # the walk covers what matters: LanceDB, the vault, the write lock, decrypted evidence thumbnails
    assert any(rel.startswith("db/frames.lance/") for rel in modes)
    assert any(rel.startswith("vault/blobs/") for rel in modes)
    assert any(rel.startswith("run/thumbs/") and kind == "f" for rel, (kind, _) in modes.items())
    assert _not_private(imported) == []


def test_an_open_memory_is_repaired_on_opening_and_the_cli_says_so_once(imported: Path, tmp_path: Path) -> None:
    data = tmp_path / "memory"
    shutil.copytree(imported, data, symlinks=True)
    # footage the receiver kept, plaintext, as an older version left it
    received = data / "originals" / "phone-1" / "VID_0001.mp4"
    received.parent.mkdir(parents=True)
    received.write_bytes(b"\x00\x00\x00\x18ftypmp42" + secrets.token_bytes(64))
    opened = _open_up(data)
    assert len(_not_private(data)) > opened  # files and folders are open now

    r = run_cli(data, "status", "--json", env=_env(), umask=0o022)
    assert r.returncode == 0, r.stderr
    doc = json_doc(r)  # stdout stays one JSON document: the notice is on stderr
    assert doc["data_dir"] == str(data)
    notices = [ln for ln in r.stderr.splitlines() if NOTICE in ln]
    assert len(notices) == 1, r.stderr
    assert notices[0].startswith("lifelog: ") and str(data) in notices[0]
    assert f"{opened} file(s)" in notices[0]
    assert _not_private(data) == []
    assert stat.S_IMODE(received.stat().st_mode) == 0o600

    again = run_cli(data, "status", "--json", env=_env(), umask=0o022)
    assert again.returncode == 0, again.stderr
    assert NOTICE not in again.stderr  # said once: the memory is private now
    assert _not_private(data) == []


def test_memory_records_and_logs_what_it_repaired(imported: Path, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from lifelog.api import Memory

    data = tmp_path / "memory"
    shutil.copytree(imported, data, symlinks=True)
    outside = tmp_path / "outside.txt"  # a link inside the memory must not make lifelog chmod this
    outside.write_text("not lifelog's")
    outside.chmod(0o644)
    (data / "a-link").symlink_to(outside)
    _open_up(data)
    with caplog.at_level(logging.WARNING, logger="lifelog.permissions"):
        mem = Memory(data)
    assert mem.permissions_fixed is not None and NOTICE in mem.permissions_fixed
    assert mem.mode_repair.files > 0 and mem.mode_repair.root_fixed
    assert [r.getMessage() for r in caplog.records if r.name == "lifelog.permissions"] == [mem.permissions_fixed]
    assert _not_private(data) == []
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lifelog.permissions"):
        assert Memory(data).permissions_fixed is None
    assert not [r for r in caplog.records if r.name == "lifelog.permissions"]


def test_an_empty_new_folder_is_made_private_without_a_notice(data_dir: Path) -> None:
    data_dir.chmod(0o755)  # e.g. made with mkdir for a new memory
    r = run_cli(data_dir, "status", "--json", env=_env(), umask=0o022)
    assert r.returncode == 0, r.stderr
    assert NOTICE not in r.stderr
    assert _not_private(data_dir) == []


# ------------------------------------------------------------------ a second Unix user
@pytest.fixture
def other_user() -> Iterator[str]:
    """A throwaway local user (no home, no login), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("making a second user needs root (the tests run as root in CI and the dev container)")
    useradd, userdel = shutil.which("useradd"), shutil.which("userdel")
    if not useradd or not userdel:
        pytest.skip("useradd/userdel are not installed here")
    name = f"llt{secrets.token_hex(4)}"
    r = subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"useradd does not work here: {r.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run([userdel, name], capture_output=True, timeout=30)


def _as(user: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), user=user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=30, cwd="/")


def test_another_user_cannot_read_the_memory(imported: Path, other_user: str) -> None:
    # pytest's own temp folders are private to root: put the memory where others can walk.
    parent = Path(tempfile.mkdtemp(prefix="lifelog-modes-"))
    try:
        parent.chmod(0o755)
        data = parent / "memory"
        shutil.copytree(imported, data, symlinks=True)
        _open_up(data)
        target = next(p for p in (data / "db" / "media.lance" / "_versions").iterdir() if p.is_file())

        # The control: with the modes an older version left, the other user reads the file.
        before = _as(other_user, "cat", str(target))
        assert before.returncode == 0, f"the control failed, the test would prove nothing: {before.stderr}"

        r = run_cli(data, "status", "--json", env=_env(), umask=0o022)
        assert r.returncode == 0 and NOTICE in r.stderr, r.stderr

        after = _as(other_user, "cat", str(target))
        assert after.returncode != 0 and "Permission denied" in after.stderr
        listing = _as(other_user, "ls", str(data))
        assert listing.returncode != 0 and "Permission denied" in listing.stderr
    finally:
        shutil.rmtree(parent, ignore_errors=True)
