"""``lifelog places`` (list, name, episodes at, forget). Loaded for every command: nothing heavy
at module level. See docs/places.md."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from lifelog.commands.common import EXIT_OK, EXIT_USAGE, CliError, emit, open_memory


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    pl = sub.add_parser("places", parents=[common], help="where episodes happened; name a place")
    pl.add_argument("action", nargs="?", choices=["list", "name", "episodes", "refresh", "forget"], default="list",
                    help="list (the default); name ID NAME; episodes ID; refresh; forget ID")
    pl.add_argument("args", nargs="*", metavar="ARG", help="name: ID NAME; episodes: ID; forget: ID")
    pl.add_argument("--yes", action="store_true", help="forget: do not ask for confirmation")
    pl.add_argument("--json", action="store_true", help="print one JSON document")
    return {"places": cmd_places}


def _when(p: Any) -> str:
    first = p.first_seen.strftime("%Y-%m-%d %H:%M") if p.first_seen else "?"
    last = p.last_seen.strftime("%Y-%m-%d %H:%M") if p.last_seen else "?"
    return first if first == last else f"{first} … {last}"


def cmd_places(args: argparse.Namespace) -> int:
    from lifelog.api import places as api

    mem = open_memory(args)
    a = list(args.args)
    try:
        if args.action == "list":
            if a:
                raise CliError("places: list takes no arguments", EXIT_USAGE)
            found = api.list_places(mem)
            if args.json:
                emit([p.to_json() for p in found])
                return EXIT_OK
            if not found:
                print("no places yet (GPS in the files, or scenes that recur, make them)")
            for p in found:
                print(f"{p.id}  {p.label}  [{p.kind}]  {p.episodes} episode{'s' * (p.episodes != 1)}  {_when(p)}")
            return EXIT_OK
        if args.action == "name":
            if len(a) < 2:
                raise CliError("places name ID NAME: say which place and its name", EXIT_USAGE)
            p = api.name_place(mem, a[0], " ".join(a[1:]))
            if args.json:
                emit(p.to_json())
            else:
                print(f"{p.id} is now called {p.name!r}")
            return EXIT_OK
        if args.action == "episodes":
            if len(a) != 1:
                raise CliError("places episodes ID: say which place", EXIT_USAGE)
            visits = api.episodes_at(mem, a[0])
            if args.json:
                emit([{"episode": v.episode_id, "start": v.start.astimezone(mem.tz).isoformat(),
                       "end": v.end.astimezone(mem.tz).isoformat()} for v in visits])
            for v in [] if args.json else visits:
                print(f"{v.episode_id}  {v.start.astimezone(mem.tz):%Y-%m-%d %H:%M}")
            return EXIT_OK
        if args.action == "refresh":
            r = api.refresh_places(mem)
            if args.json:
                emit({"places": r.places, "visits": r.visits, "new": r.created, "removed": r.removed})
            else:
                print(f"{r.places} places, {r.visits} episodes placed")
            return EXIT_OK
        return _forget(args, mem, a)
    except api.PlacesError as e:
        raise CliError(str(e), EXIT_USAGE) from e


def _forget(args: argparse.Namespace, mem: Any, a: list[str]) -> int:
    from lifelog.api.errors import ForgetError, WriteLockBusy, WriterWaitCancelled
    from lifelog.api.lock import when_writer_free
    from lifelog.api.privacy import ForgetRequest

    if len(a) != 1:
        raise CliError("places forget ID: say which place", EXIT_USAGE)
    try:
        plan = mem.plan_forget(ForgetRequest("place", a[0]))
    except ForgetError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"{plan.describe()}; add --yes to confirm (stdin is not a terminal)", EXIT_USAGE)
        if input(f"{plan.describe()}. This cannot be undone. Forget? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing forgotten", file=sys.stderr)
            return EXIT_OK
    try:
        result = when_writer_free(lambda: mem.forget(plan), threading.Event(), give_up_s=3600.0)
    except (WriteLockBusy, WriterWaitCancelled) as e:
        raise CliError(str(e)) from e
    if args.json:
        emit(result.to_json())
    else:
        print(f"forgotten: {plan.describe().removeprefix('this will forget ')}")
    return EXIT_OK
