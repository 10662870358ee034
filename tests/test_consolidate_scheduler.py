"""The nightly schedule for real: APScheduler 3.x with its SQLite job store in the data dir,
firing within a shortened window, catching up once after a simulated sleep, missing a night that
is over, one host only, the clock jumping back and the zone changing; and ``lifelog service``
hosting it, stopped by SIGTERM. Memories here are empty (the pass itself is tested on real media
in test_consolidate.py): what is tested is when a pass runs, and how often."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time as _time
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import cli_env, json_doc, run_cli

from lifelog.paths import REPO_ROOT


def _window(start: datetime, length_s: int, tz: Any = UTC) -> Any:
    from lifelog.api.consolidate import Window

    s = start.astimezone(tz)
    e = s + timedelta(seconds=length_s)
    return Window(time(s.hour, s.minute, s.second), time(e.hour, e.minute, e.second), tz)


class Passes:
    def __init__(self) -> None:
        self.done: list[Any] = []
        self.event = threading.Event()

    def __call__(self, result: Any) -> None:
        self.done.append(result)
        self.event.set()


@pytest.fixture
def hosts() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for h in made:
        h.stop()


def _host(data_dir: Path, hosts: list[Any], window: Any, passes: Passes | None = None, **kw: Any) -> Any:
    from lifelog.api.consolidate import start_host

    h = start_host(data_dir, window=window, on_pass=passes, check_s=3600, **kw)
    assert h is not None
    hosts.append(h)
    return h


def _stored_next_run(data_dir: Path) -> float | None:
    with sqlite3.connect(data_dir / "consolidation" / "jobs.sqlite") as db:
        row = db.execute("SELECT next_run_time FROM apscheduler_jobs WHERE id = 'lifelog-consolidate'").fetchone()
    return None if row is None else row[0]


def _set_stored_next_run(data_dir: Path, when: datetime) -> None:
    """What a machine asleep through the window leaves: a next run time in the past (the job's
    row in APScheduler's SQLite store, as a stopped host leaves it, with that time)."""
    import pickle

    with sqlite3.connect(data_dir / "consolidation" / "jobs.sqlite") as db:
        (blob,) = db.execute("SELECT job_state FROM apscheduler_jobs WHERE id = 'lifelog-consolidate'").fetchone()
        state = pickle.loads(blob)
        state["next_run_time"] = when
        db.execute("UPDATE apscheduler_jobs SET job_state = ?, next_run_time = ? WHERE id = 'lifelog-consolidate'",
                   (pickle.dumps(state, pickle.HIGHEST_PROTOCOL), when.timestamp()))


def test_the_scheduler_fires_the_pass_in_its_window(data_dir: Path, hosts: list[Any]) -> None:
    from lifelog.api import Memory
    from lifelog.api import consolidate as cons

    Memory(data_dir)  # made (and the modules loaded) before the clock starts: the host opens it fast
    passes = Passes()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
    host = _host(data_dir, hosts, _window(start, 600), passes)
    assert (data_dir / "consolidation" / "jobs.sqlite").is_file()
    assert _stored_next_run(data_dir) == pytest.approx(start.timestamp())
    assert cons.status(data_dir).next_run == start.isoformat()
    assert passes.event.wait(120), "the scheduled pass did not run"
    result = passes.done[0]
    assert result.outcome == "ok" and result.trigger == "scheduled"
    assert result.night == start.date().isoformat()
    st = cons.status(data_dir)
    assert st.last is not None and st.last["pass_id"] == result.pass_id
    # the next run is the same time tomorrow, kept in the job store
    deadline = _time.monotonic() + 30
    while cons.status(data_dir).next_run == start.isoformat() and _time.monotonic() < deadline:
        _time.sleep(0.1)
    assert host.next_run() == start + timedelta(days=1)
    assert _stored_next_run(data_dir) == pytest.approx((start + timedelta(days=1)).timestamp())
    assert len(passes.done) == 1


def test_a_missed_window_runs_once_when_the_machine_wakes(data_dir: Path, hosts: list[Any]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    window = _window(now - timedelta(minutes=10), 3600)  # opened 10 minutes ago, for an hour
    first = _host(data_dir, hosts, window)
    assert first.next_run() == window_start_today(now, window) + timedelta(days=1)
    first.stop()
    hosts.remove(first)
    # asleep for three nights: the stored next run is three days back
    _set_stored_next_run(data_dir, window_start_today(now, window) - timedelta(days=3))
    passes = Passes()
    _host(data_dir, hosts, window, passes)
    assert passes.event.wait(120), "the missed pass was not caught up"
    assert len(passes.done) == 1 and passes.done[0].night == window_start_today(now, window).date().isoformat()
    # coalesced: the four missed run times gave one pass, and the next is tomorrow
    assert hosts[-1].next_run() == window_start_today(now, window) + timedelta(days=1)
    assert len(passes.done) == 1


def window_start_today(now: datetime, window: Any) -> datetime:
    """When the window last opened at or before ``now`` (yesterday's date just after midnight:
    the tests make windows relative to the time they run, which may be any time of day)."""
    start = datetime.combine(now.astimezone(window.tz).date(), window.start, tzinfo=window.tz)
    return start if start <= now else start - timedelta(days=1)


def test_waking_after_the_window_waits_for_the_next_night(data_dir: Path, hosts: list[Any]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    window = _window(now - timedelta(hours=2), 3600)  # closed an hour ago
    first = _host(data_dir, hosts, window)
    first.stop()
    hosts.remove(first)
    _set_stored_next_run(data_dir, window_start_today(now, window))
    passes = Passes()
    host = _host(data_dir, hosts, window, passes)
    deadline = _time.monotonic() + 60
    while not host.missed and _time.monotonic() < deadline:
        _time.sleep(0.1)
    assert host.missed == [window_start_today(now, window)]
    assert passes.done == []
    assert host.next_run() == window_start_today(now, window) + timedelta(days=1)


def test_one_host_only_and_the_other_process_sees_it(data_dir: Path, hosts: list[Any]) -> None:
    from lifelog.api import consolidate as cons
    from lifelog.api.consolidate import start_host

    now = datetime.now(UTC)
    host = _host(data_dir, hosts, _window(now + timedelta(hours=1), 3600), kind="app")
    assert start_host(data_dir, window=_window(now + timedelta(hours=1), 3600)) is None
    doc = json_doc(run_cli(data_dir, "consolidate", "--status", "--json"))
    assert doc["host"]["kind"] == "app"
    assert doc["next_run"] == host.next_run().isoformat()
    host.stop()
    hosts.remove(host)
    st = cons.status(data_dir)
    assert st.host is None and st.next_run is None
    # now another may host it
    _host(data_dir, hosts, _window(now + timedelta(hours=1), 3600))


def test_the_clock_jumping_back_never_runs_a_night_twice(data_dir: Path, hosts: list[Any]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    window = _window(now - timedelta(minutes=5), 3600)
    host = _host(data_dir, hosts, window)
    first = host.run_scheduled()
    assert first is not None and first.outcome == "ok"
    # the clock is set back an hour, and 02:00 (here: the window's start) comes round again:
    # the job fires again the same night; the pass sees the night had its pass and does nothing
    assert host.run_scheduled() is None
    assert len(host.passes) == 1
    # the watcher notices the jump (wall clock against the monotonic one) and computes the next
    # run again from the new time: still the next window, never one in the past
    host._drift -= 3600.0
    assert host.check_clock() == "clock"
    nxt = host.next_run()
    assert nxt is not None and nxt > datetime.now(UTC)
    assert nxt == window_start_today(now, window) + timedelta(days=1)


def test_a_zone_change_moves_the_window_to_the_new_zone(data_dir: Path, hosts: list[Any],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from lifelog.api import consolidate as cons
    from lifelog.api import settings as api_settings

    monkeypatch.setenv("TZ", "Europe/Berlin")
    _time.tzset()
    try:
        host = cons.start_host(data_dir, check_s=3600)
        assert host is not None
        hosts.append(host)
        nxt = host.next_run()
        assert nxt is not None and nxt.tzinfo is not None
        assert str(nxt.tzinfo) == "Europe/Berlin" and (nxt.hour, nxt.minute) == (2, 0)
        # the machine travels: the system zone is now New York
        monkeypatch.setenv("TZ", "America/New_York")
        _time.tzset()
        assert host.check_clock() == "zone"
        nxt = host.next_run()
        assert nxt is not None
        assert str(nxt.tzinfo) == "America/New_York" and (nxt.hour, nxt.minute) == (2, 0)
        assert cons.status(data_dir).window == {"start": "02:00", "end": "05:00", "timezone": "America/New_York"}
        # the zone chosen in Settings wins over the system's
        settings = api_settings.load_settings(data_dir)
        settings.timezone = "Asia/Tokyo"
        host.reload(settings)
        nxt = host.next_run()
        assert nxt is not None
        assert nxt.astimezone(ZoneInfo("Asia/Tokyo")).hour == 2
        assert host.check_clock() is None  # nothing changed since
    finally:
        monkeypatch.setenv("TZ", "UTC")
        _time.tzset()


def test_service_hosts_the_schedule_and_stops_on_sigterm(data_dir: Path) -> None:
    from lifelog.api import Memory

    Memory(data_dir)  # a memory to serve
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "service", "--port", "0", "--no-mdns",
         "--no-usb"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=cli_env(), cwd=REPO_ROOT,
    )
    try:
        assert proc.stderr is not None
        line = ""
        deadline = _time.monotonic() + 120
        while "running for" not in line and _time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
        assert "running for" in line, line
        assert "scheduler: next pass" in line and "receiver: listening on port" in line
        doc = json_doc(run_cli(data_dir, "consolidate", "--status", "--json"))
        assert doc["host"]["kind"] == "service" and doc["host"]["pid"] == proc.pid
        assert doc["next_run"] is not None
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    doc = json_doc(run_cli(data_dir, "consolidate", "--status", "--json"))
    assert doc["host"] is None


def test_consolidate_waits_for_a_running_pass_and_ctrl_c_cancels_the_wait(data_dir: Path) -> None:
    from lifelog.api import Memory
    from lifelog.consolidate.state import pass_lock

    Memory(data_dir)
    with pass_lock(data_dir):  # a pass "runs" in this process
        busy = run_cli(data_dir, "consolidate")
        assert busy.returncode == 2
        assert "already running" in busy.stderr and "--cancel" in busy.stderr
        proc = subprocess.Popen(
            [sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "consolidate", "--wait", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=REPO_ROOT,
        )
        try:
            assert proc.stderr is not None
            said = proc.stderr.readline()  # it says it waits, and waits as long as the pass runs
            assert "already running" in said and "waiting for it" in said, said
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err
    assert out == ""
    # once the other pass is over, `--wait` runs its own
    done = run_cli(data_dir, "consolidate", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    assert json_doc(done)["outcome"] == "ok"


def test_service_starts_in_order_stops_in_reverse_and_runs_on_when_a_part_fails(data_dir: Path,
                                                                                 tmp_path: Path) -> None:
    import socket

    from lifelog.api import Memory
    from lifelog.serve.service import ReceiverComponent, SchedulerComponent, Service, UsbWatchComponent

    mem = Memory(data_dir)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        usb = UsbWatchComponent(mem, roots=[tmp_path / "volumes"], interval_s=0.2)
        sched = SchedulerComponent(data_dir, window=_window(datetime.now(UTC) + timedelta(hours=1), 3600))
        receiver = ReceiverComponent(mem, "127.0.0.1", taken.getsockname()[1], advertise=False)
        service = Service([sched, receiver, usb])
        service.start()
        assert [c.name for c in service.started] == ["scheduler", "usb"]
        assert "receiver" in service.failed
        line = service.status_line()
        assert "scheduler: next pass" in line and "usb: watching" in line and "receiver: not running" in line
        from lifelog.api import consolidate as cons

        assert cons.status(data_dir).host is not None
        service.stop()
        assert service.started == []
        assert usb.status() == "stopped" and sched.status() == "stopped"
        assert cons.status(data_dir).host is None
    finally:
        taken.close()
