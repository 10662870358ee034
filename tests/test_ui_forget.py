"""Forget for good, from the app (issue #12), driven offscreen against a real memory built from
real media: two days, two people with real faces, a cat on each day.

Forgetting the latest cat's episode from the timeline removes it from the day list and from Ask's
answers; forgetting a person from People removes them from the grid and from the timeline's filter;
cancelling the confirmation forgets nothing; *Forget everything* needs the typed word; a forget
waits (cancellably) while another process holds the memory; a core error is shown on the page.

The memory is built once for the module and copied for each test (every test forgets something).
Dialogs are clicked like a user; results are awaited with ``qtbot.waitUntil``, never with sleeps.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

FACE_ROI = [0.0, 0.0, 1.0, 0.55]
NOW = datetime(2024, 5, 16, 12, 0, tzinfo=UTC)
WAIT = 60000
CAT_QUESTION = "when did I last see a cat?"


@dataclass
class Sample:
    data_dir: Path
    day1: date
    day2: date
    first_cat: str  # day 1, 09:00
    last_cat: str  # day 2, 19:00: the only episode of day 2
    person: str  # the person seen in the Obama clip
    person_episode: str


@pytest.fixture(scope="module")
def sample(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("ui-forget")

    def clip(name: str, src: str, seconds: float, at: datetime, **kw: Any) -> Path:
        return make_clip(root / name, media.path(src), seconds, at, fps=10, **kw)

    files = [
        clip("cat1.mp4", "chelsea.png", 4, datetime(2024, 5, 14, 9, 0, tzinfo=UTC), size=(320, 240)),
        clip("obama.mp4", "obama.jpg", 8, datetime(2024, 5, 14, 15, 0, tzinfo=UTC), size=(640, 480),
             effect="pan", roi=FACE_ROI),
        clip("biden.mp4", "biden.jpg", 8, datetime(2024, 5, 14, 18, 0, tzinfo=UTC), size=(640, 480),
             effect="pan", roi=[0.0, 0.0, 1.0, 0.3]),
        clip("cat2.mp4", "chelsea.png", 4, datetime(2024, 5, 15, 19, 0, tzinfo=UTC), size=(320, 240)),
    ]
    mem = Memory(root / "memory")
    result = mem.import_paths(files)
    assert result.imported == len(files), result.failed
    tz = mem.tz

    def episode_at(d: int, h: int) -> str:
        at = datetime(2024, 5, d, h, 0, tzinfo=UTC)
        return next(e.id for e in mem.episodes() if abs((e.start - at).total_seconds()) < 60)

    obama = episode_at(14, 15)
    person = next((p.id for p in mem.people() if obama in {e.id for e in mem.person_episodes(p.id)}), None)
    assert person is not None, "the face in the Obama clip was grouped into a person"
    day1 = datetime(2024, 5, 14, 15, 0, tzinfo=UTC).astimezone(tz).date()
    day2 = datetime(2024, 5, 15, 19, 0, tzinfo=UTC).astimezone(tz).date()
    assert [e.id for e in mem.episodes(day2)] == [episode_at(15, 19)]
    return Sample(root / "memory", day1, day2, episode_at(14, 9), episode_at(15, 19), person, obama)


@pytest.fixture
def data_dir(sample: Sample, tmp_path: Path) -> Path:
    d = tmp_path / "memory"
    shutil.copytree(sample.data_dir, d)
    (d / "write.lock").unlink(missing_ok=True)
    return d


@pytest.fixture
def window(data_dir: Path, qtbot: Any) -> Iterator[Any]:
    from lifelog.api import Memory
    from ui.app import MainWindow
    from ui.qt import QApplication

    win = MainWindow(Memory(data_dir), now=NOW)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    yield win
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def _left() -> Any:
    from ui.qt import Qt

    return Qt.MouseButton.LeftButton


def _forgetter(win: Any) -> Any:
    from ui.forget import forgetter_for

    return forgetter_for(win.ctx)


def _dialog(win: Any, qtbot: Any) -> Any:
    """The confirmation, once the plan was read (it is window-modal and found by its name)."""
    from ui.forget import ForgetDialog

    f = _forgetter(win)
    qtbot.waitUntil(lambda: f.dialog is not None and f.dialog.isVisible(), timeout=WAIT)
    dlg = win.findChild(ForgetDialog, "forget_dialog")
    assert dlg is f.dialog
    assert "cannot be undone" in dlg.warning.text()
    return dlg


def _confirm(win: Any, qtbot: Any, dlg: Any) -> None:
    f = _forgetter(win)
    qtbot.mouseClick(dlg.forget_button, _left())
    qtbot.waitUntil(lambda: f.dialog is None and f.job is None and not win.tasks.busy(), timeout=WAIT)


def _timeline(win: Any, qtbot: Any) -> Any:
    tl = win.page("timeline")
    qtbot.waitUntil(lambda: tl.loaded and tl.episode_list.count() > 0, timeout=WAIT)
    return tl


def _ask(win: Any, qtbot: Any) -> Any:
    ask = win.page("ask")
    ask.ask(CAT_QUESTION)
    qtbot.waitUntil(lambda: ask.result is not None and ask.result.question == CAT_QUESTION
                    and ask.answer.text() != "Thinking…", timeout=WAIT)
    return ask


def _hit_ids(ask: Any) -> list[str]:
    return [h.episode_id for h in ask.result.hits]


# ------------------------------------------------------------------------- an episode
def test_forget_the_open_episode_removes_it_from_the_day_list_and_from_ask(
        window: Any, sample: Sample, data_dir: Path, qtbot: Any) -> None:
    from lifelog.api import Memory

    tl = _timeline(window, qtbot)
    ask = _ask(window, qtbot)
    assert _hit_ids(ask)[0] == sample.last_cat
    window.navigate("timeline", day=sample.day2, episode_id=sample.last_cat)
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.episode_id == sample.last_cat
                    and tl.panel.forget_btn.isEnabled(), timeout=WAIT)
    assert sample.day2 in [tl.day_list.item(i).data(_role()) for i in range(tl.day_list.count())]

    qtbot.mouseClick(tl.panel.forget_btn, _left())
    dlg = _dialog(window, qtbot)
    assert dlg.summary.text().startswith("This will forget 1 episode, 1 file"), dlg.summary.text()
    _confirm(window, qtbot, dlg)

    mem = Memory(data_dir)
    assert mem.episode(sample.last_cat) is None
    # the timeline: day 2 had only that episode, so it leaves the day list and the nearest day opens
    qtbot.waitUntil(lambda: tl.day == sample.day1 and tl.episode_list.count() > 0, timeout=WAIT)
    days = [tl.day_list.item(i).data(_role()) for i in range(tl.day_list.count())]
    assert days == [sample.day1]
    assert sample.last_cat not in tl.episode_ids()
    assert tl.episode_ids() == [e.id for e in mem.episodes(sample.day1)]
    # Ask: the question shown is asked again; the forgotten cat is not among its moments
    qtbot.waitUntil(lambda: ask.result is not None and ask.answer.text() != "Thinking…"
                    and sample.last_cat not in _hit_ids(ask), timeout=WAIT)
    assert _hit_ids(ask) and _hit_ids(ask)[0] == sample.first_cat, "now the earlier cat is the last one"
    assert window.statusBar().currentMessage().startswith("Forgot the episode of"), \
        window.statusBar().currentMessage()
    assert [e["target"] for e in mem.audit_log()] == ["episode"]
    # the Settings page's audit log shows it (kinds and counts only)
    privacy = window.page("settings").privacy
    qtbot.waitUntil(lambda: any("forget (episode)" in ln for ln in privacy.lines()), timeout=WAIT)


def test_forget_the_selected_day(window: Any, sample: Sample, data_dir: Path, qtbot: Any) -> None:
    from lifelog.api import Memory

    tl = _timeline(window, qtbot)
    window.navigate("timeline", day=sample.day1)
    qtbot.waitUntil(lambda: tl.day == sample.day1 and tl.forget_day_btn.isEnabled()
                    and sample.first_cat in tl.episode_ids(), timeout=WAIT)
    n = len(Memory(data_dir).episodes(sample.day1))
    qtbot.mouseClick(tl.forget_day_btn, _left())
    dlg = _dialog(window, qtbot)
    assert dlg.summary.text().startswith(f"This will forget {n} episodes"), dlg.summary.text()
    _confirm(window, qtbot, dlg)
    assert Memory(data_dir).episodes(sample.day1) == []
    qtbot.waitUntil(lambda: tl.day == sample.day2 and tl.episode_ids() == [sample.last_cat], timeout=WAIT)
    assert [tl.day_list.item(i).data(_role()) for i in range(tl.day_list.count())] == [sample.day2]


# ------------------------------------------------------------------------------ a person
def test_forget_a_person_removes_them_from_people_and_the_timeline_filter(
        window: Any, sample: Sample, data_dir: Path, qtbot: Any) -> None:
    from lifelog.api import Memory

    tl = _timeline(window, qtbot)
    qtbot.waitUntil(lambda: tl.person_box.findData(sample.person) > 0, timeout=WAIT)
    window.navigate("timeline", person_id=sample.person)  # the timeline filtered to them
    qtbot.waitUntil(lambda: tl.matches is not None and tl.chip.isVisible(), timeout=WAIT)

    people = window.page("people")
    window.navigate("people")
    qtbot.waitUntil(lambda: people.loaded and people.grid.count() > 0, timeout=WAIT)
    people.select(sample.person)
    assert people.forget_btn.isEnabled()
    qtbot.mouseClick(people.forget_btn, _left())
    dlg = _dialog(window, qtbot)
    assert "1 person" in dlg.summary.text() and "face" in dlg.summary.text(), dlg.summary.text()
    _confirm(window, qtbot, dlg)

    mem = Memory(data_dir)
    assert sample.person not in [p.id for p in mem.people(include_hidden=True)]
    qtbot.waitUntil(lambda: people.loaded and sample.person not in
                    [str(people.grid.item(i).data(_role())) for i in range(people.grid.count())], timeout=WAIT)
    # the timeline: the filter on them is gone, and they are no longer offered
    qtbot.waitUntil(lambda: tl.filter is None and not tl.chip.isVisible()
                    and tl.person_box.findData(sample.person) < 0 and tl.person_box.count() >= 1, timeout=WAIT)
    assert tl.person_box.currentIndex() == 0
    qtbot.waitUntil(lambda: tl.episode_list.count() > 0, timeout=WAIT)
    assert "Forgot" in window.statusBar().currentMessage()


# ------------------------------------------------------------------------------ cancel
def test_cancelling_the_confirmation_forgets_nothing(window: Any, sample: Sample, data_dir: Path,
                                                      qtbot: Any) -> None:
    from lifelog.api import Memory

    before = [e.id for e in Memory(data_dir).episodes()]
    tl = _timeline(window, qtbot)
    qtbot.waitUntil(lambda: tl.panel.detail is not None, timeout=WAIT)
    qtbot.mouseClick(tl.panel.forget_btn, _left())
    dlg = _dialog(window, qtbot)
    qtbot.mouseClick(dlg.cancel_button, _left())
    f = _forgetter(window)
    qtbot.waitUntil(lambda: f.dialog is None and not window.tasks.busy(), timeout=WAIT)
    assert f.job is None
    assert window.statusBar().currentMessage() == "Nothing was forgotten."
    # the People page's Forget… too (Escape rejects)
    people = window.page("people")
    window.navigate("people")
    qtbot.waitUntil(lambda: people.loaded and people.grid.count() > 0, timeout=WAIT)
    people.select(sample.person)
    people.forget_selected()
    dlg = _dialog(window, qtbot)
    dlg.reject()
    qtbot.waitUntil(lambda: f.dialog is None and not window.tasks.busy(), timeout=WAIT)
    mem = Memory(data_dir)
    assert [e.id for e in mem.episodes()] == before
    assert sample.person in [p.id for p in mem.people(include_hidden=True)]
    assert mem.audit_log() == []


# ------------------------------------------------------------------------- everything
def test_forget_everything_needs_the_typed_word(window: Any, sample: Sample, data_dir: Path, qtbot: Any) -> None:
    from lifelog.api import Memory
    from ui.forget import CONFIRM_WORD

    tl = _timeline(window, qtbot)
    settings = window.page("settings")
    window.navigate("settings")
    privacy = settings.privacy
    qtbot.waitUntil(lambda: privacy.loaded, timeout=WAIT)
    assert privacy.lines() == ["Nothing forgotten, exported or purged yet."]
    qtbot.mouseClick(privacy.forget_all_btn, _left())
    dlg = _dialog(window, qtbot)
    assert dlg.summary.text().startswith("This will forget everything")
    assert dlg.word_box is not None and not dlg.forget_button.isEnabled()
    qtbot.keyClicks(dlg.word_box, "yes")
    assert not dlg.forget_button.isEnabled(), "only the word confirms"
    qtbot.mouseClick(dlg.forget_button, _left())  # a disabled button does nothing
    assert _forgetter(window).job is None and Memory(data_dir).episodes() != []
    dlg.word_box.clear()
    qtbot.keyClicks(dlg.word_box, CONFIRM_WORD)
    assert dlg.forget_button.isEnabled()
    _confirm(window, qtbot, dlg)

    mem = Memory(data_dir)
    assert mem.episodes() == [] and mem.people(include_hidden=True) == []
    qtbot.waitUntil(lambda: tl.episode_list.count() == 0 and tl.day_list.count() == 0
                    and tl.day_title.text() == "No memories yet", timeout=WAIT)
    qtbot.waitUntil(lambda: any("forget (everything)" in ln for ln in privacy.lines()), timeout=WAIT)
    assert window.statusBar().currentMessage().startswith("Forgot everything")
    people = window.page("people")
    qtbot.waitUntil(lambda: people.loaded and people.grid.count() == 0, timeout=WAIT)


# --------------------------------------------------------------- another writer, errors
def test_a_forget_waits_for_another_writer_and_can_stop_waiting(window: Any, sample: Sample, data_dir: Path,
                                                                  qtbot: Any) -> None:
    from lifelog.api import Memory
    from lifelog.store.lock import write_lock
    from ui.forget import WAITING

    tl = _timeline(window, qtbot)
    window.navigate("timeline", day=sample.day2, episode_id=sample.last_cat)
    qtbot.waitUntil(lambda: tl.panel.episode_id == sample.last_cat and tl.panel.forget_btn.isEnabled(),
                    timeout=WAIT)
    f = _forgetter(window)
    with write_lock(data_dir):  # as an import in another process would
        qtbot.mouseClick(tl.panel.forget_btn, _left())
        dlg = _dialog(window, qtbot)
        qtbot.mouseClick(dlg.forget_button, _left())
        qtbot.waitUntil(lambda: f.job is not None and WAITING in dlg.reports, timeout=WAIT)  # it found the lock
        assert dlg.cancel_button.isEnabled() and "Waiting" in dlg.stage_label.text()
        qtbot.mouseClick(dlg.cancel_button, _left())
        qtbot.waitUntil(lambda: f.dialog is None and f.job is None, timeout=WAIT)
    assert Memory(data_dir).episode(sample.last_cat) is not None
    assert tl.error.isVisible() and "Nothing was forgotten" in tl.error.text()

    # again, and this time the other writer finishes: the forget goes ahead
    # (the page reloads after the cancelled forget; Forget… is clickable again once it has)
    qtbot.waitUntil(lambda: tl.panel.episode_id == sample.last_cat and tl.panel.forget_btn.isEnabled(),
                    timeout=WAIT)
    lock = write_lock(data_dir)
    lock.__enter__()
    try:
        qtbot.mouseClick(tl.panel.forget_btn, _left())
        dlg = _dialog(window, qtbot)
        qtbot.mouseClick(dlg.forget_button, _left())
        qtbot.waitUntil(lambda: WAITING in dlg.reports, timeout=WAIT)
        reports = dlg.reports
    finally:
        lock.__exit__(None, None, None)
    qtbot.waitUntil(lambda: f.dialog is None and f.job is None and not window.tasks.busy(), timeout=WAIT)
    assert Memory(data_dir).episode(sample.last_cat) is None
    assert reports[0] == WAITING and reports[1:] == ["removing rows", "removing old versions", "done"], reports


def test_a_core_error_is_shown_on_the_page(window: Any, qtbot: Any) -> None:
    from lifelog.api.privacy import ForgetRequest

    tl = _timeline(window, qtbot)
    f = _forgetter(window)
    f.start(ForgetRequest("episode", "no-such-episode"), "that episode", tl, tl._fail)
    qtbot.waitUntil(lambda: tl.error.isVisible(), timeout=WAIT)
    assert "no episode" in tl.error.text()
    assert f.dialog is None and f.job is None


# ------------------------------------------------------------------------------ a device
def test_forget_a_device_removes_what_came_from_it_and_unpairs_it(
        window: Any, data_dir: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, media: Any,
        qtbot: Any) -> None:
    from wifi_helpers import clip

    from lifelog.api import Memory
    from lifelog.sources import registry
    from lifelog.sources.dcf import identify_volume
    from lifelog.sources.sim.dcf import make_volume

    cat = clip(tmp_path_factory, media, "cat")
    vol = make_volume(tmp_path / "media", "CAM_CARD", "gopro", [(cat, datetime(2024, 5, 13, 10, 0, tzinfo=UTC))])
    dev = registry.pair(data_dir, identify_volume(vol))
    page = window.page("devices")
    page.watch_volumes(0)
    page.mount_roots = [tmp_path / "media"]
    window.navigate("devices")
    page.paired.refresh()
    qtbot.waitUntil(lambda: page.paired.row_widget(dev.id) is not None, timeout=WAIT)
    st = page.sync_device(dev.id)
    qtbot.waitUntil(lambda: not st.running, timeout=WAIT)
    assert st.result is not None and st.result.imported == 1, st.describe()
    before = len(Memory(data_dir).episodes())
    assert (data_dir / "originals" / dev.id).is_dir()

    row = page.paired.row_widget(dev.id)
    qtbot.waitUntil(lambda: row.forget_button.isEnabled(), timeout=WAIT)
    qtbot.mouseClick(row.forget_button, _left())
    dlg = _dialog(window, qtbot)
    assert "1 device" in dlg.summary.text() and "1 episode" in dlg.summary.text(), dlg.summary.text()
    _confirm(window, qtbot, dlg)
    qtbot.waitUntil(lambda: page.paired.device(dev.id) is None, timeout=WAIT)
    mem = Memory(data_dir)
    assert len(mem.episodes()) == before - 1 and registry.get(data_dir, dev.id) is None
    assert not (data_dir / "originals" / dev.id).exists()
    assert window.statusBar().currentMessage().startswith("Forgot everything from")


def _role() -> Any:
    from ui.qt import Qt

    return Qt.ItemDataRole.UserRole
