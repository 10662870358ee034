"""The import with speech transcribed beside it (issue #21): how fast a cancel stops it, and what
the overlap gains.

Usage::

    .venv/bin/python bench/cancel.py                      # 10 cancels + the overlap, 3 rounds
    .venv/bin/python bench/cancel.py --cancels 20 --overlap-rounds 0

**Cancel** (``--cancels N``): N imports, each into a fresh memory, of the same real media — a
clip with recorded speech (LibriVox, muxed into a composed clip), then ``vtest.avi`` (80 s of
people walking on a campus, 768×576, Debian opencv-doc), then a second clip with speech — by
:meth:`lifelog.api.Memory.import_and_transcribe`, the full default import (objects, OCR, faces,
thumbnails) with the first clip's speech transcribed while the video imports (forced, whatever
the number of CPUs: the case with a speech model call in flight). The cancel event
is set from another thread at a random moment of the video's import (uniform over its length,
measured untimed first). Two figures per cancel, from the moment the event is set:

* ``stopped_s``: until every stage stopped — no thread of the import (the decoder, the analysis
  and side lanes) and no speech thread is left running;
* ``returned_s``: until the call returned (the files finished before the cancel committed,
  the prepared transcripts written, people, places and descriptions brought up to date for them).

After each, it checks the memory holds only whole files (no journal entry, every media row with
its episodes) and prints median and max; ``bench/results/cancel.json`` has every cancel.

**Overlap** (``--overlap-rounds R``): the same files imported and transcribed in sequence
(``import_paths`` then ``transcribe_pending``, what the CLI and the app did before) against
overlapped (``import_and_transcribe`` with the speech prepared during the import whatever the
machine) and auto (``import_and_transcribe`` as the CLI and the app run it: during the import
only with ``lifelog.speech.worker.BESIDE_MIN_CPUS`` usable CPUs), rotating the order, R rounds
each on fresh memories after an untimed warm-up: wall and CPU time (this process's, all
threads) of each, with the machine's load average. Two inputs: ``talks`` (six 12 s composed
clips, each with two recorded sentences) and ``days`` (the two composed sample days: 29 files,
2 with speech).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
RESULTS = REPO / "bench" / "results" / "cancel.json"
PASSPHRASE = "cancel bench"
STAGE_THREADS = ("lifelog-decode", "lifelog-analyse", "lifelog-side", "lifelog-speech")


def _talks(work: Path, n: int) -> list[Path]:
    from speech import talk_clips  # bench/speech.py: the same real clips with speech

    files = talk_clips(work, n)
    if files is None:
        raise SystemExit("no LibriVox speech in the sample media (pocketsphinx-testdata not fetched)")
    return files


def _stage_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.is_alive() and t.name.startswith(STAGE_THREADS)]


def _whole_files_only(data: Path) -> dict[str, Any]:
    """What a cancelled import left: journal entries (must be none), media rows, and media rows
    without episodes (must be none)."""
    from lifelog.api import Memory

    mem = Memory(data, passphrase=PASSPHRASE)
    jdir = data / "journal"
    journal = [p for p in jdir.glob("*") if not p.name.startswith(".")] if jdir.exists() else []
    media = set(mem.store.rows("media", None, columns=["id"]).column("id").to_pylist())
    with_eps = set(mem.store.rows("episodes", None, columns=["media_id"]).column("media_id").to_pylist())
    return {"journal_entries": len(journal), "media": len(media), "media_without_episodes": len(media - with_eps),
            "episodes_without_media": len(with_eps - media)}


def one_cancel(files: list[Path], video: Path, delay_s: float, work: Path) -> dict[str, Any]:
    """Import ``files``; ``delay_s`` after ``video`` starts importing, set the cancel event."""
    from lifelog.api import Memory

    d = Path(tempfile.mkdtemp(prefix="cancel-", dir=work))
    try:
        mem = Memory(d, passphrase=PASSPHRASE)
        cancel = threading.Event()
        video_started = threading.Event()
        shown = str(video.name)
        frames_before = [0]

        def progress(p: Any) -> None:
            if p.current and Path(str(p.current)).name == shown and p.stage in ("encoding", "decoding"):
                video_started.set()

        times: dict[str, float] = {}

        def canceller() -> None:
            if not video_started.wait(600):
                return
            time.sleep(delay_s)
            times["set"] = time.perf_counter()
            cancel.set()
            while alive := _stage_threads():  # every stage's thread gone
                now = time.perf_counter()
                for g in STAGE_THREADS:
                    if any(n.startswith(g) for n in alive):
                        times[g] = now
                time.sleep(0.002)
            times["stopped"] = time.perf_counter()

        t = threading.Thread(target=canceller, name="bench-canceller")
        t.start()
        result, speech = mem.import_and_transcribe(files, progress=progress, cancel=cancel)
        returned = time.perf_counter()
        t.join(60)
        frames_before[0] = result.frames_decoded
        left = _whole_files_only(d)
        return {
            "delay_s": round(delay_s, 3),
            "cancelled": result.cancelled,
            "stopped_s": round(times["stopped"] - times["set"], 3) if "set" in times else None,
            "returned_s": round(returned - times["set"], 3) if "set" in times else None,
            "last_seen_s": {g: round(times[g] - times["set"], 3) for g in STAGE_THREADS if g in times},
            "imported": result.imported, "transcribed": sum(s.status == "done" for s in speech),
            "stage_threads_left": _stage_threads(), **left,
        }
    finally:
        shutil.rmtree(d, ignore_errors=True)


def video_import_s(files: list[Path], video: Path, work: Path) -> float:
    """How long the video's part of the import takes (untimed warm-up too: models load)."""
    from lifelog.api import Memory

    d = Path(tempfile.mkdtemp(prefix="cancel-warm-", dir=work))
    try:
        marks: dict[str, float] = {}

        def progress(p: Any) -> None:
            name = Path(str(p.current)).name if p.current else ""
            if name == video.name and "start" not in marks:
                marks["start"] = time.perf_counter()
            elif "start" in marks and name != video.name and "end" not in marks:
                marks["end"] = time.perf_counter()

        Memory(d, passphrase=PASSPHRASE).import_and_transcribe(files, progress=progress)
        return marks.get("end", time.perf_counter()) - marks["start"]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def overlap(files: list[Path], rounds: int, work: Path) -> dict[str, Any]:
    import lifelog.speech.worker as worker
    from lifelog.api import Memory

    default_min = worker.BESIDE_MIN_CPUS
    modes = ("sequential", "overlapped", "auto")
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for r in range(rounds):
        for mode in modes[r % 3:] + modes[:r % 3]:
            d = Path(tempfile.mkdtemp(prefix=f"overlap-{mode}-", dir=work))
            # overlapped: speech prepared during the import whatever the machine; auto: what the
            # command and the app do here (during the import only with BESIDE_MIN_CPUS CPUs)
            worker.BESIDE_MIN_CPUS = 0 if mode == "overlapped" else default_min
            try:
                mem = Memory(d, passphrase=PASSPHRASE)
                load = os.getloadavg()[0]
                c0, w0 = time.process_time(), time.perf_counter()
                if mode == "sequential":
                    res = mem.import_paths(files)
                    speech = mem.transcribe_pending()
                else:
                    res, speech = mem.import_and_transcribe(files)
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                runs[mode].append({"round": r, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                                   "load_avg_1m": round(load, 2), "imported": res.imported,
                                   "utterances": sum(s.utterances for s in speech)})
                print(f"  round {r} {mode}: {wall:.1f} s wall, {cpu:.1f} s cpu (load {load:.1f})",
                      file=sys.stderr, flush=True)
            finally:
                worker.BESIDE_MIN_CPUS = default_min
                shutil.rmtree(d, ignore_errors=True)
    out: dict[str, Any] = {"files": len(files), "usable_cpus": worker.usable_cpus(),
                           "auto_overlaps": worker.overlap_pays(), "rounds": runs}
    for k in ("wall_s", "cpu_s"):
        seq = statistics.median(x[k] for x in runs["sequential"])
        for m in modes:
            out[f"{m}_{k}"] = statistics.median(x[k] for x in runs[m])
        ovl = out[f"overlapped_{k}"]
        out[f"{k}_ratio_sequential_over_overlapped"] = round(seq / ovl, 3) if ovl else None
    out["pairwise_wall_ratios"] = [round(a["wall_s"] / b["wall_s"], 3)
                                   for a, b in zip(runs["sequential"], runs["overlapped"], strict=True)]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cancels", type=int, default=10)
    ap.add_argument("--overlap-rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "lifelog-bench-cancel")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    from lifelog.sample.fetch import sample_media

    args.work.mkdir(parents=True, exist_ok=True)
    media = sample_media()
    video = media.path("vtest.avi")
    talks = _talks(args.work, 6)
    doc: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(),
                           "load_avg_at_start": list(os.getloadavg()),
                           "args": {k: str(v) for k, v in vars(args).items()}}
    if args.cancels > 0:
        files = [talks[0], video, talks[1]]
        span = video_import_s(files, video, args.work)
        print(f"… the video imports in {span:.1f} s; {args.cancels} cancels at random moments of it",
              file=sys.stderr, flush=True)
        rng = random.Random(args.seed)
        cancels = []
        import lifelog.speech.worker as worker

        default_min = worker.BESIDE_MIN_CPUS
        worker.BESIDE_MIN_CPUS = 0  # the speech in flight beside the import, whatever the machine
        for i in range(args.cancels):
            row = one_cancel(files, video, rng.uniform(0.0, span * 0.9), args.work)
            row["load_avg_1m"] = round(os.getloadavg()[0], 2)
            cancels.append(row)
            print(f"  cancel {i}: at +{row['delay_s']:.1f} s, stopped in {row['stopped_s']} s, returned in "
                  f"{row['returned_s']} s (load {row['load_avg_1m']}; last seen {row['last_seen_s']}); "
                  f"left {row['media']} whole file(s), "
                  f"{row['journal_entries']} journal entries", file=sys.stderr, flush=True)
        stopped = [r["stopped_s"] for r in cancels if r["stopped_s"] is not None]
        returned = [r["returned_s"] for r in cancels if r["returned_s"] is not None]
        doc["cancel"] = {
            "files": [f.name for f in files], "video_import_s": round(span, 2), "cancels": cancels,
            "stopped_median_s": round(statistics.median(stopped), 3), "stopped_max_s": max(stopped),
            "returned_median_s": round(statistics.median(returned), 3), "returned_max_s": max(returned),
            "all_whole": all(r["journal_entries"] == 0 and r["media_without_episodes"] == 0
                             and r["episodes_without_media"] == 0 and not r["stage_threads_left"] for r in cancels),
        }
        c = doc["cancel"]
        print(f"cancel: every stage stopped in {c['stopped_median_s']} s median, {c['stopped_max_s']} s max; "
              f"returned in {c['returned_median_s']} s median, {c['returned_max_s']} s max", flush=True)
        worker.BESIDE_MIN_CPUS = default_min
    if args.overlap_rounds > 0:
        days_root = Path.home() / ".cache" / "lifelog" / "sample-days"
        inputs = {"talks": talks}
        days = sorted(p for p in days_root.glob("2024-*/*") if p.suffix.lower() in (".mp4", ".jpg"))
        if days:
            inputs["days"] = days
        doc["overlap"] = {}
        from lifelog.api import Memory

        warm = Path(tempfile.mkdtemp(prefix="overlap-warm-", dir=args.work))
        Memory(warm, passphrase=PASSPHRASE).import_and_transcribe(talks[:1])  # models load, untimed
        shutil.rmtree(warm, ignore_errors=True)
        for name, files in inputs.items():
            print(f"… overlap, {name}: {len(files)} files", file=sys.stderr, flush=True)
            o = doc["overlap"][name] = overlap(files, args.overlap_rounds, args.work)
            print(f"overlap {name}: sequential {o['sequential_wall_s']} s wall / {o['sequential_cpu_s']} s cpu, "
                  f"overlapped {o['overlapped_wall_s']} s wall / {o['overlapped_cpu_s']} s cpu, "
                  f"auto {o['auto_wall_s']} s wall / {o['auto_cpu_s']} s cpu "
                  f"(pairwise wall ratios {o['pairwise_wall_ratios']})", flush=True)
    doc["load_avg_at_end"] = list(os.getloadavg())
    doc["finished"] = datetime.now(UTC).isoformat()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
