"""Nightly consolidation, for the front ends (the app, ``lifelog consolidate``, ``lifelog service``).

* :func:`run_pass` — one pass now (progress ``(step, done, total)``, a ``threading.Event`` to
  cancel); :class:`PassBusy` when another process runs one (unless ``wait``).
* :func:`status` — the last pass, the next scheduled one, the running one's step and progress,
  as any process sees them (:class:`Status`); :func:`request_cancel` stops a pass running in
  another process (the app's Cancel while the service runs the pass, ``--cancel``).
* :func:`start_host` / :meth:`SchedulerHost.stop` — host the nightly schedule in this process
  (the app while open, or ``lifelog service``); ``None`` when another process hosts it already.

See docs/consolidation.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from lifelog.api.memory import Memory
from lifelog.consolidate.context import ConsolidationContext, Progress
from lifelog.consolidate.run import PassResult, StepResult
from lifelog.consolidate.run import run_pass as _run
from lifelog.consolidate.scheduler import SchedulerHost, Window
from lifelog.consolidate.state import PassBusy, Running, Status, pass_running, read_status
from lifelog.consolidate.state import request_cancel as _request_cancel
from lifelog.consolidate.steps import STEPS

#: The step names of a pass, in order (for a front end's progress: step i of n).
STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)
STEP_TITLES: dict[str, str] = {s.name: s.title for s in STEPS}


def context_of(memory: Memory, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> ConsolidationContext:
    """The pass's view of a memory: its folder, settings, tables, vault and zone."""
    return ConsolidationContext(
        data_dir=memory.data_dir, settings=memory.settings, store=memory.store, vault=memory.vault,
        tz=memory.tz, cancel=cancel or threading.Event(), progress=progress,
    )


def run_pass(
    memory: Memory,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> PassResult:
    """One consolidation pass now (``lifelog consolidate``). Run it off the UI thread. With
    ``wait``, a pass running elsewhere is waited for (``on_wait(message)`` says so once)."""
    return _run(context_of(memory, progress, cancel), now=now, wait=wait, on_wait=on_wait)


def status(data_dir: Path | str) -> Status:
    return read_status(Path(data_dir))


def request_cancel(data_dir: Path | str) -> str | None:
    """Ask the running pass to stop (any process); its id, or None when no pass runs."""
    return _request_cancel(Path(data_dir))


def is_running(data_dir: Path | str) -> bool:
    return pass_running(Path(data_dir))


def start_host(
    data_dir: Path | str | None = None,
    *,
    kind: str = "app",
    passphrase: str | None = None,
    window: Window | None = None,
    check_s: float = 30.0,
    progress: Progress | None = None,
    on_pass: Callable[[PassResult], None] | None = None,
) -> SchedulerHost | None:
    """Host the nightly schedule of a memory in this process; None when another process (the
    app or ``lifelog service``) hosts it. Each scheduled pass opens the memory afresh (settings
    are read again). Call :meth:`SchedulerHost.stop` on the way out."""
    first = Memory(data_dir, passphrase=passphrase)

    def factory() -> ConsolidationContext:
        return context_of(Memory(first.data_dir, passphrase=passphrase))

    host = SchedulerHost(first.data_dir, factory, first.settings, kind=kind, window=window, check_s=check_s,
                         progress=progress, on_pass=on_pass)
    return host if host.start() else None


__all__ = [
    "STEP_NAMES",
    "STEP_TITLES",
    "PassBusy",
    "PassResult",
    "Progress",
    "Running",
    "SchedulerHost",
    "Status",
    "StepResult",
    "Window",
    "context_of",
    "is_running",
    "request_cancel",
    "run_pass",
    "start_host",
    "status",
]
