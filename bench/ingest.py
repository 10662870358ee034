"""Import benchmark: lifelog's keyframe import against a naive decode-everything baseline.

Usage::

    .venv/bin/python bench/ingest.py                # composed sample days + a 30-minute 1080p video
    .venv/bin/python bench/ingest.py --quick        # the same with a 2-minute video (smoke run)
    .venv/bin/python bench/ingest.py --minutes 10 --only long --profile
    .venv/bin/python bench/ingest.py --targets      # issue 21: the decode ceiling and short clips

``--targets`` measures, in alternating rounds in one run: the **keyframe-only decode ceiling**
(``lifelog.ingest.decode.sample_video`` over a 10-minute 1080p30 H.264 video with a keyframe
every second, nothing else), the **full default import** of that file through the command
(``lifelog import``: faces, OCR, speech), and the full import of the **same content as 10 s
clips** (cut at keyframes, no re-encoding; cached beside the video). It prints each speed (×
real time), the ratios (import / ceiling, clips / one file) and each child's peak RSS, and
writes ``bench/results/ingest-targets.json``.

Two inputs are measured:

* **days**: the composed sample days (``compose_days`` into ``<cache>/bench/days``), every file
  imported into a fresh data dir;
* **long**: one long 1080p30 H.264 video (``make_long_video``, cached as
  ``<cache>/bench/long-<M>min-1920x1080-30fps-gop2-v<N>.mp4``; the 30-minute one takes about
  7 minutes to make the first time), imported into a fresh data dir.

Each input goes through two pipelines, each in its own child process (so that peak memory is
that pipeline's alone):

* **lifelog**: ``lifelog.api.Memory(data_dir).import_paths(files)``;
* **baseline**: OpenCV ``cv2.VideoCapture`` decodes every frame; one frame per second of
  footage (full size, RGB) goes through the same ``VisualEncoder.encode``; no dedup, no store.

The child reports its own figures as one JSON line on stdout. The table is printed and all
figures, with machine info, go to ``bench/results/ingest.json``. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "ingest.json"
DEFAULT_PASSPHRASE = "lifelog benchmark passphrase"
LONG_SIZE = (1920, 1080)
LONG_FPS = 30
LONG_GOP_S = 2.0
QUICK_MINUTES = 2.0
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi"}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
BASELINE_BATCH = 16
PROGRESS_EVERY_S = 10.0


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# =============================================================================== child side
def vm_hwm_kib() -> int | None:
    """Peak resident set of this process's address space (``VmHWM``), in KiB.

    Preferred over ``ru_maxrss``: on Linux ``ru_maxrss`` of an exec'd child can carry over the
    parent's resident size at fork time, while ``VmHWM`` belongs to the new program alone.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def dir_bytes(root: Path) -> dict[str, int]:
    """Apparent size of a data dir: ``db`` (LanceDB), ``vault`` (encrypted blobs), ``other``."""
    out = {"db": 0, "vault": 0, "other": 0}
    for dirpath, _dirs, files in os.walk(root):
        rel = Path(dirpath).relative_to(root).parts
        key = rel[0] if rel and rel[0] in ("db", "vault") else "other"
        for f in files:
            with contextlib.suppress(OSError):
                out[key] += (Path(dirpath) / f).stat().st_size
    out["total"] = out["db"] + out["vault"] + out["other"]
    return out


