"""The trash and retention in the app (issue #12 parts 2 and 3), offscreen against a real memory
built from real media: a cat and a rocket on one day, a cat on the next.

*Move to trash* on the open episode takes it off the timeline at once and Undo in the status bar
brings it back; a day moved to the trash is restored from Settings ▸ Privacy ▸ Trash; the
retention rules are edited with validation and their Preview counts what would go; at start-up
the window purges what has been in the trash too long (on its write thread) and says so.

The memory is built once for the module and copied for each test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

NOW = datetime(2024, 5, 16, 12, 0, tzinfo=UTC)
WAIT = 60000


@dataclass
class Sample:
    data_dir: Path
    day1: date
    day2: date
    first_cat: str
    rocket: str
    last_cat: str


@pytest.fixture(scope="module")
def sample(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("ui-trash")

    def clip(name: str, src: str, at: datetime) -> Path:
        return make_clip(root / name, media.path(src), 4, at, fps=10, size=(320, 240))

    files = [clip("cat1.mp4", "chelsea.png", datetime(2024, 5, 14, 9, 0, tzinfo=UTC)),
             clip("rocket.mp4", "rocket.jpg", datetime(2024, 5, 14, 12, 0, tzinfo=UTC)),
             clip("cat2.mp4", "chelsea.png", datetime(2024, 5, 15, 19, 0, tzinfo=UTC))]
    mem = Memory(root / "memory")
    assert mem.import_paths(files).imported == 3

    def at(d: int, h: int) -> str:
        t = datetime(2024, 5, d, h, 0, tzinfo=UTC)
        return next(e.id for e in mem.episodes() if abs((e.start - t).total_seconds()) < 60)

    tz = mem.tz
    return Sample(root / "memory", datetime(2024, 5, 14, 12, tzinfo=UTC).astimezone(tz).date(),
                  datetime(2024, 5, 15, 19, tzinfo=UTC).astimezone(tz).date(), at(14, 9), at(14, 12), at(15, 19))


@pytest.fixture
def data_dir(sample: Sample, tmp_path: Path) -> Path:
    d = tmp_path / "memory"
    shutil.copytree(sample.data_dir, d)
    (d / "write.lock").unlink(missing_ok=True)
    return d


def _open(data_dir: Path, qtbot: Any) -> Any:
    from lifelog.api import Memory
    from ui.app import MainWindow

    win = MainWindow(Memory(data_dir), now=NOW)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def window(data_dir: Path, qtbot: Any) -> Iterator[Any]:
    win = _open(data_dir, qtbot)
    yield win
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def _left() -> Any:
    from ui.qt import Qt

    return Qt.MouseButton.LeftButton


def _timeline(win: Any, qtbot: Any) -> Any:
    tl = win.page("timeline")
    qtbot.waitUntil(lambda: tl.loaded and tl.episode_list.count() > 0, timeout=WAIT)
    return tl


def test_move_to_trash_from_the_timeline_and_undo(window: Any, sample: Sample, data_dir: Path, qtbot: Any) -> None:
    from lifelog.api import Memory

    tl = _timeline(window, qtbot)
    qtbot.waitUntil(lambda: window.retention_result is not None, timeout=WAIT)  # start-up retention ran
    assert window.retention_result.is_empty()
    window.navigate("timeline", day=sample.day1, episode_id=sample.rocket)
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.episode_id == sample.rocket
                    and tl.panel.trash_btn.isEnabled(), timeout=WAIT)
    assert not window.undo_button.isVisible()

    qtbot.mouseClick(tl.panel.trash_btn, _left())  # no question asked: it can be undone
    qtbot.waitUntil(lambda: window.undo_button.isVisible() and not window.tasks.busy()
                    and tl.day == sample.day1 and sample.rocket not in tl.episode_ids()
                    and tl.episode_ids() == [sample.first_cat], timeout=WAIT)
    assert window.statusBar().currentMessage().startswith("Moved the episode of"), \
        window.statusBar().currentMessage()
    assert sample.rocket not in {e.id for e in Memory(data_dir).episodes()}
    trash = window.page("settings").privacy.trash
    qtbot.waitUntil(lambda: len(trash.entries) == 1, timeout=WAIT)

    qtbot.mouseClick(window.undo_button, _left())
    qtbot.waitUntil(lambda: not window.undo_button.isVisible() and not window.tasks.busy()
                    and sample.rocket in tl.episode_ids(), timeout=WAIT)
    assert tl.episode_ids() == [sample.first_cat, sample.rocket]
    assert window.statusBar().currentMessage().startswith("Restored"), window.statusBar().currentMessage()
    assert Memory(data_dir).trash() == []
    qtbot.waitUntil(lambda: trash.loaded and trash.entries == [], timeout=WAIT)


def test_a_day_moved_to_trash_is_restored_from_the_trash_view(
        window: Any, sample: Sample, data_dir: Path, qtbot: Any) -> None:
    tl = _timeline(window, qtbot)
    window.navigate("timeline", day=sample.day1)
    qtbot.waitUntil(lambda: tl.day == sample.day1 and tl.trash_day_btn.isEnabled()
                    and sample.first_cat in tl.episode_ids(), timeout=WAIT)
    qtbot.mouseClick(tl.trash_day_btn, _left())
    # the day leaves the day list; the nearest day opens
    qtbot.waitUntil(lambda: not window.tasks.busy() and tl.day == sample.day2
                    and tl.episode_ids() == [sample.last_cat], timeout=WAIT)
    from ui.pages.timeline import ROLE_ID

    days = [tl.day_list.item(i).data(ROLE_ID) for i in range(tl.day_list.count())]
    assert days == [sample.day2]

    window.navigate("settings")
    trash = window.page("settings").privacy.trash
    qtbot.waitUntil(lambda: len(trash.entries) == 1, timeout=WAIT)
    assert "a day, 2 episodes" in trash.lines()[0], trash.lines()
    assert not trash.restore_button.isEnabled()
    trash.list.setCurrentRow(0)
    assert trash.restore_button.isEnabled() and trash.empty_button.isEnabled()
    qtbot.mouseClick(trash.restore_button, _left())
    qtbot.waitUntil(lambda: not window.tasks.busy() and trash.entries == [] and trash.loaded, timeout=WAIT)
    assert trash.lines() == ["The trash is empty."]
    qtbot.waitUntil(lambda: len(tl.days) == 2 and not window.tasks.busy(), timeout=WAIT)
    # ...and Empty trash forgets for good, after a confirmation
    from lifelog.api import Memory

    Memory(data_dir).trash_episodes([sample.last_cat])
    trash.refresh()
    qtbot.waitUntil(lambda: len(trash.entries) == 1 and trash.empty_button.isEnabled(), timeout=WAIT)
    qtbot.mouseClick(trash.empty_button, _left())
    qtbot.waitUntil(lambda: trash.confirm is not None and trash.confirm.isVisible(), timeout=WAIT)
    ok = next(b for b in trash.confirm.buttons() if b.text() == "Empty trash")
    qtbot.mouseClick(ok, _left())
    qtbot.waitUntil(lambda: not window.tasks.busy() and trash.entries == [] and trash.loaded, timeout=WAIT)
    assert Memory(data_dir).episode(sample.last_cat) is None


def test_retention_rules_validate_and_preview_counts(window: Any, sample: Sample, data_dir: Path, qtbot: Any) -> None:
    from lifelog.api import Memory

    welcome = window.page("welcome").retention.text()
    # the default: strangers' faces go after 90 days (issue 17's lead fix), the rest is kept
    assert "Strangers' faces 90 days; the trash is kept 30 days" in welcome and 'href="settings"' in welcome
    box = window.page("settings").privacy.retention
    assert box.edits["trash_days"].text() == "30" and box.edits["everything_days"].text() == ""
    box.edits["everything_days"].setText("0")
    qtbot.mouseClick(box.preview_button, _left())
    assert box.errors["everything_days"].isVisibleTo(box) and box.plan is None
    # older than one day at NOW (16 May, 12:00): the first day's two episodes
    box.edits["everything_days"].setText("1")
    box.edits["thumbnails_days"].setText("")
    qtbot.mouseClick(box.preview_button, _left())
    qtbot.waitUntil(lambda: box.plan is not None, timeout=WAIT)
    assert box.plan.counts()["episodes"] == 2
    assert box.result.text().startswith("Will remove 2 episodes forgotten"), box.result.text()
    assert {e.id for e in Memory(data_dir).episodes()} >= {sample.first_cat, sample.rocket}, "a preview removes nothing"
    qtbot.mouseClick(box.apply_button, _left())
    qtbot.waitUntil(lambda: box.applied is not None and not window.tasks.busy(), timeout=WAIT)
    assert "Removed for good: 2 episodes forgotten" in box.result.text(), box.result.text()
    mem = Memory(data_dir)
    assert mem.settings.retention.everything_days == 1
    assert [e.id for e in mem.episodes()] == [sample.last_cat]


def test_the_app_purges_expired_trash_at_start(data_dir: Path, sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory

    Memory(data_dir).trash_episodes([sample.rocket], now=NOW - timedelta(days=31))
    win = _open(data_dir, qtbot)
    qtbot.waitUntil(lambda: win.retention_result is not None and not win.tasks.busy(), timeout=WAIT)
    assert win.retention_result.trash == [sample.rocket]
    assert "1 episode from the trash" in win.statusBar().currentMessage(), win.statusBar().currentMessage()
    assert Memory(data_dir).episode(sample.rocket) is None
    win.close()
