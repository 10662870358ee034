"""Question understanding for ``lifelog ask "QUESTION" --now ISO8601``.

:func:`parse_question` turns a free-form English question into a :class:`ParsedQuestion`: the
*intent* (last / first / when / count / list / where / what), the *subject* to look for, an
optional *time window*, a person's name, whether it is a yes/no question and any quoted words.

Nothing here is a table of known questions. The parser works in passes over the text, each
pass *masking* what it understood so later passes (and the subject) no longer see it:

1. quoted text (``"happy birthday"``) is lifted out;
2. time expressions are found by small grammar rules (day words, weekdays, dates, months,
   rolling ranges, "N hours ago", clock times and ranges, part-of-day words, with an optional
   ``since``/``before``/``after``/``until``/``from``… prefix); each rule yields a *piece* and
   the pieces are combined into one :class:`TimeWindow` (see :func:`_combine`);
3. the person, yes/no form and intent are read from keyword patterns;
4. the subject is what is left after dropping question words, auxiliaries, pronouns and
   scaffolding verbs, with articles and prepositions trimmed from the edges of each phrase.

All calendar arithmetic happens in the zone of ``now`` (or ``tz``): days start at local
midnight (DST days are 23 or 25 hours long), weeks start on Monday. ``docs/questions.md``
describes what is understood and the choices made.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal, get_args

__all__ = [
    "MAX_QUESTION_CHARS",
    "Intent",
    "ParsedQuestion",
    "QuestionError",
    "TimeWindow",
    "parse_now",
    "parse_question",
]

Intent = Literal["last", "first", "when", "count", "list", "where", "what"]
CountUnit = Literal["episodes", "days"]
# The word relating a time expression to the window ("since Monday", "before 3pm"), as _PREFIX reads it.
Relation = Literal["since", "after", "before", "until", "till", "by", "from", "to", "through", "between"]
_RELATION_WORDS: dict[str, Relation] = {r: r for r in get_args(Relation)}

MAX_QUESTION_CHARS = 500  # longer questions are parsed on their first 500 characters


class QuestionError(ValueError):
    """A question (or ``--now`` value) that cannot be understood; the message is for the user."""


@dataclass(frozen=True)
class TimeWindow:
    start: datetime | None  # tz-aware, inclusive; None = open
    end: datetime | None  # tz-aware, exclusive; None = open (i.e. up to now)
    phrase: str  # the words it came from, e.g. "yesterday evening"


@dataclass(frozen=True)
class ParsedQuestion:
    text: str
    intent: Intent
    subject: str
    window: TimeWindow | None
    count_unit: CountUnit
    person: str | None
    yes_no: bool
    quoted: str | None


# ============================================================================ --now
_NOW_ERROR = "--now must be an ISO 8601 date-time such as 2026-11-21T18:00:00+00:00"
_ISO_DATETIME_SHAPE = re.compile(r"\d{4}-?\d{2}-?\d{2}[Tt ]\d{2}")


def parse_now(value: str | None) -> datetime:
    """``--now`` as a tz-aware datetime. ``None`` is the current time; a naive value is local time."""
    if value is None:
        return datetime.now().astimezone()
    text = value.strip()
    if not _ISO_DATETIME_SHAPE.match(text):
        raise QuestionError(_NOW_ERROR)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise QuestionError(_NOW_ERROR) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.astimezone()  # naive: interpret as the machine's local time
    return parsed


# ====================================================================== vocabulary
def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_WEEKDAYS = _split("monday tuesday wednesday thursday friday saturday sunday")
_MONTH_NAMES = _split("January February March April May June July August September October November December")
_MONTHS: dict[str, int] = {name.lower(): i + 1 for i, name in enumerate(_MONTH_NAMES)}
_MONTHS.update({name[:3].lower(): i + 1 for i, name in enumerate(_MONTH_NAMES)})
_MONTHS["sept"] = 9

_UNITS_ORD = _split(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
)
_ORDINAL_WORDS: dict[str, int] = {w: i + 1 for i, w in enumerate(_UNITS_ORD)}
_ORDINAL_WORDS.update({f"twenty {w}": 21 + i for i, w in enumerate(_UNITS_ORD[:9])})
_ORDINAL_WORDS.update({"twentieth": 20, "thirtieth": 30, "thirty first": 31})

_CARDINALS = _split(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS: dict[str, float] = {w: float(i + 1) for i, w in enumerate(_CARDINALS)}
_NUMBER_WORDS.update({"a": 1, "an": 1, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90})
_NUMBER_WORDS.update({"hundred": 100, "a few": 3, "few": 3, "several": 3})
_NUMBER_WORDS.update({"a couple of": 2, "a couple": 2, "couple of": 2})

# Parts of the day, in minutes after local midnight (an end past 1440 runs into the next day).
_PARTS_OF_DAY: dict[str, tuple[int, int]] = {
    "morning": (5 * 60, 12 * 60),
    "afternoon": (12 * 60, 17 * 60),
    "evening": (17 * 60, 22 * 60),
    "night": (18 * 60, 29 * 60),  # 18:00 to 05:00 next day: "last night" covers dinner too
}


def _alt(words: Iterable[str]) -> str:
    """A regex alternation, longest first so a longer word wins over its prefix."""
    return "|".join(re.escape(w).replace(r"\ ", r"[\s-]+") for w in sorted(words, key=len, reverse=True))


_WEEKDAY_RE = _alt(_WEEKDAYS)
_MONTH_RE = rf"(?:{_alt(_MONTHS)})\.?"
_NUM_RE = rf"(?:\d{{1,4}}(?:\.\d+)?|{_alt(_NUMBER_WORDS)})"
_UNIT_RE = r"(?:minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|fortnights?|months?|years?|yrs?)"
_POD_RE = r"(?:morning|afternoon|evening|night)"
_DAY_RE = rf"(?:(?P<dn>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)|(?P<dw>{_alt(_ORDINAL_WORDS)}))"
_AMPM = r"(?:a\.?m\.?|p\.?m\.?)(?!\w)"

# Optional words in front of any time expression: a relation, a preposition, "the".
_PREFIX = (
    r"(?:\b(?P<rel>since|after|before|until|till|by|from|to|through|between)\s+)?"
    r"(?:\b(?P<prep>at\s+(?:about|around|approximately|roughly)|on|in|at|during|over(?=\s+the\b)|throughout"
    r"|around|about|approximately|roughly|within|of|for)\s+)?"
    r"(?:\b(?P<the>the)\s+)?"
)
_SUFFIX = r"(?:['’]s)?(?!\w)"  # "yesterday's", "Monday's"


# ============================================================================ pieces
@dataclass
class _Piece:
    """One time expression found in the question."""

    pos: int
    phrase: str
    end: int = 0  # where the phrase ends in the question (set by _find_time)
    days: tuple[date, date] | None = None  # whole local days [first, end)
    tod: tuple[int, int] | None = None  # minutes after midnight; end may exceed 1440
    point: int | None = None  # a clock time ("at 3pm") in minutes
    instant: tuple[datetime, datetime | None] | None = None  # absolute window ("2 hours ago")
    rel: Relation | None = None
    weekday: int | None = None  # a bare weekday, which "last week" can re-anchor
    week: bool = False  # a calendar week ("last week"), which can re-anchor a weekday


class _Ctx:
    """The current moment in the zone all windows are computed in."""

    def __init__(self, now: datetime, tz: tzinfo) -> None:
        self.tz = tz
        self.now = now
        self.today = now.date()
        self.minute = now.hour * 60 + now.minute

    def at(self, day: date, minutes: int) -> datetime:
        """Local wall-clock time ``minutes`` after midnight of ``day`` (may roll into later days)."""
        extra, m = divmod(minutes, 1440)
        d = day + timedelta(days=extra)
        wall = datetime(d.year, d.month, d.day, m // 60, m % 60, tzinfo=self.tz)
        return wall.astimezone(UTC).astimezone(self.tz)  # normalises times skipped by DST

    def wall_shift(self, delta: timedelta) -> datetime:
        """``now`` moved by a calendar amount on the wall clock (days and weeks keep the clock time)."""
        naive = self.now.replace(tzinfo=None) + delta
        return naive.replace(tzinfo=self.tz).astimezone(UTC).astimezone(self.tz)

    def month_shift(self, months: int) -> datetime:
        d = _add_months(self.today, months)
        return self.at(d, self.minute) + timedelta(seconds=self.now.second, microseconds=self.now.microsecond)


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    if year < 1:
        raise OverflowError("before year 1")
    last = _days_in_month(year, month + 1)
    return date(year, month + 1, min(d.day, last))


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _month_range(year: int, month: int) -> tuple[date, date]:
    start = date(year, month, 1)
    return start, _add_months(start, 1)


def _day(d: date) -> tuple[date, date]:
    return d, d + timedelta(days=1)


def _number(text: str) -> float:
    key = re.sub(r"[\s-]+", " ", text.strip().lower())
    if key in _NUMBER_WORDS:
        return _NUMBER_WORDS[key]
    return float(key)


def _unit(text: str) -> str:
    t = text.lower()
    for name, prefixes in (
        ("minute", ("min",)),
        ("hour", ("h",)),
        ("day", ("d",)),
        ("fortnight", ("f",)),
        ("week", ("w",)),
        ("month", ("mo",)),
        ("year", ("y",)),
    ):
        if t.startswith(prefixes):
            return name
    raise AssertionError(text)


def _ordinal_day(m: re.Match[str]) -> int:
    if m.group("dn"):
        return int(m.group("dn"))
    return _ORDINAL_WORDS[re.sub(r"[\s-]+", " ", m.group("dw").lower())]


def _checked_date(year: int, month: int, day: int, written: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        if 1 <= month <= 12 and day <= 31:
            name = _MONTH_NAMES[month - 1]
            if month == 2 and day == 29:
                raise QuestionError(f"{name} 29, {year} does not exist ({year} is not a leap year)") from None
            if day >= 1:
                raise QuestionError(f"there is no {name} {day}: '{written}' is not a date") from None
        raise QuestionError(f"'{written}' is not a valid date") from None


def _recent_year(ctx: _Ctx, month: int, day: int) -> int:
    """The year of the most recent (month, day) that is not in the future."""
    return ctx.today.year if (month, day) <= (ctx.today.month, ctx.today.day) else ctx.today.year - 1


def _future(phrase: str, ctx: _Ctx) -> QuestionError:
    return QuestionError(f"'{phrase}' is in the future (it is now {ctx.now:%Y-%m-%d %H:%M})")


# ================================================================ time rules
# A rule is a regex (matched case-insensitively against the masked text) and a handler that
# turns a match into a piece, or returns None to let the text through untouched.
_Handler = Callable[[re.Match[str], _Ctx, str], _Piece | None]


def _rule(body: str, prefix: bool = True) -> re.Pattern[str]:
    return re.compile((_PREFIX if prefix else "") + r"\b(?:" + body + ")" + _SUFFIX, re.IGNORECASE)


def _h_future(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    raise _future(phrase, ctx)


def _h_iso(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    d = _checked_date(int(m.group("y")), int(m.group("mo")), int(m.group("d")), m.group("iso"))
    return _Piece(m.start(), phrase, days=_day(d))


def _h_dateparser(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    """Other numeric or dashed dates ("03.11.2026", "3-Nov-2026", "2026/11/03") go to dateparser."""
    import dateparser  # imported lazily: it takes a noticeable moment to load

    settings = {
        "PREFER_DATES_FROM": "past",
        "RELATIVE_BASE": ctx.now,
        "RETURN_AS_TIMEZONE_AWARE": True,
        "DATE_ORDER": "DMY",  # dotted dates are European; slashes are handled by _h_slash
        "REQUIRE_PARTS": ["day", "month"],
    }
    written = m.group("dp")
    result: object = dateparser.parse(written, languages=["en"], settings=settings)
    if not isinstance(result, datetime):
        raise QuestionError(f"'{written}' is not a valid date")
    # dateparser labels absolute dates with UTC whatever RELATIVE_BASE's zone is, so only the
    # calendar fields are used (converting would move the day for zones far from UTC).
    return _Piece(m.start(), phrase, days=_day(result.date()))


def _h_slash(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    a, b, y = int(m.group("a")), int(m.group("b")), m.group("y")
    if not (y or m.group("rel") or m.group("prep")):
        return None  # "1/2 a pizza": only read as a date after on/since/… or with a year
    written = m.group("sl")
    if not (1 <= a <= 31 and 1 <= b <= 31):
        raise QuestionError(f"'{written}' is not a valid date")
    if a <= 12 and b <= 12 and a != b:
        raise QuestionError(
            f"'{written}' is ambiguous (day/month or month/day?): write it as "
            f"{a} {_MONTH_NAMES[b - 1]} or {_MONTH_NAMES[a - 1]} {b}, or as YYYY-MM-DD"
        )
    day, month = (a, b) if a > 12 or a == b else (b, a)
    if month > 12:
        raise QuestionError(f"'{written}' is not a valid date")
    year = (int(y) + (2000 if len(y) == 2 else 0)) if y else _recent_year(ctx, month, day)
    return _Piece(m.start(), phrase, days=_day(_checked_date(year, month, day, written)))


def _may_guard(m: re.Match[str], month_word: str) -> bool:
    """The word may is a month only when it looks like one: capitalised, or after on/in/since…"""
    return month_word.lower() != "may" or month_word[0] == "M" or bool(m.group("rel") or m.group("prep"))


def _h_day_month(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    month_word = m.group("mon").rstrip(".")
    if not _may_guard(m, month_word):
        return None
    month, day = _MONTHS[month_word.lower()], _ordinal_day(m)
    written = m.group(0).strip()
    year = int(m.group("y")) if m.group("y") else _recent_year(ctx, month, day)
    return _Piece(m.start(), phrase, days=_day(_checked_date(year, month, day, written)))


def _h_day_of_month(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    if (m.group("prep") or "").lower() != "on" and not m.group("rel"):
        return None  # only "on the 3rd", "on 21st", "since the 3rd"
    day = _ordinal_day(m)
    first = ctx.today.replace(day=1)
    if day > ctx.today.day:
        first = _add_months(first, -1)
    return _Piece(m.start(), phrase, days=_day(_checked_date(first.year, first.month, day, phrase)))


def _h_month(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    month_word = m.group("mon").rstrip(".")
    q = (m.group("q") or "").lower()
    prep = (m.group("prep") or "").lower()
    if not (m.group("y") or q or m.group("rel") or prep in {"in", "during", "throughout", "of", "over"}):
        return None  # "march" / "may" as words, "the August heat"
    if month_word.lower() == "may" and month_word[0] != "M" and not (m.group("y") or prep or q):
        return None
    month = _MONTHS[month_word.lower()]
    this_month = ctx.today.month
    if m.group("y"):
        year = int(m.group("y"))
    elif q == "this":
        year = ctx.today.year
    elif q in {"last", "past", "previous"}:
        year = ctx.today.year if month < this_month else ctx.today.year - 1
    else:
        year = ctx.today.year if month <= this_month else ctx.today.year - 1
    return _Piece(m.start(), phrase, days=_month_range(year, month))


def _h_year(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    prep = (m.group("prep") or "").lower()
    if not (prep in {"in", "during", "throughout", "of", "over"} or m.group("rel")):
        return None
    year = int(m.group("yy"))
    if not 1 <= year < 9999:
        return None
    return _Piece(m.start(), phrase, days=(date(year, 1, 1), date(year + 1, 1, 1)))


def _h_day_word(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    word = re.sub(r"\s+", " ", m.group("word").lower())
    pod = (m.group("pod") or "").lower()
    if word == "tonight":
        offset, pod = 0, "night"
    elif word == "last night":
        offset, pod = -1, "night"
    elif word.startswith("this "):
        offset, pod = 0, word.split()[1]
    elif word.endswith("before yesterday"):
        offset = -2
    elif word == "yesterday":
        offset = -1
    else:
        offset = 0  # today, so far today, earlier today
    d = ctx.today + timedelta(days=offset)
    return _Piece(m.start(), phrase, days=_day(d), tod=_PARTS_OF_DAY[pod] if pod else None)


def _h_weekday(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    wd = _WEEKDAYS.index(m.group("wd").lower())
    q = (m.group("q") or "").lower()
    back = (ctx.today.weekday() - wd) % 7
    if q == "this":
        d = _monday(ctx.today) + timedelta(days=wd)  # may lie ahead: caught as "in the future"
    else:
        if q in {"last", "past", "previous"} and back == 0:
            back = 7  # "last Friday" said on a Friday is a week ago
        d = ctx.today - timedelta(days=back)
    pod = (m.group("pod") or "").lower()
    return _Piece(
        m.start(), phrase, days=_day(d), tod=_PARTS_OF_DAY[pod] if pod else None, weekday=None if q else wd
    )


def _h_weekend(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    q = re.sub(r"\s+", " ", (m.group("q") or "").lower())
    saturday = _monday(ctx.today) + timedelta(days=5)
    if q in {"last", "past", "previous", "this past"} or (not q and ctx.today.weekday() < 5):
        saturday -= timedelta(days=7)
    return _Piece(m.start(), phrase, days=(saturday, saturday + timedelta(days=2)))


def _h_week_before_last(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    monday = _monday(ctx.today) - timedelta(days=14)
    return _Piece(m.start(), phrase, days=(monday, monday + timedelta(days=7)), week=True)


def _h_this_period(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    unit = m.group("u").lower()
    if unit == "week":
        monday = _monday(ctx.today)
        return _Piece(m.start(), phrase, days=(monday, monday + timedelta(days=7)), week=True)
    if unit == "month":
        return _Piece(m.start(), phrase, days=_month_range(ctx.today.year, ctx.today.month))
    y = ctx.today.year
    return _Piece(m.start(), phrase, days=(date(y, 1, 1), date(y + 1, 1, 1)))


def _rolling(ctx: _Ctx, n: float, unit: str) -> datetime:
    """The moment ``n`` units before now: clock units are absolute, calendar units keep the wall clock."""
    if unit in {"minute", "hour"}:
        minutes = n * (60 if unit == "hour" else 1)
        return (ctx.now.astimezone(UTC) - timedelta(minutes=minutes)).astimezone(ctx.tz)
    if unit in {"day", "week", "fortnight"}:
        return ctx.wall_shift(-timedelta(days=n * {"day": 1, "week": 7, "fortnight": 14}[unit]))
    months = round(n * (12 if unit == "year" else 1))
    return ctx.month_shift(-months)


def _h_last_period(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    q = re.sub(r"\s+", " ", m.group("q").lower())
    unit = _unit(m.group("u"))
    n_text = m.group("n")
    calendar = (
        n_text is None
        and unit in {"week", "month", "year"}
        and (q == "previous" or (q == "last" and not m.group("the")))
    )
    if calendar:
        if unit == "week":
            monday = _monday(ctx.today) - timedelta(days=7)
            return _Piece(m.start(), phrase, days=(monday, monday + timedelta(days=7)), week=True)
        if unit == "month":
            first = _add_months(ctx.today.replace(day=1), -1)
            return _Piece(m.start(), phrase, days=_month_range(first.year, first.month))
        y = ctx.today.year - 1
        return _Piece(m.start(), phrase, days=(date(y, 1, 1), date(y + 1, 1, 1)))
    n = _number(n_text) if n_text else 1.0
    return _Piece(m.start(), phrase, instant=(_rolling(ctx, n, unit), None))


def _h_within(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    if (m.group("prep") or "").lower() not in {"in", "within", "over", "during"}:
        return None
    n, unit = _number(m.group("n")), _unit(m.group("u"))
    return _Piece(m.start(), phrase, instant=(_rolling(ctx, n, unit), None))


def _h_ago(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    if m.group("halfhour"):
        n, unit = 30.0, "minute"
    else:
        half_more = 0.5 if m.group("half") or m.group("half2") else 0.0
        n, unit = _number(m.group("n")) + half_more, _unit(m.group("u"))
    if unit in {"minute", "hour"}:
        minutes = n * (60 if unit == "hour" else 1)
        centre = ctx.now.astimezone(UTC) - timedelta(minutes=minutes)
        half = timedelta(minutes=max(30.0, minutes / 2))
        window = ((centre - half).astimezone(ctx.tz), (centre + half).astimezone(ctx.tz))
        return _Piece(m.start(), phrase, instant=window)
    if unit in {"day", "week", "fortnight"}:
        d = ctx.today - timedelta(days=round(n * {"day": 1, "week": 7, "fortnight": 14}[unit]))
    else:
        d = _add_months(ctx.today, -round(n * (12 if unit == "year" else 1)))
    return _Piece(m.start(), phrase, days=_day(d))


def _h_part_of_day(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    prep = (m.group("prep") or "").lower()
    pod = m.group("pod").lower()
    if not (prep in {"in", "during", "at", "over"} or m.group("rel")):
        return None  # "morning coffee" is a subject, not a time
    if prep == "at" and pod != "night":
        return None
    return _Piece(m.start(), phrase, tod=_PARTS_OF_DAY[pod])


def _clock(h: str | None, mi: str | None, ap: str | None, named: str | None, end: bool = False) -> int | None:
    """Minutes after midnight, or None when it is not a clock time (hour 25, "13pm")."""
    if named:
        word = named.lower()
        if word in {"noon", "midday"}:
            return 12 * 60
        return 24 * 60 if end else 0
    if h is None:
        return None
    hour, minute = int(h), int(mi or 0)
    if minute > 59:
        return None
    if ap:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ap.lower().startswith("p") else 0)
    elif hour > 24 or (hour == 24 and minute):
        return None
    return hour * 60 + minute


def _h_clock_range(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    ap1, ap2 = m.group("ap1"), m.group("ap2")

    def as24(h: str | None, mi: str | None, ap: str | None, named: str | None, end: bool) -> int | None:
        return _clock(h, mi, ap, named, end)

    h1, m1, n1 = m.group("h1"), m.group("m1"), m.group("n1")
    h2, m2, n2 = m.group("h2"), m.group("m2"), m.group("n2")
    other = {"a": "pm", "p": "am"}
    if ap2 and not ap1 and not n1:
        start = as24(h1, m1, ap2, None, False)
        end = as24(h2, m2, ap2, n2, True)
        if start is not None and end is not None and start >= end:
            start = as24(h1, m1, other[ap2[0].lower()], None, False)  # "11 to 1pm" is 11am
    elif ap1 and not ap2 and not n2:
        start = as24(h1, m1, ap1, n1, False)
        end = as24(h2, m2, ap1, None, True)
        if start is not None and end is not None and end <= start:
            end = as24(h2, m2, other[ap1[0].lower()], None, True)  # "11am to 1" is 1pm
    else:
        start = as24(h1, m1, ap1, n1, False)
        end = as24(h2, m2, ap2, n2, True)
        if start is not None and end is not None and not (ap1 or ap2) and end <= start and end < 12 * 60:
            end += 12 * 60  # "between 11 and 1", "from 9 to 5"
    if start is None or end is None:
        return None
    if end <= start:
        end += 24 * 60  # "from 10pm to 2am" runs past midnight
    return _Piece(m.start(), phrase, tod=(start, end))


def _h_clock(m: re.Match[str], ctx: _Ctx, phrase: str) -> _Piece | None:
    if m.group("hw"):  # "half past nine", "quarter to 3pm"
        hw = m.group("hw").lower()
        hour_n = int(hw) if hw.isdigit() else int(_NUMBER_WORDS[hw])
        frac = _FRACTIONS[" ".join(m.group("frac").lower().replace("-", " ").split())]
        at = _clock(str(hour_n), "0", m.group("apw"), None)
        if at is None:
            return None
        at = at + frac if m.group("dir").lower() == "past" else (at - frac) % (24 * 60)
        return _Piece(m.start(), phrase, point=at)
    hour = m.group("h") or m.group("hc") or m.group("ho")
    anchored = bool(m.group("rel") or m.group("prep"))
    if not anchored and (m.group("the") or m.group("ho") or m.group("named")):
        return None  # "the 5 o'clock news", "the 15:30 train", "midnight snack"
    is_end = (m.group("rel") or "").lower() in {"before", "until", "till", "by"}
    minutes = _clock(hour, m.group("mi") or m.group("mc"), m.group("ap"), m.group("named"), end=is_end)
    if minutes is None:
        return None
    return _Piece(m.start(), phrase, point=minutes)


def _clock_re(s: str, bare: bool) -> str:
    """One clock time; ``bare`` also allows a plain hour ("between 9 and 11")."""
    named = rf"(?P<n{s}>noon|midday|midnight)"
    meridiem = rf"(?:\s*(?P<ap{s}>{_AMPM}))"
    return rf"(?:{named}|(?P<h{s}>\d{{1,2}})(?::(?P<m{s}>\d{{2}}))?{meridiem}{'?' if bare else ''})"


_CLOCK_POINT = (
    rf"(?:(?P<named>noon|midday|midnight)|(?P<h>\d{{1,2}})(?::(?P<mi>\d{{2}}))?\s*(?P<ap>{_AMPM})"
    r"|(?P<hc>\d{1,2}):(?P<mc>\d{2})(?!\d)|(?P<ho>\d{1,2})\s+o['’]?clock"
    rf"|(?P<frac>half|quarter|twenty[\s-]+five|twenty|ten|five)\s+(?P<dir>past|to)\s+(?P<hw>\d{{1,2}}|{_alt(_CARDINALS[:12])})"
    rf"(?:\s*(?P<apw>{_AMPM}))?)"
)
_FRACTIONS = {"half": 30, "quarter": 15, "twenty five": 25, "twenty": 20, "ten": 10, "five": 5}

_TIME_RULES: list[tuple[re.Pattern[str], _Handler]] = [
    (
        _rule(
            rf"(?:the\s+)?day\s+after\s+tomorrow|tomorrow|later\s+(?:today|tonight|this\s+\w+)"
            rf"|next\s+(?:week|month|year|weekend|fortnight|{_WEEKDAY_RE}|{_MONTH_RE}|{_NUM_RE}\s+{_UNIT_RE})"
            rf"|(?:this\s+)?coming\s+(?:week|weekend|month|year|{_WEEKDAY_RE})"
            rf"|{_NUM_RE}\s+{_UNIT_RE}\s+from\s+now|in\s+{_NUM_RE}\s+{_UNIT_RE}['’]?\s+time",
            prefix=False,
        ),
        _h_future,
    ),
    (
        _rule(
            r"(?P<iso>(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2}))(?![\d-])(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?"
        ),
        _h_iso,
    ),
    (
        _rule(
            r"(?P<dp>\d{1,2}\.\d{1,2}\.\d{2,4}|\d{1,2}-\d{1,2}-\d{2,4}|\d{4}/\d{1,2}/\d{1,2}"
            rf"|\d{{1,2}}[-\s]?(?:{_alt(_MONTHS)})-\d{{2,4}})(?![\d.\-/])"
        ),
        _h_dateparser,
    ),
    (_rule(r"(?P<sl>(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?)(?![\d/])"), _h_slash),
    (
        _rule(
            rf"(?P<word>(?:the\s+)?day\s+before\s+yesterday|yesterday|(?:so\s+far\s+|earlier\s+)?today"
            rf"|tonight|last\s+night|this\s+(?:morning|afternoon|evening))(?:\s+(?:in\s+the\s+)?(?P<pod>{_POD_RE}))?"
        ),
        _h_day_word,
    ),
    (_rule(rf"{_DAY_RE}\s+(?:of\s+)?(?P<mon>{_MONTH_RE})(?:,?\s+(?P<y>\d{{4}}))?(?!\d)"), _h_day_month),
    (_rule(rf"(?P<mon>{_MONTH_RE})\s+(?:the\s+)?{_DAY_RE}(?:,?\s+(?P<y>\d{{4}}))?(?![\d:])"), _h_day_month),
    (
        _rule(
            rf"(?:(?P<dn>\d{{1,2}})(?:st|nd|rd|th)|(?P<dw>{_alt(_ORDINAL_WORDS)}))"
            rf"(?=\s*(?:$|[^\w\s]|\x00|(?:at|in|between|from|before|after|around|{_POD_RE})\b))"
        ),
        _h_day_of_month,
    ),
    (
        _rule(
            rf"(?P<halfhour>half\s+an?\s+hour)\s+ago"
            rf"|(?P<n>{_NUM_RE})(?P<half>\s+and\s+a\s+half)?\s+(?P<u>{_UNIT_RE})"
            r"(?P<half2>\s+and\s+a\s+half)?\s+ago"
        ),
        _h_ago,
    ),
    (_rule(r"week\s+before\s+last"), _h_week_before_last),
    (
        _rule(
            rf"(?P<q>this\s+past|last|past|previous|preceding)\s+(?:(?P<n>{_NUM_RE})\s+)?(?P<u>{_UNIT_RE})"
        ),
        _h_last_period,
    ),
    (_rule(r"(?:this|current)\s+(?P<u>week|month|year)"), _h_this_period),
    (_rule(r"(?:(?P<q>this\s+past|this|last|past|previous)\s+)?weekend"), _h_weekend),
    (
        _rule(rf"(?:(?P<q>last|this|past|previous)\s+)?(?P<wd>{_WEEKDAY_RE})(?:\s+(?P<pod>{_POD_RE}))?"),
        _h_weekday,
    ),
    (
        _rule(
            rf"(?:(?P<q>last|this|past|previous)\s+)?(?:month\s+of\s+)?(?P<mon>{_MONTH_RE})(?:\s+(?P<y>\d{{4}}))?"
        ),
        _h_month,
    ),
    (_rule(r"(?:year\s+)?(?P<yy>\d{4})"), _h_year),
    (_rule(rf"(?P<n>{_NUM_RE})\s+(?P<u>{_UNIT_RE})"), _h_within),
    (
        _rule(
            rf"(?:between|from)\s+{_clock_re('1', True)}\s*(?:and|to|until|till|through|-|–)\s*"
            + _clock_re("2", True)
        ),
        _h_clock_range,
    ),
    (_rule(rf"(?P<pod>{_POD_RE})"), _h_part_of_day),
    (_rule(_CLOCK_POINT), _h_clock),
]


# ======================================================================== masking
_MASK = "\x00"


class _Text:
    """The question with understood spans blanked out (same length, so offsets stay valid)."""

    def __init__(self, text: str) -> None:
        self.original = text
        self._chars = list(text)
        self.masked = text

    def mask(self, start: int, end: int) -> None:
        self._chars[start:end] = _MASK * (end - start)
        self.masked = "".join(self._chars)

    def phrase(self, start: int, end: int) -> str:
        return re.sub(r"\s+", " ", self.original[start:end]).strip()

    def scan(self, pattern: re.Pattern[str]) -> Iterable[re.Match[str]]:
        """Matches of ``pattern``; the caller may mask each before the next search."""
        pos = 0
        while pos <= len(self.masked):
            m = pattern.search(self.masked, pos)
            if m is None:
                return
            yield m
            pos = max(m.end(), m.start() + 1)


# ========================================================================= window
_Bound = tuple[datetime | None, datetime | None]


def _intersect(a: _Bound, b: _Bound) -> _Bound:
    starts = [s for s in (a[0], b[0]) if s is not None]
    ends = [e for e in (a[1], b[1]) if e is not None]
    return (max(starts) if starts else None, min(ends) if ends else None)


def _tod_intersect(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    """Overlap of two times of day, in the frame of the longer one ("at 1am" + "last night")."""
    if b[1] - b[0] > a[1] - a[0]:
        a, b = b, a
    for shift in (0, 1440, -1440):
        s, e = max(a[0], b[0] + shift), min(a[1], b[1] + shift)
        if s < e:
            return s, e
    return None


def _default_day(ctx: _Ctx, tod: tuple[int, int]) -> date:
    """A time of day with no day given: today, or yesterday if today's has not started yet."""
    return ctx.today if ctx.at(ctx.today, tod[0]) <= ctx.now else ctx.today - timedelta(days=1)


