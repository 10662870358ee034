"""What every ``lifelog`` subcommand shares: exit codes, the error that carries one, the
progress printer on stderr, the one-document JSON printer and argument types."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TextIO

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_CANCELLED = 130


class CliError(Exception):
    """A command failed; ``code`` is its exit code (the message is printed as one line)."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def path_arg(value: str) -> Path:
    # Keep undecodable bytes as surrogates so hostile names round-trip to the filesystem.
    return Path(os.fsdecode(os.fsencode(value)))


def day_arg(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--day must be YYYY-MM-DD, not {value!r}") from e


def parse_when(value: str, tz: tzinfo, end_of_day: bool = False) -> datetime:
    """A date (its midnight in ``tz``; the next midnight with ``end_of_day``) or an ISO 8601
    time (``tz`` when it has no offset), for ``--from``/``--to``/``--before`` style options."""
    try:
        d = date.fromisoformat(value)
    except ValueError:
        try:
            dt = datetime.fromisoformat(value)
        except ValueError as e:
            raise CliError(f"not a date or time: {value!r} (use YYYY-MM-DD or ISO 8601)", EXIT_USAGE) from e
        return dt if dt.tzinfo else dt.replace(tzinfo=tz)
    start = datetime.combine(d, datetime.min.time(), tzinfo=tz)
    return start + timedelta(days=1) if end_of_day else start


# ------------------------------------------------------------------ progress
class Progress:
    """Progress on stderr: one rewritten line on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last = 0.0

    def __call__(self, p: Any) -> None:
        now = time.monotonic()
        final = getattr(p, "stage", "") == "done"
        if not final and now - self._last < (0.2 if self.tty else 5.0):
            return
        self._last = now
        cur = getattr(p, "current", None) or ""
        if len(cur) > 50:
            cur = "…" + cur[-49:]
        line = f"[{p.fraction * 100:5.1f}%] {p.files_done}/{p.files_total} {p.stage} {cur}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class _NoticeLine(logging.Handler):
    """Prints the memory's privacy notices as ``lifelog: …`` lines on (the current) stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"lifelog: {record.getMessage()}", file=sys.stderr, flush=True)


def private_process() -> None:
    """What every ``lifelog`` run does first (docs/privacy.md): files and folders it creates are
    private to the user (umask 0o077: LanceDB, the vault, the receiver, sync all inherit it), and
    permissions a memory had to have repaired on opening are said on stderr, once per memory."""
    from lifelog.api.process import PRIVACY_LOGGER, limit_arenas, use_private_umask  # light: no LanceDB (#18)

    use_private_umask()
    limit_arenas()  # before any thread: two malloc arenas (lifelog.store.heap)
    log = logging.getLogger(PRIVACY_LOGGER)
    if not any(isinstance(h, _NoticeLine) for h in log.handlers):
        log.addHandler(_NoticeLine(logging.WARNING))


def open_memory(args: argparse.Namespace) -> Any:
    from lifelog.api import Memory
    from lifelog.api.system import check_data_dir, data_dir_error

    # A memory on a disk that is not mounted, or a folder that cannot be made: say so (exit 1).
    path, problem = check_data_dir(getattr(args, "data_dir", None))
    if problem:
        raise CliError(problem, EXIT_ERROR)
    try:
        return Memory(getattr(args, "data_dir", None))
    except OSError as e:
        said = data_dir_error(path, e)
        if said is None:
            raise
        raise CliError(said, EXIT_ERROR) from e


