"""The ``lifelog`` command. See ``../shared/DESIGN.md`` (CLI contract) and README.md.

With ``--json`` a command prints exactly one JSON document on stdout; progress and logs go to
stderr. Exit codes: 0 success, 1 error, 2 usage / locked memory, 3 some files failed to import,
130 cancelled with Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from lifelog.commands.common import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    CliError,
    Progress,
    day_arg,
    emit,
    open_memory,
    path_arg,
    private_process,
)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # Accepted after the command too (a kindness); SUPPRESS keeps the global value otherwise.
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    p = argparse.ArgumentParser(prog="lifelog", description="An on-device visual memory.")
    p.add_argument("--data-dir", help="memory folder (default: $LIFELOG_HOME or the platform data dir)")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    imp = sub.add_parser("import", parents=[common], help="import video, photo and audio files or folders")
    imp.add_argument("paths", nargs="+", type=path_arg, metavar="PATH")
    imp.add_argument("--json", action="store_true", help="print one JSON document")
    imp.add_argument("--device", help=argparse.SUPPRESS)
    imp.add_argument("--no-transcribe", action="store_true", help="skip speech transcription (run it later)")
    imp.add_argument("--engine", choices=["local", "ray"], default="local",
                     help="ray: decode and encode in Ray actors (pip install 'lifelog[scale]'; docs/scale.md)")
    imp.add_argument("--address", metavar="ADDRESS", help="with --engine ray: a Ray cluster to join")
    imp.add_argument("--workers", type=int, metavar="N", help="with --engine ray: actors (default: the CPUs)")

    tr = sub.add_parser("transcribe", parents=[common], help="transcribe speech of imported files not yet done")
    tr.add_argument("--json", action="store_true")

    ask = sub.add_parser("ask", parents=[common], help="ask the memory a question")
    ask.add_argument("question")
    ask.add_argument("--now", help="ISO 8601 date-time that counts as now (default: the clock)")
    ask.add_argument("--limit", type=int, default=5, help="at most this many hits (default 5)")
    ask.add_argument("--json", action="store_true")
    ask.add_argument("--no-thumbnails", action="store_true", help="do not write evidence thumbnails")

    eps = sub.add_parser("episodes", parents=[common], help="list episodes")
    eps.add_argument("--day", type=day_arg, help="YYYY-MM-DD (local time)")
    eps.add_argument("--json", action="store_true")

    st = sub.add_parser("status", parents=[common], help="what the memory holds and where it lives")
    st.add_argument("--json", action="store_true")

    demo = sub.add_parser("demo", parents=[common], help="build the sample day, import it and ask it questions")
    demo.add_argument("--json", action="store_true")
    demo.add_argument("--out", type=Path, help="where to compose the sample media (default: the cache)")

    ppl = sub.add_parser("people", parents=[common], help="people seen; name, merge, split, hide them, undo")
    ppl.add_argument("--json", action="store_true", help="print one JSON document")
    ppl.add_argument("--all", action="store_true", help="also list hidden people")
    pj = argparse.ArgumentParser(add_help=False)  # --json after the action too, without resetting it
    pj.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document")
    pact = ppl.add_subparsers(dest="people_action", metavar="ACTION")
    pa = pact.add_parser("name", parents=[common, pj], help="name a person (or rename)")
    pa.add_argument("id")
    pa.add_argument("name")
    pa = pact.add_parser("merge", parents=[common, pj], help="merge the second person into the first")
    pa.add_argument("id")
    pa.add_argument("other_id", metavar="ID")
    pa = pact.add_parser("split", parents=[common, pj], help="move faces of a person into a new person")
    pa.add_argument("id")
    pa.add_argument("faces", nargs="+", metavar="FACE", help="face ids (see `people faces ID`)")
    pa = pact.add_parser("hide", parents=[common, pj], help="hide a person from the list")
    pa.add_argument("id")
    pa = pact.add_parser("unhide", parents=[common, pj], help="show a hidden person again")
    pa.add_argument("id")
    pact.add_parser("undo", parents=[common, pj], help="undo the latest name, merge, split, hide or unhide")
    pa = pact.add_parser("faces", parents=[common, pj], help="a person's faces (ids for split)")
    pa.add_argument("id")

    obj = sub.add_parser("objects", parents=[common], help="everyday objects seen, or when one was seen")
    obj.add_argument("name", nargs="?", metavar="NAME", help="an object (phone, mug, laptop…): list its episodes")
    obj.add_argument("--json", action="store_true", help="print one JSON document")

    _register_extensions(sub, common)
    app = sub.add_parser("app", parents=[common], help="open the desktop app")
    app.add_argument("--demo", action="store_true", help="open the sample-day memory made by `lifelog demo`")
    return p


# Commands that live in their own modules. Each module defines
#   register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> dict[str, handler]
# where handler(args) -> int, and imports nothing heavy at module level (the parser is built
# for every command).
_EXTENSION_COMMANDS: dict[str, Any] = {}


def _register_extensions(sub: Any, common: argparse.ArgumentParser) -> None:
    from lifelog.commands import (
        archive,
        capture,
        consolidate,
        devices,
        grants,
        graph,
        keys,
        mcp,
        models,
        places,
        privacy,
        profile,
        service,
        storage,
        wifi,
    )

    # forget, audit (privacy); export, import-archive (archive); profile …
    for mod in (devices, wifi, models, privacy, archive, capture, keys, mcp, profile, grants, consolidate, service,
                places, storage, graph):
        _EXTENSION_COMMANDS.update(mod.register(sub, common))


def _version() -> str:
    from lifelog import __version__

    return f"lifelog {__version__}"


# ------------------------------------------------------------------ commands
def cmd_import(args: argparse.Namespace) -> int:
    mem = open_memory(args)
    from lifelog.commands.capture import capture_doc

    if (cap := capture_doc(mem.data_dir))["paused"]:  # a manual import is not capture: it still runs
        print(f"lifelog: {cap['message']}; importing the files you picked anyway", file=sys.stderr)
    if mem.settings.privacy.quiet_hours:
        print("lifelog: quiet hours do not filter a manual import (you picked these files)", file=sys.stderr)
    cancel = threading.Event()
    transcribe = not args.no_transcribe and mem.settings.speech.enabled
    speech: list[Any] = []
    on_ray = getattr(args, "engine", "local") == "ray" or args.address or args.workers is not None
    try:
        if on_ray:
            from lifelog.commands.models import import_on_ray

            result = import_on_ray(mem, args, Progress(), cancel)
        elif transcribe:
            # speech of each imported file is transcribed while the next one imports (docs/speech.md)
            lines = _ImportLines()
            with _ctrl_c_cancels(cancel):
                result, speech = mem.import_and_transcribe(args.paths, progress=lines.importing, cancel=cancel,
                                                           device=args.device, speech_progress=lines.speaking)
        else:
            with _ctrl_c_cancels(cancel):
                result = mem.import_paths(args.paths, progress=Progress(), cancel=cancel, device=args.device)
    except KeyboardInterrupt:
        raise CliError("import cancelled; files already finished are kept", EXIT_CANCELLED) from None
    for path in result.rolled_back:
        print(f"lifelog: rolled back the unfinished import of {path} from an earlier run "
              "(it was cut short; nothing of it was kept)", file=sys.stderr)
    if on_ray and transcribe and not result.cancelled:
        speech = _transcribe(mem, cancel)
    for w in result.warnings:  # a missing speech model: the files stay pending for `lifelog transcribe`
        if w.error.startswith("speech not transcribed"):
            print(f"lifelog: {w.error}; `lifelog transcribe` finishes it", file=sys.stderr)
    speech_failed = [r for r in speech if r.status == "failed"]
    if args.json:
        doc = result.to_json()
        doc["transcripts"] = [r.to_json() for r in speech]
        emit(doc)
    else:
        print(
            f"imported {result.imported}, skipped {result.skipped} (already in memory), "
            f"failed {len(result.failed)}; {len(result.episodes)} new episode(s)"
            + (f"; {result.ignored} non-media file(s) ignored" if result.ignored else "")
        )
        for f in result.failed:
            print(f"  failed: {f.path}: {f.error}")
        for w in result.warnings:
            print(f"  warning: {w.path}: {w.error}")
        for r in speech_failed:
            print(f"  no transcript: {_speech_name(r)}: {r.error}")
    for f in result.failed:
        print(f"lifelog: {f.path}: {f.error}", file=sys.stderr)
    for r in speech_failed:
        print(f"lifelog: {_speech_name(r)}: no transcript: {r.error}", file=sys.stderr)
    if result.cancelled:
        print("lifelog: import cancelled; files already finished are kept"
              + ("; `lifelog transcribe` finishes their speech" if transcribe else ""), file=sys.stderr)
        return EXIT_CANCELLED
    # a file of an earlier import that has since moved is reported, but does not make this
    # import partial: nothing of what was asked to be imported failed
    this_run = [r for r in speech_failed if not (r.error or "").startswith("the file is no longer at")]
    return EXIT_PARTIAL if result.failed or this_run else EXIT_OK


@contextlib.contextmanager
def _ctrl_c_cancels(cancel: threading.Event) -> Iterator[None]:
    """The first Ctrl-C sets ``cancel``: the import stops at its next check (the file in progress
    is rolled back, finished files are kept), the speech beside it too, and the command prints
    what was done and exits 130. A second Ctrl-C stops at once (KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nlifelog: cancelling: the file in progress is rolled back (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _speech_name(r: Any) -> str:
    """The file a speech result is about (its path as imported; the media id if unknown)."""
    return str(getattr(r, "path", None) or r.media_id)


def _transcribe(mem: Any, cancel: threading.Event) -> list[Any]:
    from lifelog.api.errors import SpeechModelError

    prog = Progress()
    files = _SpeechFiles()

    def report(p: Any) -> None:
        prog(files.line(p))

    try:
        return list(mem.transcribe_pending(progress=report, cancel=cancel))
    except KeyboardInterrupt:
        print("\nlifelog: transcription interrupted; run `lifelog transcribe` to finish it", file=sys.stderr)
    except SpeechModelError as e:
        print(f"lifelog: speech not transcribed: {e}", file=sys.stderr)
    return []


class _SpeechLine:
    """Adapts speech progress to the import progress line: ``[ 40.0%] 1/2 transcribing ID``
    (the fraction of the file being transcribed; files finished / files started)."""

    def __init__(self, p: Any, done: int = 0, total: int = 0) -> None:
        self.fraction = float(getattr(p, "fraction", 0.0))
        self.files_done = done
        self.files_total = total
        self.stage = "transcribing"
        self.current = str(getattr(p, "media_id", "") or "")[:12]


class _SpeechFiles:
    """Counts the files a speech progress has gone through (the job reports one file at a time)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def line(self, p: Any) -> _SpeechLine:
        mid = str(getattr(p, "media_id", "") or "")
        if mid and (not self.seen or self.seen[-1] != mid):
            self.seen.append(mid)
        return _SpeechLine(p, max(len(self.seen) - 1, 0), len(self.seen))


class _WithSpeech:
    """An import progress line with the speech beside it at its end: ``… · speech 1/2 40%``."""

    def __init__(self, p: Any, s: _SpeechLine) -> None:
        self.fraction, self.files_done, self.files_total = p.fraction, p.files_done, p.files_total
        self.stage = p.stage
        self.current = f"{p.current or ''} · speech {s.files_done}/{s.files_total} {s.fraction:.0%}".lstrip()


class _ImportLines:
    """Progress of an import with its speech transcribed beside it (called from two threads). On
    a terminal, one rewritten line: the import's, with the speech's state at its end, then the
    speech's own once the import is done. Otherwise the import's lines and the speech's lines,
    each at most every few seconds."""

    def __init__(self, stream: TextIO | None = None) -> None:
        out = stream or sys.stderr
        self.tty = out.isatty()
        self._import = Progress(out)
        self._speech = Progress(out)
        self._files = _SpeechFiles()
        self._lock = threading.Lock()
        self._last: _SpeechLine | None = None
        self._import_done = False

    def importing(self, p: Any) -> None:
        with self._lock:
            if getattr(p, "stage", "") == "done":
                self._import_done = True
            elif self.tty and self._last is not None:
                p = _WithSpeech(p, self._last)
            self._import(p)

    def speaking(self, p: Any) -> None:
        with self._lock:
            self._last = line = self._files.line(p)
            if not self.tty or self._import_done:
                self._speech(line)


def cmd_transcribe(args: argparse.Namespace) -> int:
    mem = open_memory(args)
    results = _transcribe(mem, threading.Event())
    failed = [r for r in results if r.status == "failed"]
    if args.json:
        emit({"transcripts": [r.to_json() for r in results]})
    else:
        done = sum(r.status == "done" for r in results)
        print(f"transcribed {done} file(s); {len(failed)} failed")
        for r in failed:
            print(f"  no transcript: {_speech_name(r)}: {r.error}")
    for r in failed:
        print(f"lifelog: {_speech_name(r)}: no transcript: {r.error}", file=sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    from lifelog.commands.ask import answer_question

    return answer_question(open_memory, args, sys.stdout)


def _ask_via_service(args: argparse.Namespace) -> int | None:
    """Hand the question to a ``lifelog service`` running for the same memory (it has the models
    loaded: issue #18); its exit code, or None when none answers (then it is answered here)."""
    from lifelog.commands.ask import ASK_FIELDS, hand_over

    return hand_over({k: getattr(args, k) for k in ASK_FIELDS}, getattr(args, "data_dir", None))


def cmd_episodes(args: argparse.Namespace) -> int:
    from lifelog.api.clock import Clock

    mem = open_memory(args)
    eps = mem.episodes(args.day)
    if args.json:
        emit([e.to_json() for e in eps])
        return EXIT_OK
    if not eps:
        print("no episodes" + (f" on {args.day}" if args.day else ""))
    clock = Clock.of(mem)
    for e in eps:
        print(f"{clock.stamp(e.start, seconds=True)}–{clock.time(e.end, seconds=True)}  {e.id}  "
              f"{e.description or e.summary}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    mem = open_memory(args)
    doc = {"data_dir": str(mem.data_dir), "key": mem.vault.mode, **mem.stats(),
           "frames_to_reindex": mem.stale_frames(), "store_bytes": mem.store.bytes_on_disk(),
           "vault_bytes": sum(p.stat().st_size for p in mem.vault.root.rglob("*") if p.is_file())}
    from lifelog.commands.capture import capture_doc

    doc["capture"] = capture_doc(mem.data_dir)
    if args.json:
        emit(doc)
    else:
        for k, v in doc.items():
            print(f"{k}: {v}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from lifelog.api.demo import run_demo

    return run_demo(getattr(args, "data_dir", None), out=args.out, as_json=args.json, progress=Progress())


def _person_doc(p: Any, mem: Any) -> dict[str, Any]:
    doc: dict[str, Any] = p.to_json()
    doc["thumbnail_id"] = p.thumbnail
    doc["thumbnail"] = mem.thumbnail_file(p.thumbnail)  # a decrypted JPEG in the private folder
    return doc


def cmd_people(args: argparse.Namespace) -> int:
    from lifelog.api.clock import Clock
    from lifelog.api.errors import PeopleError

    mem = open_memory(args)
    action = getattr(args, "people_action", None)
    as_json = getattr(args, "json", False)
    try:
        if action is None:
            people = mem.people(include_hidden=args.all)
            if as_json:
                emit([_person_doc(p, mem) for p in people])
                return EXIT_OK
            if not people:
                print("no people yet (faces join people as footage is imported)")
            clock = Clock.of(mem)
            for p in people:
                seen = (f"{clock.stamp(p.first_seen)} … {clock.stamp(p.last_seen)}"
                        if p.first_seen and p.last_seen else "-")
                flags = " (hidden)" if p.hidden else ""
                print(f"{p.id}  {p.name or '(no name)'}{flags}  {seen}  {p.episodes} episode(s), {p.faces} face(s)")
            return EXIT_OK
        if action == "faces":
            faces = mem.person_faces(args.id)
            if as_json:
                emit([{"id": f.id, "time": f.t.isoformat() if f.t else None, "episode_id": f.episode_id,
                        "quality": round(f.quality, 3), "crop_id": f.crop_id, "locked": f.locked} for f in faces])
            else:
                clock = Clock.of(mem)
                for f in faces:
                    print(f"{f.id}  {clock.stamp(f.t, seconds=True)}  quality {f.quality:.2f}" if f.t else f.id)
            return EXIT_OK
        if action == "undo":
            edit = mem.undo_people_edit()
            if as_json:
                emit({"undone": edit.op, "person_ids": edit.person_ids, "at": edit.at.isoformat()})
            else:
                print(f"undid the {edit.describe()}")
            return EXIT_OK
        if action == "name":
            person = mem.name_person(args.id, args.name)
        elif action == "merge":
            person = mem.merge_people(args.id, args.other_id)
        elif action == "split":
            person = mem.split_person(args.id, args.faces)
        elif action == "hide":
            person = mem.hide_person(args.id)
        elif action == "unhide":
            person = mem.unhide_person(args.id)
        else:  # pragma: no cover - argparse rejects other actions
            raise CliError(f"unknown people action {action!r}", EXIT_USAGE)
    except PeopleError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    if as_json:
        emit(_person_doc(person, mem))
    else:
        print(f"{person.id}  {person.name or '(no name)'}  {person.faces} face(s), {person.episodes} episode(s)"
              + (" (hidden)" if person.hidden else ""))
    return EXIT_OK


def cmd_objects(args: argparse.Namespace) -> int:
    from lifelog.api.clock import Clock
    from lifelog.api.words import match_objects

    mem = open_memory(args)
    if args.name is None:
        objs = mem.objects()
        if args.json:
            emit([{**o.to_json(), "thumbnail_id": o.thumbnail, "thumbnail": mem.thumbnail_file(o.thumbnail)}
                   for o in objs])
            return EXIT_OK
        if not objs:
            print("no everyday objects seen yet")
        clock = Clock.of(mem)
        for o in objs:
            print(f"{o.name:<18} {clock.stamp(o.first_seen)} … {clock.stamp(o.last_seen)}  "
                  f"{o.episodes} episode(s), {o.frames} frame(s)")
        return EXIT_OK
    names = match_objects(args.name)
    line = mem.object_timeline(args.name)
    if args.json:
        emit([{"name": " / ".join(s.objects), "episode_id": s.episode_id, "first_seen": s.first.isoformat(),
                "last_seen": s.last.isoformat(), "frames": s.frames, "probability": round(s.probability, 3),
                "thumbnail_id": s.thumbnail, "thumbnail": mem.thumbnail_file(s.thumbnail)} for s in line])
        return EXIT_OK
    if not names:
        print(f"no object called {args.name!r}: the classifier knows no such thing (see docs/objects.md)")
    elif not line:
        print(f"never saw a {' / '.join(names)}")
    clock = Clock.of(mem)
    for s in line:
        print(f"{clock.stamp(s.first, seconds=True)}–{clock.time(s.last, seconds=True)}  {s.episode_id}  "
              f"{' / '.join(s.objects)}")
    return EXIT_OK


def cmd_app(args: argparse.Namespace) -> int:
    # Before Qt loads: a missing system library or no display is a message and exit 1, not the
    # SIGABRT Qt's platform plugin would end the process with (lifelog/api/system.py).
    from lifelog.api.system import check_gui

    gui = check_gui()
    if not gui.ok:
        raise CliError(gui.message(), EXIT_ERROR)
    try:
        from ui.app import main as app_main
    except ImportError as e:
        raise CliError(f"the desktop app is not available: {e}") from e
    data_dir = getattr(args, "data_dir", None)
    if args.demo:
        from lifelog.api.demo import demo_data_dir, demo_passphrase_if_needed

        data_dir = str(demo_data_dir(data_dir))
        demo_passphrase_if_needed()
    return int(app_main(data_dir=data_dir))  # type: ignore[redundant-cast,unused-ignore]


COMMANDS = {
    "import": cmd_import,
    "ask": cmd_ask,
    "episodes": cmd_episodes,
    "objects": cmd_objects,
    "transcribe": cmd_transcribe,
    "status": cmd_status,
    "demo": cmd_demo,
    "app": cmd_app,
    "people": cmd_people,
}


# A memory locked by another writer exits 2 ("2 usage or locked memory", docs/cli.md), except
# where a command's own section says otherwise: `models` exits 1 when the re-index failed.
_LOCKED_EXIT: dict[str, int] = {"models": EXIT_ERROR}


def main(argv: Sequence[str] | None = None, *, handoff_tried: bool = False) -> int:
    """``lifelog``; ``handoff_tried``: the caller already offered this command line to the
    running service (``python -m lifelog`` does, before importing this module)."""
    if not handoff_tried:
        from lifelog.commands.ask import handed_over

        # a plain `ask` goes to the running service before the parser is built (issue #18)
        handoff_tried, handed = handed_over(sys.argv[1:] if argv is None else argv)
        if handed is not None:
            return handed
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "ask" and not handoff_tried and (handed := _ask_via_service(args)) is not None:
        return handed  # answered by the running service, which has everything loaded
    private_process()  # umask 0o077 before anything is written; privacy notices on stderr
    try:
        handler = COMMANDS.get(args.command) or _EXTENSION_COMMANDS[args.command]
        quick = args.command == "ask" and argv is None  # this process's own command line: one question
        if quick:
            from lifelog.commands.ask import one_question_process

            one_question_process()  # the collector off, pandas left out (issue #18)
        code = int(handler(args))
        if quick:  # answered
            from lifelog.commands.ask import exit_at_once

            exit_at_once(code)  # without the interpreter's teardown (issue #18); returns if it cannot
        return code
    except CliError as e:
        print(f"lifelog: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("lifelog: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as e:
        # the core's errors are imported only when one happened: importing them imports the
        # core (seconds), which a command that never opens a memory must not pay (issue #18)
        from lifelog.api.errors import ModelMissingError, VaultError, WriteLockBusy

        if isinstance(e, VaultError):
            print(f"lifelog: {e}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(e, ModelMissingError):
            print(f"lifelog: {e}", file=sys.stderr)
            return EXIT_ERROR
        if os.environ.get("LIFELOG_DEBUG"):
            raise
        if isinstance(e, WriteLockBusy):
            print(f"lifelog: {e}", file=sys.stderr)
            return _LOCKED_EXIT.get(args.command, EXIT_USAGE)
        if isinstance(e, OSError) or "(os error 30)" in str(e):  # a read-only or vanished memory folder
            from lifelog.api.system import check_data_dir, data_dir_error  # (LanceDB's EROFS is no OSError)

            os_err = e if isinstance(e, OSError) else OSError(30, "Read-only file system")  # EROFS
            said = data_dir_error(check_data_dir(getattr(args, "data_dir", None))[0], os_err)
            if said:
                print(f"lifelog: {said}", file=sys.stderr)
                return EXIT_ERROR
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"lifelog: error: {msg} (set LIFELOG_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
