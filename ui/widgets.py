"""Small shared pieces of the browsing pages: the thumbnail cache and text formatting.

Thumbnails are encrypted in the vault. :class:`Thumbs` decrypts and decodes them on the read
pool (``memory.thumbnail`` → JPEG bytes → a scaled ``QImage``, both safe off the UI thread) and
turns them into ``QPixmap`` on the UI thread, keeping the most recent ones in a small LRU cache so
moving between days and pages does not decrypt the same picture twice.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import TypeVar

from lifelog.api import Memory
from lifelog.api.clock import Clock
from ui.qt import QImage, QLabel, QObject, QPixmap, QSize, Qt, is_alive
from ui.tasks import Tasks

log = logging.getLogger(__name__)
THUMB_SIZE = QSize(160, 120)
_A = TypeVar("_A")


def guarded(owner: QObject, fn: Callable[[_A], None]) -> Callable[[_A], None]:
    """``fn`` for a task callback that does nothing once ``owner`` (a page) was deleted: a result
    may arrive after its window closed."""

    def call(value: _A) -> None:
        if is_alive(owner):
            fn(value)

    return call


class Thumbs(QObject):
    """Decrypted thumbnails as pixmaps, loaded off the UI thread and cached (LRU)."""

    def __init__(self, memory: Memory, tasks: Tasks, size: QSize = THUMB_SIZE, capacity: int = 800,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.memory = memory
        self.tasks = tasks
        self.size = size
        self.capacity = capacity
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._waiting: dict[str, list[Callable[[QPixmap], None]]] = {}
        self.decrypted = 0  # how many thumbnails were decrypted (cache misses), for tests and benches

    def cached(self, blob_id: str | None) -> QPixmap | None:
        if not blob_id:
            return None
        pm = self._cache.get(blob_id)
        if pm is not None:
            self._cache.move_to_end(blob_id)
        return pm

    def drop_all(self) -> None:
        """Empty the cache (after a forget: no forgotten picture stays in the app's memory)."""
        self._cache.clear()

    def request(self, blob_id: str | None, on_ready: Callable[[QPixmap], None]) -> None:
        """Call ``on_ready(pixmap)`` on the UI thread: at once when cached, else after a worker
        decrypted it. A thumbnail that cannot be read is logged by the task and never delivered."""
        if not blob_id:
            return
        pm = self.cached(blob_id)
        if pm is not None:
            on_ready(pm)
            return
        waiting = self._waiting.get(blob_id)
        if waiting is not None:  # already on its way: one decrypt for all who asked
            waiting.append(on_ready)
            return
        self._waiting[blob_id] = [on_ready]
        memory, size = self.memory, self.size

        def load() -> QImage:
            return _decode(memory, blob_id, size)

        def done(img: QImage) -> None:
            if is_alive(self):  # the window may have closed while the thumbnail was on its way
                self._deliver(blob_id, img)

        def failed(msg: str) -> None:
            self._waiting.pop(blob_id, None)

        self.tasks.read(load, done, failed)

    def request_many(self, wanted: Sequence[tuple[str | None, Callable[[QPixmap], None]]], chunk: int = 12) -> None:
        """:meth:`request` for many thumbnails at once: those not cached are decrypted ``chunk`` to
        a task (a day's list or a screen of tiles costs a few tasks, not one per picture). One
        that cannot be read is logged and never delivered; the others still are."""
        todo: list[str] = []
        for blob_id, on_ready in wanted:
            if not blob_id:
                continue
            pm = self.cached(blob_id)
            if pm is not None:
                on_ready(pm)
                continue
            waiting = self._waiting.get(blob_id)
            if waiting is not None:
                waiting.append(on_ready)
                continue
            self._waiting[blob_id] = [on_ready]
            todo.append(blob_id)
        memory, size = self.memory, self.size
        for k in range(0, len(todo), chunk):
            ids = todo[k:k + chunk]

            def load(ids: list[str] = ids) -> list[tuple[str, QImage | None]]:
                out: list[tuple[str, QImage | None]] = []
                for b in ids:
                    try:
                        out.append((b, _decode(memory, b, size)))
                    except Exception as e:  # one bad thumbnail must not hide the others
                        log.warning("thumbnail %s could not be shown: %s", b, e)
                        out.append((b, None))
                return out

            def done(res: list[tuple[str, QImage | None]]) -> None:
                if not is_alive(self):
                    return
                for b, img in res:
                    if img is None:
                        self._waiting.pop(b, None)
                    else:
                        self._deliver(b, img)

            def failed(msg: str, ids: list[str] = ids) -> None:
                for b in ids:
                    self._waiting.pop(b, None)

            self.tasks.read(load, done, failed)

    def _deliver(self, blob_id: str, img: QImage) -> None:
        self.decrypted += 1
        pm = QPixmap.fromImage(img)
        self._cache[blob_id] = pm
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        for cb in self._waiting.pop(blob_id, []):
            cb(pm)


def _decode(memory: Memory, blob_id: str, size: QSize) -> QImage:
    """Decrypt a thumbnail and decode it, scaled down to ``size`` (on a worker: QImage is safe
    off the UI thread, QPixmap is not)."""
    img = QImage.fromData(memory.thumbnail(blob_id))
    if img.isNull():
        raise ValueError(f"thumbnail {blob_id} is not a picture")
    if img.width() > size.width() or img.height() > size.height():
        img = img.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return img


def thumbs_for(memory: Memory, tasks: Tasks) -> Thumbs:
    """The one thumbnail cache of a window, shared by all its pages (a child of its Tasks)."""
    found = tasks.findChild(Thumbs)
    if isinstance(found, Thumbs):
        return found
    return Thumbs(memory, tasks, parent=tasks)


# ------------------------------------------------------------------ formatting
# Every time the app shows goes through the memory's clock (lifelog.api.clock): pass the zone
# (``memory.tz``) or a :class:`Clock`; without one a time is shown in the zone it carries.
def _clock(t: datetime, tz: tzinfo | Clock | None) -> Clock:
    if isinstance(tz, Clock):
        return tz
    zone = tz or t.tzinfo
    return Clock(zone if zone is not None else UTC)


def span(start: datetime, end: datetime, tz: tzinfo | Clock | None = None) -> str:
    """``09:30–09:42`` (seconds when the episode is shorter than a minute)."""
    return _clock(start, tz).span(start, end)


def day_title(d: date) -> str:
    return Clock.day_title(d)


def when(t: datetime, tz: tzinfo | Clock | None = None) -> str:
    """``Wed 15 May 2024, 20:00``."""
    return _clock(t, tz).when(t)


def clock_time(t: datetime, tz: tzinfo | Clock | None = None, *, seconds: bool = False) -> str:
    """``20:00`` (``20:00:05`` with ``seconds``)."""
    return _clock(t, tz).time(t, seconds=seconds)


def names(items: Sequence[str], empty: str = "—", most: int = 6) -> str:
    if not items:
        return empty
    shown = ", ".join(items[:most])
    return shown + (f" +{len(items) - most}" if len(items) > most else "")


def heading(text: str) -> QLabel:
    label = QLabel(text)
    f = label.font()
    f.setBold(True)
    f.setPointSizeF(f.pointSizeF() * 1.15)
    label.setFont(f)
    return label


def muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(mid);")
    return label


ERROR_STYLE = "color: #a40000;"  # one error colour for the whole app


def error_line() -> QLabel:
    """A hidden, wrapping, red line for a page's errors (shown with setText + setVisible)."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setStyleSheet(ERROR_STYLE)
    label.setVisible(False)
    return label


def human_bytes(n: int) -> str:
    """A byte count as people read it (\"1.5 MB\")."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover
