"""A first, thin desktop window over the core: ask a question (Ctrl+K), see the answer and the
matching episodes with thumbnails, browse all episodes. Core calls run on a worker thread; the
UI thread only renders results. The full app (timeline, people, import queue, settings) grows
from here.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from lifelog.api import Memory
from ui.qt import (
    QApplication,
    QImage,
    QKeySequence,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QObject,
    QPixmap,
    QRunnable,
    QShortcut,
    QThreadPool,
    QVBoxLayout,
    QWidget,
    Signal,
)


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)


class Job(QRunnable):
    """Runs ``fn`` off the UI thread and reports back through signals."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as e:  # reported to the UI, never swallowed
            traceback.print_exc()
            self.signals.failed.emit(str(e) or type(e).__name__)
            return
        self.signals.done.emit(result)


class MainWindow(QMainWindow):
    def __init__(self, memory: Memory, now: datetime | None = None) -> None:
        super().__init__()
        self.memory = memory
        self.now = now
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)  # one worker: core calls are serialised
        self.setWindowTitle(f"lifelog — {memory.data_dir}")
        self.resize(900, 640)
        central = QWidget()
        layout = QVBoxLayout(central)
        self.ask_box = QLineEdit()
        self.ask_box.setPlaceholderText("Ask your memory… e.g. when did I last see a cat?  (Ctrl+K)")
        self.ask_box.returnPressed.connect(self.ask)
        self.answer = QLabel("")
        self.answer.setWordWrap(True)
        self.results = QListWidget()
        self.results.setIconSize(self.results.iconSize().expandedTo(self.results.iconSize() * 4))
        layout.addWidget(self.ask_box)
        layout.addWidget(self.answer)
        layout.addWidget(self.results)
        self.setCentralWidget(central)
        self.focus_ask = QShortcut(QKeySequence("Ctrl+K"), self)
        self.focus_ask.activated.connect(self.ask_box.setFocus)
        self.statusBar().showMessage("Loading episodes…")
        self._run(self._load_episodes, self._show_episodes)

    # ------------------------------------------------------------------ work
    def _run(self, fn: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        job = Job(fn)
        job.signals.done.connect(on_done)
        job.signals.failed.connect(lambda msg: self.statusBar().showMessage(f"Error: {msg}"))
        self.pool.start(job)

    def _load_episodes(self) -> list[tuple[str, bytes | None]]:
        out = []
        for e in self.memory.episodes():
            thumb = self.memory.thumbnail(e.thumb_ids[0]) if e.thumb_ids else None
            out.append((f"{e.start:%a %d %b %Y %H:%M}–{e.end:%H:%M}  {e.summary}", thumb))
        return out

    def _show_episodes(self, rows: list[tuple[str, bytes | None]]) -> None:
        self.results.clear()
        for text, thumb in rows:
            self._add_item(text, thumb)
        self.statusBar().showMessage(f"{len(rows)} episodes in {self.memory.data_dir}")

    def ask(self) -> None:
        q = self.ask_box.text().strip()
        if not q:
            return
        self.answer.setText("Thinking…")
        self._run(lambda: self._ask(q), self._show_answer)

    def _ask(self, question: str) -> tuple[str, list[tuple[str, bytes | None]]]:
        from lifelog.recall.answer import ask
        from lifelog.recall.parse import QuestionError, parse_now

        now = self.now or parse_now(None)
        try:
            ans = ask(self.memory, question, now=now, limit=10, thumbnails=False)
        except QuestionError as e:
            return str(e), []
        rows = []
        for h in ans.hits:
            ep = self.memory.episode(h.episode_id)
            thumb = self.memory.thumbnail(ep.thumb_ids[0]) if ep and ep.thumb_ids else None
            ev = "; ".join(e.text for e in h.evidence[:2])
            rows.append((f"{h.start:%a %d %b %Y %H:%M}–{h.end:%H:%M}  score {h.score:.2f}  {ev}", thumb))
        return ans.answer, rows

    def _show_answer(self, result: tuple[str, list[tuple[str, bytes | None]]]) -> None:
        sentence, rows = result
        self.answer.setText(sentence)
        self.results.clear()
        for text, thumb in rows:
            self._add_item(text, thumb)

    def _add_item(self, text: str, thumb: bytes | None) -> None:
        item = QListWidgetItem(text)
        if thumb:
            img = QImage.fromData(thumb)
            if not img.isNull():
                item.setIcon(QPixmap.fromImage(img))
        self.results.addItem(item)


def main(data_dir: str | Path | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    win = MainWindow(Memory(data_dir))
    win.show()
    return int(app.exec())
