"""Store size right after an import (issue #21, item 3; docs/storage.md).

An import ends with :func:`lifelog.store.tidy.after_import`: every table compacted, every older
version dropped. Frames keep no 1280-d feature vector (it cuts episodes and is never read back),
and tables below ``SCALAR_MIN_ROWS`` rows get no scalar index. A memory written before these
changes (``tests/fixtures/memory-before-tidy.tar.gz``, made by commit f5bc0fd's code with
``tests/fixtures/make_memory_before_tidy.py``) opens, answers as it did, and takes new imports.
The tidy is killed (SIGKILL, a real child process) at several points: no row is lost and the
next call leaves one version per table.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pytest
from helpers import tmpfs

from lifelog.store.db import SEMANTIC_DIM, Store, unused_files
from lifelog.store.tidy import after_import, needs_tidy

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent


def versions(data_dir: Path) -> dict[str, int]:
    """How many versions each table keeps on disk."""
    return {p.name[: -len(".lance")]: len(lance.dataset(str(p)).versions())
            for p in sorted((data_dir / "db").glob("*.lance"))}


def unused(data_dir: Path) -> dict[str, int]:
    store = Store(data_dir)
    out = {n: len(unused_files(store.any_table(n), store.path / f"{n}.lance")) for n in store.table_names()}
    return {n: k for n, k in out.items() if k}


def index_dirs(data_dir: Path, table: str) -> list[str]:
    d = data_dir / "db" / f"{table}.lance" / "_indices"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


# ------------------------------------------------------------------ a store with many versions
T0 = datetime(2024, 5, 14, 8, 0, tzinfo=UTC)


def frame_rows(k: int, n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(k)
    rows = []
    for j in range(n):
        v = rng.normal(size=SEMANTIC_DIM).astype(np.float32)
        rows.append({
            "id": f"{k:032x}-{j:05d}", "episode_id": f"{k:032x}-0000", "media_id": f"{k:032x}",
            "t": T0 + timedelta(minutes=k, seconds=j), "offset_s": float(j), "tz_offset_min": 60,
            "semantic": (v / np.linalg.norm(v)).tolist(),
            "features": None,  # as an import writes them now
            "labels": ["tabby", "tiger cat"], "label_scores": [0.6, 0.2], "thumb_id": f"{k:032x}-{j:05d}",
            "model": "test@1",
        })
    return rows


def many_versions(data_dir: Path, files: int = 12) -> dict[str, set[str]]:
    """Rows added the way an import adds them (one append per file and table); the ids per table."""
    store = Store(data_dir)
    for k in range(files):
        mid = f"{k:032x}"
        store.add("frames", frame_rows(k, 5))
        store.add("episodes", [{"id": f"{mid}-0000", "media_id": mid, "kind": "video", "start": T0,
                                "end": T0 + timedelta(seconds=5), "n_frames": 5, "labels": ["tabby"]}])
        store.add("media", [{"id": mid, "kind": "video", "size": 1000 + k, "capture_start": T0}])
    store.delete("frames", f"id = '{1:032x}-00004'")  # a deletion file, as a rollback leaves one
    return {t: set(store.rows(t, columns=["id"]).column("id").to_pylist()) for t in ("frames", "episodes", "media")}


def test_after_import_leaves_one_version_per_table_and_every_row(data_dir: Path) -> None:
    ids = many_versions(data_dir)
    before = versions(data_dir)
    assert before["frames"] > 10 and before["media"] > 10
    size_before = sum(p.stat().st_size for p in (data_dir / "db").rglob("*") if p.is_file())

    report = after_import(Store(data_dir))

    assert set(report.tables) >= {"frames", "episodes", "media"} and not report.failed
    assert set(versions(data_dir).values()) == {1}
    assert unused(data_dir) == {}
    store = Store(data_dir)
    for t, want in ids.items():
        assert set(store.rows(t, columns=["id"]).column("id").to_pylist()) == want, t
    size_after = sum(p.stat().st_size for p in (data_dir / "db").rglob("*") if p.is_file())
    assert size_after < size_before * 0.8
    # a tidy store is left alone: no new version, nothing rewritten
    assert not any(needs_tidy(store.any_table(n), store.path / f"{n}.lance") for n in store.table_names())
    assert after_import(store).tables == []
    assert set(versions(data_dir).values()) == {1}
    # a later delete of one row: LanceDB keeps it in a deletion file the tidy must not take away
    gone = f"{3:032x}-00002"
    store.delete("frames", f"id = '{gone}'")
    after_import(store)
    assert list((data_dir / "db" / "frames.lance" / "_deletions").iterdir())  # still a live deletion file
    assert set(versions(data_dir).values()) == {1} and unused(data_dir) == {}
    assert set(Store(data_dir).rows("frames", columns=["id"]).column("id").to_pylist()) == ids["frames"] - {gone}


def test_small_tables_get_no_scalar_index_large_ones_do(data_dir: Path) -> None:
    store = Store(data_dir)
    store.add("frames", frame_rows(1, 40))
    assert store.ensure_indexes() == [] and index_dirs(data_dir, "frames") == []
    made = store.ensure_indexes(scalar_min_rows=10)
    assert "frames.id:BTREE" in made and index_dirs(data_dir, "frames")
    assert store.count("frames", "id = '" + f"{1:032x}-00007" + "'") == 1


CHILD = textwrap.dedent("""
    import os, signal, sys, threading, time
    from pathlib import Path
    from lifelog.store.db import Store
    from lifelog.store.tidy import after_import

    data, target, delay_ms = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])

    def kill() -> None:
        time.sleep(delay_ms / 1000)
        os.kill(os.getpid(), signal.SIGKILL)

    def progress(name: str) -> None:
        print(name, flush=True)
        if name == target:  # killed while this table is being compacted and cleaned (or just after)
            threading.Thread(target=kill, daemon=True).start()

    after_import(Store(data), progress=progress)
    print("done", flush=True)
