# ruff: noqa: F821, F722  (D-Bus signatures as annotations, read by dbus-fast)
"""Desktop notifications reach a real freedesktop notification service: a private D-Bus session
bus (`dbus-daemon`) with a small notification server on it (the one part a desktop would bring),
and lifelog's notifier sending through desktop-notifier — quiet when the user turned them off."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("dbus_fast")
pytest.importorskip("desktop_notifier")
if shutil.which("dbus-daemon") is None:
    pytest.skip("no dbus-daemon on this machine", allow_module_level=True)

from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method


class Notifications(ServiceInterface):  # type: ignore[misc]
    """org.freedesktop.Notifications, recording what it is asked to show."""

    def __init__(self) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.shown: list[tuple[str, str, str]] = []

    @method()  # type: ignore[untyped-decorator]
    def Notify(self, app_name: s, replaces_id: u, app_icon: s, summary: s, body: s,
               actions: "as", hints: "a{sv}", expire_timeout: i) -> u:
        self.shown.append((app_name, summary, body))
        return len(self.shown)

    @method()  # type: ignore[untyped-decorator]
    def GetCapabilities(self) -> "as":
        return ["body"]

    @method()  # type: ignore[untyped-decorator]
    def GetServerInformation(self) -> ssss:
        return ["test-notifications", "lifelog tests", "1", "1.2"]


@pytest.fixture
def session_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Notifications]:
    address = f"unix:path={tmp_path / 'bus'}"
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", f"--address={address}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    server = Notifications()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def serve() -> None:
        for _ in range(100):
            if (tmp_path / "bus").exists():
                break
            await asyncio.sleep(0.05)
        bus = await MessageBus(bus_address=address).connect()
        bus.export("/org/freedesktop/Notifications", server)
        await bus.request_name("org.freedesktop.Notifications")
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(30), "the notification server did not start"
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        daemon.terminate()
        daemon.wait(10)


def test_a_notification_reaches_the_desktop_and_none_when_off(session_bus: Notifications, data_dir: Path) -> None:
    from lifelog.api.background import set_notifications
    from ui.tray import Notifier

    said: list[str] = []
    notifier = Notifier(data_dir, None, said.append)
    assert notifier.desktop is not None, "a session bus is there: desktop notifications are used"
    sent = notifier.notify("pairing", "lifelog: device paired", "Pixel is paired and can send footage.")
    assert sent is not None and sent.via == "desktop"
    deadline = time.monotonic() + 30
    while not session_bus.shown and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session_bus.shown == [("lifelog", "lifelog: device paired", "Pixel is paired and can send footage.")]
    assert said == [], "not in the status bar as well"
    set_notifications(data_dir, False)
    assert notifier.notify("sync", "lifelog: sync finished", "GoPro: took 3 new files") is None
    time.sleep(1.0)  # a notification sent by mistake would arrive within this
    assert len(session_bus.shown) == 1
