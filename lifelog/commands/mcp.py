"""``lifelog mcp``: the memory as a Model Context Protocol server for an assistant (docs/mcp.md).

``lifelog mcp [--token-file PATH]`` serves over stdio (what an MCP client such as Claude Desktop
starts); the grant token comes from ``--token-file`` or ``$LIFELOG_GRANT_TOKEN`` and is checked
before anything is served: without a valid one the command exits 2 with a one-line message on
stderr. Nothing but protocol is written on stdout.

``lifelog mcp --http [--port N] [--host H] [--allow-remote]`` serves streamable HTTP at
``http://127.0.0.1:N/mcp`` until Ctrl-C / SIGTERM; every request carries its own grant token
(``Authorization: Bearer …``) and is answered 401 without a valid one. It binds to loopback
unless ``--allow-remote`` is given with a non-loopback ``--host``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from lifelog.commands.common import EXIT_OK, EXIT_USAGE, CliError, open_memory

TOKEN_ENV = "LIFELOG_GRANT_TOKEN"


def register(sub: Any, common: argparse.ArgumentParser) -> dict[str, Any]:
    mc = sub.add_parser("mcp", parents=[common],
                        help="serve the memory to an assistant over MCP (stdio, or --http on loopback)")
    mc.add_argument("--token-file", type=Path, metavar="PATH",
                    help=f"file holding the grant token for stdio (default: ${TOKEN_ENV})")
    mc.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    mc.add_argument("--port", type=int, default=8766, help="HTTP port (default 8766; 0 picks a free one)")
    mc.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1, loopback)")
    mc.add_argument("--allow-remote", action="store_true",
                    help="allow a non-loopback --host (other machines could then reach it)")
    return {"mcp": cmd_mcp}


def _token(args: argparse.Namespace) -> str:
    if args.token_file is not None:
        try:
            token = str(args.token_file.read_text(encoding="utf-8")).strip()
        except OSError as e:
            raise CliError(f"cannot read the grant token file {args.token_file}: {e.strerror or e}", EXIT_USAGE) from e
        if not token:
            raise CliError(f"the grant token file {args.token_file} is empty", EXIT_USAGE)
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise CliError(f"no grant token: pass --token-file PATH or set {TOKEN_ENV} "
                       "(create one with `lifelog grants add NAME --scope …`)", EXIT_USAGE)
    return token


def cmd_mcp(args: argparse.Namespace) -> int:
    from lifelog.serve.mcp import McpHttpServer, TokenRefused, check_token, run_stdio

    if not 0 <= args.port < 65536:
        raise CliError("--port must be 0-65535", EXIT_USAGE)
    if args.http:
        mem = open_memory(args)
        try:
            server = McpHttpServer(mem, host=args.host, port=args.port, allow_remote=args.allow_remote)
        except ValueError as e:
            raise CliError(str(e), EXIT_USAGE) from e
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            server.start()
        except OSError as e:
            raise CliError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from e
        print(f"lifelog: MCP over streamable HTTP at {server.url} (a grant token per request; Ctrl-C stops)",
              file=sys.stderr, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
        return EXIT_OK
    token = _token(args)
    mem = open_memory(args)
    try:
        check_token(mem, token)
    except TokenRefused as e:
        raise CliError(f"refusing to start the MCP server: {e}", EXIT_USAGE) from e
    run_stdio(mem, token)
    return EXIT_OK
