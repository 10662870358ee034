"""Ask: a question in plain words (Ctrl+K from anywhere), the answer sentence, and the ranked
moments with a thumbnail, time, score and the evidence (kind + text) behind each. Clicking a
moment opens it in the timeline: its day, its episode, the frame nearest the evidence time.

The question runs on the read pool through :meth:`lifelog.api.Memory.ask`; a question that
cannot be understood (``QuestionError``) is shown in place of the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lifelog.api import Memory
from ui.context import AppContext
from ui.pages.episode import nearest_frame
from ui.qt import (
    QHBoxLayout,
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
from ui.widgets import Thumbs, error_line, guarded, muted, thumbs_for, when

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
class AskResult:
    question: str
    answer: str
    error: str | None
    hits: list[HitRow]


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
                           info.summary if info else "", ev))
    return AskResult(question, ans.answer, None, rows)


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

        self.answer = QLabel("Questions about what you saw, heard or read: “when did I last see a cat?”, "
                             "“how many times did I have coffee this week?”, “did anyone mention Dashwood?”")
        self.answer.setWordWrap(True)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        af = self.answer.font()
        af.setPointSizeF(af.pointSizeF() * 1.25)
        self.answer.setFont(af)
        self.error = error_line()
        self.hint = muted("")

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
        lay.addWidget(self.hits, 1)

    def focus_box(self) -> None:
        self.box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.box.selectAll()

    def on_changed(self, what: str) -> None:
        """After a forget the answer shown may point at what is gone: ask it again."""
        if what == "forgotten" and self.question:
            self.ask(self.question)

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
        token = self._token
        for i, h in enumerate(res.hits):
            lines = [f"{when(h.start)}–{h.end:%H:%M}    score {h.score:.2f}    {h.summary}"]
            for e in h.evidence[:4]:
                lines.append(f"   {e.kind}: {e.text}  ({e.time:%H:%M:%S})")
            item = QListWidgetItem("\n".join(lines))
            item.setData(ROLE_ROW, i)
            self.hits.addItem(item)
            self.thumbs.request(h.thumb_id, self._icon_setter(token, i))

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
