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

__all__ = [
    "AUTOSTART_NAME",
    "OPTION_FILE",
    "SERVICE_LOG",
    "UNIT_NAME",
    "autostart_path",
    "close_to_tray",
    "config_home",
    "exec_line",
    "install_start_at_login",
    "keep_running",
    "lifelog_command",
    "notifications_on",
    "service_alive",
    "service_command",
    "service_host",
    "set_close_to_tray",
    "set_keep_running",
    "set_notifications",
    "start_service",
    "systemctl_user_works",
    "uninstall_start_at_login",
    "unit_enabled",
    "unit_path",
]


def _options(data_dir: Path | str) -> dict[str, Any]:
    try:
        doc = json.loads((Path(data_dir) / OPTION_FILE).read_bytes())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _set_option(data_dir: Path | str, key: str, value: Any) -> None:
    doc = _options(data_dir)
    if value is None:
        doc.pop(key, None)
    else:
        doc[key] = value
    atomic_write(Path(data_dir) / OPTION_FILE, json.dumps(doc).encode())


def keep_running(data_dir: Path | str) -> bool:
    """Whether closing the app leaves ``lifelog service`` running (off unless the user chose it)."""
    return bool(_options(data_dir).get("keep_running"))


def set_keep_running(data_dir: Path | str, on: bool) -> None:
    """Record the option (atomically; ``OSError`` for a read-only memory folder)."""
    _set_option(data_dir, "keep_running", bool(on))


def close_to_tray(data_dir: Path | str) -> bool | None:
    """What closing the window does where a system tray exists: True keeps the app running in
    the tray, False quits; None: not asked yet (the window asks once, Settings changes it)."""
    value = _options(data_dir).get("close_to_tray")
    return value if isinstance(value, bool) else None


def set_close_to_tray(data_dir: Path | str, on: bool | None) -> None:
    _set_option(data_dir, "close_to_tray", on)


def notifications_on(data_dir: Path | str) -> bool:
    """Desktop notifications (finished syncs, pairing requests, LocalSend approvals): on unless
    the user turned them off in Settings."""
    return _options(data_dir).get("notifications", True) is not False


def set_notifications(data_dir: Path | str, on: bool) -> None:
    _set_option(data_dir, "notifications", bool(on))


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


# ------------------------------------------------------------------ start at login (issue #18)
UNIT_NAME = "lifelog.service"
AUTOSTART_NAME = "lifelog.desktop"
MANAGED_MARK = "X-Lifelog-Managed=true"  # in both files: uninstall removes only what install wrote


def config_home() -> Path:
    """``$XDG_CONFIG_HOME`` or ``~/.config``."""
    env = os.environ.get("XDG_CONFIG_HOME")
    return Path(env) if env and os.path.isabs(env) else Path.home() / ".config"


def unit_path() -> Path:
    return config_home() / "systemd" / "user" / UNIT_NAME


def autostart_path() -> Path:
    return config_home() / "autostart" / AUTOSTART_NAME


def lifelog_command() -> list[str]:
    """How to run this very ``lifelog``: the bundle's executable when frozen, else this
    interpreter with ``-m lifelog`` (it works from a venv without activating it)."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "lifelog"]


def _quote(arg: str) -> str:
    """One argument for a systemd ``ExecStart=`` or a desktop entry's ``Exec=`` line (both take
    double quotes with backslash escapes; ``%`` is doubled for both)."""
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in ' \t"\'\\$`;'):
        return arg
    return '"' + "".join("\\" + c if c in '"\\$`' else c for c in arg) + '"'


def exec_line(data_dir: Path | str, service_args: list[str]) -> str:
    return " ".join(_quote(a) for a in [*lifelog_command(), "--data-dir", str(Path(data_dir)), "service",
                                        *service_args])


def unit_text(data_dir: Path | str, service_args: list[str]) -> str:
    return (
        "# written by `lifelog service install`; `lifelog service uninstall` removes it\n"
        "[Unit]\n"
        f"Description=lifelog background service for {Path(data_dir)}\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={exec_line(data_dir, service_args)}\n"
        "Restart=on-failure\n"
        "RestartSec=10\n"
        "UMask=0077\n\n"
        "[Install]\n"
        "WantedBy=default.target\n\n"
        f"# {MANAGED_MARK}\n"
    )


def autostart_text(data_dir: Path | str, service_args: list[str]) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=lifelog background service\n"
        "Comment=Receives footage and tidies the memory at night (lifelog service)\n"
        f"Exec={exec_line(data_dir, service_args)}\n"
        "Terminal=false\n"
        "NoDisplay=true\n"
        "X-GNOME-Autostart-enabled=true\n"
        f"{MANAGED_MARK}\n"
    )


def install_start_at_login(data_dir: Path | str, service_args: list[str], *, systemd: bool = True,
                           autostart: bool = False) -> list[Path]:
    """Write the systemd user unit and/or the XDG autostart entry; the files written. A file
    already there that ``lifelog`` did not write is refused (``FileExistsError``), never replaced."""
    wanted: list[tuple[Path, str]] = []
    if systemd:
        wanted.append((unit_path(), unit_text(data_dir, service_args)))
    if autostart:
        wanted.append((autostart_path(), autostart_text(data_dir, service_args)))
    for path, _ in wanted:
        if path.exists() and not _managed(path):
            raise FileExistsError(f"{path} exists and was not written by lifelog; remove it or rename it first")
    written = []
    for path, text in wanted:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode())
        os.chmod(path, 0o644)  # systemd and the session read it; nothing secret is in it
        written.append(path)
    return written


def _managed(path: Path) -> bool:
    try:
        return MANAGED_MARK in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def uninstall_start_at_login() -> list[Path]:
    """Remove the unit and the autostart entry that ``install_start_at_login`` wrote (only
    those: a file of the same name without lifelog's mark stays); the files removed."""
    removed = []
    for path in (unit_path(), autostart_path()):
        if path.exists() and _managed(path):
            path.unlink()
            removed.append(path)
    return removed


def unit_enabled() -> bool:
    """Whether ``systemctl --user enable`` linked the unit (the link in ``default.target.wants``)."""
    return (unit_path().parent / "default.target.wants" / UNIT_NAME).is_symlink()


def systemctl_user_works() -> bool:
    """Whether a systemd user manager answers (``systemctl --user is-system-running``)."""
    import shutil

    exe = shutil.which("systemctl")
    if exe is None:
        return False
    try:
        proc = subprocess.run([exe, "--user", "is-system-running"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.stdout.strip() in ("running", "degraded", "starting")


def service_alive(data_dir: Path | str, timeout_s: float = 1.0) -> int | None:
    """The process id of the ``lifelog service`` answering on this memory's local socket now, or
    None (none runs, or it does not answer: killed, hung). Independent of who hosts the schedule."""
    from lifelog.api.handoff import send

    reply = send(data_dir, {"command": "ping"}, reply_timeout_s=timeout_s)
    pid = reply.get("pid") if reply else None
    return pid if isinstance(pid, int) else None
