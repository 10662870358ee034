"""One pause for everything: the capture state every capture path obeys.

The state lives in ``<data>/capture.json`` (written whole with
:func:`lifelog.store.files.atomic_write`)::

    {"paused": true, "until": "2026-12-06T22:30:00+00:00" | null, "since": "2026-12-06T21:30:00+00:00"}

* :func:`pause` (for a duration, until a time, or until :func:`resume`), :func:`resume`,
  :func:`state` — a timed pause resumes by itself: once ``until`` passed, :func:`state` says
  "not paused" (the file is left as it is; nothing has to run at that moment).
* :class:`CaptureWatch` is the cheap check for loops (a recorder's frame loop, a download's chunk
  loop, the receiver's request handlers): it re-reads the file at most every ``interval_s``
  (0.5 s), and only when its mtime / inode / size changed, so every capture path sees a pause
  within a second.
* A file that cannot be read or parsed counts as **paused** (fail closed: a damaged switch never
  turns capture on); ``lifelog resume`` writes it again.

Who obeys it: webcam recording (:mod:`lifelog.sources.webcam`), device sync and ``sync --watch``
(:mod:`lifelog.sources.sync`), the Wi-Fi / LocalSend receiver (:mod:`lifelog.sources.wifi`) and
the app's automatic imports. A manual ``lifelog import`` of files the user picked is not capture
and still works (it says that capture is paused).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lifelog.store.files import atomic_write

CAPTURE_FILE = "capture.json"
CHECK_INTERVAL_S = 0.5


class CaptureError(ValueError):
    """A pause that cannot be: a bad duration or time."""


@dataclass(frozen=True)
class CaptureState:
    paused: bool
    until: datetime | None = None  # a timed pause ends by itself at this moment
    since: datetime | None = None  # when it was paused (or resumed)
    damaged: bool = False  # the state file could not be read: treated as paused

    def to_json(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "until": self.until.isoformat() if self.until else None,
            "since": self.since.isoformat() if self.since else None,
        }

    def message(self) -> str:
        """``capture is paused until 22:30`` / ``capture is paused`` / ``capture is on``."""
        if not self.paused:
            return "capture is on"
        if self.damaged:
            return f"capture is paused (its state file {CAPTURE_FILE} cannot be read; `lifelog resume` resets it)"
        if self.until is None:
            return "capture is paused"
        return f"capture is paused until {_local(self.until)}"


def _local(t: datetime) -> str:
    lt = t.astimezone()
    now = datetime.now().astimezone()
    return f"{lt:%H:%M}" if lt.date() == now.date() else f"{lt:%Y-%m-%d %H:%M}"


def capture_file(data_dir: Path) -> Path:
    return Path(data_dir) / CAPTURE_FILE


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.astimezone()


def _parse_time(v: object) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        return _aware(datetime.fromisoformat(v))
    except ValueError:
        return None


def _decode(raw: bytes) -> CaptureState:
    """The stored state (before the clock is applied); damaged when it cannot be read."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return CaptureState(True, damaged=True)
    if not isinstance(doc, dict) or not isinstance(doc.get("paused"), bool):
        return CaptureState(True, damaged=True)
    return CaptureState(doc["paused"], _parse_time(doc.get("until")), _parse_time(doc.get("since")))


def _effective(stored: CaptureState, now: datetime | None) -> CaptureState:
    if stored.paused and stored.until is not None:
        now = _aware(now) if now is not None else datetime.now(UTC)
        if now >= stored.until:  # a timed pause ended by itself
            return CaptureState(False, None, stored.until)
    return stored


def _read(data_dir: Path) -> CaptureState:
    try:
        raw = capture_file(data_dir).read_bytes()
    except FileNotFoundError:
        return CaptureState(False)
    except OSError:
        return CaptureState(True, damaged=True)
    return _decode(raw)


def state(data_dir: Path, now: datetime | None = None) -> CaptureState:
    """The capture state at ``now`` (default: the clock): a timed pause whose ``until`` passed is over."""
    return _effective(_read(data_dir), now)