def _rel_tod(p: _Piece) -> tuple[int, int] | None:
    """A clock time or part of day as a time-of-day range, honouring before/after/until."""
    rel = p.rel or ""
    if p.point is not None:
        if rel in {"before", "until", "till", "by"}:
            return (0, p.point)
        if rel == "after":
            return (p.point, 24 * 60)
        return (p.point - 30, p.point + 30)
    if p.tod is not None:
        if rel == "before":
            return (0, p.tod[0])
        if rel in {"until", "till", "by"}:
            return (0, p.tod[1])
        if rel == "after":
            return (p.tod[1], max(24 * 60, p.tod[1] + 1))
    return p.tod


def _solo(p: _Piece, ctx: _Ctx, day: date | None = None) -> tuple[datetime, datetime | None]:
    """The window of one piece on its own (ignoring its relation word)."""
    if p.instant is not None:
        return p.instant
    tod = (p.point, p.point + 1) if p.point is not None else p.tod
    if p.days is not None:
        first, end = p.days
        if tod is not None and end - first == timedelta(days=1):
            return ctx.at(first, tod[0]), ctx.at(first, tod[1])
        return ctx.at(first, 0), ctx.at(end, 0)
    assert tod is not None
    d = day if day is not None else _default_day(ctx, tod)
    return ctx.at(d, tod[0]), ctx.at(d, tod[1])


