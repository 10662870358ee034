"""Render every page of the app, with the sample day loaded, to PNG files (offscreen).

    python -m ui.screenshots [--out docs/screenshots] [--data-dir DIR] [--size 1280x800] [--only KEY …]

It opens the sample-day memory that ``lifelog demo`` builds (``lifelog.demo.demo_data_dir``;
the demo is run first when that memory is empty), fixes "now" to an hour after the last
recorded moment (as the demo's questions do), and saves:

* ``timeline.png`` — the latest day's moments (the grid grouped by episode, the month and day
  scrub bars), the moment "when did I last see a cat?" lands on selected, previewed and opened;
* ``timeline-month.png`` — zoomed out to the month: a tile per day with memories;
* ``timeline-{day,month}-{light,dark}.png`` — the day and the month in the light and the dark
  theme (:mod:`ui.theme`; the other pictures are light), shown in the README;
* ``ask.png`` — that question answered, with the ranked moments and their evidence;
* ``episode.png`` — the moment someone mentioned Dashwood: frames, transcript, people;
* ``people.png`` — the people grid;
* ``objects.png`` — the objects seen, the most seen one selected with its moments;
* ``people-places-person.png``, ``people-places-place.png`` — People & Places: the person seen
  most (with what they said when no one was seen with them), then the place visited most
  (places and the graph are derived first when the sample memory has none);
* one ``<key>.png`` for every other registered page (import, settings, welcome, devices…);
* ``privacy.png`` — Settings ▸ Privacy: capture, forget and trash, retention, the audit log;
* ``profile.png``, ``upkeep.png``, ``connected.png`` — the memory profile (refreshed, with one
  line of the user's), the last consolidation pass and the next one, and a connected app with its
  access log. When the sample memory has none yet, a pass is run, the profile refreshed with one
  line added as the user's, and a grant created that asks one real question
  (:func:`_prepare_upkeep`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lifelog.api.settings import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "docs" / "screenshots"
QUESTION = "when did I last see a cat?"
SPEECH_QUESTION = "did anyone mention Dashwood?"


def _settle(app: object, busy: Callable[[], bool], until: Callable[[], bool] = lambda: True,
            timeout_s: float = 120.0) -> bool:
    """Run the event loop until no task is running and ``until()`` holds (or the time is up)."""
    from ui.qt import QApplication

    assert isinstance(app, QApplication)
    deadline = time.monotonic() + timeout_s
    quiet = 0
    while time.monotonic() < deadline:
        app.processEvents()
        if not busy() and until():
            quiet += 1
            if quiet >= 5:  # a few idle rounds: thumbnails asked for by the last render arrive
                return True
        else:
            quiet = 0
        time.sleep(0.02)
    return False


def _shrink(path: Path) -> None:
    """256-colour PNG (about a third of the bytes; fine for a UI with small thumbnails)."""
    from PIL import Image

    with Image.open(path) as im:
        q = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                       dither=Image.Dither.FLOYDSTEINBERG)
    q.save(path, "PNG", optimize=True)


def render(out: Path, data_dir: str | None = None, size: tuple[int, int] = (1280, 800),
           only: list[str] | None = None) -> list[Path]:
    """Save the pictures; ``only`` names the ones to write (e.g. ``["objects"]``), default all."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from lifelog.api import Memory
    from lifelog.api.sample import demo_data_dir, demo_passphrase_if_needed, run_demo, speech_pending
    from ui.app import MainWindow
    from ui.pages.ask import AskPage
    from ui.pages.timeline import TimelinePage
    from ui.qt import QApplication

    ddir = demo_data_dir(data_dir)
    demo_passphrase_if_needed()
    mem = Memory(ddir)
    if mem.stats()["episodes"] == 0:
        print(f"screenshots: the sample memory at {ddir} is empty; running `lifelog demo` first…", file=sys.stderr)
        run_demo(str(ddir))
        mem = Memory(ddir)
    if speech_pending(mem):  # the demo transcribes after importing; finish what it left
        print("screenshots: transcribing the sample memory's speech first…", file=sys.stderr)
        mem.transcribe_pending()
    last = mem.episodes()[-1].end
    now = last + timedelta(hours=1)

    if not only or {"profile", "upkeep", "connected"} & set(only):
        _prepare_upkeep(mem, now)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    from ui import theme

    theme.apply(app, "light")  # the pictures do not depend on the machine's scheme
    win = MainWindow(mem, now=now)
    win.resize(*size)
    win.show()
    busy = win.tasks.busy
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def shot(name: str) -> None:
        if only and name not in only:
            return
        path = out / f"{name}.png"
        win.grab().save(str(path), "PNG")
        _shrink(path)
        saved.append(path)
        print(f"screenshots: {path}", file=sys.stderr)

    timeline = win.page("timeline")
    assert isinstance(timeline, TimelinePage)
    _settle(app, busy, lambda: timeline.panel.detail is not None)

    ask = win.page("ask")
    assert isinstance(ask, AskPage)
    win.navigate("ask")
    ask.ask(QUESTION)
    _settle(app, busy, lambda: ask.result is not None)
    shot("ask")

    if ask.result is not None and ask.result.hits:
        ask.open_hit(0)
        want = ask.result.hits[0].episode_id
        _settle(app, busy, lambda: timeline.panel.detail is not None and timeline.panel.episode_id == want)
    else:
        win.navigate("timeline")
    shot("timeline")
    mv = timeline.month_view

    def month_ready() -> bool:
        return mv.count() > 0 and all(not mv.item(i).icon().isNull() for i in range(mv.count()))

    for scheme in ("light", "dark"):  # the README's pictures: day and month zoom, light and dark
        theme.apply(app, scheme)
        timeline.show_list(False)
        _settle(app, busy)
        shot(f"timeline-day-{scheme}")
        if not only or {"timeline-month", f"timeline-month-{scheme}"} & set(only):  # the month's days
            timeline.show_month()
            _settle(app, busy, month_ready)
            if scheme == "light":
                shot("timeline-month")
            shot(f"timeline-month-{scheme}")
    theme.apply(app, "light")
    timeline.show_list(False)
    _settle(app, busy)

    # an episode with speech: what was said, with time and speaker
    ask.ask(SPEECH_QUESTION)
    _settle(app, busy, lambda: ask.result is not None and ask.result.question == SPEECH_QUESTION)
    if ask.result is not None and ask.result.hits:
        ask.open_hit(0)
        want = ask.result.hits[0].episode_id
        _settle(app, busy, lambda: timeline.panel.detail is not None and timeline.panel.episode_id == want)
        shot("episode")

    for spec in win.specs:
        if spec.key in ("timeline", "ask") or (only and spec.key not in only):
            continue
        win.navigate(spec.key)
        _settle(app, busy)
        if spec.key == "objects":
            _objects_selected(app, busy, win.page("objects"))
        if spec.key == "connected":
            _grant_selected(app, busy, win.page("connected"))
        if spec.key == "upkeep":  # this window hosts the nightly schedule while the picture is taken
            _upkeep_hosted(app, busy, win)
        shot(spec.key)
    if not only or {"people-places-person", "people-places-place"} & set(only):
        _people_places(app, busy, win, shot)
    if not only or "privacy" in only:  # Settings ▸ Privacy: capture, forget, trash, retention, audit
        from ui.pages.settings import Page as SettingsPage

        win.navigate("settings")
        settings = win.page("settings")
        if isinstance(settings, SettingsPage):
            _settle(app, busy)
            settings.scroller.ensureWidgetVisible(settings.privacy, 0, 0)
            settings.scroller.verticalScrollBar().setValue(settings.privacy.y())
            _settle(app, busy)
            shot("privacy")
    _background(app, busy, win, out, only, saved)
    win.close()
    return saved


