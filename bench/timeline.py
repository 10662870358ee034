"""The visual timeline under load (issue #19): scrubbing a month of memories, UI stalls while
thumbnails load, thumbnail latency, memory.

Usage::

    .venv/bin/python bench/timeline.py            # 30 days × 2,730 moments a day
    .venv/bin/python bench/timeline.py --quick    # 7 days, 3 days scrubbed (a smoke run)

The month store is the one ``bench/ui.py`` builds (``build_month``: 91 one-minute episodes of 30
frames a day, real encrypted JPEG thumbnails on three frames of each episode), cached in
``<cache>/bench/ui-month-<days>d`` and built in a child process when missing. The real
``ui.app.MainWindow`` opens on it (offscreen Qt); a 10 ms ``QTimer`` on the UI thread records the
gaps between its ticks (``bench/ui.py``'s StallMonitor). Measured, in one process and run:

* **baseline — the old list view**: a day opened in the episode list (its thumbnails decrypted
  from a cold cache): time until every row's thumbnail is shown, longest stall meanwhile;
* **grid load**: the same day opened in the moment grid from a cold cache: time until every tile
  in view shows its thumbnail, longest stall; the ratio against the list is reported;
* **scrub**: for each scrubbed day, the day bar is dragged end to end in 240 mouse moves, one per
  16 ms timer tick (what a hand dragging at 60 Hz sends); every move is handled and the grid and
  preview repainted synchronously. Reported: moves handled per second of UI time (the frame rate
  scrubbing sustains), longest stall while thumbnails load behind it;
* **scroll**: the grid of one day scrolled end to end a page every 50 ms; for each tile that comes
  into view, the time until its thumbnail is in the cache (p50/p95);
* **jump**: 20 jumps to random places of that day from a cold cache (nothing prefetched): time
  until every tile in view shows its thumbnail (p50/p95);
* **memory**: RSS after all that (a month's days read, a day's grid scrolled end to end) against
  RSS before the window was built.

Figures are printed and written to ``bench/results/timeline.json``. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "timeline.json"
PASSPHRASE = "lifelog benchmark passphrase"


def _ui_bench() -> Any:
    """bench/ui.py (its name clashes with the app's package: load it by path)."""
    spec = importlib.util.spec_from_file_location("bench_ui", REPO / "bench" / "ui.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_ui"] = mod
    spec.loader.exec_module(mod)
    return mod


def log(msg: str) -> None:
    print(f"[timeline bench] {msg}", file=sys.stderr, flush=True)


def build(store: Path, days: int) -> None:
    bu = _ui_bench()
    import shutil

    shutil.rmtree(store, ignore_errors=True)
    log(f"building {days} days of memories in {store} (cached for the next run)")
    built = bu.build_month(store, days)
    (store / ".built.json").write_text(json.dumps(built))
    log(f"built {built['episodes']:,} episodes, {built['frames']:,} frames in {built['build_s']} s")


def measure(store: Path, scrub_days: int, freeze: bool = False) -> dict[str, Any]:
    bu = _ui_bench()
    from ui.qt import QApplication, QTimer

    app = QApplication.instance() or QApplication([])
    from lifelog.api import Memory
    from ui.app import MainWindow
    from ui.pages.timeline import TimelinePage

    rss_before = bu._rss_mb()
    win = MainWindow(Memory(store), now=bu.MONTH_END + timedelta(hours=8))
    win.resize(1600, 1000)
    win.show()
    win.navigate("timeline")
    tl = win.page("timeline")
    assert isinstance(tl, TimelinePage)
    bu._spin_until(app, lambda: tl.loaded and bool(tl.grid.groups), 300)
    bu._spin_until(app, lambda: not win.tasks.busy(), 300)
    days = [d.day for d in tl.days]
    if freeze:  # what an app-level gc.freeze() after start-up would do to the collector's pauses
        import gc

        gc.collect()
        gc.freeze()
    mon = bu.StallMonitor()
    mon.start()
    bu._spin(app, 1.0)
    idle = mon.stop()
    out: dict[str, Any] = {"days": len(days), "idle": idle}

    def open_day(day: date) -> None:
        tl.select_day(day)
        bu._spin_until(app, lambda: tl.day == day and bool(tl.grid.groups) and tl.day_note.text() != "Loading…", 120)

    target = days[len(days) // 2]
    # --- baseline: the old list view, cold cache
    tl.show_list(True)
    open_day(days[0])
    bu._spin_until(app, lambda: not win.tasks.busy(), 120)
    tl.thumbs.drop_all()
    mon.start()
    t0 = time.perf_counter()
    open_day(target)
    n_rows = tl.episode_list.count()
    ok = bu._spin_until(app, lambda: all(not tl.episode_list.item(i).icon().isNull() for i in range(n_rows)), 120)
    list_s = time.perf_counter() - t0
    list_stall = mon.stop()
    out["list_baseline"] = {"rows": n_rows, "all_thumbnails_s": round(list_s, 3), "complete": ok,
                            "longest_stall_ms": list_stall["longest_stall_ms"]}
    # --- the grid, cold cache
    tl.show_list(False)
    open_day(days[0])
    bu._spin_until(app, lambda: not win.tasks.busy(), 120)
    tl.thumbs.drop_all()
    mon.start()
    t0 = time.perf_counter()
    open_day(target)

    def in_view_shown() -> bool:
        return all(tl.thumbs.cached(tl.grid.moments[i].thumb_id) is not None
                   for i in tl.grid.visible_indices() if tl.grid.moments[i].thumb_id)

    app.processEvents()
    ok = bu._spin_until(app, in_view_shown, 120)
    grid_s = time.perf_counter() - t0
    grid_stall = mon.stop()
    out["grid_load"] = {"moments": len(tl.grid.moments), "in_view": len(tl.grid.visible_indices()),
                        "in_view_thumbnails_s": round(grid_s, 3), "complete": ok,
                        "longest_stall_ms": grid_stall["longest_stall_ms"],
                        "vs_list_time": round(grid_s / list_s, 3) if list_s else None}
    # --- scrub the day bar across several days (thumbnails load behind it)
    handled: list[float] = []
    scrubbed = days[-scrub_days:]
    tl.thumbs.drop_all()
    import gc

    gc_pauses: list[tuple[int, float]] = []  # (generation, ms) of the collector's runs while scrubbing
    gc_t0 = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_t0[0] = time.perf_counter()
        else:
            gc_pauses.append((info["generation"], 1000 * (time.perf_counter() - gc_t0[0])))

    gc.callbacks.append(on_gc)
    drag_stalls: list[dict[str, float]] = []
    switch_stalls: list[dict[str, float]] = []
    for day in scrubbed:
        mon.start()
        open_day(day)  # ↓ to the next day: the day's moments read and laid out
        switch_stalls.append(mon.stop())
        mon.start()
        _drag(app, bu, tl, 240, handled)
        drag_stalls.append(mon.stop())
    gc.callbacks.remove(on_gc)
    scrub_stall = {"longest_stall_ms": max(x["longest_stall_ms"] for x in drag_stalls),
                   "gaps_over_50ms": sum(x["gaps_over_50ms"] for x in drag_stalls),
                   "day_switch_longest_stall_ms": max(x["longest_stall_ms"] for x in switch_stalls)}
    mean_ms = 1000 * sum(handled) / max(1, len(handled))
    out["scrub"] = {"days": len(scrubbed), "moves": len(handled), "mean_move_ms": round(mean_ms, 2),
                    "p95_move_ms": round(1000 * bu.pct(handled, 95), 2),
                    "moves_per_s": round(1000 / mean_ms, 1) if mean_ms else None,
                    "longest_stall_ms": scrub_stall["longest_stall_ms"],
                    "gaps_over_50ms": scrub_stall["gaps_over_50ms"],
                    "day_switch_longest_stall_ms": scrub_stall["day_switch_longest_stall_ms"],
                    "gc_runs": len(gc_pauses),
                    "gc_longest_ms": round(max((ms for _, ms in gc_pauses), default=0.0), 1),
                    "gc_gen2_runs": sum(1 for g, _ in gc_pauses if g == 2)}
    # --- scroll one day end to end; latency from a tile coming into view to its thumbnail
    tl.thumbs.drop_all()
    open_day(target)
    sb = tl.grid.verticalScrollBar()
    seen_at: dict[int, float] = {}
    latency: list[float] = []
    done_idx: set[int] = set()

    def watch() -> None:
        now = time.perf_counter()
        for i in tl.grid.visible_indices():
            tid = tl.grid.moments[i].thumb_id
            if not tid or i in done_idx:
                continue
            seen_at.setdefault(i, now)
            if tl.thumbs.cached(tid) is not None:
                latency.append(now - seen_at[i])
                done_idx.add(i)

    watcher = QTimer()
    watcher.setInterval(2)
    watcher.timeout.connect(watch)
    watcher.start()
    mon.start()
    while sb.value() < sb.maximum():
        sb.setValue(sb.value() + sb.pageStep())
        bu._spin(app, 0.05)
    bu._spin(app, 0.5)
    watcher.stop()
    scroll_stall = mon.stop()
    out["scroll"] = {"tiles_with_thumbnail_seen": len(seen_at), "shown": len(latency),
                     "p50_ms": round(1000 * bu.pct(latency, 50), 1), "p95_ms": round(1000 * bu.pct(latency, 95), 1),
                     "longest_stall_ms": scroll_stall["longest_stall_ms"]}
    # --- jumps: land anywhere in a day (no prefetch can help): time until the tiles in view show
    import random

    rng = random.Random(5)
    tl.thumbs.drop_all()
    jumps: list[float] = []
    mon.start()
    for _ in range(20):
        sb.setValue(rng.randrange(0, max(1, sb.maximum())))
        t0 = time.perf_counter()
        if bu._spin_until(app, in_view_shown, 10):
            jumps.append(time.perf_counter() - t0)
    jump_stall = mon.stop()
    out["jump"] = {"jumps": 20, "complete": len(jumps), "p50_ms": round(1000 * bu.pct(jumps, 50), 1),
                   "p95_ms": round(1000 * bu.pct(jumps, 95), 1), "longest_stall_ms": jump_stall["longest_stall_ms"]}
    bu._spin_until(app, lambda: not win.tasks.busy(), 120)
    bu._spin(app, 1.0)
    rss = bu._rss_mb()
    out["memory"] = {"rss_before_window_mb": round(rss_before, 1), "rss_after_mb": round(rss, 1),
                     "window_adds_mb": round(rss - rss_before, 1), "peak_rss_mb": bu._hwm_mb(),
                     "ratio_after_vs_before": round(rss / rss_before, 2)}
    win.close()
    return out


def _drag(app: Any, bu: Any, tl: Any, steps: int, handled: list[float]) -> None:
    """Drag the day bar end to end in ``steps`` mouse events, one per 16 ms timer tick; each is
    handled and the grid, bar and preview repainted at once (its time appended to ``handled``)."""
    from ui.qt import QApplication, QMouseEvent, QPoint, QPointF, Qt, QTimer

    bar = tl.day_bar
    y = bar.height() / 2
    state = {"k": 0}
    T = QMouseEvent.Type

    def move() -> None:
        k = state["k"]
        x = 8 + (bar.width() - 16) * k / (steps - 1)
        btn = Qt.MouseButton.LeftButton
        kind = T.MouseButtonPress if k == 0 else T.MouseButtonRelease if k == steps - 1 else T.MouseMove
        ev = QMouseEvent(kind, QPointF(x, y), QPointF(bar.mapToGlobal(QPoint(int(x), int(y)))),
                         btn if kind != T.MouseMove else Qt.MouseButton.NoButton,
                         btn if kind != T.MouseButtonRelease else Qt.MouseButton.NoButton,
                         Qt.KeyboardModifier.NoModifier)
        t = time.perf_counter()
        QApplication.sendEvent(bar, ev)
        tl.grid.viewport().repaint()
        bar.repaint()
        tl.preview.repaint()
        handled.append(time.perf_counter() - t)
        state["k"] = k + 1

    timer = QTimer()
    timer.setInterval(16)
    timer.timeout.connect(move)
    timer.start()
    bu._spin_until(app, lambda: state["k"] >= steps, 120)
    timer.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="7 days of memories, 3 of them scrubbed")
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--gc-freeze", action="store_true",
                    help="gc.freeze() once the window is up (an experiment: the app does not do it)")
    ap.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    os.environ.setdefault("LIFELOG_PASSPHRASE", PASSPHRASE)
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if a.child:
        build(Path(a.child[0]), int(a.child[1]))
        return 0
    from lifelog import paths

    days = a.days if a.days is not None else (7 if a.quick else 30)
    store = paths.cache_dir() / "bench" / f"ui-month-{days}d"
    if not (store / ".built.json").is_file():
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
        subprocess.run([sys.executable, __file__, "--child", str(store), str(days)], env=env, check=True)
    res = measure(store, 3 if a.quick else min(10, days), freeze=a.gc_freeze)
    res["gc_freeze"] = a.gc_freeze
    res["store"] = json.loads((store / ".built.json").read_text())
    res["machine"] = {"cpus": os.cpu_count(), "cpu_pressure": _ui_pressure()}
    print(json.dumps(res, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    where = RESULTS.with_name("timeline-gc-freeze.json") if a.gc_freeze else RESULTS
    where.write_text(json.dumps(res, indent=2) + "\n")
    return 0


def _ui_pressure() -> str | None:
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None


if __name__ == "__main__":
    raise SystemExit(main())