_CONNECTOR_GAP = re.compile(
    r"[\s,\-–]*(?:(?:and|or|to|until|till|through|on|at|in|of|the)\b[\s,\-–]*)*", re.I
)


def _window_phrase(pieces: list[_Piece], original: str) -> str:
    """The words of all time pieces: one slice when only connectors separate them."""
    parts = [pieces[0].phrase]
    for prev, nxt in itertools.pairwise(pieces):
        gap = original[prev.end : nxt.pos]
        if _CONNECTOR_GAP.fullmatch(gap) and gap.strip():
            parts.append(re.sub(r"\s+", " ", gap.strip()))
        parts.append(nxt.phrase)
    return " ".join(parts)


def _combine(pieces: list[_Piece], ctx: _Ctx, original: str) -> TimeWindow | None:
    """One window from all time pieces.

    Whole-day pieces are intersected ("this week" + "yesterday") or, when they do not overlap,
    spanned ("between Monday and Wednesday", "yesterday or today"); times of day narrow a
    single day and are ignored for multi-day spans; ``since``/``from``/``before``/``after``/
    ``until`` turn their piece into an open or closed bound; rolling ranges are intersected.
    """
    if not pieces:
        return None
    pieces = sorted(pieces, key=lambda p: p.pos)
    phrase = _window_phrase(pieces, original)

    # "Monday last week", "last week on Monday": the weekday inside that week.
    week = next((p for p in pieces if p.week and p.days is not None), None)
    weekdays = [p for p in pieces if p.weekday is not None and p.days is not None]
    if week is not None and week.days is not None and weekdays:
        monday = week.days[0]
        for p in weekdays:
            assert p.weekday is not None
            p.days = _day(monday + timedelta(days=p.weekday))
        pieces = [p for p in pieces if p is not week]

    bounds: list[_Bound] = []
    # "from Monday to Wednesday", "from yesterday until now"
    opener = next((p for p in pieces if p.rel == "from"), None)
    closer = None
    if opener is not None:
        closing = {"to", "through", "until", "till"}
        closer = next((p for p in pieces if p.pos > opener.pos and p.rel in closing), None)
    if opener is not None and closer is not None:
        bounds.append((_solo(opener, ctx)[0], _solo(closer, ctx)[1]))
        pieces = [p for p in pieces if p is not opener and p is not closer]
    for p in pieces:
        if p.rel in {"to", "through", "between"}:
            p.rel = None  # "to Monday's meeting" without "from" is just Monday; "between" spans
        elif p.rel == "from":
            p.rel = "since"
        if p.days is None and p.instant is None and p.rel in {"before", "after", "until", "till", "by"}:
            # "before noon", "after 6pm": a time of day on the day given, not an open bound
            p.tod, p.point, p.rel = _rel_tod(p), None, None

    plain = [p for p in pieces if p.rel is None]
    day_ranges = [p.days for p in plain if p.days is not None]
    days: tuple[date, date] | None = None
    if day_ranges:
        lo, hi = max(r[0] for r in day_ranges), min(r[1] for r in day_ranges)
        days = (lo, hi) if lo < hi else (min(r[0] for r in day_ranges), max(r[1] for r in day_ranges))
    tod: tuple[int, int] | None = None
    for t in (_rel_tod(p) for p in plain):
        if t is None:
            continue
        both = t if tod is None else _tod_intersect(tod, t)
        if both is None:
            raise QuestionError(f"the times in '{phrase}' do not overlap")
        tod = both

    for p in pieces:
        if p.rel == "since":
            # "since 3pm yesterday": the day anchors the clock time and is then used up
            anchor = days[0] if days is not None and p.days is None and p.instant is None else None
            bounds.append((_solo(p, ctx, anchor)[0], None))
            if anchor is not None:
                days = None
        elif p.rel == "after":
            bounds.append((_solo(p, ctx)[1], None))
        elif p.rel == "before":
            bounds.append((None, _solo(p, ctx)[0]))
        elif p.rel in {"until", "till", "by"}:
            bounds.append((None, _solo(p, ctx)[1]))

    window: _Bound = (None, None)
    if days is not None:
        if tod is not None and days[1] - days[0] == timedelta(days=1):
            window = (ctx.at(days[0], tod[0]), ctx.at(days[0], tod[1]))
        else:
            window = (ctx.at(days[0], 0), ctx.at(days[1], 0))
    elif tod is not None and not any(b[0] is not None for b in bounds):
        d = _default_day(ctx, tod)
        window = (ctx.at(d, tod[0]), ctx.at(d, tod[1]))
    for p in plain:
        if p.instant is not None:
            window = _intersect(window, p.instant)
    for b in bounds:
        window = _intersect(window, b)

    start, end = window
    if start is not None and end is not None and start >= end:
        raise QuestionError(f"the times in '{phrase}' do not overlap")
    if start is not None and start > ctx.now:
        raise _future(phrase, ctx)
    if end is not None and end > ctx.now:
        end = None  # open: up to now
    if start is None and end is None:
        return None
    return TimeWindow(start, end, phrase)