def _background(app: object, busy: Callable[[], bool], win: Any, out: Path, only: list[str] | None,
                saved: list[Path]) -> None:
    """Issue #18: ``tray-menu.png`` (the tray icon's menu), ``background.png`` (Settings ▸
    Background: close to the tray, notifications; offscreen has no tray, so the section says so;
    a desktop notification cannot be drawn offscreen) and ``background-question.png`` (the
    question asked on the first close where a tray exists)."""
    from ui.qt import QGroupBox, QPoint

    def save(name: str, widget: Any) -> None:
        if only and name not in only:
            return
        path = out / f"{name}.png"
        widget.grab().save(str(path), "PNG")
        _shrink(path)
        saved.append(path)
        print(f"screenshots: {path}", file=sys.stderr)

    menu = win.tray.menu
    menu.popup(QPoint(900, 40))
    _settle(app, busy)
    save("tray-menu", menu)
    menu.hide()
    win.navigate("settings")
    settings = win.page("settings")
    _settle(app, busy)
    section = settings.findChild(QGroupBox, "background_section")
    if section is not None:
        settings.scroller.verticalScrollBar().setValue(section.y())
        _settle(app, busy)
    save("background", win)
    box, _keep = win.close_question()
    box.show()
    _settle(app, busy)
    save("background-question", box)
    box.hide()


