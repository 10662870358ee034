"""Forgetting at a month's scale: one episode, and one person seen all month.

    .venv/bin/python bench/forget.py [--days 30] [--rebuild]

The month is ``bench/ui.py``'s synthetic month (``build_month``: 30 days × 91 one-minute episodes
of 30 frames, real encoder outputs, real encrypted thumbnails), built once into the cache. A
person is added to a copy of it: one face in every third episode across the whole month, each
with a real encrypted face crop, a named ``people`` row and an entry in the undo log.

Measured in one run, on fresh copies of the same store:

* **baseline**: ``Store.compact()`` alone (compacting every table and removing every old
  version): the floor any forget that leaves no trace pays;
* **forget one episode**, and **forget the person** (their faces, crops, name, and the episodes
  where only they appear — all of them here, since nobody else is in the month),

each with the store size before and after. Figures are printed and written to
``bench/results/forget.json`` (targets: the person < 10 s, one episode < 1 s). Nothing here is
a test: tests never time things.
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
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
RESULTS = REPO / "bench" / "results" / "forget.json"
PASSPHRASE = "bench passphrase"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def add_person(data: Path, every: int = 3) -> tuple[str, int]:
    """A named person with one face (and an encrypted crop) in every ``every``-th episode."""
    import numpy as np
    import pyarrow as pa
    from PIL import Image

    from lifelog.api import Memory
    from lifelog.store.db import FACE_DIM, FACE_SCHEMA

    mem = Memory(data)
    store, vault = mem.store, mem.vault
    eps = store.rows("episodes", None, columns=["id", "media_id", "start"]).to_pylist()
    eps = [e for i, e in enumerate(sorted(eps, key=lambda r: r["start"])) if i % every == 0]
    rng = np.random.default_rng(5)
    buf = BytesIO()
    Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=80)
    crop = buf.getvalue()
    centre = rng.normal(0, 1, FACE_DIM).astype(np.float32)
    centre /= np.linalg.norm(centre)
    pid = "b" * 10
    rows = []
    for e in eps:
        fid = f"{e['id']}-f0"
        vault.put(fid, crop)
        emb = centre + rng.normal(0, 0.01, FACE_DIM).astype(np.float32)
        rows.append({"id": fid, "frame_id": f"{e['media_id']}-00000", "media_id": e["media_id"],
                     "episode_id": e["id"], "t": e["start"] + timedelta(seconds=1), "box": [0.3, 0.2, 0.2, 0.3],
                     "quality": 0.9, "embedding": (emb / np.linalg.norm(emb)).tolist(), "person_id": pid,
                     "crop_id": fid, "model": "bench", "seed": True, "assigned_by": "auto"})
    store.table("faces").add(pa.Table.from_pylist(rows, schema=FACE_SCHEMA))
    from lifelog.store.db import PEOPLE_SCHEMA

    now = eps[0]["start"]
    store.table("people").add(pa.Table.from_pylist(
        [{"id": pid, "hidden": False, "user_locked": False, "centroid": centre.tolist(), "updated_at": now,
          "created_at": now, "model": "bench"}], schema=PEOPLE_SCHEMA))
    mem.name_person(pid, "Bench Person")
    return pid, len(rows)


def measure(base: Path, what: str, arg: str | None) -> dict[str, Any]:
    from lifelog.api import Memory
    from lifelog.privacy.forget import ForgetRequest

    with tempfile.TemporaryDirectory(prefix="lifelog-bench-forget-") as tmp:
        data = Path(tmp) / "memory"
        shutil.copytree(base, data)
        mem = Memory(data)
        before = _dir_bytes(data)
        t0 = time.perf_counter()
        if what == "compact":
            mem.store.compact()
            counts: dict[str, int] = {}
        else:
            req = ForgetRequest("episode", arg) if what == "episode" else ForgetRequest("person", arg)
            counts = mem.forget(req).plan.counts()
        wall = time.perf_counter() - t0
        after = _dir_bytes(data)
    return {"wall_s": round(wall, 3), "bytes_before": before, "bytes_after": after, "counts": counts}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    os.environ.setdefault("LIFELOG_PASSPHRASE", PASSPHRASE)
    import ui as ub  # bench/ui.py: build_month
    from lifelog.api import Memory
    from lifelog.paths import cache_dir

    load0 = os.getloadavg()[0]
    base = cache_dir() / "bench" / f"forget-month-{a.days}d"
    if a.rebuild or not (base / ".built").exists():
        month = base.with_name(base.name + "-month.json")
        if a.rebuild or not month.exists():
            shutil.rmtree(base, ignore_errors=True)
            log(f"building a month of memories in {base} …")
            month.write_text(json.dumps(ub.build_month(base, a.days)))
        built = json.loads(month.read_text())
        pid, n_faces = add_person(base)
        Memory(base).store.compact()
        (base / ".built").write_text(json.dumps({**built, "person": pid, "faces": n_faces}))
    info = json.loads((base / ".built").read_text())
    episode = Memory(base).episodes()[len(Memory(base).episodes()) // 2].id
    log("baseline: compact only")
    res = {"compact": measure(base, "compact", None)}
    log("forget one episode")
    res["episode"] = measure(base, "episode", episode)
    log("forget a person seen all month")
    res["person"] = measure(base, "person", info["person"])
    base_s = res["compact"]["wall_s"]
    out = {"store": info, "machine": platform.platform(), "cpus": os.cpu_count(),
           "load_average_start": round(load0, 2), "load_average_end": round(os.getloadavg()[0], 2),
           **res, "ratios_vs_compact": {k: round(res[k]["wall_s"] / base_s, 2) for k in ("episode", "person")}}
    print(f"\nstore: {info['episodes']:,} episodes, {info['frames']:,} frames, {info['faces']:,} faces of one person")
    print(f"{'':28} {'wall s':>8} {'× compact':>10} {'store MB before':>16} {'after':>8}")
    for k, name in (("compact", "baseline: compact only"), ("episode", "forget one episode"),
                    ("person", "forget the person")):
        r = res[k]
        ratio = r["wall_s"] / base_s if base_s else float("nan")
        mb0, mb1 = r["bytes_before"] / 1e6, r["bytes_after"] / 1e6
        print(f"{name:28} {r['wall_s']:8.2f} {ratio:10.2f} {mb0:16.1f} {mb1:8.1f}")
    print(f"forgot: episode {res['episode']['counts']}; person {res['person']['counts']}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
