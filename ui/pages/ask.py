"""Ask: a question in plain words (Ctrl+K from anywhere), the answer sentence, and the ranked
moments with a thumbnail, time, score and the evidence (kind + text) behind each. Clicking a
moment opens it in the timeline: its day, its episode, the frame nearest the evidence time.

The question runs on the read pool through :meth:`lifelog.api.Memory.ask`; a question that
cannot be understood (``QuestionError``) is shown in place of the answer.

Every time is shown on the memory's clock (:class:`lifelog.api.clock.Clock`), the same as the
timeline it opens. An answer about someone not named yet shows their face and a **Name…**
button (never a command to type): naming them asks the question again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lifelog.api import Memory
from lifelog.api.clock import Clock
from ui.context import AppContext
from ui.pages.episode import nearest_frame
from ui.qt import (
    QHBoxLayout,
    QIcon,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPixmap,
    QPushButton,
    QSize,
    Qt,
    QVBoxLayout,
    QWidget,
)
from ui.widgets import Thumbs, error_line, guarded, muted, thumbs_for

ROLE_ROW = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class EvidenceLine:
    kind: str
    time: datetime
    text: str


@dataclass(frozen=True)
class HitRow:
    """One ranked moment, ready to draw."""

    episode_id: str
    start: datetime
    end: datetime
    score: float
    day: date
    moment: datetime  # the time of the best evidence: where the timeline should land
    thumb_id: str | None  # the frame nearest that moment
    summary: str
    evidence: list[EvidenceLine]


@dataclass(frozen=True)
class ToName:
    """Someone the answer is about who has no name yet (the Name… button names them)."""

    person_id: str
    crop_id: str | None  # their face, for the button's picture
    suggested_name: str | None  # the name the question used, if nobody has it


@dataclass(frozen=True)
class AskResult:
    question: str
    answer: str
    error: str | None
    hits: list[HitRow]
    to_name: list[ToName] = field(default_factory=list)


def run_question(memory: Memory, question: str, now: datetime, limit: int = 10) -> AskResult:
    """The whole question, off the UI thread: the answer and, per hit, its thumbnail's blob id."""
    from lifelog.api.errors import QuestionError

    try:
        ans = memory.ask(question, now=now, limit=limit)
    except QuestionError as e:
        return AskResult(question, "", str(e), [])
    rows = []
    tz = memory.tz
    for h in ans.hits:
        ev = [EvidenceLine(e.kind, e.time, e.text) for e in h.evidence]
        timed = [e for e in h.evidence if e.kind in ("frame", "face", "transcript", "ocr")] or h.evidence
        moment = timed[0].time if timed else h.start
        frames = memory.episode_frames(h.episode_id)
        i = nearest_frame(frames, moment)
        info = memory.episode(h.episode_id)
        thumb = frames[i].thumb_id if i >= 0 else (info.thumb_ids[0] if info and info.thumb_ids else None)
        rows.append(HitRow(h.episode_id, h.start, h.end, h.score, h.start.astimezone(tz).date(), moment, thumb,
                           (info.description or info.summary) if info else "", ev))
    to_name = [ToName(p.person_id, p.crop_id, p.suggested_name) for p in ans.to_name]
    return AskResult(question, ans.answer, None, rows, to_name)


EXAMPLES_TEXT = ("Questions about what you saw, heard or read: “when did I last see a cat?”, "
                 "“how many times did I have coffee this week?”, “did anyone mention Dashwood?”")
EMPTY_TEXT = ("Your memory is empty, so there is nothing to ask about yet. Import a video or some photos "
              "first (File ▸ Import files…, Ctrl+O, or drop them on this window), then ask here: "
              "“when did I last see a cat?”")


