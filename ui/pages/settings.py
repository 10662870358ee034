"""Settings: the memory folder, capture sampling, episode cutting, speech, and the models in use.

Every editable value is a field of the core's pydantic model (:class:`lifelog.api.settings.Settings`);
the form is built from the model's own titles and descriptions. **Save** validates the whole
form through that model: a bad value shows the model's message under its field (or under its
section, for a rule between fields such as "max gap ≥ sampling interval") and nothing is saved.
A valid form is written to ``<data>/settings.json`` on the write thread (after any running
import) and used by the next import.

The memory folder cannot change under a running app: "Choose another memory folder…" records the
choice in ``<user config dir>/lifelog/location.json`` (:func:`lifelog.api.settings.choose_data_dir`) and
the app opens it on its next start (``--data-dir`` and ``LIFELOG_HOME`` still win).

**Background** (issue #18): whether closing the window keeps lifelog running in the tray (asked
once on the first close; where the desktop has no tray the section says that closing quits) and
whether desktop notifications are shown. Both are saved at once (``lifelog.api.background``).

The mouse wheel over the page scrolls it: a combo box, spin box or slider takes the wheel only
once it has the focus (:class:`WheelGuard`), so scrolling past a field never changes it.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from lifelog.api.background import close_to_tray, notifications_on, set_close_to_tray, set_notifications
from lifelog.api.models import ModelInUse, models_in_use
from lifelog.api.settings import Settings, choose_data_dir, save_settings
from ui.context import AppContext
from ui.qt import (
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QDesktopServices,
    QEvent,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QObject,
    QPushButton,
    QScrollArea,
    QSlider,
    Qt,
    QUrl,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import ERROR_STYLE, guarded

# (section, field) pairs shown, in order; sections are the Settings model's sub-models.
SECTIONS: list[tuple[str, str, list[str]]] = [
    ("capture", "Capture sampling", ["sample_interval_s", "max_gap_s", "duplicate_threshold", "faces",
                                     "ocr_interval_s"]),
    ("episodes", "Episode cutting", ["gap_s", "scene_threshold", "min_episode_s"]),
    ("speech", "Speech", ["enabled", "model", "language"]),
    ("", "Time", ["timezone"]),
]


def _choices(annotation: Any) -> list[str] | None:
    """The values of a Literal (possibly aliased or Optional), else None."""
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for a in typing.get_args(annotation):
            c = _choices(a)
            if c:
                return c
    return None


class _Field:
    """One form row: the editor, the error line under it, and how to read its value."""

    def __init__(self, section: str, name: str, info: Any) -> None:
        self.section, self.name = section, name
        self.annotation = info.annotation
        self.optional = type(None) in typing.get_args(self.annotation)
        self.title = info.title or name.replace("_", " ").capitalize()
        if name.endswith("_s"):  # the model's convention: a duration in seconds
            self.title += " (seconds)"
        choices = _choices(self.annotation)
        self.widget: QWidget
        if self.annotation is bool:
            self.widget = QCheckBox()
        elif choices:
            box = QComboBox()
            box.addItems(choices)
            self.widget = box
        else:
            edit = QLineEdit()
            if self.optional:
                edit.setPlaceholderText("(default)")
            self.widget = edit
        if info.description:
            self.widget.setToolTip(info.description)
        self.error = QLabel("")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()

    def set_value(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            w.setCurrentText(str(value))
        elif isinstance(w, QLineEdit):
            w.setText("" if value is None else f"{value:g}" if isinstance(value, float) else str(value))

    def value(self) -> Any:
        w = self.widget
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            return w.currentText()
        assert isinstance(w, QLineEdit)
        text = w.text().strip()
        return None if (text == "" and self.optional) else text

    def show_error(self, message: str | None) -> None:
        self.error.setText(message or "")
        self.error.setVisible(bool(message))


class WheelGuard(QObject):
    """An event filter: a wheel turned over a combo box, spin box or slider that does not have
    the focus scrolls the page (``scroll``) instead of changing the value."""

    KINDS = (QComboBox, QAbstractSpinBox, QSlider)

    def __init__(self, scroll: QScrollArea) -> None:
        super().__init__(scroll)
        self.scroll = scroll
        self.redirected = 0

    def guard(self, root: QWidget) -> None:
        """Put every such field under ``root`` (now) under the guard; called again for fields
        added later (the page calls it when shown)."""
        for kind in self.KINDS:
            for w in root.findChildren(kind):
                if w.property("wheel_guarded"):
                    continue
                w.setProperty("wheel_guarded", True)
                w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel never gives it the focus
                w.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            self.redirected += 1
            QApplication.sendEvent(self.scroll.verticalScrollBar(), event)
            return True
        return False


class Page(QWidget):
    """The Settings page (``ui/app.py`` registers it as "settings")."""

    title = "Settings"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.read_only = False
        mem = ctx.memory
        outer = QVBoxLayout(self)
        scroll = QScrollArea()
        self.scroller = scroll  # lets a caller (the screenshots) bring a section into view
        scroll.setWidgetResizable(True)
        body = QWidget()
        lay = QVBoxLayout(body)
        scroll.setWidget(body)
        outer.addWidget(scroll)

        # -- the memory folder
        where = QGroupBox("Memory folder")
        wl = QVBoxLayout(where)
        self.folder_label = QLabel(str(mem.data_dir))
        self.folder_label.setWordWrap(True)
        wl.addWidget(self.folder_label)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open folder")
        self.open_button.clicked.connect(self.open_folder)
        self.move_button = QPushButton("Choose another memory folder…")
        self.move_button.setToolTip("Takes effect when lifelog starts next time; this memory stays where it is")
        self.move_button.clicked.connect(self.choose_folder)
        row.addWidget(self.open_button)
        row.addWidget(self.move_button)
        row.addStretch(1)
        wl.addLayout(row)
        self.folder_note = QLabel("")
        self.folder_note.setWordWrap(True)
        wl.addWidget(self.folder_note)
        lay.addWidget(where)

        # -- the settings model
        self.fields: dict[tuple[str, str], _Field] = {}
        self.section_errors: dict[str, QLabel] = {}
        for section, title, names in SECTIONS:
            box = QGroupBox(title)
            form = QFormLayout(box)
            model = Settings.model_fields[section].annotation if section else Settings
            assert isinstance(model, type)
            infos = model.model_fields
            for name in names:
                f = _Field(section, name, infos[name])
                self.fields[(section, name)] = f
                cell = QWidget()
                cl = QVBoxLayout(cell)
                cl.setContentsMargins(0, 0, 0, 0)
                cl.addWidget(f.widget)
                cl.addWidget(f.error)
                form.addRow(f.title, cell)
            err = QLabel("")
            err.setStyleSheet(ERROR_STYLE)
            err.setWordWrap(True)
            err.hide()
            form.addRow(err)
            self.section_errors[section] = err
            lay.addWidget(box)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self.revert)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.revert_button)
        self.saved_label = QLabel("")
        self.saved_label.setWordWrap(True)
        buttons.addWidget(self.saved_label, 1)
        lay.addLayout(buttons)

        # -- models in use (read-only)
        models = QGroupBox("Models in use")
        self.models_form = QFormLayout(models)
        self.models_form.addRow(QLabel("Looking…"))
        lay.addWidget(models)
        # -- optional image-text models: install, use, re-index (ui/pages/image_models.py)
        from ui.pages.image_models import ModelsSection

        self.image_models = ModelsSection(ctx)
        lay.addWidget(self.image_models)
        # -- privacy: the audit log and "Forget everything…" (ui/pages/privacy.py)
        from ui.pages.privacy import PrivacySection

        self.privacy = PrivacySection(ctx)
        lay.addWidget(self.privacy)
        lay.addWidget(self._background_section())
        lay.addStretch(1)
        self.models: list[ModelInUse] = []
        self.revert()
        self.refresh_models()
        self.wheel_guard = WheelGuard(scroll)
        self.wheel_guard.guard(self)

    def showEvent(self, event: Any) -> None:
        self.wheel_guard.guard(self)  # fields a section added since
        self.show_background()
        super().showEvent(event)

    # ------------------------------------------------------------------ background
    def _background_section(self) -> QGroupBox:
        from ui.tray import tray_available

        box = QGroupBox("Background")
        box.setObjectName("background_section")
        lay = QVBoxLayout(box)
        data_dir = self.ctx.memory.data_dir
        self.tray_here = tray_available()
        self.close_to_tray_box = QCheckBox("Closing the window keeps lifelog running in the tray")
        self.close_to_tray_box.setObjectName("close_to_tray")
        self.close_to_tray_box.setChecked(bool(close_to_tray(data_dir)))
        self.close_to_tray_box.setEnabled(self.tray_here)
        self.close_to_tray_box.toggled.connect(lambda on: self._set_option(set_close_to_tray, on))
        lay.addWidget(self.close_to_tray_box)
        if self.tray_here:
            note = ("The tray icon shows whether lifelog is recording, receiving, paused or tidying the "
                    "memory; its menu pauses capture, opens the window and quits.")
        else:
            note = ("This desktop has no system tray: closing the window quits lifelog. To keep receiving "
                    "and tidying the memory without the window, turn on “Keep running in the background” "
                    "on the Upkeep page, or run `lifelog service install` to start it at login.")
        self.background_note = QLabel(note)
        self.background_note.setObjectName("background_note")
        self.background_note.setWordWrap(True)
        lay.addWidget(self.background_note)
        self.notifications_box = QCheckBox("Desktop notifications: finished syncs, new pairings, LocalSend requests")
        self.notifications_box.setObjectName("notifications")
        self.notifications_box.setChecked(notifications_on(data_dir))
        self.notifications_box.toggled.connect(lambda on: self._set_option(set_notifications, on))
        lay.addWidget(self.notifications_box)
        self.background_error = QLabel("")
        self.background_error.setStyleSheet(ERROR_STYLE)
        self.background_error.hide()
        lay.addWidget(self.background_error)
        return box

    def show_background(self) -> None:
        """Show the stored choices (they may have been made elsewhere: the close question)."""
        data_dir = self.ctx.memory.data_dir
        for box, value in ((self.close_to_tray_box, bool(close_to_tray(data_dir))),
                           (self.notifications_box, notifications_on(data_dir))):
            box.blockSignals(True)
            box.setChecked(value)
            box.blockSignals(False)

    def _set_option(self, setter: Any, on: bool) -> None:
        try:
            setter(self.ctx.memory.data_dir, on)
        except OSError as e:  # a read-only memory folder
            self.background_error.setText(f"Not saved: {e}")
            self.background_error.show()
        else:
            self.background_error.hide()

    # ------------------------------------------------------------------ values
    def revert(self) -> None:
        """Show the memory's current settings (clearing any error)."""
        dump = self.ctx.memory.settings.model_dump()
        for (section, name), f in self.fields.items():
            f.set_value((dump[section] if section else dump)[name])
            f.show_error(None)
        for err in self.section_errors.values():
            err.hide()

    def form_values(self) -> dict[str, Any]:
        """The current settings with the form's values laid over them (not yet validated)."""
        raw = self.ctx.memory.settings.model_dump()
        for (section, name), f in self.fields.items():
            (raw[section] if section else raw)[name] = f.value()
        return raw

    def validate(self) -> Any:
        """The form as a valid :class:`Settings`, or None with every problem shown inline."""
        from pydantic import ValidationError

        for f in self.fields.values():
            f.show_error(None)
        for err in self.section_errors.values():
            err.hide()
        try:
            return Settings.model_validate(self.form_values())
        except ValidationError as e:
            for problem in e.errors():
                loc = [str(x) for x in problem["loc"]]
                msg = str(problem["msg"]).removeprefix("Value error, ")
                key = (loc[0], loc[1]) if len(loc) >= 2 and (loc[0], loc[1]) in self.fields else ("", loc[0])
                if key in self.fields:
                    self.fields[key].show_error(msg)
                else:
                    err = self.section_errors.get(loc[0] if loc else "", self.section_errors[""])
                    err.setText(msg)
                    err.show()
            self.saved_label.setText("Not saved: correct the values marked in red.")
            return None

    def save(self) -> None:
        new = self.validate()
        if new is None:
            return
        if new == self.ctx.memory.settings:
            self.saved_label.setText("Nothing changed.")
            return
        mem = self.ctx.memory
        self.save_button.setEnabled(False)
        self.saved_label.setText("Saving…")

        def work() -> None:
            save_settings(mem.data_dir, new)
            mem.settings = new

        self.ctx.tasks.write(work, on_done=self._saved, on_error=self._not_saved)

    def _saved(self, _: Any = None) -> None:
        self.save_button.setEnabled(True)
        self.saved_label.setText("Saved. The next import uses these settings.")
        self.ctx.status("Settings saved")
        self.ctx.changed("settings")
        self.refresh_models()

    def _not_saved(self, message: str) -> None:
        self.save_button.setEnabled(True)
        if "read-only" in message.lower() or "permission" in message.lower():
            message = f"the memory folder {self.ctx.memory.data_dir} is read-only ({message})"
        self.saved_label.setText(f"Not saved: {message}. Your previous settings are unchanged.")

    # ------------------------------------------------------------------ folder
    def open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.ctx.memory.data_dir)))

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the memory folder for the next start",
                                                  str(self.ctx.memory.data_dir))
        if folder:
            self.use_folder_next_time(Path(folder))

    def use_folder_next_time(self, folder: Path) -> None:
        """Remember ``folder`` for the next start (written on a worker)."""
        def done(path: Path) -> None:
            self.folder_note.setText(f"From the next start lifelog opens the memory in {folder} "
                                     f"(remembered in {path}). This memory stays where it is.")
            self.ctx.status(f"Next start: {folder}")

        def failed(message: str) -> None:
            self.folder_note.setText(f"Could not remember the folder: {message}")

        self.ctx.tasks.write(lambda: choose_data_dir(folder), on_done=done, on_error=failed)

    # ------------------------------------------------------------------ models
    def refresh_models(self) -> None:
        mem = self.ctx.memory
        self.models = []  # stale until the new list arrives; an older read that lands late is dropped
        self._models_token = getattr(self, "_models_token", 0) + 1
        token = self._models_token

        def done(models: list[ModelInUse]) -> None:
            if token == self._models_token:
                self._show_models(models)

        self.ctx.tasks.read(lambda: models_in_use(mem.settings), guarded(self, done))

    def _show_models(self, models: list[ModelInUse]) -> None:
        self.models = models
        while self.models_form.rowCount():
            self.models_form.removeRow(0)
        for m in models:
            label = QLabel(m.name)
            label.setWordWrap(True)
            self.models_form.addRow(m.what, label)

    def before_close(self) -> None:
        self.image_models.before_close()  # stop a running install or re-index

    def on_changed(self, what: str) -> None:
        if what == "background":  # the window asked whether closing keeps lifelog running
            self.show_background()
            return
        self.privacy.on_changed(what)
        if what == "settings":
            return
