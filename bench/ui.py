"""The desktop app under load: event-loop stalls during a long import, and memory at idle.

Usage::

    .venv/bin/python bench/ui.py                    # 30-minute 1080p import + a month of memories
    .venv/bin/python bench/ui.py --quick            # 2-minute video, 7 days (a smoke run)
    .venv/bin/python bench/ui.py --only stall --minutes 2

Two measures, each in its own child process (offscreen Qt, the real ``ui.app.MainWindow`` with
every page, a real memory on disk):

* **stall**: a ``QTimer`` firing every 10 ms on the UI thread records the gap between ticks.
  First for ``--idle-seconds`` with the window idle (the baseline, same process, same run), then
  while the long video (``<cache>/bench/long-<M>min-1920x1080-30fps-gop2-v1.mp4``, made by
  ``bench/ingest.py`` — run it first if missing) is dropped on the **Import page** and imported
  with the app's default settings (faces and OCR on) until its row is done. The app runs the
  import in a child process (ui/import_worker.py); for comparison the same import also runs in
  a thread of the UI process (``InThreadWorker``, the design before). Reported for both: longest
  gap, p99, p50, gaps over 50/100 ms, when they happened, and tick count; the stall figure is
  the longest gap minus the 10 ms period. Target: longest stall < 100 ms. The machine's load
  average shows in the idle baseline (other processes also delay the UI thread).
* **memory**: a month of memories is written straight into a fresh store (``build_month``: 30
  days × 91 one-minute episodes of 30 frames = 81,900 frames, 2,730 episodes; vectors and
  labels are real encoder outputs of jittered real sample photos, as in ``bench/query.py``;
  each episode has three real encrypted JPEG thumbnails and an encrypted summary; per-frame
  thumbnails other than those are left out, which the day view never reads). The window opens
  on it (Timeline showing the latest day with its thumbnails), waits until every task is idle,
  idles two seconds, then reads RSS with psutil. The baseline is the same process's RSS just
  before the window was built (Qt + lifelog imported, QApplication up). Target: RSS < 500 MB.

Figures are printed and written to ``bench/results/ui.json``. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# This file is called ui.py: keep its own folder off the path so that `import ui` is the app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "ui.json"
PASSPHRASE = "lifelog benchmark passphrase"
TICK_MS = 10
MONTH_END = datetime(2026, 11, 21, tzinfo=UTC)  # "now" of the month store: the day after its last


def log(msg: str) -> None:
    print(f"[ui bench] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


# ------------------------------------------------------------------ the stall monitor
class StallMonitor:
    """A 10 ms precise QTimer on the UI thread; every tick records the gap since the last."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt

        from ui.qt import QTimer

        self.gaps_ms: list[float] = []
        self.long_gaps: list[tuple[float, float, str]] = []  # (seconds since start, gap ms, what ran)
        self.what: Any = lambda: ""
        self._t0 = 0.0
        self._last: float | None = None
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            gap = (now - self._last) * 1000.0
            self.gaps_ms.append(gap)
            if gap > 50:
                self.long_gaps.append((round(now - self._t0, 2), round(gap, 1), str(self.what())))
        self._last = now

    def start(self) -> None:
        self.gaps_ms, self.long_gaps, self._last = [], [], None
        self._t0 = time.perf_counter()
        self.timer.start()

    def stop(self) -> dict[str, float]:
        self.timer.stop()
        g = self.gaps_ms
        return {
            "ticks": float(len(g)),
            "max_gap_ms": round(max(g), 2) if g else float("nan"),
            "p99_gap_ms": round(pct(g, 99), 2),
            "p50_gap_ms": round(pct(g, 50), 2),
            "longest_stall_ms": round(max(g) - TICK_MS, 2) if g else float("nan"),
            "gaps_over_50ms": float(sum(x > 50 for x in g)),
            "gaps_over_100ms": float(sum(x > 100 for x in g)),
        }


def _spin(app: Any, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def _spin_until(app: Any, cond: Any, timeout: float) -> bool:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.001)
    return False


def cpu_pressure() -> str | None:
    """Linux PSI: the share of time some runnable task waited for a CPU (other processes)."""
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None