class _Ticker:
    """Prints a progress line at most every ``every`` seconds."""

    def __init__(self, label: str, every: float = PROGRESS_EVERY_S) -> None:
        self.label = label
        self.every = every
        self.t0 = time.monotonic()
        self.last = self.t0

    def __call__(self, text: Callable[[], str], force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= self.every:
            self.last = now
            log(f"{self.label}: {text()} ({now - self.t0:.0f} s)")


def child_lifelog(
    data_dir: Path, inputs: list[Path], profile_out: Path | None, visual_only: bool = False
) -> dict[str, Any]:
    t_mod = time.perf_counter()
    from lifelog.api import Memory

    if visual_only:  # the visual path alone: no faces, no OCR (settings a user can choose too)
        from lifelog.config import CaptureSettings, Settings, save_settings

        data_dir.mkdir(parents=True, exist_ok=True)
        save_settings(data_dir, Settings(capture=CaptureSettings(faces=False, ocr_interval_s=0.0)))
    from lifelog.ingest.pipeline import ImportProgress

    modules_s = time.perf_counter() - t_mod
    tick = _Ticker("lifelog")

    def progress(p: ImportProgress) -> None:
        tick(lambda: f"file {min(p.files_done + 1, p.files_total)}/{p.files_total} {p.stage} {p.fraction:.0%}")

    profiler = _ThreadProfiles() if profile_out is not None else None
    if profiler is not None:
        profiler.start()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    mem = Memory(data_dir, passphrase=os.environ.get("LIFELOG_PASSPHRASE") or DEFAULT_PASSPHRASE)
    open_s = time.perf_counter() - t0
    result = mem.import_paths(inputs, progress=progress)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    if profiler is not None and profile_out is not None:
        profiler.stop(profile_out)
    tick(lambda: f"done, {result.imported} imported", force=True)
    counts = mem.stats()
    size = dir_bytes(data_dir)
    with warnings.catch_warnings():  # "removes every version": intended, nobody else uses this dir
        warnings.simplefilter("ignore")
        mem.store.compact()
    size_compacted = dir_bytes(data_dir)
    return {
        "pipeline": "lifelog",
        "wall_s": wall,
        "open_s": open_s,
        "modules_import_s": modules_s,
        "cpu_s": cpu,
        "footage_s_reported": result.footage_s,
        "frames_decoded": result.frames_decoded,
        "frames_embedded": result.frames_embedded,
        "imported": result.imported,
        "skipped": result.skipped,
        "failed": [{"path": f.path, "error": f.error} for f in result.failed],
        "warnings": [{"path": w.path, "warning": w.error} for w in result.warnings],
        "episodes": len(result.episodes),
        "rows": counts,
        "store_bytes": size,
        "store_bytes_compacted": size_compacted,
        "peak_rss_kib_self": vm_hwm_kib(),
        "ru_maxrss_kib_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


class _ThreadProfiles:
    """cProfile on the main thread and on every Python thread started while it runs.

    The import decodes on a worker thread; a plain ``cProfile.Profile`` would see only the main
    thread waiting for frames. Stats go to ``<out>`` (main) and ``<out>.threads`` (the others).
    """

    def __init__(self) -> None:
        import cProfile

        self._new = cProfile.Profile
        self.main = cProfile.Profile()
        self.others: list[Any] = []
        self._lock = threading.Lock()

    def _hook(self, frame: Any, event: str, arg: Any) -> None:
        prof = self._new()
        with self._lock:
            self.others.append(prof)
        prof.enable()  # replaces this hook in the new thread

    def start(self) -> None:
        threading.setprofile(self._hook)
        self.main.enable()

    def stop(self, out: Path) -> None:
        import pstats

        self.main.disable()
        threading.setprofile(None)
        self.main.dump_stats(str(out))
        with self._lock:
            others = list(self.others)
        for prof in others:
            prof.create_stats()
        merged = [p for p in others if getattr(p, "stats", None)]
        if merged:
            pstats.Stats(*merged).dump_stats(str(out) + ".threads")


def child_baseline(inputs: list[Path]) -> dict[str, Any]:
    t_mod = time.perf_counter()
    import cv2

    from lifelog.encoders.visual import VisualEncoder

    modules_s = time.perf_counter() - t_mod
    tick = _Ticker("baseline")
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    encoder = VisualEncoder()
    decoded = 0
    embedded = 0
    footage = 0.0
    pending: list[Any] = []

    def flush() -> None:
        nonlocal embedded
        if pending:
            encoder.encode(pending)
            embedded += len(pending)
            pending.clear()

    for i, path in enumerate(inputs):
        if path.suffix.lower() in PHOTO_SUFFIXES:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is not None:
                decoded += 1
                pending.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            continue
        cap = cv2.VideoCapture(str(path))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        n = 0
        next_t = 0.0
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                t = n / fps
                n += 1
                if t >= next_t:  # one frame per second of footage
                    next_t += 1.0
                    pending.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                    if len(pending) >= BASELINE_BATCH:
                        flush()
                tick(lambda i=i, n=n: f"file {i + 1}/{len(inputs)} frame {n}, {embedded} embedded")
        finally:
            cap.release()
        decoded += n
        footage += n / fps
        flush()
    flush()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    tick(lambda: f"done, {decoded} decoded, {embedded} embedded", force=True)
    return {
        "pipeline": "baseline",
        "wall_s": wall,
        "modules_import_s": modules_s,
        "cpu_s": cpu,
        "footage_s_reported": footage,
        "frames_decoded": decoded,
        "frames_embedded": embedded,
        "peak_rss_kib_self": vm_hwm_kib(),
        "ru_maxrss_kib_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "opencv": cv2.__version__,
    }


@contextlib.contextmanager
def _count_frames(total: int) -> Iterator[None]:
    """Print progress of ``make_long_video`` by counting frames at its (private) clip writer.

    Benchmark-only instrumentation; if the writer is renamed, only the frame count is lost.
    """
    from lifelog.sample import compose

    cls = getattr(compose, "_ClipWriter", None)
    orig = getattr(cls, "write", None)
    count = [0]
    done = threading.Event()
    if cls is not None and orig is not None:

        def write(self: Any, frame: Any) -> None:
            orig(self, frame)
            count[0] += 1

        cls.write = write

    def report() -> None:
        t0 = time.monotonic()
        while not done.wait(15.0):
            el = time.monotonic() - t0
            n = count[0]
            if n:
                left = el * (total - n) / n
                log(f"making long video: {n}/{total} frames ({n / total:.0%}), {el:.0f} s, ~{left / 60:.1f} min left")
            else:
                log(f"making long video: {el:.0f} s")

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        if cls is not None and orig is not None:
            cls.write = orig


def child_make_long(out: Path, minutes: float, gop: float = LONG_GOP_S) -> dict[str, Any]:
    from lifelog.sample.compose import make_long_video

    t0 = time.perf_counter()
    with _count_frames(round(minutes * 60 * LONG_FPS)):
        make_long_video(out, minutes=minutes, size=LONG_SIZE, fps=LONG_FPS, gop_seconds=gop)
    return {"seconds": time.perf_counter() - t0, "bytes": out.stat().st_size}


def child_ceiling(inputs: list[Path]) -> dict[str, Any]:
    """The decode ceiling: every file's keyframes decoded as the import samples them, nothing else."""
    from lifelog.config import CaptureSettings
    from lifelog.ingest.decode import sample_video

    cap = CaptureSettings()
    t0 = time.perf_counter()
    frames = 0
    for f in inputs:
        for _ in sample_video(f, min_interval=cap.sample_interval_s, max_interval=cap.max_gap_s):
            frames += 1
    return {"pipeline": "ceiling", "wall_s": time.perf_counter() - t0, "frames": frames,
            "peak_rss_kib_self": vm_hwm_kib()}


def child_cli(data_dir: Path, inputs: list[Path]) -> dict[str, Any]:
    """``lifelog import FILES --json`` in this process (the command's own code path, speech
    included); the wall time of the command, models loading included."""
    import io

    from lifelog.commands.main import main as lifelog_main

    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = lifelog_main(["--data-dir", str(data_dir), "import", *map(str, inputs), "--json"],
                            handoff_tried=True)
    wall = time.perf_counter() - t0
    try:
        doc = json.loads(out.getvalue())
    except ValueError:
        doc = {}
    return {"pipeline": "cli", "wall_s": wall, "exit_code": code, "imported": doc.get("imported"),
            "failed": doc.get("failed"), "frames_decoded": doc.get("frames_decoded"),
            "frames_embedded": doc.get("frames_embedded"), "footage_s_reported": doc.get("footage_seconds"),
            "stage_seconds": doc.get("stage_seconds"), "store_bytes": dir_bytes(data_dir),
            "peak_rss_kib_self": vm_hwm_kib()}


def child_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bench/ingest.py --child")
    p.add_argument("kind", choices=["lifelog", "baseline", "make-long", "ceiling", "cli"])
    p.add_argument("--data", type=Path)
    p.add_argument("--inputs", type=Path, help="a JSON list of file paths")
    p.add_argument("--profile-out", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--minutes", type=float)
    p.add_argument("--visual-only", action="store_true")
    p.add_argument("--gop", type=float, default=LONG_GOP_S)
    a = p.parse_args(argv)
    if a.kind == "make-long":
        figures = child_make_long(a.out, a.minutes, a.gop)
    elif a.kind == "ceiling":
        figures = child_ceiling([Path(x) for x in json.loads(a.inputs.read_text())])
    elif a.kind == "cli":
        figures = child_cli(a.data, [Path(x) for x in json.loads(a.inputs.read_text())])
    elif a.kind == "lifelog":
        figures = child_lifelog(a.data, [Path(x) for x in json.loads(a.inputs.read_text())], a.profile_out,
                                a.visual_only)
    else:
        figures = child_baseline([Path(x) for x in json.loads(a.inputs.read_text())])
    print(json.dumps(figures), flush=True)
    return 0


# ============================================================================== parent side
def run_child(args: list[str], env: dict[str, str], tree: Path | None = None) -> dict[str, Any]:
    """Run this script as a child; return its JSON plus wall time and rusage seen from here.

    ``tree``: run that checkout's copy of this script and its ``lifelog`` instead (a baseline,
    e.g. ``git archive HEAD | tar -x -C /tmp/base``); the models dir stays this checkout's."""
    t0 = time.perf_counter()
    root = REPO if tree is None else tree.resolve()
    if tree is not None:
        env = {**env, "PYTHONPATH": str(root), "LIFELOG_MODELS_DIR": env.get("LIFELOG_MODELS_DIR")
               or str(REPO / "models" / "build")}
    proc = subprocess.Popen(
        [sys.executable, str(root / "bench" / "ingest.py"), "--child", *args],
        stdout=subprocess.PIPE,
        env=env,
        cwd=root,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed with exit code {proc.returncode}")
    lines = [ln for ln in out.decode().splitlines() if ln.strip().startswith("{")]
    if not lines:
        raise RuntimeError(f"child {args[0]} printed no JSON")
    figures: dict[str, Any] = json.loads(lines[-1])
    figures["process_wall_s"] = wall
    figures["ru_maxrss_kib"] = ru.ru_maxrss
    figures["ru_cpu_s"] = ru.ru_utime + ru.ru_stime
    return figures


def child_env(data_dir: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["LIFELOG_PASSPHRASE"] = env.get("LIFELOG_PASSPHRASE") or DEFAULT_PASSPHRASE
    env["PYTHONUNBUFFERED"] = "1"
    if data_dir is not None:
        env["LIFELOG_HOME"] = str(data_dir)
    return env


def _version(*names: str) -> str | None:
    for n in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(n)
    return None


def machine_info() -> dict[str, Any]:
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_total = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    commit = dirty = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        )
    import av

    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "memory_bytes": mem_total,
        "load_avg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": _version("onnxruntime"),
        "av": _version("av"),
        "ffmpeg_libavcodec": ".".join(str(x) for x in av.library_versions.get("libavcodec", ())),
        "opencv": _version(
            "opencv-contrib-python", "opencv-python", "opencv-contrib-python-headless", "opencv-python-headless"
        ),
        "numpy": _version("numpy"),
        "lancedb": _version("lancedb"),
        "pyarrow": _version("pyarrow"),
        "lifelog": _version("lifelog"),
        "git_commit": commit,
        "git_dirty": dirty,
    }


def footage_seconds(files: list[Path]) -> tuple[float, int, int]:
    """(seconds of video, number of videos, number of photos) as the container headers say."""
    from lifelog.ingest.decode import probe_video

    secs = 0.0
    videos = photos = 0
    for f in files:
        if f.suffix.lower() in VIDEO_SUFFIXES:
            secs += probe_video(f).duration_s
            videos += 1
        elif f.suffix.lower() in PHOTO_SUFFIXES:
            photos += 1
    return secs, videos, photos


def warm(files: list[Path]) -> int:
    """Read the inputs once so both pipelines start with them in the page cache."""
    total = 0
    for f in files:
        with f.open("rb") as fh:
            while chunk := fh.read(8 << 20):
                total += len(chunk)
    return total


def prepare_days(cache: Path) -> tuple[list[Path], dict[str, Any]]:
    import logging

    from lifelog.sample.compose import compose_days

    out = cache / "bench" / "days"
    logging.basicConfig(level=logging.INFO, format="[compose] %(message)s")
    t0 = time.perf_counter()
    log(f"composing the sample days into {out} (cached after the first run)")
    truth = compose_days(out)
    compose_s = time.perf_counter() - t0
    files = sorted(
        p for d in truth.days for p in (out / d).iterdir() if p.suffix.lower() in VIDEO_SUFFIXES | PHOTO_SUFFIXES
    )
    return files, {"dir": str(out), "compose_s": compose_s, "skipped_scenes": list(truth.skipped)}


def prepare_long(cache: Path, minutes: float, gop: float = LONG_GOP_S) -> tuple[list[Path], dict[str, Any]]:
    from lifelog.sample.compose import COMPOSER_VERSION

    w, h = LONG_SIZE
    path = cache / "bench" / f"long-{minutes:g}min-{w}x{h}-{LONG_FPS}fps-gop{gop:g}-v{COMPOSER_VERSION}.mp4"
    info: dict[str, Any] = {"path": str(path), "made_now": False}
    if path.is_file():
        log(f"reusing {path}")
    else:
        log(
            f"making {path}: {minutes:g} min of {w}x{h}@{LONG_FPS} H.264 "
            f"(about {minutes / 4:.1f} min at 4× real time on 2 cores; cached for the next run)"
        )
        part = path.with_name(path.name + ".part.mp4")  # a killed run leaves no half video under the name
        made = run_child(["make-long", "--out", str(part), "--minutes", str(minutes), "--gop", str(gop)], child_env())
        part.rename(path)
        info.update(made_now=True, make_s=made["seconds"])
        log(f"made {path.name} in {made['seconds']:.0f} s ({made['bytes'] / 1e6:.0f} MB)")
    info["bytes"] = path.stat().st_size
    return [path], info


def measure(name: str, files: list[Path], work: Path, keep: bool, profile: bool) -> dict[str, Any]:
    footage, videos, photos = footage_seconds(files)
    log(f"{name}: {videos} videos, {photos} photos, {footage:.0f} s of footage")
    warmed = warm(files)
    inputs = work / f"{name}-inputs.json"
    inputs.write_text(json.dumps([str(f) for f in files]))
    entry: dict[str, Any] = {
        "files": len(files),
        "videos": videos,
        "photos": photos,
        "input_bytes": warmed,
        "footage_s": footage,
    }

    data = work / f"{name}-lifelog-data"
    log(f"{name}: lifelog import into {data}")
    lf = run_child(["lifelog", "--data", str(data), "--inputs", str(inputs)], child_env(data))
    if lf["failed"]:
        log(f"{name}: lifelog FAILED on {len(lf['failed'])} file(s): {lf['failed'][:3]}")
    if not keep:
        shutil.rmtree(data, ignore_errors=True)

    vdata = work / f"{name}-lifelog-visual-data"
    log(f"{name}: lifelog import, visual path only (no faces, no OCR) into {vdata}")
    lv = run_child(["lifelog", "--data", str(vdata), "--inputs", str(inputs), "--visual-only"], child_env(vdata))
    if not keep:
        shutil.rmtree(vdata, ignore_errors=True)

    log(f"{name}: naive baseline (OpenCV decodes every frame, 1 frame/s embedded)")
    bl = run_child(["baseline", "--inputs", str(inputs)], child_env(work / "unused-data"))

    for fig in (lf, lv, bl):
        fig["footage_s"] = footage
        fig["x_realtime"] = footage / fig["wall_s"] if fig["wall_s"] > 0 else None
        peak = fig.get("peak_rss_kib_self") or fig["ru_maxrss_kib"]
        fig["peak_rss_bytes"] = peak * 1024
    hours = footage / 3600.0
    if hours > 0:
        for fig in (lf, lv):
            fig["store_bytes_per_hour"] = fig["store_bytes"]["total"] / hours
            fig["store_bytes_per_hour_compacted"] = fig["store_bytes_compacted"]["total"] / hours
    entry["lifelog"] = lf
    entry["lifelog_visual"] = lv
    entry["ratio_visual_over_baseline"] = {
        k: (lv[k] / bl[k] if bl.get(k) else None)
        for k in ("wall_s", "x_realtime", "frames_decoded", "frames_embedded", "peak_rss_bytes", "cpu_s")
    }
    entry["baseline"] = bl
    entry["ratio_lifelog_over_baseline"] = {
        k: (lf[k] / bl[k] if bl.get(k) else None)
        for k in ("wall_s", "x_realtime", "frames_decoded", "frames_embedded", "peak_rss_bytes", "cpu_s")
    }

    if profile:
        data = work / f"{name}-profile-data"
        stats_path = work / f"{name}.pstats"
        log(f"{name}: lifelog import again under cProfile (not part of the figures above)")
        pr = run_child(
            ["lifelog", "--data", str(data), "--inputs", str(inputs), "--profile-out", str(stats_path)],
            child_env(data),
        )
        entry["profile"] = summarise_profile(stats_path, pr["wall_s"])
        shutil.rmtree(data, ignore_errors=True)
    return entry


# ------------------------------------------------------------------------------- profile
# (module suffix, function name) -> stage. Cumulative times; nested stages are subtracted below.
_STAGES: list[tuple[str, str, str]] = [
    ("open store+vault", "lifelog/api.py", "__init__"),
    ("hash file", "lifelog/ingest/media.py", "content_hash"),
    ("probe", "lifelog/ingest/decode.py", "probe_video"),
    ("decode (libavcodec)", "lifelog/ingest/decode.py", "_decode_now"),
    ("scale+rgb (swscale)", "lifelog/ingest/decode.py", "frame_to_rgb"),
    ("near-dup filter", "lifelog/ingest/episodes.py", "keep"),
    ("encode: preprocess", "lifelog/encoders/visual.py", "preprocess"),
    ("encode: onnx run", "onnxruntime/capi/onnxruntime_inference_collection.py", "run"),
    ("encode: session load", "lifelog/encoders/base.py", "ort_session"),
    ("encode (all)", "lifelog/encoders/visual.py", "encode"),
    ("thumbnails (JPEG)", "lifelog/ingest/pipeline.py", "_thumbnail"),
    ("cut episodes", "lifelog/ingest/episodes.py", "cut_episodes"),
    ("vault put (encrypt+write)", "lifelog/store/vault.py", "put"),
    ("store add (LanceDB)", "lifelog/store/db.py", "add"),
    ("sample_video (demux + loop)", "lifelog/ingest/decode.py", "sample_video"),
    ("frame analyzers", "lifelog/ingest/pipeline.py", "analyze"),
    ("wait for decoded frames", "lifelog/ingest/pipeline.py", "__next__"),
]


def _stage_times(raw: dict[tuple[str, int, str], Any]) -> dict[str, float]:
    cum: dict[str, float] = {}
    for (file, _line, func), (_cc, _nc, _tt, ct, _callers) in raw.items():
        for stage, suffix, fname in _STAGES:
            if func == fname and file.replace("\\", "/").endswith(suffix):
                cum[stage] = cum.get(stage, 0.0) + ct
    # sample_video's cumulative time includes decode and swscale (but not the consumer's work,
    # as a generator is only timed while it runs): what is left is demux and the loop itself.
    if "sample_video (demux + loop)" in cum:
        cum["sample_video (demux + loop)"] -= cum.get("decode (libavcodec)", 0.0) + cum.get("scale+rgb (swscale)", 0.0)
    # The read-ahead's __next__ on the main thread is waiting for the decode thread,
    # unless decoding runs inline (then it contains sample_video).
    if "wait for decoded frames" in cum:
        cum["wait for decoded frames"] -= (
            cum.get("sample_video (demux + loop)", 0.0)
            + cum.get("decode (libavcodec)", 0.0)
            + cum.get("scale+rgb (swscale)", 0.0)
        )
    if "encode (all)" in cum:
        cum["encode: other (softmax, ConSE)"] = cum.pop("encode (all)") - sum(
            cum.get(k, 0.0) for k in ("encode: preprocess", "encode: onnx run", "encode: session load")
        )
    return {k: v for k, v in cum.items() if v > 0.0005}


def summarise_profile(stats_path: Path, wall: float) -> dict[str, Any]:
    """Seconds per stage on the main thread and on other threads (they overlap in wall time)."""
    import pstats

    main_raw: dict[tuple[str, int, str], Any] = pstats.Stats(str(stats_path)).stats  # type: ignore[attr-defined]
    threads_path = Path(str(stats_path) + ".threads")
    other_raw: dict[tuple[str, int, str], Any] = (
        pstats.Stats(str(threads_path)).stats if threads_path.is_file() else {}  # type: ignore[attr-defined]
    )
    main = _stage_times(main_raw)
    other = _stage_times(other_raw)
    stages = {
        k: {"main_thread_s": round(main.get(k, 0.0), 3), "other_threads_s": round(other.get(k, 0.0), 3)}
        for k in sorted(set(main) | set(other), key=lambda k: -(main.get(k, 0.0) + other.get(k, 0.0)))
    }
    top = sorted([*main_raw.items(), *other_raw.items()], key=lambda kv: -kv[1][2])[:15]
    return {
        "wall_s_under_profile": wall,
        "stages": stages,
        "top_tottime": [
            {"function": f"{Path(f).name}:{line}({fn})", "tottime_s": round(v[2], 3), "calls": v[1]}
            for (f, line, fn), v in top
        ],
    }


# ---------------------------------------------------------------------------------- output
def _mb(b: float | None) -> str:
    return "—" if b is None else f"{b / 1e6:,.0f} MB"


def print_table(results: dict[str, Any]) -> None:
    head = (
        "input",
        "pipeline",
        "footage s",
        "wall s",
        "cpu s",
        "× real time",
        "decoded",
        "embedded",
        "peak RSS",
        "store/hour",
    )
    rows: list[tuple[str, ...]] = [head]
    for name, e in results.items():
        label = {"days": "sample days", "long": f"long {e['footage_s'] / 60:.0f} min 1080p"}.get(name, name)
        for pipe in ("lifelog", "lifelog_visual", "baseline"):
            f = e[pipe]
            rows.append(
                (
                    label if pipe == "lifelog" else "",
                    pipe,
                    f"{f['footage_s']:.0f}",
                    f"{f['wall_s']:.1f}",
                    f"{f['cpu_s']:.1f}",
                    f"{f['x_realtime']:.1f}×" if f["x_realtime"] else "—",
                    f"{f['frames_decoded']:,}",
                    f"{f['frames_embedded']:,}",
                    _mb(f["peak_rss_bytes"]),
                    _mb(f.get("store_bytes_per_hour")),
                )
            )
        for ratio_key, ratio_label in (("ratio_lifelog_over_baseline", "lifelog/baseline"),
                                       ("ratio_visual_over_baseline", "visual/baseline")):
            r = e.get(ratio_key)
            if not r:
                continue

            def rr(k: str, r: dict[str, Any] = r) -> str:
                return "—" if r.get(k) is None else f"{r[k]:.3g}"

            rows.append(
                (
                    "",
                    ratio_label,
                    "",
                    rr("wall_s"),
                    rr("cpu_s"),
                    rr("x_realtime"),
                    rr("frames_decoded"),
                    rr("frames_embedded"),
                    rr("peak_rss_bytes"),
                    "",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for name, e in results.items():
        prof = e.get("profile")
        if prof:
            print(
                f"\nwhere lifelog's import time goes ({name}, cProfile, {prof['wall_s_under_profile']:.1f} s wall "
                "under the profiler):"
            )
            print(f"  {'stage':34s} {'main thread':>12s} {'other threads':>14s}")
            for stage, t in prof["stages"].items():
                print(f"  {stage:34s} {t['main_thread_s']:10.2f} s {t['other_threads_s']:12.2f} s")


def split_clips(src: Path, seconds: float) -> list[Path]:
    """``src`` cut into ``seconds``-long clips at keyframes (remuxed, not re-encoded), each with
    its own ``creation_time``; cached in ``<src stem>-clips<seconds>s/`` beside it."""
    from datetime import timedelta
    from fractions import Fraction

    import av

    from lifelog.ingest.decode import probe_video

    out = src.with_name(f"{src.stem}-clips{seconds:g}s")
    done = out / ".done"
    if done.is_file():
        return sorted(out.glob("clip*.mp4"))
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    info = probe_video(src)
    made: list[Path] = []
    with av.open(str(src)) as c:
        vs = c.streams.video[0]
        tb = vs.time_base or Fraction(1, 90000)
        oc: Any = None
        ost: Any = None
        t0 = 0.0
        pts0 = dts0 = 0
        for pkt in c.demux(vs):
            if pkt.dts is None or pkt.pts is None:
                continue
            t = float(pkt.pts * tb)
            if pkt.is_keyframe and (oc is None or t - t0 >= seconds - 1e-6):
                if oc is not None:
                    oc.close()
                made.append(out / f"clip{len(made):04d}.mp4")
                oc = av.open(str(made[-1]), "w")
                if info.creation_time is not None:
                    when = info.creation_time + timedelta(seconds=t)
                    oc.metadata["creation_time"] = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                ost = oc.add_stream_from_template(vs)
                t0, pts0, dts0 = t, pkt.pts, pkt.dts
            pkt.pts -= pts0
            pkt.dts -= dts0
            pkt.stream = ost
            oc.mux(pkt)
        if oc is not None:
            oc.close()
    done.write_text(str(len(made)))
    return made


def targets(args: argparse.Namespace, cache: Path, work: Path) -> dict[str, Any]:
    """Issue 21's targets: full import vs the decode ceiling, short clips vs one file, peak RSS."""
    files, info = prepare_long(cache, args.minutes, gop=1.0)
    clips = split_clips(files[0], args.clip_s)
    footage, _, _ = footage_seconds(files)
    clip_footage, _, _ = footage_seconds(clips)
    log(f"targets: {footage:.0f} s of 1080p footage in one file and as {len(clips)} clips ({clip_footage:.0f} s)")
    warm(files)
    warm(clips)
    one = work / "long.json"
    one.write_text(json.dumps([str(f) for f in files]))
    many = work / "clips.json"
    many.write_text(json.dumps([str(f) for f in clips]))
    rounds: list[dict[str, Any]] = []
    trees: list[Path] = args.baseline or []
    names = ["baseline"] + [f"baseline{k + 2}" for k in range(len(trees) - 1)]
    runs: list[tuple[str, Path, Path | None]] = [("import", one, None)]
    runs += [(f"{n}-import", one, t) for n, t in zip(names, trees, strict=False)]
    if not args.no_clips:
        runs.append(("clips", many, None))
        runs += [(f"{n}-clips", many, t) for n, t in zip(names, trees, strict=False)]
    for r in range(args.rounds):
        got: dict[str, Any] = {}
        got["ceiling"] = run_child(["ceiling", "--inputs", str(one)], child_env())
        log(f"round {r + 1}: ceiling {got['ceiling']['wall_s']:.1f} s")
        # alternate the order from round to round, so neither tree always runs first
        for name, inputs, tree in (runs if r % 2 == 0 else runs[::-1]):
            data = work / f"{name}-{r}"
            got[name] = run_child(["cli", "--data", str(data), "--inputs", str(inputs)], child_env(data), tree)
            log(f"round {r + 1}: {name} {got[name]['wall_s']:.1f} s ({got[name]['ru_cpu_s']:.1f} s CPU), "
                f"{got[name]['imported']} imported")
            if not args.keep:
                shutil.rmtree(data, ignore_errors=True)
        rounds.append(got)

    def speed(k: str, secs: float) -> list[float]:
        return [secs / g[k]["wall_s"] for g in rounds]

    ceiling, full = speed("ceiling", footage), speed("import", footage)
    summary: dict[str, Any] = {
        "footage_s": footage,
        "clips": len(clips),
        "clip_footage_s": clip_footage,
        "ceiling_x": ceiling,
        "import_x": full,
        "import_over_ceiling": [a / b for a, b in zip(full, ceiling, strict=True)],
        "import_cpu_s": [g["import"]["ru_cpu_s"] for g in rounds],
        "peak_rss_mb": {k: max(g[k]["peak_rss_kib_self"] or 0 for g in rounds) / 1024 for k in rounds[0]},
        "stage_seconds": {k: [g[k].get("stage_seconds") for g in rounds] for k in rounds[0] if k != "ceiling"},
    }
    if "clips" in rounds[0]:
        short = speed("clips", clip_footage)
        summary["clips_x"] = short
        summary["clips_over_one_file"] = [a / b for a, b in zip(short, full, strict=True)]
    if "baseline-import" in rounds[0]:
        base = speed("baseline-import", footage)
        summary["baseline_import_x"] = base
        summary["baseline_import_over_ceiling"] = [a / b for a, b in zip(base, ceiling, strict=True)]
        summary["baseline_import_cpu_s"] = [g["baseline-import"]["ru_cpu_s"] for g in rounds]
        summary["import_over_baseline"] = [a / b for a, b in zip(full, base, strict=True)]
    if "baseline-clips" in rounds[0]:
        summary["baseline_clips_x"] = speed("baseline-clips", clip_footage)
    summary["trees"] = {"baseline" if k == 0 else f"baseline{k + 1}": str(t) for k, t in enumerate(trees)}
    for k in range(2, len(trees) + 1):
        summary[f"baseline{k}_import_x"] = speed(f"baseline{k}-import", footage)
        summary[f"baseline{k}_import_cpu_s"] = [g[f"baseline{k}-import"]["ru_cpu_s"] for g in rounds]
    return {"inputs": info, "rounds": rounds, "summary": summary}


def print_targets(s: dict[str, Any]) -> None:
    def row(name: str, xs: list[float], fmt: str = "{:.1f}×") -> None:
        print(f"  {name:<34} " + "  ".join(fmt.format(x) for x in xs))

    print(f"issue 21 targets, {s['footage_s'] / 60:.0f} min 1080p30 (keyframe every 1 s); one column per round")
    row("keyframe-only decode (ceiling)", s["ceiling_x"])
    row("full import, one file (CLI)", s["import_x"])
    row("  its CPU seconds", s["import_cpu_s"], "{:.1f} s")
    if "baseline_import_x" in s:
        row("baseline tree, one file", s["baseline_import_x"])
        row("  its CPU seconds", s["baseline_import_cpu_s"], "{:.1f} s")
    if "clips_x" in s:
        row(f"full import, {s['clips']} clips of {s['clip_footage_s'] / max(s['clips'], 1):.0f} s", s["clips_x"])
    if "baseline_clips_x" in s:
        row("baseline tree, clips", s["baseline_clips_x"])
    for k in range(2, len(s.get("trees", {})) + 1):
        row(f"baseline {k} ({s['trees'][f'baseline{k}']}), one file", s[f"baseline{k}_import_x"])
        row("  its CPU seconds", s[f"baseline{k}_import_cpu_s"], "{:.1f} s")
    row("import / ceiling  (target ≥ 0.90)", s["import_over_ceiling"], "{:.2f}")
    if "baseline_import_over_ceiling" in s:
        row("baseline import / ceiling", s["baseline_import_over_ceiling"], "{:.2f}")
        row("import / baseline import", s["import_over_baseline"], "{:.2f}")
    if "clips_over_one_file" in s:
        row("clips / one file  (target ≥ 0.80)", s["clips_over_one_file"], "{:.2f}")
    print("  peak RSS (target ≤ 1024 MB): " + ", ".join(f"{k} {v:.0f} MB" for k, v in s["peak_rss_mb"].items()))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return child_main(argv[1:])
    p = argparse.ArgumentParser(prog="bench/ingest.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="length of the long 1080p video (default 30)")
    p.add_argument("--quick", action="store_true", help=f"smoke run: a {QUICK_MINUTES:g}-minute long video")
    p.add_argument("--only", choices=["days", "long"], help="measure one input only")
    p.add_argument(
        "--profile",
        action="store_true",
        help="also profile lifelog's import (cProfile, separate run) and print where the time goes",
    )
    p.add_argument("--keep", action="store_true", help="keep the lifelog data dirs (printed) for inspection")
    p.add_argument("--targets", action="store_true",
                   help="issue 21: decode ceiling vs full import vs short clips (10-minute video unless --minutes)")
    p.add_argument("--rounds", type=int, default=2, help="--targets: alternating rounds (default 2)")
    p.add_argument("--clip-s", type=float, default=10.0, help="--targets: clip length in seconds (default 10)")
    p.add_argument("--baseline", type=Path, metavar="TREE", action="append",
                   help="--targets: also run the imports with another checkout's lifelog (a baseline "
                        "tree, e.g. git archive HEAD | tar -x -C /tmp/base), alternating with this one; "
                        "may be given again for more trees (one file only)")
    p.add_argument("--no-clips", action="store_true", help="--targets: skip the short-clips import")
    p.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS.relative_to(REPO)})")
    args = p.parse_args(argv)
    minutes = QUICK_MINUTES if args.quick else args.minutes

    from lifelog import paths

    if args.targets:
        if "--minutes" not in argv:
            args.minutes = 10.0
        work = Path(tempfile.mkdtemp(prefix="lifelog-bench-targets-"))
        try:
            t_started = datetime.now(UTC)
            got = targets(args, paths.cache_dir(), work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        out = args.out if args.out != RESULTS else RESULTS.with_name("ingest-targets.json")
        doc = {"benchmark": "ingest-targets", "format": 1, "started": t_started.isoformat(),
               "finished": datetime.now(UTC).isoformat(), "machine": machine_info(),
               "load_avg_at_end": list(os.getloadavg()), **got}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
        print()
        print_targets(got["summary"])
        print(f"figures written to {out}")
        return 0

    started = datetime.now(UTC)
    machine = machine_info()
    log(
        f"{machine['cpu_count']} CPUs ({machine['cpu_model']}), python {machine['python']}, "
        f"onnxruntime {machine['onnxruntime']}, av {machine['av']}, opencv {machine['opencv']}"
    )
    cache = paths.cache_dir()
    inputs: dict[str, Any] = {}
    results: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="lifelog-bench-"))
    try:
        if args.only in (None, "days"):
            files, info = prepare_days(cache)
            inputs["days"] = info
            results["days"] = measure("days", files, work, args.keep, args.profile)
        if args.only in (None, "long"):
            files, info = prepare_long(cache, minutes)
            inputs["long"] = info
            results["long"] = measure("long", files, work, args.keep, args.profile)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    finished = datetime.now(UTC)
    doc = {
        "benchmark": "ingest",
        "format": 1,
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "duration_s": (finished - started).total_seconds(),
        "args": {"minutes": minutes, "quick": args.quick, "only": args.only, "profile": args.profile},
        "machine": machine,
        "load_avg_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "inputs": inputs,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print()
    print_table(results)
    la0, la1 = machine["load_avg_at_start"], doc["load_avg_at_end"]
    if la0 and la1:
        busy = max(la0[0], la1[0]) > (machine["cpu_count"] or 1)
        print(
            f"\nload average (1 min) {la0[0]:.1f} at the start, {la1[0]:.1f} at the end, on {machine['cpu_count']} "
            "CPUs" + (": the machine was busy, wall times are inflated" if busy else "")
        )
    print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
