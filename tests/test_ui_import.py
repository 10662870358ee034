"""The app's Import page against a real store: drops become a queue, each row imports real
clips through the real core on the write thread, bad input gets a clear reason, cancel and
closing mid-import leave nothing half-imported; one app per memory folder.

Faces and OCR are switched off in these memories (settings.json) to keep the runtime low; the
import path is otherwise the real one (real decoder, real model, real LanceDB on disk).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Library, assert_consistent, cli_env, copy_to, journal_entries, library, store_rows, tmpfs

pytest.importorskip("PySide6")
pytestmark = pytest.mark.usefixtures("models_ready")

WAIT_MS = 120_000


@pytest.fixture(scope="session")
def lib(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Library:
    return library(tmp_path_factory, media)


def _fast_settings(data_dir: Path) -> None:
    from lifelog.config import Settings, save_settings

    s = Settings()
    s.capture.faces = False
    s.capture.ocr_interval_s = 0.0
    data_dir.mkdir(parents=True, exist_ok=True)
    save_settings(data_dir, s)


class Harness:
    """An Import page on a real memory, with the context's callbacks recorded."""

    def __init__(self, qtbot: Any, data_dir: Path, *, fast: bool = True) -> None:
        from lifelog.api import Memory
        from ui.context import AppContext
        from ui.pages.importer import Page
        from ui.tasks import Tasks

        if fast:
            _fast_settings(data_dir)
        self.memory = Memory(data_dir)
        self.tasks = Tasks()
        self.changed: list[str] = []
        self.statuses: list[str] = []
        self.ctx = AppContext(self.memory, self.tasks, changed=self.changed.append, status=self.statuses.append)
        self.page = Page(self.ctx)
        qtbot.addWidget(self.page)
        self.target: Any = self.page  # what drops are delivered to (the page, or a window)
        self.qtbot = qtbot

    def drop(self, *paths: Path) -> None:
        """A real drop event carrying file URLs, delivered to the page."""
        from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
        from PySide6.QtGui import QDragEnterEvent, QDropEvent

        from ui.qt import QApplication

        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        args = (QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                Qt.KeyboardModifier.NoModifier)
        enter = QDragEnterEvent(*args)
        QApplication.sendEvent(self.target, enter)
        assert enter.isAccepted(), "the drag of local files was refused"
        QApplication.sendEvent(self.target, QDropEvent(*args))

    def wait_all_finished(self) -> None:
        self.qtbot.waitUntil(lambda: self.page.items and all(it.finished for it in self.page.items),
                             timeout=WAIT_MS)

    def row_text(self, i: int) -> str:
        row = self.page._rows[id(self.page.items[i])]
        return str(row.state.text())

    def close(self) -> None:
        self.page.shutdown()  # waits for the write thread and lets the import process exit


@pytest.fixture
def harness(qtbot: Any, data_dir: Path) -> Iterator[Harness]:
    h = Harness(qtbot, data_dir)
    yield h
    h.close()


def _episode_media(data_dir: Path) -> set[str]:
    return {r["media_id"] for r in store_rows(data_dir, "episodes", ["media_id"])}


def _hash(p: Path) -> str:
    from lifelog.ingest.media import content_hash

    return content_hash(p)


