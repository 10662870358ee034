"""Starting the app when something is wrong (issue #18), each with real processes:

* a second start on the same memory brings the first app's window to the front and exits 0;
* a stale lock from a killed app (SIGKILL: its app.lock and front-door socket stay behind)
  does not block the next start;
* the keyring absent at a cold start: the app asks for the passphrase, says when it is wrong,
  opens the memory with the right one — and Cancel opens nothing (exit 1).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO_ROOT, cli_env

pytest.importorskip("PySide6")

# A real `ui.app.main` in a fresh process, watched by a timer: it answers the passphrase
# dialog as the mode says and reports what it saw on stdout ("MARK …" lines).
CHILD = r"""
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox
app = QApplication(sys.argv)
folder, mode = sys.argv[1], sys.argv[2]
said = set()
tried = []
def say(what):
    if what not in said:
        said.add(what)
        print("MARK " + what, flush=True)
if mode == "hold":
    import ui.main_window as mw
    original = mw.MainWindow.open_from_tray
    def front(self):
        say("front")
        original(self)
    mw.MainWindow.open_from_tray = front
def poll():
    for w in QApplication.topLevelWidgets():
        if not w.isVisible():
            continue
        name = type(w).__name__
        if name == "PassphraseDialog":
            say("asked")
            if mode == "cancel":
                w.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
            elif not tried:
                tried.append(1)
                w.passphrase_edit.setText("not it")
                w.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
                say("wrong " + w.error_label.text())
            else:
                w.passphrase_edit.setText(mode)
                w.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        elif name == "MainWindow":
            if mode == "hold":
                say("up")
            else:
                say(f"opened {len(w.memory.episodes())} episodes")
                w.close()
                return
    QTimer.singleShot(50, poll)
QTimer.singleShot(50, poll)
from ui.app import main
code = main(folder)
print(f"MARK exit {code}", flush=True)
sys.exit(code)
"""


def _child(folder: Path, mode: str, **env: str | None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(folder), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                            env=cli_env(QT_QPA_PLATFORM="offscreen", **env))


def _until(proc: subprocess.Popen[str], mark: str, seen: list[str], timeout: float = 180) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while not any(line.startswith(mark) for line in seen):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(left, 0))
        line = proc.stdout.readline() if ready else ""
        if not line:
            err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
            pytest.fail(f"no {mark!r} (saw {seen}); exit {proc.poll()}: {err[-2000:]}")
        if line.startswith("MARK "):
            seen.append(line[5:].strip())


def test_second_start_brings_the_first_to_the_front_and_a_killed_app_leaves_no_block(
        qtbot: Any, data_dir: Path) -> None:
    from ui.app import main
    from ui.instance import knock

    first = _child(data_dir, "hold")
    seen: list[str] = []
    try:
        _until(first, "up", seen)
        assert main(data_dir) == 0, "the second start knocks, the first answers, the second exits"
        _until(first, "front", seen)
        assert (data_dir / "run" / "app.sock").stat().st_mode & 0o077 == 0
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)
    assert (data_dir / "app.lock").exists() and (data_dir / "run" / "app.sock").exists(), "left behind"
    assert not knock(data_dir), "nobody answers on a dead app's socket"
    nxt = _child(data_dir, "open")
    seen2: list[str] = []
    _until(nxt, "exit", seen2)
    assert nxt.wait(30) == 0
    assert seen2 == ["opened 0 episodes", "exit 0"], seen2
    assert not (data_dir / "run" / "app.sock").exists(), "a clean exit removes its socket"


def test_sigterm_quits_the_app_cleanly(qtbot: Any, data_dir: Path) -> None:
    """A logout or `kill` (SIGTERM) ends the app through its normal exit: exit 0, its socket gone,
    and the next start opens the memory at once."""
    app = _child(data_dir, "hold")
    seen: list[str] = []
    try:
        _until(app, "up", seen)
        app.send_signal(signal.SIGTERM)
        _until(app, "exit", seen)
        assert app.wait(60) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(30)
    assert seen[-1] == "exit 0", seen
    assert not (data_dir / "run" / "app.sock").exists(), "a clean exit removes its socket"
    nxt = _child(data_dir, "open")
    seen2: list[str] = []
    _until(nxt, "exit", seen2)
    assert nxt.wait(30) == 0 and seen2[-1] == "exit 0", seen2


@pytest.fixture
def locked_memory(data_dir: Path) -> Path:
    from lifelog.api import Memory

    Memory(data_dir, passphrase="the right one")
    return data_dir


NO_KEYRING = {"LIFELOG_PASSPHRASE": None, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


@pytest.fixture
def children() -> Any:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(30)


def test_keyring_absent_at_a_cold_start_asks_for_the_passphrase(locked_memory: Path, children: Any) -> None:
    proc = _child(locked_memory, "the right one", **NO_KEYRING)
    children.append(proc)
    seen: list[str] = []
    _until(proc, "exit", seen)
    assert proc.wait(30) == 0
    assert seen[0] == "asked"
    assert seen[1].startswith("wrong ") and "not the passphrase" in seen[1], seen
    assert seen[2:] == ["opened 0 episodes", "exit 0"], seen


def test_keyring_absent_and_cancel_opens_nothing(locked_memory: Path, children: Any) -> None:
    proc = _child(locked_memory, "cancel", **NO_KEYRING)
    children.append(proc)
    seen: list[str] = []
    _until(proc, "exit", seen)
    assert proc.wait(30) == 1
    assert seen == ["asked", "exit 1"], seen
    assert os.path.exists(locked_memory / "app.lock")


def test_the_light_start_module_names_the_memorys_privacy_logger() -> None:
    """`lifelog.api.process` (imported by every command before the core) must report repaired
    permissions on the logger the memory writes them to."""
    from lifelog.api import memory, process

    assert process.PRIVACY_LOGGER == memory.PRIVACY_LOGGER
