"""``lifelog ask``'s work and output, shared by the command and by ``lifelog service``, which
answers questions handed over by a cold command (``lifelog.serve.asks``, issue #18): the same
function writes the same bytes either way.

:func:`handed_over` is the quick way in: before the ``lifelog`` command builds its parser (every
command's options, ~40 ms) or imports anything of the core, a command line that is plainly an
``ask`` is handed to the memory's running service. Anything it is not sure about (``--help``, an
abbreviated option, a bad ``--limit``) is left to the full parser, which tries the service too.
Importing this module imports only the standard library.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import argparse

ASK_FIELDS = ("question", "now", "limit", "json", "no_thumbnails")
_VALUE_OPTIONS = {"--now": "now", "--limit": "limit", "--data-dir": "data_dir"}
_FLAG_OPTIONS = {"--json": "json", "--no-thumbnails": "no_thumbnails"}
_EXIT_ERROR = 1  # lifelog.commands.common.EXIT_ERROR, without importing it


def quick_ask_args(argv: Sequence[str]) -> dict[str, Any] | None:
    """``lifelog [--data-dir D] ask QUESTION [--now T] [--limit N] [--json] [--no-thumbnails]
    [--data-dir D]`` read without argparse: the fields of :data:`ASK_FIELDS` and ``data_dir``, as
    the full parser would give them; None for anything else (then the full parser reads it)."""
    args: dict[str, Any] = {"question": None, "now": None, "limit": 5, "json": False, "no_thumbnails": False,
                            "data_dir": None}
    i, seen_command = 0, False
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok.startswith("-"):
            name, eq, value = tok.partition("=")
            if name in _FLAG_OPTIONS and not eq and seen_command:
                args[_FLAG_OPTIONS[name]] = True
                continue
            if name not in _VALUE_OPTIONS or (name != "--data-dir" and not seen_command):
                return None  # --help, --version, an abbreviation, another option: argparse's to say
            if not eq:
                if i >= len(argv):
                    return None
                value = argv[i]
                i += 1
                if value.startswith("-"):
                    return None
            args[_VALUE_OPTIONS[name]] = value
        elif not seen_command:
            if tok != "ask":
                return None
            seen_command = True
        elif args["question"] is None:
            args["question"] = tok
        else:
            return None  # a second positional: a usage error the parser words
    if not seen_command or args["question"] is None:
        return None
    try:
        args["limit"] = int(args["limit"])  # argparse's type=int
    except ValueError:
        return None
    return args


def hand_over(fields: dict[str, Any], data_dir: str | None) -> int | None:
    """Send an ``ask`` to the running ``lifelog service`` of the memory (it has the models
    loaded: issue #18) and print its reply; its exit code, or None when none answers (then the
    question is answered in-process)."""
    if os.environ.get("LIFELOG_NO_HANDOFF"):
        return None
    from datetime import datetime

    from lifelog.api.handoff import resolve_data_dir, send

    try:
        folder = resolve_data_dir(data_dir)
    except Exception:  # any problem with the folder is reported by the in-process path
        return None
    # "now" is this process's clock and zone, as it would be in-process
    now = fields.get("now") or datetime.now().astimezone().isoformat()
    reply = send(folder, {"command": "ask", **{k: fields.get(k) for k in ASK_FIELDS}, "now": now})
    if reply is None:
        return None
    sys.stdout.write(str(reply.get("stdout", "")))
    sys.stdout.flush()
    sys.stderr.write(str(reply.get("stderr", "")))
    code = reply.get("code")
    return code if isinstance(code, int) else _EXIT_ERROR


def handed_over(argv: Sequence[str]) -> tuple[bool, int | None]:
    """The quick way in (``python -m lifelog`` and :func:`lifelog.commands.main.main` call it
    first): a plain ``ask`` command line handed to the running service. Whether it was tried
    (the command line was a plain ``ask``) and the exit code when the service answered."""
    fields = quick_ask_args(argv)
    if fields is None:
        return False, None
    return True, hand_over(fields, fields.get("data_dir"))


def answer_question(memory: Any, args: argparse.Namespace, out: TextIO) -> int:
    """``lifelog ask``'s work and output, written to ``out``. ``memory`` is the open memory, or a
    function of ``args`` opening it (after the arguments were checked, as the command does). The
    service runs this same function for a question handed to it (:func:`ask_handler`)."""
    import json

    from lifelog.api.clock import Clock
    from lifelog.api.words import QuestionError, parse_now  # light: LanceDB is imported by the open
    from lifelog.commands.common import EXIT_OK, EXIT_USAGE, CliError

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


class _WithoutPandas:
    """A finder on ``sys.meta_path`` that says pandas is not installed (:func:`without_pandas`)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: object = None) -> None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (a one-question `lifelog ask` runs without pandas)", name=fullname)
        return None  # anything else: the usual finders