# ---------------------------------------------------------------------------- the queue
def test_drop_queues_one_row_per_item_and_reports_each(harness: Harness, lib: Library, tmp_path: Path,
                                                       data_dir: Path) -> None:
    folder = tmp_path / "phone"
    copy_to(lib.coffee_jpg, folder / "coffee.jpg")
    (folder / "notes.txt").write_text("not media")
    notes = tmp_path / "shopping.txt"
    notes.write_text("milk")
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(os.urandom(64 << 10))
    empty = tmp_path / "empty-folder"
    empty.mkdir()

    harness.drop(lib.cat_morning, notes, garbage, folder, empty)
    page = harness.page
    assert [it.label for it in page.items] == ["cat_morning.mp4", "shopping.txt", "broken.mp4", "phone",
                                               "empty-folder"]
    assert page.queue.count() == 5
    harness.wait_all_finished()

    states = [it.state for it in page.items]
    assert states == ["done", "failed", "failed", "done", "failed"], [harness.row_text(i) for i in range(5)]
    assert "imported 1" in harness.row_text(0)
    assert "not a video, photo or audio file" in harness.row_text(1)
    broken = harness.row_text(2).lower()
    assert "not a readable media file" in broken or "corrupt" in broken, broken
    assert "imported 1" in harness.row_text(3)
    assert "folder has no video, photo or audio files" in harness.row_text(4)
    problems = page.problem_lines()
    assert any(line.startswith(f"{garbage}: ") for line in problems), problems
    assert any(line.startswith(f"{notes}: ") for line in problems), problems
    assert page.overall.value() == page.overall.maximum()
    assert "episodes" in harness.changed, "the timeline was not told about the new episodes"
    # what the queue says is what the memory holds
    assert _episode_media(data_dir) == {_hash(lib.cat_morning), _hash(lib.coffee_jpg)}
    assert_consistent(data_dir)

    # the same clip dropped again is recognised and skipped
    harness.drop(lib.cat_morning)
    harness.wait_all_finished()
    assert page.items[-1].state == "done" and "skipped 1" in harness.row_text(5)


def test_cancel_queued_and_running_items(harness: Harness, lib: Library, tmp_path: Path, data_dir: Path) -> None:
    longs = tmp_path / "longs"
    for p in lib.long_clips:
        copy_to(p, longs / p.name)
    page = harness.page
    running, queued, after = page.add_paths([longs, lib.rocket, lib.cat_evening])
    page.cancel_item(queued)
    assert queued.state == "cancelled" and "before it started" in queued.detail
    # wait until the first clip of the folder is committed and the next one is under way
    harness.qtbot.waitUntil(lambda: running.latest is not None and running.latest.files_done >= 1,
                            timeout=WAIT_MS)
    page.cancel_item(running)
    harness.wait_all_finished()
    assert running.state == "cancelled", running.detail
    assert "files finished before are kept" in running.detail
    assert after.state == "done", after.detail  # the queue moved on after the cancel
    committed = {r["id"] for r in store_rows(data_dir, "media", ["id"])}
    longs_in = {_hash(p) for p in lib.long_clips} & committed
    assert 1 <= len(longs_in) < len(lib.long_clips)
    assert _episode_media(data_dir) == longs_in | {_hash(lib.cat_evening)}
    assert _hash(lib.rocket) not in committed
    assert journal_entries(data_dir) == []
    assert_consistent(data_dir)


def test_import_process_killed_midway_fails_the_row_and_the_next_import_recovers(
    harness: Harness, lib: Library, tmp_path: Path, data_dir: Path
) -> None:
    """The import runs in a child process (ui/import_worker.py); if it dies (killed, out of
    memory) the row says so, the app carries on, and the next import rolls the torn file back."""
    import signal

    longs = tmp_path / "longs"
    for p in lib.long_clips:
        copy_to(p, longs / p.name)
    page = harness.page
    (item,) = page.add_paths([longs])
    harness.qtbot.waitUntil(lambda: item.latest is not None and item.latest.files_done >= 1, timeout=WAIT_MS)
    proc = page.worker._proc
    assert proc is not None
    os.kill(proc.pid, signal.SIGKILL)
    harness.wait_all_finished()
    assert item.state == "failed" and "ended unexpectedly" in item.detail, item.detail
    harness.drop(lib.cat_evening)
    harness.wait_all_finished()
    assert page.items[1].state == "done", page.items[1].detail
    assert journal_entries(data_dir) == []
    assert_consistent(data_dir)
    committed = {r["id"] for r in store_rows(data_dir, "media", ["id"])}
    assert _hash(lib.cat_evening) in committed and _episode_media(data_dir) == committed


