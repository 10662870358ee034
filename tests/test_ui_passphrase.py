"""The app asks for the memory's passphrase where no OS keyring exists and none is set
(issue #13 part 4): the dialog is driven as a person would, with pytest-qt."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from lifelog.api import Memory
from lifelog.api.errors import VaultLockedError
from lifelog.api.keys import key_mode

OK = QDialogButtonBox.StandardButton.Ok


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch, keep_env: None) -> None:
    from lifelog.api import keys as api_keys
    from lifelog.store import vault as vault_mod

    monkeypatch.setattr(vault_mod, "keyring_usable", lambda: False)
    monkeypatch.setattr(api_keys, "keyring_usable", lambda: False)
    monkeypatch.delenv("LIFELOG_PASSPHRASE", raising=False)


def _driver(qtbot: Any, attempts: list[tuple[str, str]], seen: list[str]) -> Any:
    """Types each (passphrase, again) and presses OK, noting the error shown after each."""

    def run(dlg: Any) -> int:
        qtbot.addWidget(dlg)
        for value, again in attempts:
            dlg.passphrase_edit.clear()
            qtbot.keyClicks(dlg.passphrase_edit, value)
            if dlg.new:
                dlg.confirm_edit.clear()
                qtbot.keyClicks(dlg.confirm_edit, again)
            dlg.buttons.button(OK).click()
            seen.append(dlg.error_label.text())
            if dlg.result():
                break
        return int(dlg.result())

    return run


def test_first_run_sets_a_passphrase_asking_twice(qtbot: Any, data_dir: Path, no_keyring: None) -> None:
    from ui.passphrase import open_memory_asking

    seen: list[str] = []
    mem = open_memory_asking(data_dir, run=_driver(qtbot, [("horse battery", "horse batery"),
                                                           ("horse battery", "horse battery")], seen))
    assert mem is not None
    assert len(seen) == 2 and "differ" in seen[0]  # refused first, accepted the second time
    assert key_mode(data_dir) == "passphrase"
    assert os.environ["LIFELOG_PASSPHRASE"] == "horse battery"  # for this process's workers
    with pytest.raises(VaultLockedError):
        Memory(data_dir, passphrase="something else")
    assert Memory(data_dir, passphrase="horse battery").episodes() == []


def test_an_existing_memory_is_unlocked_a_wrong_passphrase_is_said(
    qtbot: Any, data_dir: Path, no_keyring: None
) -> None:
    from ui.passphrase import open_memory_asking

    Memory(data_dir, passphrase="the right one")
    seen: list[str] = []
    mem = open_memory_asking(data_dir, run=_driver(qtbot, [("the wrong one", ""), ("the right one", "")], seen))
    assert mem is not None
    assert "not the passphrase" in seen[0]
    assert mem.episodes() == []


def test_cancel_opens_nothing(qtbot: Any, data_dir: Path, no_keyring: None) -> None:
    from ui.passphrase import open_memory_asking

    def run(dlg: Any) -> int:
        qtbot.addWidget(dlg)
        dlg.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
        return int(dlg.result())

    assert open_memory_asking(data_dir, run=run) is None
    assert key_mode(data_dir) is None