def _find_time(text: _Text, ctx: _Ctx) -> list[_Piece]:
    pieces: list[_Piece] = []
    for pattern, handler in _TIME_RULES:
        for m in text.scan(pattern):
            phrase = text.phrase(m.start(), m.end())
            try:
                piece = handler(m, ctx, phrase)
            except (OverflowError, ValueError) as e:
                if isinstance(e, QuestionError):
                    raise
                raise QuestionError(f"'{phrase}' reaches too far back") from None
            if piece is None:
                continue
            rel = m.group("rel") if "rel" in pattern.groupindex else None
            piece = replace(piece, rel=_RELATION_WORDS.get(rel.lower()) if rel else None, end=m.end())
            text.mask(m.start(), m.end())
            pieces.append(piece)
    return pieces


# ======================================================================== quoting
_QUOTES = re.compile(r"\"([^\"]+)\"|“([^”]+)”|‘([^’]+)’|«([^»]+)»|(?<!\w)'([^'\n]+)'(?!\w)")


def _find_quoted(text: _Text) -> str | None:
    found: str | None = None
    for m in text.scan(_QUOTES):
        inner = next(g for g in m.groups() if g is not None).strip()
        if inner and found is None:
            found = inner
        text.mask(m.start(), m.end())
    return found


# ========================================================================= intent
_I = re.IGNORECASE
_DAYISH = r"(?:days|dates|mornings|afternoons|evenings|nights)"
_COUNT_RE = re.compile(
    rf"\bhow\s+(?:many|much|often|frequently)\b(?:\s+(?:different|separate|distinct|individual))?"
    rf"(?:\s+(?P<unit>times|{_DAYISH}|occasions|visits|sessions))?\b"
    rf"|\b(?:the\s+)?number\s+of\s+(?:different\s+|separate\s+)?(?P<unit2>times|{_DAYISH}|occasions|visits)\b"
    r"|^\W*(?:please\s+)?count\b(?:\s+(?:the\s+)?(?P<unit3>times|days))?",
    _I,
)
_LIST_RE = re.compile(
    r"^\W*(?:please\s+)?(?:list|enumerate)\b(?:\s+(?:all|every|each))?"
    rf"(?:\s+(?:of\s+)?(?:the\s+)?(?P<u1>times|occasions|moments|{_DAYISH}))?\b"
    r"|\b(?:show|give|find|tell)\s+(?:me\s+)?(?:all|every|each)\b"
    rf"(?:\s+(?:of\s+)?(?:the\s+)?(?P<u2>times?|occasions?|moments?|{_DAYISH}|day)\b)?"
    rf"|\b(?:on\s+)?(?:which|what)\s+(?P<u3>{_DAYISH}|times|weekends|weeks|months|occasions)\b"
    r"|\b(?:all|every|each)\s+(?:of\s+)?(?:the\s+)?(?:times?|occasions?)\b",
    _I,
)
_VERBS_AFTER_FIRST_LAST = (
    r"(?:see|saw|seen|meet|met|go|went|visit|visited|notice|noticed|use|used|have|had|spot|spotted"
    r"|come|came|get|got|hear|heard|eat|ate|talk|talked|speak|spoke|drive|drove|wear|wore)\b"
)
_FIRST_RE = re.compile(
    r"\b(?:the\s+|my\s+)?(?:very\s+)?first\s+(?:time|occasion|moment|sighting|thing)s?\b"
    rf"|\b(?:i|we)\s+first\b|\bfirst\s+(?={_VERBS_AFTER_FIRST_LAST})"
    r"|\b(?:my|our|the)\s+(?:very\s+)?first\s+(?=[a-z])"
    r"|\b(?:the\s+)?earliest\b(?:\s+(?:time|occasion|moment|sighting)\b)?|\bfirst(?=\W*$)",
    _I,
)
_LAST_RE = re.compile(
    r"\b(?:the\s+|my\s+)?(?:very\s+)?(?:last|latest|most\s+recent|previous)\s+(?:time|occasion|moment|sighting|thing)s?\b"
    rf"|\b(?:i|we)\s+(?:last|most\s+recently)\b|\blast\s+(?={_VERBS_AFTER_FIRST_LAST})"
    r"|\bmost\s+recent(?:ly)?\b|\b(?:the\s+)?latest\b|\blast(?=\W*$)",
    _I,
)
_WHERE_RE = re.compile(
    r"\bwhere(?:['’]s)?\b|\b(?:in|at|on)\s+which\s+(?:room|place|shop|store|building|street|city|town|country|"
    r"floor|drawer|shelf|part|car|bag)\b|\bwhat\s+(?:place|room|location)\b",
    _I,
)
_AGO_QUESTION_RE = re.compile(r"\bhow\s+(?:long|many\s+\w+)\s+ago\b", _I)
_WHEN_WORDS_RE = re.compile(
    r"\b(?:at|on|in)?\s*(?:what|which)\s+(?:time|day|date|year|month|hour|week)\b|\bhow\s+long\s+ago\b", _I
)
_WHAT_RE = re.compile(r"\b(?:what|who|whom|whose)(?:['’]s)?\b", _I)
_QWORD_RE = re.compile(r"\b(?:when|where|what|which|who|whom|whose|how|why)\b", _I)