def test_close_mid_import_asks_then_cancels_and_leaves_nothing_half_imported(
    qtbot: Any, lib: Library, tmp_path: Path, data_dir: Path
) -> None:
    longs = tmp_path / "longs"
    for p in lib.long_clips:
        copy_to(p, longs / p.name)
    h = Harness(qtbot, data_dir)
    page = h.page
    (item,) = page.add_paths([longs])
    qtbot.waitUntil(lambda: item.latest is not None and item.latest.files_done >= 1, timeout=WAIT_MS)
    asked: list[bool] = []
    page.ask_confirm = lambda: asked.append(False) or False
    assert page.confirm_close() is False  # the user said no: the import goes on
    assert asked and not item.finished and not item.cancel_requested
    page.ask_confirm = lambda: True
    assert page.confirm_close() is True
    # confirm_close returned only after the worker finished: nothing is running any more
    assert not h.tasks.writes.activeThreadCount()
    # a fresh reader (as after a restart) sees only whole files
    assert journal_entries(data_dir) == []
    assert_consistent(data_dir)
    committed = {r["id"] for r in store_rows(data_dir, "media", ["id"])}
    assert 1 <= len(committed) < len(lib.long_clips)
    assert _episode_media(data_dir) == committed
    from lifelog.api import Memory

    again = Memory(data_dir)
    assert {e.id.split("-")[0] for e in again.episodes()} <= committed


# ------------------------------------------------------------------------ bad folders


def test_read_only_memory_folder_says_so_and_changes_nothing(qtbot: Any, lib: Library, tmp_path: Path) -> None:
    from ui.instance import InstanceLock

    with tmpfs(tmp_path / "mnt", "64m") as mnt:
        data = mnt / "memory"
        _fast_settings(data)
        from lifelog.api import Memory

        assert Memory(data).import_paths([lib.cat_morning]).imported == 1
        before = sorted(r["id"] for r in store_rows(data, "episodes", ["id"]))
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        # the app's lock cannot be taken: the window opens the memory for browsing only
        lock = InstanceLock.acquire(data)
        assert lock.read_only and lock.fd is None
        h = Harness(qtbot, data, fast=False)
        # the page not told (a folder that became read-only while the app ran): the core's error
        h.drop(lib.rocket)
        h.wait_all_finished()
        text = h.row_text(0)
        assert h.page.items[0].state == "failed" and "read-only" in text, text
        assert h.page.notice.isVisible() or not h.page.notice.isHidden()
        assert "read-only" in h.page.notice.text()
        # told up front: rows fail at once, nothing is started
        h.page.read_only = True
        h.drop(lib.cat_evening)
        assert h.page.items[1].state == "failed" and "read-only" in h.row_text(1)
        assert sorted(r["id"] for r in store_rows(data, "episodes", ["id"])) == before
        assert len(Memory(data).episodes()) == len(before)
        h.close()
        del h
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)


def test_full_disk_says_so_and_loses_nothing(qtbot: Any, lib: Library, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "24m") as mnt:
        data = mnt / "memory"
        h = Harness(qtbot, data)
        h.drop(lib.cat_morning)
        h.wait_all_finished()
        assert h.page.items[0].state == "done"
        before = sorted(r["id"] for r in store_rows(data, "episodes", ["id"]))
        filler = mnt / "filler"
        st = os.statvfs(mnt)
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        os.posix_fallocate(fd, 0, st.f_bavail * st.f_frsize - (24 << 10))
        os.close(fd)
        h.drop(lib.rocket)
        h.wait_all_finished()
        item = h.page.items[1]
        assert item.state == "failed" and "disk full" in item.detail, item.detail
        assert "full" in h.page.notice.text() and not h.page.notice.isHidden()
        assert any("disk full" in line for line in h.page.problem_lines())
        filler.unlink()
        # nothing already stored was lost; with space again the same drop imports
        assert sorted(r["id"] for r in store_rows(data, "episodes", ["id"]))[: len(before)] == before
        assert_consistent(data, allow_journalled=True)
        h.drop(lib.rocket)
        h.wait_all_finished()
        assert h.page.items[2].state == "done", h.page.items[2].detail
        assert journal_entries(data) == []
        assert_consistent(data)
        assert _hash(lib.rocket) in _episode_media(data)
        h.close()
        del h


