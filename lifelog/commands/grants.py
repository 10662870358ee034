"""``lifelog grants`` (access for other programs: add, list, revoke, read the access log) and
``lifelog api`` (the local HTTP API in the foreground). See docs/api.md. Nothing heavy is
imported at module level: the parser is built for every command."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lifelog.commands.common import EXIT_OK, EXIT_USAGE, CliError, emit, open_memory, parse_when


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    gr = sub.add_parser("grants", parents=[common],
                        help="access for other programs: one token per client, scoped, logged")
    gj = argparse.ArgumentParser(add_help=False)
    gj.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document")
    gr.add_argument("--json", action="store_true", help="print one JSON document")
    act = gr.add_subparsers(dest="grants_action", metavar="ACTION")
    add = act.add_parser("add", parents=[common, gj], help="a new grant; prints its token once")
    add.add_argument("name", help="who it is for (e.g. my-assistant)")
    add.add_argument("--scope", required=True, metavar="KINDS",
                     help="what it may read, comma-separated: ask, search, episodes, people, objects, "
                          "transcripts, thumbnails, profile, status (or all)")
    add.add_argument("--days", type=float, default=30.0, help="how long it lasts (default 30 days)")
    add.add_argument("--no-expiry", action="store_true", help="lasts until revoked")
    add.add_argument("--exclude-person", action="append", default=[], metavar="ID",
                     help="never show this person or the episodes they are in (repeatable)")
    add.add_argument("--from", dest="period_from", metavar="DATE", help="only episodes from this date or time on")
    add.add_argument("--to", dest="period_to", metavar="DATE", help="only episodes up to this date (inclusive) or time")
    act.add_parser("list", parents=[common, gj], help="every grant and its state")
    rv = act.add_parser("revoke", parents=[common, gj], help="revoke a grant now (its next request is refused)")
    rv.add_argument("id", metavar="ID", help="the grant's id (or its name)")
    lg = act.add_parser("log", parents=[common, gj], help="what clients read: every request, per grant")
    lg.add_argument("id", nargs="?", metavar="ID", help="one grant (id or name); default: all")
    lg.add_argument("--limit", type=int, default=None, help="only the latest N entries")

    api = sub.add_parser("api", parents=[common], help="serve the local HTTP API (loopback) in the foreground")
    api.add_argument("--port", type=int, default=None, help="port (default 8765; 0: any free port)")
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback)")
    api.add_argument("--allow-remote", action="store_true",
                     help="allow binding an address other machines can reach (off by default)")
    return {"grants": cmd_grants, "api": cmd_api}


def _line(g: Any) -> str:
    doc = g.to_json()
    period = ""
    if doc["from"] or doc["to"]:
        period = f"  period {doc['from'] or '…'} – {doc['to'] or '…'}"
    excl = f"  excludes {', '.join(doc['exclude_people'])}" if doc["exclude_people"] else ""
    until = f"until {doc['expires'][:16]}" if doc["expires"] else "no expiry"
    return f"{g.id}  {g.name}  [{doc['state']}]  {','.join(doc['scopes'])}  {until}{period}{excl}"


def cmd_grants(args: argparse.Namespace) -> int:
    from lifelog.api.grants import GrantError, grants_of, read_log

    mem = open_memory(args)
    grants = grants_of(mem)
    action = getattr(args, "grants_action", None) or "list"
    as_json = getattr(args, "json", False)
    try:
        if action == "add":
            tz = mem.tz
            start = parse_when(args.period_from, tz) if args.period_from else None
            end = parse_when(args.period_to, tz, end_of_day=True) if args.period_to else None
            known = {p.id for p in mem.people(include_hidden=True)}
            unknown = [p for p in args.exclude_person if p not in known]
            if unknown:
                raise CliError(f"no person {unknown[0]!r} (see `lifelog people --all`)", EXIT_USAGE)
            g, token = grants.add(args.name, args.scope, days=None if args.no_expiry else args.days,
                                  exclude_people=args.exclude_person, period_start=start, period_end=end)
            if as_json:
                emit({**g.to_json(), "token": token})
            else:
                print(_line(g))
                print(f"token (shown once; give it to {g.name}, keep it secret): {token}")
                print("use: Authorization: Bearer <token>   (lifelog api serves http://127.0.0.1:8765/v1/…)",
                      file=sys.stderr)
            return EXIT_OK
        if action == "list":
            items = grants.list()
            if as_json:
                emit([g.to_json() for g in items])
            elif not items:
                print("no grants (add one with `lifelog grants add NAME --scope ask`)")
            else:
                for g in items:
                    print(_line(g))
            return EXIT_OK
        if action == "revoke":
            g = grants.revoke(args.id)
            if as_json:
                emit(g.to_json())
            else:
                print(f"revoked {g.id} ({g.name}): its next request is refused")
            return EXIT_OK
        if action == "log":
            if args.limit is not None and args.limit < 1:
                raise CliError("--limit must be at least 1", EXIT_USAGE)
            gid = grants.get(args.id).id if args.id else None
            entries = read_log(mem, gid, args.limit)
            if as_json:
                emit(entries)
                return EXIT_OK
            names = {g.id: g.name for g in grants.list()}
            if not entries:
                print("no requests logged")
            for e in entries:
                eps = e.get("episodes") or []
                q = f"  {e['question']!r}" if e.get("question") else ""
                why = f"  ({e['detail']})" if e.get("detail") and e.get("outcome") != "ok" else ""
                print(f"{str(e.get('at', ''))[:19]}  {names.get(e.get('grant', ''), e.get('grant'))}  "
                      f"{e.get('via')} {e.get('op')}  {e.get('outcome')}{why}{q}  "
                      f"{len(eps)} episode(s)")
            return EXIT_OK
    except GrantError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    raise CliError(f"unknown grants action {action!r}", EXIT_USAGE)  # pragma: no cover - argparse


def cmd_api(args: argparse.Namespace) -> int:
    from lifelog.serve.http import DEFAULT_PORT, ApiServer, RemoteBindRefused

    mem = open_memory(args)
    port = DEFAULT_PORT if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise CliError("--port must be between 0 and 65535", EXIT_USAGE)
    try:
        server = ApiServer(mem, args.host, port, allow_remote=args.allow_remote)
    except RemoteBindRefused as e:
        raise CliError(str(e), EXIT_USAGE) from e
    except OSError as e:
        raise CliError(f"cannot listen on {args.host}:{port}: {e.strerror or e}", EXIT_USAGE) from e
    if server.remote:
        print(f"lifelog: WARNING: serving on {args.host}, reachable from other machines (--allow-remote); "
              "requests still need a grant token, and travel unencrypted", file=sys.stderr)
    print(f"lifelog: API on {server.url}/v1 (schema: {server.url}/openapi.json); Ctrl-C stops it",
          file=sys.stderr, flush=True)
    server.run()
    print("lifelog: API stopped", file=sys.stderr)
    return EXIT_OK
