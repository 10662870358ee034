"""One clock (issue #16, item 6): every surface shows a moment at the same time, in the memory's
zone, whatever zone the machine is in; answers hold no shell command.

The memory lives in Europe/London while the test process and the CLI run with
``TZ=Pacific/Auckland`` (eleven or twelve hours away, often another day). Real clips are
imported: a cup at 20:00 London time on 15 May 2024 (BST), the same cup on 30 March 2024 at
19:00 (GMT, the day before the clocks went forward) and a face at 18:00 on 15 May. The same
episode must read the same on: ``lifelog ask`` (text and ``--json`` offsets), ``lifelog
episodes``, the app's Ask answer and its list of moments, the timeline row it opens, the episode
page, the person's page and the Objects page.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import cli_env, json_doc, run_cli

pytest.importorskip("PySide6")

HOME = ZoneInfo("Europe/London")  # the memory's zone setting
AWAY = "Pacific/Auckland"  # the machine's zone (TZ of the test process and of the CLI)
CUP = datetime(2024, 5, 15, 19, 0, tzinfo=UTC)  # 20:00 BST in London, 07:00 on the 16th in Auckland
CUP_WINTER = datetime(2024, 3, 30, 19, 0, tzinfo=UTC)  # 19:00 GMT in London, 08:00 on the 31st in Auckland
FACE = datetime(2024, 5, 15, 17, 0, tzinfo=UTC)  # 18:00 BST in London
NOW = datetime(2024, 5, 15, 21, 0, tzinfo=UTC)  # 22:00 in London; the app is given it in the machine's zone
FACE_ROI = [0.0, 0.0, 1.0, 0.55]
WAIT = 60000


@dataclass
class Sample:
    data_dir: Path
    cup: str  # episode ids
    cup_winter: str
    face: str


def _hm(t: datetime, zone: Any) -> str:
    return f"{t.astimezone(zone):%H:%M}"


@pytest.fixture(scope="module")
def away_tz() -> Iterator[None]:
    """The test process runs in Auckland, as a laptop taken on a trip would."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = AWAY
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.fixture(scope="module")
def sample(media: Any, models_ready: None, away_tz: None, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    from lifelog.api import Memory
    from lifelog.api.settings import load_settings, save_settings
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("one-clock")
    data = root / "memory"
    data.mkdir(mode=0o700)
    save_settings(data, load_settings(data).model_copy(update={"timezone": "Europe/London"}))
    files = [
        make_clip(root / "cup.mp4", media.path("coffee.png"), 3, CUP, fps=10, size=(320, 240)),
        make_clip(root / "cup_winter.mp4", media.path("coffee.png"), 3, CUP_WINTER, fps=10, size=(320, 240), seed=1),
        make_clip(root / "face.mp4", media.path("obama.jpg"), 6, FACE, fps=10, size=(640, 480), effect="pan",
                  roi=FACE_ROI),
    ]
    mem = Memory(data)
    assert _hm(CUP, mem.tz) == "20:00" and _hm(CUP, datetime.now().astimezone().tzinfo) != "20:00", \
        "the memory's zone and the machine's must differ for this test to mean anything"
    result = mem.import_paths(files)
    assert result.imported == len(files), result.failed

    def episode_at(at: datetime) -> str:
        return next(e.id for e in mem.episodes() if abs((e.start - at).total_seconds()) < 60)

    assert len(mem.people()) == 1, "the face is one person, not named yet"
    return Sample(data, episode_at(CUP), episode_at(CUP_WINTER), episode_at(FACE))


def _env() -> dict[str, str]:
    return cli_env(TZ=AWAY)


def _cli_now() -> str:
    return NOW.astimezone(ZoneInfo(AWAY)).isoformat()  # "now" as the machine would give it


@pytest.fixture
def window(sample: Sample, qtbot: Any) -> Iterator[Any]:
    from lifelog.api import Memory
    from ui.app import MainWindow

    win = MainWindow(Memory(sample.data_dir), now=NOW.astimezone())  # the machine's zone, as the app's clock gives
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def _left() -> Any:
    from ui.qt import Qt

    return Qt.MouseButton.LeftButton


def _ask(window: Any, qtbot: Any, question: str) -> Any:
    from ui.pages.ask import AskPage

    page = window.page("ask")
    assert isinstance(page, AskPage)
    window.navigate("ask")
    qtbot.waitUntil(lambda: not window.tasks.busy(), timeout=WAIT)  # no earlier answer still on its way
    before = page.result
    page.ask(question)
    qtbot.waitUntil(lambda: page.result is not None and page.result is not before
                    and page.result.question == question, timeout=WAIT)
    assert page.result is not None and page.result.error is None, page.result
    return page


def _open_top_hit(window: Any, qtbot: Any, page: Any, episode_id: str) -> Any:
    """Click the first moment of the answer; the timeline with that episode open."""
    from ui.pages.timeline import TimelinePage

    assert page.result.hits[0].episode_id == episode_id
    rect = page.hits.visualItemRect(page.hits.item(0))
    qtbot.mouseClick(page.hits.viewport(), _left(), pos=rect.center())
    tl = window.page("timeline")
    assert isinstance(tl, TimelinePage)
    qtbot.waitUntil(lambda: tl.panel.detail is not None and tl.panel.episode_id == episode_id
                    and tl.episode_list.currentItem() is not None, timeout=WAIT)
    return tl


def _check_app_surfaces(window: Any, qtbot: Any, question: str, episode_id: str, clock: str, day: str) -> None:
    """The Ask answer, its moment, the timeline row it opens and the episode page read ``clock``."""
    page = _ask(window, qtbot, question)
    assert f"at {clock}" in page.answer.text(), page.answer.text()
    hit = page.hits.item(0).text()
    assert f"{day}, {clock}" in hit, hit
    tl = _open_top_hit(window, qtbot, page, episode_id)
    assert tl.episode_list.currentItem().text().startswith(clock), tl.episode_list.currentItem().text()
    long_day = f"{datetime.strptime(day, '%a %d %b %Y'):%A %d %B %Y}".replace(" 0", " ")  # "Saturday 30 March 2024"
    assert tl.panel.title.text().startswith(f"{long_day}, {clock}"), tl.panel.title.text()
    assert tl.panel.frames.item(0).text().startswith(clock), "the episode's first frame, on the same clock"


# ------------------------------------------------------------------------------------ CLI
def test_cli_ask_and_episodes_show_the_memorys_clock(sample: Sample) -> None:
    env, now = _env(), _cli_now()
    out = run_cli(sample.data_dir, "ask", "when did I last have coffee?", "--now", now, env=env)
    assert out.returncode == 0, out.stderr
    first, hit = out.stdout.splitlines()[0], out.stdout.splitlines()[1]
    assert "today at 20:00" in first, out.stdout  # not 07:00 "tomorrow", as in Auckland
    assert "2024-05-15 20:00–" in hit and sample.cup in hit, hit
    doc = json_doc(run_cli(sample.data_dir, "ask", "when did I last have coffee?", "--now", now, "--json", env=env))
    top = doc["hits"][0]
    assert top["episode_id"] == sample.cup
    assert top["start"].startswith("2024-05-15T20:00") and top["start"].endswith("+01:00"), top["start"]
    assert all(e["time"].endswith("+01:00") for e in top["evidence"])
    assert abs(datetime.fromisoformat(top["start"]) - CUP) < timedelta(minutes=1), "the same instant, shown at home"

    eps = run_cli(sample.data_dir, "episodes", "--day", "2024-05-15", env=env)
    assert eps.returncode == 0, eps.stderr
    line = next(ln for ln in eps.stdout.splitlines() if sample.cup in ln)
    assert line.startswith("2024-05-15 20:00:"), line
    doc = json_doc(run_cli(sample.data_dir, "episodes", "--day", "2024-05-15", "--json", env=env))
    cup = next(e for e in doc if e["id"] == sample.cup)
    assert cup["start"].startswith("2024-05-15T20:00") and cup["start"].endswith("+01:00")


def test_cli_winter_episode_keeps_its_own_offset_when_asked_in_summer(sample: Sample) -> None:
    """Recorded in GMT, asked in BST: 19:00, not 20:00 (the offset of the day it happened)."""
    env, now = _env(), _cli_now()
    out = run_cli(sample.data_dir, "ask", "when did I first have coffee?", "--now", now, env=env)
    assert out.returncode == 0, out.stderr
    assert "on Sat 30 Mar 2024 at 19:00" in out.stdout.splitlines()[0], out.stdout
    doc = json_doc(run_cli(sample.data_dir, "ask", "when did I first have coffee?", "--now", now, "--json", env=env))
    assert doc["hits"][0]["episode_id"] == sample.cup_winter
    assert doc["hits"][0]["start"].startswith("2024-03-30T19:00") and doc["hits"][0]["start"].endswith("+00:00")
    line = next(ln for ln in run_cli(sample.data_dir, "episodes", env=env).stdout.splitlines()
                if sample.cup_winter in ln)
    assert line.startswith("2024-03-30 19:00:"), line


def test_cli_answer_about_someone_unnamed_has_no_command_but_json_says_who(sample: Sample) -> None:
    env, now = _env(), _cli_now()
    doc = json_doc(run_cli(sample.data_dir, "ask", "when did I last see Sam?", "--now", now, "--json", env=env))
    assert doc["answer"] == "I don't know anyone called Sam yet.", doc["answer"]
    assert "`" not in doc["answer"] and "lifelog " not in doc["answer"]
    (who,) = doc["to_name"]
    from lifelog.api import Memory

    assert who["id"] == Memory(sample.data_dir).people()[0].id and who["suggested_name"] == "Sam"
    assert who["thumbnail"] and Path(who["thumbnail"]).read_bytes()[:2] == b"\xff\xd8", "their face"
    text = run_cli(sample.data_dir, "ask", "when did I last see Sam?", "--now", now, env=env).stdout
    assert f"lifelog people name {who['id']} Sam" in text, "the CLI phrases its own way to name them"


# ------------------------------------------------------------------------------------ app
def test_app_ask_timeline_episode_and_objects_show_the_same_time(window: Any, sample: Sample, qtbot: Any) -> None:
    from ui.pages.objects import ObjectsPage

    _check_app_surfaces(window, qtbot, "when did I last have coffee?", sample.cup, "20:00", "Wed 15 May 2024")
    # the same episode on the Objects page
    page = window.page("objects")
    assert isinstance(page, ObjectsPage)
    window.navigate("objects")
    qtbot.waitUntil(lambda: page.loaded, timeout=WAIT)
    page.set_period("all")
    qtbot.waitUntil(lambda: page.loaded and "cup" in page.names() and not window.tasks.busy(), timeout=WAIT)
    page.select_object("cup")
    qtbot.waitUntil(lambda: page.occurrences is not None and page.moments.count() == 2, timeout=WAIT)
    occ = page.occurrences
    assert occ is not None
    row = [s.episode_id for s in occ.sightings].index(sample.cup)
    assert page.moments.item(row).text().startswith("Wed 15 May 2024, 20:00"), page.moments.item(row).text()
    winter = [s.episode_id for s in occ.sightings].index(sample.cup_winter)
    assert page.moments.item(winter).text().startswith("Sat 30 Mar 2024, 19:00")
    cup_row = page.list.item(page.names().index("cup")).text()
    assert "first Sat 30 Mar 2024, 19:00" in cup_row and "last Wed 15 May 2024, 20:00" in cup_row, cup_row


def test_app_winter_episode_asked_in_summer(window: Any, sample: Sample, qtbot: Any) -> None:
    _check_app_surfaces(window, qtbot, "when did I first have coffee?", sample.cup_winter, "19:00", "Sat 30 Mar 2024")


def test_app_names_an_unnamed_person_with_a_button_and_asks_again(window: Any, sample: Sample, qtbot: Any) -> None:
    from lifelog.api import Memory
    from ui.pages.people import PeoplePage
    from ui.qt import QDialogButtonBox, QLabel, QLineEdit

    page = _ask(window, qtbot, "when did I last see Sam?")
    shown = " ".join(w.text() for w in page.findChildren(QLabel) if w.isVisibleTo(page))
    assert "I don't know anyone called Sam yet" in shown
    assert "`" not in shown and "lifelog " not in shown, shown
    assert page.to_name_box.isVisibleTo(page) and len(page.name_buttons) == 1
    qtbot.waitUntil(lambda: not page.name_buttons[0].icon().isNull(), timeout=WAIT)  # their face
    qtbot.mouseClick(page.name_buttons[0], _left())
    qtbot.waitUntil(lambda: page.name_dialog is not None and page.name_dialog.isVisible(), timeout=WAIT)
    dlg = page.name_dialog
    box = dlg.findChild(QLineEdit)
    box.clear()
    qtbot.keyClicks(box, "Sam")
    try:
        qtbot.mouseClick(dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok), _left())
        # named, and asked again: the answer is now about Sam, at the face's time
        qtbot.waitUntil(lambda: page.answer.text().startswith("You last saw Sam"), timeout=WAIT)
        assert page.answer.text() == "You last saw Sam today at 18:00.", page.answer.text()
        assert not page.to_name_box.isVisibleTo(page)
        assert [p.name for p in Memory(sample.data_dir).people()] == ["Sam"]
        assert page.hits.item(0).text().startswith("Wed 15 May 2024, 18:00"), page.hits.item(0).text()
        tl = _open_top_hit(window, qtbot, page, sample.face)
        assert tl.episode_list.currentItem().text().startswith("18:00")
        qtbot.waitUntil(lambda: "Sam" in tl.panel.people_label.text(), timeout=WAIT)
        # the person's page: last seen, and where they were seen
        people = window.page("people")
        assert isinstance(people, PeoplePage)
        window.navigate("people")
        qtbot.waitUntil(lambda: people.loaded and people.grid.count() == 1
                        and people.grid.item(0).text().startswith("Sam"), timeout=WAIT)
        assert "last seen Wed 15 May 2024, 18:00" in people.grid.item(0).text()
        people.show_person(people.people[0].id)
        qtbot.waitUntil(lambda: people.side_list.count() == 1, timeout=WAIT)
        assert people.side_list.item(0).text().startswith("Wed 15 May 2024, 18:00 (18:00"), \
            people.side_list.item(0).text()
    finally:
        qtbot.waitUntil(lambda: not window.tasks.busy(), timeout=WAIT)
        mem = Memory(sample.data_dir)
        if any(p.name for p in mem.people()):
            mem.undo_people_edit()


