"""What the app's visual timeline reads: a day's moments (its kept frames, each with its episode
and thumbnail) and how much footage each day of a stretch holds (the month bar's density).

One query each on the frames table, hiding unfinished imports and the trash like every other
read; times come back in the memory's zone (:attr:`Memory.tz`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from lifelog.api.memory import EpisodeInfo, Memory
from lifelog.store.sql import and_all, window_filter

__all__ = ["DayTile", "Moment", "day_moments", "footage_per_day", "moments_between", "month_overview"]


@dataclass(frozen=True)
class Moment:
    """One kept frame: when, of which episode, its thumbnail (a vault blob id) and frame id."""

    frame_id: str
    episode_id: str
    t: datetime
    thumb_id: str | None


@dataclass(frozen=True)
class DayTile:
    """A day of a month overview: how much it holds, a representative thumbnail, who was seen."""

    day: date
    episodes: int
    frames: int
    thumb_id: str | None  # from the day's longest episode (by kept frames)
    people: list[str]  # names (``person <id>`` for people not named yet), most seen first
    description: str  # the day in words (the describe step's), else the longest episode's


def moments_between(memory: Memory, start: datetime, end: datetime) -> list[Moment]:
    """The kept frames in ``[start, end)`` that belong to an episode, in time order."""
    store = memory.store
    store.refresh()
    where = and_all(window_filter(start, end, "t"), "episode_id IS NOT NULL",
                    store.committed_filter(episode_column="episode_id"))
    rows = store.rows("frames", where, columns=["id", "episode_id", "t", "thumb_id"]).to_pylist()
    tz = memory.tz
    out = [Moment(str(r["id"]), str(r["episode_id"]), r["t"].astimezone(tz), r.get("thumb_id")) for r in rows]
    out.sort(key=lambda m: (m.t, m.frame_id))
    return out


def _day_start(memory: Memory, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=memory.tz)


def day_moments(memory: Memory, day: date) -> list[Moment]:
    """A day's moments (the day judged in the memory's zone), in time order."""
    start = _day_start(memory, day)
    return moments_between(memory, start, start + timedelta(days=1))


def footage_per_day(memory: Memory, first: date, last: date) -> dict[date, int]:
    """Kept frames per day for the days ``first``..``last`` (inclusive); days without footage are
    absent."""
    store = memory.store
    store.refresh()
    start, end = _day_start(memory, first), _day_start(memory, last + timedelta(days=1))
    where = and_all(window_filter(start, end, "t"), "episode_id IS NOT NULL",
                    store.committed_filter(episode_column="episode_id"))
    col = store.rows("frames", where, columns=["t"]).column("t").to_pylist()
    tz = memory.tz
    counts: dict[date, int] = {}
    for t in col:
        d = t.astimezone(tz).date()
        counts[d] = counts.get(d, 0) + 1
    return dict(sorted(counts.items()))


def month_overview(memory: Memory, year: int, month: int) -> list[DayTile]:
    """The days of a month that have episodes, oldest first, each as a :class:`DayTile`."""
    first = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    eps = memory.episodes_between(_day_start(memory, first), _day_start(memory, nxt))
    tz = memory.tz
    per_day: dict[date, list[EpisodeInfo]] = {}
    for e in eps:
        d = e.start.astimezone(tz).date()
        if first <= d < nxt:
            per_day.setdefault(d, []).append(e)
    out: list[DayTile] = []
    for d, day_eps in sorted(per_day.items()):
        best = max(day_eps, key=lambda e: (e.n_frames, len(e.thumb_ids)))
        thumbs = best.thumb_ids
        seen: dict[str, int] = {}
        for e in day_eps:
            for name in e.people:
                seen[name] = seen.get(name, 0) + 1
        people = sorted(seen, key=lambda n: (-seen[n], n))
        said = memory.day_description(d) or best.description or best.summary
        out.append(DayTile(d, len(day_eps), sum(e.n_frames for e in day_eps),
                           thumbs[len(thumbs) // 2] if thumbs else None, people, said))
    return out
