"""``lifelog service`` — the headless background process: the nightly consolidation schedule,
the Wi-Fi receiver and USB watching, in one place (docs/consolidation.md has systemd and
launchd examples). Runs until SIGTERM or Ctrl-C, then stops each part in order; a status line
on stderr at start and every ``--status-every`` seconds. It also answers ``lifelog ask`` handed
over by a cold command on the memory's local socket (``lifelog.serve.asks``).

``lifelog service install [--autostart] [--no-systemd] [--enable]`` writes a systemd user unit
(``$XDG_CONFIG_HOME/systemd/user/lifelog.service``) and/or an XDG autostart entry
(``$XDG_CONFIG_HOME/autostart/lifelog.desktop``) that run this same ``lifelog service`` with the
options given; ``lifelog service uninstall`` removes exactly those files (docs/cli.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from typing import Any

from lifelog.commands.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CliError, emit, open_memory


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    s = sub.add_parser("service", parents=[common],
                       help="run in the background: nightly consolidation, Wi-Fi receiver, USB watching")
    s.add_argument("action", nargs="?", choices=["install", "uninstall"],
                   help="install: start it at login (systemd user unit and/or XDG autostart); uninstall: remove them")
    s.add_argument("--autostart", action="store_true", help="install: also write an XDG autostart entry")
    s.add_argument("--no-systemd", action="store_true", help="install: no systemd user unit (autostart only)")
    s.add_argument("--enable", action="store_true",
                   help="install: also run `systemctl --user enable --now lifelog.service` (when systemd answers)")
    s.add_argument("--json", action="store_true", help="install/uninstall: print one JSON document")
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


def _service_args(args: argparse.Namespace) -> list[str]:
    """The options of this command line that the installed service should run with."""
    out: list[str] = []
    for flag in ("no_receiver", "no_mdns", "no_usb"):
        if getattr(args, flag):
            out.append("--" + flag.replace("_", "-"))
    if args.port is not None:
        out += ["--port", str(args.port)]
    if args.host != "0.0.0.0":
        out += ["--host", args.host]
    for flag in ("api", "mcp"):
        value = getattr(args, flag)
        if value is not None:
            out += [f"--{flag}"] + ([] if value == -1 else [str(value)])
    return out


def _systemctl(*words: str) -> tuple[bool, str]:
    cmd = ["systemctl", "--user", *words]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return proc.returncode == 0, (proc.stderr or proc.stdout).strip()


def cmd_install(args: argparse.Namespace) -> int:
    from lifelog.api import background
    from lifelog.api.handoff import resolve_data_dir

    if args.no_systemd and not args.autostart:
        raise CliError("--no-systemd leaves nothing to install: add --autostart", EXIT_USAGE)
    folder = resolve_data_dir(getattr(args, "data_dir", None))
    try:
        written = background.install_start_at_login(folder, _service_args(args), systemd=not args.no_systemd,
                                                     autostart=args.autostart)
    except FileExistsError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    except OSError as e:
        raise CliError(f"could not write the start-at-login files: {e}") from e
    todo: list[str] = []
    enabled = None
    if not args.no_systemd:
        steps = ["daemon-reload", "enable --now " + background.UNIT_NAME]
        if args.enable and background.systemctl_user_works():
            ok, why = _systemctl("daemon-reload")
            ok = ok and _systemctl("enable", "--now", background.UNIT_NAME)[0]
            enabled = ok
            if not ok:
                print(f"lifelog: systemctl --user did not enable the unit: {why}", file=sys.stderr)
                todo = [f"systemctl --user {w}" for w in steps]
        else:
            todo = [f"systemctl --user {w}" for w in steps]
    if os.environ.get("LIFELOG_PASSPHRASE") is None:
        from lifelog.api.keys import needs_passphrase

        if needs_passphrase(folder):
            print("lifelog: this memory is protected by a passphrase and no keyring holds its key: the service "
                  "started at login cannot open it unless LIFELOG_PASSPHRASE is set for it", file=sys.stderr)
    if args.json:
        emit({"installed": [str(p) for p in written], "data_dir": str(folder), "enabled": enabled,
              "commands": todo})
        return EXIT_OK
    for p in written:
        print(f"wrote {p}")
    if todo:
        print("to start it now and at every login, run:")
        for line in todo:
            print(f"  {line}")
    elif enabled:
        print(f"enabled and started {background.UNIT_NAME} (systemctl --user status lifelog)")
    if args.autostart:
        print("the autostart entry starts it at your next desktop login")
    return EXIT_OK


def cmd_uninstall(args: argparse.Namespace) -> int:
    from lifelog.api import background

    disabled = None
    if background.unit_enabled() and background.systemctl_user_works():
        disabled, why = _systemctl("disable", "--now", background.UNIT_NAME)
        if not disabled:
            print(f"lifelog: systemctl --user did not disable the unit: {why}", file=sys.stderr)
    elif background.unit_enabled():
        print(f"lifelog: run `systemctl --user disable --now {background.UNIT_NAME}` as well", file=sys.stderr)
    try:
        removed = background.uninstall_start_at_login()
    except OSError as e:
        raise CliError(f"could not remove the start-at-login files: {e}", EXIT_ERROR) from e
    if args.json:
        emit({"removed": [str(p) for p in removed], "disabled": disabled})
        return EXIT_OK
    for p in removed:
        print(f"removed {p}")
    if not removed:
        print("nothing to remove: lifelog was not set to start at login")
    return EXIT_OK


def cmd_service(args: argparse.Namespace) -> int:
    if args.action == "install":
        return cmd_install(args)
    if args.action == "uninstall":
        return cmd_uninstall(args)
    if args.json or args.autostart or args.no_systemd or args.enable:
        raise CliError("--json, --autostart, --no-systemd and --enable go with `service install`/`uninstall`",
                       EXIT_USAGE)
    from lifelog.commands.ask import ask_handler
    from lifelog.serve.asks import AskSocketComponent
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

    service = Service([*default_components(
        mem.data_dir, mem, receiver=not args.no_receiver, port=args.port, host=args.host,
        advertise=not args.no_mdns, usb=not args.no_usb, on_event=said, on_sync=said,
        api=args.api is not None, api_port=None if args.api in (None, -1) else args.api,
        mcp=args.mcp is not None, mcp_port=None if args.mcp in (None, -1) else args.mcp,
    ), AskSocketComponent(mem.data_dir, {"ask": ask_handler(mem)})])
    service.start()

    def line(text: str) -> None:
        print(f"lifelog service: {text}", file=sys.stderr, flush=True)

    line(f"running for {mem.data_dir} — {service.status_line()}")
    service.run_until_stopped(status_every_s=args.status_every, on_status=line)
    line("stopped")
    return EXIT_OK