def without_pandas() -> bool:
    """Make this process run as if pandas were not installed (issue #18); False when pandas is
    already imported (then nothing changes).

    pyarrow imports pandas, when it is installed, the first time it converts a Python value
    (``pyarrow.dataset`` does at import, for its constant ``True``) and LanceDB imports pyarrow:
    ~0.15 s of a cold question's CPU. Nothing lifelog asks of LanceDB and pyarrow uses it: pandas
    is no dependency of lifelog, LanceDB or pyarrow (only the optional ``scale`` extra brings it,
    through Ray), so a core install answers without it anyway, and both libraries check for it
    and go without. It must be absent for the whole process, not only while pyarrow looks for it:
    pyarrow looks once, and a pandas imported later would then be converted wrongly (``pd.NA`` not
    taken for a null). Something that really needed pandas here would fail loudly
    (``ModuleNotFoundError``), never quietly. Only the one-question process
    (:func:`one_question_process`) does this; the service, the app and other commands import
    pandas as before where it is installed."""
    if "pandas" in sys.modules:
        return False
    if not any(isinstance(f, _WithoutPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _WithoutPandas())  # a finder by protocol (find_spec)
    return True


def _override_marker(method: Any = None, *, check_signature: bool = True, check_at_runtime: bool = False) -> Any:
    """``overrides.override`` as ``typing.override`` is: it marks the method (``__override__``,
    which ``overrides.EnforceOverrides`` looks for) and checks nothing."""
    if method is None:  # @override(check_signature=…)
        return _override_marker
    import contextlib

    with contextlib.suppress(AttributeError, TypeError):  # as typing.override: an object that takes none
        method.__override__ = True
    return method


def overrides_as_markers() -> bool:
    """Make the ``overrides`` package's ``@override`` a marker in this process, as
    ``typing.override`` is (issue #18); False where nothing changes (Python ≥ 3.12, no
    ``overrides``, or LanceDB imported already).

    LanceDB marks ~100 methods ``@override``: from Python 3.12 on with ``typing.override``, a
    marker; before with the ``overrides`` package's decorator, which checks, while each class is
    made, that the method's signature matches the one it overrides: finding that one
    disassembles the module's code up to the decorator, every time (~0.1 s of a cold question's
    CPU). Those checks are for LanceDB's developers; LanceDB's classes pass them (they import
    everywhere else). With the marker the same classes are made, each method the same function
    marked the same way, and ``EnforceOverrides`` enforces as before; only a method without a
    docstring of its own does not get its parent's. Only the one-question process does this."""
    if sys.version_info >= (3, 12) or "lancedb" in sys.modules:
        return False
    try:
        import overrides
    except ImportError:
        return False
    overrides.override = _override_marker
    return True


def one_question_process() -> None:
    """What ``lifelog ask`` does before answering when its process answers one question and
    ends (the command's own command line; issue #18): the cyclic garbage collector off (a
    one-question process frees almost nothing: ~10% of its CPU), pandas left out
    (:func:`without_pandas`) and LanceDB's ``@override`` checks skipped
    (:func:`overrides_as_markers`). The process then ends with :func:`exit_at_once`."""
    import gc

    gc.disable()
    without_pandas()
    overrides_as_markers()


def exit_at_once(code: int) -> None:
    """End this process now that a cold ``lifelog ask`` has written its answer, without the
    interpreter's teardown (issue #18): unloading hundreds of modules and freeing the text model,
    LanceDB's runtime and their buffers took 0.3–0.8 s after the answer was already on the screen.

    What a normal exit does that matters still happens, in the same order: the ``atexit``
    functions run (logging's flush, ``weakref.finalize`` callbacks such as a temporary folder's
    removal), then stdout and stderr are flushed. A question
    writes nothing that a teardown would finish; where some other non-daemon thread is still
    alive this returns and the process exits the usual way. A flush that fails (stdout closed
    by the reader) is left to the usual exit too, which reports it as before."""
    import atexit
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


def ask_handler(mem: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What ``lifelog service`` runs for a question a cold ``lifelog ask`` handed over: the
    command's own code on the service's open memory; the reply carries the exit code and what
    the command would have written on stdout and stderr."""
    import argparse
    import io

    from lifelog.commands.common import CliError

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
