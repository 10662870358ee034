"""`lifelog service install / uninstall`: the systemd user unit and the XDG autostart entry are
written under $XDG_CONFIG_HOME with this lifelog's command line, removed exactly, a file lifelog
did not write is never touched, and systemctl is not run unless --enable was asked (a fake
`systemctl` first on PATH records any call)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from helpers import cli_env, error_line, json_doc, run_cli


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    spy = bin_dir / "systemctl"
    spy.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'systemctl-called'}\nexit 0\n")
    spy.chmod(0o755)
    return cli_env(XDG_CONFIG_HOME=str(tmp_path / "config"), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_install_writes_the_unit_and_autostart_entry_and_uninstall_removes_exactly_them(
        tmp_path: Path, data_dir: Path, env: dict[str, str]) -> None:
    config = tmp_path / "config"
    unit = config / "systemd" / "user" / "lifelog.service"
    entry = config / "autostart" / "lifelog.desktop"
    neighbour = config / "autostart" / "other-app.desktop"
    neighbour.parent.mkdir(parents=True)
    neighbour.write_text("[Desktop Entry]\nName=Other\n")

    proc = run_cli(data_dir, "service", "install", "--autostart", "--api", "--no-receiver", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert sorted(doc["installed"]) == sorted([str(unit), str(entry)])
    assert doc["enabled"] is None  # not asked: the commands are printed for the user instead
    assert doc["commands"] == ["systemctl --user daemon-reload", "systemctl --user enable --now lifelog.service"]
    text = unit.read_text()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert f"-m lifelog --data-dir {data_dir} service --no-receiver --api" in exec_start
    assert exec_start.split("=", 1)[1].split()[0] == sys.executable, "this very lifelog (its venv's python)"
    assert "WantedBy=default.target" in text
    desktop = entry.read_text()
    assert f"Exec={exec_start.split('=', 1)[1]}" in desktop and "Type=Application" in desktop
    assert not (tmp_path / "systemctl-called").exists(), "systemctl must not run without --enable"

    again = run_cli(data_dir, "service", "install", "--autostart", env=env)  # idempotent: rewritten
    assert again.returncode == 0, again.stderr
    assert "--api" not in unit.read_text()

    out = run_cli(data_dir, "service", "uninstall", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert sorted(json_doc(out)["removed"]) == sorted([str(unit), str(entry)])
    assert not unit.exists() and not entry.exists()
    assert neighbour.read_text() == "[Desktop Entry]\nName=Other\n", "another app's entry is untouched"
    assert not (tmp_path / "systemctl-called").exists()
    none_left = run_cli(data_dir, "service", "uninstall", env=env)
    assert none_left.returncode == 0 and "nothing to remove" in none_left.stdout


def test_a_unit_lifelog_did_not_write_is_refused_and_kept(tmp_path: Path, data_dir: Path,
                                                          env: dict[str, str]) -> None:
    unit = tmp_path / "config" / "systemd" / "user" / "lifelog.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/bin/my-own-lifelog\n")
    proc = run_cli(data_dir, "service", "install", env=env)
    assert proc.returncode == 2
    assert "was not written by lifelog" in error_line(proc)
    assert unit.read_text() == "[Service]\nExecStart=/usr/bin/my-own-lifelog\n"
    out = run_cli(data_dir, "service", "uninstall", env=env)
    assert out.returncode == 0 and unit.exists(), "uninstall removes only what install wrote"


def test_install_flags_are_checked(data_dir: Path, env: dict[str, str]) -> None:
    proc = run_cli(data_dir, "service", "install", "--no-systemd", env=env)
    assert proc.returncode == 2 and "--autostart" in error_line(proc)
    proc = run_cli(data_dir, "service", "--json", env=env)
    assert proc.returncode == 2 and "service install" in error_line(proc)