def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def _hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# ------------------------------------------------------------------ child: stall
class InThreadWorker:
    """For comparison only: the same import run in a thread of the UI process (no child)."""

    def __init__(self, memory: Any) -> None:
        self.memory = memory

    def run(self, paths: list[Path], cancel: Any, on_progress: Any, transcribe: bool = True) -> Any:
        from ui.import_worker import Progress, import_and_transcribe

        def report(phase: str, p: Any) -> None:
            on_progress(Progress(phase, str(getattr(p, "stage", "")), int(getattr(p, "files_done", 0)),
                                 int(getattr(p, "files_total", 0)), None, float(getattr(p, "fraction", 0.0))))

        return import_and_transcribe(self.memory, paths, cancel, report, transcribe)

    def release(self, wait_s: float = 0.0) -> None:
        return None


def child_stall(video: Path, idle_s: float, work: Path, analyzers: bool = True,
                switch_s: float | None = None, in_thread: bool = False) -> dict[str, Any]:
    from ui.qt import QApplication

    app = QApplication.instance() or QApplication([])
    from lifelog.api import Memory
    from ui.app import UI_SWITCH_INTERVAL_S, MainWindow

    sys.setswitchinterval(UI_SWITCH_INTERVAL_S if switch_s is None else switch_s)  # as ui.app.main does

    data = work / "memory"
    data.mkdir(parents=True)
    (data / "app-opened").write_text("bench")  # not a first run
    if not analyzers:  # the visual path alone: faces and OCR off
        from lifelog.config import Settings, save_settings

        s = Settings()
        s.capture.faces = False
        s.capture.ocr_interval_s = 0.0
        save_settings(data, s)
    win = MainWindow(Memory(data))
    win.show()
    _spin_until(app, lambda: not win.tasks.busy(), 60)
    _spin(app, 1.0)
    mon = StallMonitor()
    log(f"idle baseline: {idle_s:g} s")
    mon.start()
    _spin(app, idle_s)
    idle = mon.stop()
    page: Any = win.page("import")
    if in_thread:
        page.worker = InThreadWorker(win.memory)
    win.navigate("import")
    log(f"importing {video.name} through the Import page")
    mon.start()
    t0 = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    psi_before = cpu_pressure()
    (item,) = page.add_paths([video])
    mon.what = lambda: f"{item.state} {getattr(item.latest, 'stage', '')} {item.detail}"
    ok = _spin_until(app, lambda: item.finished, 3 * 3600)
    wall = time.perf_counter() - t0
    busy = mon.stop()
    r = item.outcome.result if item.outcome else None
    log(f"import {item.state} in {wall:.1f} s: {item.detail}")
    win.close()
    return {
        "video": str(video),
        "analyzers": "faces and OCR on" if analyzers else "off",
        "import_runs_in": "a thread of the UI process" if in_thread else "a child process (ui/import_worker.py)",
        "switch_interval_ms": sys.getswitchinterval() * 1000,
        "video_bytes": video.stat().st_size,
        "import_state": item.state if ok else "timeout",
        "import_detail": item.detail,
        "import_wall_s": round(wall, 2),
        "load_average_before_after": [load_before, [round(x, 2) for x in os.getloadavg()]],
        "cpu_pressure_before_after": [psi_before, cpu_pressure()],
        "footage_s": round(r.footage_s, 1) if r else None,
        "frames_embedded": r.frames_embedded if r else None,
        "idle": idle,
        "importing": busy,
        "stall_ratio_vs_idle": round(busy["max_gap_ms"] / idle["max_gap_ms"], 2),
        "gaps_over_50ms_while_importing": mon.long_gaps[:50],
        # after the first 5 s the models are loaded (their C++ set-up holds the GIL): steady state
        "max_gap_after_first_5s_ms": max([g for t, g, _ in mon.long_gaps if t > 5.0], default=50.0),
        "peak_rss_mb": _hwm_mb(),
    }


