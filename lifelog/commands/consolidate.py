"""``lifelog consolidate`` — one nightly consolidation pass now, its status, or cancel a running one.

``lifelog consolidate [--now ISO8601] [--wait] [--json]`` runs a pass (progress on stderr,
Ctrl-C cancels: exit 130, and the next pass finishes it). ``--status`` prints the last pass, the
next scheduled one and the running one's progress; ``--cancel`` asks a pass running in another
process (the app, ``lifelog service``) to stop. Exit 2 when another pass runs (without ``--wait``).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from lifelog.commands.common import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_USAGE, CliError, emit, open_memory


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    c = sub.add_parser("consolidate", parents=[common],
                       help="tidy the memory now: merge fragments, re-group faces, compact, forget what is due")
    what = c.add_mutually_exclusive_group()
    what.add_argument("--status", action="store_true", help="the last pass, the next one, and one running now")
    what.add_argument("--cancel", action="store_true", help="ask a pass running in another process to stop")
    c.add_argument("--now", metavar="ISO8601", help="judge ages (retention, descriptions) as if it were this time")
    c.add_argument("--wait", action="store_true", help="when another pass runs, wait for it instead of exiting")
    c.add_argument("--json", action="store_true", help="print one JSON document")
    return {"consolidate": cmd_consolidate}


def _data_dir(args: argparse.Namespace) -> Any:
    from lifelog.api import settings as paths

    return paths.data_dir(getattr(args, "data_dir", None))


class _StepLine:
    """``[3/8] dedup 120/400`` on stderr: rewritten on a terminal, every few seconds otherwise."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._step = ""

    def __call__(self, step: str, done: int, total: int) -> None:
        now = time.monotonic()
        new = step != self._step
        if not new and now - self._last < (0.2 if self.tty else 5.0):
            return
        self._last, self._step = now, step
        i = self.names.index(step) + 1 if step in self.names else 0
        line = f"[{i}/{len(self.names)}] {step}" + (f" {done}/{total}" if total else "")
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def end(self) -> None:
        if self.tty and self._step:
            sys.stderr.write("\n")
            sys.stderr.flush()


def cmd_consolidate(args: argparse.Namespace) -> int:
    from lifelog.api import consolidate as cons

    if args.status:
        st = cons.status(_data_dir(args))
        if args.json:
            emit(st.to_json())
        else:
            print(_describe_status(st))
        return EXIT_OK
    if args.cancel:
        pass_id = cons.request_cancel(_data_dir(args))
        if args.json:
            emit({"cancel_requested": pass_id is not None, "pass_id": pass_id})
        elif pass_id is None:
            print("no consolidation pass is running")
        else:
            print("asked the running consolidation pass to stop; it stops after its current unit of work")
        return EXIT_OK
    now = None
    if args.now:
        from lifelog.api.words import parse_now

        try:
            now = parse_now(args.now)
        except ValueError as e:
            raise CliError(f"--now: {e}", EXIT_USAGE) from None
    mem = open_memory(args)
    cancel = threading.Event()
    line = _StepLine(cons.STEP_NAMES)
    box: dict[str, Any] = {}
    finished = threading.Event()  # not Thread.join: a join cut by Ctrl-C may report the thread gone

    def work() -> None:
        try:
            box["result"] = cons.run_pass(mem, now=now, progress=line, cancel=cancel, wait=args.wait,
                                          on_wait=lambda m: print(f"lifelog: {m} (Ctrl-C stops waiting)",
                                                                  file=sys.stderr, flush=True))
        except BaseException as e:  # handed to the main thread
            box["error"] = e
        finally:
            finished.set()

    threading.Thread(target=work, name="lifelog-consolidate", daemon=True).start()
    try:
        while not finished.wait(0.2):
            pass
    except KeyboardInterrupt:
        cancel.set()
        print("\nlifelog: cancelling; the next pass finishes what this one began", file=sys.stderr)
        finished.wait()
    line.end()
    if "error" in box:
        err = box["error"]
        if isinstance(err, cons.PassBusy):
            if cancel.is_set():
                raise CliError("cancelled while waiting for the other pass", EXIT_CANCELLED) from None
            raise CliError(str(err), EXIT_USAGE) from None
        raise err
    result = box["result"]
    if args.json:
        emit(result.to_json())
    else:
        _print_result(result)
    if result.outcome == "cancelled":
        return EXIT_CANCELLED
    return EXIT_OK if result.outcome == "ok" else EXIT_ERROR


def _print_result(result: Any) -> None:
    print(f"consolidation pass {result.outcome} in {result.seconds:.1f} s"
          + (" (finished a pass cut short earlier)" if result.resumed else ""))
    for s in result.steps:
        figs = ", ".join(f"{k} {v}" for k, v in s.figures.items() if not isinstance(v, (list, dict)))
        print(f"  {s.name:<10} {s.status:<12} {figs}" + (f"  error: {s.error}" if s.error else ""))


def _describe_status(st: Any) -> str:
    lines = []
    if st.last:
        lines.append(f"last pass: {st.last.get('outcome')} at {st.last.get('finished') or st.last.get('started')} "
                     f"({st.last.get('seconds')} s, {st.last.get('trigger')})")
    else:
        lines.append("last pass: none yet")
    if st.host:
        nxt = st.next_run or "not scheduled (nightly consolidation is off)"
        lines.append(f"next pass: {nxt} (scheduled by the {st.host.get('kind')}, process {st.host.get('pid')})")
    else:
        lines.append("next pass: not scheduled (neither the app nor `lifelog service` is running)")
    if st.running:
        r = st.running
        prog = f" {r.done}/{r.total}" if r.total else ""
        lines.append(f"running now: step {r.step_index + 1}/{r.steps} {r.step}{prog} (process {r.pid})")
    return "\n".join(lines)

