"""The Objects page against a real store built from real photos made into clips: a cup seen on
three days (one of them last month), a scooter once and a cat (an animal: not an object). The
labels come from the real classifier at import. Each test opens its own window on the store;
results are awaited with ``qtbot.waitUntil``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

NOW = datetime(2024, 5, 16, 12, 0, tzinfo=UTC)  # a Thursday: "this week" starts on Monday 13 May
CUP_APRIL = datetime(2024, 4, 20, 9, 0, tzinfo=UTC)  # before this month
CUP_MAY = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)  # this month, not this week
CUP_WEEK = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)  # this week
SCOOTER = datetime(2024, 5, 15, 13, 0, tzinfo=UTC)
CAT = datetime(2024, 5, 15, 16, 0, tzinfo=UTC)
WAIT = 60000


@dataclass
class Sample:
    data_dir: Path
    cup_week_episode: str


@pytest.fixture(scope="module")
def sample(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("ui-objects")
    size = (320, 240)
    clips = [
        make_clip(root / "cup_april.mp4", media.path("coffee.png"), 3, CUP_APRIL, fps=10, size=size),
        make_clip(root / "cup_may.mp4", media.path("coffee.png"), 3, CUP_MAY, fps=10, size=size, seed=1),
        make_clip(root / "cup_week.mp4", media.path("coffee.png"), 3, CUP_WEEK, fps=10, size=size, seed=2),
        make_clip(root / "scooter.mp4", media.path("motorcycle_left.png"), 3, SCOOTER, fps=10, size=size),
        make_clip(root / "cat.mp4", media.path("chelsea.png"), 3, CAT, fps=10, size=size),
    ]
    mem = Memory(root / "memory")
    result = mem.import_paths(clips)
    assert result.imported == len(clips), result.failed
    ep = next(e.id for e in mem.episodes() if abs((e.start - CUP_WEEK).total_seconds()) < 2)
    return Sample(root / "memory", ep)


@pytest.fixture
def window(sample: Sample, qtbot: Any) -> Iterator[Any]:
    from lifelog.api import Memory
    from ui.app import MainWindow

    win = MainWindow(Memory(sample.data_dir), now=NOW)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def _objects(win: Any, qtbot: Any) -> Any:
    from ui.pages.objects import ObjectsPage

    page = win.page("objects")
    assert isinstance(page, ObjectsPage)
    win.navigate("objects")
    qtbot.waitUntil(lambda: page.loaded, timeout=WAIT)
    return page


def _left() -> Any:
    from ui.qt import Qt

    return Qt.MouseButton.LeftButton


def test_objects_seen_are_listed_with_counts_and_thumbnails(window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory
    from ui.widgets import when

    assert "Objects" in [window.nav.item(i).text() for i in range(window.nav.count())]
    page = _objects(window, qtbot)
    assert page.names() == ["scooter", "cup"], "most recently seen first; the cat is an animal, not an object"
    assert page.visible_names() == ["scooter", "cup"]
    core = {o.name: o for o in Memory(sample.data_dir).objects()}
    cup_row = page.list.item(1).text()
    assert cup_row.startswith("cup") and f"{core['cup'].episodes} episodes" in cup_row
    assert core["cup"].episodes == 3
    assert f"first {when(core['cup'].first_seen)}" in cup_row and "20 Apr 2024" in cup_row
    assert f"last {when(core['cup'].last_seen)}" in cup_row
    qtbot.waitUntil(lambda: all(not page.list.item(i).icon().isNull() for i in range(page.list.count())),
                    timeout=WAIT)


def test_filter_narrows_the_list(window: Any, qtbot: Any) -> None:
    page = _objects(window, qtbot)
    qtbot.keyClicks(page.filter, "cu")
    assert page.visible_names() == ["cup"]
    assert "1 of 2" in page.note.text()
    page.filter.setText("espresso")  # an ImageNet class it was seen as also matches
    assert page.visible_names() == ["cup"]
    page.filter.setText("keys")
    assert page.visible_names() == []
    page.filter.clear()
    assert page.visible_names() == ["scooter", "cup"]


def test_period_selector_limits_objects_and_occurrences(window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory

    page = _objects(window, qtbot)
    mem = Memory(sample.data_dir)
    page.set_period("month")
    qtbot.waitUntil(lambda: page.loaded and page.period_key() == "month" and not window.tasks.busy(), timeout=WAIT)
    month = {o.name: o.episodes for o in mem.objects(datetime(2024, 5, 1, tzinfo=mem.tz))}
    assert {o.name: o.episodes for o in page.objects} == month
    assert month["cup"] == 2, "April's cup is not this month"
    page.set_period("week")
    qtbot.waitUntil(lambda: page.period_key() == "week" and not window.tasks.busy(), timeout=WAIT)
    assert {o.name: o.episodes for o in page.objects} == {"cup": 1, "scooter": 1}
    page.select_object("cup")
    qtbot.waitUntil(lambda: page.occurrences is not None, timeout=WAIT)
    assert [s.episode_id for s in page.occurrences.sightings] == [sample.cup_week_episode]


def test_selecting_shows_occurrences_and_a_click_opens_the_timeline(window: Any, sample: Sample,
                                                                     qtbot: Any) -> None:
    from lifelog.api import Memory
    from ui.pages.timeline import TimelinePage

    page = _objects(window, qtbot)
    row = page.names().index("cup")
    rect = page.list.visualItemRect(page.list.item(row))
    qtbot.mouseClick(page.list.viewport(), _left(), pos=rect.center())
    qtbot.waitUntil(lambda: page.occurrences is not None and page.occurrences.name == "cup", timeout=WAIT)
    core = Memory(sample.data_dir).object_timeline("cup")
    assert page.moments.count() == len(core) == 3
    assert sorted(s.episode_id for s in page.occurrences.sightings) == sorted(s.episode_id for s in core)
    assert "3 episodes" in page.side_title.text()
    # the per-day strip: one sighting on each of three days, oldest first
    days = [d for d, _ in page.occurrences.per_day]
    assert days == sorted(s.first.date() for s in core) and all(n == 1 for _, n in page.occurrences.per_day)
    assert f"{days[-1]:%a} {days[-1].day} {days[-1]:%b} ■ 1" in page.strip.text()
    # newest first, with time and thumbnail
    assert page.occurrences.sightings[0].episode_id == sample.cup_week_episode
    assert f"{core[-1].first:%H:%M}" in page.moments.item(0).text()
    qtbot.waitUntil(lambda: not page.moments.item(0).icon().isNull(), timeout=WAIT)

    rect = page.moments.visualItemRect(page.moments.item(0))
    qtbot.mouseClick(page.moments.viewport(), _left(), pos=rect.center())
    assert window.current_key() == "timeline"
    tl = window.page("timeline")
    assert isinstance(tl, TimelinePage)
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.episode_id == sample.cup_week_episode,
                    timeout=WAIT)
    assert tl.day == core[-1].first.date()


def test_an_empty_memory_says_what_objects_are(data_dir: Path, qtbot: Any) -> None:
    from lifelog.api import Memory
    from ui.app import MainWindow, PageSpec
    from ui.pages.objects import ObjectsPage

    win = MainWindow(Memory(data_dir), now=NOW, pages=[PageSpec("objects", "Objects", ObjectsPage)])
    qtbot.addWidget(win)
    page = _objects(win, qtbot)
    assert page.objects == [] and page.list.count() == 0
    assert "No everyday objects seen (all time)" in page.note.text()
    page.select_object("cup")  # e.g. navigate("objects", name="cup") on an empty memory
    qtbot.waitUntil(lambda: page.occurrences is not None, timeout=WAIT)
    assert page.moments.count() == 0 and "0 episodes" in page.side_title.text()
    page.open_moment(0)  # nothing to open: stays here
    assert win.current_key() == "objects"
    with pytest.raises(ValueError, match="unknown period"):
        page.set_period("fortnight")
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def test_forget_the_cup_forgets_every_episode_it_was_seen_in_and_nothing_else(
        sample: Sample, tmp_path: Path, qtbot: Any) -> None:
    """Forget… on an object asks first, then forgets its episodes of all time (not only the period
    shown); the scooter and the cat stay, and the cup leaves the list."""
    import shutil

    from lifelog.api import Memory
    from ui.app import MainWindow
    from ui.forget import ForgetDialog, forgetter_for

    data = tmp_path / "memory"
    shutil.copytree(sample.data_dir, data)
    (data / "write.lock").unlink(missing_ok=True)
    win = MainWindow(Memory(data), now=NOW)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    page = _objects(win, qtbot)
    page.set_period("week")  # the period shown; the forget still covers April's and May's cups
    qtbot.waitUntil(lambda: page.period_key() == "week" and not win.tasks.busy(), timeout=WAIT)
    assert not page.forget_btn.isEnabled(), "nothing selected yet"
    page.select_object("cup")
    qtbot.waitUntil(lambda: page.occurrences is not None and page.forget_btn.isEnabled(), timeout=WAIT)
    before = {e.id: e.start for e in Memory(data).episodes()}
    cups = {i for i, t in before.items()
            if any(abs((t - c).total_seconds()) < 2 for c in (CUP_APRIL, CUP_MAY, CUP_WEEK))}
    assert len(cups) == 3

    qtbot.mouseClick(page.forget_btn, _left())
    f = forgetter_for(win.ctx)
    qtbot.waitUntil(lambda: f.dialog is not None and f.dialog.isVisible(), timeout=WAIT)
    dlg = win.findChild(ForgetDialog, "forget_dialog")
    assert dlg is f.dialog and dlg.summary.text().startswith("This will forget 3 episodes"), dlg.summary.text()
    qtbot.mouseClick(dlg.forget_button, _left())
    qtbot.waitUntil(lambda: f.dialog is None and f.job is None and not win.tasks.busy(), timeout=WAIT)

    assert {e.id for e in Memory(data).episodes()} == set(before) - cups
    page.set_period("all")
    qtbot.waitUntil(lambda: page.loaded and page.period_key() == "all" and not win.tasks.busy(), timeout=WAIT)
    assert page.names() == ["scooter"]
    assert page.selected is None and not page.forget_btn.isEnabled()
    assert [e["target"] for e in Memory(data).audit_log()] == ["object"]
