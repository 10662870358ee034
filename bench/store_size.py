"""Store size benchmark: bytes on disk per footage-hour, and each part's share, right after an import.

Usage::

    .venv/bin/python bench/store_size.py                      # sample days + a 10-minute 1080p video
    .venv/bin/python bench/store_size.py --only days          # the composed sample days only
    .venv/bin/python bench/store_size.py --baseline-rev f5bc0fd --rounds 1

For each input (the composed sample days: short clips and photos; one long 1080p30 H.264 video,
GOP 1 s, made once with ``make_long_video`` and cached), the footage is imported with the full
default import (``lifelog import PATHS --json``: faces, OCR, speech, people, places, graph,
descriptions) into a fresh data dir, in a child process, by two trees of the code:

* **baseline**: ``git archive <rev>`` of the repository (default ``HEAD``) unpacked in a
  temporary folder and put first on ``PYTHONPATH``;
* **current**: the working tree.

Rounds alternate baseline, current, baseline, current… (sizes hardly vary between rounds; the
last round's walk is reported). Nothing of the nightly pass runs: this is the store as an import
leaves it. The data dir is then walked and every file is put in one part (the table printed):
vault blobs (frame thumbnails, face crops, other), each table's data of its latest version
(apportioned to column groups by their Arrow sizes: the frame vectors, labels, …), LanceDB
indexes, the latest version's manifest and transaction files, and what only older versions use
(their data files, manifests, indexes, deletion files). Sizes are file sizes (``st_size``); the
blocks allocated (``st_blocks``, 4 KiB per small file here) are printed beside the total.

Figures go to ``bench/results/store_size.json``; see ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "store_size.json"
PASSPHRASE = "lifelog benchmark passphrase"
LONG_MINUTES = 10.0
LONG_GOP_S = 1.0
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi"}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
TARGET_MB_PER_HOUR = 10.0

# Column groups of the tables whose share is reported on its own; the rest of a table is "<table>: other".
COLUMN_GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "frames": {
        "frames: semantic vector (384 × f32)": ("semantic",),
        "frames: feature vector (1280 × f16)": ("features",),
        "frames: labels and scores": ("labels", "label_scores"),
    },
    "episodes": {"episodes: semantic vector": ("semantic",)},
    "faces": {"faces: embedding (128 × f32)": ("embedding",)},
}
TABLE_PARTS = {  # tables reported together under one name
    "ocr": "OCR lines and terms", "ocr_terms": "OCR lines and terms",
    "utterances": "transcripts (utterances, terms)", "utterance_terms": "transcripts (utterances, terms)",
    "transcripts": "transcripts (utterances, terms)",
    "graph_edges": "graph", "graph_nodes": "graph",
    "places": "places", "place_visits": "places", "media_geo": "places",
    "notes": "descriptions (notes, terms)", "note_terms": "descriptions (notes, terms)",
    "people": "people", "person_edits": "people",
}


def log(msg: str) -> None:
    print(f"[store_size] {msg}", file=sys.stderr, flush=True)


# ============================================================================ inputs
def days_inputs(cache: Path) -> list[Path]:
    from lifelog.sample.compose import compose_days

    out = cache / "bench" / "days"
    truth = compose_days(out)
    return sorted(p for d in truth.days for p in (out / d).iterdir()
                  if p.suffix.lower() in VIDEO_SUFFIXES | PHOTO_SUFFIXES)


def long_input(cache: Path, minutes: float) -> list[Path]:
    from lifelog.sample.compose import COMPOSER_VERSION, make_long_video

    path = cache / "bench" / f"long-{minutes:g}min-1920x1080-30fps-gop{LONG_GOP_S:g}-v{COMPOSER_VERSION}.mp4"
    if not path.is_file():
        log(f"making {path.name} (once; cached)")
        tmp = path.with_suffix(".part.mp4")
        make_long_video(tmp, minutes=minutes, gop_seconds=LONG_GOP_S)
        tmp.rename(path)
    return [path]


def footage_seconds(files: list[Path]) -> float:
    from lifelog.ingest.decode import probe_video

    return sum(probe_video(f).duration_s for f in files if f.suffix.lower() in VIDEO_SUFFIXES)


# ============================================================================ trees and imports
def baseline_tree(rev: str, work: Path) -> tuple[Path, str]:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", rev], check=True, capture_output=True,
                            text=True).stdout.strip()
    dest = work / f"tree-{commit[:10]}"
    if not dest.is_dir():
        tar = work / "tree.tar"
        with tar.open("wb") as f:
            subprocess.run(["git", "-C", str(REPO), "archive", commit], check=True, stdout=f)
        dest.mkdir()
        with tarfile.open(tar) as t:
            t.extractall(dest, filter="data")
        tar.unlink()
    return dest, commit


def run_import(tree: Path, data: Path, files: list[Path]) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(tree), LIFELOG_PASSPHRASE=env.get("LIFELOG_PASSPHRASE") or PASSPHRASE,
               LIFELOG_HOME=str(data), PYTHONUNBUFFERED="1")
    env.setdefault("LIFELOG_MODELS_DIR", str(REPO / "models" / "build"))
    shutil.rmtree(data, ignore_errors=True)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(data), "import", *map(str, files),
                        "--json"], env=env, cwd=tree, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 3):
        raise RuntimeError(f"import failed ({p.returncode}): {p.stderr[-2000:]}")
    out = json.loads(p.stdout)
    return {"wall_s": wall, "imported": out["imported"], "failed": out["failed"], "episodes": len(out["episodes"])}


# ============================================================================ the walk
def _stored_bytes(col: Any) -> float:
    """A column's Arrow size, less its null rows (Arrow keeps zeros for them; Lance stores none)."""
    n = len(col)
    return float(col.nbytes) * (1.0 - col.null_count / n) if n else 0.0


