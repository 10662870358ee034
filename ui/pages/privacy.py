"""The Settings page's "Privacy" section: the audit log and **Forget everything…**.

The audit log (:meth:`lifelog.api.Memory.audit_log`, read on the read pool) says what kind of
thing was forgotten (or exported, purged), when, and how much — never what it was. **Forget
everything…** forgets the whole memory for good (settings and pairings stay) after the
confirmation of :mod:`ui.forget`, which here also asks the user to type :data:`ui.forget.CONFIRM_WORD`.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, tzinfo
from typing import Any

from lifelog.api.privacy import ForgetRequest
from ui.context import AppContext
from ui.forget import CONFIRM_WORD, forgetter_for
from ui.qt import QGroupBox, QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget
from ui.widgets import error_line, guarded, muted


def audit_line(entry: dict[str, Any], tz: tzinfo | None = None) -> str:
    """``Tue 14 May 2024, 12:00  forget (person): 1 people, 3 faces`` — kinds and counts only."""
    at = str(entry.get("at", "?"))
    with contextlib.suppress(ValueError):
        at = f"{datetime.fromisoformat(at).astimezone(tz):%a %d %b %Y, %H:%M}"
    action = str(entry.get("action", "?"))
    target = entry.get("target")
    counts = entry.get("counts")
    items = sorted(counts.items()) if isinstance(counts, dict) else []
    said = ", ".join(f"{v} {k}" for k, v in items if isinstance(v, int) and v) or "nothing"
    return f"{at}  {action}{f' ({target})' if target else ''}: {said}"


class PrivacySection(QGroupBox):
    """The section (a group box) the Settings page adds: ``PrivacySection(ctx)``."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Privacy", parent)
        self.ctx = ctx
        self.entries: list[dict[str, Any]] = []
        self.loaded = False
        self._token = 0
        lay = QVBoxLayout(self)
        lay.addWidget(muted("What was forgotten (or exported, purged) and when: kinds and counts, never what. "
                            "Forget an episode, a day, a person, an object or a device from its page."))
        self.audit_list = QListWidget()
        self.audit_list.setMaximumHeight(140)
        lay.addWidget(self.audit_list)
        row = QHBoxLayout()
        self.forget_all_btn = QPushButton("Forget everything…")
        self.forget_all_btn.setToolTip("Forget the whole memory for good (settings and pairings stay)")
        self.forget_all_btn.setStyleSheet("QPushButton { color: #a40000; }")
        self.forget_all_btn.clicked.connect(lambda: self.forget_everything())
        row.addWidget(self.forget_all_btn)
        row.addWidget(QLabel(f"asks you to type “{CONFIRM_WORD}” first"), 1)
        lay.addLayout(row)
        self.error = error_line()
        lay.addWidget(self.error)
        self.refresh()

    def refresh(self) -> None:
        self._token += 1
        token = self._token
        mem = self.ctx.memory

        def done(entries: list[dict[str, Any]]) -> None:
            if token == self._token:
                self._render(entries)

        self.ctx.tasks.read(mem.audit_log, guarded(self, done), guarded(self, self._fail))

    def _render(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.loaded = True
        self.audit_list.clear()
        tz = self.ctx.memory.tz
        if not entries:
            self.audit_list.addItem("Nothing forgotten, exported or purged yet.")
        for e in reversed(entries):  # newest first
            self.audit_list.addItem(audit_line(e, tz))

    def _fail(self, msg: str) -> None:
        self.error.setText(msg)
        self.error.setVisible(True)

    def lines(self) -> list[str]:
        return [self.audit_list.item(i).text() for i in range(self.audit_list.count())]

    def forget_everything(self) -> None:
        """Forget the whole memory (asks first, with a typed word)."""
        self.error.setVisible(False)
        forgetter_for(self.ctx).start(ForgetRequest("everything"), "everything", self, self._fail,
                                      word=CONFIRM_WORD)

    def on_changed(self, what: str) -> None:
        if what == "forgotten":
            self.refresh()
