"""The tray and background life of the app (issue #18): where no tray exists (offscreen) closing
quits as before and Settings says so; where one exists, the first close asks once whether to keep
running, the answer is remembered and changeable in Settings, Open brings the window back and
Quit quits. The icon follows the one capture pause; notifications for pairings, finished syncs
and LocalSend requests are shown — and not when turned off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

WAIT = 20000


@pytest.fixture
def window(qtbot: Any, data_dir: Path) -> Iterator[Any]:
    from lifelog.api import Memory
    from ui.app import MainWindow

    win = MainWindow(Memory(data_dir))  # closed here, not by qtbot: a close with a tray would ask
    win.show()
    yield win
    win.quitting = True
    win.close()
    win.tasks.wait_idle()
    win.deleteLater()


@pytest.fixture
def with_tray(monkeypatch: pytest.MonkeyPatch) -> None:
    """A desktop with a system tray (none exists offscreen: the one thing faked here)."""
    import ui.tray

    monkeypatch.setattr(ui.tray, "tray_available", lambda: True)


def _answer_close_question(qtbot: Any, button: str, seen: list[str]) -> None:
    from ui.qt import QApplication, QMessageBox, QTimer

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() == "close_to_tray_question":
            seen.append(box.text())
            next(b for b in box.buttons() if b.text() == button).click()
        else:
            QTimer.singleShot(20, answer)

    QTimer.singleShot(20, answer)


def test_without_a_tray_closing_quits_and_settings_says_so(window: Any, data_dir: Path) -> None:
    from lifelog.api.background import close_to_tray

    assert not window.tray.available and not window.tray.visible
    settings = window.page("settings")
    assert not settings.close_to_tray_box.isEnabled()
    assert "no system tray" in settings.background_note.text()
    assert window.close(), "the close is accepted: the app quits as before"
    assert not window.isVisible()
    assert close_to_tray(data_dir) is None, "nothing was asked"


def test_with_a_tray_the_first_close_asks_once_then_hides_and_quit_quits(
        with_tray: None, window: Any, data_dir: Path, qtbot: Any) -> None:
    from lifelog.api.background import close_to_tray

    assert window.tray.visible
    seen: list[str] = []
    _answer_close_question(qtbot, "Keep running", seen)
    assert not window.close(), "kept running"
    assert seen == ["Keep lifelog running in the background?"]
    assert not window.isVisible() and close_to_tray(data_dir) is True
    assert window.notifier.sent[-1].title == "lifelog is still running"
    window.tray.open_action.trigger()
    assert window.isVisible()
    assert not window.close(), "asked once: the second close hides without a question"
    assert seen == ["Keep lifelog running in the background?"] and not window.isVisible()
    window.tray.open_action.trigger()
    settings = window.page("settings")
    assert settings.close_to_tray_box.isEnabled() and settings.close_to_tray_box.isChecked()
    settings.close_to_tray_box.setChecked(False)  # changed in Settings: closing quits now
    assert close_to_tray(data_dir) is False
    assert window.close() and not window.isVisible()


def test_answering_quit_quits_and_is_remembered(with_tray: None, window: Any, data_dir: Path, qtbot: Any) -> None:
    from lifelog.api.background import close_to_tray

    seen: list[str] = []
    _answer_close_question(qtbot, "Quit", seen)
    assert window.close() and len(seen) == 1
    assert close_to_tray(data_dir) is False


def test_the_trays_quit_quits_even_when_closing_hides(with_tray: None, window: Any, data_dir: Path) -> None:
    from lifelog.api.background import set_close_to_tray

    set_close_to_tray(data_dir, True)
    window.tray.quit_action.trigger()
    assert not window.isVisible() and window.quitting
    assert not window.tray.icon.isVisible(), "the icon goes with the app"


def test_the_icon_follows_the_one_pause_and_the_menu_pauses_and_resumes(
        with_tray: None, window: Any, data_dir: Path, qtbot: Any) -> None:
    from lifelog.api.capture import CaptureWatch, pause, resume

    tray = window.tray
    qtbot.waitUntil(lambda: tray.state == "idle", timeout=WAIT)
    idle_icon = tray.icon.icon().cacheKey()
    tray.pause_action.trigger()  # the menu's Pause: the capture pause of lifelog.api.capture
    assert CaptureWatch(data_dir).state().paused
    assert tray.state == "paused" and tray.pause_action.text() == "Resume capture"
    assert tray.icon.icon().cacheKey() != idle_icon and "paused" in tray.icon.toolTip().lower()
    assert "paused" in window.capture_toggle.text().lower() or qtbot.waitUntil(
        lambda: "paused" in window.capture_toggle.text().lower(), timeout=WAIT) is None
    tray.pause_action.trigger()
    assert not CaptureWatch(data_dir).state().paused and tray.state == "idle"
    pause(data_dir)  # from elsewhere (`lifelog pause`): the icon follows within its poll
    qtbot.waitUntil(lambda: tray.state == "paused", timeout=WAIT)
    resume(data_dir)
    qtbot.waitUntil(lambda: tray.state == "idle", timeout=WAIT)


def test_one_state_wins_when_several_hold() -> None:
    from ui.tray import tray_state

    assert tray_state(paused=True, recording=True, receiving=True, consolidating=True) == "paused"
    assert tray_state(paused=False, recording=True, receiving=True, consolidating=True) == "recording"
    assert tray_state(paused=False, recording=False, receiving=True, consolidating=True) == "receiving"
    assert tray_state(paused=False, recording=False, receiving=False, consolidating=True) == "consolidating"
    assert tray_state(paused=False, recording=False, receiving=False, consolidating=False) == "idle"


def test_notifications_for_pairing_sync_and_localsend_and_quiet_when_off(window: Any, data_dir: Path) -> None:
    from lifelog.api.background import notifications_on
    from lifelog.api.devices import LocalSendSender, ReceiverEvent
    from ui.pages.devices.wifi import ApprovalRequest

    window.notifier.desktop = None  # no D-Bus session here: the status bar carries them (no tray offscreen)
    wifi = window.page("devices").wifi
    wifi.receiver_event.emit(ReceiverEvent("paired", "paired 'Pixel'", "dev-1", {"name": "Pixel"}))
    sender = LocalSendSender(alias="Sam's phone", fingerprint="f" * 64, device_model="Pixel", device_type="mobile",
                             address="192.0.2.7", files=2, total_bytes=2048)
    wifi.approval_asked.emit(ApprovalRequest(sender))
    window.status("GoPro: took 3 new files")
    window.ctx.changed("synced")
    kinds = [(s.kind, s.body) for s in window.notifier.sent]
    assert ("pairing", "Pixel is paired and can send footage.") in kinds
    assert any(k == "localsend" and "Sam's phone wants to send files" in b for k, b in kinds)
    assert ("sync", "GoPro: took 3 new files") in kinds
    assert all(s.via == "status" for s in window.notifier.sent)
    # turned off in Settings: nothing more is shown
    settings = window.page("settings")
    assert settings.notifications_box.isChecked()
    settings.notifications_box.setChecked(False)
    assert not notifications_on(data_dir)
    n = len(window.notifier.sent)
    wifi.receiver_event.emit(ReceiverEvent("paired", "paired 'Watch'", "dev-2", {"name": "Watch"}))
    window.status("Card: took 1 new file")
    window.ctx.changed("synced")
    assert len(window.notifier.sent) == n, "no notification while they are off"
    assert window.statusBar().currentMessage() == "Card: took 1 new file", "and none in the status bar either"
    wifi.decline_waiting("closed")  # the request this test made is answered (declined)
