"""What MCP adds to `ask`: the same questions in-process and over MCP (stdio and streamable HTTP),
warm, in one run.

    .venv/bin/python bench/mcp.py [--rounds 15]

The memory is a copy of the sample-day memory that ``lifelog demo`` builds (built here first when
it is missing), so the grant this bench creates never touches the user's demo. Measured, each
question asked ``--rounds`` times after a warm-up, interleaved so no path gets a cache the
others do not:

* **in-process**: ``Memory.ask`` (the answer the CLI and the app get: the baseline);
* **ops**: ``lifelog.serve.ops.ask`` in-process (the grant's checks and its access log added);
* **MCP dispatch**: the MCP server's own ``call_tool("ask")`` in-process, no transport (the SDK's
  argument validation and result building, the token check, ops);
* **MCP stdio**: ``call_tool("ask")`` through the SDK's ``stdio_client`` to a ``python -m lifelog
  mcp`` subprocess, without images, and with thumbnails as images;
* **MCP HTTP**: the same through ``streamable_http_client`` to ``lifelog mcp --http`` on loopback
  (its own process, as a client finds it), without and with images;
* **ping** over each transport: the protocol's round trip alone (the floor of any tool call).

Figures: p50 and p95 per path, the p50 overhead of each over the in-process baseline (ms and as
a ratio), and the *paired* p50 overhead: the median over (round, question) of the MCP call's time
minus the in-process answer's to the same question in the same round — robust to the load other
processes put on a shared machine (the load average is recorded too). Target (issue #17): MCP
adds < 20 ms at p50. Written to ``bench/results/mcp.json``.
Nothing here is a test: tests never time things.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# This file is bench/mcp.py: its own folder on sys.path would shadow the MCP SDK (``import mcp``).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "mcp.json"
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
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _memory_copy(tmp: Path) -> tuple[Path, str]:
    from lifelog.api.demo import DEMO_PASSPHRASE, demo_data_dir, run_demo

    os.environ.setdefault("LIFELOG_PASSPHRASE", DEMO_PASSPHRASE)
    src = demo_data_dir(None)
    if not (src / "db").exists():
        log(f"building the sample-day memory in {src} (lifelog demo)…")
        run_demo(None)
    dst = tmp / "memory"
    shutil.copytree(src, dst)
    return dst, os.environ["LIFELOG_PASSPHRASE"]


@contextlib.contextmanager
def _http_server(data_dir: Path, passphrase: str) -> Iterator[str]:
    """``lifelog mcp --http --port 0`` in its own process (as a client would find it); its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "mcp", "--http", "--port", "0"],
        env={**os.environ, "LIFELOG_PASSPHRASE": passphrase}, cwd=REPO, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        url = ""
        for line in proc.stderr:
            if "streamable HTTP at" in line:
                url = line.split(" at ", 1)[1].split()[0]
                break
        if not url:
            raise RuntimeError("lifelog mcp --http did not start")
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its stderr drained
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="timed asks per question and path (default 15)")
    args = ap.parse_args()
    os.umask(0o077)
    import anyio

    load_start = list(os.getloadavg())

    with tempfile.TemporaryDirectory(prefix="lifelog-bench-mcp-") as tmp_s:
        data_dir, passphrase = _memory_copy(Path(tmp_s))
        from lifelog.api import Memory
        from lifelog.api.grants import Grants
        from lifelog.serve import ops
        from lifelog.serve.mcp import build_server

        mem = Memory(data_dir)
        grant, token = Grants(data_dir).add("bench", "all", days=1)
        now = max(e.end for e in mem.episodes())
        now_iso = now.isoformat()
        log(f"memory: {mem.stats()}; now = {now_iso}")
        times: dict[str, list[float]] = {}

        def record(name: str, seconds: float) -> None:
            times.setdefault(name, []).append(seconds * 1000)

        async def run_all() -> None:
            import httpx2
            from mcp import ClientSession, StdioServerParameters, stdio_client
            from mcp.client.streamable_http import streamable_http_client

            params = StdioServerParameters(
                command=sys.executable, args=["-m", "lifelog", "--data-dir", str(data_dir), "mcp"],
                env={"LIFELOG_PASSPHRASE": passphrase, "LIFELOG_GRANT_TOKEN": token}, cwd=str(REPO),
            )
            with _http_server(data_dir, passphrase) as url:
                async with stdio_client(params) as (sr, sw), ClientSession(sr, sw) as stdio, \
                        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as hc, \
                        streamable_http_client(url, http_client=hc) as (hr, hw), \
                        ClientSession(hr, hw) as http:
                    await stdio.initialize()
                    await http.initialize()

                    async def over(session: Any, q: str, images: bool) -> None:
                        res = await session.call_tool("ask", {"question": q, "now": now_iso, "images": images})
                        if res.is_error:
                            raise RuntimeError(res.content[0].text)

                    def inproc(q: str) -> Callable[[], Awaitable[None]]:
                        async def go() -> None:
                            mem.ask(q, now=now, limit=5)
                        return go

                    def viaops(q: str) -> Callable[[], Awaitable[None]]:
                        async def go() -> None:
                            ops.ask(mem, grant, q, now=now, limit=5, via="local")
                        return go

                    dispatcher = build_server(mem, token=token)

                    def dispatch(q: str) -> Callable[[], Awaitable[None]]:
                        async def go() -> None:
                            res = await dispatcher.call_tool("ask", {"question": q, "now": now_iso, "images": False})
                            assert not getattr(res, "is_error", False)
                        return go

                    def mcp(session: Any, q: str, images: bool) -> Callable[[], Awaitable[None]]:
                        async def go() -> None:
                            await over(session, q, images)
                        return go

                    def ping(session: Any) -> Callable[[], Awaitable[None]]:
                        async def go() -> None:
                            await session.send_ping()
                        return go

                    for rnd in range(args.rounds + 1):  # round 0 warms every path up
                        for q in QUESTIONS:
                            paths: list[tuple[str, Callable[[], Awaitable[None]]]] = [
                                ("in_process", inproc(q)),
                                ("ops", viaops(q)),
                                ("mcp_dispatch", dispatch(q)),
                                ("mcp_stdio", mcp(stdio, q, False)),
                                ("mcp_http", mcp(http, q, False)),
                                ("mcp_stdio_images", mcp(stdio, q, True)),
                                ("mcp_http_images", mcp(http, q, True)),
                                ("ping_stdio", ping(stdio)),
                                ("ping_http", ping(http)),
                            ]
                            if rnd:  # the order rotates, so no path always runs first (or after another)
                                k = (rnd * len(QUESTIONS) + QUESTIONS.index(q)) % len(paths)
                                paths = paths[k:] + paths[:k]
                            for name, fn in paths:
                                t0 = time.perf_counter()
                                await fn()
                                if rnd:
                                    record(name, time.perf_counter() - t0)
                        if rnd:
                            log(f"round {rnd}/{args.rounds}")

        anyio.run(run_all)

    base = statistics.median(times["in_process"])
    doc: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "questions": QUESTIONS, "rounds": args.rounds,
        "paths": {},
        "target": "MCP adds < 20 ms to the in-process answer (p50, warm)",
    }
    print(f"{'path':<18} {'p50 ms':>8} {'p95 ms':>8} {'+p50 ms':>8} {'ratio':>6}")
    order = ["in_process", "ops", "mcp_dispatch", "mcp_stdio", "mcp_http", "mcp_stdio_images", "mcp_http_images",
             "ping_stdio", "ping_http"]
    for name in sorted(times, key=lambda n: order.index(n) if n in order else len(order)):
        xs = times[name]
        p50 = statistics.median(xs)
        row = {"n": len(xs), "p50_ms": round(p50, 2), "p95_ms": round(_pct(xs, 0.95), 2),
               "overhead_p50_ms": round(p50 - base, 2), "ratio_p50": round(p50 / base, 3)}
        doc["paths"][name] = row
        print(f"{name:<18} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['overhead_p50_ms']:>8.1f} "
              f"{row['ratio_p50']:>6.2f}")
    ops_p50 = doc["paths"]["ops"]["p50_ms"]
    for k in ("mcp_dispatch", "mcp_stdio", "mcp_http", "mcp_stdio_images", "mcp_http_images"):
        row = doc["paths"][k]
        row["overhead_vs_ops_p50_ms"] = round(row["p50_ms"] - ops_p50, 2)
        # Paired: each call against the in-process answer to the same question in the same round
        # (run moments apart), so load from other processes mostly cancels out.
        for ref in ("in_process", "ops"):
            diffs = [a - b for a, b in zip(times[k], times[ref], strict=True)]
            row[f"paired_overhead_vs_{ref}_p50_ms"] = round(statistics.median(diffs), 2)
    doc["load_average"] = {"start": load_start, "end": list(os.getloadavg())}
    print("paired p50 overhead (ms): " + ", ".join(
        f"{k} {doc['paths'][k]['paired_overhead_vs_in_process_p50_ms']:+.1f} "
        f"(vs ops {doc['paths'][k]['paired_overhead_vs_ops_p50_ms']:+.1f})"
        for k in ("mcp_dispatch", "mcp_stdio", "mcp_http", "mcp_stdio_images", "mcp_http_images")))
    worst = max(doc["paths"][k]["paired_overhead_vs_in_process_p50_ms"] for k in ("mcp_stdio", "mcp_http"))
    doc["met"] = worst < 20
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"written to {RESULTS}; target {'met' if doc['met'] else 'NOT met'} (worst MCP overhead {worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