_PREAMBLE = re.compile(
    r"^[\W\x00]*(?:(?:hey|hi|ok|okay|so|um|uh|please|lifelog|quick\s+question)\b[\s,\x00]*)*"
    r"(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:tell|show|remind)\s+me\b[\s,]*"
    r"|(?:do|did)\s+you\s+(?:know|remember|recall)\b[\s,]*|(?:tell|show|remind)\s+me\b[\s,]*)?",
    _I,
)
_YES_NO_START = re.compile(
    r"(?:did|do|does|have|has|had|was|were|is|are|am|will|can|could|didn['’]t|don['’]t|doesn['’]t|"
    r"haven['’]t|hasn['’]t|wasn['’]t|weren['’]t|isn['’]t|aren['’]t)\b",
    _I,
)


def _mask_all(text: _Text, pattern: re.Pattern[str]) -> list[re.Match[str]]:
    found = []
    for m in text.scan(pattern):
        if m.end() > m.start():
            found.append(m)
            text.mask(m.start(), m.end())
    return found


def _intent(text: _Text) -> tuple[Intent, CountUnit]:
    """Intent and count unit; masks the intent phrases so they do not reach the subject."""
    masked = text.masked
    first_q = _QWORD_RE.search(masked)
    asks_what = bool(
        first_q
        and _WHAT_RE.match(masked, first_q.start())
        and not _WHEN_WORDS_RE.match(masked, first_q.start())
    )
    _mask_all(text, _AGO_QUESTION_RE)  # "how many days ago" asks when, not how many
    count = _mask_all(text, _COUNT_RE)
    lst = _mask_all(text, _LIST_RE)
    where = _mask_all(text, _WHERE_RE)
    _mask_all(text, _WHEN_WORDS_RE)
    first = _mask_all(text, _FIRST_RE)
    last = _mask_all(text, _LAST_RE)
    unit: CountUnit = "episodes"
    for m in count + lst:
        for g in ("unit", "unit2", "unit3", "u1", "u2", "u3"):
            u = m.groupdict().get(g)
            if u and re.fullmatch(_DAYISH + "|day", u, _I):
                unit = "days"
    if count:
        return "count", unit
    if lst:
        return "list", unit
    if where:
        return "where", "episodes"
    if first:
        return "first", "episodes"
    if last:
        return "last", "episodes"
    if asks_what:
        return "what", "episodes"
    return "when", "episodes"


