"""What the app, the CLI and the service share about consolidation, across processes.

Everything lives in ``<data>/consolidation/``:

* ``status.json`` — the last pass (when, ok / cancelled / failed, its figures), the next
  scheduled run, and the running pass's step and progress. Written atomically
  (:func:`lifelog.store.files.atomic_write`) under a short ``status.lock`` so the pass and the
  scheduler host never lose each other's fields; readable by any process at any time.
* ``host.lock`` — held (``fcntl.flock``) by the one process that hosts the scheduler: the app
  when it is open, or ``lifelog service``. A second would-be host gets ``None`` and leaves the
  scheduling to the first (:func:`acquire_host`). The kernel drops the lock when the holder
  dies, so a SIGKILLed host never blocks the next one.
* ``pass.lock`` — held for the whole of a running pass. A second process that wants to run a
  pass waits for it or gets :class:`PassBusy` with a message that says so (:func:`pass_lock`).
  Whether a pass is running is judged by this lock, never by ``status.json`` alone (a killed
  pass leaves its ``running`` entry behind; readers see it is stale).
* ``cancel`` — a cancel request for the running pass (``lifelog consolidate --cancel``, the
  app's Cancel button in another process): it names the pass it is for, so a request left over
  never cancels the next pass. The pass polls it between units of work.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from lifelog.store.files import atomic_write

log = logging.getLogger("lifelog.consolidate")

STATE_DIR = "consolidation"
STATUS_FILE = "status.json"
HOST_LOCK = "host.lock"
HOST_FILE = "host.json"
PASS_LOCK = "pass.lock"
CANCEL_FILE = "cancel"
#: Test hook: ``LIFELOG_CONSOLIDATE_KILL_AT=<step>:<point>`` SIGKILLs the process there
#: (points: ``before``, ``mid``, ``after``). Used by the crash tests; never set by the product.
KILL_ENV = "LIFELOG_CONSOLIDATE_KILL_AT"

Outcome = Literal["ok", "cancelled", "failed"]


class PassBusy(RuntimeError):
    """Another process (or thread) is running a consolidation pass on this memory now."""


def state_dir(data_dir: Path) -> Path:
    d = data_dir / STATE_DIR
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def kill_point(point: str) -> None:
    """The crash tests' hook: die here, like a power cut, when the environment asks for it."""
    if os.environ.get(KILL_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


# ------------------------------------------------------------------- status
@dataclass
class Running:
    """The pass running now: its id, process, step and progress within the step."""

    pass_id: str
    pid: int
    started: str
    step: str = ""
    done: int = 0
    total: int = 0
    step_index: int = 0
    steps: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"pass_id": self.pass_id, "pid": self.pid, "started": self.started, "step": self.step,
                "done": self.done, "total": self.total, "step_index": self.step_index, "steps": self.steps}


@dataclass
class Status:
    """What a front end shows: the last pass, the next one, the running one (None when idle)."""

    last: dict[str, Any] | None = None  # PassResult.to_json() of the last finished pass
    next_run: str | None = None  # ISO time of the next scheduled pass (None: not scheduled)
    host: dict[str, Any] | None = None  # {"pid", "kind"} of the process hosting the scheduler
    running: Running | None = None
    window: dict[str, str] | None = None  # {"start": "02:00", "end": "05:00", "timezone": …}

    def to_json(self) -> dict[str, Any]:
        return {"last": self.last, "next_run": self.next_run, "host": self.host,
                "running": self.running.to_json() if self.running else None, "window": self.window}


