"""Playback in place on the episode page (issue #19 item 4), driven offscreen against a real
memory built from two real tiny clips: play/pause, the seek slider, speed and the time label on
the memory's clock; playback starts at the moment the episode was opened at; where QtMultimedia
cannot load, the system-player fallback is explained once; a deleted original disables playback
with the reason.

Whether QtMultimedia loads depends on the machine (on Linux it needs libpulse): the in-place
player tests run where it loads, the fallback test where it does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

NOW = datetime(2024, 5, 16, 12, 0, tzinfo=UTC)
WAIT = 60000
CAT_AT = datetime(2024, 5, 15, 19, 0, tzinfo=UTC)
INTO = 3.0  # seconds into the cat episode where the user opens it


@dataclass
class Sample:
    data_dir: Path
    day: date
    cat_episode: str  # its file still there (8 s)
    gone_episode: str  # its file was deleted after import


@pytest.fixture(scope="module")
def sample(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("ui-playback")
    gone = make_clip(root / "old_cat.mp4", media.path("chelsea.png"), 3, datetime(2024, 5, 15, 9, 0, tzinfo=UTC),
                     fps=10, size=(320, 240))
    cat = make_clip(root / "cat.mp4", media.path("chelsea.png"), 8, CAT_AT, fps=10, size=(320, 240), effect="pan")
    mem = Memory(root / "memory")
    result = mem.import_paths([gone, cat])
    assert result.imported == 2, result.failed
    gone.unlink()  # the user deleted the original; the index keeps the memory

    def episode_at(at: datetime) -> str:
        return next(e.id for e in mem.episodes() if abs((e.start - at).total_seconds()) < 60)

    day = CAT_AT.astimezone(mem.tz).date()
    return Sample(root / "memory", day, episode_at(CAT_AT), episode_at(datetime(2024, 5, 15, 9, 0, tzinfo=UTC)))


@pytest.fixture
def window(sample: Sample, qtbot: Any) -> Iterator[Any]:
    from lifelog.api import Memory
    from ui.app import MainWindow

    win = MainWindow(Memory(sample.data_dir), now=NOW)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    panel = getattr(win.page("timeline"), "panel")  # noqa: B009
    if panel.player is not None:
        panel.player.stop()
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def _open(win: Any, qtbot: Any, sample: Sample, episode_id: str, moment: datetime | None) -> Any:
    """Open an episode (at a moment) the way the Ask and People pages do; the episode panel."""
    win.navigate("timeline", day=sample.day, episode_id=episode_id, moment=moment)
    panel = win.page("timeline").panel
    qtbot.waitUntil(lambda: panel.detail is not None and panel.episode_id == episode_id
                    and panel.moment == moment, timeout=WAIT)
    return panel


def _qt_player_loads() -> bool:
    from ui.pages.episode import _qt_media

    return _qt_media() is not None


def _cat_moment(sample: Sample) -> tuple[datetime, Any]:
    from lifelog.api import Memory

    ep = Memory(sample.data_dir).episode(sample.cat_episode)
    assert ep is not None
    assert (ep.end - ep.start).total_seconds() > INTO + 1, "the clip is long enough to start inside it"
    return ep.start + timedelta(seconds=INTO), ep


def test_controls_exist_and_are_ready_at_the_moment(window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory
    from lifelog.api.clock import Clock

    moment, _ep = _cat_moment(sample)
    panel = _open(window, qtbot, sample, sample.cat_episode, moment)
    media = panel.detail.media
    assert panel.play.isEnabled() and "cat.mp4" in panel.play_note.text()
    assert [panel.speed.itemText(i) for i in range(panel.speed.count())] == ["0.5×", "1×", "2×"]
    assert panel.rate() == 1.0, "normal speed unless chosen"
    # the slider waits at the moment's place in the file, the label says the moment's time
    expected_ms = (media.offset_s + INTO) * 1000
    assert abs(panel.seek.value() - expected_ms) < 1000
    assert Clock.of(Memory(sample.data_dir)).time(moment, seconds=True) in panel.time_label.text()
    # seek and speed work in Qt's player; with the system player they cannot, and say why
    inside = _qt_player_loads()
    assert panel.seek.isEnabled() == inside and panel.speed.isEnabled() == inside
    if not inside:
        assert "system player" in panel.seek.toolTip()


def test_play_starts_at_the_moment_and_pause_seek_speed_drive_the_player(
        window: Any, sample: Sample, qtbot: Any) -> None:
    if not _qt_player_loads():
        pytest.skip("QtMultimedia cannot load on this machine (no libpulse): the fallback test covers it")
    moment, _ep = _cat_moment(sample)
    panel = _open(window, qtbot, sample, sample.cat_episode, moment)
    start = (panel.detail.media.offset_s + INTO) * 1000
    panel.play.click()
    qtbot.waitUntil(panel.is_playing, timeout=WAIT)
    qtbot.waitUntil(lambda: panel.player.position() > 0, timeout=WAIT)
    assert abs(panel.player.position() - start) < 1000, "playback starts at the moment's time"
    assert "Pause" in panel.play.text()
    assert panel.video is not None and panel.video.isVisible(), "the video plays inside the panel"

    panel.play.click()  # pause
    qtbot.waitUntil(lambda: not panel.is_playing(), timeout=WAIT)
    assert "Play" in panel.play.text()
    panel.seek.setValue(1000)  # back to one second into the file
    qtbot.waitUntil(lambda: abs(panel.player.position() - 1000) < 500, timeout=WAIT)
    assert "0:01" in panel.time_label.text()
    panel.speed.setCurrentIndex(2)
    assert panel.player.playbackRate() == 2.0
    panel.speed.setCurrentIndex(0)
    assert panel.player.playbackRate() == 0.5
    panel.play.click()  # resume, from where it was sought
    qtbot.waitUntil(panel.is_playing, timeout=WAIT)
    assert panel.player.position() < start, "resumes from the sought place, not the moment"

    # opening another episode stops the clip
    panel2 = _open(window, qtbot, sample, sample.gone_episode, None)
    assert not panel2.is_playing()


def test_without_qt_player_the_fallback_is_said_once(window: Any, sample: Sample, qtbot: Any) -> None:
    if _qt_player_loads():
        pytest.skip("QtMultimedia loads here: the in-place player test covers it")
    from ui.pages.episode import FALLBACK_NOTE

    moment, _ep = _cat_moment(sample)
    panel = _open(window, qtbot, sample, sample.cat_episode, moment)
    said: list[str] = []
    for _ in range(3):
        window.statusBar().clearMessage()
        panel.play.click()
        said.append(window.statusBar().currentMessage())
        if len(said) == 1:
            assert FALLBACK_NOTE in panel.play_note.text(), "the panel says why the clip is not playing here"
    assert all("cat.mp4" in s for s in said), f"each click hands the file on and says so: {said}"
    assert "cannot load" in said[0] and not any("cannot load" in s for s in said[1:]), \
        f"said once, not on every click: {said}"
    assert panel.player is None, "no Qt player was made"


def test_a_deleted_original_disables_playback_with_the_reason(window: Any, sample: Sample, qtbot: Any) -> None:
    panel = _open(window, qtbot, sample, sample.cat_episode, None)
    assert panel.play.isEnabled()
    panel = _open(window, qtbot, sample, sample.gone_episode, None)
    assert not panel.play.isEnabled() and not panel.seek.isEnabled() and not panel.speed.isEnabled()
    note = panel.play_note.text()
    assert "gone" in note and "old_cat.mp4" in note, note
    assert panel.play.toolTip() == note, "the reason is on the button too"
    assert panel.time_label.text() == ""
    panel.play.click()  # a click on the disabled button does nothing
    assert panel.player is None or not panel.is_playing()
