"""The background service killed while the app is open (issue #18): the window shows that the
service runs, notices when a real `lifelog service` is SIGKILLed, says so and offers to restart
it; Restart starts a new one, which the window then shows as running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO_ROOT, cli_env

pytest.importorskip("PySide6")

WAIT = 120000
SERVICE_ARGS = ["--no-receiver", "--no-usb", "--no-mdns"]


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def test_a_killed_service_is_noticed_and_restarted(qtbot: Any, data_dir: Path, tmp_path: Path) -> None:
    from lifelog.api import Memory
    from lifelog.api.background import service_alive
    from ui.app import MainWindow
    from ui.qt import Qt

    Memory(data_dir)  # made before the service opens it
    log = (tmp_path / "service.log").open("ab")
    svc = subprocess.Popen([sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "service", *SERVICE_ARGS],
                           stdout=log, stderr=log, env=cli_env(), cwd=REPO_ROOT)
    restarted: int | None = None
    win = MainWindow(Memory(data_dir))
    qtbot.addWidget(win)
    win.show()
    watch = win.service_watch
    watch.service_args = SERVICE_ARGS
    try:
        qtbot.waitUntil(lambda: watch.state == "running", timeout=WAIT)
        assert watch.isVisible() and "running" in watch.text() and watch.pid == svc.pid
        svc.send_signal(signal.SIGKILL)
        svc.wait(30)
        qtbot.waitUntil(lambda: watch.state == "stopped", timeout=WAIT)
        assert "stopped" in watch.text() and "Restart" in watch.text()
        assert str(svc.pid) in watch.toolTip()
        qtbot.mouseClick(watch, Qt.MouseButton.LeftButton)
        restarted = watch.restarted_pid
        assert restarted is not None and restarted != svc.pid
        qtbot.waitUntil(lambda: watch.state == "running" and watch.pid == restarted, timeout=WAIT)
        assert service_alive(data_dir) == restarted
    finally:
        if svc.poll() is None:
            svc.kill()
            svc.wait(30)
        if restarted is not None:
            _stop(restarted)
        log.close()
        win.close()
        win.tasks.wait_idle()
