"""Issue #15 item 4: the People & Places view (a person's page, a place's page, the graph view).

The memory is tests/test_graph.py's real footage (Obama alone at 09:00 in Edinburgh, Obama and
Biden together at 11:00 in Edinburgh, Biden alone the next morning without GPS, a cup of coffee),
imported through the real pipeline; the app is a real window (pytest-qt, offscreen).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_graph import PASS, T_A, T_B, T_C, Mem, built, mem  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.media]
WAIT = 60_000


@pytest.fixture
def named(mem: Mem) -> tuple[Mem, str, str, str, str]:  # noqa: F811 (the fixture)
    """(memory, Biden's id, Obama alone's id, Obama with Biden's id, Edinburgh's id), two of them named."""
    from lifelog.api import graph as gapi

    biden, obama_a, obama_b = mem.cast()
    mem.api.name_person(biden, "Joe Biden")
    mem.api.name_person(obama_b, "Barack")
    _, places = gapi.overview(mem.api)
    assert len(places) == 1
    return mem, biden, obama_a, obama_b, places[0].node_id


@pytest.fixture
def window(named: tuple[Mem, str, str, str, str], qtbot: Any) -> Iterator[Any]:
    from ui.app import MainWindow, PageSpec
    from ui.pages.graph import GraphPage
    from ui.pages.objects import ObjectsPage
    from ui.pages.timeline import TimelinePage

    win = MainWindow(named[0].api, now=T_C + timedelta(days=1), pages=[
        PageSpec("graph", "People & Places", GraphPage), PageSpec("timeline", "Timeline", TimelinePage),
        PageSpec("objects", "Objects", ObjectsPage)])
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    win.navigate("graph")
    yield win
    win.tasks.wait_idle(WAIT)


def _open(win: Any, qtbot: Any, key: str) -> Any:
    page = win.page("graph")
    qtbot.waitUntil(lambda: page.loaded, timeout=WAIT)
    kind, _, ref = key.partition(":")
    win.navigate("graph", **{kind: ref})
    qtbot.waitUntil(lambda: page.detail is not None and page.detail.key == key, timeout=WAIT)
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)
    return page


def _texts(lst: Any) -> list[str]:
    return [lst.item(i).text() for i in range(lst.count())]


def _click(qtbot: Any, widget: Any, at: Any) -> None:
    from ui.qt import Qt

    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=at.toPoint())


def test_a_persons_page_shows_companions_places_and_sightings(named: Any, window: Any, qtbot: Any) -> None:
    from lifelog.api.clock import Clock

    m, biden, _obama_a, obama_b, edinburgh = named
    page = _open(window, qtbot, f"person:{biden}")
    assert page.title.text() == "Joe Biden — 2 episodes"
    # who he is seen with, ranked with counts; where, with counts (real faces, real GPS)
    assert [page.links.item(i).data(page_role()) for i in range(page.links.count())] == [f"person:{obama_b}"]
    assert _texts(page.links)[0].startswith("Barack — 1 episode, last Tue 14 May 2024")
    assert [page.where.item(i).data(page_role()) for i in range(page.where.count())] == [f"place:{edinburgh}"]
    assert "Edinburgh" in _texts(page.where)[0] and "1 episode" in _texts(page.where)[0]
    assert page.links_empty.isHidden() and page.where_empty.isHidden()
    # how often over time: a bar per day with a sighting, in the memory's zone
    clock = Clock.of(m.api)
    bars = [(p.start, p.count) for p in page.chart.periods]
    assert bars == [(clock.day(T_B), 1), (clock.day(T_C), 1)]
    assert all(track.height() > 0 for _, track in page.chart.bars())
    # his moments, newest first, and his name history; nothing heard from him (no audio)
    assert page.moments.count() == 2 and page.moments.item(0).text().startswith(clock.when(T_C)[:16])
    assert [n.startswith("Joe Biden") for n in _texts(page.names)] == [True]
    assert page.said.count() == 0 and "Nothing heard from them yet" in page.said_empty.text()
    # the graph: him in the middle, Barack and Edinburgh around
    g = page.graph
    assert g.centre.key == f"person:{biden}"
    assert {n.key: n.count for n in g.neighbours} == {f"person:{obama_b}": 1, f"place:{edinburgh}": 1}


def test_someone_seen_alone_has_empty_states(named: Any, window: Any, qtbot: Any) -> None:
    from lifelog.api import graph as gapi

    m, _biden, obama_a, _obama_b, edinburgh = named
    page = _open(window, qtbot, f"person:{obama_a}")
    assert page.title.text() == "someone not named yet — 1 episode"
    assert page.links.count() == 0 and not page.links_empty.isHidden()
    assert page.links_empty.text() == "No one seen with them yet."
    assert [page.where.item(i).data(page_role()) for i in range(page.where.count())] == [f"place:{edinburgh}"]
    assert [n.key for n in page.graph.neighbours] == [f"place:{edinburgh}"]
    assert _texts(page.names) == ["No name given yet."] and gapi.history(m.api, obama_a)[1] == []


def test_graph_nodes_navigate_and_moments_open_the_timeline(named: Any, window: Any, qtbot: Any) -> None:
    from lifelog.api.clock import Clock

    m, biden, _obama_a, obama_b, _edinburgh = named
    ep_b, ep_c = m.episode("b"), m.episode("c")
    page = _open(window, qtbot, f"person:{biden}")
    page.tabs.setCurrentIndex(0)
    g = page.graph
    # an evidence moment on the line to Barack: the episode they were seen together
    node = next(n for n in g.neighbours if n.key == f"person:{obama_b}")
    ((eid, dot),) = g.moment_points(node)
    assert eid == ep_b
    _click(qtbot, g, dot)
    timeline = window.page("timeline")
    assert window.current_key() == "timeline"
    clock = Clock.of(m.api)
    qtbot.waitUntil(lambda: timeline.day == clock.day(T_B) and timeline.panel.episode_id == ep_b, timeout=WAIT)
    # back, and a click on Barack's node opens his page
    window.navigate("graph")
    at = g.node_center(f"person:{obama_b}")
    assert at is not None and g.node_at(at) == f"person:{obama_b}"
    _click(qtbot, g, at)
    qtbot.waitUntil(lambda: page.detail is not None and page.detail.key == f"person:{obama_b}", timeout=WAIT)
    assert page.title.text() == "Barack — 1 episode" and g.centre.key == f"person:{obama_b}"
    assert f"person:{biden}" in {n.key for n in g.neighbours}
    # the newest of Biden's moments in the list opens the timeline at it
    _open(window, qtbot, f"person:{biden}")
    page.open_moment(0)
    qtbot.waitUntil(lambda: timeline.day == clock.day(T_C) and timeline.panel.episode_id == ep_c, timeout=WAIT)
    qtbot.waitUntil(lambda: not window.tasks.busy(), timeout=WAIT)


def test_a_places_page_shows_who_and_visits(named: Any, window: Any, qtbot: Any) -> None:
    from lifelog.api.clock import Clock

    m, biden, obama_a, obama_b, edinburgh = named
    page = _open(window, qtbot, f"place:{edinburgh}")
    assert page.title.text().startswith("Edinburgh") and page.title.text().endswith("— 2 episodes")
    assert page.tabs.tabText(0) == "Seen here" and not page.tabs.isTabEnabled(2)
    seen = {page.links.item(i).data(page_role()) for i in range(page.links.count())}
    assert seen == {f"person:{biden}", f"person:{obama_a}", f"person:{obama_b}"}
    assert [(p.start, p.count) for p in page.chart.periods] == [(Clock.of(m.api).day(T_A), 2)]
    assert {n.key for n in page.graph.neighbours} >= seen
    at = page.graph.node_center(f"person:{biden}")
    _click(qtbot, page.graph, at)
    qtbot.waitUntil(lambda: page.detail is not None and page.detail.key == f"person:{biden}", timeout=WAIT)


def test_a_fact_added_in_the_page_is_stored(named: Any, window: Any, qtbot: Any) -> None:
    from lifelog.api import Memory
    from lifelog.api import graph as gapi

    m, biden, *_ = named
    page = _open(window, qtbot, f"person:{biden}")
    page.tabs.setCurrentIndex(3)
    assert not page.facts_empty.isHidden()
    page.add_fact()  # nothing typed: a clear message, nothing stored
    assert page.error.isVisibleTo(page) and "Type the fact" in page.error.text()
    page.fact_box.setText("was vice president")
    page.add_button.click()
    qtbot.waitUntil(lambda: page.detail is not None and page.facts.count() == 1, timeout=WAIT)
    assert page.facts.item(0).text().startswith("was vice president") and page.fact_box.text() == ""
    # stored: read back through the facade, by another Memory on the same folder
    other = Memory(m.root)
    assert [f.text for f in gapi.list_facts(other, f"person:{biden}")] == ["was vice president"]
    # retracted: no longer believed, kept in the history
    page.facts.setCurrentRow(0)
    assert page.retract_button.isEnabled()
    page.retract_button.click()
    qtbot.waitUntil(lambda: page.detail is not None and page.facts.count() == 0, timeout=WAIT)
    assert gapi.list_facts(Memory(m.root), f"person:{biden}") == []
    assert [f.text for f in gapi.list_facts(Memory(m.root), f"person:{biden}", with_retracted=True)] == [
        "was vice president"]
    qtbot.waitUntil(lambda: not window.tasks.busy(), timeout=WAIT)


def test_an_empty_memory_says_no_one_seen_yet(tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from lifelog.api import Memory
    from ui.app import MainWindow, PageSpec
    from ui.pages.graph import GraphPage

    monkeypatch.setenv("LIFELOG_PASSPHRASE", PASS)
    win = MainWindow(Memory(tmp_path / "memory"), pages=[PageSpec("graph", "People & Places", GraphPage)])
    qtbot.addWidget(win)
    win.show()
    page = win.page("graph")
    qtbot.waitUntil(lambda: page.loaded, timeout=WAIT)
    assert page.list.count() == 0 and page.note.text().startswith("No one seen yet")
    assert not page.side.isVisibleTo(page) and page.detail is None
    win.tasks.wait_idle(WAIT)


@pytest.fixture
def restore_look(qapp: Any) -> Iterator[None]:
    from ui import theme

    palette, sheet, style = qapp.palette(), qapp.styleSheet(), qapp.style().name()
    yield
    theme.apply(qapp, "light")
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)


def test_the_graph_and_chart_follow_the_dark_theme(named: Any, window: Any, qtbot: Any, qapp: Any,
                                                    restore_look: None) -> None:
    from ui import theme

    _mem, biden, *_ = named
    page = _open(window, qtbot, f"person:{biden}")
    for name, look in (("dark", theme.DARK), ("light", theme.LIGHT)):
        theme.apply(qapp, name)
        img = page.graph.grab().toImage()
        assert img.pixelColor(2, 2).name() == look.base.name()  # the graph's background
        chart = page.chart.grab().toImage()
        _, track = page.chart.bars()[0]
        bar = chart.pixelColor(int(track.center().x() * chart.devicePixelRatio()),
                               int((track.bottom() - 2) * chart.devicePixelRatio()))
        assert bar.name() == look.footage.name()  # a bar with a sighting, in the theme's colour


def page_role() -> Any:
    from ui.pages.graph import ROLE_KEY

    return ROLE_KEY
