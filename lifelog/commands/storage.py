"""``lifelog storage …``: where the memory's tables live (docs/scale.md).

* ``lifelog storage show [--json]`` — the location (a folder or ``s3://bucket/prefix``), where the
  credentials come from (never the secret), whether it answers, where the vault is;
* ``lifelog storage set-credentials --key-id ID --secret-stdin`` — keep object-store credentials
  in the OS keyring (never in the settings file);
* ``lifelog storage move-to URI [--endpoint URL] [--region R]`` — copy the tables there, check
  them, then use them (resumable; the old copy stays until you remove it).

Exit codes: 0 done; 1 failed (unreachable, refused credentials, no keyring); 2 usage; 130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from lifelog.commands.common import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_USAGE, CliError, emit


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    p = sub.add_parser("storage", parents=[common], help="where the memory's tables live (a folder or S3)")
    act = p.add_subparsers(dest="storage_action", metavar="ACTION")
    show = act.add_parser("show", parents=[common], help="the tables' location and whether it answers")
    show.add_argument("--json", action="store_true", help="print one JSON document")
    cred = act.add_parser("set-credentials", parents=[common], help="keep object-store credentials in the keyring")
    cred.add_argument("--key-id", required=True, metavar="ID", help="the access key id")
    cred.add_argument("--secret-stdin", action="store_true", required=True,
                      help="read the secret (and an optional session token on a second line) from stdin")
    mv = act.add_parser("move-to", parents=[common], help="copy the tables to a folder or s3://bucket/prefix")
    mv.add_argument("uri", metavar="URI")
    mv.add_argument("--endpoint", metavar="URL", help="an S3-compatible server (default: AWS)")
    mv.add_argument("--region", metavar="REGION")
    mv.add_argument("--json", action="store_true", help="print one JSON document")
    return {"storage": cmd_storage}


def _data_dir(args: argparse.Namespace) -> Any:
    from lifelog.api import settings as paths

    d = paths.data_dir(getattr(args, "data_dir", None))
    d.mkdir(parents=True, exist_ok=True)
    return d


def cmd_storage(args: argparse.Namespace) -> int:
    from lifelog.api.storage import StorageError

    action = getattr(args, "storage_action", None) or "show"
    try:
        if action == "show":
            return _show(args)
        if action == "set-credentials":
            return _set_credentials(args)
        if action == "move-to":
            return _move(args)
    except StorageError as e:
        raise CliError(str(e), EXIT_CANCELLED if "cancelled" in str(e) else EXIT_ERROR) from e
    raise CliError(f"unknown storage action {action!r}", EXIT_USAGE)  # pragma: no cover - argparse


def _show(args: argparse.Namespace) -> int:
    from lifelog.api.storage import storage_info

    info = storage_info(_data_dir(args))
    if getattr(args, "json", False):
        emit(info.to_json())
        return EXIT_OK
    print(f"tables:      {info.tables}" + (f" at {info.endpoint}" if info.endpoint else ""))
    if info.remote:
        print(f"credentials: {info.credentials or 'none found (the object store default chain)'}")
    print(f"vault:       {info.vault} (stays on this machine)")
    print("status:      " + ("reachable" + (f", {info.bytes / 1e6:.1f} MB" if info.bytes is not None else "")
                             if info.reachable else f"not usable: {info.error}"))
    return EXIT_OK if info.reachable else EXIT_ERROR


def _set_credentials(args: argparse.Namespace) -> int:
    from lifelog.api.storage import set_credentials

    lines = sys.stdin.read().splitlines()
    secret = lines[0].strip() if lines else ""
    token = lines[1].strip() if len(lines) > 1 else None
    if not secret:
        raise CliError("no secret on stdin", EXIT_USAGE)
    set_credentials(_data_dir(args), args.key_id, secret, token)
    print("credentials kept in the OS keyring")
    return EXIT_OK


def _move(args: argparse.Namespace) -> int:
    from lifelog.api.settings import SettingsError
    from lifelog.api.storage import StorageSettings, move_tables

    try:
        target = StorageSettings(tables=args.uri, endpoint=args.endpoint, region=args.region)
    except ValueError as e:
        raise CliError(str(e).splitlines()[-1] if isinstance(e, SettingsError) else _first_error(e), EXIT_USAGE) from e
    cancel = threading.Event()

    def line(p: Any) -> None:
        sys.stderr.write(f"[{p.done}/{p.total}] {p.table}: {p.rows} rows\n")
        sys.stderr.flush()

    try:
        loc = move_tables(_data_dir(args), target, progress=line, cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        raise CliError("move interrupted; run it again to continue", EXIT_CANCELLED) from None
    if getattr(args, "json", False):
        emit({"tables": loc.uri, "endpoint": loc.endpoint})
    else:
        print(f"the tables are now at {loc.describe()} (the old copy was left in place)")
    return EXIT_OK


def _first_error(e: ValueError) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        got = errors()
        if got:
            return str(got[0].get("msg", e))
    return str(e).splitlines()[0]
