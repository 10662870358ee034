"""The Settings page's "Privacy" section: private mode and redaction, the retention rules, the
trash, the audit log and **Forget everything…**.

**Private mode and redaction** (:class:`CaptureRulesBox`): the quiet-hours windows (add/remove;
start, end as HH:MM, the days they start on — none ticked is every day), the excluded devices
(a checklist of the paired devices, read on the read pool) and the redaction switches and own
sensitive words. **Save** validates them with the core's ``PrivacySettings`` (a bad value is shown
under its row naming the field, nothing is saved) and saves them through the settings API on the
write thread; every capture path obeys them within a second (:mod:`lifelog.api.capture`).

**Retention** (:class:`RetentionBox`): each kind's days (empty keeps it for ever; the trash's
days are required), validated by the core's :class:`lifelog.api.settings.RetentionSettings`
(a bad value is shown under its field and nothing is saved). **Preview** reads
:meth:`lifelog.api.Memory.plan_retention` with the edited rules on the read pool ("will remove
…"); **Apply** saves the rules and applies them now on the write thread (the app also applies
them once at every start).

**Trash** (:class:`TrashBox`): what the Timeline moved to the trash, newest first, with when it
is forgotten for good; **Restore** takes the selected entry back (:mod:`ui.trash`), **Empty
trash…** forgets it all for good after a confirmation.

The audit log (:meth:`lifelog.api.Memory.audit_log`, read on the read pool) says what kind of
thing was forgotten (or exported, purged), when, and how much — never what it was. **Forget
everything…** forgets the whole memory for good (settings and pairings stay) after the
confirmation of :mod:`ui.forget`, which here also asks the user to type :data:`ui.forget.CONFIRM_WORD`.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, tzinfo
from typing import Any

from lifelog.api.capture import PrivacySettings
from lifelog.api.privacy import ForgetRequest, ForgetResult, RetentionPlan, TrashEntry
from lifelog.api.settings import RetentionSettings, save_settings
from ui.context import AppContext
from ui.forget import CONFIRM_WORD, forgetter_for
from ui.qt import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
)
from ui.trash import trasher_for
from ui.widgets import ERROR_STYLE, error_line, guarded, muted, span

RULES = ["everything_days", "originals_days", "thumbnails_days", "transcripts_days", "faces_days",
         "stranger_faces_days", "trash_days"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ROLE_ID = Qt.ItemDataRole.UserRole


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
        self.rules = CaptureRulesBox(ctx)
        lay.addWidget(self.rules)
        self.retention = RetentionBox(ctx)
        lay.addWidget(self.retention)
        self.trash = TrashBox(ctx)
        lay.addWidget(self.trash)
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
            self.trash.refresh()
        if what == "settings":
            self.retention.revert()
            self.rules.revert()
        if what in ("devices", "episodes"):  # (a sync after pairing says "episodes")
            self.rules.refresh_devices()


class QuietRow(QWidget):
    """One quiet-hours window: From, Until, the days it starts on, Remove; its error below."""

    def __init__(self, box: CaptureRulesBox, start: str = "22:00", end: str = "07:00",
                 days: list[str] | None = None) -> None:
        super().__init__()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.start = QLineEdit(start)
        self.start.setObjectName("quiet_start")
        self.start.setPlaceholderText("HH:MM")
        self.start.setMaximumWidth(70)
        self.end = QLineEdit(end)
        self.end.setObjectName("quiet_end")
        self.end.setPlaceholderText("HH:MM")
        self.end.setMaximumWidth(70)
        row.addWidget(QLabel("From"))
        row.addWidget(self.start)
        row.addWidget(QLabel("until"))
        row.addWidget(self.end)
        self.days: dict[str, QCheckBox] = {}
        for d in DAYS:
            cb = QCheckBox(d)
            cb.setChecked(bool(days) and d in (days or []))
            row.addWidget(cb)
            self.days[d] = cb
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(lambda: box.remove_window(self))
        row.addWidget(self.remove_button)
        row.addStretch(1)
        outer.addLayout(row)
        self.error = QLabel("")
        self.error.setObjectName("quiet_error")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()
        outer.addWidget(self.error)

    def value(self) -> dict[str, Any]:
        days = [d for d, cb in self.days.items() if cb.isChecked()]
        return {"start": self.start.text().strip(), "end": self.end.text().strip(), "days": days or None}


class CaptureRulesBox(QGroupBox):
    """Private mode (quiet hours, excluded devices) and redaction: edit, validate, Save."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Private mode and redaction", parent)
        self.ctx = ctx
        self.rows: list[QuietRow] = []
        self.device_ids: list[str] = []  # the paired devices listed in the checklist
        self.device_names: dict[str, str] = {}
        self._token = 0
        self._rendered = False
        info = PrivacySettings.model_fields
        lay = QVBoxLayout(self)
        lay.addWidget(muted(info["quiet_hours"].description or ""))
        self.rows_box = QVBoxLayout()
        lay.addLayout(self.rows_box)
        self.empty_label = muted("No quiet hours: capture runs whenever it is on.")
        lay.addWidget(self.empty_label)
        add = QHBoxLayout()
        self.add_button = QPushButton("Add quiet hours")
        self.add_button.clicked.connect(lambda: self.add_window())
        add.addWidget(self.add_button)
        add.addStretch(1)
        lay.addLayout(add)
        self.quiet_error = error_line()  # a problem with the list itself (too many windows)
        lay.addWidget(self.quiet_error)

        lay.addWidget(QLabel(info["excluded_devices"].title or "Excluded devices"))
        lay.addWidget(muted(info["excluded_devices"].description or ""))
        self.devices = QListWidget()
        self.devices.setObjectName("excluded_devices")
        self.devices.setMaximumHeight(120)
        lay.addWidget(self.devices)
        self.devices_error = error_line()
        lay.addWidget(self.devices_error)

        self.blur = QCheckBox(info["blur_bystanders"].title or "blur_bystanders")
        self.blur.setToolTip(info["blur_bystanders"].description or "")
        self.redact = QCheckBox(info["redact_sensitive_text"].title or "redact_sensitive_text")
        self.redact.setToolTip(info["redact_sensitive_text"].description or "")
        lay.addWidget(self.blur)
        lay.addWidget(self.redact)
        form = QFormLayout()
        self.words = QLineEdit()
        self.words.setObjectName("sensitive_words")
        self.words.setPlaceholderText("e.g. password, Acme Bank (separated by commas)")
        self.words.setToolTip(info["sensitive_words"].description or "")
        self.words_error = error_line()
        cell = QWidget()
        cl = QVBoxLayout(cell)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.words)
        cl.addWidget(self.words_error)
        form.addRow(info["sensitive_words"].title or "sensitive_words", cell)
        lay.addLayout(form)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("privacy_save")
        self.save_button.setToolTip("Save these rules; every capture path obeys them within a second")
        self.save_button.clicked.connect(lambda: self.save())
        row.addWidget(self.save_button)
        self.result = QLabel("")
        self.result.setObjectName("privacy_result")
        self.result.setWordWrap(True)
        row.addWidget(self.result, 1)
        lay.addLayout(row)
        self.revert()
        self.refresh_devices()

    # ------------------------------------------------------------ the form
    def add_window(self, start: str = "22:00", end: str = "07:00", days: list[str] | None = None) -> QuietRow:
        r = QuietRow(self, start, end, days)
        self.rows.append(r)
        self.rows_box.addWidget(r)
        self.empty_label.setVisible(False)
        return r

    def remove_window(self, r: QuietRow) -> None:
        if r in self.rows:
            self.rows.remove(r)
            self.rows_box.removeWidget(r)
            r.hide()
            r.deleteLater()
        self.empty_label.setVisible(not self.rows)

    def revert(self) -> None:
        p = self.ctx.memory.settings.privacy
        for r in list(self.rows):
            self.remove_window(r)
        for w in p.quiet_hours:
            self.add_window(w.start, w.end, w.days)
        self.empty_label.setVisible(not self.rows)
        self.blur.setChecked(p.blur_bystanders)
        self.redact.setChecked(p.redact_sensitive_text)
        self.words.setText(", ".join(p.sensitive_words))
        self._render_devices(self.device_ids, list(p.excluded_devices))
        self._clear_errors()

    def refresh_devices(self) -> None:
        self._token += 1
        token = self._token
        data_dir = self.ctx.memory.data_dir

        def load() -> dict[str, str]:
            from lifelog.api.devices import load_devices

            return {r.id: f"{r.name} ({r.kind_name}, {r.id})" for r in load_devices(data_dir, roots=[]).rows
                    if not r.revoked}

        def done(names: dict[str, str]) -> None:
            if token == self._token:
                self.device_names = names
                self._render_devices(list(names))

        self.ctx.tasks.read(load, guarded(self, done), guarded(self, lambda m: None))

    def _render_devices(self, ids: list[str], excluded: list[str] | None = None) -> None:
        """The paired devices (and any excluded id no longer paired), ticked when excluded
        (``excluded``; default: as ticked now, or as saved before the first render)."""
        if excluded is None:
            excluded = self.excluded() if self._rendered else list(self.ctx.memory.settings.privacy.excluded_devices)
        self._rendered = True
        self.device_ids = list(ids)
        self.devices.clear()
        for dev in [*ids, *(d for d in excluded if d not in ids)]:
            item = QListWidgetItem(self.device_names.get(dev, dev) if dev in ids else f"{dev} (no longer paired)")
            item.setData(ROLE_ID, dev)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if dev in excluded else Qt.CheckState.Unchecked)
            self.devices.addItem(item)
        if not self.devices.count():
            none = QListWidgetItem("No paired devices.")
            self.devices.addItem(none)

    def excluded(self) -> list[str]:
        out: list[str] = []
        for i in range(self.devices.count()):
            item = self.devices.item(i)
            dev = item.data(ROLE_ID)
            if isinstance(dev, str) and item.checkState() == Qt.CheckState.Checked:
                out.append(dev)
        return out

    def _clear_errors(self) -> None:
        for r in self.rows:
            r.error.hide()
        for e in (self.quiet_error, self.devices_error, self.words_error):
            e.setVisible(False)
        self.result.setText("")

    def privacy(self) -> PrivacySettings | None:
        """The edited rules, validated; None with every problem shown where it is, naming the field."""
        from pydantic import ValidationError

        self._clear_errors()
        raw = self.ctx.memory.settings.privacy.model_dump()
        raw.update(
            quiet_hours=[r.value() for r in self.rows],
            excluded_devices=self.excluded(),
            blur_bystanders=self.blur.isChecked(),
            redact_sensitive_text=self.redact.isChecked(),
            sensitive_words=[w.strip() for w in self.words.text().split(",") if w.strip()],
        )
        try:
            return PrivacySettings.model_validate(raw)
        except ValidationError as e:
            for problem in e.errors():
                loc = [str(x) for x in problem["loc"]]
                msg = str(problem["msg"]).removeprefix("Value error, ")
                self._show_error(loc, msg)
            self.result.setText("Not saved: correct the values marked in red.")
            return None

    def _show_error(self, loc: list[str], msg: str) -> None:
        if loc[:1] == ["quiet_hours"] and len(loc) >= 2 and loc[1].isdigit() and int(loc[1]) < len(self.rows):
            r = self.rows[int(loc[1])]
            field = {"start": "from", "end": "until", "days": "days"}.get(loc[2] if len(loc) > 2 else "", "")
            prefix = f"quiet hours {int(loc[1]) + 1}" + (f", {field}" if field else "")
            r.error.setText(f"{prefix}: {msg}")
            r.error.show()
            return
        label = {"quiet_hours": self.quiet_error, "excluded_devices": self.devices_error}.get(
            loc[0] if loc else "", self.words_error)
        name = (PrivacySettings.model_fields[loc[0]].title or loc[0]) if loc and loc[0] in \
            PrivacySettings.model_fields else "privacy"
        label.setText(f"{name.lower()}: {msg}")
        label.setVisible(True)

    def save(self) -> None:
        new = self.privacy()
        if new is None:
            return
        mem = self.ctx.memory
        if new == mem.settings.privacy:
            self.result.setText("Nothing changed.")
            return
        self.save_button.setEnabled(False)
        self.result.setText("Saving…")

        def work() -> None:
            settings = mem.settings.model_copy(update={"privacy": new})
            save_settings(mem.data_dir, settings)
            mem.settings = settings

        def done(_: Any = None) -> None:
            self.save_button.setEnabled(True)
            self.result.setText("Saved. Capture follows these rules within a second.")
            self.ctx.status("Privacy rules saved")
            self.ctx.changed("settings")

        def failed(msg: str) -> None:
            self.save_button.setEnabled(True)
            self.result.setText(f"Not saved: {msg}. Your previous rules are unchanged.")

        self.ctx.tasks.write(work, guarded(self, done), guarded(self, failed))