# ---------------------------------------------------------------------- one app per folder
_HOLD = """
import sys, time
from pathlib import Path
from ui.instance import InstanceLock
lock = InstanceLock.acquire(Path(sys.argv[1]))
print("locked", flush=True)
sys.stdin.readline()
"""


def test_second_instance_on_the_same_folder_is_refused(data_dir: Path) -> None:
    from ui.instance import AlreadyRunning, InstanceLock

    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(data_dir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=cli_env(), cwd=Path(__file__).parent.parent)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunning) as e:
            InstanceLock.acquire(data_dir)
        msg = str(e.value)
        assert str(data_dir) in msg and f"process {proc.pid}" in msg and "already open" in msg
        # refused before anything was opened for writing
        assert not (data_dir / "write.lock").exists()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)
    # once the first app is gone (however it ended), the folder is free again
    with InstanceLock.acquire(data_dir) as lock:
        assert lock.fd is not None and not lock.read_only
        with pytest.raises(AlreadyRunning):
            InstanceLock.acquire(data_dir)  # also within one process
    InstanceLock.acquire(data_dir).release()


# ------------------------------------------------------------------------- the window
def test_window_forwards_drops_and_closing_mid_import_leaves_nothing_half_imported(
    qtbot: Any, lib: Library, tmp_path: Path, data_dir: Path
) -> None:
    from lifelog.api import Memory
    from ui.app import MainWindow

    longs = tmp_path / "longs"
    for p in lib.long_clips:
        copy_to(p, longs / p.name)
    _fast_settings(data_dir)
    (data_dir / "app-opened").write_text("x")  # not a first run: no welcome in the way
    win = MainWindow(Memory(data_dir))
    qtbot.addWidget(win)
    win.show()
    h = Harness.__new__(Harness)
    h.qtbot, h.target = qtbot, win
    h.drop(longs)  # dropped on the window, not on the page
    page = win.page("import")
    assert win.current_key() == "import" and [it.label for it in page.items] == ["longs"]
    item = page.items[0]
    qtbot.waitUntil(lambda: item.latest is not None and item.latest.files_done >= 1, timeout=WAIT_MS)
    page.ask_confirm = lambda: False
    assert win.close() is False and win.isVisible()  # "no": the window stays and the import goes on
    assert not item.finished
    page.ask_confirm = lambda: True
    assert win.close() is True
    assert not win.tasks.writes.activeThreadCount()
    assert journal_entries(data_dir) == []
    assert_consistent(data_dir)
    committed = {r["id"] for r in store_rows(data_dir, "media", ["id"])}
    assert 1 <= len(committed) < len(lib.long_clips)
    assert {e.id.split("-")[0] for e in Memory(data_dir).episodes()} <= committed
    assert _episode_media(data_dir) == committed
    from ui.qt import QApplication

    # deliver the pages' last queued results (and the reads they start) while they still exist
    qtbot.waitUntil(lambda: (QApplication.processEvents(), not win.tasks.busy())[1], timeout=WAIT_MS)


def test_second_app_on_the_same_folder_shows_a_message_and_opens_nothing(qtbot: Any, data_dir: Path) -> None:
    from ui.app import main
    from ui.qt import QApplication, QMessageBox, QTimer

    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(data_dir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=cli_env(), cwd=Path(__file__).parent.parent)
    seen: list[str] = []

    def answer_box() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.windowTitle() + " | " + box.text())
            box.accept()
        else:
            QTimer.singleShot(20, answer_box)

    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        QTimer.singleShot(20, answer_box)
        code = main(data_dir)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)
    assert code != 0
    assert len(seen) == 1 and "already open" in seen[0] and str(data_dir) in seen[0], seen
    # the second app stopped before opening the memory: no writer, no vault, no tables
    assert not (data_dir / "write.lock").exists()
    assert not (data_dir / "vault").exists()
