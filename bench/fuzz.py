"""Fuzz the Wi-Fi receiver for longer than the test suite does (issue #20).

The same hypothesis strategies as ``tests/test_wifi_fuzz.py`` — well-framed requests with fuzzed
methods, paths, headers and bodies on the main port; arbitrary bytes where a request should be;
LocalSend ``prepare-upload``/``upload``/``cancel`` with fuzzed bodies; the bulk port's head parser
and PUT checks — against a real receiver on loopback (TLS, a paired reference client, LocalSend
approvals on), with ``--scale`` times the suite's number of cases (default 10: 5,500 cases).
Each case must get an answer that is not a 5xx and echoes at most 2 KB, or a closed connection;
a hang fails the case (10 s deadline). Afterwards the receiver must still answer a valid info,
paired and LocalSend request.

    .venv/bin/python bench/fuzz.py               # 5,500 cases, ~5-10 min on 2 cores
    .venv/bin/python bench/fuzz.py --scale 2     # 1,100 cases
    .venv/bin/python bench/fuzz.py --seed 7      # another reproducible run

Loopback only; nothing is written outside a temporary data dir (no example database). Prints,
per target, the cases run, failures and time, and writes ``bench/results/fuzz.json``. A failure
prints hypothesis's minimal failing example and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for p in (REPO, REPO / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

#: (name, the test in tests/test_wifi_fuzz.py, its number of cases in the suite)
TARGETS = (
    ("main port requests", "test_fuzz_main_port_requests", 150),
    ("main port raw bytes", "test_fuzz_main_port_raw_bytes", 150),
    ("localsend", "test_fuzz_localsend", 100),
    ("bulk port", "test_fuzz_bulk_port", 150),
)


def _counting(test: Any, counter: list[int]) -> None:
    """Count the cases hypothesis runs (its documented ``inner_test`` hook)."""
    inner = test.hypothesis.inner_test

    def counted(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return inner(*args, **kwargs)

    test.hypothesis.inner_test = counted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=int, default=10, help="times the test suite's number of cases (default 10)")
    ap.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0: reproducible)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "fuzz.json")
    ap.add_argument("--verbose", action="store_true", help="show the receiver's line per refused request")
    args = ap.parse_args(argv)
    if not args.verbose:  # thousands of "400 …" lines otherwise; failures still print in full
        logging.getLogger("lifelog.wifi").setLevel(logging.ERROR)
    os.environ.setdefault("LIFELOG_PASSPHRASE", "test passphrase")

    from hypothesis import seed, settings
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(str(Path(tempfile.gettempdir()) / "lifelog-hypothesis"))
    import test_wifi_fuzz as fz
    from wifi_helpers import run_receiver

    from lifelog.sources.wifi.common import ReceiverLimits
    from lifelog.sources.wifi.localsend import approve_all

    started = datetime.now(UTC)
    load0 = list(os.getloadavg())
    rows: list[dict[str, Any]] = []
    failed = False
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lifelog-fuzz-") as tmp:
        data_dir = Path(tmp) / "memory"
        data_dir.mkdir()
        limits = ReceiverLimits(approval_prompts_per_address=10**6, approval_cooldown_s=0, read_timeout_s=5,
                                keepalive_timeout_s=5)
        with run_receiver(data_dir, limits, approve_localsend=approve_all) as running:
            client, pairing = running.pair("fuzz phone")
            fuzzed = (running, client, pairing)
            print(f"{'target':<22} {'cases':>6} {'failed':>6} {'time':>8}  per case", flush=True)
            for name, test_name, suite_n in TARGETS:
                test: Callable[..., None] = getattr(fz, test_name)
                n = suite_n * args.scale
                # the suite's own settings, more cases: hypothesis refuses a second @settings, so
                # the one it reads is replaced (the cases counted below show it took effect)
                test._hypothesis_internal_use_settings = settings(  # type: ignore[attr-defined]
                    test._hypothesis_internal_use_settings, max_examples=n)  # type: ignore[attr-defined]
                test = seed(args.seed)(test)
                counter = [0]
                _counting(test, counter)
                t = time.monotonic()
                error = None
                try:
                    test(fuzzed)
                except Exception as e:  # hypothesis re-raises the minimal failing example
                    failed = True
                    error = f"{type(e).__name__}: {e}"
                    traceback.print_exc()
                took = time.monotonic() - t
                rows.append({"target": name, "test": f"tests/test_wifi_fuzz.py::{test_name}", "max_examples": n,
                             "cases": counter[0], "failed": error, "seconds": round(took, 1),
                             "ms_per_case": round(1000 * took / max(1, counter[0]), 1)})
                print(f"{name:<22} {counter[0]:>6} {'yes' if error else 'no':>6} {took:>7.1f}s  "
                      f"{1000 * took / max(1, counter[0]):.1f} ms", flush=True)
            # still serving after everything
            alive = (client.info()["service"] == "lifelog" and client.have([]) == set()
                     and client.request("POST", "/api/localsend/v2/register", doc={"alias": "x"})[0] == 200)
            client.close()
    total = time.monotonic() - t_all
    cases = sum(r["cases"] for r in rows)
    print(f"\n{cases} cases in {total:.0f} s; receiver still serving afterwards: {alive}; "
          f"{'FAILURES' if failed else 'no failures'}")
    doc = {"started": started.isoformat(), "finished": datetime.now(UTC).isoformat(),
           "args": {"scale": args.scale, "seed": args.seed},
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                       "load_avg_at_start": load0, "load_avg_at_end": list(os.getloadavg())},
           "cases": cases, "total_s": round(total, 1), "still_serving": alive, "targets": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 1 if failed or not alive else 0


if __name__ == "__main__":
    raise SystemExit(main())
