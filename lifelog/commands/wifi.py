"""``lifelog serve`` (the Wi-Fi receiver) and the Wi-Fi parts of ``lifelog devices``.

``lifelog serve [--port N] [--host H] [--json-events] [--approve-all-localsend] [--no-mdns]``
runs until Ctrl-C (or SIGTERM) and then exits 0 after a clean stop: uploads in flight are cut
(their senders resume later), an import in progress is cancelled and rolled back by the core.
With ``--json-events`` each event is one JSON object per line on stdout (JSON Lines — not the
single document of ``--json``); otherwise events are human lines on stderr.

``pair_command`` / ``revoke_command`` are what ``lifelog devices pair wifi`` and
``lifelog devices remove ID`` delegate to.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
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

    def ask(sender: LocalSendSender) -> bool:
        if not sys.stdin.isatty():
            print(
                f"lifelog serve: refused LocalSend sender {sender.alias!r} (no terminal to ask; "
                "approve senders in the app)",
                file=sys.stderr,
                flush=True,
            )
            return False
        with lock:
            answer = input(
                f"Accept files from LocalSend sender {sender.alias!r} at {sender.address} "
                f"(fingerprint {sender.fingerprint[:16]}…)? [y/N] "
            )
        return answer.strip().lower() in ("y", "yes")

    mem = Memory(_data_dir(args))
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
