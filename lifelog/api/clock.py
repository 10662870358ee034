"""One clock: every time a front end shows is turned into text here, in the memory's zone.

The memory's zone is its ``timezone`` setting, or the system's when none is set
(:attr:`lifelog.api.Memory.tz`). Times are stored zone-aware; the zone a time was recorded in,
the zone of the machine the app runs on and the offset of a ``--now`` given on the command line
play no part in how it is shown. So the same episode reads the same on every surface: the Ask
answer and its list of moments, the timeline, the episode page, People, Objects, the CLI and
exports (docs/app.md, "Times").

Build one with :meth:`Clock.of` each time a page draws (the zone setting may change while the
app runs)::

    clock = Clock.of(memory)
    clock.span(ep.start, ep.end)   # "09:30–09:42"
    clock.when(ep.start)           # "Wed 15 May 2024, 09:30"
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Protocol

__all__ = ["Clock", "HasZone"]


class HasZone(Protocol):
    """Anything with a zone to show times in (:class:`lifelog.api.Memory` is one)."""

    @property
    def tz(self) -> tzinfo: ...


@dataclass(frozen=True)
class Clock:
    """Formats times in one zone."""

    tz: tzinfo

    @classmethod
    def of(cls, memory: HasZone) -> Clock:
        """The clock of a memory: its zone setting, else the system's."""
        return cls(memory.tz)

    # ------------------------------------------------------------------ values
    def local(self, t: datetime) -> datetime:
        """``t`` in this clock's zone (a naive time is taken as UTC, as the store writes them)."""
        if t.tzinfo is None or t.utcoffset() is None:
            t = t.replace(tzinfo=UTC)
        return t.astimezone(self.tz)

    def day(self, t: datetime) -> date:
        """The calendar day ``t`` falls on here."""
        return self.local(t).date()

    def iso(self, t: datetime) -> str:
        """ISO 8601 with this zone's offset (what ``--json`` prints)."""
        return self.local(t).isoformat()

    # -------------------------------------------------------------------- text
    def time(self, t: datetime, *, seconds: bool = False) -> str:
        """``20:00`` (``20:00:05`` with ``seconds``)."""
        return f"{self.local(t):%H:%M:%S}" if seconds else f"{self.local(t):%H:%M}"

    def span(self, start: datetime, end: datetime) -> str:
        """``09:30–09:42`` (seconds when it is shorter than a minute)."""
        short = (end - start).total_seconds() < 60
        return f"{self.time(start, seconds=short)}–{self.time(end, seconds=short)}"

    def when(self, t: datetime) -> str:
        """``Wed 15 May 2024, 20:00``."""
        lt = self.local(t)
        return f"{lt:%a} {lt.day} {lt:%b %Y}, {lt:%H:%M}"

    def stamp(self, t: datetime, *, seconds: bool = False, weekday: bool = False) -> str:
        """``2024-05-15 20:00`` (the CLI's form; ``Wed 2024-05-15 20:00`` with ``weekday``)."""
        lt = self.local(t)
        text = f"{lt:%Y-%m-%d %H:%M:%S}" if seconds else f"{lt:%Y-%m-%d %H:%M}"
        return f"{lt:%a} {text}" if weekday else text

    @staticmethod
    def day_title(d: date | datetime) -> str:
        """``Wednesday 15 May 2024`` (give a date, or a time already in this zone: use
        :meth:`day_title_of` for any time)."""
        return f"{d:%A} {d.day} {d:%B %Y}"

    def day_title_of(self, t: datetime) -> str:
        """The title of the day ``t`` falls on here."""
        return self.day_title(self.day(t))

    def zone_name(self) -> str:
        """The zone's name as people read it (``Europe/London``, or ``UTC+01:00`` for a fixed offset)."""
        key = getattr(self.tz, "key", None)
        if isinstance(key, str):
            return key
        return str(self.tz)