@contextlib.contextmanager
def _status_lock(data_dir: Path) -> Iterator[None]:
    fd = os.open(state_dir(data_dir) / "status.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_raw(data_dir: Path) -> dict[str, Any]:
    try:
        doc = json.loads((data_dir / STATE_DIR / STATUS_FILE).read_bytes())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def update_status(data_dir: Path, **fields: Any) -> None:
    """Set top-level fields of ``status.json`` (others are kept), atomically."""
    with _status_lock(data_dir):
        doc = _read_raw(data_dir)
        doc.update(fields)
        atomic_write(data_dir / STATE_DIR / STATUS_FILE, json.dumps(doc, default=str).encode())


def read_status(data_dir: Path) -> Status:
    """The status as any process sees it now (a stale ``running`` entry of a killed pass and a
    host that is gone are left out)."""
    doc = _read_raw(data_dir)
    running = None
    r = doc.get("running")
    if isinstance(r, dict) and pass_running(data_dir):
        with contextlib.suppress(TypeError):
            running = Running(**r)
    host = doc.get("host") if isinstance(doc.get("host"), dict) and host_running(data_dir) else None
    return Status(
        last=doc.get("last") if isinstance(doc.get("last"), dict) else None,
        next_run=doc.get("next_run") if host is not None else None,
        host=host,
        running=running,
        window=doc.get("window") if isinstance(doc.get("window"), dict) else None,
    )


# ---------------------------------------------------------------- pass lock
def _held_by_other(path: Path) -> bool:
    """True when another open file description holds an flock on ``path``."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def pass_running(data_dir: Path) -> bool:
    """Whether a pass runs now on this memory (in any process, this one included: an flock is
    held per open file, so this process's own pass holds it against this probe too)."""
    return _held_by_other(data_dir / STATE_DIR / PASS_LOCK)


@contextlib.contextmanager
def pass_lock(data_dir: Path, *, wait: bool = False, cancel: threading.Event | None = None,
              poll_s: float = 0.5, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the pass lock; :class:`PassBusy` when another pass runs and not ``wait`` (with
    ``wait``: poll until it is free — ``on_wait(message)`` is called once when waiting starts —
    or :class:`PassBusy` as soon as ``cancel`` is set)."""
    fd = os.open(state_dir(data_dir) / PASS_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                running = _read_raw(data_dir).get("running") or {}
                who = f" (process {running.get('pid')}, step {running.get('step') or '…'})" if running else ""
                msg = f"a consolidation pass is already running on {data_dir}{who}"
                if not wait:
                    raise PassBusy(msg + "; wait for it, or cancel it with `lifelog consolidate --cancel`") from None
                if on_wait is not None:
                    on_wait(msg + "; waiting for it")
                    on_wait = None
                if cancel is not None and cancel.wait(poll_s):
                    raise PassBusy(msg + "; gave up waiting (cancelled)") from None
                if cancel is None:
                    time.sleep(poll_s)
        yield
    finally:
        os.close(fd)


# ------------------------------------------------------------------- cancel
def request_cancel(data_dir: Path) -> str | None:
    """Ask the running pass (in whichever process) to stop; its id, or None when none runs."""
    if not pass_running(data_dir):
        return None
    pass_id = str((_read_raw(data_dir).get("running") or {}).get("pass_id") or "")
    atomic_write(state_dir(data_dir) / CANCEL_FILE, pass_id.encode())
    return pass_id or None


def cancel_requested(data_dir: Path, pass_id: str) -> bool:
    try:
        return (data_dir / STATE_DIR / CANCEL_FILE).read_text().strip() == pass_id
    except OSError:
        return False


def clear_cancel(data_dir: Path) -> None:
    (data_dir / STATE_DIR / CANCEL_FILE).unlink(missing_ok=True)


class CancelWatch:
    """Sets ``event`` when another process asks the pass ``pass_id`` to stop (polls the file)."""

    def __init__(self, data_dir: Path, pass_id: str, event: threading.Event, poll_s: float = 0.5) -> None:
        self.data_dir, self.pass_id, self.event, self.poll_s = data_dir, pass_id, event, poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lifelog-consolidate-cancel", daemon=True)

    def __enter__(self) -> CancelWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            if cancel_requested(self.data_dir, self.pass_id):
                log.info("consolidation pass %s: cancel requested by another process", self.pass_id)
                self.event.set()
                return


# --------------------------------------------------------------------- host
class HostLock:
    """The single-instance rule for the scheduler: held while this process hosts it."""

    def __init__(self, data_dir: Path, fd: int, kind: str) -> None:
        self.data_dir, self._fd, self.kind = data_dir, fd, kind

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                (self.data_dir / STATE_DIR / HOST_FILE).unlink(missing_ok=True)
            update_status(self.data_dir, host=None, next_run=None)
            os.close(self._fd)
            self._fd = -1


def acquire_host(data_dir: Path, kind: str) -> HostLock | None:
    """Become the scheduler host (``kind``: ``app`` | ``service`` | …), or None when another
    process is the host already."""
    fd = os.open(state_dir(data_dir) / HOST_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    info = {"pid": os.getpid(), "kind": kind, "since": datetime.now().astimezone().isoformat()}
    atomic_write(data_dir / STATE_DIR / HOST_FILE, json.dumps(info).encode())
    update_status(data_dir, host=info)
    return HostLock(data_dir, fd, kind)


def host_running(data_dir: Path) -> bool:
    """Whether a process (this one included) hosts the scheduler of this memory now."""
    return _held_by_other(data_dir / STATE_DIR / HOST_LOCK)
