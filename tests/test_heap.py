"""At most two malloc arenas in a lifelog process (issue #21, lifelog.store.heap): the command,
the app and the importer ask glibc for it once; a MALLOC_ARENA_MAX the user set is left alone.
(The effect — 60 clips of 10 s imported in 0.80 GB instead of 1.06 GB — is a bench figure:
bench/ingest.py --targets.)"""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import REPO_ROOT, cli_env

CHILD = "from lifelog.store.heap import limit_arenas; print(limit_arenas(), limit_arenas())"


def _child(**env: str | None) -> str:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60,
                         env=cli_env(**env), cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_the_limit_is_set_once() -> None:
    assert _child(MALLOC_ARENA_MAX=None) == "True False"


def test_the_users_own_setting_is_kept() -> None:
    assert _child(MALLOC_ARENA_MAX="4") == "False False"


def test_the_command_sets_it_before_it_runs() -> None:
    code = ("import sys; sys.argv = ['lifelog', '--version']\n"
            "from lifelog.commands.common import private_process\n"
            "private_process()\n"
            "from lifelog.store.heap import limit_arenas\n"
            "print(limit_arenas())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=cli_env(MALLOC_ARENA_MAX=None), cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"  # already done by the command's first step