def _people_places(app: object, busy: Callable[[], bool], win: Any, shot: Callable[[str], None]) -> None:
    """People & Places: the person seen in the most episodes, then the place with the most. A
    sample memory whose graph was never built (or that has no places yet) gets them first."""
    from lifelog.api import graph as gapi
    from ui.pages.graph import GraphPage

    page = win.page("graph") if "graph" in win.pages else None
    if not isinstance(page, GraphPage):
        return
    mem = win.memory
    if not gapi.overview(mem)[1]:
        mem.refresh_places()
    if not gapi.stats(mem).built:
        gapi.build_graph(mem)
    win.navigate("graph")
    page.refresh()
    _settle(app, busy, lambda: page.loaded)
    for kind in ("person", "place"):
        key = next((k for k in page.keys if k.startswith(f"{kind}:")), None)
        if key is None:
            continue
        page.select(key)

        def opened(key: str = key) -> bool:
            return page.detail is not None and page.detail.key == key

        _settle(app, busy, opened)
        d = page.detail
        if d is not None and kind == "person" and d.said and not d.view.people:
            page.tabs.setCurrentIndex(2)  # what they said, when nobody was seen with them
        else:
            page.tabs.setCurrentIndex(0)
        _settle(app, busy)
        shot(f"people-places-{kind}")


def _objects_selected(app: object, busy: Callable[[], bool], page: object) -> None:
    """On the Objects page, select the object seen in the most episodes and wait for its moments."""
    from ui.pages.objects import ObjectsPage

    if not isinstance(page, ObjectsPage):
        return
    _settle(app, busy, lambda: page.loaded)
    if page.objects:
        top = max(page.objects, key=lambda o: (o.episodes, o.frames)).name
        page.select_object(top)
        _settle(app, busy, lambda: page.occurrences is not None)


MY_LINE = "- (yours) my gym: the climbing hall on Elm Street"
ASSISTANT = "my-assistant"


def _prepare_upkeep(mem: Any, now: datetime) -> None:
    """Give the Profile, Upkeep and Connected apps pages something to show (once per memory)."""
    from lifelog.api import consolidate
    from lifelog.api.grants import client_answer, grants_of, log_access
    from lifelog.api.profile import read_profile, refresh_profile, save_profile_text

    if consolidate.status(mem.data_dir).last is None:
        print("screenshots: running one consolidation pass on the sample memory…", file=sys.stderr)
        consolidate.run_pass(mem, now=now)
    view = read_profile(mem)
    if not view.lines:
        refresh_profile(mem, now)
        view = read_profile(mem)
    if not any(ln.source == "user" for ln in view.lines):
        text = view.text.replace("## Places and routines\n", f"## Places and routines\n{MY_LINE}\n", 1)
        save_profile_text(mem, text, now)
    grants = grants_of(mem)
    if not any(g.name == ASSISTANT for g in grants.list()):
        grant, _token = grants.add(ASSISTANT, ["ask", "search", "episodes", "people", "thumbnails"], days=30)
        # what `lifelog.serve.ops.ask` does for a client's request: the answer, then the log entry
        answer = client_answer(mem, QUESTION, now, 5)
        log_access(mem, grant.id, "ask", "ok", via="mcp", question=QUESTION,
                   episodes=[h.episode_id for h in answer.hits], counts={"hits": len(answer.hits)})


def _upkeep_hosted(app: object, busy: Callable[[], bool], win: Any) -> None:
    from ui.pages.upkeep import UpkeepPage

    page = win.page("upkeep")
    if not isinstance(page, UpkeepPage):
        return
    win.start_scheduler()
    _settle(app, busy, lambda: win.scheduler.started)
    page.monitor.poll()
    _settle(app, busy, lambda: page.status is not None and page.status.host is not None)


def _grant_selected(app: object, busy: Callable[[], bool], page: object) -> None:
    """On the Connected apps page, select the sample grant and wait for its access log."""
    from ui.pages.connected import ConnectedPage

    if not isinstance(page, ConnectedPage):
        return
    _settle(app, busy, lambda: page.loaded)
    grant = next((g for g in page.grants if g.name == ASSISTANT), None)
    if grant is not None:
        page.select(grant.id)
        _settle(app, busy, lambda: page.log_for == grant.id and bool(page.log))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ui.screenshots", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNG files")
    p.add_argument("--data-dir", default=None, help="memory to show (default: the sample-day demo memory)")
    p.add_argument("--size", default="1280x800", help="window size, WIDTHxHEIGHT")
    p.add_argument("--only", nargs="+", default=None, metavar="KEY",
                   help="write only these pictures (page keys, or 'episode'), e.g. --only objects")
    args = p.parse_args(argv)
    w, _, h = args.size.partition("x")
    render(args.out, args.data_dir, (int(w), int(h)), args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
