"""People: everyone whose face was grouped on this machine, as a grid of face thumbnails with
name (or "Unnamed"), when last seen and in how many episodes. Name or rename, merge two, split
some faces off, hide and unhide (with "Show hidden"), and undo the latest edit — each one a
serialised write through the memory's people methods, after which the grid is read again and
the other pages are told (``ctx.changed("people")``). Double-click a person to list the
episodes they were seen in; click one to open it in the timeline. **Show in timeline** (button
or right-click, one selected) opens the timeline filtered to that person. **Forget…** (button or
right-click, one selected) forgets them for good after a confirmation (:mod:`ui.forget`): their
faces, name, what they were heard saying, and the episodes where only they appear.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

from lifelog.api import EpisodeInfo, FaceInfo, PersonInfo
from lifelog.api.clock import Clock
from lifelog.api.privacy import ForgetRequest
from ui.context import AppContext
from ui.forget import forgetter_for
from ui.qt import (
    QAbstractItemView,
    QAction,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPixmap,
    QPushButton,
    QSize,
    QSplitter,
    Qt,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import Thumbs, error_line, guarded, heading, muted, thumbs_for

ROLE_ID = Qt.ItemDataRole.UserRole


def person_title(p: PersonInfo) -> str:
    return p.name or "Unnamed"


class PeoplePage(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.thumbs: Thumbs = thumbs_for(ctx.memory, ctx.tasks)
        self.people: list[PersonInfo] = []
        self.loaded = False
        self._token = 0
        self.shown_person: str | None = None
        self.person_episodes: list[EpisodeInfo] = []
        self.split_dialog: QDialog | None = None  # the open Split dialog, if any
        self.split_faces: QListWidget | None = None  # its list of faces to tick

        self.name_btn = QPushButton("Name…")
        self.merge_btn = QPushButton("Merge")
        self.split_btn = QPushButton("Split…")
        self.hide_btn = QPushButton("Hide")
        self.undo_btn = QPushButton("Undo")
        self.show_hidden = QCheckBox("Show hidden")
        self.name_btn.clicked.connect(lambda: self.name_selected())
        self.merge_btn.clicked.connect(lambda: self.merge_selected())
        self.split_btn.clicked.connect(lambda: self.split_selected())
        self.hide_btn.clicked.connect(lambda: self.toggle_hidden_selected())
        self.undo_btn.clicked.connect(lambda: self.undo())
        self.timeline_btn = QPushButton("Show in timeline")
        self.timeline_btn.setToolTip("Filter the timeline to the days and episodes with this person")
        self.timeline_btn.clicked.connect(lambda: self.show_in_timeline())
        self.forget_btn = QPushButton("Forget…")
        self.forget_btn.setToolTip("Forget this person for good: faces, name, what they said, "
                                   "and the episodes where only they appear")
        self.forget_btn.clicked.connect(lambda: self.forget_selected())
        self.show_hidden.toggled.connect(lambda _on: self.refresh())
        bar = QHBoxLayout()
        for b in (self.name_btn, self.merge_btn, self.split_btn, self.hide_btn, self.undo_btn, self.timeline_btn,
                  self.forget_btn):
            bar.addWidget(b)
        bar.addStretch(1)
        bar.addWidget(self.show_hidden)

        self.note = muted("Faces are grouped into people on this machine. Select one to name it, two to merge.")
        self.error = error_line()

        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(112, 112))
        self.grid.setGridSize(QSize(180, 200))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setWordWrap(True)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.itemSelectionChanged.connect(self._update_buttons)
        self.grid.itemDoubleClicked.connect(lambda it: self.show_person(str(it.data(ROLE_ID))))
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.timeline_action = QAction("Show in timeline", self.grid)
        self.timeline_action.triggered.connect(lambda: self.show_in_timeline())
        self.grid.addAction(self.timeline_action)
        self.forget_action = QAction("Forget…", self.grid)
        self.forget_action.triggered.connect(lambda: self.forget_selected())
        self.grid.addAction(self.forget_action)

        self.side_title = heading("")
        self.side_list = QListWidget()
        self.side_list.setWordWrap(True)
        self.side_list.itemClicked.connect(self._open_episode)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.side_title)
        sl.addWidget(muted("Double-click a person to list where they were seen; click a moment to open it."))
        sl.addWidget(self.side_list, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.grid)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.note)
        lay.addWidget(self.error)
        lay.addWidget(split, 1)
        self._own_edit = False  # True while telling other pages of an edit made here
        self._update_buttons()
        self.refresh()

    # ------------------------------------------------------------------ read
    def on_changed(self, what: str) -> None:
        if what == "forgotten":  # whoever the side list showed may be gone
            self.shown_person = None
            self.person_episodes = []
            self.side_title.setText("")
            self.side_list.clear()
        if what != "people" or not self._own_edit:  # our own edits refresh already
            self.refresh()

    def refresh(self) -> None:
        self._token += 1
        token = self._token
        mem, hidden = self.ctx.memory, self.show_hidden.isChecked()

        def done(people: list[PersonInfo]) -> None:
            if token == self._token:
                self._render(people)

        self.ctx.tasks.read(lambda: mem.people(include_hidden=hidden), guarded(self, done), guarded(self, self._fail))

    def _render(self, people: list[PersonInfo]) -> None:
        keep = set(self.selected_ids())
        self.people = people
        self.loaded = True
        self.grid.clear()
        token = self._token
        clock = Clock.of(self.ctx.memory)  # the memory's clock, as on every page
        for i, p in enumerate(people):
            seen = clock.when(p.last_seen) if p.last_seen else "never"
            text = (f"{person_title(p)}{' (hidden)' if p.hidden else ''}\n"
                    f"last seen {seen}\n{p.episodes} episode{'s' if p.episodes != 1 else ''}")
            item = QListWidgetItem(text)
            item.setData(ROLE_ID, p.id)
            item.setToolTip(f"{person_title(p)} — id {p.id}, {p.faces} faces")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.grid.addItem(item)
            item.setSelected(p.id in keep)
            self.thumbs.request(p.thumbnail, self._set_icon(token, i))
        if not people:
            self.note.setText("Nobody yet: people appear once faces are seen in imported footage. Import a video "
                              "(File ▸ Import files…, Ctrl+O), then name the faces found here."
                              if not self.show_hidden.isChecked() else "Nobody, hidden or not.")
        else:
            self.note.setText(f"{len(people)} people. Select one to name, split or hide; two to merge.")
        self._update_buttons()

    def _set_icon(self, token: int, row: int) -> Callable[[QPixmap], None]:
        def apply(pm: QPixmap) -> None:
            if token == self._token:
                item = self.grid.item(row)
                if item is not None:
                    item.setIcon(pm)

        return apply

    def selected_ids(self) -> list[str]:
        return [str(it.data(ROLE_ID)) for it in self.grid.selectedItems()]

    def select(self, *person_ids: str) -> None:
        """Select people by id (tests, and keeping the selection across a refresh)."""
        for i in range(self.grid.count()):
            it = self.grid.item(i)
            it.setSelected(str(it.data(ROLE_ID)) in person_ids)

    def person_by_id(self, person_id: str) -> PersonInfo | None:
        return next((p for p in self.people if p.id == person_id), None)

    def _update_buttons(self) -> None:
        ids = self.selected_ids()
        self.name_btn.setEnabled(len(ids) == 1)
        self.split_btn.setEnabled(len(ids) == 1)
        self.merge_btn.setEnabled(len(ids) == 2)
        self.hide_btn.setEnabled(len(ids) == 1)
        self.timeline_btn.setEnabled(len(ids) == 1)
        self.timeline_action.setEnabled(len(ids) == 1)
        self.forget_btn.setEnabled(len(ids) == 1)
        self.forget_action.setEnabled(len(ids) == 1)
        p = self.person_by_id(ids[0]) if len(ids) == 1 else None
        self.hide_btn.setText("Unhide" if p is not None and p.hidden else "Hide")

    # ----------------------------------------------------------------- edits
    def _write(self, fn: Callable[[], Any], message: Callable[[Any], str]) -> None:
        self.error.setVisible(False)

        def done(result: Any) -> None:
            self.ctx.status(message(result))
            self.refresh()
            if self.shown_person:
                self.show_person(self.shown_person)
            self._own_edit = True
            try:
                self.ctx.changed("people")
            finally:
                self._own_edit = False

        self.ctx.tasks.write(fn, guarded(self, done), guarded(self, self._fail))

    def _fail(self, msg: str) -> None:
        self.error.setText(msg)
        self.error.setVisible(True)

    def name_selected(self, name: str | None = None) -> None:
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        pid = ids[0]
        if name is None:
            current = self.person_by_id(pid)
            text, ok = QInputDialog.getText(self, "Name this person", "Name:",
                                            text=(current.name or "") if current else "")
            if not ok:
                return
            name = text
        mem, given = self.ctx.memory, name
        self._write(lambda: mem.name_person(pid, given), lambda p: f"Named {p.name}.")

    def merge_selected(self) -> None:
        ids = self.selected_ids()
        if len(ids) != 2:
            return
        a, b = (self.person_by_id(i) for i in ids)
        # keep the named one (or the one seen in more episodes) and fold the other into it
        order = sorted([x for x in (a, b) if x is not None], key=lambda p: (p.name is None, -p.episodes))
        if len(order) != 2:
            return
        into, other = order[0].id, order[1].id
        mem = self.ctx.memory
        self._write(lambda: mem.merge_people(into, other),
                    lambda p: f"Merged into {person_title(p)}. Undo takes it back.")

    def toggle_hidden_selected(self) -> None:
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        p = self.person_by_id(ids[0])
        if p is None:
            return
        mem, pid = self.ctx.memory, p.id
        if p.hidden:
            self._write(lambda: mem.unhide_person(pid), lambda q: f"{person_title(q)} is shown again.")
        else:
            self._write(lambda: mem.hide_person(pid),
                        lambda q: f"{person_title(q)} is hidden (tick “Show hidden” to see them).")

    def split_selected(self, face_ids: list[str] | None = None) -> None:
        """Move some faces of the selected person to a new person; without ``face_ids`` a dialog
        shows the person's faces to choose from."""
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        pid, mem = ids[0], self.ctx.memory
        if face_ids is not None:
            chosen = list(face_ids)
            self._write(lambda: mem.split_person(pid, chosen),
                        lambda p: f"Split {len(chosen)} face(s) off as a new person.")
            return
        self.ctx.tasks.read(lambda: mem.person_faces(pid), guarded(self, functools.partial(self._split_dialog, pid)),
                            guarded(self, self._fail))

    def _split_dialog(self, pid: str, faces: list[FaceInfo]) -> None:
        dlg = QDialog(self)
        dlg.setWindowTitle("Split faces off as a new person")
        lst = QListWidget(dlg)
        lst.setViewMode(QListView.ViewMode.IconMode)
        lst.setIconSize(QSize(96, 96))
        lst.setResizeMode(QListView.ResizeMode.Adjust)
        clock = Clock.of(self.ctx.memory)
        for f in faces:
            item = QListWidgetItem(f"{clock.local(f.t):%d %b} {clock.time(f.t, seconds=True)}" if f.t else "")
            item.setData(ROLE_ID, f.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            lst.addItem(item)
            self.thumbs.request(f.crop_id, functools.partial(_set_icon_safely, item))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(dlg.accept)
        buttons.rejected.connect(dlg.reject)
        lay = QVBoxLayout(dlg)
        lay.addWidget(QLabel("Tick the faces that are someone else:"))
        lay.addWidget(lst)
        lay.addWidget(buttons)
        dlg.resize(640, 480)

        def accepted() -> None:
            chosen = [str(lst.item(i).data(ROLE_ID)) for i in range(lst.count())
                      if lst.item(i).checkState() == Qt.CheckState.Checked]
            if chosen:  # the person the dialog was opened for, even if the selection moved
                mem = self.ctx.memory
                self._write(lambda: mem.split_person(pid, chosen),
                            lambda p: f"Split {len(chosen)} face(s) off as a new person.")

        dlg.accepted.connect(accepted)
        dlg.finished.connect(lambda _code: setattr(self, "split_dialog", None))
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.split_dialog = dlg
        self.split_faces = lst
        dlg.open()  # window-modal but not blocking: no nested event loop (and testable)

    def show_in_timeline(self) -> None:
        """The timeline, filtered to the days and episodes with the selected person."""
        ids = self.selected_ids()
        if len(ids) == 1:
            self.ctx.navigate("timeline", person_id=ids[0])

    def forget_selected(self) -> None:
        """Forget the selected person for good (asks first: :mod:`ui.forget`)."""
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        p = self.person_by_id(ids[0])
        what = p.name if p is not None and p.name else "this unnamed person"
        self.error.setVisible(False)
        forgetter_for(self.ctx).start(ForgetRequest("person", ids[0]), what, self, self._fail)

    def undo(self) -> None:
        mem = self.ctx.memory
        self._write(mem.undo_people_edit, lambda e: f"Undid the {e.describe()}.")

    # -------------------------------------------------------- their episodes
    def show_person(self, person_id: str) -> None:
        self.shown_person = person_id
        p = self.person_by_id(person_id)
        self.side_title.setText(f"Where {person_title(p) if p else 'they'} {'was' if p else 'were'} seen")
        self.side_list.clear()
        mem = self.ctx.memory

        def done(eps: list[EpisodeInfo]) -> None:
            if self.shown_person != person_id:
                return
            self.person_episodes = sorted(eps, key=lambda e: e.start, reverse=True)
            self.side_list.clear()
            clock = Clock.of(mem)
            for e in self.person_episodes:
                said = e.description or e.summary
                item = QListWidgetItem(f"{clock.when(e.start)} ({clock.span(e.start, e.end)})\n{said}")
                item.setData(ROLE_ID, e.id)
                self.side_list.addItem(item)

        self.ctx.tasks.read(lambda: mem.person_episodes(person_id), guarded(self, done), guarded(self, self._fail))

    def _open_episode(self, item: QListWidgetItem) -> None:
        eid = str(item.data(ROLE_ID))
        e = next((x for x in self.person_episodes if x.id == eid), None)
        if e is not None:
            self.ctx.navigate("timeline", day=e.start.date(), episode_id=e.id, moment=e.start)


def _set_icon_safely(item: QListWidgetItem, pm: QPixmap) -> None:
    with contextlib.suppress(RuntimeError):  # the dialog was closed before the thumbnail arrived
        item.setIcon(pm)
