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

**Private mode** (issue #13): the rules in the settings' ``privacy`` section answer through the
same check. During a ``quiet_hours`` window (local wall time, the settings' time zone) the state
is paused with ``rule="quiet_hours"`` ("private mode (quiet hours until 07:00)"); a device in
``excluded_devices`` is refused when the check is asked for it (``watch.paused(device_id)``:
"this device is excluded"). :func:`quiet_window_at` answers for a capture time, so footage
recorded in a window and arriving later is skipped. The settings file is watched like the state
file; one that cannot be read counts as paused (fail closed).
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
from typing import TYPE_CHECKING, Any, Literal

from lifelog.store.files import atomic_write

if TYPE_CHECKING:
    from lifelog.config import PrivacySettings, QuietWindow

CAPTURE_FILE = "capture.json"
SETTINGS_FILE = "settings.json"
CHECK_INTERVAL_S = 0.5

#: Why capture is off: the pause, a quiet-hours window, an excluded device, unreadable settings.
CaptureRule = Literal["pause", "quiet_hours", "excluded_device", "settings"]


class CaptureError(ValueError):
    """A pause that cannot be: a bad duration or time."""


@dataclass(frozen=True)
class CaptureState:
    paused: bool
    until: datetime | None = None  # a timed pause ends by itself at this moment
    since: datetime | None = None  # when it was paused (or resumed)
    damaged: bool = False  # the state file could not be read: treated as paused
    rule: CaptureRule | None = None  # why it is paused, when a rule (not the pause) says so
    detail: str = ""  # the rule's own words (the unreadable settings' error)

    def to_json(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "until": self.until.isoformat() if self.until else None,
            "since": self.since.isoformat() if self.since else None,
            "rule": self.rule if self.rule else ("pause" if self.paused else None),
        }

    def message(self) -> str:
        """``capture is paused until 22:30`` / ``capture is paused`` / ``capture is on`` /
        ``private mode (quiet hours until 07:00)`` / ``this device is excluded``."""
        if not self.paused:
            return "capture is on"
        if self.rule == "quiet_hours":
            return f"private mode (quiet hours until {_local(self.until)})" if self.until else "private mode"
        if self.rule == "excluded_device":
            return "this device is excluded"
        if self.rule == "settings":
            return f"capture is paused (the settings cannot be read: {self.detail[:200]})"
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


def state(data_dir: Path, now: datetime | None = None, device: str | None = None) -> CaptureState:
    """The capture state at ``now`` (default: the clock): a timed pause whose ``until`` passed is
    over; else a quiet-hours window (or, for ``device``, its exclusion) pauses it."""
    st = _effective(_read(data_dir), now)
    return st if st.paused else _ruled(st, _read_rules(data_dir), now, device)


def stored_state(data_dir: Path, now: datetime | None = None) -> CaptureState:
    """The pause alone (what ``lifelog pause`` / ``resume`` switch), without the rules."""
    return _effective(_read(data_dir), now)


# ------------------------------------------------------------------ the rules (private mode)
@dataclass(frozen=True)
class _Rules:
    privacy: PrivacySettings | None
    tz: Any  # tzinfo | None (None: the system's zone)
    error: str = ""  # the settings could not be read: fail closed


def _read_rules(data_dir: Path) -> _Rules:
    from lifelog.config import SettingsError, load_settings

    try:
        s = load_settings(Path(data_dir))
    except (SettingsError, OSError, ValueError) as e:
        return _Rules(None, None, str(e).splitlines()[0] if str(e) else type(e).__name__)
    tz: Any = None
    if s.timezone:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(s.timezone)
    return _Rules(s.privacy, tz)


def window_bounds(window: QuietWindow, t: datetime, tz: Any = None) -> tuple[datetime, datetime] | None:
    """The (start, end) of the occurrence of ``window`` that holds ``t`` (local wall time in
    ``tz``, default the system's), or None when ``t`` is outside it."""
    local = _aware(t).astimezone(tz)
    start_m, end_m = window.minutes()
    tod = local.hour * 60 + local.minute
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    days = window.days

    def on(day: datetime) -> bool:
        return not days or ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()] in days

    if start_m < end_m:
        if start_m <= tod < end_m and on(local):
            return midnight + timedelta(minutes=start_m), midnight + timedelta(minutes=end_m)
        return None
    if tod >= start_m and on(local):  # the evening part: ends tomorrow
        return midnight + timedelta(minutes=start_m), midnight + timedelta(days=1, minutes=end_m)
    if tod < end_m and on(local - timedelta(days=1)):  # the morning part of yesterday's window
        return midnight - timedelta(days=1) + timedelta(minutes=start_m), midnight + timedelta(minutes=end_m)
    return None


def quiet_window_at(
    windows: list[QuietWindow], t: datetime, tz: Any = None
) -> tuple[QuietWindow, datetime] | None:
    """The quiet-hours window holding ``t`` and when it ends (the latest end when several do)."""
    best: tuple[QuietWindow, datetime] | None = None
    for w in windows:
        b = window_bounds(w, t, tz)
        if b is not None and (best is None or b[1] > best[1]):
            best = (w, b[1])
    return best


def recorded_in_quiet_hours(data_dir: Path, t: datetime) -> str | None:
    """Why footage recorded at ``t`` is skipped (``recorded during quiet hours 22:00–07:00 every
    day``), or None when no window holds ``t``. Unreadable settings skip it (fail closed)."""
    rules = _read_rules(data_dir)
    if rules.privacy is None:
        return f"the settings cannot be read: {rules.error[:200]}"
    hit = quiet_window_at(rules.privacy.quiet_hours, t, rules.tz)
    return f"recorded during quiet hours ({hit[0].describe()})" if hit else None


def _ruled(st: CaptureState, rules: _Rules, now: datetime | None, device: str | None) -> CaptureState:
    """``st`` (not paused) with the rules applied at ``now``, for ``device`` when given."""
    if rules.privacy is None:
        return CaptureState(True, None, None, rule="settings", detail=rules.error)
    if device is not None and device in rules.privacy.excluded_devices:
        return CaptureState(True, None, None, rule="excluded_device")
    if rules.privacy.quiet_hours:
        t = _aware(now) if now is not None else datetime.now(UTC)
        hit = quiet_window_at(rules.privacy.quiet_hours, t, rules.tz)
        if hit is not None:
            return CaptureState(True, hit[1].astimezone(UTC), None, rule="quiet_hours")
    return st


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
    doc = {k: v for k, v in st.to_json().items() if k != "rule"}
    atomic_write(capture_file(data_dir), json.dumps(doc).encode("utf-8"))
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
        self.settings_path = Path(data_dir) / SETTINGS_FILE
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._checked = -1e18
        self._key: tuple[int, int, int] | None = None
        self._stored = CaptureState(False)
        self._rules_key: tuple[int, int, int] | bool | None = False  # False: never read
        self._rules = _Rules(None, None, "not read yet")
        with _WATCH_LOCK:
            _WATCHES.append(self)
            del _WATCHES[:-64]  # keep the registry bounded; an evicted watch just waits its interval

    def invalidate(self) -> None:
        with self._lock:
            self._checked = -1e18

    def _refresh_rules(self) -> None:
        """Re-read the settings when their file changed (called with the lock held)."""
        try:
            st = os.stat(self.settings_path)
            key: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_ino, st.st_size)
        except OSError:
            key = None
        if key != self._rules_key:
            self._rules_key = key
            self._rules = _read_rules(self.settings_path.parent)

    def _refresh(self) -> CaptureState:
        with self._lock:
            t = time.monotonic()
            if t - self._checked < self.interval_s:
                return self._stored
            self._checked = t
            self._refresh_rules()
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

    def state(self, now: datetime | None = None, device: str | None = None) -> CaptureState:
        """The pause, else the rules (quiet hours; ``device``'s exclusion) at ``now``."""
        st = _effective(self._refresh(), now)
        if st.paused:
            return st
        with self._lock:
            rules = self._rules
        return _ruled(st, rules, now, device)

    def paused(self, device: str | None = None) -> bool:
        return self.state(device=device).paused


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