class AskPage(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.thumbs: Thumbs = thumbs_for(ctx.memory, ctx.tasks)
        self.result: AskResult | None = None
        self.question = ""  # the last question asked (asked again after a forget)
        self._token = 0

        self.box = QLineEdit()
        self.box.setPlaceholderText("Ask your memory… e.g. when did I last see a cat?   (Ctrl+K)")
        self.box.setClearButtonEnabled(True)
        self.box.returnPressed.connect(lambda: self.ask())
        f = self.box.font()
        f.setPointSizeF(f.pointSizeF() * 1.3)
        self.box.setFont(f)
        self.go = QPushButton("Ask")
        self.go.clicked.connect(lambda: self.ask())
        row = QHBoxLayout()
        row.addWidget(self.box, 1)
        row.addWidget(self.go)

        self.answer = QLabel(EXAMPLES_TEXT)
        self.answer.setWordWrap(True)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        af = self.answer.font()
        af.setPointSizeF(af.pointSizeF() * 1.25)
        self.answer.setFont(af)
        self.error = error_line()
        self.hint = muted("")

        # people the answer is about who have no name yet: their face and a Name… button each
        self.to_name_box = QWidget()
        self.to_name_row = QHBoxLayout(self.to_name_box)
        self.to_name_row.setContentsMargins(0, 0, 0, 0)
        self.to_name_box.setVisible(False)
        self.name_buttons: list[QPushButton] = []
        self.name_dialog: QInputDialog | None = None  # open while a name is being typed

        self.hits = QListWidget()
        self.hits.setIconSize(QSize(160, 120))
        self.hits.setWordWrap(True)
        self.hits.setSpacing(3)
        self.hits.itemActivated.connect(self._open_item)
        self.hits.itemClicked.connect(self._open_item)

        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.answer)
        lay.addWidget(self.error)
        lay.addWidget(self.hint)
        lay.addWidget(self.to_name_box)
        lay.addWidget(self.hits, 1)
        self.check_empty()

    def check_empty(self) -> None:
        """An empty memory has nothing to answer from: say so, and what to do (read off the UI thread)."""
        mem = self.ctx.memory

        def done(episodes: int) -> None:
            if episodes == 0 and not self.question:
                self.answer.setText(EMPTY_TEXT)
            elif self.answer.text() == EMPTY_TEXT:
                self.answer.setText(EXAMPLES_TEXT)

        self.ctx.tasks.read(lambda: int(mem.stats().get("episodes", 0)), guarded(self, done))

    def focus_box(self) -> None:
        self.box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.box.selectAll()

    def on_changed(self, what: str) -> None:
        """After a forget the answer shown may point at what is gone, after a people edit a name
        may have changed, after a settings change the zone: ask it again."""
        if what in ("forgotten", "people", "settings") and self.question:
            self.ask(self.question)
        if what in ("episodes", "forgotten", "imported"):
            self.check_empty()

    def show_with(self, question: str | None = None, **_: Any) -> None:
        if question:
            self.box.setText(question)
            self.ask()

    # ------------------------------------------------------------------- ask
    def ask(self, question: str | None = None) -> None:
        q = (question if question is not None else self.box.text()).strip()
        if question is not None:
            self.box.setText(question)
        if not q:
            return
        self.question = q
        self._token += 1
        token = self._token
        self.error.setVisible(False)
        self.answer.setText("Thinking…")
        self.hint.setText("")
        self.hits.clear()
        self._clear_to_name()
        mem, now = self.ctx.memory, self.ctx.now()

        def done(res: AskResult) -> None:
            if token == self._token:
                self._render(res)

        def failed(msg: str) -> None:
            if token == self._token:
                self._show_error(f"Something went wrong while answering: {msg}")

        self.ctx.tasks.read(lambda: run_question(mem, q, now), guarded(self, done), guarded(self, failed))

    def _show_error(self, msg: str) -> None:
        self.answer.setText("")
        self.error.setText(msg)
        self.error.setVisible(True)

    def _render(self, res: AskResult) -> None:
        self.result = res
        if res.error is not None:
            self._show_error(res.error)
            return
        self.answer.setText(res.answer)
        self.hint.setText("Click a moment to open it in the timeline." if res.hits else "")
        self._render_to_name(res.to_name)
        token = self._token
        clock = Clock.of(self.ctx.memory)  # the timeline's clock: the same moment reads the same
        for i, h in enumerate(res.hits):
            lines = [f"{clock.when(h.start)}–{clock.time(h.end)}    score {h.score:.2f}    {h.summary}"]
            for e in h.evidence[:4]:
                lines.append(f"   {e.kind}: {e.text}  ({clock.time(e.time, seconds=True)})")
            item = QListWidgetItem("\n".join(lines))
            item.setData(ROLE_ROW, i)
            self.hits.addItem(item)
            self.thumbs.request(h.thumb_id, self._icon_setter(token, i))

    # --------------------------------------------------------------- naming
    def _clear_to_name(self) -> None:
        while self.to_name_row.count():
            item = self.to_name_row.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.deleteLater()
        self.name_buttons = []
        self.to_name_box.setVisible(False)

    def _render_to_name(self, people: list[ToName]) -> None:
        self._clear_to_name()
        if not people:
            return
        asked = people[0].suggested_name
        note = QLabel(f"Is {asked} one of these? Name them:" if asked else "Not named yet:")
        self.to_name_row.addWidget(note)
        for p in people:
            btn = QPushButton("Name…")
            btn.setIconSize(QSize(48, 48))
            btn.setToolTip("Give this person a name (it shows everywhere, and this question is asked again)")
            btn.clicked.connect(lambda _=False, who=p: self.name_person(who))
            self.to_name_row.addWidget(btn)
            self.name_buttons.append(btn)
            self.thumbs.request(p.crop_id, _SetButtonIcon(self, self._token, btn))
        self.to_name_row.addStretch(1)
        self.to_name_box.setVisible(True)

    def name_person(self, who: ToName, name: str | None = None) -> None:
        """Name someone the answer is about (a dialog asks for the name unless ``name`` is given),
        then ask the question again."""
        if name is not None:
            self._save_name(who.person_id, name)
            return
        dlg = QInputDialog(self)
        dlg.setWindowTitle("Name this person")
        dlg.setLabelText("Name:")
        dlg.setTextValue(who.suggested_name or "")
        dlg.setModal(True)
        dlg.textValueSelected.connect(lambda text: self._save_name(who.person_id, text))
        dlg.finished.connect(lambda _r: self._dialog_closed(dlg))
        self.name_dialog = dlg
        dlg.open()

    def _dialog_closed(self, dlg: QInputDialog) -> None:
        if self.name_dialog is dlg:
            self.name_dialog = None
        dlg.deleteLater()

    def _save_name(self, person_id: str, name: str) -> None:
        mem = self.ctx.memory
        self.error.setVisible(False)

        def done(p: Any) -> None:
            self.ctx.status(f"Named {p.name}.")
            before = self._token
            self.ctx.changed("people")  # every page shows the name; this page asks again
            if self._token == before and self.question:
                self.ask(self.question)

        def failed(msg: str) -> None:
            self.error.setText(msg)
            self.error.setVisible(True)

        self.ctx.tasks.write(lambda: mem.name_person(person_id, name), guarded(self, done), guarded(self, failed))

    def _icon_setter(self, token: int, row: int) -> _SetIcon:
        return _SetIcon(self, token, row)

    def _open_item(self, item: QListWidgetItem) -> None:
        self.open_hit(int(item.data(ROLE_ROW)))

    def open_hit(self, row: int) -> None:
        """Open a ranked moment in the timeline."""
        if self.result is None or not 0 <= row < len(self.result.hits):
            return
        h = self.result.hits[row]
        self.ctx.navigate("timeline", day=h.day, episode_id=h.episode_id, moment=h.moment)


class _SetIcon:
    def __init__(self, page: AskPage, token: int, row: int) -> None:
        self.page, self.token, self.row = page, token, row

    def __call__(self, pm: QPixmap) -> None:
        if self.token == self.page._token:
            item = self.page.hits.item(self.row)
            if item is not None:
                item.setIcon(pm)


class _SetButtonIcon:
    def __init__(self, page: AskPage, token: int, button: QPushButton) -> None:
        self.page, self.token, self.button = page, token, button

    def __call__(self, pm: QPixmap) -> None:
        if self.token == self.page._token and self.button in self.page.name_buttons:
            self.button.setIcon(QIcon(pm))