def _is_yes_no(masked: str) -> bool:
    pre = _PREAMBLE.match(masked)
    rest = masked[pre.end() if pre else 0 :].lstrip(" \t\n,\x00")
    return bool(_YES_NO_START.match(rest))


# ========================================================================= words
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WORD_RE = re.compile(r"\d+(?:[:.]\d+)+|[^\W_]+(?:['’\-][^\W_]+)*|\x00+|[^\w\s]")

_QWORDS = _words(
    "when where what which who whom whose how why what's where's when's who's how's whats wheres"
)
_AUX = _words(
    "may did do does done doing have has had having was were is are am be been being will would could can "
    "should shall might must didn't don't doesn't haven't hasn't hadn't wasn't weren't isn't aren't "
    "won't can't couldn't"
)
_PRONOUNS = _words(
    "i we you me us myself ourselves yourself it them him her they he she i'm i've i'd i'll we've "
    "we're you've it's there anything something someone somebody anyone anybody"
)
_FILLER = _words(
    "ever recently lately actually really please exactly again just still earlier already hey ok okay "
    "um uh lifelog also even s"
)
_SCAFFOLD = _words(
    "see sees saw seen seeing meet meets met meeting go goes went gone going visit visits visited "
    "visiting leave leaves left leaving put puts putting use uses used using park parked get "
    "got gotten getting notice noticed spot spotted find found come came bring brought take took "
    "taken place placed keep kept store stored drop dropped lose lost catch caught encounter "
    "encountered watch watched watching look looked looking talk talked speak spoke spoken chat chatted say said says "
    "tell told mention mentioned ask asked hear heard wear wore worn eat ate eaten drink drank show "
    "list remind know remember recall count happen happened spend spent buy bought hang hung bump "
    "bumped text texted call called phone phoned hug hugged give gave sit sat"
)
_DETERMINERS = _words(
    "a an the my your our his her their its this that these those some any every each another no"
)
_EDGE = _DETERMINERS | _words(
    "to at in on with for by of from into onto about near around inside outside across through over "
    "under up out off between during within since before after until till and or but so then if than "
    "as all mine ours yours last first latest earliest other time times many much often not there "
    "here"
)
_SCAFFOLD_PHRASES = re.compile(
    r"\b(?:ran|run|bumped|bump)\s+into\b|\b(?:catch|caught)\s+sight\s+of\b"
    r"|\b(?:talk|talked|talking|speak|spoke|speaking|chat|chatted|chatting)\s+(?:to|with)\b"
    r"|\b(?:hang|hanged|hung)\s+out\s+with\b|\blook(?:ed|ing|s)?\s+at\b|\bthe\s+other\s+day\b"
    r"|\b(?:photo(?:graph)?|picture|pic|snapshot|snap|shot|video|clip|selfie)s?\s+of\b"
    r"|\b(?:do|did)\s+you\s+(?:know|remember|recall)\b|\b(?:can|could|would|will)\s+you\b"
    r"|\b(?:tell|show|remind)\s+me\b|\b(?:is|was|were|are)\s+there\b|\bhow\s+(?:long|many|much)\b",
    _I,
)
_ENGLISH = _words(
    "a an when where what which who how did does have has was were the my me see saw seen show list last "
    "first time times ever many often is are am i'm i've met meet go went"
)
_NOT_NAMES = (
    _QWORDS
    | _AUX
    | _PRONOUNS
    | _FILLER
    | _DETERMINERS
    | _EDGE
    | set(_WEEKDAYS)
    | set(_MONTHS)
    | {"today", "yesterday", "tonight"}
)

