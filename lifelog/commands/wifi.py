"""``lifelog serve`` (the Wi-Fi receiver) and the Wi-Fi parts of ``lifelog devices``.

``lifelog serve [--port N] [--host H] [--json-events] [--approve-all-localsend] [--no-mdns]``
runs until Ctrl-C (or SIGTERM) and then exits 0 after a clean stop: uploads in flight are cut
(their senders resume later), an import in progress is cancelled and rolled back by the core.
With ``--json-events`` each event is one JSON object per line on stdout (JSON Lines — not the
single document of ``--json``); otherwise events are human lines on stderr.

New LocalSend senders wait in ``<data>/devices/localsend-pending.json`` for an answer (up to 2
minutes): ``y``/``n`` on serve's own terminal, or ``lifelog devices approve ID`` / ``deny ID``
from any other terminal (``approve --list`` shows who waits).

``pair_command`` / ``revoke_command`` / ``approve_command`` are what ``lifelog devices pair wifi``,
``lifelog devices remove ID`` and ``lifelog devices approve|deny`` delegate to.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from typing import Any

from lifelog.commands.common import EXIT_OK, EXIT_USAGE, CliError


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    sv = sub.add_parser("serve", parents=[common], help="receive footage over Wi-Fi (paired companions, LocalSend)")
    sv.add_argument("--port", type=int, default=53317, help="TCP port (default 53317, LocalSend's)")
    sv.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    sv.add_argument("--json-events", action="store_true", help="print events as JSON lines on stdout")
    sv.add_argument("--no-mdns", action="store_true", help="do not advertise with mDNS")
    sv.add_argument(
        "--approve-all-localsend",
        action="store_true",
        help="accept every new LocalSend sender without asking (testing only)",
    )
    sv.add_argument("--max-file-gb", type=float, default=20.0, help="largest single upload (default 20 GB)")
    return {"serve": serve_command}


def _data_dir(args: argparse.Namespace) -> Any:
    from lifelog.api import settings as paths

    return paths.data_dir(getattr(args, "data_dir", None))


def serve_command(args: argparse.Namespace) -> int:
    from lifelog.api import Memory
    from lifelog.api.devices import LocalSendSender, ReceiverEvent, ReceiverLimits, approve_all, start_receiver

    if not 0 <= args.port < 65536:
        raise CliError("--port must be 0-65535", EXIT_USAGE)
    if args.max_file_gb <= 0:
        raise CliError("--max-file-gb must be positive", EXIT_USAGE)
    lock = threading.Lock()

    def on_event(ev: ReceiverEvent) -> None:
        with lock:
            if args.json_events:
                sys.stdout.write(json.dumps(ev.to_json(), ensure_ascii=False, default=str) + "\n")
                sys.stdout.flush()
            else:
                print(f"lifelog serve: {ev.message}", file=sys.stderr, flush=True)

    data_dir = _data_dir(args)
    tty = sys.stdin.isatty()

    def ask(sender: LocalSendSender) -> None:
        """Show the question; the answer comes through the pending-requests file (this
        terminal's y/n, or `lifelog devices approve|deny ID` from another one)."""
        rid = sender.request_id
        elsewhere = f"`lifelog devices approve {rid}` or `lifelog devices deny {rid}`"
        with lock:
            if tty:
                print(f"Accept files from LocalSend sender {sender.alias!r} at {sender.address} "
                      f"(fingerprint {sender.fingerprint[:16]}…)? [y/N] (or from another terminal: {elsewhere})",
                      file=sys.stderr, flush=True)
            else:
                print(f"lifelog serve: LocalSend sender {sender.alias!r} at {sender.address} waits for approval: "
                      f"{elsewhere} within 2 minutes", file=sys.stderr, flush=True)
        return None

    if tty and not args.approve_all_localsend:
        threading.Thread(target=_answer_from_terminal, args=(data_dir,), name="lifelog-serve-answers",
                         daemon=True).start()
    mem = Memory(data_dir)
    limits = ReceiverLimits(max_file_bytes=int(args.max_file_gb * 1024**3))
    try:
        receiver = start_receiver(
            mem,
            args.host,
            args.port,
            on_event,
            limits=limits,
            approve_localsend=approve_all if args.approve_all_localsend else ask,
            advertise=not args.no_mdns,
        )
    except OSError as e:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from e
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        receiver.stop()
    return EXIT_OK


def _answer_from_terminal(data_dir: Any) -> None:
    """serve's own terminal: each line answers the oldest question this receiver is waiting on
    (``y``/``yes`` approves, anything else refuses)."""
    from lifelog.api.devices import answer_localsend_request, list_localsend_requests

    for line in sys.stdin:
        mine = [r for r in list_localsend_requests(data_dir) if r.pid == os.getpid()]
        if not mine:
            continue
        yes = line.strip().lower() in ("y", "yes")
        try:
            answer_localsend_request(data_dir, mine[0].id, yes)
        except ValueError:
            continue  # answered from elsewhere meanwhile
        print(f"lifelog serve: {'approved' if yes else 'refused'} LocalSend sender {mine[0].alias!r}",
              file=sys.stderr, flush=True)


def approve_command(args: argparse.Namespace) -> int:
    """``lifelog devices approve ID`` / ``deny ID`` / ``approve --list``: answer a LocalSend
    sender waiting in a running receiver (any terminal of the same user)."""
    from lifelog.api.devices import answer_localsend_request, list_localsend_requests

    data_dir = _data_dir(args)
    as_json = getattr(args, "json", False)
    action = getattr(args, "devices_action", "approve")
    rid = getattr(args, "id", None)
    if action == "approve" and (getattr(args, "list", False) or not rid):
        if getattr(args, "list", False) and rid:
            raise CliError("give an ID or --list, not both", EXIT_USAGE)
        reqs = list_localsend_requests(data_dir)
        if as_json:
            sys.stdout.write(json.dumps({"requests": [r.to_json() for r in reqs]}) + "\n")
            return EXIT_OK
        if not getattr(args, "list", False):
            raise CliError("approve which request? give its ID (see `lifelog devices approve --list`)", EXIT_USAGE)
        if not reqs:
            print("no LocalSend sender is waiting for approval")
        now = time.time()
        for r in reqs:
            print(f"{r.id}  {r.alias!r} at {r.address}  fingerprint {r.fingerprint[:16]}…  "
                  f"{r.files} file(s), {r.total_bytes} bytes  (waits {max(0, int(r.expires_at - now))} s more)")
        return EXIT_OK
    if not rid:
        raise CliError("deny which request? give its ID (see `lifelog devices approve --list`)", EXIT_USAGE)
    approve = action == "approve"
    try:
        req = answer_localsend_request(data_dir, str(rid), approve)
    except ValueError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    if as_json:
        sys.stdout.write(json.dumps({"approved" if approve else "denied": req.to_json()}) + "\n")
    else:
        print(f"{'approved' if approve else 'denied'} LocalSend sender {req.alias!r} at {req.address} "
              f"(request {req.id}); the receiver acts on it within a second")
    return EXIT_OK


def pair_command(args: argparse.Namespace) -> int:
    """Make a pairing offer and show it: QR code, PIN, URI (``--json``: one document)."""
    from lifelog.api.devices import DEFAULT_TTL_S, new_pairing_offer, receiver_status

    data_dir = _data_dir(args)
    ttl = getattr(args, "ttl", None) or DEFAULT_TTL_S
    try:
        offer = new_pairing_offer(data_dir, float(ttl))
    except ValueError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    running = receiver_status(data_dir) is not None
    if getattr(args, "json", False):
        doc = offer.to_json()
        doc["receiver_running"] = running
        sys.stdout.write(json.dumps(doc) + "\n")
        return EXIT_OK
    name = getattr(args, "name", None)
    print(offer.qr_terminal())
    print(f"Scan this with the companion app{f' on {name}' if name else ''}, or enter:")
    print(f"  address      {offer.address}:{offer.port}")
    print(f"  PIN          {offer.pin}")
    print(f"  fingerprint  {offer.fingerprint}")
    print(f"  expires      {offer.expiry.astimezone():%H:%M:%S} (one device, once)")
    print(f"  pairing URI  {offer.uri}")
    if not running:
        print("note: no receiver is running; start one with `lifelog serve`", file=sys.stderr)
    return EXIT_OK


def revoke_command(args: argparse.Namespace) -> int:
    from lifelog.api.devices import revoke_wifi_device as revoke
    from lifelog.api.errors import WifiRegistryError as RegistryError

    device_id = getattr(args, "id", None) or getattr(args, "device_id", None)
    if not device_id:
        raise CliError("which device? give its id (see `lifelog devices`)", EXIT_USAGE)
    try:
        dev = revoke(_data_dir(args), str(device_id))
    except RegistryError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"removed": dev.to_json()}) + "\n")
    else:
        print(f"revoked {dev.id} ({dev.name}): its credential no longer works")
    return EXIT_OK
