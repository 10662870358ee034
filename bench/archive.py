"""Export and re-import throughput on the composed sample days.

    .venv/bin/python bench/archive.py [--transcribe] [--rebuild]

The sample days (``lifelog demo``'s, composed from the real sample media) are imported once
into a memory cached under ``<cache>/bench/archive-days`` (with ``--transcribe`` their speech is
transcribed too). Then, on that memory:

* **export** to a folder, and **export --encrypted** to one archive file;
* **import-archive** of each into a fresh memory, and a **second import** of the folder (which
  must add nothing: idempotence costs a full check of the archive).

Each step's seconds, bytes, MB/s and episodes/s are printed as a table and written to
``bench/results/archive.json``. Nothing here is a test: tests never time things.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "archive.json"
PASSPHRASE = "bench passphrase"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _bytes(p: Path) -> int:
    return p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def build(data: Path, transcribe: bool) -> Any:
    from lifelog.api import Memory
    from lifelog.api.sample import compose_sample_days, fetch_sample_media

    mem = Memory(data)
    if mem.stats()["media"] == 0:
        days = compose_sample_days(fetch_sample_media())
        log(f"importing {len(days.files)} files of the sample days (once; cached in {data})…")
        t = time.perf_counter()
        mem.import_paths(days.files)
        log(f"imported in {time.perf_counter() - t:.0f} s")
    if transcribe:
        mem.transcribe_pending()
    return mem


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transcribe", action="store_true", help="transcribe the days' speech before exporting")
    p.add_argument("--rebuild", action="store_true", help="import the sample days again")
    args = p.parse_args()
    os.environ.setdefault("LIFELOG_PASSPHRASE", PASSPHRASE)
    from lifelog import paths
    from lifelog.api import Memory

    data = paths.cache_dir() / "bench" / "archive-days"
    if args.rebuild and data.exists():
        shutil.rmtree(data)
    mem = build(data, args.transcribe)
    stats = mem.stats()
    episodes = stats["episodes"]
    rows: list[dict[str, Any]] = []

    def step(name: str, fn: Any, out: Path | None) -> Any:
        t = time.perf_counter()
        res = fn()
        s = time.perf_counter() - t
        size = _bytes(out) if out is not None else 0
        rows.append({"step": name, "seconds": round(s, 3), "bytes": size,
                     "mb_per_s": round(size / 1e6 / s, 2) if size else None,
                     "episodes_per_s": round(episodes / s, 1)})
        log(f"{name}: {s:.2f} s")
        return res

    with tempfile.TemporaryDirectory(prefix="lifelog-bench-archive-") as tmp:
        root = Path(tmp)
        folder, enc = root / "export", root / "export.llx"
        step("export (folder)", lambda: mem.export(folder), folder)
        step("export --encrypted", lambda: mem.export(enc, passphrase=PASSPHRASE), enc)
        a = Memory(root / "a")
        res = step("import-archive (folder)", lambda: a.import_archive(folder), folder)
        assert res.added.get("episodes") == episodes, res.to_json()
        b = Memory(root / "b")
        step("import-archive (encrypted)", lambda: b.import_archive(enc, passphrase=PASSPHRASE), enc)
        again = step("import-archive again (adds nothing)", lambda: a.import_archive(folder), folder)
        assert sum(again.added.values()) == 0, again.to_json()
    doc = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
           "memory": stats, "steps": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"\nsample days: {stats['media']} files, {episodes} episodes, {stats['frames']} frames\n")
    print(f"{'step':38} {'seconds':>8} {'MB':>8} {'MB/s':>7} {'episodes/s':>11}")
    for r in rows:
        mbs = f"{r['mb_per_s']:.1f}" if r["mb_per_s"] else "-"
        print(f"{r['step']:38} {r['seconds']:8.2f} {r['bytes'] / 1e6:8.1f} {mbs:>7} {r['episodes_per_s']:11.1f}")
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
