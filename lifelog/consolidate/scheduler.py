"""The nightly schedule: an APScheduler 3.x ``BackgroundScheduler`` with a persistent
``SQLAlchemyJobStore`` (``<data>/consolidation/jobs.sqlite``), hosted by exactly one process.

* **One host.** Only the process holding ``host.lock`` (:func:`lifelog.consolidate.state.acquire_host`)
  runs the scheduler: the app while it is open, or ``lifelog service``. The other gets ``False``
  from :meth:`SchedulerHost.start` and shows the host's status instead.
* **The window.** ``consolidation.window_start``–``window_end`` in the memory's zone (the
  ``timezone`` setting, else the system's), default 02:00–05:00. The job is a cron trigger at
  the window's start with ``coalesce=True`` (nights missed in a row run once),
  ``max_instances=1`` and ``misfire_grace_time`` = the window's length: a laptop asleep at 02:00
  runs the pass **once** when it wakes, if that is still before 05:00; waking later, the pass
  waits for the next night (a pass at noon would slow the user's day; ``lifelog consolidate``
  runs one by hand at any time).
* **One pass per night.** A scheduled pass records the night it ran for (the date its window
  opened). A night that already has a finished scheduled pass is not run again: the clock
  jumping back an hour after 02:00 (a DST change, a wrong clock set right) or a move to a zone
  where 02:00 comes again does not run a second pass.
* **Clock and zone changes.** A watcher thread looks every ``check_s`` seconds: when the zone
  changed (travel, a settings change) the trigger is rebuilt in the new zone; when the wall
  clock jumped (against the monotonic clock) the next run is computed again from the new time,
  and the scheduler is woken so it does not sleep on a stale timeout.
* **Textual job reference.** The job function is ``lifelog.consolidate.scheduler:nightly_job``
  with the data dir as its one argument (a persistent store keeps references, not objects); it
  finds the host in this process, which builds the pass's context through the factory the
  facade handed over (``lifelog.api.consolidate``): this layer never opens a memory itself.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from lifelog.config import Settings
from lifelog.consolidate.context import ConsolidationContext, Progress
from lifelog.consolidate.run import PassResult, run_pass
from lifelog.consolidate.state import (
    STATE_DIR,
    HostLock,
    PassBusy,
    acquire_host,
    read_status,
    update_status,
)

log = logging.getLogger("lifelog.consolidate")

JOB_ID = "lifelog-consolidate"
JOB_FUNC = "lifelog.consolidate.scheduler:nightly_job"
JOBSTORE_FILE = "jobs.sqlite"

#: Builds the context of one scheduled pass (a fresh memory each night: settings re-read).
ContextFactory = Callable[[], ConsolidationContext]


def local_zone(settings: Settings) -> tzinfo:
    """The memory's zone: the ``timezone`` setting, else the system's (read again each time)."""
    from zoneinfo import ZoneInfo

    if settings.timezone:
        return ZoneInfo(settings.timezone)
    import tzlocal

    zone: tzinfo = tzlocal.reload_localzone()
    return zone


def _hhmm(s: str) -> time:
    return time(int(s[:2]), int(s[3:5]))


@dataclass(frozen=True)
class Window:
    """The nightly window in a zone; ``end`` before ``start`` crosses midnight."""

    start: time
    end: time
    tz: tzinfo

    @classmethod
    def from_settings(cls, settings: Settings) -> Window:
        c = settings.consolidation
        return cls(_hhmm(c.window_start), _hhmm(c.window_end), local_zone(settings))

    @property
    def length_s(self) -> int:
        a = self.start.hour * 3600 + self.start.minute * 60 + self.start.second
        b = self.end.hour * 3600 + self.end.minute * 60 + self.end.second
        return (b - a) % 86400 or 86400

    def night_of(self, when: datetime) -> date | None:
        """The date the window containing ``when`` opened on, or None outside the window."""
        local = when.astimezone(self.tz)
        for d in (local.date(), local.date() - timedelta(days=1)):
            opened = datetime.combine(d, self.start, tzinfo=self.tz)
            if opened <= local < opened + timedelta(seconds=self.length_s):
                return d
        return None

    def zone_key(self) -> str:
        return str(getattr(self.tz, "key", None) or self.tz)

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(timespec="minutes" if not self.start.second else "seconds"),
                "end": self.end.isoformat(timespec="minutes" if not self.end.second else "seconds"),
                "timezone": self.zone_key()}

    def trigger(self) -> Any:
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger(hour=self.start.hour, minute=self.start.minute, second=self.start.second,
                           timezone=self.tz)


_HOSTS: dict[str, SchedulerHost] = {}
_HOSTS_LOCK = threading.Lock()


def nightly_job(data_dir: str) -> None:
    """The scheduled job (referenced by text in the job store): the nightly pass of this memory."""
    with _HOSTS_LOCK:
        host = _HOSTS.get(data_dir)
    if host is None:
        log.warning("consolidation: no scheduler host for %s in this process; pass not run", data_dir)
        return
    host.run_scheduled()


class SchedulerHost:
    """Hosts the nightly schedule of one memory in this process (see the module docstring)."""

    def __init__(
        self,
        data_dir: Path,
        factory: ContextFactory,
        settings: Settings,
        *,
        kind: str = "app",
        window: Window | None = None,
        check_s: float = 30.0,
        progress: Progress | None = None,
        on_pass: Callable[[PassResult], None] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.factory = factory
        self.settings = settings
        self.kind = kind
        self._fixed_window = window
        self.window = window or Window.from_settings(settings)
        self.check_s = check_s
        self.progress = progress
        self.on_pass = on_pass
        self.scheduler: Any = None
        self._lock: HostLock | None = None
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._watcher: threading.Thread | None = None
        self._drift = 0.0
        self.passes: list[PassResult] = []
        self.missed: list[datetime] = []  # run times APScheduler dropped (past the window's end)

    # ------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self.scheduler is not None

    def start(self) -> bool:
        """Become the host and start the scheduler; False when another process is the host."""
        if self.scheduler is not None:
            return True
        lock = acquire_host(self.data_dir, self.kind)
        if lock is None:
            return False
        self._lock = lock
        try:
            self._start_scheduler()
        except BaseException:
            self._lock.release()
            self._lock = None
            raise
        return True

    def _start_scheduler(self) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        path = self.data_dir / STATE_DIR / JOBSTORE_FILE
        sched = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{path}")},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=self.window.tz,
            daemon=True,
        )
        with _HOSTS_LOCK:
            _HOSTS[str(self.data_dir)] = self
        sched.add_listener(self._after_job, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        sched.start(paused=True)
        self.scheduler = sched
        self._ensure_job()
        sched.resume()
        self._drift = _time.time() - _time.monotonic()
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="lifelog-consolidate-clock", daemon=True)
        self._watcher.start()
        self._publish()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the schedule (a running pass is cancelled and finished by the next one)."""
        self._stop.set()
        self._cancel.set()
        sched, self.scheduler = self.scheduler, None
        if sched is not None:
            with contextlib.suppress(Exception):
                sched.shutdown(wait=True)
        if self._watcher is not None:
            self._watcher.join(timeout=timeout_s)
            self._watcher = None
        with _HOSTS_LOCK:
            if _HOSTS.get(str(self.data_dir)) is self:
                del _HOSTS[str(self.data_dir)]
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # ------------------------------------------------------------------ job
    def _ensure_job(self) -> None:
        """Add the nightly job, or keep the stored one when its trigger is the same (so a run
        time that passed while the machine slept is still there to be caught up)."""
        sched = self.scheduler
        grace = self.window.length_s
        if not self.settings.consolidation.enabled:
            with contextlib.suppress(Exception):
                sched.remove_job(JOB_ID)
            return
        trigger = self.window.trigger()
        job = sched.get_job(JOB_ID)
        same = (
            job is not None
            and str(job.trigger) == str(trigger)
            and str(getattr(job.trigger, "timezone", "")) == str(trigger.timezone)
            and job.kwargs == {"data_dir": str(self.data_dir)}
        )
        if same:
            if job.misfire_grace_time != grace:
                sched.modify_job(JOB_ID, misfire_grace_time=grace)
            return
        sched.add_job(JOB_FUNC, trigger, id=JOB_ID, kwargs={"data_dir": str(self.data_dir)}, name="nightly pass",
                      replace_existing=True, misfire_grace_time=grace, coalesce=True, max_instances=1)

    def next_run(self) -> datetime | None:
        if self.scheduler is None:
            return None
        job = self.scheduler.get_job(JOB_ID)
        when: datetime | None = getattr(job, "next_run_time", None) if job is not None else None
        return when

    def _publish(self) -> None:
        nxt = self.next_run()
        with contextlib.suppress(OSError):
            update_status(self.data_dir, next_run=nxt.isoformat() if nxt else None, window=self.window.to_json())

    def _after_job(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_MISSED

        if event.code == EVENT_JOB_MISSED:
            log.info("consolidation: the pass of %s was missed (the machine was off past the window); "
                     "it runs next night", event.scheduled_run_time)
            self.missed.append(event.scheduled_run_time)
        self._publish()

    def run_scheduled(self) -> PassResult | None:
        """The nightly pass, unless this night already had one (or it is no longer the window)."""
        now = datetime.now(self.window.tz)
        night = self.window.night_of(now)
        if night is None:
            log.info("consolidation: woken outside the nightly window (%s); the pass waits for the next night",
                     now.isoformat())
            return None
        last = read_status(self.data_dir).last or {}
        if last.get("trigger") == "scheduled" and last.get("night") == night.isoformat() \
                and last.get("outcome") == "ok":
            log.info("consolidation: the night of %s had its pass already; not run again", night)
            return None
        self._cancel = threading.Event()
        if self._stop.is_set():
            return None
        ctx = self.factory()
        ctx.cancel = self._cancel
        if self.progress is not None:
            ctx.progress = self.progress
        try:
            result = run_pass(ctx, now=now, trigger="scheduled", night=night.isoformat())
        except PassBusy as e:
            log.info("consolidation: %s", e)
            return None
        self.passes.append(result)
        if self.on_pass is not None:
            self.on_pass(result)
        return result

    # ---------------------------------------------------------------- clock
    def _watch(self) -> None:
        while not self._stop.wait(self.check_s):
            with contextlib.suppress(Exception):
                self.check_clock()

    def check_clock(self) -> str | None:
        """Follow a zone change or a wall-clock jump; what was done (``zone`` | ``clock``) or None."""
        if self.scheduler is None:
            return None
        what = None
        if self._fixed_window is None:
            window = Window.from_settings(self.settings)
            if window != self.window:
                log.info("consolidation: the zone or window changed (%s → %s); rescheduled",
                         self.window.to_json(), window.to_json())
                self.window = window
                what = "zone"
        drift = _time.time() - _time.monotonic()
        if abs(drift - self._drift) > 60.0:
            log.info("consolidation: the clock jumped by %+.0f s; next run computed again", drift - self._drift)
            what = what or "clock"
        self._drift = drift
        if what == "zone":
            self.scheduler.add_job(JOB_FUNC, self.window.trigger(), id=JOB_ID,
                                   kwargs={"data_dir": str(self.data_dir)}, name="nightly pass",
                                   replace_existing=True, misfire_grace_time=self.window.length_s,
                                   coalesce=True, max_instances=1)
        elif what == "clock" and self.scheduler.get_job(JOB_ID) is not None:
            self.scheduler.reschedule_job(JOB_ID, trigger=self.window.trigger())
        if what:
            self.scheduler.wakeup()
            self._publish()
        return what

    def reload(self, settings: Settings) -> None:
        """New settings (the window, on/off): the job follows them."""
        self.settings = settings
        if self._fixed_window is None:
            self.window = Window.from_settings(settings)
        if self.scheduler is not None:
            self._ensure_job()
            self._publish()
