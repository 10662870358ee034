"""Descriptions and the memory profile at a month's scale.

    .venv/bin/python bench/describe.py [--days 30]

The month is ``bench/forget.py``'s (``bench/ui.py``'s synthetic month, 30 days × 91 episodes of
30 frames with real encoder outputs, and one named person in every third episode), built once
into the cache if missing; a fresh copy is measured. In one run:

* **baseline**: ``Memory.episodes()`` over the whole month (what the timeline reads: rows,
  people, objects) — a pass touches at least that much;
* **describe, first run**: every episode and day described and written (encrypted, indexed);
* **describe, unchanged**: the same again, nothing changed (the nightly case: hashes compared,
  nothing decrypted or written);
* **describe after a rename**: the person renamed, so every episode and day they are in is
  rewritten;
* **profile refresh**.

Figures are printed and written to ``bench/results/describe.json``, as seconds and as ratios
to the baseline. Nothing here is a test: tests never time things.
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
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
RESULTS = REPO / "bench" / "results" / "describe.json"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    os.environ.setdefault("LIFELOG_PASSPHRASE", "bench passphrase")
    from lifelog.api import Memory
    from lifelog.api.profile import refresh_profile
    from lifelog.paths import cache_dir

    base = cache_dir() / "bench" / f"forget-month-{a.days}d"
    if not (base / ".built").exists():
        log("building the month (bench/forget.py) …")
        import subprocess

        subprocess.run([sys.executable, str(REPO / "bench" / "forget.py"), "--days", str(a.days)], check=True)
    info = json.loads((base / ".built").read_text())
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        data = Path(tmp) / "month"
        shutil.copytree(base, data)
        mem = Memory(data)
        t = time.perf_counter()
        eps = mem.episodes()
        baseline = time.perf_counter() - t
        log(f"baseline: {len(eps)} episodes listed in {baseline:.2f} s")
        res: dict[str, dict[str, float]] = {}
        for name, step in (("first", None), ("unchanged", None), ("rename", "rename")):
            if step == "rename":
                mem.name_person(info["person"], "Someone Renamed")
            t = time.perf_counter()
            n = mem.describe_episodes()
            wall = time.perf_counter() - t
            res[name] = {"wall_s": round(wall, 3), "written": n}
            log(f"describe {name}: {n} written in {wall:.2f} s")
        t = time.perf_counter()
        rep = refresh_profile(mem, datetime.now(UTC))
        res["profile"] = {"wall_s": round(time.perf_counter() - t, 3), "lines": rep.lines}
        sample = [e.description for e in mem.episodes()[:3]]
    out = {"store": info, "machine": platform.platform(), "cpus": os.cpu_count(),
           "load_average_start": round(load0, 2), "load_average_end": round(os.getloadavg()[0], 2),
           "baseline_list_episodes_s": round(baseline, 3), **res,
           "ratios_vs_baseline": {k: round(v["wall_s"] / baseline, 2) for k, v in res.items()},
           "sample_descriptions": sample}
    print(f"\nmonth: {info['episodes']:,} episodes, {info['frames']:,} frames")
    print(f"{'':34} {'wall s':>8} {'× baseline':>11} {'written':>8}")
    print(f"{'baseline: list every episode':34} {baseline:8.2f} {1.0:11.2f}")
    for k, label in (("first", "describe, first run"), ("unchanged", "describe, unchanged"),
                     ("rename", "describe after renaming a person"), ("profile", "profile refresh")):
        print(f"{label:34} {res[k]['wall_s']:8.2f} {out['ratios_vs_baseline'][k]:11.2f} "
              f"{res[k].get('written', '') if 'written' in res[k] else '':>8}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
