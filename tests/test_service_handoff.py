"""A cold `lifelog ask` hands the question to the running `lifelog service` of the same memory
(a real service process, its socket in the memory folder) and prints exactly what it would
have printed itself — text, --json, a refused question and its exit code; with no service, a
killed one (its socket file left behind) or a socket open to others, it answers in-process."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO_ROOT, cli_env, run_cli
from ui_memory_helpers import NOW, tiny_memory

QUESTION = "when did I last see a cat?"
NO_HANDOFF = cli_env(LIFELOG_NO_HANDOFF="1")


@pytest.fixture(scope="module")
def memory(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data, _ = tiny_memory(tmp_path_factory.mktemp("handoff"), media)
    return data


def _start_service(memory: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "lifelog", "--data-dir", str(memory), "service",
                                 "--no-receiver", "--no-usb", "--no-mdns"], stdout=out, stderr=out,
                                env=cli_env(), cwd=REPO_ROOT)
    sock = memory / "run" / "service.sock"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "socket started" not in log.read_text():
        if proc.poll() is not None:
            pytest.fail(f"the service exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    assert sock.exists(), log.read_text()
    return proc


@pytest.fixture
def service(memory: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = tmp_path / "service.log"
    proc = _start_service(memory, log)
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def _handed(log: Path) -> int:
    return log.read_text().count("answered a handed-over ask")


def test_the_service_answers_exactly_as_the_command_would(memory: Path, service: Any) -> None:
    _proc, log = service
    sock = memory / "run" / "service.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600 and sock.stat().st_uid == os.getuid()
    for args in ([QUESTION, "--now", NOW.isoformat()], [QUESTION, "--now", NOW.isoformat(), "--json"],
                 [QUESTION, "--now", NOW.isoformat(), "--json", "--limit", "1", "--no-thumbnails"]):
        before = _handed(log)
        handed = run_cli(memory, "ask", *args)
        assert _handed(log) == before + 1, "the question went to the service"
        here = run_cli(memory, "ask", *args, env=NO_HANDOFF)
        assert handed.returncode == here.returncode == 0, handed.stderr + here.stderr
        assert handed.stdout == here.stdout
        assert "cat" in handed.stdout.lower()
    # a question that cannot be understood: the same message and exit code
    bad = [QUESTION.replace("?", " on February 30?"), "--now", NOW.isoformat()]
    handed, here = run_cli(memory, "ask", *bad), run_cli(memory, "ask", *bad, env=NO_HANDOFF)
    assert handed.returncode == here.returncode == 2
    assert handed.stderr.strip().splitlines()[-1] == here.stderr.strip().splitlines()[-1]
    limit = run_cli(memory, "ask", QUESTION, "--limit", "0")
    assert limit.returncode == 2 and "--limit must be at least 1" in limit.stderr


def test_a_socket_open_to_others_is_not_used(memory: Path, service: Any) -> None:
    _proc, log = service
    sock = memory / "run" / "service.sock"
    sock.chmod(0o666)
    try:
        before = _handed(log)
        out = run_cli(memory, "ask", QUESTION, "--now", NOW.isoformat())
        assert out.returncode == 0 and "cat" in out.stdout.lower()
        assert _handed(log) == before, "never hand a question to a socket others can reach"
    finally:
        sock.chmod(0o600)


def test_a_killed_service_leaves_a_socket_and_ask_still_answers_in_process(memory: Path, tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    proc = _start_service(memory, log)
    expected = run_cli(memory, "ask", QUESTION, "--now", NOW.isoformat(), env=NO_HANDOFF)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert (memory / "run" / "service.sock").exists(), "SIGKILL leaves the socket file"
    out = run_cli(memory, "ask", QUESTION, "--now", NOW.isoformat())
    assert out.returncode == 0 and out.stdout == expected.stdout
    # the next service replaces the stale socket and answers again
    log = tmp_path / "service2.log"
    proc2 = _start_service(memory, log)
    try:
        before = _handed(log)
        again = run_cli(memory, "ask", QUESTION, "--now", NOW.isoformat())
        assert again.stdout == expected.stdout and _handed(log) == before + 1
    finally:
        proc2.send_signal(signal.SIGTERM)
        proc2.wait(60)
    assert not (memory / "run" / "service.sock").exists(), "a service that stops removes its socket"


# ------------------------------------------------------------------ the quick way in (no parser)
QUICK_SAME = [  # command lines the quick path reads: exactly what the full parser reads
    ["ask", QUESTION],
    ["--data-dir", "/m", "ask", QUESTION],
    ["--data-dir=/m", "ask", "--json", QUESTION, "--limit", "2"],
    ["ask", QUESTION, "--data-dir", "/other", "--now", "2024-05-16T00:00:00+00:00", "--no-thumbnails"],
    ["--data-dir", "/m", "ask", "--limit=3", QUESTION, "--data-dir=/n", "--json", "--json"],
    ["ask", "--now=2024-05-16", QUESTION, "--limit", " 4"],
]
QUICK_DECLINED = [  # left to the full parser: help, abbreviations, errors it words, other commands
    ["ask", "--help"], ["ask", "-h"], ["--version"], ["status"], [], ["ask"], ["ask", QUESTION, "more"],
    ["ask", QUESTION, "--lim", "2"], ["ask", QUESTION, "--limit", "two"], ["ask", QUESTION, "--limit"],
    ["ask", QUESTION, "--now", "-1"], ["--json", "ask", QUESTION], ["ask", QUESTION, "--json=yes"],
    ["ask", "--", QUESTION], ["ask", "-5 degrees"], ["--now", "x", "ask", QUESTION],
]


def test_the_quick_path_reads_a_command_line_as_the_parser_does() -> None:
    from lifelog.commands.ask import ASK_FIELDS, quick_ask_args
    from lifelog.commands.main import _parser

    parser = _parser()
    for argv in QUICK_SAME:
        quick = quick_ask_args(argv)
        assert quick is not None, argv
        full = parser.parse_args(argv)
        assert quick == {**{k: getattr(full, k) for k in ASK_FIELDS}, "data_dir": getattr(full, "data_dir", None)}
    for argv in QUICK_DECLINED:
        assert quick_ask_args(argv) is None, argv


def test_the_quick_path_hands_over_without_building_the_parser_or_the_core(memory: Path, service: Any,
                                                                           tmp_path: Path) -> None:
    """What a user notices: the same answer, sooner; here, what the command did not load to give it."""
    _proc, log = service
    # the memory folder chosen in the app (no --data-dir, no LIFELOG_HOME): read without the settings' models
    config = tmp_path / "config"
    (config / "lifelog").mkdir(parents=True)
    (config / "lifelog" / "location.json").write_text(json.dumps({"data_dir": str(memory)}))
    probe = ("import sys, runpy\n"
             "sys.argv = ['lifelog'] + sys.argv[1:]\n"
             "try:\n"
             "    runpy.run_module('lifelog', run_name='__main__')\n"
             "except SystemExit as e:\n"
             "    code = e.code\n"
             "heavy = ('argparse', 'lifelog.commands.main', 'lifelog.commands.common', 'numpy', 'pydantic',"
             " 'lancedb', 'lifelog.api.memory')\n"
             "print('loaded:', [m for m in heavy if m in sys.modules], 'code', code, file=sys.stderr)\n")
    for args, env in (
            (["ask", QUESTION, "--data-dir", str(memory), "--now", NOW.isoformat(), "--limit=2"], cli_env()),
            (["--data-dir", str(memory), "ask", "--json", QUESTION, "--now", NOW.isoformat()], cli_env()),
            (["ask", QUESTION, "--now", NOW.isoformat()], cli_env(XDG_CONFIG_HOME=str(config)))):
        before = _handed(log)
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=180,
                             env=env, cwd=REPO_ROOT)
        assert _handed(log) == before + 1, out.stderr
        assert "loaded: [] code 0" in out.stderr, out.stderr
        here = run_cli(None, *args, env={**env, "LIFELOG_NO_HANDOFF": "1"})
        assert here.returncode == 0 and out.stdout == here.stdout and "cat" in out.stdout.lower()
