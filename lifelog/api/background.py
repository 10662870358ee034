"""The app's "Keep running in the background" option: when it is on, closing the window leaves
``lifelog service`` (the nightly schedule, the Wi-Fi receiver, USB watching) running for this
memory (issue #14, docs/app.md).

* :func:`keep_running` / :func:`set_keep_running` — the option, stored in the memory folder
  (``background.json``: the service runs per memory, so the choice belongs to the memory);
* :func:`service_host` — the ``lifelog service`` process hosting this memory's schedule now,
  if any (judged by the scheduler's host lock, never by a pid file alone);
* :func:`start_service` — start ``python -m lifelog service`` for this memory, detached from the
  app (its own session: it outlives the window), its output appended to
  ``<data>/consolidation/service.log``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from lifelog.consolidate.state import read_status
from lifelog.store.files import atomic_write

OPTION_FILE = "background.json"
SERVICE_LOG = "consolidation/service.log"

__all__ = ["OPTION_FILE", "SERVICE_LOG", "keep_running", "service_command", "service_host", "set_keep_running",
           "start_service"]


def keep_running(data_dir: Path | str) -> bool:
    """Whether closing the app leaves ``lifelog service`` running (off unless the user chose it)."""
    try:
        doc = json.loads((Path(data_dir) / OPTION_FILE).read_bytes())
    except (OSError, ValueError):
        return False
    return bool(doc.get("keep_running")) if isinstance(doc, dict) else False


def set_keep_running(data_dir: Path | str, on: bool) -> None:
    """Record the option (atomically; ``OSError`` for a read-only memory folder)."""
    atomic_write(Path(data_dir) / OPTION_FILE, json.dumps({"keep_running": bool(on)}).encode())


def service_host(data_dir: Path | str) -> dict[str, Any] | None:
    """``{"pid", "kind", …}`` of the ``lifelog service`` hosting this memory's schedule, or None."""
    host = read_status(Path(data_dir)).host
    return host if host and host.get("kind") == "service" else None


def service_command(data_dir: Path | str) -> list[str]:
    """The command line of the background service for this memory (this interpreter)."""
    return [sys.executable, "-m", "lifelog", "--data-dir", str(Path(data_dir)), "service"]


def start_service(data_dir: Path | str, extra_args: list[str] | None = None) -> int:
    """Start ``lifelog service`` for this memory, detached (a new session, no terminal, stdin
    closed); its process id. It opens the memory itself: a memory protected by a passphrase
    needs ``LIFELOG_PASSPHRASE`` in the environment (or the system keyring)."""
    folder = Path(data_dir)
    log_path = folder / SERVICE_LOG
    log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            [*service_command(folder), *(extra_args or [])],
            stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True, close_fds=True,
            cwd=str(folder),
        )
    finally:
        os.close(fd)
    return proc.pid
