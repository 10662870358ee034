"""Connected apps: the grants other programs (a local assistant, a script, an MCP client) use to
read the memory through the local API or MCP server, and what each of them read (issue #17,
docs/mcp.md, docs/app.md).

* The list: every grant with what it may read, when it expires and when it was last used
  (its latest access-log entry), revoked and expired ones included (greyed).
* **Add…**: a dialog — a name, what it may read (plain-language checkboxes for the scopes),
  how many days it lasts, people it must never see (picked from the people list) and an optional
  period. The new token is shown **once**, with Copy and a warning; only its hash is kept.
* **Revoke**: at once; the very next request with its token is refused.
* The access log of the selected grant: time, over what, what was asked or read, the outcome.

Grants live in ``grants.json`` under their own file lock (not the memory's write lock), so these
calls run on the read pool and never wait behind a long import or consolidation pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from lifelog.api.grants import KINDS, Grant, grants_of, read_log
from ui.context import AppContext
from ui.qt import (
    QApplication,
    QCheckBox,
    QDate,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    Qt,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import ERROR_STYLE, error_line, guarded, heading, muted, when

#: What each scope lets a client read, in plain words (the order of the dialog's checkboxes).
SCOPE_LABELS: dict[str, str] = {
    "ask": "Ask questions about my memory and get answers",
    "search": "Search my moments by words",
    "episodes": "See my days and moments (times and descriptions)",
    "people": "See the people I met (names)",
    "objects": "See everyday things and where they were seen",
    "transcripts": "Read what was said (transcripts)",
    "thumbnails": "See pictures (small thumbnails)",
    "profile": "Read my memory profile",
    "status": "See the memory's status (counts, last pass)",
}
DEFAULT_SCOPES = ("ask", "search", "episodes")
OP_WORDS = {"ask": "asked", "search": "searched", "days": "listed days", "episodes": "listed moments",
            "episode": "opened a moment", "thumbnail": "got a picture", "people": "listed people",
            "objects": "listed things", "profile": "read the profile", "status": "read the status",
            "auth": "tried to connect"}
OUTCOME_WORDS = {"ok": "answered", "refused": "refused", "not_found": "not found", "bad_request": "bad request",
                 "error": "failed"}


@dataclass(frozen=True)
class NewGrant:
    """What the Add dialog asks for."""

    name: str
    scopes: list[str]
    days: int | None
    exclude_people: list[str]
    period_start: datetime | None
    period_end: datetime | None


def _scope_words(scopes: frozenset[str] | set[str]) -> str:
    return ", ".join(s for s in KINDS if s in scopes)


class AddGrantDialog(QDialog):
    """Name, scopes, days, excluded people and an optional period of a new grant."""

    def __init__(self, people: list[tuple[str, str]], tz: Any, today: date, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect an app")
        self.tz = tz
        self.result_grant: NewGrant | None = None
        lay = QVBoxLayout(self)
        lay.addWidget(muted("The app gets its own token. It can only read what you tick here, never change "
                            "anything, and every request it makes is logged for you to read."))
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. my-assistant")
        form.addRow("Name", self.name)
        self.days = QSpinBox()
        self.days.setRange(1, 3650)
        self.days.setValue(30)
        self.days.setSuffix(" days")
        self.forever = QCheckBox("until I revoke it")
        self.forever.toggled.connect(lambda on: self.days.setEnabled(not on))
        drow = QHBoxLayout()
        drow.addWidget(self.days)
        drow.addWidget(self.forever)
        drow.addStretch(1)
        form.addRow("Lasts", drow)
        lay.addLayout(form)

        scopes = QGroupBox("It may")
        sl = QVBoxLayout(scopes)
        self.scope_boxes: dict[str, QCheckBox] = {}
        for kind in KINDS:
            box = QCheckBox(SCOPE_LABELS.get(kind, kind))
            box.setToolTip(f"scope: {kind}")
            box.setChecked(kind in DEFAULT_SCOPES)
            self.scope_boxes[kind] = box
            sl.addWidget(box)
        lay.addWidget(scopes)

        who = QGroupBox("Never show these people (nor the moments they are in)")
        wl = QVBoxLayout(who)
        self.people = QListWidget()
        self.people.setMaximumHeight(110)
        for pid, label in people:
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, pid)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.people.addItem(item)
        if not people:
            wl.addWidget(muted("No people in the memory yet."))
        wl.addWidget(self.people)
        lay.addWidget(who)

        period = QGroupBox("Only moments in a period")
        period.setCheckable(True)
        period.setChecked(False)
        self.period = period
        pl = QHBoxLayout(period)
        qtoday = QDate(today.year, today.month, today.day)
        self.start = QDateEdit(qtoday.addDays(-30))
        self.end = QDateEdit(qtoday)
        for d in (self.start, self.end):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
        pl.addWidget(QLabel("from"))
        pl.addWidget(self.start)
        pl.addWidget(QLabel("to"))
        pl.addWidget(self.end)
        pl.addStretch(1)
        lay.addWidget(period)

        self.error = error_line()
        lay.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Create token")
        self.buttons.accepted.connect(self.check_and_accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)

    def choose_person(self, person_id: str, excluded: bool = True) -> None:
        for i in range(self.people.count()):
            item = self.people.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == person_id:
                item.setCheckState(Qt.CheckState.Checked if excluded else Qt.CheckState.Unchecked)

    def value(self) -> NewGrant | str:
        """The grant asked for, or what is wrong with the form."""
        name = self.name.text().strip()
        if not name:
            return "give the app a name"
        scopes = [k for k, b in self.scope_boxes.items() if b.isChecked()]
        if not scopes:
            return "tick at least one thing it may do"
        people = [str(self.people.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.people.count())
                  if self.people.item(i).checkState() == Qt.CheckState.Checked]
        start = end = None
        if self.period.isChecked():
            a, b = self.start.date().toPython(), self.end.date().toPython()
            assert isinstance(a, date) and isinstance(b, date)
            if b < a:
                return "the period must end on or after the day it starts"
            start = datetime.combine(a, time(0), tzinfo=self.tz)
            end = datetime.combine(b, time(0), tzinfo=self.tz) + timedelta(days=1)
        days = None if self.forever.isChecked() else int(self.days.value())
        return NewGrant(name, scopes, days, people, start, end)

    def check_and_accept(self) -> None:
        got = self.value()
        if isinstance(got, str):
            self.error.setText(f"Not yet: {got}.")
            self.error.setVisible(True)
            return
        self.result_grant = got
        self.accept()


class TokenDialog(QDialog):
    """The new token, once: Copy, and a warning that it will not be shown again."""

    def __init__(self, name: str, token: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Token for {name}")
        self.setMinimumWidth(560)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Give this token to <b>{name}</b> (its settings, or an MCP client's "
                             "configuration: see docs/mcp.md)."))
        self.field = QLineEdit(token)
        self.field.setReadOnly(True)
        self.field.setObjectName("grant_token")
        row = QHBoxLayout()
        row.addWidget(self.field, 1)
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(self.copy)
        row.addWidget(self.copy_button)
        lay.addLayout(row)
        warn = QLabel("This token will not be shown again: lifelog keeps only a fingerprint of it. "
                      "If it is lost, revoke this app and add it again.")
        warn.setWordWrap(True)
        warn.setStyleSheet(ERROR_STYLE)
        lay.addWidget(warn)
        self.copied = QLabel("")
        lay.addWidget(self.copied)
        done = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        done.rejected.connect(self.reject)
        done.accepted.connect(self.accept)
        lay.addWidget(done)

    def copy(self) -> None:
        QApplication.clipboard().setText(self.field.text())
        self.copied.setText("Copied to the clipboard.")

    def done(self, r: int) -> None:
        self.field.clear()  # the token is not kept in the window once the dialog closes
        super().done(r)


class ConnectedPage(QWidget):
    """The Connected apps page (``ui/app.py`` registers it as "connected")."""

    title = "Connected apps"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.read_only = False
        self.grants_store = grants_of(ctx.memory)
        self.grants: list[Grant] = []
        self.last_used: dict[str, str] = {}
        self.log: list[dict[str, Any]] = []
        self.log_for: str | None = None
        self.loaded = False
        self.token_dialog: TokenDialog | None = None  # open while a new token is shown
        self.add_dialog_shown: AddGrantDialog | None = None  # the Add dialog while it is open

        lay = QVBoxLayout(self)
        lay.addWidget(heading("Connected apps"))
        lay.addWidget(muted("Programs you allow to read your memory through the local API or MCP server "
                            "(`lifelog api`, `lifelog mcp`): each has its own token, reads only what you "
                            "chose, changes nothing, and every request is logged below."))
        row = QHBoxLayout()
        self.add_button = QPushButton("Add…")
        self.add_button.clicked.connect(self.add_dialog)
        self.revoke_button = QPushButton("Revoke")
        self.revoke_button.setEnabled(False)
        self.revoke_button.setToolTip("Its next request is refused")
        self.revoke_button.clicked.connect(self.revoke_selected)
        self.reload_button = QPushButton("Reload")
        self.reload_button.clicked.connect(self.reload)
        row.addWidget(self.add_button)
        row.addWidget(self.revoke_button)
        row.addStretch(1)
        row.addWidget(self.reload_button)
        lay.addLayout(row)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        lay.addWidget(self.message)

        split = QSplitter(Qt.Orientation.Vertical)
        self.table = QTreeWidget()
        self.table.setHeaderLabels(["Name", "May read", "Expires", "Last used", "State"])
        self.table.setRootIsDecorated(False)
        for i, w in enumerate((170, 360, 170, 170)):
            self.table.setColumnWidth(i, w)
        self.table.currentItemChanged.connect(self._selected)
        split.addWidget(self.table)
        box = QWidget()
        bl = QVBoxLayout(box)
        bl.setContentsMargins(0, 0, 0, 0)
        self.log_title = QLabel("Access log: select an app above.")
        bl.addWidget(self.log_title)
        self.log_list = QTreeWidget()
        self.log_list.setHeaderLabels(["When", "Over", "What", "Outcome"])
        self.log_list.setRootIsDecorated(False)
        for i, w in enumerate((170, 60, 480)):
            self.log_list.setColumnWidth(i, w)
        bl.addWidget(self.log_list, 1)
        split.addWidget(box)
        split.setSizes([300, 300])
        lay.addWidget(split, 1)
        self.reload()

    # ------------------------------------------------------------------ list
    def reload(self) -> None:
        mem, store = self.ctx.memory, self.grants_store

        def work() -> tuple[list[Grant], dict[str, str]]:
            grants = store.list()
            last: dict[str, str] = {}
            for entry in read_log(mem):  # oldest first: the latest wins
                last[str(entry.get("grant"))] = str(entry.get("at"))
            return grants, last

        self.ctx.tasks.read(work, guarded(self, self._show), guarded(self, self._failed))

    def _failed(self, message: str) -> None:
        self.loaded = True
        self.message.setText(f"Could not read the grants: {message}")

    def _show(self, got: tuple[list[Grant], dict[str, str]]) -> None:
        grants, last = got
        keep = self.selected_id()
        self.grants, self.last_used, self.loaded = grants, last, True
        tz = self.ctx.memory.tz
        now = datetime.now(UTC)
        self.table.blockSignals(True)
        self.table.clear()
        current = None
        for g in sorted(grants, key=lambda g: (g.state(now) != "active", g.created)):
            state = g.state(now)
            used = last.get(g.id)
            item = QTreeWidgetItem([
                g.name, _scope_words(g.scopes),
                when(g.expires, tz) if g.expires else "never (until revoked)",
                when(datetime.fromisoformat(used), tz) if used else "never",
                {"active": "active", "expired": "expired", "revoked": "revoked"}[state],
            ])
            item.setData(0, Qt.ItemDataRole.UserRole, g.id)
            extra = []
            if g.exclude_people:
                extra.append(f"never shows {len(g.exclude_people)} person(s)")
            if g.period_start or g.period_end:
                a = when(g.period_start, tz) if g.period_start else "the start"
                b = when(g.period_end, tz) if g.period_end else "now"
                extra.append(f"only moments from {a} to {b}")
            item.setToolTip(1, "; ".join([_scope_words(g.scopes), *extra]))
            if state != "active":
                for col in range(5):
                    item.setForeground(col, self.palette().mid())
            self.table.addTopLevelItem(item)
            if g.id == keep:
                current = item
        self.table.blockSignals(False)
        if not grants:
            self.message.setText("No app is connected. Add… creates a token for one.")
        if current is not None:
            self.table.setCurrentItem(current)
        self._update_buttons()
        if self.log_for is not None:
            self.show_log(self.log_for)

    def selected_id(self) -> str | None:
        item = self.table.currentItem()
        return str(item.data(0, Qt.ItemDataRole.UserRole)) if item is not None else None

    def select(self, grant_id: str) -> None:
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == grant_id:
                self.table.setCurrentItem(item)

    def _selected(self, current: QTreeWidgetItem | None, _prev: QTreeWidgetItem | None) -> None:
        self._update_buttons()
        if current is not None:
            self.show_log(str(current.data(0, Qt.ItemDataRole.UserRole)))

    def _grant(self, grant_id: str | None) -> Grant | None:
        return next((g for g in self.grants if g.id == grant_id), None)

    def _update_buttons(self) -> None:
        g = self._grant(self.selected_id())
        self.revoke_button.setEnabled(g is not None and g.revoked is None)

    # ------------------------------------------------------------------ log
    def show_log(self, grant_id: str) -> None:
        mem = self.ctx.memory
        self.log_for = grant_id

        def done(entries: list[dict[str, Any]]) -> None:
            if grant_id == self.log_for:
                self._show_log(grant_id, entries)

        self.ctx.tasks.read(lambda: read_log(mem, grant_id), guarded(self, done), guarded(self, self._failed))

    def _show_log(self, grant_id: str, entries: list[dict[str, Any]]) -> None:
        self.log = entries
        g = self._grant(grant_id)
        name = g.name if g else grant_id
        self.log_title.setText(f"Access log of {name}: {len(entries)} request{'s' if len(entries) != 1 else ''}"
                               + (" (newest first)." if entries else "."))
        tz = self.ctx.memory.tz
        self.log_list.clear()
        for e in reversed(entries):
            try:
                at = when(datetime.fromisoformat(str(e.get("at"))), tz)
            except ValueError:
                at = str(e.get("at"))
            self.log_list.addTopLevelItem(QTreeWidgetItem([at, str(e.get("via", "")), self.describe(e),
                                                           self.outcome(e)]))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        """What was asked or read, in words: ``asked “when did I last see my keys?” — 2 moments``."""
        op = str(entry.get("op", ""))
        text = OP_WORDS.get(op, op)
        if entry.get("question"):
            text += f" \u201c{entry['question']}\u201d"
        eps = entry.get("episodes") or []
        counts = {k: v for k, v in (entry.get("counts") or {}).items() if isinstance(v, int)}
        got = [f"{len(eps)} moment{'s' if len(eps) != 1 else ''}"] if eps else []
        got += [f"{v} {k}" for k, v in counts.items() if v and not (eps and k in ("episodes", "hits"))]
        return text + (" — " + ", ".join(got) if got else "")

    @staticmethod
    def outcome(entry: dict[str, Any]) -> str:
        words = OUTCOME_WORDS.get(str(entry.get("outcome")), str(entry.get("outcome")))
        if entry.get("detail"):
            words += f": {entry['detail']}"
        return words

    # ------------------------------------------------------------------ add / revoke
    def add_dialog(self) -> None:
        """Open the Add dialog (non-blocking) once the people list is read; creating happens when
        it is accepted."""
        mem = self.ctx.memory

        def work() -> list[tuple[str, str]]:
            return [(p.id, p.name or f"someone not named yet ({p.id})") for p in mem.people()]

        def failed(message: str) -> None:  # the dialog still works without the list
            self.message.setText(f"The people list could not be read: {message}")
            self._open_add([])

        self.add_button.setEnabled(False)
        self.ctx.tasks.read(work, guarded(self, self._open_add), guarded(self, failed))

    def _open_add(self, people: list[tuple[str, str]]) -> None:
        self.add_button.setEnabled(True)
        dlg = AddGrantDialog(people, self.ctx.memory.tz, self.ctx.now().date(), self)
        dlg.accepted.connect(lambda: self.create_grant(dlg.result_grant) if dlg.result_grant else None)
        dlg.finished.connect(lambda _r: setattr(self, "add_dialog_shown", None))
        self.add_dialog_shown = dlg
        dlg.open()

    def create_grant(self, new: NewGrant) -> None:
        store = self.grants_store

        def work() -> tuple[Grant, str]:
            return store.add(new.name, new.scopes, days=new.days, exclude_people=new.exclude_people,
                             period_start=new.period_start, period_end=new.period_end)

        def done(got: tuple[Grant, str]) -> None:
            grant, token = got
            self.message.setText(f"{grant.name} is connected. Its token is shown once.")
            self.ctx.status(f"Connected app added: {grant.name}")
            self.show_token(grant.name, token)
            self.reload()
            self.log_for = grant.id

        def failed(message: str) -> None:
            self.message.setText(f"Not added: {message}")

        self.ctx.tasks.read(work, guarded(self, done), guarded(self, failed))

    def show_token(self, name: str, token: str) -> TokenDialog:
        dlg = TokenDialog(name, token, self)
        self.token_dialog = dlg
        dlg.finished.connect(lambda _r: setattr(self, "token_dialog", None))
        dlg.open()
        return dlg

    def revoke_selected(self) -> None:
        g = self._grant(self.selected_id())
        if g is None or g.revoked is not None:
            return
        store, gid = self.grants_store, g.id

        def done(revoked: Grant) -> None:
            self.message.setText(f"{revoked.name} was revoked: its token is refused from now on. "
                                 "Its access log stays readable.")
            self.ctx.status(f"Revoked: {revoked.name}")
            self.reload()

        def failed(message: str) -> None:
            self.message.setText(f"Not revoked: {message}")

        self.revoke_button.setEnabled(False)
        self.ctx.tasks.read(lambda: store.revoke(gid), guarded(self, done), guarded(self, failed))

    def on_changed(self, what: str) -> None:
        if what in ("forgotten", "grants"):
            self.reload()
