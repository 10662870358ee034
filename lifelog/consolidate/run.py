"""One consolidation pass: the ordered, named steps of :mod:`lifelog.consolidate.steps` run
over one :class:`~lifelog.consolidate.context.ConsolidationContext`.

* **One pass at a time** per memory, across processes (:func:`lifelog.consolidate.state.pass_lock`):
  a second caller waits (``wait=True``) or gets :class:`~lifelog.consolidate.state.PassBusy`.
* **One writer**: each step that writes runs under the memory's write lock
  (:mod:`lifelog.store.lock`), taken per step, so an import started by the user during a
  long pass waits minutes at most, never the whole night. A pass that finds the memory busy
  waits for the writer (cancellable), then goes on.
* **Resumable**: ``<data>/consolidation/journal.json`` lists the steps this pass finished
  (written atomically after each). A pass that was killed (SIGKILL, power cut) or cancelled
  leaves it behind; the next pass, within :data:`RESUME_WITHIN_S`, skips the steps already
  done and finishes the rest. Each step is idempotent and replays its own journal of a
  half-done unit of work first, so killed mid-step, the next run completes that unit.
* **Progress and cancel**: ``ctx.progress(step, done, total)``; ``ctx.cancel`` (a
  ``threading.Event``) is checked between units of work, and a cancel request from another
  process (``lifelog consolidate --cancel``) sets it. The shared status file says which step
  runs and how far it is, for the app and the CLI of any process.
* **Faults**: a step that fails is logged, reported with its error and retried by the next
  pass; the pass goes on with the next step. A row a step cannot read is skipped (the step's
  ``skipped`` figure) and logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from lifelog.consolidate.context import ConsolidationContext
from lifelog.consolidate.state import (
    STATE_DIR,
    CancelWatch,
    Outcome,
    Running,
    clear_cancel,
    kill_point,
    pass_lock,
    update_status,
)
from lifelog.consolidate.steps import STEPS, Step
from lifelog.store.files import atomic_write
from lifelog.store.lock import WriteLockBusy, WriterWaitCancelled, write_lock

log = logging.getLogger("lifelog.consolidate")

JOURNAL = "journal.json"
#: A pass killed or cancelled less than this long ago is resumed (its finished steps skipped);
#: an older one is started afresh (every step is idempotent, so that is only slower).
RESUME_WITHIN_S = 20 * 3600.0
#: How long a step waits for another writer (an import) before it gives up for this pass.
WRITER_WAIT_S = 3600.0

StepStatus = Literal["done", "done-earlier", "failed", "cancelled", "not-run"]


@dataclass
class StepResult:
    name: str
    status: StepStatus
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "seconds": round(self.seconds, 3),
                "figures": self.figures, "error": self.error}


@dataclass
class PassResult:
    """What one pass did: per step its status, time and figures. ``to_json`` is the
    ``lifelog consolidate --json`` document (docs/cli.md)."""

    pass_id: str
    started: datetime
    finished: datetime | None
    now: datetime
    outcome: Outcome
    steps: list[StepResult]
    resumed: bool = False
    trigger: str = "manual"  # manual | scheduled
    night: str | None = None  # the night (YYYY-MM-DD it started) a scheduled pass ran for
    error: str | None = None

    @property
    def seconds(self) -> float:
        return (self.finished - self.started).total_seconds() if self.finished else 0.0

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "pass_id": self.pass_id,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "now": self.now.isoformat(),
            "outcome": self.outcome,
            "seconds": round(self.seconds, 3),
            "resumed": self.resumed,
            "trigger": self.trigger,
            "night": self.night,
            "error": self.error,
            "steps": [s.to_json() for s in self.steps],
        }


def _read_journal(ctx: ConsolidationContext) -> dict[str, Any] | None:
    try:
        doc = json.loads((ctx.data_dir / STATE_DIR / JOURNAL).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _write_journal(ctx: ConsolidationContext, doc: dict[str, Any]) -> None:
    atomic_write(ctx.data_dir / STATE_DIR / JOURNAL, json.dumps(doc, default=str).encode())


@contextlib.contextmanager
def _writer(ctx: ConsolidationContext, give_up_s: float) -> Iterator[None]:
    """The memory's write lock, waited for (cancellable) while an import holds it."""
    deadline = time.monotonic() + give_up_s
    while True:
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(write_lock(ctx.data_dir))
            break
        except WriteLockBusy:
            if time.monotonic() >= deadline:
                raise
            if ctx.cancel.wait(1.0):
                raise WriterWaitCancelled("cancelled while waiting for another writer") from None
    with stack:
        ctx.store.refresh()
        yield


class _StatusProgress:
    """Passes progress on to the caller and into the shared status (at most twice a second)."""

    def __init__(self, ctx: ConsolidationContext, running: Running) -> None:
        self.ctx, self.running = ctx, running
        self.outer = ctx.progress
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, step: str, done: int, total: int) -> None:
        with self._lock:
            changed = step != self.running.step
            self.running.step, self.running.done, self.running.total = step, done, total
            t = time.monotonic()
            if changed or t - self._last >= 0.5 or done >= total:
                self._last = t
                with contextlib.suppress(OSError):
                    update_status(self.ctx.data_dir, running=self.running.to_json())
        if self.outer is not None:
            self.outer(step, done, total)


