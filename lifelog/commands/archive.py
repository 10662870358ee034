"""``lifelog export`` (the memory as open files, docs/export-format.md) and ``lifelog
import-archive`` (an export restored into this memory). Loaded for every command: nothing heavy
at module level."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from lifelog.commands.common import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Progress,
    emit,
    open_memory,
    parse_when,
    path_arg,
)


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    ex = sub.add_parser("export", parents=[common], help="write the memory as open files (docs/export-format.md)")
    ex.add_argument("dest", type=path_arg, metavar="DEST", help="a new folder (or, with --encrypted, a new file)")
    ex.add_argument("--range", nargs=2, metavar=("FROM", "TO"), help="only episodes between two dates or times")
    ex.add_argument("--encrypted", action="store_true",
                    help="one archive file under a passphrase (asked, or $LIFELOG_EXPORT_PASSPHRASE)")
    ex.add_argument("--json", action="store_true", help="print one JSON document")
    im = sub.add_parser("import-archive", parents=[common], help="restore an export into this memory")
    im.add_argument("src", type=path_arg, metavar="SRC", help="an export folder or encrypted archive file")
    im.add_argument("--json", action="store_true", help="print one JSON document")
    return {"export": cmd_export, "import-archive": cmd_import_archive}


def _passphrase(confirm: bool) -> str:
    from lifelog.api.archive import PASSPHRASE_ENV

    given = os.environ.get(PASSPHRASE_ENV)
    if given:
        return given
    if not sys.stdin.isatty():
        raise CliError(f"the archive's passphrase: set {PASSPHRASE_ENV} (stdin is not a terminal)", EXIT_USAGE)
    first = getpass.getpass("archive passphrase: ")
    if not first:
        raise CliError("an empty passphrase protects nothing", EXIT_USAGE)
    if confirm and getpass.getpass("again: ") != first:
        raise CliError("the two passphrases differ", EXIT_USAGE)
    return first


def _run(work: Callable[[threading.Event], Any]) -> Any:
    """Run ``work`` on a worker thread so Ctrl-C sets its cancel event and waits for it to undo."""
    from lifelog.api.archive import ArchiveCancelled, ArchiveError, ArchiveRefused, ArchiveUsageError
    from lifelog.api.errors import WriteLockBusy, WriterWaitCancelled

    cancel = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work(cancel)
        except BaseException as e:  # handed to the main thread
            box["error"] = e

    t = threading.Thread(target=target, name="lifelog-archive", daemon=True)
    t.start()
    try:
        while t.is_alive():
            t.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        print("lifelog: cancelling…", file=sys.stderr, flush=True)
        t.join()
        raise CliError("cancelled; nothing partial was left", EXIT_CANCELLED) from None
    err = box.get("error")
    if isinstance(err, ArchiveCancelled | WriterWaitCancelled):
        raise CliError(str(err), EXIT_CANCELLED) from err
    if isinstance(err, ArchiveUsageError):
        raise CliError(str(err), EXIT_USAGE) from err
    if isinstance(err, ArchiveRefused):
        raise CliError(f"refused: {err}; nothing was imported", EXIT_ERROR) from err
    if isinstance(err, ArchiveError | WriteLockBusy | OSError):
        raise CliError(str(err), EXIT_ERROR) from err
    if err is not None:
        raise err
    return box["result"]


def cmd_export(args: argparse.Namespace) -> int:
    mem = open_memory(args)
    start = end = None
    if args.range:
        start, end = parse_when(args.range[0], mem.tz), parse_when(args.range[1], mem.tz, end_of_day=True)
        if end <= start:
            raise CliError("--range FROM TO: TO must come after FROM", EXIT_USAGE)
    passphrase = _passphrase(confirm=True) if args.encrypted else None
    progress = Progress()
    result = _run(lambda cancel: mem.export(args.dest, start, end, passphrase=passphrase, progress=progress,
                                            cancel=cancel))
    if args.json:
        emit(result.to_json())
    else:
        c = result.counts
        print(f"exported {c.get('episodes', 0)} episodes, {c.get('people', 0)} people, "
              f"{c.get('utterances', 0)} things said, {c.get('thumbnails', 0)} thumbnails, "
              f"{c.get('originals', 0)} originals to {result.dest}"
              f"{' (encrypted)' if result.encrypted else ''}")
        if not result.encrypted:
            print("lifelog: the export is not encrypted: keep it somewhere private", file=sys.stderr)
    return EXIT_OK


def cmd_import_archive(args: argparse.Namespace) -> int:
    from lifelog.api.archive import is_encrypted
    from lifelog.api.lock import when_writer_free

    mem = open_memory(args)
    passphrase = _passphrase(confirm=False) if is_encrypted(args.src) else None
    progress = Progress()

    def work(cancel: threading.Event) -> Any:
        return when_writer_free(
            lambda: mem.import_archive(args.src, passphrase=passphrase, progress=progress, cancel=cancel),
            cancel, give_up_s=3600.0)

    result = _run(work)
    if args.json:
        emit(result.to_json())
    else:
        a = result.added
        print(f"imported {a.get('episodes', 0)} episodes, {a.get('people', 0)} people, "
              f"{a.get('utterances', 0)} things said ({sum(result.skipped.values())} rows were already here); "
              f"vectors: {result.vectors}")
    return EXIT_OK
