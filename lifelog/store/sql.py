"""LanceDB filter strings, written in one place: quoted literals, ``IN`` lists, time literals
and windows.

LanceDB filters are DataFusion SQL. Every value that comes from outside (an id, a name, a word)
goes through :func:`sql_str`, never through an f-string directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime


def sql_str(value: str) -> str:
    """Quote a string literal for a LanceDB filter."""
    return "'" + value.replace("'", "''") + "'"


def sql_in(column: str, values: Iterable[str]) -> str:
    """``column IN ('a', 'b')``; ``false`` for no values (matches nothing)."""
    vals = list(values)
    if not vals:
        return "false"
    return f"{column} IN ({', '.join(sql_str(v) for v in vals)})"


def ts_literal(dt: datetime) -> str:
    """A timestamp literal in UTC (the store keeps every time as UTC microseconds)."""
    return f"timestamp '{dt.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')}Z'"


def window_conditions(start: datetime | None, end: datetime | None, column: str = "t") -> list[str]:
    """Conditions for ``start <= column < end`` (either bound may be open)."""
    out: list[str] = []
    if start is not None:
        out.append(f"{column} >= {ts_literal(start)}")
    if end is not None:
        out.append(f"{column} < {ts_literal(end)}")
    return out


def window_filter(start: datetime | None, end: datetime | None, column: str = "t") -> str:
    """:func:`window_conditions` as one filter (``true`` when both bounds are open)."""
    return " AND ".join(window_conditions(start, end, column)) or "true"


def overlap_conditions(start: datetime | None, end: datetime | None) -> list[str]:
    """Conditions for a row spanning ``[start, end)`` columns to overlap the window."""
    out: list[str] = []
    if end is not None:
        out.append(f"start < {ts_literal(end)}")
    if start is not None:
        out.append(f"`end` > {ts_literal(start)}")
    return out


def and_all(*conds: str | None) -> str | None:
    """The non-empty conditions joined with AND, each parenthesised (None when there are none)."""
    parts = [c for c in conds if c]
    if not parts:
        return None
    return " AND ".join(f"({c})" for c in parts) if len(parts) > 1 else parts[0]