def test_a_zone_change_after_import_moves_every_surface_together(window: Any, sample: Sample, qtbot: Any) -> None:
    """The owner moved to New York (EDT, UTC−4) after the import: every surface shows 15:00 for
    the coffee now, none keeps the London 20:00 or the machine's Auckland 07:00."""
    from lifelog.api.settings import load_settings, save_settings

    page = _ask(window, qtbot, "when did I last have coffee?")
    assert "today at 20:00" in page.answer.text()
    saved = load_settings(sample.data_dir)
    moved = saved.model_copy(update={"timezone": "America/New_York"})
    try:
        save_settings(sample.data_dir, moved)  # what the Settings page's Save does
        window.memory.settings = moved
        window.changed("settings")
        # the answer on screen is asked again, on the new clock
        qtbot.waitUntil(lambda: "today at 15:00" in page.answer.text(), timeout=WAIT)
        env, now = _env(), _cli_now()
        out = run_cli(sample.data_dir, "ask", "when did I last have coffee?", "--now", now, env=env)
        assert "today at 15:00" in out.stdout.splitlines()[0], out.stdout
        doc = json_doc(run_cli(sample.data_dir, "ask", "when did I last have coffee?", "--now", now, "--json",
                               env=env))
        assert doc["hits"][0]["start"].startswith("2024-05-15T15:00") and doc["hits"][0]["start"].endswith("-04:00")
        line = next(ln for ln in run_cli(sample.data_dir, "episodes", env=env).stdout.splitlines()
                    if sample.cup in ln)
        assert line.startswith("2024-05-15 15:00:"), line
        _check_app_surfaces(window, qtbot, "when did I last have coffee?", sample.cup, "15:00", "Wed 15 May 2024")
        # winter: 19:00 GMT was 15:00 EDT too (New York had moved its clocks on 10 March)
        _check_app_surfaces(window, qtbot, "when did I first have coffee?", sample.cup_winter, "15:00",
                            "Sat 30 Mar 2024")
    finally:
        save_settings(sample.data_dir, saved)
        window.memory.settings = saved