def retention_line(rules: RetentionSettings) -> str:
    """The rules in one line: "pictures 90 days, trash 30 days" ("kept for ever" when none)."""
    names = {"everything_days": "everything", "originals_days": "copied footage", "thumbnails_days": "pictures",
             "transcripts_days": "what was said", "faces_days": "faces",
             "stranger_faces_days": "strangers' faces", "trash_days": "the trash"}
    dump = rules.model_dump()
    kept = [f"{names[k]} {dump[k]} days" for k in RULES if k != "trash_days" and dump.get(k)]
    shown = ", ".join(kept) if kept else "everything is kept for ever"
    return f"{shown}; the trash is kept {dump['trash_days']} days"


class RetentionBox(QGroupBox):
    """The retention rules: edit, Preview (read pool), Apply (saves, then applies on the write thread)."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Retention", parent)
        self.ctx = ctx
        self.plan: RetentionPlan | None = None  # the last preview
        self.applied: RetentionPlan | None = None
        self._token = 0
        lay = QVBoxLayout(self)
        lay.addWidget(muted("Keep each kind of memory only so many days (empty: for ever). Older ones are removed "
                            "for good when lifelog starts, and when you press Apply."))
        form = QFormLayout()
        self.edits: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        infos = RetentionSettings.model_fields
        for name in RULES:
            info = infos[name]
            edit = QLineEdit()
            edit.setObjectName(f"retention_{name}")
            edit.setPlaceholderText("required" if name == "trash_days" else "for ever")
            edit.setToolTip(info.description or "")
            edit.textChanged.connect(lambda _t: self._edited())
            err = QLabel("")
            err.setStyleSheet(ERROR_STYLE)
            err.setWordWrap(True)
            err.hide()
            cell = QWidget()
            cl = QVBoxLayout(cell)
            cl.setContentsMargins(0, 0, 0, 0)
            cl.addWidget(edit)
            cl.addWidget(err)
            form.addRow(f"{info.title or name} (days)", cell)
            self.edits[name], self.errors[name] = edit, err
        lay.addLayout(form)
        row = QHBoxLayout()
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("Say what these rules would remove now (nothing is removed)")
        self.preview_button.clicked.connect(lambda: self.preview())
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Save these rules and remove what they say is due now, for good")
        self.apply_button.clicked.connect(lambda: self.apply())
        row.addWidget(self.preview_button)
        row.addWidget(self.apply_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.result = QLabel("")
        self.result.setObjectName("retention_result")
        self.result.setWordWrap(True)
        lay.addWidget(self.result)
        self.revert()

    def revert(self) -> None:
        dump = self.ctx.memory.settings.retention.model_dump()
        for name, edit in self.edits.items():
            edit.blockSignals(True)
            edit.setText("" if dump.get(name) is None else str(dump[name]))
            edit.blockSignals(False)
            self.errors[name].hide()

    def _edited(self) -> None:
        self.plan = None
        self.result.setText("")

    def rules(self) -> RetentionSettings | None:
        """The edited rules, validated; None with every problem shown under its field."""
        from pydantic import ValidationError

        for err in self.errors.values():
            err.hide()
        raw: dict[str, Any] = {}
        for name, edit in self.edits.items():
            text = edit.text().strip()
            if text or name == "trash_days":
                raw[name] = text
        try:
            return RetentionSettings.model_validate(raw)
        except ValidationError as e:
            for problem in e.errors():
                name = str(problem["loc"][0]) if problem["loc"] else "trash_days"
                err = self.errors.get(name, self.errors["trash_days"])
                msg = str(problem["msg"]).removeprefix("Value error, ")
                err.setText("a whole number of days, 1 or more" if "integer" in msg or "greater" in msg else msg)
                err.show()
            self.result.setText("Correct the values marked in red.")
            return None

    def preview(self) -> None:
        rules = self.rules()
        if rules is None:
            return
        self._token += 1
        token = self._token
        mem, now = self.ctx.memory, self.ctx.now()
        self.result.setText("Looking at what these rules would remove…")

        def done(plan: RetentionPlan) -> None:
            if token == self._token:
                self.plan = plan
                self.result.setText(preview_text(plan))

        self.ctx.tasks.read(lambda: mem.plan_retention(now, rules), guarded(self, done), guarded(self, self._fail))

    def apply(self) -> None:
        rules = self.rules()
        if rules is None:
            return
        self._token += 1
        token = self._token
        mem, now = self.ctx.memory, self.ctx.now()
        self.apply_button.setEnabled(False)
        self.result.setText("Applying the rules…")

        def work() -> RetentionPlan:
            if rules != mem.settings.retention:
                new = mem.settings.model_copy(update={"retention": rules})
                save_settings(mem.data_dir, new)
                mem.settings = new
            return mem.apply_retention(now)

        def done(plan: RetentionPlan) -> None:
            self.apply_button.setEnabled(True)
            self.applied = plan
            if token == self._token:
                text = ("Nothing was due." if plan.is_empty()
                        else "Removed for good: " + plan.describe().removeprefix("retention will remove ") + ".")
                self.result.setText(f"Rules saved. {text}")
                self.ctx.status(f"Retention: {text}")
            if not plan.is_empty():
                self.ctx.changed("forgotten")

        def failed(msg: str) -> None:
            self.apply_button.setEnabled(True)
            self._fail(msg)

        self.ctx.tasks.write(work, guarded(self, done), guarded(self, failed))

    def _fail(self, msg: str) -> None:
        self.result.setText(f"Could not apply the rules: {msg}")


def preview_text(plan: RetentionPlan) -> str:
    if plan.is_empty():
        return "Nothing is due under these rules now."
    return "Will remove " + plan.describe().removeprefix("retention will remove ") + ", for good."


class TrashBox(QGroupBox):
    """The trash: entries newest first, Restore, Empty trash…."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Trash", parent)
        self.ctx = ctx
        self.entries: list[TrashEntry] = []
        self.loaded = False
        self.confirm: QMessageBox | None = None
        self._token = 0
        self.trasher = trasher_for(ctx)
        lay = QVBoxLayout(self)
        lay.addWidget(muted("Episodes and days moved to the trash from the Timeline. They can be restored until "
                            "they are forgotten for good."))
        self.list = QListWidget()
        self.list.setObjectName("trash_list")
        self.list.setMaximumHeight(160)
        self.list.currentItemChanged.connect(lambda _c, _p: self._update_buttons())
        lay.addWidget(self.list)
        row = QHBoxLayout()
        self.restore_button = QPushButton("Restore")
        self.restore_button.clicked.connect(lambda: self.restore_selected())
        self.empty_button = QPushButton("Empty trash…")
        self.empty_button.setStyleSheet("QPushButton { color: #a40000; }")
        self.empty_button.setToolTip("Forget everything in the trash for good, now")
        self.empty_button.clicked.connect(lambda: self.empty())
        row.addWidget(self.restore_button)
        row.addWidget(self.empty_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.error = error_line()
        lay.addWidget(self.error)
        self._update_buttons()
        self.refresh()

    def refresh(self) -> None:
        self._token += 1
        token = self._token
        mem = self.ctx.memory

        def done(entries: list[TrashEntry]) -> None:
            if token == self._token:
                self._render(entries)

        self.ctx.tasks.read(mem.trash, guarded(self, done), guarded(self, self._fail))

    def _render(self, entries: list[TrashEntry]) -> None:
        self.entries = entries
        self.loaded = True
        self.list.clear()
        for e in entries:
            item = QListWidgetItem(trash_line(e))
            item.setData(ROLE_ID, e.id)
            item.setToolTip("\n".join(f"{span(x.start, x.end)}  {x.summary}" for x in e.episodes))
            self.list.addItem(item)
        if not entries:
            self.list.addItem("The trash is empty.")
        self._update_buttons()

    def _update_buttons(self) -> None:
        item = self.list.currentItem()
        self.restore_button.setEnabled(item is not None and item.data(ROLE_ID) is not None)
        self.empty_button.setEnabled(bool(self.entries))

    def restore_selected(self) -> None:
        item = self.list.currentItem()
        if item is None or item.data(ROLE_ID) is None:
            return
        entry = next((e for e in self.entries if e.id == item.data(ROLE_ID)), None)
        if entry is None:
            return
        self.error.setVisible(False)
        n = len(entry.episodes)
        self.trasher.restore([entry.id], f"{n} episode{'s' if n != 1 else ''}", self._fail)

    def empty(self) -> None:
        """Ask (window-modal, without a nested event loop), then forget the trash for good."""
        n = sum(len(e.episodes) for e in self.entries)
        box = QMessageBox(QMessageBox.Icon.Warning, "Empty the trash?",
                          f"This forgets {n} episode{'s' if n != 1 else ''} in the trash for good. "
                          "It cannot be undone.", QMessageBox.StandardButton.Cancel, self)
        ok = box.addButton("Empty trash", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)

        def answered(_code: int) -> None:
            self.confirm = None
            if box.clickedButton() is ok:
                self.empty_now()

        box.finished.connect(answered)
        self.confirm = box
        box.open()

    def empty_now(self) -> None:
        mem = self.ctx.memory
        self.empty_button.setEnabled(False)
        self.ctx.status("Emptying the trash…")

        def done(result: ForgetResult | None) -> None:
            self.ctx.status("Emptied the trash: " + (result.plan.describe().removeprefix("this will forget ")
                                                     if result is not None else "nothing") + ".")
            self.ctx.changed("forgotten")

        self.ctx.tasks.write(mem.empty_trash, guarded(self, done), guarded(self, self._fail))

    def _fail(self, msg: str) -> None:
        self.error.setText(msg)
        self.error.setVisible(True)
        self._update_buttons()

    def lines(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]


def trash_line(e: TrashEntry) -> str:
    """``Tue 14 May, 12:00  a day, 3 episodes (15:00–15:12 …) — forgotten after Thu 13 Jun``."""
    n = len(e.episodes)
    first = e.episodes[0] if e.episodes else None
    shown = f" ({span(first.start, first.end)} {first.summary}{' …' if n > 1 else ''})" if first else ""
    kind = "a day" if e.kind == "day" else "an episode"
    return (f"{e.at:%a %d %b, %H:%M}  {kind}, {n} episode{'s' if n != 1 else ''}{shown} — "
            f"forgotten for good after {e.purge_at:%a %d %b %Y}")
