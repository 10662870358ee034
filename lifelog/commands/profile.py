"""``lifelog profile [--json]`` (the plain-text memory profile), ``lifelog profile edit`` (edit it in
``$VISUAL``/``$EDITOR``), ``lifelog profile history`` and ``lifelog profile refresh``. See
docs/profile.md. Nothing heavy at module level."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from datetime import datetime
from typing import Any

from lifelog.commands.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CliError, emit, open_memory


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    pr = sub.add_parser("profile", parents=[common], help="the memory profile: what lifelog believes, as text")
    pr.add_argument("action", nargs="?", choices=["show", "edit", "history", "refresh"], default="show",
                    help="show (the default), edit in $VISUAL/$EDITOR, history of changes, refresh now")
    pr.add_argument("--now", metavar="ISO8601", help="refresh/edit: record changes at this time")
    pr.add_argument("--json", action="store_true", help="print one JSON document")
    return {"profile": cmd_profile}


def _now(args: argparse.Namespace) -> datetime | None:
    if not args.now:
        return None
    try:
        dt = datetime.fromisoformat(args.now)
    except ValueError as e:
        raise CliError(f"--now: not an ISO 8601 time: {args.now!r}", EXIT_USAGE) from e
    return dt if dt.tzinfo else dt.astimezone()


def _out(args: argparse.Namespace, doc: Any, text: str) -> None:
    if args.json:
        emit(doc)
    else:
        print(text)


def _editor() -> list[str]:
    cmd = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not cmd:
        raise CliError("set $VISUAL or $EDITOR to the editor to use (e.g. EDITOR=nano)", EXIT_USAGE)
    return shlex.split(cmd)


def cmd_profile(args: argparse.Namespace) -> int:
    from lifelog.api.profile import (
        ProfileError,
        edit_profile,
        profile_history,
        read_profile,
        refresh_profile,
    )

    mem = open_memory(args)
    if args.action == "show":
        view = read_profile(mem)
        _out(args, view.to_json(), view.text.rstrip())
        return EXIT_OK
    if args.action == "history":
        entries = profile_history(mem)
        _out(args, [h.to_json() for h in entries],
             "\n".join(f"{h.at:%Y-%m-%d %H:%M}  {h.what}" for h in entries) or "No changes yet.")
        return EXIT_OK
    if args.action == "refresh":
        done = refresh_profile(mem, _now(args))
        _out(args, done.to_json(), f"Profile refreshed: {done.inferred} inferred lines, {done.user} of yours"
             + (f", {done.contradictions} contradiction(s) recorded in the history" if done.contradictions else ""))
        return EXIT_OK
    editor = _editor()

    def run(path: str) -> None:
        done = subprocess.run([*editor, path], check=False)
        if done.returncode != 0:
            raise CliError(f"the editor exited with {done.returncode}: nothing saved", EXIT_ERROR)

    def again(message: str) -> bool:
        print(f"lifelog: {message}", file=sys.stderr)
        if not sys.stdin.isatty():
            return False
        return input("Edit again? [Y/n] ").strip().lower() in ("", "y", "yes")

    try:
        rep = edit_profile(mem, run, _now(args), on_error=again)
    except ProfileError as e:
        raise CliError(f"profile not saved: {e}", EXIT_ERROR) from e
    if rep is None:
        _out(args, {"saved": False}, "No changes.")
    else:
        _out(args, {"saved": True, **rep.to_json()},
             f"Saved: {rep.user} line(s) of yours; the history has {rep.history_added} new entr"
             f"{'y' if rep.history_added == 1 else 'ies'}.")
    return EXIT_OK
