"""``lifelog service`` — the headless background process: the nightly consolidation schedule,
the Wi-Fi receiver and USB watching, in one place (docs/consolidation.md has systemd and
launchd examples). Runs until SIGTERM or Ctrl-C, then stops each part in order; a status line
on stderr at start and every ``--status-every`` seconds.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from lifelog.commands.common import EXIT_OK, EXIT_USAGE, CliError, open_memory


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    s = sub.add_parser("service", parents=[common],
                       help="run in the background: nightly consolidation, Wi-Fi receiver, USB watching")
    s.add_argument("--no-receiver", action="store_true", help="do not receive over Wi-Fi")
    s.add_argument("--port", type=int, default=None, help="the receiver's port (default: the usual one)")
    s.add_argument("--host", default="0.0.0.0", help="the receiver's address (default: every interface)")
    s.add_argument("--no-mdns", action="store_true", help="do not advertise the receiver on the local network")
    s.add_argument("--no-usb", action="store_true", help="do not watch for paired USB volumes")
    s.add_argument("--api", nargs="?", type=int, const=-1, default=None, metavar="PORT",
                   help="also serve the local HTTP API on loopback (default port 8765; docs/api.md)")
    s.add_argument("--mcp", nargs="?", type=int, const=-1, default=None, metavar="PORT",
                   help="also serve MCP over streamable HTTP on loopback (default port 8766; docs/mcp.md)")
    s.add_argument("--status-every", type=float, default=600.0, metavar="SECONDS",
                   help="print a status line this often (default 600)")
    return {"service": cmd_service}


def cmd_service(args: argparse.Namespace) -> int:
    from lifelog.serve.service import Service, default_components

    if args.port is not None and not 0 <= args.port < 65536:
        raise CliError("--port must be 0-65535", EXIT_USAGE)
    for flag in ("api", "mcp"):
        value = getattr(args, flag)
        if value is not None and value != -1 and not 0 <= value < 65536:
            raise CliError(f"--{flag} PORT must be 0-65535", EXIT_USAGE)
    if args.status_every <= 0:
        raise CliError("--status-every must be positive", EXIT_USAGE)
    logging.basicConfig(level=logging.INFO, format="lifelog service: %(message)s", stream=sys.stderr)
    for noisy in ("apscheduler", "lancedb", "uvicorn"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    mem = open_memory(args)

    def said(ev: Any) -> None:
        print(f"lifelog service: {getattr(ev, 'message', ev)}", file=sys.stderr, flush=True)

    service = Service(default_components(
        mem.data_dir, mem, receiver=not args.no_receiver, port=args.port, host=args.host,
        advertise=not args.no_mdns, usb=not args.no_usb, on_event=said, on_sync=said,
        api=args.api is not None, api_port=None if args.api in (None, -1) else args.api,
        mcp=args.mcp is not None, mcp_port=None if args.mcp in (None, -1) else args.mcp,
    ))
    service.start()

    def line(text: str) -> None:
        print(f"lifelog service: {text}", file=sys.stderr, flush=True)

    line(f"running for {mem.data_dir} — {service.status_line()}")
    service.run_until_stopped(status_every_s=args.status_every, on_status=line)
    line("stopped")
    return EXIT_OK
