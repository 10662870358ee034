"""``lifelog graph``: people, places and things over time (docs/graph.md). Loaded for every
command: nothing heavy at module level.

    lifelog graph person ID|NAME [--from D --to D]   who they were seen with, where, when
    lifelog graph place ID|NAME [--from D --to D]    who and what was seen there
    lifelog graph day DATE                           people, places, things of a day
    lifelog graph history ID|NAME                    a person's or place's names over time
    lifelog graph fact add SUBJECT "TEXT" | fact list [SUBJECT] [--all] | fact retract ID
    lifelog graph stats | build [--full] | export --format json|graphml OUT
    lifelog graph --person ID | --place ID           the neighbourhood (docs/cli.md contract)
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from lifelog.commands.common import EXIT_OK, EXIT_USAGE, CliError, emit, open_memory, parse_when


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    g = sub.add_parser("graph", parents=[common], help="who, where, with whom: the knowledge graph")
    g.add_argument("--person", metavar="ID", help="the neighbourhood of a person (same as `graph person ID`)")
    g.add_argument("--place", metavar="ID", help="the neighbourhood of a place (same as `graph place ID`)")
    _window(g, None)
    g.add_argument("--json", action="store_true", help="print one JSON document")
    after = argparse.ArgumentParser(add_help=False)  # options after the action too, without resetting them
    after.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document")
    win = argparse.ArgumentParser(add_help=False)
    _window(win, argparse.SUPPRESS)
    act = g.add_subparsers(dest="graph_action", metavar="ACTION")
    for name, what in (("person", "who they were seen with, where and when"),
                       ("place", "who and what was seen there")):
        a = act.add_parser(name, parents=[common, after, win], help=what)
        a.add_argument("who", nargs="+", metavar="ID|NAME")
    a = act.add_parser("day", parents=[common, after], help="the people, places and things of a day")
    a.add_argument("day", metavar="DATE", help="YYYY-MM-DD (in the memory's zone)")
    a = act.add_parser("history", parents=[common, after], help="a person's or place's names over time")
    a.add_argument("who", nargs="+", metavar="ID|NAME")
    a = act.add_parser("fact", parents=[common, after], help='add SUBJECT "TEXT" | list [SUBJECT] | retract ID')
    a.add_argument("fact", nargs="+", metavar="ARG")
    a.add_argument("--all", action="store_true", help="list: retracted facts too")
    act.add_parser("stats", parents=[common, after], help="how many nodes and edges")
    a = act.add_parser("build", parents=[common, after], help="bring the graph up to date now")
    a.add_argument("--full", action="store_true", help="read every episode's frames again")
    a = act.add_parser("export", parents=[common, after], help="the graph as JSON or GraphML for other tools")
    a.add_argument("--format", choices=["json", "graphml"], default="json", help="the file's format")
    a.add_argument("out", metavar="OUT", help="a new file")
    return {"graph": cmd_graph}


def _window(p: argparse.ArgumentParser, default: Any) -> None:
    p.add_argument("--from", dest="start", metavar="WHEN", default=default,
                   help="from this date or time (YYYY-MM-DD or ISO 8601)")
    p.add_argument("--to", dest="end", metavar="WHEN", default=default, help="until this date (included) or time")


def _t(d: Any) -> str:
    return f"{d:%Y-%m-%d %H:%M}" if d else "?"


def _print_presences(title: str, items: list[Any]) -> None:
    if not items:
        return
    print(f"{title}:")
    for p in items:
        label = p.label or (f"person {p.node_id}" if p.kind == "person" else f"place {p.node_id}")
        span = _t(p.first) if _t(p.first) == _t(p.last) else f"{_t(p.first)} … {_t(p.last)}"
        ids = ", ".join(p.episode_ids[:3]) + (" …" if len(p.episode_ids) > 3 else "")
        print(f"  {label} [{p.node_id}]  {p.count} episode{'s' * (p.count != 1)}  {span}  ({ids})")


def _print_view(v: Any) -> None:
    head = v.label or v.id
    print(f"{v.kind} {head}" + (f" [{v.id}]" if v.label else ""))
    if v.kind == "person":
        print(f"  seen in {len(v.episodes)} episode{'s' * (len(v.episodes) != 1)}"
              + (f", heard saying {v.said} thing{'s' * (v.said != 1)}" if v.said else ""))
    _print_presences("seen with" if v.kind == "person" else "people", v.people)
    _print_presences("places", v.places)
    _print_presences("things", v.things)
    if v.kind == "place" and v.episodes:
        print(f"  {len(v.episodes)} episode{'s' * (len(v.episodes) != 1)} here")
    for f in v.facts:
        print(f"  fact {f.id}: {f.text}")
    if not (v.people or v.places or v.things or v.episodes or v.facts):
        print("  nothing linked yet")


def cmd_graph(args: argparse.Namespace) -> int:
    from lifelog.api import graph as api

    action = args.graph_action
    a: list[str] = list(getattr(args, "who", None) or getattr(args, "fact", None) or [])
    if action == "day":
        a = [args.day]
    if args.person or args.place:
        if action or (args.person and args.place):
            raise CliError("graph: give --person ID or --place ID alone (or `graph person ID`)", EXIT_USAGE)
        action, a = ("person", [args.person]) if args.person else ("place", [args.place])
    if action is None:
        raise CliError("graph: say what to show: person ID, place ID, day DATE, history ID, fact …, stats, "
                       "export (see `lifelog graph --help`)", EXIT_USAGE)
    mem = open_memory(args)
    start = parse_when(args.start, mem.tz) if args.start else None
    end = parse_when(args.end, mem.tz, end_of_day=True) if args.end else None
    if start and end and end <= start:
        raise CliError("graph: --to must come after --from", EXIT_USAGE)
    try:
        if action in ("person", "place"):
            if len(a) < 1:
                raise CliError(f"graph {action} ID|NAME: say which {action}", EXIT_USAGE)
            who = " ".join(a)
            view = (api.person_view if action == "person" else api.place_view)(mem, who, start, end)
            emit(view.to_json()) if args.json else _print_view(view)
            return EXIT_OK
        if action == "day":
            if len(a) != 1:
                raise CliError("graph day DATE: say which day (YYYY-MM-DD)", EXIT_USAGE)
            try:
                d = date.fromisoformat(a[0])
            except ValueError as e:
                raise CliError(f"not a date: {a[0]!r} (use YYYY-MM-DD)", EXIT_USAGE) from e
            view = api.day_view(mem, d)
            emit(view.to_json()) if args.json else _print_view(view)
            return EXIT_OK
        if action == "history":
            if not a:
                raise CliError("graph history ID|NAME: say whose names", EXIT_USAGE)
            node, spans = api.history(mem, " ".join(a))
            if args.json:
                emit({"id": node, "names": [s.to_json() for s in spans]})
                return EXIT_OK
            if not spans:
                print(f"{node} has had no name yet")
            for s in spans:
                whose = "" if s.node == node else f"  (as {s.node}, merged in)"
                print(f"{_t(s.valid_from)} … {_t(s.valid_to) if s.valid_to else 'now'}  {s.name}  [{s.source}]{whose}")
            return EXIT_OK
        if action == "fact":
            return _fact(args, mem, a)
        if action == "stats":
            st = api.stats(mem)
            if args.json:
                emit(st.to_json())
            elif not st.built:
                print("no graph yet: it is built after the next import or nightly pass (or `lifelog graph build`)")
            else:
                print("nodes: " + ", ".join(f"{k} {n}" for k, n in st.nodes.items()))
                print("edges: " + ", ".join(f"{k} {n}" for k, n in st.edges.items()))
                print(f"history: {st.expired} expired edges; facts: {st.facts}")
            return EXIT_OK
        if action == "build":
            r = api.build_graph(mem, None if args.full else [])
            if args.json:
                emit(r.to_json())
            else:
                print(f"{r.added} edges added, {r.expired} expired, {r.removed} removed in {r.seconds:.2f} s")
            return EXIT_OK
        out = Path(args.out)
        counts = api.export_graph(mem, args.format, out)
        if args.json:
            emit({"path": str(out.absolute()), "format": args.format, **counts})
        else:
            print(f"wrote {counts['nodes']} nodes and {counts['edges']} edges to {out} (names in plain text)")
        return EXIT_OK
    except api.GraphError as e:
        raise CliError(str(e), EXIT_USAGE) from e


def _fact(args: argparse.Namespace, mem: Any, a: list[str]) -> int:
    from lifelog.api import graph as api

    sub = a[0] if a else None
    if sub == "add":
        if len(a) < 3:
            raise CliError('graph fact add SUBJECT "TEXT": say about whom and what', EXIT_USAGE)
        f = api.add_fact(mem, a[1], " ".join(a[2:]))
        emit(f.to_json()) if args.json else print(f"fact {f.id} about {f.subject}: {f.text}")
        return EXIT_OK
    if sub == "list":
        if len(a) > 2:
            raise CliError("graph fact list [SUBJECT]", EXIT_USAGE)
        facts = api.list_facts(mem, a[1] if len(a) == 2 else None, with_retracted=args.all)
        if args.json:
            emit([f.to_json() for f in facts])
            return EXIT_OK
        if not facts:
            print("no facts yet (`lifelog graph fact add SUBJECT \"TEXT\"`)")
        for f in facts:
            gone = f"  (retracted {_t(f.expired_at)})" if f.expired_at else ""
            print(f"{f.id}  {f.subject}  {f.text}{gone}")
        return EXIT_OK
    if sub == "retract":
        if len(a) != 2:
            raise CliError("graph fact retract ID", EXIT_USAGE)
        f = api.retract_fact(mem, a[1])
        emit(f.to_json()) if args.json else print(f"fact {f.id} retracted")
        return EXIT_OK
    raise CliError("graph fact add SUBJECT \"TEXT\" | list [SUBJECT] | retract ID", EXIT_USAGE)
