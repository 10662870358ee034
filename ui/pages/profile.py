"""The memory profile: what lifelog believes about your days, as text you can read and correct
(issue #14 part 4, docs/profile.md, docs/app.md).

* **Read**: the People, Places and routines and Things blocks; your own lines are marked
  **yours** (and kept over what the nightly pass infers), lines you hid are listed greyed.
* **Edit**: the profile's text in an editor with Save and Cancel. Saving validates the whole
  text (:func:`lifelog.api.profile.save_profile_text`); a bad line is shown under the editor with
  its line number, the cursor is put on it, and the editor keeps everything typed (nothing is
  saved, nothing is lost).
* **History**: every change you made and every night the pass inferred something else for a line
  of yours ("yours wins").
* **Refresh now**: regenerate the inferred lines (the nightly pass does it too).

Every core call runs off the UI thread (reads on the read pool, saves and refreshes on the write
thread, after any running import).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from lifelog.api.profile import (
    HistoryEntry,
    LineSource,
    ProfileReport,
    ProfileView,
    profile_history,
    read_profile,
    refresh_profile,
    save_profile_text,
)
from ui.context import AppContext
from ui.qt import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import error_line, guarded, heading, muted, when

BLOCKS = ("People", "Places and routines", "Things")
YOURS_STYLE = "background:#e6f0ff; color:#0b3d91; border-radius:3px; padding:0 4px; font-weight:bold;"
_LINE_RE = re.compile(r"^line (\d+):")


@dataclass(frozen=True)
class Shown:
    """One line as the page shows it (what a user sees, for tests and screenshots)."""

    block: str
    text: str
    source: LineSource
    key: str | None


class ProfilePage(QWidget):
    """The Profile page (``ui/app.py`` registers it as "profile")."""

    title = "Profile"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.read_only = False
        self.view: ProfileView | None = None
        self.shown: list[Shown] = []
        self.history: list[HistoryEntry] = []
        self.saving = False
        self.refreshing = False
        self.loaded = False
        self._token = 0

        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(heading("Memory profile"))
        top.addStretch(1)
        self.edit_button = QPushButton("Edit")
        self.edit_button.setToolTip("Correct a line or add your own: yours are kept over what the nightly pass infers")
        self.edit_button.clicked.connect(self.start_edit)
        self.refresh_button = QPushButton("Refresh now")
        self.refresh_button.setToolTip("Regenerate what lifelog infers (the nightly pass does it too); your lines stay")
        self.refresh_button.clicked.connect(self.refresh_now)
        top.addWidget(self.edit_button)
        top.addWidget(self.refresh_button)
        lay.addLayout(top)
        self.info = muted("")
        lay.addWidget(self.info)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        lay.addWidget(self.message)

        self.tabs = QTabWidget()
        # -- the profile: read view / editor
        self.modes = QStackedWidget()
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.modes.addWidget(self.browser)
        editor_box = QWidget()
        el = QVBoxLayout(editor_box)
        el.setContentsMargins(0, 0, 0, 0)
        el.addWidget(muted("One fact per line, starting with “- ”, under ## People, ## Places and routines or "
                           "## Things. Change a line or add your own and it becomes yours; delete an inferred "
                           "line to hide it. Keep the [key] at the end of a line to override that line."))
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("profile_editor")
        f = self.editor.font()
        f.setFamily("monospace")
        self.editor.setFont(f)
        el.addWidget(self.editor, 1)
        self.edit_error = error_line()
        el.addWidget(self.edit_error)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_edit)
        row.addWidget(self.save_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        el.addLayout(row)
        self.modes.addWidget(editor_box)
        self.tabs.addTab(self.modes, "Profile")
        # -- the history
        self.history_list = QTreeWidget()
        self.history_list.setHeaderLabels(["When", "What changed"])
        self.history_list.setRootIsDecorated(False)
        self.history_list.setColumnWidth(0, 190)
        self.history_list.setWordWrap(True)
        self.tabs.addTab(self.history_list, "History")
        lay.addWidget(self.tabs, 1)
        self.reload()

    # ------------------------------------------------------------------ reading
    @property
    def editing(self) -> bool:
        return self.modes.currentIndex() == 1

    def reload(self) -> None:
        mem = self.ctx.memory
        self._token += 1
        token = self._token

        def work() -> tuple[ProfileView, list[HistoryEntry]]:
            return read_profile(mem), profile_history(mem)

        def done(got: tuple[ProfileView, list[HistoryEntry]]) -> None:
            if token == self._token:
                self.show_profile(*got)

        self.ctx.tasks.read(work, guarded(self, done), guarded(self, self._read_failed))

    def _read_failed(self, message: str) -> None:
        self.loaded = True
        self.message.setText(f"The profile could not be read: {message}")

    def show_profile(self, view: ProfileView, history: list[HistoryEntry]) -> None:
        self.view = view
        self.history = history
        self.loaded = True
        tz = self.ctx.memory.tz
        bits = []
        if view.generated_at:
            bits.append(f"inferred {when(view.generated_at, tz)}")
        if view.edited_at:
            bits.append(f"your last edit {when(view.edited_at, tz)}")
        self.info.setText(("Profile " + "; ".join(bits) + ".") if bits else
                          "No profile yet: it is written by the nightly pass, or now with Refresh now.")
        self.shown = self._visible_lines(view)
        self.browser.setHtml(self._html(self.shown))
        self._show_history(history)
        self.edit_button.setEnabled(not self.read_only and not self.editing)
        self.refresh_button.setEnabled(not self.read_only and not self.refreshing)

    @staticmethod
    def _visible_lines(view: ProfileView) -> list[Shown]:
        """What the text shows: the inferred lines not overridden by yours, then yours and the hidden ones."""
        overridden = {ln.key for ln in view.lines if ln.source != "inferred" and ln.key}
        out: list[Shown] = []
        for block in BLOCKS:
            out += [Shown(block, ln.text, "inferred", ln.key) for ln in view.lines
                    if ln.block == block and ln.source == "inferred" and ln.key not in overridden]
            out += [Shown(block, ln.text, ln.source, ln.key) for ln in view.lines
                    if ln.block == block and ln.source != "inferred"]
        return out

    @staticmethod
    def _html(lines: list[Shown]) -> str:
        parts = []
        for block in BLOCKS:
            parts.append(f"<h3>{html.escape(block)}</h3>")
            mine = [s for s in lines if s.block == block]
            if not mine:
                parts.append("<p style='color:gray'>Nothing yet.</p>")
                continue
            parts.append("<ul>")
            for s in mine:
                if s.source == "hidden":
                    parts.append(f"<li style='color:gray'><i>hidden by you</i> "
                                 f"<small>[{html.escape(s.key or '')}]</small></li>")
                elif s.source == "user":
                    parts.append(f"<li><span style='{YOURS_STYLE}'>yours</span> {html.escape(s.text)}</li>")
                else:
                    parts.append(f"<li>{html.escape(s.text)}</li>")
            parts.append("</ul>")
        return "".join(parts)

    def _show_history(self, history: list[HistoryEntry]) -> None:
        self.history_list.clear()
        tz = self.ctx.memory.tz
        for h in reversed(history):  # newest first
            item = QTreeWidgetItem([when(h.at, tz), h.what])
            item.setToolTip(1, h.what)
            if "yours wins" in h.what:
                f = item.font(1)
                f.setBold(True)
                item.setFont(1, f)
            self.history_list.addTopLevelItem(item)

    def shown_text(self) -> str:
        return self.browser.toPlainText()

    # ------------------------------------------------------------------ editing
    def start_edit(self) -> None:
        if self.read_only or self.view is None:
            return
        self.editor.setPlainText(self.view.text)
        self.edit_error.setVisible(False)
        self.modes.setCurrentIndex(1)
        self.tabs.setCurrentIndex(0)
        self.edit_button.setEnabled(False)
        self.editor.setFocus()

    def cancel_edit(self) -> None:
        self.modes.setCurrentIndex(0)
        self.edit_error.setVisible(False)
        self.edit_button.setEnabled(not self.read_only)

    def save(self) -> None:
        if self.saving:
            return
        mem, now, text = self.ctx.memory, self.ctx.now(), self.editor.toPlainText()
        self.saving = True
        self.save_button.setEnabled(False)
        self.edit_error.setVisible(False)
        self.message.setText("Saving…")
        self.ctx.tasks.write(lambda: save_profile_text(mem, text, now), guarded(self, self._saved),
                             guarded(self, self._not_saved))

    def _saved(self, report: ProfileReport) -> None:
        self.saving = False
        self.save_button.setEnabled(True)
        n = report.history_added
        self.message.setText(f"Saved: {n} change{'s' if n != 1 else ''} (see History)." if n
                             else "Saved: nothing changed.")
        self.cancel_edit()
        self.ctx.changed("profile")
        self.reload()

    def _not_saved(self, message: str) -> None:
        """A bad line (or a busy memory): the editor keeps the text, the error says where."""
        self.saving = False
        self.save_button.setEnabled(True)
        self.message.setText("")
        if "write lock" in message.lower() or "busy" in message.lower():
            message = f"the memory is busy with another write ({message}); try Save again in a moment"
        self.edit_error.setText(f"Not saved: {message}. Your text is still in the editor.")
        self.edit_error.setVisible(True)
        m = _LINE_RE.match(message)
        if m:  # put the cursor on the line the message names
            block = self.editor.document().findBlockByLineNumber(int(m.group(1)) - 1)
            if block.isValid():
                cursor = self.editor.textCursor()
                cursor.setPosition(block.position())
                self.editor.setTextCursor(cursor)

    # ------------------------------------------------------------------ refresh
    def refresh_now(self) -> None:
        if self.read_only or self.refreshing:
            return
        mem, now = self.ctx.memory, self.ctx.now()
        self.refreshing = True
        self.refresh_button.setEnabled(False)
        self.message.setText("Refreshing the profile…")
        self.ctx.tasks.write(lambda: refresh_profile(mem, now), guarded(self, self._refreshed),
                             guarded(self, self._refresh_failed))

    def _refreshed(self, report: ProfileReport) -> None:
        self.refreshing = False
        n = report.inferred
        text = f"Refreshed: {n} inferred line{'s' if n != 1 else ''}, {report.user} of yours."
        if report.contradictions:
            text += (f" {report.contradictions} of your lines differ from what the pass infers; yours were kept "
                     "(see History).")
        self.message.setText(text)
        self.reload()

    def _refresh_failed(self, message: str) -> None:
        self.refreshing = False
        self.refresh_button.setEnabled(not self.read_only)
        self.message.setText(f"The profile could not be refreshed: {message}")

    # ------------------------------------------------------------------ window hooks
    def on_changed(self, what: str) -> None:
        self.reload()  # the read view only: the editor's text is never replaced under the user

    def show_with(self, **kw: Any) -> None:
        if kw.get("edit"):
            self.start_edit()