_PERSON_AFTER = _words(
    "see saw seen seeing meet met meeting with visit visited visiting call called phone phoned text "
    "texted hug hugged email emailed message messaged tell told ask asked"
)
_PERSON_AFTER_TO = _words(
    "talk talked talking speak spoke speaking chat chatted say said write wrote listen listened "
    "goodbye hello ran run bumped bump went go introduced"
)
_PERSON_BEFORE = _words(
    "say said says tell told mention mentioned ask asked talk talked speak spoke want wanted suggest "
    "suggested show showed"
)
_RELATIONS = _words(
    "friend colleague coworker brother sister mum mom dad boss neighbour neighbor partner wife "
    "husband son daughter cousin aunt uncle grandma grandpa grandmother grandfather boyfriend "
    "girlfriend manager teacher doctor flatmate roommate"
)


def _norm(word: str) -> str:
    return word.lower().replace("’", "'")


def _tokens(masked: str) -> list[str]:
    """Words, with every mask run or punctuation mark turned into a ``""`` boundary."""
    out: list[str] = []
    for tok in _WORD_RE.findall(masked):
        if tok[0].isalnum():
            out.append(tok)
        elif not out or out[-1]:
            out.append("")
    return out


def _is_name(word: str) -> bool:
    low = _norm(word)
    return bool(word) and word[0].isupper() and low not in _NOT_NAMES and not low.endswith("'s")


