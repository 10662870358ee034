"""The timeline filtered to one person or one object, against a real store built from real media:
the same face (Obama) and a cup on the first and the third day, someone else (Biden) alone on
the day between. With a filter on, the calendar, the day list and Previous/Next cover only the
days they were seen and a day lists only their episodes; the chip clears it. The People and
Objects pages open the timeline filtered. Results are awaited with ``qtbot.waitUntil``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

NOW = datetime(2024, 5, 16, 12, 0, tzinfo=UTC)
FACE_ROI = [0.0, 0.0, 1.0, 0.55]
WAIT = 60000


@dataclass
class Sample:
    data_dir: Path
    days: list[date]  # the three days, oldest first
    person: str  # the person seen on days 0 and 2 (not 1)


@pytest.fixture(scope="module")
def sample(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("ui-timeline-filter")
    at = [datetime(2024, 5, d, 10, 0, tzinfo=UTC) for d in (13, 14, 15)]

    def face(name: str, src: str, when: datetime, roi: list[float], seed: int = 0) -> Path:
        return make_clip(root / name, media.path(src), 8, when, fps=10, size=(640, 480), effect="pan",
                         roi=roi, seed=seed)

    def cup(name: str, when: datetime, seed: int) -> Path:
        return make_clip(root / name, media.path("coffee.png"), 3, when.replace(hour=13), fps=10,
                         size=(320, 240), seed=seed)

    files = [
        face("obama_1.mp4", "obama.jpg", at[0], FACE_ROI),
        cup("cup_1.mp4", at[0], 1),
        face("biden.mp4", "biden.jpg", at[1], [0.0, 0.0, 1.0, 0.3]),
        face("obama_3.mp4", "obama.jpg", at[2], FACE_ROI, seed=3),
        cup("cup_3.mp4", at[2], 3),
    ]
    mem = Memory(root / "memory")
    result = mem.import_paths(files)
    assert result.imported == len(files), result.failed
    days = [t.astimezone(mem.tz).date() for t in at]
    assert [d.day for d in mem.days()] == days

    def seen_on(pid: str) -> set[date]:
        return {e.start.astimezone(mem.tz).date() for e in mem.person_episodes(pid)}

    person = next((p.id for p in mem.people() if seen_on(p.id) == {days[0], days[2]}), None)
    assert person is not None, "the same face on days 1 and 3 is one person, not seen on day 2"
    assert {s.first.astimezone(mem.tz).date() for s in mem.object_timeline("cup")} == {days[0], days[2]}
    return Sample(root / "memory", days, person)


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


def _timeline(win: Any, qtbot: Any) -> Any:
    from ui.pages.timeline import TimelinePage

    page = win.page("timeline")
    assert isinstance(page, TimelinePage)
    qtbot.waitUntil(lambda: page.loaded and page.episode_list.count() > 0 and len(page.people) > 0, timeout=WAIT)
    return page


def _settled(tl: Any, day: date, ids: list[str]) -> Any:
    return lambda: tl.day == day and tl.episode_ids() == ids and tl.day_note.text() != "Loading…"


def _left() -> Any:
    from ui.qt import Qt

    return Qt.MouseButton.LeftButton


def _bold(tl: Any, d: date) -> bool:
    from ui.pages.timeline import _qdate

    return bool(tl.calendar.dateTextFormat(_qdate(d)).fontWeight() > 400)


def _day_rows(tl: Any) -> list[date]:
    from ui.pages.timeline import ROLE_ID

    return [tl.day_list.item(i).data(ROLE_ID) for i in range(tl.day_list.count())]


def _check_filtered(tl: Any, qtbot: Any, sample: Sample, expected: dict[date, list[str]], label: str) -> None:
    """The timeline shows exactly ``expected`` (episode ids per day), steps over the other day and
    the chip brings every day back."""
    from lifelog.api import Memory

    mem = Memory(sample.data_dir)
    first, middle, last = sample.days
    assert sorted(expected) == [first, last]
    qtbot.waitUntil(_settled(tl, last, expected[last]), timeout=WAIT)  # the latest day with them
    assert [d.day for d in tl.days] == [first, last]
    assert _day_rows(tl) == [last, first], "the day list has only their days, latest first"
    n = len(expected[last])
    assert tl.day_list.item(0).text().endswith(f"{n} episode{'s' if n != 1 else ''} with {label}")
    assert _bold(tl, first) and _bold(tl, last) and not _bold(tl, middle), "only their days stand out"
    everything = [e.id for e in mem.episodes(last)]
    assert len(everything) > len(expected[last]), "the day has other episodes, which are left out"
    assert tl.chip.isVisible() and tl.chip.text().startswith(f"Showing: {label}")
    assert tl.day_note.text().startswith(f"{n} of {len(everything)} episodes with {label}")
    assert not tl.next_btn.isEnabled()

    qtbot.mouseClick(tl.prev_btn, _left())  # over the day they were not seen
    qtbot.waitUntil(_settled(tl, first, expected[first]), timeout=WAIT)
    assert not tl.prev_btn.isEnabled() and tl.next_btn.isEnabled()
    qtbot.mouseClick(tl.next_btn, _left())
    qtbot.waitUntil(_settled(tl, last, expected[last]), timeout=WAIT)

    qtbot.mouseClick(tl.chip, _left())  # ✕: everything again, on the same day
    qtbot.waitUntil(_settled(tl, last, everything), timeout=WAIT)
    assert [d.day for d in tl.days] == sample.days and _day_rows(tl) == sample.days[::-1]
    assert all(_bold(tl, d) for d in sample.days)
    assert not tl.chip.isVisible() and tl.filter is None and tl.person_box.currentIndex() == 0
    qtbot.mouseClick(tl.prev_btn, _left())
    qtbot.waitUntil(_settled(tl, middle, [e.id for e in mem.episodes(middle)]), timeout=WAIT)


def test_filter_by_a_person_shows_only_their_days_and_episodes(window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory

    mem = Memory(sample.data_dir)
    expected: dict[date, list[str]] = {}
    for e in mem.person_episodes(sample.person):
        expected.setdefault(e.start.astimezone(mem.tz).date(), []).append(e.id)
    tl = _timeline(window, qtbot)
    assert tl.person_box.itemText(0) == "Everyone & everything"
    assert tl.person_box.count() == 1 + len(mem.people()), "everyone seen, named or not"
    row = tl.person_box.findData(sample.person)
    assert row > 0 and tl.person_box.itemText(row).startswith("Unnamed")
    qtbot.waitUntil(lambda: not tl.person_box.itemIcon(row).isNull(), timeout=WAIT)  # their face
    tl.person_box.setCurrentIndex(row)
    tl.person_box.activated.emit(row)  # what choosing them in the combo does
    _check_filtered(tl, qtbot, sample, expected, "Unnamed person")


def test_filter_by_an_object_shows_only_its_days_and_episodes(window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory
    from ui.qt import Qt

    mem = Memory(sample.data_dir)
    expected: dict[date, list[str]] = {}
    for s in mem.object_timeline("cup"):
        expected.setdefault(s.first.astimezone(mem.tz).date(), []).append(s.episode_id)
    tl = _timeline(window, qtbot)
    assert "cup" in tl.object_names
    completer = tl.object_box.completer()
    assert completer is not None
    completer.setCompletionPrefix("cu")
    assert completer.currentCompletion() == "cup", "the field completes the objects seen"
    qtbot.keyClicks(tl.object_box, "cup")
    qtbot.keyClick(tl.object_box, Qt.Key.Key_Return)
    _check_filtered(tl, qtbot, sample, expected, "cup")
    assert tl.object_box.text() == ""


def test_filter_by_something_never_seen_says_so(window: Any, sample: Sample, qtbot: Any) -> None:
    from ui.qt import Qt

    tl = _timeline(window, qtbot)
    qtbot.keyClicks(tl.object_box, "keys")  # no ImageNet class: never seen
    qtbot.keyClick(tl.object_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: tl.matches is not None, timeout=WAIT)
    assert tl.days == [] and tl.day_list.count() == 0 and tl.episode_list.count() == 0
    assert tl.day_note.text() == "No episode with keys in your memory."
    assert not tl.prev_btn.isEnabled() and not tl.next_btn.isEnabled()
    assert not any(_bold(tl, d) for d in sample.days)
    tl.object_box.clear()  # an empty field and Return clear the filter too
    qtbot.keyClick(tl.object_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: tl.filter is None and tl.day_list.count() == 3 and tl.episode_list.count() > 0,
                    timeout=WAIT)


def test_people_and_objects_show_in_timeline_land_on_the_filtered_timeline(window: Any, sample: Sample,
                                                                           qtbot: Any) -> None:
    from lifelog.api import Memory
    from ui.pages.objects import ObjectsPage
    from ui.pages.people import PeoplePage

    mem = Memory(sample.data_dir)
    tl = _timeline(window, qtbot)
    people = window.page("people")
    assert isinstance(people, PeoplePage)
    window.navigate("people")
    qtbot.waitUntil(lambda: people.loaded, timeout=WAIT)
    assert not people.timeline_btn.isEnabled(), "needs one person selected"
    people.select(sample.person)
    assert people.timeline_btn.isEnabled() and people.timeline_action.isEnabled()
    qtbot.mouseClick(people.timeline_btn, _left())
    assert window.current_key() == "timeline"
    last = sample.days[2]
    theirs = [e.id for e in mem.person_episodes(sample.person) if e.start.astimezone(mem.tz).date() == last]
    qtbot.waitUntil(_settled(tl, last, theirs), timeout=WAIT)
    assert [d.day for d in tl.days] == [sample.days[0], last]
    assert tl.person_box.currentData() == sample.person

    objects = window.page("objects")
    assert isinstance(objects, ObjectsPage)
    window.navigate("objects")
    qtbot.waitUntil(lambda: objects.loaded, timeout=WAIT)
    objects.select_object("cup")
    qtbot.mouseClick(objects.timeline_btn, _left())
    assert window.current_key() == "timeline"
    cups = [s.episode_id for s in mem.object_timeline("cup") if s.first.astimezone(mem.tz).date() == last]
    qtbot.waitUntil(_settled(tl, last, cups), timeout=WAIT)
    assert tl.filter is not None and tl.filter.kind == "object" and tl.person_box.currentIndex() == 0
    assert tl.chip.text().startswith("Showing: cup")

    # a given day with a filter opens that day, filtered
    window.navigate("timeline", person_id=sample.person, day=sample.days[0])
    first = [e.id for e in mem.person_episodes(sample.person)
             if e.start.astimezone(mem.tz).date() == sample.days[0]]
    qtbot.waitUntil(_settled(tl, sample.days[0], first), timeout=WAIT)


def test_filter_by_an_unknown_person_says_why_and_loses_nothing(window: Any, sample: Sample, qtbot: Any) -> None:
    tl = _timeline(window, qtbot)
    qtbot.waitUntil(lambda: not window.tasks.busy(), timeout=WAIT)
    window.navigate("timeline", person_id="no-such-person")  # e.g. merged away since the link was made
    qtbot.waitUntil(lambda: tl.filter_error is not None, timeout=WAIT)
    assert "no person with id 'no-such-person'" in tl.day_note.text()
    assert tl.day_note.text().startswith("Could not find the days with this person")
    assert [d.day for d in tl.days] == sample.days, "the days stay on screen"
    assert tl.chip.isVisible()
    qtbot.mouseClick(tl.chip, _left())
    qtbot.waitUntil(lambda: tl.filter is None and tl.day_note.text().endswith("episodes"), timeout=WAIT)
    assert not tl.chip.isVisible() and tl.day_list.count() == 3
