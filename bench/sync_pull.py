"""GoPro-style pull on loopback vs a plain file copy of the same bytes, and resume after a cut.

``run_pull_bench(tmp)`` returns the figures (``bench/sync.py`` imports it); run standalone::

    .venv/bin/python bench/sync_pull.py [--mb 256] [--repeat 3] [--out bench/results/sync_pull.json]

What is measured, in the same run on the same file (real video bytes: the sample videos repeated
to ``--mb`` MiB; transport does not decode, so only the byte count matters):

* **copy**: ``shutil.copyfile`` of the file then ``fsync`` — the same durability as a pull, whose
  partial file is fsynced before it counts (the copy without fsync is reported too); the page
  cache is warmed first, for both;
* **pull**: :class:`lifelog.sources.gopro.GoProSource` from the simulated camera
  (:class:`lifelog.sources.sim.gopro_server.GoProServer`, a real HTTP server on 127.0.0.1) into a
  partial file, with the size check of sync (no import);
* **resume**: the camera cuts the body at 50%; the next pull sends ``Range: bytes=N-`` and
  completes. Reported: the time of that resumed pull and the bytes it fetched.

Figures are the median of ``--repeat`` runs; ratios are against the copy measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "sync_pull.json"


def _make_input(path: Path, mb: int) -> Path:
    from lifelog.sample.fetch import sample_media

    media = sample_media()
    sources = [media.path(n) for n in ("vtest.avi", "bikes.mp4", "carphone_pristine.mp4") if media.has(n)]
    want = mb * 2**20
    with open(path, "wb") as out:
        n = 0
        while n < want:
            for s in sources:
                data = Path(s).read_bytes()[: want - n]
                out.write(data)
                n += len(data)
                if n >= want:
                    break
    return path


def _warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


def run_pull_bench(tmp: Path, mb: int = 256, repeat: int = 3) -> dict[str, Any]:
    from lifelog.sources.gopro import GoProSource
    from lifelog.sources.sim.gopro_server import GoProServer
    from lifelog.sources.sync import PullFailed, SyncOptions, pull

    tmp.mkdir(parents=True, exist_ok=True)
    src = _make_input(tmp / "GX010001.MP4", mb)
    size = src.stat().st_size
    _warm(src)
    copy_s: list[float] = []
    copy_nosync_s: list[float] = []
    pull_s: list[float] = []
    resume_s: list[float] = []
    resume_bytes = 0
    opts = SyncOptions(retries=1, backoff_s=0.0, min_free_bytes=0)
    with GoProServer() as cam:
        cam.add("100GOPRO", "GX010001.MP4", src, time.time())
        source = GoProSource(cam.url, keep_alive_s=60)
        [item] = list(source.list_media())
        for _ in range(repeat):
            dst = tmp / "copy.bin"
            t = time.perf_counter()
            shutil.copyfile(src, dst)
            copy_nosync_s.append(time.perf_counter() - t)
            dst.unlink()
            # The same durability as a pull, which fsyncs its partial file before it counts.
            t = time.perf_counter()
            shutil.copyfile(src, dst)
            with open(dst, "rb+") as f:
                os.fsync(f.fileno())
            copy_s.append(time.perf_counter() - t)
            dst.unlink()

            part = tmp / "pull.part"
            t = time.perf_counter()
            pull(source, item, part, options=opts)
            pull_s.append(time.perf_counter() - t)
            part.unlink()

            cam.fault("GX010001.MP4", "truncate", fraction=0.5, times=1)
            with contextlib.suppress(PullFailed):  # expected: cut at 50%, no retry
                pull(source, item, part, options=SyncOptions(retries=0, backoff_s=0.0, min_free_bytes=0))
            have = part.stat().st_size
            t = time.perf_counter()
            res = pull(source, item, part, options=opts)
            resume_s.append(time.perf_counter() - t)
            resume_bytes = res.bytes_downloaded
            assert part.stat().st_size == size and have == size // 2
            part.unlink()
        source.close()
    c, p, r = statistics.median(copy_s), statistics.median(pull_s), statistics.median(resume_s)
    return {
        "bytes": size,
        "repeat": repeat,
        "copy_s": round(c, 4),
        "copy_without_fsync_s": round(statistics.median(copy_nosync_s), 4),
        "pull_s": round(p, 4),
        "copy_mb_s": round(size / 2**20 / c, 1),
        "pull_mb_s": round(size / 2**20 / p, 1),
        "pull_vs_copy": round(c / p, 3),  # fraction of the copy's speed (target >= 0.5)
        "resume_after_cut_s": round(r, 4),
        "resume_bytes": resume_bytes,
        "resume_vs_full_pull": round(r / p, 3),  # ~0.5 when nothing is fetched twice
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=256, help="size of the file pulled (MiB)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    import tempfile

    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lifelog-bench-pull-") as d:
        figures = run_pull_bench(Path(d), args.mb, args.repeat)
    doc = {
        "bench": "sync_pull",
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "load_avg_start": load0,
        "load_avg_end": os.getloadavg(),
        **figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    print(f"file: {figures['bytes'] / 2**20:.0f} MiB, median of {figures['repeat']}")
    print(f"copy  {figures['copy_s']:8.3f} s  {figures['copy_mb_s']:8.1f} MiB/s   "
          f"(without fsync {figures['copy_without_fsync_s']:.3f} s)")  # fmt: skip
    print(f"pull  {figures['pull_s']:8.3f} s  {figures['pull_mb_s']:8.1f} MiB/s   "
          f"= {figures['pull_vs_copy'] * 100:.0f}% of the copy's speed")  # fmt: skip
    print(f"resume after a cut at 50%: {figures['resume_after_cut_s']:.3f} s for {figures['resume_bytes']} bytes "
          f"({figures['resume_vs_full_pull']:.2f}× a full pull)")  # fmt: skip
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
