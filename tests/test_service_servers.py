"""``lifelog service --api --mcp``: the background service also hosts the local HTTP API and the
MCP server (issue #17) next to the schedule — reachable on loopback with a grant token, refusing
requests without one, and stopped with the rest on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from helpers import cli_env

from lifelog.paths import REPO_ROOT


def test_service_serves_the_api_and_mcp_with_grants_and_stops_them(data_dir: Path) -> None:
    from lifelog.api import Memory
    from lifelog.api.grants import grants_of

    mem = Memory(data_dir)
    _, token = grants_of(mem).add("status-reader", "status")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), "service", "--no-receiver", "--no-usb",
         "--api", "0", "--mcp", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=cli_env(), cwd=REPO_ROOT,
    )
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 120
        while "running for" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
        api = re.search(r"api: serving (http://127\.0\.0\.1:\d+)/v1/", line)
        mcp = re.search(r"mcp: serving (http://127\.0\.0\.1:\d+/mcp)", line)
        assert api and mcp, line
        with httpx.Client(base_url=api.group(1), timeout=30) as http:
            assert http.get("/v1/status").status_code == 401
            ok = http.get("/v1/status", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200, ok.text
            assert http.get("/v1/people", headers={"Authorization": f"Bearer {token}"}).status_code == 403
        refused = httpx.post(mcp.group(1), json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=30)
        assert refused.status_code == 401
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for url in (api.group(1) + "/v1/status", mcp.group(1)):
        try:
            httpx.get(url, timeout=5)
        except httpx.TransportError:
            continue
        raise AssertionError(f"{url} still answers after the service stopped")