def pause(
    data_dir: Path,
    *,
    for_: timedelta | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> CaptureState:
    """Pause every capture path: for ``for_``, until ``until``, or (neither) until :func:`resume`."""
    if for_ is not None and until is not None:
        raise CaptureError("give a duration or an end time, not both")
    now = _aware(now) if now is not None else datetime.now(UTC)
    end: datetime | None = None
    if for_ is not None:
        if for_ <= timedelta(0):
            raise CaptureError("the pause must last longer than 0 seconds")
        end = now + for_
    elif until is not None:
        end = _aware(until)
        if end <= now:
            raise CaptureError(f"{end.isoformat()} is not in the future")
    st = CaptureState(True, end.astimezone(UTC) if end else None, now.astimezone(UTC))
    _write(data_dir, st)
    return st


def resume(data_dir: Path, now: datetime | None = None) -> CaptureState:
    """Capture on again (everywhere, within a second)."""
    now = _aware(now) if now is not None else datetime.now(UTC)
    st = CaptureState(False, None, now.astimezone(UTC))
    _write(data_dir, st)
    return st


def _write(data_dir: Path, st: CaptureState) -> None:
    atomic_write(capture_file(data_dir), json.dumps(st.to_json()).encode("utf-8"))
    with _WATCH_LOCK:  # watches in this process see it at once, not after their interval
        for w in list(_WATCHES):
            w.invalidate()


_WATCH_LOCK = threading.Lock()
_WATCHES: list[CaptureWatch] = []


class CaptureWatch:
    """The cheap check: ``watch.paused()`` stats the state file at most every ``interval_s``
    and re-reads it only when its mtime, inode or size changed. Thread-safe."""

    def __init__(self, data_dir: Path, interval_s: float = CHECK_INTERVAL_S) -> None:
        self.path = capture_file(data_dir)
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._checked = -1e18
        self._key: tuple[int, int, int] | None = None
        self._stored = CaptureState(False)
        with _WATCH_LOCK:
            _WATCHES.append(self)
            del _WATCHES[:-64]  # keep the registry bounded; an evicted watch just waits its interval

    def invalidate(self) -> None:
        with self._lock:
            self._checked = -1e18

    def _refresh(self) -> CaptureState:
        with self._lock:
            t = time.monotonic()
            if t - self._checked < self.interval_s:
                return self._stored
            self._checked = t
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                self._key, self._stored = None, CaptureState(False)
                return self._stored
            except OSError:
                self._key, self._stored = None, CaptureState(True, damaged=True)
                return self._stored
            key = (st.st_mtime_ns, st.st_ino, st.st_size)
            if key != self._key:
                self._key = key
                try:
                    self._stored = _decode(self.path.read_bytes())
                except FileNotFoundError:
                    self._key, self._stored = None, CaptureState(False)
                except OSError:
                    self._stored = CaptureState(True, damaged=True)
            return self._stored

    def state(self, now: datetime | None = None) -> CaptureState:
        return _effective(self._refresh(), now)

    def paused(self) -> bool:
        return self.state().paused


# ------------------------------------------------------------------ parsing (CLI, app)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """``1h``, ``30m``, ``2h30m``, ``90s``, ``1d``, ``45`` (minutes)."""
    s = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+", s):
        return timedelta(minutes=int(s))
    if not s or not re.fullmatch(r"(?:\d+(?:\.\d+)?[dhms])+", s):
        raise CaptureError(f"not a duration: {text[:40]!r} (write e.g. 1h, 30m, 2h30m)")
    unit = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    total = sum(float(n) * unit[u] for n, u in _DURATION.findall(s))
    if total <= 0:
        raise CaptureError("the pause must last longer than 0 seconds")
    if total > 366 * 86400:
        raise CaptureError("a timed pause lasts at most a year (pause without --for to pause until resumed)")
    return timedelta(seconds=total)


def parse_until(text: str, now: datetime | None = None) -> datetime:
    """``22:30`` (the next such local time: today, or tomorrow when it passed) or an ISO 8601 time."""
    now = _aware(now) if now is not None else datetime.now().astimezone()
    s = text.strip()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", s)
    if m is not None:
        h, mi = int(m.group(1)), int(m.group(2))
        if h > 23 or mi > 59:
            raise CaptureError(f"not a time of day: {s[:40]!r}")
        local = now.astimezone()
        t = local.replace(hour=h, minute=mi, second=0, microsecond=0)
        return t if t > local else t + timedelta(days=1)
    try:
        return _aware(datetime.fromisoformat(s))
    except ValueError:
        raise CaptureError(f"not a time: {s[:40]!r} (write e.g. 22:30 or 2026-12-07T08:00)") from None