# ------------------------------------------------------------------ child: memory
def build_month(data: Path, days: int, eps_per_day: int = 91, per_ep: int = 30, n_real: int = 400) -> dict[str, Any]:
    """Write ``days`` days of memories ending the day before MONTH_END (see the module doc)."""
    import numpy as np
    import pyarrow as pa
    from PIL import Image

    sys.path.append(str(REPO / "bench"))
    import query as qb  # bench/query.py: jittered variants of the real sample photos

    from lifelog.api import Memory
    from lifelog.store.db import EPISODE_SCHEMA, FRAME_SCHEMA, SEMANTIC_DIM

    t0 = time.perf_counter()
    imgs = qb.jittered_images(n_real, seed=7)
    sem_real, labels_real, scores_real, model = _encode(imgs)
    thumbs = []
    for a in imgs:
        buf = BytesIO()
        Image.fromarray(a).resize((160, 120)).save(buf, format="JPEG", quality=70)
        thumbs.append(buf.getvalue())
    mem = Memory(data)
    store, vault = mem.store, mem.vault
    rng = np.random.default_rng(3)
    first_day = (MONTH_END - timedelta(days=days)).date()
    n_eps = 0
    for d in range(days):
        day0 = datetime.combine(first_day + timedelta(days=d), datetime.min.time(), tzinfo=UTC)
        mid = f"{d:032x}"  # one "file" per day
        src = rng.integers(0, len(imgs), size=eps_per_day)
        ep_start = [day0 + timedelta(hours=7, minutes=int(k * (16 * 60) // eps_per_day)) for k in range(eps_per_day)]
        ep_ids = [f"{mid}-{k:04d}" for k in range(eps_per_day)]
        nf = eps_per_day * per_ep
        src_f = np.repeat(src, per_ep)
        vec = sem_real[src_f] + rng.normal(0, 0.03, (nf, SEMANTIC_DIM)).astype(np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        fids = [f"{mid}-{k * per_ep + j:05d}" for k in range(eps_per_day) for j in range(per_ep)]
        thumb_ids: list[list[str]] = []
        frame_thumb: list[str | None] = [None] * nf
        for k in range(eps_per_day):
            picks = [k * per_ep, k * per_ep + per_ep // 2, k * per_ep + per_ep - 1]
            thumb_ids.append([fids[i] for i in picks])
            for i in picks:
                vault.put(fids[i], thumbs[int(src_f[i])])
                frame_thumb[i] = fids[i]
        frames = pa.table(
            {
                "id": pa.array(fids),
                "episode_id": pa.array([e for e in ep_ids for _ in range(per_ep)]),
                "media_id": pa.array([mid] * nf),
                "t": pa.array([s + timedelta(seconds=2 * j) for s in ep_start for j in range(per_ep)],
                              type=pa.timestamp("us", tz="UTC")),
                "offset_s": pa.array([float(2 * j) for _ in ep_ids for j in range(per_ep)]),
                "tz_offset_min": pa.array([0] * nf, type=pa.int32()),
                "semantic": pa.FixedSizeListArray.from_arrays(pa.array(vec.ravel()), SEMANTIC_DIM),
                "features": pa.nulls(nf, FRAME_SCHEMA.field("features").type),
                "labels": pa.array([labels_real[i] for i in src_f], type=pa.list_(pa.string())),
                "label_scores": pa.array([scores_real[i] for i in src_f], type=pa.list_(pa.float32())),
                "thumb_id": pa.array(frame_thumb, type=pa.string()),
                "model": pa.array([model] * nf),
            },
            schema=FRAME_SCHEMA,
        )
        store.table("frames").add(frames)
        summaries = [vault.encrypt_text("Video: " + ", ".join(labels_real[int(s)][:3]), f"summary:{e}")
                     for s, e in zip(src, ep_ids, strict=True)]
        episodes = pa.table(
            {
                "id": pa.array(ep_ids),
                "media_id": pa.array([mid] * eps_per_day),
                "kind": pa.array(["video"] * eps_per_day),
                "start": pa.array(ep_start, type=pa.timestamp("us", tz="UTC")),
                "end": pa.array([s + timedelta(seconds=2 * per_ep) for s in ep_start],
                                type=pa.timestamp("us", tz="UTC")),
                "tz_offset_min": pa.array([0] * eps_per_day, type=pa.int32()),
                "n_frames": pa.array([per_ep] * eps_per_day, type=pa.int32()),
                "thumb_ids": pa.array(thumb_ids, type=pa.list_(pa.string())),
                "labels": pa.array([labels_real[int(i)][:8] for i in src], type=pa.list_(pa.string())),
                "label_scores": pa.array([scores_real[int(i)][:8] for i in src], type=pa.list_(pa.float32())),
                "summary_enc": pa.array(summaries, type=pa.binary()),
                "semantic": pa.FixedSizeListArray.from_arrays(pa.array(sem_real[src].ravel()), SEMANTIC_DIM),
                "model": pa.array([model] * eps_per_day),
            },
            schema=EPISODE_SCHEMA,
        )
        store.table("episodes").add(episodes)
        n_eps += eps_per_day
    store.table("frames").optimize()
    store.ensure_indexes()
    return {"days": days, "episodes": n_eps, "frames": n_eps * per_ep, "build_s": round(time.perf_counter() - t0, 1),
            "first_day": first_day.isoformat()}


def _encode(imgs: list[Any]) -> tuple[Any, list[list[str]], list[list[float]], str]:
    import numpy as np

    from lifelog.encoders import get_visual_encoder

    enc = get_visual_encoder()
    sem, labels, scores = [], [], []
    for i in range(0, len(imgs), 32):
        b = enc.encode(imgs[i : i + 32])
        sem.append(b.semantic)
        labels += [[lab for lab, _ in ls] for ls in b.labels]
        scores += [[float(p) for _, p in ls] for ls in b.labels]
    return np.concatenate(sem).astype(np.float32), labels, scores, f"{enc.name}@{enc.version}"


def child_memory(store_dir: Path, days: int) -> dict[str, Any]:
    built: dict[str, Any] = {}
    ready = store_dir / ".built.json"
    if ready.is_file():
        built = json.loads(ready.read_text())
        log(f"reusing the month store {store_dir}")
    else:
        import shutil

        shutil.rmtree(store_dir, ignore_errors=True)
        log(f"building {days} days of memories in {store_dir} (cached for the next run)")
        built = build_month(store_dir, days)
        ready.write_text(json.dumps(built))
        log(f"built {built['episodes']:,} episodes, {built['frames']:,} frames in {built['build_s']} s")
        return {"built": built, "note": "built in this process; run again to measure RSS in a fresh one"}
    from ui.qt import QApplication

    app = QApplication.instance() or QApplication([])
    from lifelog.api import Memory
    from ui.app import MainWindow

    rss_before = _rss_mb()
    win = MainWindow(Memory(store_dir), now=MONTH_END + timedelta(hours=8))
    win.show()
    t0 = time.perf_counter()
    # the timeline loads its day list, then the latest day's episodes and their thumbnails
    _spin_until(app, lambda: not win.tasks.busy(), 120)
    _spin(app, 0.5)
    _spin_until(app, lambda: not win.tasks.busy(), 120)
    load_s = time.perf_counter() - t0
    timeline: Any = win.page("timeline")
    shown = len(timeline.episode_ids()) if hasattr(timeline, "episode_ids") else None
    _spin(app, 2.0)
    rss_idle = _rss_mb()
    win.close()
    return {
        "built": built,
        "rss_before_window_mb": round(rss_before, 1),
        "rss_idle_mb": round(rss_idle, 1),
        "window_adds_mb": round(rss_idle - rss_before, 1),
        "timeline_load_s": round(load_s, 2),
        "episodes_shown": shown,
        "peak_rss_mb": _hwm_mb(),
    }


# ------------------------------------------------------------------ parent
def run_child(args: list[str]) -> dict[str, Any]:
    env = dict(os.environ)
    env.setdefault("LIFELOG_PASSPHRASE", PASSPHRASE)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
    proc = subprocess.run([sys.executable, __file__, "--child", *args], env=env, cwd=REPO,
                          stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed with exit code {proc.returncode}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="2-minute video, 7 days of memories")
    ap.add_argument("--minutes", type=float, default=None, help="length of the long video (30 or 2: cached)")
    ap.add_argument("--days", type=int, default=None, help="days of memories for the RSS measure (30)")
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=1, help="run the stall pair this many times, interleaved")
    ap.add_argument("--only", choices=["stall", "memory"], default=None)
    ap.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child is not None:
        kind = a.child[0]
        if kind == "stall":
            with tempfile.TemporaryDirectory(prefix="lifelog-ui-bench-") as tmp:
                doc = child_stall(Path(a.child[1]), float(a.child[2]), Path(tmp), a.child[3] == "all",
                                  float(a.child[4]) / 1000 if a.child[4] != "app" else None,
                                  in_thread=a.child[5] == "thread")
        else:
            doc = child_memory(Path(a.child[1]), int(a.child[2]))
        print(json.dumps(doc), flush=True)
        sys.stderr.flush()
        # Skip interpreter finalization: a C extension's refcount bug can abort it at exit
        # ("none_dealloc") after the figures are out, which would throw them away.
        os._exit(0)

    from lifelog import paths

    minutes = a.minutes if a.minutes is not None else (2.0 if a.quick else 30.0)
    days = a.days if a.days is not None else (7 if a.quick else 30)
    cache = paths.cache_dir() / "bench"
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "targets": {"longest_stall_ms": 100, "idle_rss_mb": 500},
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    if a.only in (None, "stall"):
        video = cache / f"long-{minutes:g}min-1920x1080-30fps-gop2-v1.mp4"
        if not video.is_file():
            raise SystemExit(f"{video} is missing: make it with `.venv/bin/python bench/ingest.py "
                             f"--minutes {minutes:g} --only long` first")
        runs = [
            ("stall", "all", "app", "child", "the app as shipped: import in a child process, faces and OCR on"),
            ("stall_in_thread", "all", "app", "thread",
             "for comparison: the same import in a thread of the UI process"),
        ]
        if a.repeat > 1:  # interleaved, so that load from other processes hits both designs alike
            runs += [(f"{k}_run{i}", m, sw, w, f"{t} (run {i})") for i in range(2, a.repeat + 1)
                     for k, m, sw, w, t in runs[:2]]
        for key, mode, switch, where, title in runs:
            s = run_child(["stall", str(video), str(a.idle_seconds), mode, switch, where])
            results[key] = s
            i, b = s["idle"], s["importing"]
            print(f"\nUI event loop, 10 ms timer, {title} ({s['import_state']} import of {minutes:g} min 1080p "
                  f"in {s['import_wall_s']:.1f} s):")
            print(f"  {'':12} {'ticks':>7} {'max gap':>9} {'p99':>8} {'p50':>8} {'>50ms':>6} {'>100ms':>7}")
            for name, m in (("idle", i), ("importing", b)):
                print(f"  {name:12} {m['ticks']:7.0f} {m['max_gap_ms']:7.1f}ms {m['p99_gap_ms']:6.1f}ms "
                      f"{m['p50_gap_ms']:6.1f}ms {m['gaps_over_50ms']:6.0f} {m['gaps_over_100ms']:7.0f}")
            print(f"  longest stall while importing: {b['longest_stall_ms']:.1f} ms (target < 100 ms); "
                  f"max gap {s['stall_ratio_vs_idle']:.2f}× idle; after the first 5 s (models loaded) "
                  f"max gap ≤ {s['max_gap_after_first_5s_ms']:.0f} ms")
    if a.only in (None, "memory"):
        store = cache / f"ui-month-{days}d"
        m = run_child(["memory", str(store), str(days)])
        if "rss_idle_mb" not in m:
            m = run_child(["memory", str(store), str(days)])
        results["memory"] = m
        bt = m["built"]
        print(f"\nApp memory at idle, Timeline open on {bt['days']} days ({bt['episodes']:,} episodes, "
              f"{bt['frames']:,} frames):")
        print(f"  RSS before the window {m['rss_before_window_mb']:.0f} MB, at idle {m['rss_idle_mb']:.0f} MB "
              f"(target < 500 MB); the window adds {m['window_adds_mb']:.0f} MB; "
              f"timeline loaded in {m['timeline_load_s']:.1f} s showing {m['episodes_shown']} episodes")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    if a.only and RESULTS.is_file():  # keep the other part's figures from an earlier run
        old = json.loads(RESULTS.read_text())
        results = {**{k: v for k, v in old.items() if not k.startswith(a.only)}, **results}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