def run_pass(
    ctx: ConsolidationContext,
    *,
    now: datetime | None = None,
    wait: bool = False,
    steps: Sequence[Step] | None = None,
    trigger: str = "manual",
    night: str | None = None,
    writer_wait_s: float = WRITER_WAIT_S,
    on_wait: Callable[[str], None] | None = None,
) -> PassResult:
    """Run one pass (see the module docstring). :class:`PassBusy` when another runs and not
    ``wait`` (with ``wait``, ``on_wait(message)`` says once that it waits). ``now`` is the time
    retention and descriptions judge by (default: now)."""
    steps = tuple(steps if steps is not None else STEPS)
    now = now or datetime.now().astimezone()
    with pass_lock(ctx.data_dir, wait=wait, cancel=ctx.cancel, on_wait=on_wait):
        return _run_locked(ctx, now, steps, trigger, night, writer_wait_s)


def _run_locked(
    ctx: ConsolidationContext, now: datetime, steps: Sequence[Step], trigger: str, night: str | None,
    writer_wait_s: float,
) -> PassResult:
    started = datetime.now().astimezone()
    journal = _read_journal(ctx)
    resumed = False
    done_before: set[str] = set()
    if journal is not None:
        age = time.time() - float(journal.get("started_ts") or 0.0)
        if 0 <= age <= RESUME_WITHIN_S:
            resumed = True
            done_before = {str(s) for s in journal.get("done") or []}
            log.info("consolidation: finishing the pass %s cut short earlier (done: %s)", journal.get("pass_id"),
                     ", ".join(sorted(done_before)) or "nothing")
    pass_id = str(journal["pass_id"]) if resumed and journal else uuid.uuid4().hex[:12]
    if not resumed:
        journal = {"pass_id": pass_id, "started": started.isoformat(), "started_ts": time.time(), "done": [],
                   "figures": {}}
        _write_journal(ctx, journal)
    assert journal is not None
    clear_cancel(ctx.data_dir)
    running = Running(pass_id=pass_id, pid=os.getpid(), started=started.isoformat(), steps=len(steps))
    update_status(ctx.data_dir, running=running.to_json())
    outer_progress = ctx.progress
    status_progress = _StatusProgress(ctx, running)
    ctx.progress = status_progress
    results: list[StepResult] = []
    outcome: Outcome = "ok"
    try:
        with CancelWatch(ctx.data_dir, pass_id, ctx.cancel):
            for i, step in enumerate(steps):
                running.step_index = i
                if step.name in done_before:
                    results.append(StepResult(step.name, "done-earlier",
                                              figures=dict((journal.get("figures") or {}).get(step.name) or {})))
                    continue
                if ctx.cancelled():
                    outcome = "cancelled"
                    results.append(StepResult(step.name, "not-run"))
                    continue
                status_progress(step.name, 0, 0)
                kill_point(f"{step.name}:before")
                res = _run_step(ctx, step, now, writer_wait_s)
                results.append(res)
                if res.status == "done":
                    journal["done"] = [*journal.get("done", []), step.name]
                    journal.setdefault("figures", {})[step.name] = res.figures
                    _write_journal(ctx, journal)
                elif res.status == "cancelled":
                    outcome = "cancelled"
                elif outcome == "ok":
                    outcome = "failed"
                kill_point(f"{step.name}:after")
    finally:
        ctx.progress = outer_progress
    finished = datetime.now().astimezone()
    failed = [r for r in results if r.status == "failed"]
    result = PassResult(pass_id, started, finished, now, outcome, results, resumed=resumed, trigger=trigger,
                        night=night, error="; ".join(f"{r.name}: {r.error}" for r in failed) or None)
    if outcome == "ok":
        (ctx.data_dir / STATE_DIR / JOURNAL).unlink(missing_ok=True)
    clear_cancel(ctx.data_dir)
    update_status(ctx.data_dir, running=None, last=result.to_json())
    log.info("consolidation pass %s: %s in %.1f s", pass_id, outcome, result.seconds)
    return result


def _run_step(ctx: ConsolidationContext, step: Step, now: datetime, writer_wait_s: float) -> StepResult:
    t0 = time.monotonic()
    try:
        if step.locks:
            with _writer(ctx, writer_wait_s):
                figures = step.fn(ctx, now)
        else:
            figures = step.fn(ctx, now)
    except WriterWaitCancelled:
        return StepResult(step.name, "cancelled", time.monotonic() - t0)
    except WriteLockBusy as e:
        log.warning("consolidation: step %s not run: %s", step.name, e)
        return StepResult(step.name, "failed", time.monotonic() - t0, error=str(e))
    except Exception as e:  # one step's failure never stops the others; the next pass retries it
        log.exception("consolidation: step %s failed", step.name)
        return StepResult(step.name, "failed", time.monotonic() - t0, error=f"{type(e).__name__}: {e}")
    status: StepStatus = "cancelled" if ctx.cancelled() else "done"
    return StepResult(step.name, status, time.monotonic() - t0, figures=figures)
