"""The visual timeline (issue #19): the day's moments as a grid grouped by episode, the day and
month scrub bars, keyboard and mouse, on a real memory of real clips.

The memory (built once for the module): a named face at 09:00 and a cat at 15:00 on one day, a
cat two days later (so the day between has no footage). Tests that damage or trash things work
on a copy of it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from ui_timeline_helpers import open_day, open_window, timeline_of

pytest.importorskip("PySide6")

NAME = "Barack Quetzalcoatl"
T_FACE = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
T_CAT = datetime(2024, 5, 14, 15, 0, tzinfo=UTC)
T_LATER = datetime(2024, 5, 16, 12, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 17, 12, 0, tzinfo=UTC)
WAIT = 60000


@dataclass
class Sample:
    data_dir: Path
    day1: date  # the face, then the cat
    gap: date  # no footage
    day3: date  # the cat again
    person: str


@pytest.fixture(scope="module")
def sample(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("ui-timeline-visual")
    files = [
        make_clip(root / "face.mp4", media.path("obama.jpg"), 5, T_FACE, fps=10, size=(640, 480),
                  roi=[0.0, 0.0, 1.0, 0.55]),
        make_clip(root / "cat.mp4", media.path("chelsea.png"), 3, T_CAT, fps=10, size=(320, 240)),
        make_clip(root / "cat2.mp4", media.path("chelsea.png"), 3, T_LATER, fps=10, size=(320, 240)),
    ]
    mem = Memory(root / "memory")
    result = mem.import_paths(files)
    assert result.imported == len(files), result.failed
    people = mem.people()
    assert people, "the face was not found"
    mem.name_person(people[0].id, NAME)
    tz = mem.tz
    day1 = T_FACE.astimezone(tz).date()
    assert T_CAT.astimezone(tz).date() == day1, "both clips of day 1 fall on one day in this zone"
    day3 = T_LATER.astimezone(tz).date()
    gap = date.fromordinal(day1.toordinal() + 1)
    assert day3.toordinal() - day1.toordinal() == 2
    return Sample(root / "memory", day1, gap, day3, people[0].id)


def _open(data_dir: Path, qtbot: Any) -> Any:
    return open_window(data_dir, qtbot, NOW)


@pytest.fixture
def window(sample: Sample, qtbot: Any) -> Iterator[Any]:
    win = _open(sample.data_dir, qtbot)
    yield win
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


_timeline = timeline_of
_open_day = open_day


def _key(name: str) -> Any:
    from ui.qt import Qt

    return getattr(Qt.Key, name)


def test_the_grid_shows_the_days_episodes_in_order_with_descriptions_and_people(
        window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory
    from lifelog.api.timeline import day_moments

    tl = _timeline(window)
    # the app opens on the latest day
    qtbot.waitUntil(lambda: tl.loaded and tl.day == sample.day3 and bool(tl.grid.groups), timeout=WAIT)
    _open_day(tl, qtbot, sample.day1)
    mem = Memory(sample.data_dir)
    eps = mem.episodes(sample.day1)
    assert len(eps) == 2
    assert tl.grid.episode_ids() == [e.id for e in eps], "the day's episodes, in time order"
    for g, e in zip(tl.grid.groups, eps, strict=True):
        assert g.episode.description and g.episode.description == e.description
    face_group, cat_group = tl.grid.groups
    assert NAME in face_group.episode.people and NAME not in cat_group.episode.people
    # the moments are the day's kept frames, each under its episode, in time order
    moments = day_moments(mem, sample.day1)
    assert [m.frame_id for m in tl.grid.moments] == [m.frame_id for m in moments]
    assert face_group.count + cat_group.count == len(moments) and face_group.count > 0 and cat_group.count > 0
    assert all(m.episode_id == eps[0].id for m in tl.grid.moments[:face_group.count])
    # the person's chip carries their face (decoded off the UI thread into the shared cache)
    face_blob = tl.grid.faces.get(NAME)
    assert face_blob == mem.person(sample.person).thumbnail
    qtbot.waitUntil(lambda: tl.thumbs.cached(face_blob) is not None, timeout=WAIT)
    # the visible tiles' thumbnails arrive, and the day bar holds the same moments
    qtbot.waitUntil(lambda: all(tl.thumbs.cached(tl.grid.moments[i].thumb_id) is not None
                                for i in tl.grid.visible_indices()), timeout=WAIT)
    assert tl.grid.visible_indices(), "some tiles are on screen"
    assert len(tl.day_bar.secs) == len(moments)


def test_keys_move_the_selection_and_enter_opens_the_episode(window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api.clock import Clock

    tl = _timeline(window)
    _open_day(tl, qtbot, sample.day1)
    grid = tl.grid
    grid.setFocus()
    assert grid.current == 0 and tl.day_bar.current == 0, "the day opens on its first moment"
    qtbot.keyClick(grid, _key("Key_Right"))
    assert grid.current == 1 and tl.day_bar.current == 1
    qtbot.keyClick(grid, _key("Key_Right"))
    assert grid.current == 2 and tl.day_bar.current == 2
    qtbot.keyClick(grid, _key("Key_Left"))
    assert grid.current == 1
    qtbot.keyClick(grid, _key("Key_End"))
    last = len(grid.moments) - 1
    assert grid.current == last and tl.day_bar.current == last
    m = grid.moments[last]
    clock = Clock.of(tl.ctx.memory)
    assert clock.time(m.t, seconds=True) in tl.preview_caption.text(), "the selected moment is previewed"
    qtbot.waitUntil(lambda: tl.preview.pixmap() is not None and not tl.preview.pixmap().isNull(), timeout=WAIT)
    # hovering another tile previews it; leaving the grid previews the selection again
    from ui.qt import QPoint

    qtbot.mouseMove(grid.viewport(), grid.tile_rect(1).center())
    qtbot.waitUntil(lambda: grid.hovered == 1, timeout=5000)
    assert clock.time(grid.moments[1].t, seconds=True) in tl.preview_caption.text()
    assert grid.current == last, "hovering previews without moving the selection"
    qtbot.mouseMove(grid.viewport(), QPoint(grid.viewport().width() - 4, grid.viewport().height() - 4))
    qtbot.waitUntil(lambda: clock.time(m.t, seconds=True) in tl.preview_caption.text(), timeout=5000)
    qtbot.keyClick(grid, _key("Key_Return"))
    cat_id = grid.groups[1].episode.id
    assert m.episode_id == cat_id
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.episode_id == cat_id, timeout=WAIT)
    frames = tl.panel.detail.frames
    assert frames[tl.panel.highlighted_frame].id == m.frame_id, "the episode opens at that moment"
    assert tl.episode_list.currentItem().data(_role()) == cat_id
    qtbot.keyClick(grid, _key("Key_Home"))
    assert grid.current == 0 and grid.moments[0].episode_id == grid.groups[0].episode.id
    # ↓ the next day with memories (the day without footage is skipped), ↑ back
    qtbot.keyClick(grid, _key("Key_Down"))
    qtbot.waitUntil(lambda: tl.day == sample.day3 and bool(tl.grid.groups), timeout=WAIT)
    qtbot.keyClick(grid, _key("Key_Up"))
    qtbot.waitUntil(lambda: tl.day == sample.day1 and len(tl.grid.groups) == 2, timeout=WAIT)


def _role() -> Any:
    from ui.qt import Qt

    return Qt.ItemDataRole.UserRole


def test_dragging_the_day_bar_selects_the_moment_at_that_time(window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api.clock import Clock
    from ui.qt import QPoint, Qt

    tl = _timeline(window)
    _open_day(tl, qtbot, sample.day1)
    bar, grid = tl.day_bar, tl.grid
    first_cat = grid.groups[1].first
    y = bar.height() // 2
    x_face = bar.x_of_moment(0)
    x_cat = bar.x_of_moment(first_cat)
    assert x_cat - x_face > 20, "six hours apart on the bar"
    seen: list[int] = []
    bar.scrubbed.connect(seen.append)
    face_id, cat_id = grid.groups[0].episode.id, grid.groups[1].episode.id
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.tile_rect(first_cat).center())
    assert grid.current == first_cat
    # press at 09:00 (a pixel of the bar is about a minute: any of the face's moments there)
    qtbot.mousePress(bar, Qt.MouseButton.LeftButton, pos=QPoint(x_face, y))
    assert grid.moments[grid.current].episode_id == face_id and bar.current == grid.current
    qtbot.mouseMove(bar, QPoint((x_face + x_cat) // 2 + 2, y))  # nearer the cat: snaps to its first moment
    assert grid.current == first_cat
    qtbot.mouseMove(bar, QPoint(x_cat, y))
    qtbot.mouseRelease(bar, Qt.MouseButton.LeftButton, pos=QPoint(x_cat, y))
    assert grid.moments[grid.current].episode_id == cat_id and bar.current == grid.current
    assert seen and grid.moments[seen[0]].episode_id == face_id and seen[-1] == grid.current
    m = grid.moments[grid.current]
    assert Clock.of(tl.ctx.memory).time(m.t, seconds=True) in tl.preview_caption.text()
    assert tl.episode_list.currentItem().data(_role()) == m.episode_id
    # the wheel steps one moment
    from ui.qt import QPointF, QWheelEvent

    ev = QWheelEvent(QPointF(x_cat, y), QPointF(bar.mapToGlobal(QPoint(x_cat, y))), QPoint(0, 0), QPoint(0, -120),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    before = grid.current
    bar.wheelEvent(ev)
    assert grid.current == min(before + 1, len(grid.moments) - 1) and bar.current == grid.current


def test_the_month_and_year_bars_show_days_and_months_without_footage_as_such(
        window: Any, sample: Sample, qtbot: Any) -> None:
    from ui.qt import QPoint, Qt

    tl = _timeline(window)
    _open_day(tl, qtbot, sample.day1)
    mb = tl.month_bar
    qtbot.waitUntil(lambda: mb.has_footage(sample.day1), timeout=WAIT)
    assert (mb.year, mb.month) == (sample.day1.year, sample.day1.month)
    assert mb.has_footage(sample.day3)
    assert not mb.has_footage(sample.gap)
    assert "no footage" in mb.tooltip_for(sample.gap)
    assert "moment" in mb.tooltip_for(sample.day1)
    # a day without footage does nothing when clicked; a day with footage opens
    gap = mb.cell_rect(sample.gap).center().toPoint()
    qtbot.mouseClick(mb, Qt.MouseButton.LeftButton, pos=gap)
    assert tl.day == sample.day1
    at3 = mb.cell_rect(sample.day3).center().toPoint()
    qtbot.mouseClick(mb, Qt.MouseButton.LeftButton, pos=QPoint(at3.x(), at3.y()))
    qtbot.waitUntil(lambda: tl.day == sample.day3 and len(tl.grid.groups) == 1, timeout=WAIT)
    assert mb.selected == sample.day3
    # the year bar: the month with footage shaded, the others empty; a click opens a month's day
    yb = tl.year_bar
    qtbot.waitUntil(lambda: yb.has_footage(sample.day1.month), timeout=WAIT)
    empty = 1 if sample.day1.month != 1 else 2
    assert yb.year == sample.day1.year and not yb.has_footage(empty)
    assert "no footage" in yb.tooltip_for(empty) and "moment" in yb.tooltip_for(sample.day1.month)
    tl.select_day(sample.day1)
    qtbot.waitUntil(lambda: tl.day == sample.day1, timeout=WAIT)
    qtbot.mouseClick(yb, Qt.MouseButton.LeftButton, pos=yb.cell_rect(empty).center().toPoint())
    assert tl.day == sample.day1, "a month without footage opens nothing"
    qtbot.mouseClick(yb, Qt.MouseButton.LeftButton, pos=yb.cell_rect(sample.day1.month).center().toPoint())
    qtbot.waitUntil(lambda: tl.day == sample.day3, timeout=WAIT)  # the month's latest day


def _jpeg_digests(root: Path, since: float, sizes: set[int]) -> set[str]:
    """Digests of the files under ``root`` changed since ``since`` whose size is one of ``sizes``."""
    out: set[str] = set()
    for dirpath, _dirs, files in os.walk(root, onerror=lambda e: None):
        for f in files:
            p = os.path.join(dirpath, f)
            try:
                st = os.stat(p, follow_symlinks=False)
                if st.st_mtime >= since and st.st_size in sizes:
                    out.add(hashlib.sha256(Path(p).read_bytes()).hexdigest())
            except OSError:
                continue
    return out


def test_thumbnails_are_decrypted_in_memory_only(sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory

    since = time.time() - 1
    win = _open(sample.data_dir, qtbot)
    try:
        tl = _timeline(win)
        _open_day(tl, qtbot, sample.day1)
        qtbot.keyClick(tl.grid, _key("Key_End"))
        qtbot.waitUntil(lambda: all(tl.thumbs.cached(tl.grid.moments[i].thumb_id) is not None
                                    for i in tl.grid.visible_indices()), timeout=WAIT)
        mem = Memory(sample.data_dir)
        shown = {m.thumb_id for m in tl.grid.moments if m.thumb_id and tl.thumbs.cached(m.thumb_id) is not None}
        assert shown
        plain = {mem.thumbnail(b) for b in shown}
        digests = {hashlib.sha256(b).hexdigest() for b in plain}
        sizes = {len(b) for b in plain}
        for root in (sample.data_dir, Path("/tmp")):
            leaked = _jpeg_digests(root, since, sizes) & digests
            assert not leaked, f"a decrypted thumbnail was written under {root}"
    finally:
        qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def test_a_broken_thumbnail_stays_a_placeholder_and_trashed_or_forgotten_episodes_vanish(
        sample: Sample, qtbot: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from lifelog.api import Memory

    data = tmp_path / "memory"
    shutil.copytree(sample.data_dir, data)
    mem = Memory(data)
    eps = mem.episodes(sample.day1)
    from lifelog.api.timeline import day_moments

    moments = day_moments(mem, sample.day1)
    broken = moments[0].thumb_id
    missing = moments[1].thumb_id
    assert broken and missing and broken != missing
    blobs = data / "vault" / "blobs"
    (blobs / broken[:2] / f"{broken}.bin").write_bytes(b"not a sealed blob")
    (blobs / missing[:2] / f"{missing}.bin").unlink()
    win = _open(data, qtbot)
    try:
        tl = _timeline(win)
        _open_day(tl, qtbot, sample.day1)
        qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)
        qtbot.waitUntil(lambda: tl.thumbs.cached(moments[2].thumb_id) is not None, timeout=WAIT)
        assert tl.thumbs.cached(broken) is None and tl.thumbs.cached(missing) is None  # placeholders
        assert f"thumbnail {broken}" in caplog.text and f"thumbnail {missing}" in caplog.text, \
            "the unreadable thumbnails were logged"
        tl.grid.repaint()  # drawing placeholders does not crash, and asks once only
        assert tl.grid.isVisible()
        # an episode moved to the trash (by another window) vanishes from the open day
        mem.trash_episodes([eps[1].id])
        tl.on_changed("forgotten")
        qtbot.waitUntil(lambda: tl.grid.episode_ids() == [eps[0].id], timeout=WAIT)
        assert all(m.episode_id == eps[0].id for m in tl.grid.moments)
        assert len(tl.day_bar.secs) == len(tl.grid.moments)
        # the other one forgotten for good (by another window) vanishes from the screen too
        from lifelog.api.privacy import ForgetRequest

        mem.forget(ForgetRequest("episode", eps[0].id))
        tl.on_changed("forgotten")
        qtbot.waitUntil(lambda: eps[0].id not in tl.grid.episode_ids(), timeout=WAIT)
        assert all(m.episode_id != eps[0].id for m in tl.grid.moments)
    finally:
        qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def test_a_memory_with_no_days_welcomes(qtbot: Any, tmp_path: Path) -> None:
    win = _open(tmp_path / "empty", qtbot)
    try:
        tl = _timeline(win)
        qtbot.waitUntil(lambda: tl.loaded and tl.day_title.text() == "No memories yet", timeout=WAIT)
        assert not tl.grid.groups and "Import" in tl.grid.empty_text
        assert not tl.day_bar.secs
    finally:
        qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def test_a_day_of_20000_moments_asks_only_for_what_is_in_view(window: Any, sample: Sample, qtbot: Any) -> None:
    from datetime import timedelta

    from lifelog.api.clock import Clock
    from lifelog.api.timeline import Moment

    tl = _timeline(window)
    _open_day(tl, qtbot, sample.day1)
    qtbot.waitUntil(lambda: not window.tasks.busy(), timeout=WAIT)
    e = tl.grid.groups[0].episode
    start = e.start
    many = [Moment(f"f{k}", e.id, start + timedelta(seconds=k), f"no-such-blob-{k}") for k in range(20000)]
    one = [Moment("only", e.id, start, None)]
    grid = tl.grid
    clock = Clock.of(tl.ctx.memory)
    grid.set_moments([e], one, clock)
    grid.repaint()
    assert len(grid.moments) == 1 and grid.visible_indices() == [0]
    grid.set_moments([e], many, clock)
    grid.repaint()
    visible = grid.visible_indices()
    assert visible and len(visible) < 1000
    assert len(grid._asked) <= 4 * len(visible), "only the tiles in view (and a screen ahead) are asked for"
    grid.setFocus()
    qtbot.keyClick(grid, _key("Key_End"))
    assert grid.current == 19999 and 19999 in grid.visible_indices()
    last = grid.tile_rect(19999)
    assert last.top() >= 0 and last.bottom() <= grid.viewport().height(), "End scrolls the last moment into view"
    grid.repaint()
    assert len(grid._asked) <= 8 * len(visible)
    qtbot.waitUntil(lambda: not window.tasks.busy(), timeout=WAIT)  # the missing blobs fail quietly
    assert grid.isVisible()


def test_a_very_tall_and_a_very_wide_frame_are_shown_whole(
        sample: Sample, qtbot: Any, tmp_path: Path) -> None:
    import io
    from datetime import timedelta

    from PIL import Image

    from lifelog.api import Memory
    from lifelog.api.clock import Clock
    from lifelog.api.timeline import Moment

    data = tmp_path / "memory"
    shutil.copytree(sample.data_dir, data)
    mem = Memory(data)
    pics = {}
    for blob, size, colour in (("aa00fa11", (16, 480), (230, 20, 20)), ("bb00de1e", (640, 12), (20, 20, 230))):
        buf = io.BytesIO()
        Image.new("RGB", size, colour).save(buf, "JPEG", quality=95)
        mem.vault.put(blob, buf.getvalue())  # a sealed thumbnail, as an import writes them
        pics[blob] = colour
    win = _open(data, qtbot)
    try:
        tl = _timeline(win)
        _open_day(tl, qtbot, sample.day1)
        qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)  # nothing left to redraw the day
        e = tl.grid.groups[0].episode
        grid = tl.grid
        grid.set_moments([e], [Moment("t", e.id, e.start, "aa00fa11"),
                               Moment("w", e.id, e.start + timedelta(seconds=1), "bb00de1e")], Clock.of(mem))
        grid.repaint()
        qtbot.waitUntil(lambda: all(tl.thumbs.cached(b) is not None for b in pics), timeout=WAIT)
        grid.repaint()
        assert [m.frame_id for m in grid.moments] == ["t", "w"]
        img = grid.viewport().grab().toImage()
        dpr = img.devicePixelRatio()

        def rgb(x: int, y: int) -> tuple[int, int, int]:
            c = img.pixelColor(int(x * dpr), int(y * dpr))
            return c.red(), c.green(), c.blue()

        tall, wide = grid.tile_rect(0), grid.tile_rect(1)
        r, g, b = rgb(tall.center().x(), tall.center().y())
        assert r > 150 and g < 90 and b < 90, "the tall frame is drawn in its tile"
        r, g, b = rgb(tall.left() + 6, tall.center().y())
        assert g > 120 and abs(r - g) < 60, "…whole and letterboxed (the tile shows beside it), not cropped"
        r, g, b = rgb(wide.center().x(), wide.center().y())
        assert b > 150 and r < 90, "the wide frame is drawn in its tile"
        r, g, b = rgb(wide.center().x(), wide.top() + 6)
        assert r > 120 and abs(b - r) < 60, "…whole (the tile shows above it), not cropped"
    finally:
        qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def test_escape_zooms_out_to_the_month_and_a_day_tile_opens_that_day(
        window: Any, sample: Sample, qtbot: Any) -> None:
    from ui.qt import Qt

    tl = _timeline(window)
    _open_day(tl, qtbot, sample.day1)
    tl.grid.setFocus()
    qtbot.keyClick(tl.grid, _key("Key_Escape"))
    assert tl.stack.currentWidget() is tl.month_view
    mv = tl.month_view
    qtbot.waitUntil(lambda: mv.count() == 2, timeout=WAIT)
    assert [t.day for t in mv.tiles] == [sample.day1, sample.day3], "only the days with memories, in order"
    first, last = mv.tiles
    assert first.episodes == 2 and last.episodes == 1
    assert NAME in first.people and NAME not in last.people
    assert NAME in mv.item(0).text() and "2 episodes" in mv.item(0).text()
    qtbot.waitUntil(lambda: not mv.item(0).icon().isNull() and not mv.item(1).icon().isNull(), timeout=WAIT)
    qtbot.mouseClick(tl.view_btn, Qt.MouseButton.LeftButton)  # "Back to the day"
    assert tl.stack.currentWidget() is tl.grid and tl.day == sample.day1
    qtbot.mouseClick(tl.month_btn, Qt.MouseButton.LeftButton)
    assert tl.stack.currentWidget() is tl.month_view
    rect = mv.visualItemRect(mv.item(1))
    qtbot.mouseClick(mv.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: tl.day == sample.day3 and tl.stack.currentWidget() is tl.grid
                    and len(tl.grid.groups) == 1, timeout=WAIT)
