"""``lifelog pause`` and ``lifelog resume``: one pause for every capture path; ``lifelog privacy``:
the capture state and every privacy rule in one place (docs/cli.md).

Loaded by :mod:`lifelog.commands.main` for every command, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lifelog.commands.common import EXIT_OK, EXIT_USAGE, CliError, emit


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Callable[[argparse.Namespace], int]]:
    pa = sub.add_parser("pause", parents=[common],
                        help="pause all capture (webcam, device sync, Wi-Fi receiver) now, everywhere")
    when = pa.add_mutually_exclusive_group()
    when.add_argument("--for", dest="for_", metavar="DURATION", help="e.g. 30m, 1h, 2h30m (resumes by itself)")
    when.add_argument("--until", metavar="TIME", help="e.g. 22:30 or 2026-12-07T08:00 (resumes by itself)")
    pa.add_argument("--json", action="store_true", help="print one JSON document")
    re_ = sub.add_parser("resume", parents=[common], help="capture on again")
    re_.add_argument("--json", action="store_true", help="print one JSON document")
    pr = sub.add_parser("privacy", parents=[common],
                        help="show the capture state, quiet hours, excluded devices, redaction and retention rules")
    pr.add_argument("--json", action="store_true", help="print one JSON document")
    return {"pause": cmd_pause, "resume": cmd_resume, "privacy": cmd_privacy}


def _data_dir(args: argparse.Namespace) -> Path:
    from lifelog.api import settings as paths

    return paths.data_dir(getattr(args, "data_dir", None))


def capture_doc(data_dir: Path) -> dict[str, Any]:
    """``{"paused", "until", "since", "message"}`` — what ``status --json`` shows as ``capture``."""
    from lifelog.api.capture import state

    st = state(data_dir)
    return {**st.to_json(), "message": st.message()}


def cmd_pause(args: argparse.Namespace) -> int:
    from lifelog.api.capture import CaptureError, parse_duration, parse_until, pause

    data_dir = _data_dir(args)
    try:
        for_ = parse_duration(args.for_) if args.for_ else None
        until = parse_until(args.until) if args.until else None
        st = pause(data_dir, for_=for_, until=until)
    except CaptureError as e:
        raise CliError(str(e), EXIT_USAGE) from None
    if args.json:
        emit({"capture": {**st.to_json(), "message": st.message()}})
    else:
        print(f"{st.message()}: webcam, device sync and the Wi-Fi receiver take nothing new"
              + ("" if st.until else " (`lifelog resume` turns it on again)"))
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    from lifelog.api.capture import resume

    st = resume(_data_dir(args))
    if args.json:
        emit({"capture": {**st.to_json(), "message": st.message()}})
    else:
        print(st.message())
    return EXIT_OK


def cmd_privacy(args: argparse.Namespace) -> int:
    from lifelog.api.capture import privacy_report
    from lifelog.api.settings import SettingsError

    try:
        doc = privacy_report(_data_dir(args))
    except SettingsError as e:
        raise CliError(str(e)) from None
    if args.json:
        emit(doc)
        return EXIT_OK
    print(f"capture: {doc['capture']['message']}")
    hours = doc["quiet_hours"]
    print("quiet hours: " + ("; ".join(
        f"{w['start']}–{w['end']} {', '.join(w['days']) if w['days'] else 'every day'}" for w in hours) or "none"))
    print("excluded devices: " + (", ".join(doc["excluded_devices"]) or "none"))
    r = doc["redaction"]
    print(f"blur bystanders: {'on' if r['blur_bystanders'] else 'off'}; "
          f"hide sensitive text: {'on' if r['redact_sensitive_text'] else 'off'} "
          f"({r['sensitive_words']} own words)")
    kept = {k: v for k, v in doc["retention"].items() if v is not None and k != "trash_days"}
    print("retention: " + (", ".join(f"{k.removesuffix('_days')} {v} days" for k, v in kept.items())
                           or "everything is kept for ever")
          + f"; the trash is kept {doc['retention']['trash_days']} days")
    return EXIT_OK
