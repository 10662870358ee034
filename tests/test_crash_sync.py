"""Crash matrix for sync (issue #20, a gap a verifier found): a real ``lifelog sync`` of a paired,
simulated camera card SIGKILLed at its write steps, then run again: the store equals a clean
sync's (same rows and ids, same vault blobs, the same encrypted kept originals, every file in the
device ledger) and nothing is left over (no ``.part`` download, no plaintext copy in
``originals/``, no ``.tmp-`` file, no journal entry).

The kill points are found by watching the data dir, never by hooks in the product; the harness is
``bench/crash.py`` (``python bench/crash.py --only sync`` runs every step of two files). Here the
points that cut a file between its steps: its import committed but nothing else, its encrypted
original being written, its encrypted original written.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from lifelog.paths import REPO_ROOT

pytestmark = [pytest.mark.media, pytest.mark.slow]

# bench: partial, journal, media, original, ledger of files 1 and 2. "ledger" is recorded before
# the kept original is encrypted, so that kill lands mid-encryption: it left an encrypted
# ``.tmp-`` copy in originals/ that nothing removed (fixed: a sync removes its device's).
POINTS = [("media", 2), ("ledger", 1), ("original", 1)]


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lifelog_bench_crash", REPO_ROOT / "bench" / "crash.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_sync_killed_at_its_write_steps_recovers_to_a_clean_sync(media: object, models_ready: None,
                                                                 tmp_path: Path) -> None:
    crash = _harness()
    t0 = time.monotonic()
    mounts = crash.make_card(tmp_path / "inputs")
    clean = crash.clean_sync(tmp_path, mounts)
    assert clean["counts"]["media"] == 3 and len(clean["originals"]) == 3 and len(clean["ledger"]) == 3, clean
    assert clean["plain_originals"] == [] and clean["partials"] == [] and clean["orphan_blobs"] == []
    for step, nth in POINTS:
        o = crash.run_sync_point(tmp_path, mounts, step, nth, clean)
        assert o.killed, f"the sync finished before {step} of file {nth} was seen"
        assert o.ok, f"sync killed at {step} of file {nth}: seen {o.seen}; problems {o.problems}"
        if step == "media":
            assert "media" in o.seen["tables_written"], o.seen
        if step == "original":
            assert len(o.seen["originals"]) >= 1 and o.seen["ledger"] <= 3, o.seen
    print(f"\n{len(POINTS)} sync kill points in {time.monotonic() - t0:.1f} s")
