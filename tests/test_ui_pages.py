"""The browsing pages of the desktop app, driven offscreen against a real store built from real
media: the timeline shows a day's episodes, Ask answers and opens the moment, an episode shows
what was said and whether its file can still be played, People names / merges / undoes / hides.

The store (two days, two real faces, real speech, one file deleted after import) is built once
for the module; each test opens its own window on it. Async results are awaited with
``qtbot.waitUntil``, never with sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

LIBRIVOX_870 = "sense_and_sensibility_01_austen_64kb-0870.wav"  # "... Mr. John Dashwood had then leisure ..."
FACE_ROI = [0.0, 0.0, 1.0, 0.55]
NOW = datetime(2024, 5, 16, 12, 0, tzinfo=UTC)
WAIT = 60000


@dataclass
class Sample:
    data_dir: Path
    day1: date
    day2: date
    speech_episode: str  # Obama talking (day 1)
    gone_episode: str  # its file was deleted after import (day 1)
    cat_episode: str  # the last cat (day 2), its file still there


@pytest.fixture(scope="module")
def sample(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("ui-pages")
    try:
        wav = media.path(LIBRIVOX_870)
    except KeyError:
        pytest.skip("LibriVox speech (Debian pocketsphinx-testdata) was not fetched")

    def clip(name: str, src: str, seconds: float, at: datetime, **kw: Any) -> Path:
        return make_clip(root / name, media.path(src), seconds, at, fps=10, size=(640, 480), **kw)

    gone = make_clip(root / "old_cat.mp4", media.path("chelsea.png"), 4, datetime(2024, 5, 14, 9, 0, tzinfo=UTC),
                     fps=10, size=(320, 240))
    files = [
        gone,
        clip("obama_talks.mp4", "obama.jpg", 12, datetime(2024, 5, 14, 15, 0, tzinfo=UTC), effect="pan",
             roi=FACE_ROI, audio_wav=[wav]),
        clip("biden.mp4", "biden.jpg", 12, datetime(2024, 5, 14, 18, 0, tzinfo=UTC), effect="pan",
             roi=[0.0, 0.0, 1.0, 0.3]),
        clip("obama_again.mp4", "obama2.jpg", 12, datetime(2024, 5, 15, 11, 0, tzinfo=UTC), effect="pan",
             roi=FACE_ROI),
        make_clip(root / "cat.mp4", media.path("chelsea.png"), 6, datetime(2024, 5, 15, 19, 0, tzinfo=UTC),
                  fps=10, size=(320, 240)),
    ]
    mem = Memory(root / "memory")
    result = mem.import_paths(files)
    assert result.imported == len(files), result.failed
    mem.transcribe_pending()
    gone.unlink()  # the user deleted the original; the index keeps the memory

    tz = mem.tz
    day1 = datetime(2024, 5, 14, 15, 0, tzinfo=UTC).astimezone(tz).date()
    day2 = datetime(2024, 5, 15, 19, 0, tzinfo=UTC).astimezone(tz).date()

    def episode_at(d: int, h: int) -> str:
        at = datetime(2024, 5, d, h, 0, tzinfo=UTC)
        return next(e.id for e in mem.episodes() if abs((e.start - at).total_seconds()) < 60)

    return Sample(root / "memory", day1, day2, episode_at(14, 15), episode_at(14, 9), episode_at(15, 19))


@pytest.fixture
def window(sample: Sample, qtbot: Any) -> Iterator[Any]:
    from lifelog.api import Memory
    from ui.app import MainWindow
    from ui.qt import QApplication

    win = MainWindow(Memory(sample.data_dir), now=NOW)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    yield win
    # let every late result land while the window still exists (the pages ignore those that
    # arrive after it is gone, but a test should not leave work behind for the next one)
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def _timeline(win: Any) -> Any:
    from ui.pages.timeline import TimelinePage

    page = win.page("timeline")
    assert isinstance(page, TimelinePage)
    return page


def _people(win: Any, qtbot: Any) -> Any:
    from ui.pages.people import PeoplePage

    page = win.page("people")
    assert isinstance(page, PeoplePage)
    win.navigate("people")
    qtbot.waitUntil(lambda: page.loaded, timeout=WAIT)
    return page


def _grid_texts(page: Any) -> list[str]:
    return [page.grid.item(i).text() for i in range(page.grid.count())]


# ----------------------------------------------------------------------------- timeline
def test_timeline_opens_on_the_latest_day_with_its_episodes(window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory

    tl = _timeline(window)
    assert window.current_key() == "timeline"
    qtbot.waitUntil(lambda: tl.day == sample.day2 and tl.episode_list.count() > 0, timeout=WAIT)
    expected = [e.id for e in Memory(sample.data_dir).episodes(sample.day2)]
    assert tl.episode_ids() == expected, "the day's episodes, in time order"
    assert [d.day for d in tl.days] == [sample.day1, sample.day2]
    assert "episode" in tl.day_list.item(0).text() and tl.day_list.item(0).data(_role()) == sample.day2
    first = tl.episode_list.item(0).text()
    assert "11:00" in first or f"{tl.episodes[0].start:%H:%M}" in first
    qtbot.waitUntil(lambda: not tl.episode_list.item(0).icon().isNull(), timeout=WAIT)  # its thumbnail
    # the first episode is open beside the list, with its frames
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.frames.count() > 0, timeout=WAIT)
    # days with memories stand out in the calendar
    from ui.pages.timeline import _qdate
    assert tl.calendar.dateTextFormat(_qdate(sample.day1)).fontWeight() > 400
    # the previous day with memories is one click away; there is no next one
    assert not tl.next_btn.isEnabled()
    qtbot.mouseClick(tl.prev_btn, _left())
    qtbot.waitUntil(lambda: tl.day == sample.day1 and sample.speech_episode in tl.episode_ids(), timeout=WAIT)
    assert tl.episode_ids() == [e.id for e in Memory(sample.data_dir).episodes(sample.day1)]


def test_episode_detail_shows_what_was_said_and_who(window: Any, sample: Sample, qtbot: Any) -> None:
    tl = _timeline(window)
    qtbot.waitUntil(lambda: tl.loaded, timeout=WAIT)
    window.navigate("timeline", day=sample.day1, episode_id=sample.speech_episode)
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.episode_id == sample.speech_episode,
                    timeout=WAIT)
    lines = [tl.panel.transcript.item(i).text() for i in range(tl.panel.transcript.count())]
    assert tl.panel.transcript.isVisibleTo(tl.panel)
    assert any("Dashwood" in ln for ln in lines), lines
    assert "person" in tl.panel.people_label.text(), "the face seen is listed among the people"
    assert tl.panel.play.isEnabled(), "the original file is still there"
    # an episode without speech says so instead of showing an empty list
    window.navigate("timeline", day=sample.day2, episode_id=sample.cat_episode)
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.episode_id == sample.cat_episode,
                    timeout=WAIT)
    assert tl.panel.transcript.count() == 0
    assert "Nothing said" in tl.panel.transcript_label.text()


def test_play_is_disabled_with_a_reason_when_the_file_is_gone(window: Any, sample: Sample, qtbot: Any) -> None:
    tl = _timeline(window)
    qtbot.waitUntil(lambda: tl.loaded, timeout=WAIT)
    window.navigate("timeline", day=sample.day1, episode_id=sample.gone_episode)
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.episode_id == sample.gone_episode,
                    timeout=WAIT)
    assert not tl.panel.play.isEnabled()
    assert "gone" in tl.panel.play_note.text() and "old_cat.mp4" in tl.panel.play_note.text()
    assert tl.panel.frames.count() > 0, "the memory itself is still browsable"
    window.navigate("timeline", day=sample.day2, episode_id=sample.cat_episode)
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.episode_id == sample.cat_episode,
                    timeout=WAIT)
    assert tl.panel.play.isEnabled() and "cat.mp4" in tl.panel.play_note.text()


# ---------------------------------------------------------------------------------- ask
def test_ask_answers_and_opens_the_moment_in_the_timeline(window: Any, sample: Sample, qtbot: Any) -> None:
    from ui.pages.ask import AskPage

    ask = window.page("ask")
    assert isinstance(ask, AskPage)
    qtbot.keyClick(window, "k", modifier=qtbot_ctrl())
    assert window.current_key() == "ask"
    qtbot.keyClicks(ask.box, "when did I last see a cat?")
    qtbot.keyClick(ask.box, "\r")
    qtbot.waitUntil(lambda: ask.result is not None, timeout=WAIT)
    assert ask.answer.text().startswith("You last saw") and "cat" in ask.answer.text(), ask.answer.text()
    assert ask.hits.count() >= 1
    top = ask.result.hits[0]
    assert top.episode_id == sample.cat_episode, "the latest cat, not the deleted morning one"
    assert "score" in ask.hits.item(0).text() and "frame:" in ask.hits.item(0).text()
    qtbot.waitUntil(lambda: not ask.hits.item(0).icon().isNull(), timeout=WAIT)

    rect = ask.hits.visualItemRect(ask.hits.item(0))
    qtbot.mouseClick(ask.hits.viewport(), _left(), pos=rect.center())
    tl = _timeline(window)
    assert window.current_key() == "timeline"
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.episode_id == sample.cat_episode,
                    timeout=WAIT)
    assert tl.day == sample.day2
    assert tl.episode_list.currentItem().data(_role()) == sample.cat_episode
    frames = tl.panel.detail.frames
    assert 0 <= tl.panel.highlighted_frame < len(frames) and tl.panel.frames.currentRow() == tl.panel.highlighted_frame
    nearest = min(frames, key=lambda f: abs((f.t - top.moment).total_seconds()))
    assert frames[tl.panel.highlighted_frame].id == nearest.id


def test_ask_shows_questions_it_cannot_understand_inline(window: Any, qtbot: Any) -> None:
    ask = window.page("ask")
    window.navigate("ask")
    ask.ask("did I see a cat on February 30?")
    qtbot.waitUntil(lambda: ask.error.isVisibleTo(ask), timeout=WAIT)
    assert "February 30" in ask.error.text()
    assert ask.hits.count() == 0
    ask.ask("when did I last go skiing?")
    qtbot.waitUntil(lambda: ask.result is not None and ask.result.question.endswith("skiing?"), timeout=WAIT)
    assert not ask.error.isVisibleTo(ask)
    assert "found no" in ask.answer.text() and ask.hits.count() == 0


def qtbot_ctrl() -> Any:
    from ui.qt import Qt

    return Qt.KeyboardModifier.ControlModifier


def _left() -> Any:
    from ui.qt import Qt

    return Qt.MouseButton.LeftButton


def _role() -> Any:
    from ui.qt import Qt

    return Qt.ItemDataRole.UserRole


# ------------------------------------------------------------------------------- people
def test_people_name_a_person_and_see_the_name_everywhere(window: Any, sample: Sample, qtbot: Any) -> None:
    page = _people(window, qtbot)
    assert len(page.people) == 2, _grid_texts(page)  # Obama (two days) and Biden
    assert all("Unnamed" in t for t in _grid_texts(page))
    qtbot.waitUntil(lambda: all(not page.grid.item(i).icon().isNull() for i in range(page.grid.count())),
                    timeout=WAIT)
    obama = next(p for p in page.people if p.episodes == 2)
    page.select(obama.id)
    assert page.name_btn.isEnabled() and not page.merge_btn.isEnabled()
    page.name_selected("Barack")
    qtbot.waitUntil(lambda: any(t.startswith("Barack") for t in _grid_texts(page)), timeout=WAIT)
    assert "2 episodes" in next(t for t in _grid_texts(page) if t.startswith("Barack"))
    # the timeline hears of the change and shows the name on the episode
    tl = _timeline(window)
    window.navigate("timeline", day=sample.day1, episode_id=sample.speech_episode)
    qtbot.waitUntil(lambda: tl.panel.detail is not None and "Barack" in tl.panel.people_label.text(),
                    timeout=WAIT)
    # double-click lists where they were seen; a click opens that moment
    page = _people(window, qtbot)
    row = next(i for i in range(page.grid.count()) if page.grid.item(i).data(_role()) == obama.id)
    rect = page.grid.visualItemRect(page.grid.item(row))
    qtbot.mouseClick(page.grid.viewport(), _left(), pos=rect.center())  # a real double-click starts
    qtbot.mouseDClick(page.grid.viewport(), _left(), pos=rect.center())  # with a press on the item
    qtbot.waitUntil(lambda: page.side_list.count() == 2, timeout=WAIT)
    assert "Barack" in page.side_title.text()
    later = page.side_list.visualItemRect(page.side_list.item(1))  # the earlier one (day 1), listed second
    qtbot.mouseClick(page.side_list.viewport(), _left(), pos=later.center())
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.episode_id == sample.speech_episode,
                    timeout=WAIT)
    assert window.current_key() == "timeline" and tl.day == sample.day1


def test_people_merge_then_undo(window: Any, qtbot: Any) -> None:
    page = _people(window, qtbot)
    before = sorted(p.id for p in page.people)
    assert len(before) == 2
    page.select(*before)
    assert page.merge_btn.isEnabled()
    page.merge_selected()
    qtbot.waitUntil(lambda: len(page.people) == 1, timeout=WAIT)
    assert page.people[0].episodes == 3
    assert "Merged" in window.statusBar().currentMessage()
    page.undo()
    qtbot.waitUntil(lambda: len(page.people) == 2, timeout=WAIT)
    assert sorted(p.id for p in page.people) == before
    assert "Undid" in window.statusBar().currentMessage()


def test_people_hide_show_hidden_and_unhide(window: Any, qtbot: Any) -> None:
    page = _people(window, qtbot)
    victim = min(page.people, key=lambda p: p.episodes)
    page.select(victim.id)
    assert page.hide_btn.text() == "Hide"
    page.toggle_hidden_selected()
    qtbot.waitUntil(lambda: victim.id not in [p.id for p in page.people], timeout=WAIT)
    page.show_hidden.setChecked(True)
    qtbot.waitUntil(lambda: victim.id in [p.id for p in page.people], timeout=WAIT)
    assert any("(hidden)" in t for t in _grid_texts(page))
    page.select(victim.id)
    assert page.hide_btn.text() == "Unhide"
    page.toggle_hidden_selected()
    qtbot.waitUntil(lambda: not any("(hidden)" in t for t in _grid_texts(page)), timeout=WAIT)
    page.show_hidden.setChecked(False)
    qtbot.waitUntil(lambda: victim.id in [p.id for p in page.people] and len(page.people) == 2, timeout=WAIT)


def test_people_errors_are_shown_not_swallowed(window: Any, qtbot: Any) -> None:
    page = _people(window, qtbot)
    page.select(page.people[0].id)
    page.name_selected("   ")  # an empty name is refused by the core with a reason
    qtbot.waitUntil(lambda: page.error.isVisibleTo(page), timeout=WAIT)
    assert page.error.text().strip()


def test_people_split_faces_off_then_undo(window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory

    page = _people(window, qtbot)
    obama = next(p for p in page.people if p.episodes == 2)
    faces = Memory(sample.data_dir).person_faces(obama.id)
    day2_faces = [f.id for f in faces if f.episode_id != sample.speech_episode]
    assert day2_faces and len(day2_faces) < len(faces)
    page.select(obama.id)
    assert page.split_btn.isEnabled()
    page.split_selected(day2_faces)
    qtbot.waitUntil(lambda: len(page.people) == 3, timeout=WAIT)
    assert sorted(p.episodes for p in page.people) == [1, 1, 1]
    page.undo()
    qtbot.waitUntil(lambda: len(page.people) == 2, timeout=WAIT)
    assert any(p.id == obama.id and p.episodes == 2 for p in page.people)


def test_people_split_dialog_ticks_faces_and_accepts_then_undo(window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory
    from ui.qt import QDialogButtonBox, Qt

    page = _people(window, qtbot)
    obama = next(p for p in page.people if p.episodes == 2)
    faces = Memory(sample.data_dir).person_faces(obama.id)
    day2 = {f.id for f in faces if f.episode_id != sample.speech_episode}
    page.select(obama.id)
    qtbot.mouseClick(page.split_btn, _left())  # the real button opens the real dialog
    qtbot.waitUntil(lambda: page.split_dialog is not None and page.split_dialog.isVisible(), timeout=WAIT)
    dlg, lst = page.split_dialog, page.split_faces
    assert dlg.isModal() and lst is not None
    assert sorted(str(lst.item(i).data(_role())) for i in range(lst.count())) == sorted(f.id for f in faces)
    qtbot.waitUntil(lambda: any(not lst.item(i).icon().isNull() for i in range(lst.count())), timeout=WAIT)
    for i in range(lst.count()):  # tick the day-2 faces' check boxes
        item = lst.item(i)
        if str(item.data(_role())) in day2:
            item.setCheckState(Qt.CheckState.Checked)
    assert sum(lst.item(i).checkState() == Qt.CheckState.Checked for i in range(lst.count())) == len(day2)
    ok = dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, _left())
    qtbot.waitUntil(lambda: len(page.people) == 3, timeout=WAIT)
    assert page.split_dialog is None
    mem = Memory(sample.data_dir)
    new = [p for p in page.people if p.id not in (obama.id,) and p.episodes == 1
           and {f.id for f in mem.person_faces(p.id)} == day2]
    assert len(new) == 1, "the new person has exactly the ticked faces"
    assert {f.id for f in mem.person_faces(obama.id)} == {f.id for f in faces} - day2
    assert "Split" in window.statusBar().currentMessage()
    page.undo()
    qtbot.waitUntil(lambda: len(page.people) == 2, timeout=WAIT)
    assert {f.id for f in Memory(sample.data_dir).person_faces(obama.id)} == {f.id for f in faces}


def test_people_split_dialog_cancel_changes_nothing(window: Any, qtbot: Any) -> None:
    from ui.qt import QDialogButtonBox, Qt

    page = _people(window, qtbot)
    before = sorted(p.id for p in page.people)
    page.select(before[0])
    page.split_selected()
    qtbot.waitUntil(lambda: page.split_dialog is not None and page.split_dialog.isVisible(), timeout=WAIT)
    page.split_faces.item(0).setCheckState(Qt.CheckState.Checked)
    cancel = page.split_dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Cancel)
    qtbot.mouseClick(cancel, _left())
    qtbot.waitUntil(lambda: page.split_dialog is None, timeout=WAIT)
    qtbot.waitUntil(lambda: not window.tasks.busy(), timeout=WAIT)
    assert sorted(p.id for p in page.people) == before


def test_timeline_shows_the_last_day_asked_for_and_reuses_thumbnails(window: Any, sample: Sample,
                                                                      qtbot: Any) -> None:
    tl = _timeline(window)
    qtbot.waitUntil(lambda: tl.loaded and tl.episode_list.count() > 0, timeout=WAIT)
    qtbot.waitUntil(lambda: not window.tasks.busy(), timeout=WAIT)
    # quick clicks: day 1 then day 2 before day 1's episodes arrived — day 2 stays on screen
    tl.select_day(sample.day1)
    tl.select_day(sample.day2)
    qtbot.waitUntil(lambda: not window.tasks.busy(), timeout=WAIT)
    assert tl.day == sample.day2 and sample.cat_episode in tl.episode_ids()
    assert sample.speech_episode not in tl.episode_ids()
    decrypted = tl.thumbs.decrypted
    tl.select_day(sample.day1)
    qtbot.waitUntil(lambda: not window.tasks.busy() and sample.speech_episode in tl.episode_ids(), timeout=WAIT)
    tl.select_day(sample.day2)
    qtbot.waitUntil(lambda: not window.tasks.busy() and sample.cat_episode in tl.episode_ids(), timeout=WAIT)
    first_day1 = tl.thumbs.decrypted
    tl.select_day(sample.day1)
    qtbot.waitUntil(lambda: not window.tasks.busy() and sample.speech_episode in tl.episode_ids(), timeout=WAIT)
    assert all(not tl.episode_list.item(i).icon().isNull() for i in range(tl.episode_list.count()))
    assert tl.thumbs.decrypted == first_day1 >= decrypted, "coming back to a day decrypts nothing again"
