"""Issue #12: an export killed with SIGKILL never leaves something that looks like a finished
archive, and the next export to the same name clears what it left (no decrypted leftovers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import cli_env, json_doc, run_cli

pytestmark = [pytest.mark.media, pytest.mark.slow]


def test_a_killed_export_leaves_no_archive_and_the_next_one_cleans_up(
    tmp_path: Path, media: Any, models_ready: None
) -> None:
    from lifelog.sample.compose import make_clip  # test data only

    src = tmp_path / "footage"
    src.mkdir()
    for i, name in enumerate(("chelsea.png", "rocket.jpg", "coffee.png")):
        make_clip(src / f"c{i}.mp4", media.path(name), 6, datetime(2024, 5, 14, 9 + i, 0, tzinfo=UTC),
                  fps=10, size=(320, 240))
    data = tmp_path / "memory"
    proc = run_cli(data, "import", str(src), "--no-transcribe", "--json")
    assert proc.returncode == 0, proc.stderr
    dest = tmp_path / "out" / "export"
    dest.parent.mkdir()

    cmd = [sys.executable, "-m", "lifelog", "--data-dir", str(data), "export", str(dest)]
    p = subprocess.Popen(cmd, env=cli_env(), stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    for _line in p.stderr:  # the first progress line: the export has begun writing
        break
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not dest.exists(), "a killed export must not leave something under the archive's name"
    left = list(dest.parent.iterdir())
    assert all(".partial-" in x.name for x in left)
    assert not any((x / "manifest.json").exists() for x in left if x.is_dir()), "nothing looks complete"

    proc = run_cli(data, "export", str(dest), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)
    assert [x.name for x in dest.parent.iterdir()] == ["export"], "the killed export's leftovers are gone"
    assert (dest / "manifest.json").is_file()