""")


@pytest.mark.slow
def test_after_import_killed_part_way_loses_no_row_and_the_next_call_finishes(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    ids = many_versions(base)
    killed_with_old_versions = 0
    for target, delay_ms in [("episodes", 0), ("frames", 0), ("frames", 15), ("frames", 40), ("media", 5),
                             ("frames", 100)]:
        ddir = tmp_path / f"run-{target}-{delay_ms}"
        shutil.copytree(base, ddir)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        p = subprocess.run([sys.executable, "-c", CHILD, str(ddir), target, str(delay_ms)], env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode in (0, -signal.SIGKILL), p.stderr
        if p.returncode == -signal.SIGKILL and any(v > 1 for v in versions(ddir).values()):
            killed_with_old_versions += 1  # (a kill can also land after the last table, on the way out)
        store = Store(ddir)
        for t, want in ids.items():  # whole, killed or not
            assert set(store.rows(t, columns=["id"]).column("id").to_pylist()) == want, (target, delay_ms, t)
        after_import(store)
        assert set(versions(ddir).values()) == {1}, (target, delay_ms)
        assert unused(ddir) == {}, (target, delay_ms)
        store = Store(ddir)
        for t, want in ids.items():
            assert set(store.rows(t, columns=["id"]).column("id").to_pylist()) == want, (target, delay_ms, t)
    assert killed_with_old_versions >= 1  # at least one kill really landed part-way


def test_a_full_disk_leaves_the_tables_whole_reports_them_and_the_next_call_tidies(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        ddir = mnt / "memory"
        ids = many_versions(ddir, files=6)
        filler = mnt / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as f:  # fill the disk to the last block
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        report = after_import(Store(ddir))
        assert "frames" in report.failed and "frames" not in report.tables
        store = Store(ddir)
        for t, want in ids.items():  # nothing lost
            assert set(store.rows(t, columns=["id"]).column("id").to_pylist()) == want, t
        filler.unlink()
        again = after_import(store)  # the next import's tidy does it
        assert "frames" in again.tables and not again.failed
        assert set(versions(ddir).values()) == {1}
        store = Store(ddir)
        for t, want in ids.items():
            assert set(store.rows(t, columns=["id"]).column("id").to_pylist()) == want, t


# ------------------------------------------------------------------------- real imports
@pytest.mark.slow
def test_an_import_leaves_one_version_per_table_and_no_feature_vectors(data_dir: Path, models_ready: None,
                                                                       media: Any) -> None:
    from lifelog.api import Memory
    from lifelog.sample.compose import write_photo

    tz = timezone(timedelta(hours=1))
    src = data_dir.parent / "footage"
    src.mkdir()
    files = [write_photo(src / f"{n}.jpg", media.path(s), datetime(2024, 5, 14, h, 0, tzinfo=tz), max_side=480)
             for n, s, h in (("cat", "chelsea.png", 8), ("coffee", "coffee.png", 10), ("obama", "obama.jpg", 15))]
    mem = Memory(data_dir)
    for f in files:
        assert not mem.import_paths([f]).failed
    assert set(versions(data_dir).values()) == {1}
    assert unused(data_dir) == {}
    frames = Store(data_dir).rows("frames")
    assert frames.num_rows == 3 and frames.column("features").null_count == 3
    assert index_dirs(data_dir, "frames") == []
    ans = mem.ask("when did I last see a cat?", now=datetime(2024, 5, 14, 20, 0, tzinfo=tz))
    assert ans.hits and ans.hits[0].start == datetime(2024, 5, 14, 8, 0, tzinfo=tz)  # the cat photo


FIXTURE = "memory-before-tidy"


@pytest.mark.slow
def test_a_memory_made_before_the_change_opens_answers_and_takes_new_imports(tmp_path: Path, models_ready: None,
                                                                              media: Any) -> None:
    from lifelog.api import Memory
    from lifelog.sample.compose import write_photo

    record = json.loads((FIXTURES / f"{FIXTURE}.json").read_text())
    with tarfile.open(FIXTURES / f"{FIXTURE}.tar.gz") as tf:
        tf.extractall(tmp_path, filter="data")
    ddir = tmp_path / FIXTURE
    assert versions(ddir)["frames"] == record["versions"]["frames"] > 1  # as the old code left it
    assert index_dirs(ddir, "frames")
    mem = Memory(ddir, passphrase=record["passphrase"])
    now = datetime.fromisoformat(record["now"])

    def same_answers() -> None:
        for question, was in record["answers"].items():
            ans = mem.ask(question, now=now, limit=3).to_json()
            assert ans["answer"] == was["answer"], question
            assert ans["count"] == was["count"], question
            assert [h["episode_id"] for h in ans["hits"]] == was["episodes"], question

    assert sorted(e.id for e in mem.episodes()) == record["episodes"]
    same_answers()

    photo = write_photo(tmp_path / "rocket.jpg", media.path("rocket.jpg"),
                        datetime(2024, 5, 15, 19, 0, tzinfo=timezone(timedelta(hours=2))), max_side=480)
    res = mem.import_paths([photo])
    assert res.imported == 1 and not res.failed
    assert set(versions(ddir).values()) == {1}
    frames = Store(ddir).rows("frames", columns=["id", "features"]).to_pylist()
    old = {f["id"]: f for f in frames if f["id"] in set(record["frames"])}
    assert sorted(old) == record["frames"]
    assert sum(f["features"] is not None for f in old.values()) == record["frames_with_features"]
    assert [f["features"] for f in frames if f["id"] not in old] == [None]
    assert sorted(e.id for e in mem.episodes()) == sorted([*record["episodes"], *res.episodes])
    same_answers_old = {q: a for q, a in record["answers"].items() if "rocket" not in q}
    for question, was in same_answers_old.items():
        assert mem.ask(question, now=now, limit=3).to_json()["answer"] == was["answer"], question


def test_compact_removes_data_files_a_killed_cleanup_left_untracked(data_dir: Path) -> None:
    """Forget's compaction too: an older version's data file whose manifest a killed cleanup had
    already deleted is removed (it may hold forgotten rows)."""
    ids = many_versions(data_dir, files=4)
    old = sorted((data_dir / "db" / "frames.lance" / "data").iterdir())
    kept = {p.name: p.read_bytes() for p in old}
    Store(data_dir).compact()
    assert set(versions(data_dir).values()) == {1}
    for name, raw in kept.items():  # as a cleanup killed between manifests and data files leaves them
        path = data_dir / "db" / "frames.lance" / "data" / name
        if not path.exists():
            path.write_bytes(raw)
    assert unused(data_dir).get("frames") == len(kept)
    store = Store(data_dir)
    store.compact()
    assert unused(data_dir) == {}
    assert set(store.rows("frames", columns=["id"]).column("id").to_pylist()) == ids["frames"]
