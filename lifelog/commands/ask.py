"""``lifelog ask``'s work and output, shared by the command and by ``lifelog service``, which
answers questions handed over by a cold command (``lifelog.serve.asks``, issue #18): the same
function writes the same bytes either way.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from typing import Any, TextIO

from lifelog.commands.common import EXIT_OK, EXIT_USAGE, CliError

ASK_FIELDS = ("question", "now", "limit", "json", "no_thumbnails")


def answer_question(memory: Any, args: argparse.Namespace, out: TextIO) -> int:
    """``lifelog ask``'s work and output, written to ``out``. ``memory`` is the open memory, or a
    function of ``args`` opening it (after the arguments were checked, as the command does). The
    service runs this same function for a question handed to it (:func:`ask_handler`)."""
    from lifelog.api.clock import Clock
    from lifelog.api.errors import QuestionError
    from lifelog.api.words import parse_now

    try:
        now = parse_now(args.now)
    except QuestionError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    if args.limit < 1:
        raise CliError("--limit must be at least 1", EXIT_USAGE)
    mem = memory(args) if callable(memory) else memory
    try:
        ans = mem.ask(args.question, now=now, limit=args.limit, thumbnails=not args.no_thumbnails)
    except QuestionError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    if args.json:
        out.write(json.dumps(ans.to_json(), ensure_ascii=False) + "\n")  # as emit() does
        out.flush()
        return EXIT_OK
    clock = Clock.of(mem)  # one clock: the memory's zone, as in the app (lifelog.api.clock)
    print(ans.answer, file=out)
    for p in ans.to_name:  # the answer names no command; the CLI's way to name someone is one
        print(f"  not named yet: lifelog people name {p.person_id} {p.suggested_name or 'NAME'}"
              + (f"  [{p.thumbnail}]" if p.thumbnail else ""), file=out)
    for i, h in enumerate(ans.hits, 1):
        print(f"  {i}. {clock.stamp(h.start, weekday=True)}–{clock.time(h.end)}  score {h.score:.2f}  {h.episode_id}",
              file=out)
        for ev in h.evidence[:3]:
            print(f"       {ev.kind}: {ev.text}" + (f"  [{ev.thumbnail}]" if ev.thumbnail else ""), file=out)
    return EXIT_OK


def ask_handler(mem: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What ``lifelog service`` runs for a question a cold ``lifelog ask`` handed over: the
    command's own code on the service's open memory; the reply carries the exit code and what
    the command would have written on stdout and stderr."""

    def handle(req: dict[str, Any]) -> dict[str, Any]:
        args = argparse.Namespace(**{k: req.get(k) for k in ASK_FIELDS})
        if not isinstance(args.question, str) or not isinstance(args.limit, int):
            raise ValueError("a malformed question")
        out = io.StringIO()
        try:
            code = answer_question(mem, args, out)
            err = ""
        except CliError as e:
            code, err = e.code, f"lifelog: {e}\n"
        return {"code": code, "stdout": out.getvalue(), "stderr": err}

    return handle
