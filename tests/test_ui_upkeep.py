"""Memory upkeep in the app (issue #14): Run now runs a real consolidation pass with its progress
visible (on the page and in the status bar) and Cancel stops it (the status then says
cancelled, and the next pass finishes it); the window hosts the nightly schedule when it is alone
and not when `lifelog service` hosts it; "Keep running in the background" leaves a real
`lifelog service` running after the window closes."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_memory_helpers import NAME, NOW, tiny_memory

pytest.importorskip("PySide6")
pytestmark = pytest.mark.usefixtures("models_ready")
WAIT = 30000
SERVICE_ARGS = ["--no-receiver", "--no-usb", "--no-mdns"]  # the scheduler only: no ports, no mDNS


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory, media: Any, models_ready: None) -> Path:
    return tiny_memory(tmp_path_factory.mktemp("ui-upkeep"), media)[0]


def _ctx(data: Path) -> Any:
    from lifelog.api import Memory
    from ui.context import AppContext
    from ui.tasks import Tasks

    return AppContext(Memory(data), Tasks(), now=lambda: NOW)


def test_run_now_shows_progress_and_cancel_stops_the_pass(qtbot: Any, memory: Path) -> None:
    from lifelog.api import Memory
    from lifelog.api.consolidate import STEP_NAMES, status
    from lifelog.api.profile import read_profile
    from lifelog.store.lock import write_lock
    from ui.pages.upkeep import UpkeepIndicator, UpkeepPage

    ctx = _ctx(memory)
    page = UpkeepPage(ctx)
    indicator = UpkeepIndicator(ctx)
    qtbot.addWidget(page)
    qtbot.addWidget(indicator)
    qtbot.waitUntil(lambda: "No pass has run" in page.last_label.text(), timeout=WAIT)

    # another writer (an import in another process) holds the memory: the pass starts and waits
    with write_lock(memory):
        page.run_button.click()
        qtbot.waitUntil(lambda: bool(page.progress_seen), timeout=WAIT)
        assert page.progress_seen[0][0] == STEP_NAMES[0]
        assert f"Step 1 of {len(STEP_NAMES)}" in page.now_label.text()
        assert not page.bar.isHidden() and page.cancel_button.isEnabled() and not page.run_button.isEnabled()
        # the shared status shows it too: the status-bar indicator appears
        qtbot.waitUntil(lambda: not indicator.isHidden(), timeout=WAIT)
        assert "Tidying the memory" in indicator.text() and "Step 1 of" in indicator.text()
        page.cancel_button.click()
        qtbot.waitUntil(lambda: page.result is not None, timeout=WAIT)
    assert page.result is not None and page.result.outcome == "cancelled"
    assert "cancelled" in page.now_label.text()
    qtbot.waitUntil(lambda: "cancelled" in page.last_label.text(), timeout=WAIT)
    last = status(memory).last
    assert last is not None and last["outcome"] == "cancelled"
    qtbot.waitUntil(lambda: indicator.isHidden(), timeout=WAIT)
    assert page.run_button.isEnabled()

    # run again: a real pass to the end (it finishes the one cut short) — every step shown
    page.run_button.click()
    cancelled = page.result
    qtbot.waitUntil(lambda: page.result is not cancelled and page.result is not None, timeout=WAIT)
    result = page.result
    assert result is not None and result.outcome == "ok" and result.resumed
    assert {step for step, _, _ in page.progress_seen} >= set(STEP_NAMES) - {"retention"}
    qtbot.waitUntil(lambda: "finished in" in page.last_label.text(), timeout=WAIT)
    assert page.steps.topLevelItemCount() == len(STEP_NAMES)
    assert NAME in read_profile(Memory(memory)).text  # the pass was real: the profile names the person


@contextlib.contextmanager
def _window(qtbot: Any, data: Path) -> Iterator[Any]:
    from lifelog.api import Memory
    from ui.app import MainWindow

    win = MainWindow(Memory(data), now=NOW)
    qtbot.addWidget(win)
    win.scheduler.service_args = SERVICE_ARGS
    win.start_scheduler()
    qtbot.waitUntil(lambda: win.scheduler.started, timeout=WAIT)
    try:
        yield win
    finally:
        win.close()


def test_the_app_hosts_the_schedule_alone_and_keeps_running_in_the_background(qtbot: Any, memory: Path) -> None:
    from lifelog.api.background import keep_running, service_host
    from lifelog.api.consolidate import status

    service_pid: int | None = None
    try:
        # alone: this window hosts the nightly schedule, and says when the next pass runs
        with _window(qtbot, memory) as win:
            assert win.scheduler.host is not None and win.scheduler.error is None
            host = status(memory).host
            assert host is not None and host["kind"] == "app" and host["pid"] == os.getpid()
            page = win.page("upkeep")
            qtbot.waitUntil(lambda: "scheduled by this app" in page.next_label.text(), timeout=WAIT)
            assert "02:00–05:00" in page.next_label.text()
            assert status(memory).next_run is not None
            page.background.setChecked(True)  # Keep running in the background
            qtbot.waitUntil(lambda: keep_running(memory), timeout=WAIT)
        # closed: the schedule is released, and `lifelog service` was started and took it over
        service_pid = win.service_pid
        assert service_pid is not None
        qtbot.waitUntil(lambda: service_host(memory) is not None, timeout=60000)
        svc = service_host(memory)
        assert svc is not None and svc["pid"] == service_pid

        # another host holds it: the next window does not host, and says who does
        with _window(qtbot, memory) as win2:
            assert win2.scheduler.host is None
            assert win2.scheduler.elsewhere is not None and win2.scheduler.elsewhere["pid"] == service_pid
            page2 = win2.page("upkeep")
            qtbot.waitUntil(lambda: "scheduled by lifelog service" in page2.next_label.text(), timeout=WAIT)
            assert page2.background.isChecked()
            page2.background.setChecked(False)
            qtbot.waitUntil(lambda: not keep_running(memory), timeout=WAIT)
        assert win2.service_pid is None  # the option is off now: nothing more was started
    finally:
        if service_pid is not None:  # the service this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(service_pid, signal.SIGTERM)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(service_pid, 0)
    # the service gone, a window hosts the schedule again
    assert status(memory).host is None
    with _window(qtbot, memory) as win3:
        assert win3.scheduler.host is not None
