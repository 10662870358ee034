"""``lifelog key change-passphrase`` and ``lifelog key rotate`` (docs/cli.md, docs/privacy.md).
Passphrases are read from the terminal (never echoed), or from ``$LIFELOG_PASSPHRASE`` and
``$LIFELOG_NEW_PASSPHRASE`` for scripts. Loaded for every command: nothing heavy at module level."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import threading
from typing import Any

from lifelog.commands.common import EXIT_CANCELLED, EXIT_OK, EXIT_USAGE, CliError, Progress, emit


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    k = sub.add_parser("key", parents=[common], help="change the passphrase, or rotate the encryption key")
    k.add_argument("action", choices=["change-passphrase", "rotate"],
                   help="change-passphrase (re-wraps the key) or rotate (a new key; everything re-encrypted)")
    k.add_argument("--json", action="store_true", help="print one JSON document")
    return {"key": cmd_key}


def _secret(env: str, prompt: str, *, confirm: bool = False) -> str:
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise CliError(f"no terminal to ask for the passphrase: set {env}", EXIT_USAGE)
    value = getpass.getpass(prompt)
    if confirm and getpass.getpass("Again: ") != value:
        raise CliError("the two passphrases differ; nothing was changed", EXIT_USAGE)
    if not value:
        raise CliError("an empty passphrase; nothing was changed", EXIT_USAGE)
    return value


def cmd_key(args: argparse.Namespace) -> int:
    from lifelog.api import Memory
    from lifelog.api.keys import NEW_PASSPHRASE_ENV, PASSPHRASE_ENV, data_dir_of, key_mode

    data_dir = data_dir_of(getattr(args, "data_dir", None))
    mode = key_mode(data_dir)
    if mode is None:
        raise CliError(f"no memory at {data_dir}", EXIT_USAGE)
    passphrase: str | None = None
    if mode == "passphrase":
        passphrase = _secret(PASSPHRASE_ENV, "Passphrase: ")
    if args.action == "change-passphrase":
        if mode != "passphrase":
            raise CliError("this memory's key is kept in the OS keyring: there is no passphrase to change "
                           "(`lifelog key rotate` makes a new key)", EXIT_USAGE)
        assert passphrase is not None
        mem = Memory(data_dir, passphrase=passphrase)  # a wrong passphrase is refused here (exit 2)
        new = _secret(NEW_PASSPHRASE_ENV, "New passphrase: ", confirm=True)
        mem.change_passphrase(passphrase, new)
        if args.json:
            emit({"changed": True})
        else:
            print("lifelog: the passphrase was changed; the old one opens nothing any more", file=sys.stderr)
        return EXIT_OK
    mem = Memory(data_dir, passphrase=passphrase)
    cancel = threading.Event()
    try:
        result = mem.rotate_key(passphrase, progress=Progress(), cancel=cancel)
    except KeyboardInterrupt:
        raise CliError("key rotation interrupted; the memory opens, and `lifelog key rotate` finishes it",
                       EXIT_CANCELLED) from None
    doc = {"blobs": result.blobs, "texts": result.texts, "originals": result.originals,
           "resumed": result.resumed, "finished": not result.cancelled}
    if args.json:
        emit(doc)
    else:
        what = "finished an interrupted rotation" if result.resumed else "rotated the key"
        print(f"lifelog: {what}: re-encrypted {result.blobs} pictures, {result.texts} texts and "
              f"{result.originals} kept originals", file=sys.stderr)
    return EXIT_OK if not result.cancelled else EXIT_CANCELLED
