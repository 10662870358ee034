"""What the local HTTP API adds to `ask`, and how it holds up under 50 concurrent clients.

    .venv/bin/python bench/api.py [--rounds 15] [--clients 50] [--seconds 30]

The memory is a copy of the sample-day memory that ``lifelog demo`` builds (built here first when
it is missing), so the grant made here never touches the user's demo. The server is the real
``lifelog api`` in its own process (as a user runs it), on a free loopback port; clients are
``httpx`` in this process.

1. **Overhead** (warm, same run, interleaved so no path gets a cache the others do not): each
   question asked ``--rounds`` times

   * **in-process**: ``Memory.ask`` (what the CLI and the app get: the baseline);
   * **ops**: ``lifelog.serve.ops.ask`` in-process (the grant's checks and its access log added);
   * **HTTP**: ``POST /v1/ask`` to the server (one keep-alive connection);
   * **HTTP floor**: ``GET /v1/episodes/<no such id>`` — the API's fixed cost per request (the
     round trip, the token check, the access-log entry, a 404) without any recall.

   Figures: p50/p95 per path, the p50 overhead over the baseline (ms and ratio) and the median
   of the paired differences (same question, same round: less sensitive to a busy machine).
   Target (issue #17): the API adds < 20 ms at p50.
2. **Load**: ``--clients`` clients, each on its own connection, for ``--seconds`` seconds, asking
   questions (60 %), listing episodes of a day (20 %), days (10 %) and fetching a thumbnail
   (10 %). Figures: requests, errors (any non-200 or transport error), p50/p95/max latency,
   throughput, and the server's RSS at the start, the end, its peak and every 5 s. Run
   ``--load-runs`` times back to back (default 2): the first run grows the server to its
   working size, the second shows whether it stays there.

Written to ``bench/results/api.json``. Nothing here is a test: tests never time things.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "api.json"
QUESTIONS = [
    "When did I last see a cat?",
    "When did I first have a coffee?",
    "How many times did I see a cat this week?",
    "Did I see a motorcycle yesterday?",
]


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def _memory_copy(tmp: Path) -> Path:
    from lifelog.api.demo import DEMO_PASSPHRASE, demo_data_dir, run_demo

    os.environ.setdefault("LIFELOG_PASSPHRASE", DEMO_PASSPHRASE)
    src = demo_data_dir(None)
    if not (src / "db").exists():
        log(f"building the sample-day memory in {src} (lifelog demo)…")
        run_demo(None)
    dst = tmp / "memory"
    shutil.copytree(src, dst)
    return dst


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start_server(data: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "lifelog", "--data-dir", str(data), "api", "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    line = ""
    while "API on" not in line:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            raise SystemExit("lifelog api did not start")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining its stderr
    return proc, line.split("API on ", 1)[1].split("/v1", 1)[0]


def overhead(data: Path, url: str, token: str, rounds: int) -> dict[str, Any]:
    import httpx

    from lifelog.api import Memory
    from lifelog.serve import ops

    mem = Memory(data)
    grant = ops.authenticate(mem, token, via="local")
    client = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"})
    paths: dict[str, Any] = {
        "in-process": lambda q: mem.ask(q),
        "ops": lambda q: ops.ask(mem, grant, q, via="local"),
        "http": lambda q: client.post("/v1/ask", json={"question": q}).raise_for_status(),
    }
    # the API's fixed cost per request: the round trip, the token check, the log entry, an answer
    # (a 404 for an episode that does not exist: no recall at all)
    paths["http-floor"] = lambda q: client.get("/v1/episodes/no-such-episode")
    for q in QUESTIONS:  # warm: models, caches, connections
        for fn in paths.values():
            fn(q)
    times: dict[str, list[float]] = {k: [] for k in paths}
    for r in range(rounds):
        for q in QUESTIONS:
            order = list(paths.items())
            order = order[r % len(order):] + order[:r % len(order)]  # rotate who goes first
            for name, fn in order:
                t = time.perf_counter()
                fn(q)
                times[name].append((time.perf_counter() - t) * 1000)
    client.close()
    base = statistics.median(times["in-process"])
    out: dict[str, Any] = {}
    for name, xs in times.items():
        p50 = statistics.median(xs)
        out[name] = {"n": len(xs), "p50_ms": round(p50, 2), "p95_ms": round(_pct(xs, 0.95), 2),
                     "overhead_p50_ms": round(p50 - base, 2), "ratio_p50": round(p50 / base, 3)}
        if name not in ("in-process", "http-floor"):  # the same question, same round: paired
            diffs = [a - b for a, b in zip(xs, times["in-process"], strict=True)]
            out[name]["paired_overhead_p50_ms"] = round(statistics.median(diffs), 2)
    return out


def load(data: Path, url: str, token: str, pid: int, clients: int, seconds: float) -> dict[str, Any]:
    import httpx

    from lifelog.api import Memory

    mem = Memory(data)
    days = [d.day.isoformat() for d in mem.days()]
    thumbs = [t for e in mem.episodes() for t in e.thumb_ids][:200]
    lat: list[float] = []
    errors: list[str] = []
    count = {"ask": 0, "episodes": 0, "days": 0, "thumbnail": 0}
    lock = threading.Lock()
    stop = threading.Event()
    go = threading.Barrier(clients + 1)
    rss = [_rss_mb(pid)]

    def client(i: int) -> None:
        rnd = random.Random(i)
        h = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, timeout=120, headers=h) as c:
            go.wait()
            while not stop.is_set():
                x = rnd.random()
                t = time.perf_counter()
                try:
                    if x < 0.6:
                        kind, r = "ask", c.post("/v1/ask", json={"question": rnd.choice(QUESTIONS)})
                    elif x < 0.8:
                        kind, r = "episodes", c.get("/v1/episodes", params={"day": rnd.choice(days)})
                    elif x < 0.9:
                        kind, r = "days", c.get("/v1/days")
                    else:
                        kind, r = "thumbnail", c.get(f"/v1/thumbnails/{rnd.choice(thumbs)}")
                    ok = r.status_code == 200
                    why = f"{kind}: {r.status_code} {r.text[:100]}"
                except httpx.HTTPError as e:
                    ok, kind, why = False, "transport", f"{type(e).__name__}: {e}"
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    lat.append(dt)
                    if kind in count:
                        count[kind] += 1
                    if not ok:
                        errors.append(why)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    go.wait()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        time.sleep(1.0)
        rss.append(_rss_mb(pid))
    stop.set()
    for t in threads:
        t.join(180)
    wall = time.perf_counter() - t0
    return {"clients": clients, "seconds": round(wall, 1), "requests": len(lat), "by_kind": count,
            "errors": len(errors), "error_examples": errors[:5],
            "p50_ms": round(_pct(lat, 0.5), 1), "p95_ms": round(_pct(lat, 0.95), 1), "max_ms": round(max(lat), 1),
            "requests_per_s": round(len(lat) / wall, 1),
            "rss_mb": {"start": round(rss[0], 1), "end": round(rss[-1], 1), "peak": round(max(rss), 1),
                       "every_5_s": [round(x, 1) for x in rss[::5]]}}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="timed asks per question and path (default 15)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--load-runs", type=int, default=2,
                    help="load runs back to back on the same server (the first warms it; default 2)")
    args = ap.parse_args()
    os.umask(0o077)
    with tempfile.TemporaryDirectory(prefix="lifelog-bench-api-") as tmp:
        data = _memory_copy(Path(tmp))
        from lifelog.api import Memory
        from lifelog.api.grants import grants_of

        _, token = grants_of(Memory(data)).add("bench", "all", days=1)
        proc, url = _start_server(data)
        try:
            log(f"server {url} (pid {proc.pid}); overhead: {args.rounds} rounds x {len(QUESTIONS)} questions")
            ov = overhead(data, url, token, args.rounds)
            for name, f in ov.items():
                log(f"  {name:<11} p50 {f['p50_ms']:8.2f} ms  p95 {f['p95_ms']:8.2f} ms  "
                    f"+{f['overhead_p50_ms']:6.2f} ms  x{f['ratio_p50']:.3f}  "
                    f"paired +{f.get('paired_overhead_p50_ms', float('nan')):6.2f} ms")
            runs = []
            for i in range(max(1, args.load_runs)):
                log(f"load run {i + 1}: {args.clients} clients for {args.seconds:.0f} s")
                ld = load(data, url, token, proc.pid, args.clients, args.seconds)
                log(f"  {ld['requests']} requests, {ld['errors']} errors, p50 {ld['p50_ms']} ms, "
                    f"p95 {ld['p95_ms']} ms, max {ld['max_ms']} ms, {ld['requests_per_s']} req/s, RSS {ld['rss_mb']}")
                runs.append(ld)
        finally:
            proc.terminate()
            proc.wait(60)
    doc = {
        "bench": "api", "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "memory": "lifelog demo sample days (copy)",
        "overhead": ov, "target_overhead_p50_ms": 20, "load": runs[0], "load_runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({"overhead_http_p50_ms": ov["http"]["overhead_p50_ms"],
                      "http_paired_overhead_p50_ms": ov["http"]["paired_overhead_p50_ms"],
                      "http_floor_p50_ms": ov["http-floor"]["p50_ms"],
                      "ratio_http_p50": ov["http"]["ratio_p50"], "load_errors": [r["errors"] for r in runs],
                      "load_p95_ms": [r["p95_ms"] for r in runs], "rss_mb": [r["rss_mb"] for r in runs]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
