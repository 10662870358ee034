"""``lifelog storage …``: where the memory's tables live (docs/scale.md).

* ``lifelog storage show [--json]`` — the location (a folder or ``s3://bucket/prefix``), where the
  credentials come from (never the secret), whether it answers, where the vault is;
* ``lifelog storage set-credentials --key-id ID --secret-stdin`` — keep object-store credentials
  in the OS keyring (never in the settings file);
* ``lifelog storage move-to URI [--endpoint URL] [--region R]`` — copy the tables there, check
  them, then use them (resumable; the old copy stays until you remove it);
* ``lifelog storage cache [--on | --off] [--max-mb N] [--clear] [--json]`` — the local read cache
  of an object-store memory: show it, turn it on or off, set its size limit, empty it.

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
    ca = act.add_parser("cache", parents=[common], help="the local read cache of an object-store memory")
    onoff = ca.add_mutually_exclusive_group()
    onoff.add_argument("--on", dest="cache_on", action="store_const", const=True, help="turn the cache on")
    onoff.add_argument("--off", dest="cache_on", action="store_const", const=False,
                       help="turn the cache off (its copy is removed)")
    ca.add_argument("--max-mb", type=int, metavar="N", help="the cache's size limit in MB (0: nothing cached)")
    ca.add_argument("--clear", action="store_true", help="remove the cached copy (filled again at the next open)")
    ca.add_argument("--json", action="store_true", help="print one JSON document")
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
        if action == "cache":
            return _cache(args)
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
    if info.cache is not None:
        c = info.cache
        print("cache:       " + (f"on, {c.bytes / 1e6:.1f} MB of {c.max_bytes / 1e6:.0f} MB, {len(c.tables)} tables "
                                 f"in {c.path}" if c.enabled else "off"))
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


def _cache(args: argparse.Namespace) -> int:
    from lifelog.api.storage import configure_cache

    max_mb = getattr(args, "max_mb", None)
    if max_mb is not None and max_mb < 0:
        raise CliError("--max-mb must be 0 or more", EXIT_USAGE)
    info, removed = configure_cache(_data_dir(args), on=getattr(args, "cache_on", None), max_mb=max_mb,
                                    clear=bool(getattr(args, "clear", False)))
    if getattr(args, "json", False):
        emit({**info.to_json(), "removed_bytes": removed})
        return EXIT_OK
    print("cache:  " + ("on" if info.enabled else "off" if info.remote else
                        "not used (the tables are in a folder; the setting applies once they are on S3)"))
    print(f"folder: {info.path}")
    print(f"size:   {info.bytes / 1e6:.1f} MB (limit {info.max_bytes / 1e6:.0f} MB), "
          f"{len(info.tables)} tables" + (f"; removed {removed / 1e6:.1f} MB" if removed else ""))
    return EXIT_OK


def _first_error(e: ValueError) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        got = errors()
        if got:
            return str(got[0].get("msg", e))
    return str(e).splitlines()[0]