def _find_person(masked: str) -> str | None:
    """A capitalised name that is the object of see/meet/with/talk to…, or who said/told something."""
    letters = [c for c in masked if c.isalpha()]
    if not any(c.islower() for c in letters):
        return None  # ALL CAPS: capitals carry no information
    words = [w for w in _tokens(masked) if w and w != "I"]
    if len(words) >= 3 and sum(w[0].isupper() for w in words) / len(words) > 0.8:
        return None  # Title Case Question
    toks = _tokens(masked)
    for i, tok in enumerate(toks):
        low = _norm(tok)
        if low in _PERSON_BEFORE and i > 0 and _is_name(toks[i - 1]):
            start = i - 1  # "what did Sam say", "when did Sam Smith tell me"
            while start > 0 and _is_name(toks[start - 1]):
                start -= 1
            return " ".join(toks[start:i])
        after_to = low in {"to", "into"} and i > 0 and _norm(toks[i - 1]) in _PERSON_AFTER_TO
        if not (low in _PERSON_AFTER or after_to):
            continue
        j = i + 1
        if j + 1 < len(toks) and _norm(toks[j]) in {"my", "our", "his", "her", "their"}:
            if j + 2 < len(toks) and _norm(toks[j + 1]) in _RELATIONS:
                j += 2  # "with my friend Sam"
            elif _is_name(toks[j + 1]):
                j += 1  # "see my Mum"
        if j >= len(toks) or not _is_name(toks[j]):
            continue
        k = j + 1
        while k < len(toks) and _is_name(toks[k]):
            k += 1
        return " ".join(toks[j:k])
    return None


def _subject(masked: str) -> str:
    toks = _tokens(masked)
    runs: list[list[str]] = [[]]
    prev = ""
    for tok in toks:
        low = _norm(tok)
        drop = not tok
        if tok and (low in _QWORDS or low in _PRONOUNS or low in _FILLER):
            drop = True
        elif tok and (low in _AUX or low in _SCAFFOLD):
            p = _norm(prev)
            drop = not (p in _DETERMINERS or p.endswith("'s"))
        if drop:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(tok)
        prev = tok
    parts: list[str] = []
    for run in runs:
        while run and _norm(run[0]) in _EDGE:
            run.pop(0)
        while run and _norm(run[-1]) in _EDGE:
            run.pop()
        if run:
            parts.append(" ".join(run))
    return " ".join(parts)


def _clean(masked: str) -> str:
    return " ".join(t for t in _tokens(masked) if t)


# ========================================================================== parse
def parse_question(question: str, now: datetime, tz: tzinfo | None = None) -> ParsedQuestion:
    """Understand one question asked at ``now`` (see the module docstring and docs/questions.md)."""
    text = question.replace(_MASK, " ").strip()
    if not text:
        raise QuestionError("the question is empty")
    if now.tzinfo is None or now.utcoffset() is None:
        now = now.replace(tzinfo=tz) if tz is not None else now.astimezone()
    local_now = now.astimezone(tz) if tz is not None else now
    assert local_now.tzinfo is not None
    ctx = _Ctx(local_now, local_now.tzinfo)

    work = _Text(text[:MAX_QUESTION_CHARS])
    quoted = _find_quoted(work)
    pieces = _find_time(work, ctx)
    window = _combine(pieces, ctx, work.original)

    words = {_norm(t) for t in _tokens(work.masked) if t}
    if not (words & _ENGLISH) and not pieces:
        # Not English (or a bare noun phrase): keep the words as they are.
        return ParsedQuestion(text, "when", _clean(work.masked), window, "episodes", None, False, quoted)

    person = _find_person(work.masked)
    yes_no = _is_yes_no(work.masked)
    intent, unit = _intent(work)
    _mask_all(work, _SCAFFOLD_PHRASES)
    subject = _subject(work.masked)
    return ParsedQuestion(text, intent, subject, window, unit, person, yes_no, quoted)