def walk(data: Path) -> dict[str, Any]:
    """Every file of the data dir in one part; bytes and file counts per part."""
    import lance
    import lancedb

    parts: dict[str, int] = defaultdict(int)
    files: dict[str, int] = defaultdict(int)
    seen: set[Path] = set()
    allocated = 0

    def put(part: str, path: Path) -> None:
        nonlocal allocated
        st = path.stat()
        parts[part] += st.st_size
        files[part] += 1
        allocated += st.st_blocks * 512
        seen.add(path)

    db_dir = data / "db"
    conn = lancedb.connect(str(db_dir))
    counts: dict[str, int] = {}
    thumb_ids: set[str] = set()
    crop_ids: set[str] = set()
    versions: dict[str, int] = {}
    for tdir in sorted(db_dir.glob("*.lance")):
        name = tdir.name[: -len(".lance")]
        ds = lance.dataset(str(tdir))
        versions[name] = len(ds.versions())
        live_data = {f"data/{d.path}" for fr in ds.get_fragments() for d in fr.metadata.files}
        live_del = {str(fr.metadata.deletion_file.path(fr.fragment_id))  # "_deletions/<file>"
                    for fr in ds.get_fragments() if fr.metadata.deletion_file is not None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            live_idx = {str(ix["uuid"]) for ix in ds.list_indices()}
        manifests = sorted(tdir.glob("_versions/*.manifest"), key=lambda p: p.stat().st_mtime_ns)
        tbl = conn.open_table(name)
        arrow = tbl.to_arrow()
        counts[name] = arrow.num_rows
        if name == "frames":
            thumb_ids = {t for t in arrow.column("thumb_id").to_pylist() if t}
        if name == "faces":
            crop_ids = {t for t in arrow.column("crop_id").to_pylist() if t}
        # the latest version's data, apportioned to column groups by their Arrow sizes
        col_bytes = {f.name: _stored_bytes(arrow.column(f.name)) for f in arrow.schema}
        total_cols = sum(col_bytes.values()) or 1
        data_bytes = 0
        for rel in live_data:
            p = tdir / rel
            if p.is_file():
                st = p.stat()
                data_bytes += st.st_size
                allocated += st.st_blocks * 512
                seen.add(p)
        groups = COLUMN_GROUPS.get(name, {})
        left = data_bytes
        for part, cols in groups.items():
            share = round(data_bytes * sum(col_bytes.get(c, 0) for c in cols) / total_cols)
            parts[part] += share
            left -= share
        base = TABLE_PARTS.get(name, name)
        parts[f"{base}: other" if groups else base] += left
        files["table data files"] += len(live_data)
        for p in sorted(tdir.rglob("*")):
            if not p.is_file() or p in seen:
                continue
            rel = p.relative_to(tdir).as_posix()
            top = rel.split("/", 1)[0]
            if top == "data":
                put("LanceDB: older versions (data files)", p)
            elif top == "_indices":
                live = rel.split("/")[1] in live_idx
                put("LanceDB: indexes" if live else "LanceDB: older versions (indexes)", p)
            elif top == "_deletions":
                put("LanceDB: deletion files" if rel in live_del else "LanceDB: older versions (deletions)", p)
            elif top == "_versions":
                latest = (bool(manifests) and p == manifests[-1]) or not p.name.endswith(".manifest")
                put("LanceDB: latest manifests" if latest else "LanceDB: older versions (manifests)", p)
            elif top == "_transactions":
                put("LanceDB: transaction files", p)
            else:
                put("LanceDB: other", p)
    blobs = data / "vault" / "blobs"
    for p in sorted(blobs.rglob("*")) if blobs.is_dir() else []:
        if not p.is_file():
            continue
        stem = p.name[: -len(".bin")] if p.name.endswith(".bin") else p.name
        put("vault: frame thumbnails" if stem in thumb_ids else "vault: face crops" if stem in crop_ids
            else "vault: other blobs", p)
    for p in sorted(data.rglob("*")):
        if p.is_file() and p not in seen and not p.is_symlink():
            put("other files (settings, key, journals, logs)", p)
    total = sum(parts.values())
    episodes = max(counts.get("episodes", 0), 1)
    thumbs = files.get("vault: frame thumbnails", 0)
    return {
        "total_bytes": total,
        "allocated_bytes": allocated,
        "parts": dict(sorted(parts.items(), key=lambda kv: -kv[1])),
        "files": dict(files),
        "rows": counts,
        "versions_per_table": versions,
        "thumbnails": {
            "count": thumbs,
            "per_episode": thumbs / episodes,
            "mean_bytes": parts.get("vault: frame thumbnails", 0) / max(thumbs, 1),
        },
    }


# ============================================================================ main
def mb_h(n: float, hours: float) -> float:
    return n / 1e6 / hours if hours > 0 else float("nan")


def print_table(name: str, footage_s: float, base: dict[str, Any], cur: dict[str, Any]) -> None:
    hours = footage_s / 3600
    keys = sorted(set(base["parts"]) | set(cur["parts"]), key=lambda k: -max(base["parts"].get(k, 0),
                                                                                cur["parts"].get(k, 0)))
    print(f"\n{name}: {footage_s:.0f} s of footage ({hours:.3f} h)")
    print(f"{'part':48} {'baseline B':>11} {'MB/h':>6} {'share':>6}   {'current B':>11} {'MB/h':>6} {'share':>6}")
    for k in keys:
        b, c = base["parts"].get(k, 0), cur["parts"].get(k, 0)
        print(f"{k:48} {b:>11,} {mb_h(b, hours):>6.2f} {b / base['total_bytes']:>6.1%}   "
              f"{c:>11,} {mb_h(c, hours):>6.2f} {c / cur['total_bytes']:>6.1%}")
    bt, ct = base["total_bytes"], cur["total_bytes"]
    print(f"{'TOTAL (file sizes)':48} {bt:>11,} {mb_h(bt, hours):>6.2f} {'':>6}   {ct:>11,} {mb_h(ct, hours):>6.2f}"
          f"   current/baseline {ct / bt:.3f}; target ≤ {TARGET_MB_PER_HOUR:g} MB/h")
    ba, ca = base["allocated_bytes"], cur["allocated_bytes"]
    print(f"{'TOTAL (blocks allocated)':48} {ba:>11,} {mb_h(ba, hours):>6.2f} {'':>6}   "
          f"{ca:>11,} {mb_h(ca, hours):>6.2f}")
    for label, w in (("baseline", base), ("current", cur)):
        t = w["thumbnails"]
        print(f"  {label}: {t['count']} thumbnails, {t['per_episode']:.1f} per episode, "
              f"{t['mean_bytes']:.0f} B each; tables with old versions: "
              f"{sum(1 for v in w['versions_per_table'].values() if v > 1)} of {len(w['versions_per_table'])}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["days", "long"], action="append")
    ap.add_argument("--minutes", type=float, default=LONG_MINUTES, help="length of the long video")
    ap.add_argument("--baseline-rev", default="HEAD", help="git revision of the baseline tree")
    ap.add_argument("--rounds", type=int, default=1, help="baseline/current pairs, alternated")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs (printed)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    from lifelog.paths import cache_dir

    cache = cache_dir()
    work = Path(tempfile.mkdtemp(prefix="lifelog-store-size-"))
    tree, commit = baseline_tree(a.baseline_rev, work)
    results: dict[str, Any] = {"baseline_rev": commit, "target_mb_per_hour": TARGET_MB_PER_HOUR, "inputs": {}}
    for name in a.only or ["days", "long"]:
        files = days_inputs(cache) if name == "days" else long_input(cache, a.minutes)
        footage = footage_seconds(files)
        log(f"{name}: {len(files)} files, {footage:.0f} s of footage")
        entry: dict[str, Any] = {"files": len(files), "footage_s": footage, "rounds": []}
        walks: dict[str, dict[str, Any]] = {}
        for r in range(a.rounds):
            for label, src in (("baseline", tree), ("current", REPO)):
                data = work / f"{name}-{label}"
                log(f"{name}: round {r + 1}, {label} import into {data}")
                imp = run_import(src, data, files)
                w = walk(data)
                w["import"] = imp
                w["mb_per_hour"] = mb_h(w["total_bytes"], footage / 3600)
                walks[label] = w
                entry["rounds"].append({"label": label, "total_bytes": w["total_bytes"], "wall_s": imp["wall_s"]})
                log(f"{name}: {label}: {w['total_bytes']:,} B = {w['mb_per_hour']:.2f} MB/h")
                if not a.keep:
                    shutil.rmtree(data, ignore_errors=True)
        entry.update(walks)
        entry["ratio_current_over_baseline"] = walks["current"]["total_bytes"] / walks["baseline"]["total_bytes"]
        results["inputs"][name] = entry
        print_table(name, footage, walks["baseline"], walks["current"])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {a.out}" + (f"; data dirs kept in {work}" if a.keep else ""))
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
