"""Redaction benchmark: import time of the sample days with the privacy settings on and off.

Usage::

    .venv/bin/python bench/redaction.py            # 2 rounds of each, interleaved
    .venv/bin/python bench/redaction.py --rounds 1

The composed sample days (``compose_days`` into ``<cache>/bench/days``, as ``bench/ingest.py``)
are imported with ``Memory.import_paths`` into a fresh data dir per run, in one process (models
warmed up first by a throw-away import), alternately with ``privacy`` **off** (no bystander
blurring, no sensitive-text check) and **on** (the defaults: blur faces of people not named,
hide sensitive text). The median of each is compared; the target is < 15 % added. Figures go to
``bench/results/redaction.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "redaction.json"
TARGET = 0.15


def _import(files: list[Path], root: Path, on: bool) -> dict[str, Any]:
    from lifelog.api import Memory
    from lifelog.config import PrivacySettings, Settings, save_settings

    data = Path(tempfile.mkdtemp(prefix="mem-", dir=root))
    privacy = PrivacySettings() if on else PrivacySettings(blur_bystanders=False, redact_sensitive_text=False)
    save_settings(data, Settings(privacy=privacy))
    mem = Memory(data)
    t0 = time.perf_counter()
    result = mem.import_paths(files)
    seconds = time.perf_counter() - t0
    faces = mem.store.count("faces")
    ocr = mem.store.count("ocr")
    shutil.rmtree(data, ignore_errors=True)
    if result.failed:
        raise SystemExit(f"import failed: {result.failed}")
    return {"seconds": round(seconds, 3), "imported": result.imported, "frames": result.frames_embedded,
            "faces": faces, "ocr_lines": ocr}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("LIFELOG_PASSPHRASE", "lifelog benchmark passphrase")
    os.umask(0o077)
    from lifelog import paths
    from lifelog.sample.compose import compose_days

    out = paths.cache_dir() / "bench" / "days"
    truth = compose_days(out)
    files = sorted(p for d in truth.days for p in (out / d).iterdir()
                   if p.suffix.lower() in {".mp4", ".mov", ".mkv", ".webm", ".avi", ".jpg", ".jpeg", ".png"})
    root = Path(tempfile.mkdtemp(prefix="lifelog-bench-redaction-"))
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    try:
        print(f"{len(files)} files; warming up the models", flush=True)
        _import(files[:2], root, True)
        for r in range(args.rounds):
            for mode in (("off", "on") if r % 2 == 0 else ("on", "off")):
                run = _import(files, root, mode == "on")
                runs[mode].append(run)
                print(f"round {r + 1} {mode:>3}: {run['seconds']:.1f} s ({run['frames']} frames, "
                      f"{run['faces']} faces, {run['ocr_lines']} text lines)", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    off = statistics.median(x["seconds"] for x in runs["off"])
    on = statistics.median(x["seconds"] for x in runs["on"])
    added = (on - off) / off
    doc = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "input": {"files": len(files), "dir": str(out)},
        "runs": runs,
        "median_s": {"off": off, "on": on},
        "added": round(added, 4),
        "target_added": TARGET,
        "meets_target": added < TARGET,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"off {off:.1f} s, on {on:.1f} s: {100 * added:+.1f} % (target < {100 * TARGET:.0f} %) → {RESULTS}")


if __name__ == "__main__":
    main()
