"""Asking for the memory's passphrase where no OS keyring can hold its key (docs/privacy.md).

When the memory is protected by a passphrase, or it is new and no keyring is usable, and
``LIFELOG_PASSPHRASE`` is not set, :func:`open_memory_asking` shows :class:`PassphraseDialog`:
one field to unlock an existing memory (a wrong passphrase is said in the dialog, which stays
open), two fields on first run (the passphrase, then again). Once it opens, the passphrase is
kept in this process's environment only, so the app's own workers that open the memory again
(imports) can; it is never written anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from lifelog.api import Memory
from lifelog.api.errors import VaultLockedError
from lifelog.api.keys import PASSPHRASE_ENV, key_mode, needs_passphrase

MIN_LENGTH = 8  # for a new passphrase only: the passphrase is the weak link, not the KDF


class PassphraseDialog(QDialog):
    """The passphrase of one memory. ``check(passphrase)`` returns why it is refused (the dialog
    stays open and says so) or None (the dialog closes, accepted)."""

    def __init__(self, folder: Path, *, new: bool, check: Callable[[str], str | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.new = new
        self._check = check
        self.setWindowTitle("Set a passphrase for your memory" if new else "Unlock your memory")
        lay = QVBoxLayout(self)
        if new:
            text = (f"No system keyring is available to keep the key of the memory at {folder}.\n"
                    "Choose a passphrase: it protects everything lifelog keeps. Without it the memory "
                    "cannot be opened — nobody can recover it for you.")
        else:
            text = f"The memory at {folder} is protected by a passphrase."
        intro = QLabel(text)
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.passphrase_edit = QLineEdit()
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase_edit.setPlaceholderText("Passphrase")
        lay.addWidget(self.passphrase_edit)
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm_edit.setPlaceholderText("The same passphrase again")
        self.confirm_edit.setVisible(new)
        lay.addWidget(self.confirm_edit)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020")
        lay.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self._value = ""

    def passphrase(self) -> str:
        return self._value

    def _submit(self) -> None:
        value = self.passphrase_edit.text()
        if not value:
            self._refuse("Type the passphrase.")
            return
        if self.new:
            if len(value) < MIN_LENGTH:
                self._refuse(f"Use at least {MIN_LENGTH} characters.")
                return
            if self.confirm_edit.text() != value:
                self._refuse("The two passphrases differ.")
                self.confirm_edit.clear()
                return
        why = self._check(value)
        if why is not None:
            self._refuse(why)
            self.passphrase_edit.clear()
            self.confirm_edit.clear()
            return
        self._value = value
        self.accept()

    def _refuse(self, why: str) -> None:
        self.error_label.setText(why)
        self.passphrase_edit.setFocus()


def open_memory_asking(
    folder: Path,
    parent: QWidget | None = None,
    run: Callable[[PassphraseDialog], int] | None = None,
) -> Memory | None:
    """Open the memory in ``folder``, asking for its passphrase when one is needed and
    ``LIFELOG_PASSPHRASE`` is not set; None when the person cancels. ``run`` shows the dialog
    (``exec`` by default; tests drive it). Other failures raise as :class:`Memory` does."""
    if os.environ.get(PASSPHRASE_ENV) or not needs_passphrase(folder):
        return Memory(folder)
    opened: list[Memory] = []

    def check(value: str) -> str | None:
        try:
            opened.append(Memory(folder, passphrase=value))
        except VaultLockedError:
            return "That is not the passphrase of this memory."
        return None

    dlg = PassphraseDialog(folder, new=key_mode(folder) is None, check=check, parent=parent)
    (run or (lambda d: d.exec()))(dlg)
    if not dlg.passphrase() or not opened:  # cancelled
        return None
    os.environ[PASSPHRASE_ENV] = dlg.passphrase()  # this process only: workers open the memory again
    return opened[-1]
