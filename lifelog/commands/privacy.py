"""``lifelog forget`` (forget for good, after a preview and a confirmation) and ``lifelog audit``
(what was forgotten, when, how much). Loaded for every command: nothing heavy at module level."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from lifelog.commands.common import EXIT_OK, EXIT_USAGE, CliError, emit, open_memory, parse_when


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    fg = sub.add_parser("forget", parents=[common], help="forget for good (no trace left on disk)")
    what = fg.add_mutually_exclusive_group(required=True)
    what.add_argument("--episode", metavar="ID", help="one episode")
    what.add_argument("--day", metavar="YYYY-MM-DD", help="every episode of a day (the memory's time zone)")
    what.add_argument("--range", nargs=2, metavar=("FROM", "TO"), help="every episode between two dates or times")
    what.add_argument("--before", metavar="DATE", help="every episode before a date")
    what.add_argument("--person", metavar="ID", help="a person: faces, name, what they said, their episodes")
    what.add_argument("--object", metavar="NAME", help="every episode in which an everyday object was seen")
    what.add_argument("--device", metavar="ID", help="everything from a device, and unpair it")
    what.add_argument("--everything", action="store_true", help="the whole memory (settings and pairings stay)")
    fg.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    fg.add_argument("--preview", action="store_true", help="only say what would be forgotten")
    fg.add_argument("--json", action="store_true", help="print one JSON document")
    rt = sub.add_parser("retention", parents=[common], help="what the retention rules remove now; --apply to do it")
    rt.add_argument("--apply", action="store_true", help="remove what is due, for good")
    rt.add_argument("--now", metavar="ISO8601", help="judge ages as if it were this time")
    rt.add_argument("--json", action="store_true", help="print one JSON document")
    au = sub.add_parser("audit", parents=[common], help="what was forgotten or exported, and when (never what)")
    au.add_argument("--json", action="store_true", help="print one JSON document")
    tr = sub.add_parser("trash", parents=[common],
                        help="what the app moved to the trash; restore it, or empty the trash")
    tr.add_argument("action", nargs="?", choices=["list", "restore", "empty"], default="list",
                    help="list (the default), restore ID..., or empty (forget it all for good)")
    tr.add_argument("ids", nargs="*", metavar="ID", help="restore: trash entry ids or episode ids")
    tr.add_argument("--yes", action="store_true", help="empty: do not ask for confirmation")
    tr.add_argument("--json", action="store_true", help="print one JSON document")
    return {"forget": cmd_forget, "audit": cmd_audit, "retention": cmd_retention, "trash": cmd_trash}


def _request(args: argparse.Namespace, tz: Any) -> Any:
    from lifelog.api.privacy import ForgetRequest

    if args.episode:
        return ForgetRequest("episode", args.episode)
    if args.day:
        return ForgetRequest("day", start=parse_when(args.day, tz), end=parse_when(args.day, tz, end_of_day=True))
    if args.range:
        start, end = parse_when(args.range[0], tz), parse_when(args.range[1], tz, end_of_day=True)
        if end <= start:
            raise CliError("--range FROM TO: TO must come after FROM", EXIT_USAGE)
        return ForgetRequest("range", start=start, end=end)
    if args.before:
        return ForgetRequest("range", start=None, end=parse_when(args.before, tz))
    if args.person:
        return ForgetRequest("person", args.person)
    if args.object:
        return ForgetRequest("object", args.object)
    if args.device:
        return ForgetRequest("device", args.device)
    return ForgetRequest("everything")


def cmd_forget(args: argparse.Namespace) -> int:
    from lifelog.api.errors import ForgetError, WriteLockBusy, WriterWaitCancelled
    from lifelog.api.lock import when_writer_free

    mem = open_memory(args)
    try:
        plan = mem.plan_forget(_request(args, mem.tz))
    except ForgetError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    if args.preview or plan.is_empty():
        if args.json:
            emit({**plan.to_json(), "forgotten": False})
        else:
            print(plan.describe())
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"{plan.describe()}; add --yes to confirm (stdin is not a terminal)", EXIT_USAGE)
        answer = input(f"{plan.describe()}. This cannot be undone. Forget? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing forgotten", file=sys.stderr)
            return EXIT_OK
    cancel = threading.Event()

    def stage(what: str) -> None:
        print(f"forget: {what}", file=sys.stderr)

    try:  # an import holding the memory is waited for, not failed
        result = when_writer_free(lambda: mem.forget(plan, progress=stage), cancel, give_up_s=3600.0)
    except (WriteLockBusy, WriterWaitCancelled) as e:
        raise CliError(str(e)) from e
    if args.json:
        emit(result.to_json())
    else:
        print(f"forgotten: {plan.describe().removeprefix('this will forget ')}")
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    mem = open_memory(args)
    entries = mem.audit_log()
    if args.json:
        emit(entries)
        return EXIT_OK
    if not entries:
        print("nothing forgotten, exported or purged yet")
    for e in entries:
        counts = ", ".join(f"{v} {k}" for k, v in sorted(e.get("counts", {}).items()) if v)
        print(f"{e.get('at', '?')}  {e.get('action', '?')} {e.get('target', '')}  {counts or 'nothing'}")
    return EXIT_OK


def cmd_retention(args: argparse.Namespace) -> int:
    from lifelog.api.errors import QuestionError
    from lifelog.api.lock import when_writer_free
    from lifelog.api.words import parse_now

    mem = open_memory(args)
    try:
        now = parse_now(args.now) if args.now else None
    except QuestionError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    if args.apply:
        plan = when_writer_free(lambda: mem.apply_retention(now), threading.Event(), give_up_s=3600.0)
    else:
        plan = mem.plan_retention(now)
    rules = mem.settings.retention.model_dump()
    if args.json:
        emit({**plan.to_json(), "rules": rules, "applied": bool(args.apply)})
        return EXIT_OK
    shown = ", ".join(f"{k.removesuffix('_days')} {v} days" for k, v in rules.items()
                      if v and k != "trash_days") or "keep everything"
    print(f"rules: {shown}")
    print(plan.describe() if not args.apply else plan.describe().replace("will remove", "removed"))
    return EXIT_OK


def cmd_trash(args: argparse.Namespace) -> int:
    """``lifelog trash [--json]``, ``lifelog trash restore ID...``, ``lifelog trash empty [--yes]``."""
    from lifelog.api.errors import ForgetError, WriteLockBusy, WriterWaitCancelled
    from lifelog.api.lock import when_writer_free

    mem = open_memory(args)
    if args.action != "restore" and args.ids:
        raise CliError(f"lifelog trash {args.action} takes no ids", EXIT_USAGE)
    if args.action == "list":
        entries = mem.trash()
        if args.json:
            emit([e.to_json() for e in entries])
            return EXIT_OK
        if not entries:
            print("the trash is empty")
        for e in entries:
            n = len(e.episodes)
            print(f"{e.id}  {e.kind}, moved {e.at:%Y-%m-%d %H:%M}, forgotten for good after {e.purge_at:%Y-%m-%d}: "
                  f"{n} episode{'s' if n != 1 else ''}")
            for ep in e.episodes:
                print(f"    {ep.id}  {ep.start:%Y-%m-%d %H:%M}–{ep.end:%H:%M}  {ep.summary}")
        return EXIT_OK
    cancel = threading.Event()
    try:
        if args.action == "restore":
            if not args.ids:
                raise CliError("say what to restore: lifelog trash restore ID... (see `lifelog trash`)", EXIT_USAGE)
            try:
                restored = when_writer_free(lambda: mem.restore_from_trash(args.ids), cancel, give_up_s=3600.0)
            except ForgetError as e:
                raise CliError(str(e), EXIT_USAGE) from e
            if args.json:
                emit({"restored": restored})
            else:
                print(f"restored {len(restored)} episode{'s' if len(restored) != 1 else ''}")
            return EXIT_OK
        n = sum(len(e.episodes) for e in mem.trash())
        if not n:
            if args.json:
                emit({"emptied": False, "episodes": 0})
            else:
                print("the trash is empty")
            return EXIT_OK
        if not args.yes:
            what = f"this will forget {n} episode{'s' if n != 1 else ''} in the trash for good"
            if not sys.stdin.isatty():
                raise CliError(f"{what}; add --yes to confirm (stdin is not a terminal)", EXIT_USAGE)
            if input(f"{what}. This cannot be undone. Empty the trash? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing forgotten", file=sys.stderr)
                return EXIT_OK
        result = when_writer_free(mem.empty_trash, cancel, give_up_s=3600.0)
    except (WriteLockBusy, WriterWaitCancelled) as e:
        raise CliError(str(e)) from e
    if args.json:
        emit({"emptied": True, **(result.to_json() if result is not None else {"episodes": 0})})
    else:
        print(f"emptied the trash: {result.plan.describe().removeprefix('this will forget ') if result else 'nothing'}")
    return EXIT_OK
