"""Importing real clips and photos: capture times, thumbnails, frames, labels, idempotency,
crash safety (SIGKILL), the single-writer lock, scene cutting and cooperative cancel.

Everything runs on real files (H.264 clips composed from the real sample photos), the real
models and a real LanceDB on disk.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    ASTRONAUT_MTIME,
    CAT_MORNING_AT,
    COFFEE_TAKEN,
    NOW_EVENING,
    ROCKET_AT,
    ROCKET_LATER_AT,
    TWO_SCENES_AT,
    Library,
    assert_consistent,
    cli_env,
    copy_to,
    error_line,
    fingerprint,
    journal_entries,
    json_doc,
    library,
    run_cli,
    set_mtime,
    store_rows,
)
from PIL import Image

from lifelog.paths import REPO_ROOT

pytestmark = pytest.mark.usefixtures("models_ready")


@pytest.fixture(scope="session")
def lib(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Library:
    return library(tmp_path_factory, media)


def _memory(data_dir: Path) -> Any:
    from lifelog.api import Memory

    return Memory(data_dir)


def _hash(path: Path) -> str:
    from lifelog.ingest.media import content_hash

    return content_hash(path)


def _episodes_of(mem: Any, path: Path) -> list[Any]:
    mid = _hash(path)
    return [e for e in mem.episodes() if e.id.startswith(mid + "-")]


def _is_cat(label: str) -> bool:
    return any(w in label.lower() for w in ("cat", "tabby"))


def _source_tree(lib: Library, root: Path) -> Path:
    """A folder with subfolders: two clips, a JPEG with EXIF, a PNG without EXIF."""
    copy_to(lib.cat_morning, root / "2024" / "may" / "cat_morning.mp4")
    copy_to(lib.rocket, root / "2024" / "rocket.mp4")
    copy_to(lib.coffee_jpg, root / "photos" / "coffee.jpg")
    png = copy_to(lib.astronaut_png, root / "photos" / "older" / "deeper" / "astronaut.png")
    set_mtime(png, ASTRONAUT_MTIME)
    return root


# ------------------------------------------------------------------------------ basics
def test_folder_import_times_thumbnails_frames_labels(lib: Library, tmp_path: Path, data_dir: Path) -> None:
    src = _source_tree(lib, tmp_path / "card")
    before = fingerprint(src)
    with Image.open(src / "photos" / "older" / "deeper" / "astronaut.png") as im:
        assert not im.getexif(), "the PNG must carry no EXIF for the mtime fallback to be tested"

    mem = _memory(data_dir)
    result = mem.import_paths([src])
    assert result.failed == []
    assert (result.imported, result.skipped) == (4, 0)
    assert len(result.episodes) == len(set(result.episodes)) == 4

    expected = {
        src / "2024" / "may" / "cat_morning.mp4": (CAT_MORNING_AT, "creation_time"),
        src / "2024" / "rocket.mp4": (ROCKET_AT, "creation_time"),
        src / "photos" / "coffee.jpg": (COFFEE_TAKEN, "exif"),
        src / "photos" / "older" / "deeper" / "astronaut.png": (ASTRONAUT_MTIME, "mtime"),
    }
    media = {r["id"]: r for r in store_rows(data_dir, "media")}
    assert len(media) == 4
    frames = store_rows(data_dir, "frames", ["id", "episode_id", "t", "thumb_id", "labels"])
    for path, (when, source) in expected.items():
        eps = _episodes_of(mem, path)
        assert len(eps) == 1, f"{path.name}: {eps}"
        ep = eps[0]
        assert ep.start.tzinfo is not None and ep.start.utcoffset() is not None
        assert ep.start == when, f"{path.name}: start {ep.start.isoformat()} != {when.isoformat()}"
        assert ep.end >= ep.start
        row = media[_hash(path)]
        assert row["time_source"] == source, path.name
        assert row["capture_start"] == when
        # per-frame records: every kept frame of the episode, inside it in time
        ep_frames = [f for f in frames if f["episode_id"] == ep.id]
        assert len(ep_frames) == ep.n_frames >= 1, path.name
        for f in ep_frames:
            assert ep.start <= f["t"] <= ep.end
        # thumbnails: stored encrypted, decrypt to real JPEGs
        assert ep.thumb_ids
        for tid in {*ep.thumb_ids, *(f["thumb_id"] for f in ep_frames)}:
            jpeg = mem.thumbnail(tid)
            assert jpeg[:2] == b"\xff\xd8"
            with Image.open(BytesIO(jpeg)) as im:
                assert im.format == "JPEG" and 0 < im.width <= 320
            raw = mem.vault.blob_path(tid).read_bytes()
            assert b"JFIF" not in raw and raw[:2] != b"\xff\xd8", "thumbnail stored in clear"

    cat = _episodes_of(mem, src / "2024" / "may" / "cat_morning.mp4")[0]
    rocket = _episodes_of(mem, src / "2024" / "rocket.mp4")[0]
    assert any(_is_cat(lab) for lab in cat.labels), cat.labels
    assert not any(_is_cat(lab) for lab in rocket.labels), rocket.labels
    assert cat.end - cat.start == timedelta(seconds=8)

    assert fingerprint(src) == before, "an import modified a source file"
    assert journal_entries(data_dir) == []


def test_reimport_is_idempotent_and_ids_are_stable(lib: Library, tmp_path: Path, data_dir: Path) -> None:
    src = _source_tree(lib, tmp_path / "card")
    before = fingerprint(src)
    mem = _memory(data_dir)
    first = mem.import_paths([src])
    assert (first.imported, first.skipped, first.failed) == (4, 0, [])
    ids = sorted(e.id for e in mem.episodes())
    counts = mem.stats()

    again = mem.import_paths([src])
    assert (again.imported, again.skipped, again.failed, again.episodes) == (0, 4, [], [])
    assert mem.stats() == counts
    assert sorted(e.id for e in mem.episodes()) == ids

    # The same bytes under another name (and through the CLI): skipped, nothing added.
    copy = copy_to(src / "2024" / "rocket.mp4", tmp_path / "elsewhere" / "renamed copy.mp4")
    proc = run_cli(data_dir, "import", str(copy), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert (doc["imported"], doc["skipped"], doc["failed"], doc["episodes"]) == (0, 1, [], [])
    mem.store.refresh()
    assert mem.stats() == counts
    assert sorted(e.id for e in mem.episodes()) == ids

    # Another memory gets the very same episode ids for the same content.
    other = _memory(tmp_path / "other")
    other.import_paths([src])
    assert sorted(e.id for e in other.episodes()) == ids
    assert fingerprint(src) == before


# ------------------------------------------------------------------------ crash safety
def _import_and_kill(src: Path, data: Path) -> tuple[bool, set[str]]:
    """Start a CLI import, SIGKILL it while the 2nd (or later) file is journalled."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog", "--data-dir", str(data), "import", str(src), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env(),
        cwd=REPO_ROOT,
    )
    seen: set[str] = set()
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                now = journal_entries(data)
            except FileNotFoundError:
                now = []
            seen.update(now)
            if now and len(seen) >= 2:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                return True, seen
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    return False, seen


def test_sigkill_mid_import_then_rerun_completes(lib: Library, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for p in lib.long_clips:
        copy_to(p, src / p.name)
    before = fingerprint(src)
    n_files = len(lib.long_clips)

    killed = False
    for attempt in range(3):
        data = tmp_path / f"memory{attempt}"
        killed, _seen = _import_and_kill(src, data)
        if killed:
            break
        # The import finished before a second file was journalled: give it more to do.
        for i, p in enumerate(lib.long_clips):
            dup = src / f"more{attempt}_{i}.mp4"
            shutil.copyfile(p, dup)
            with open(dup, "ab") as f:  # other bytes (a trailing free atom), same video
                f.write(b"\x00\x00\x00\x10free" + os.urandom(8))
        n_files = len(list(src.iterdir()))
        before = fingerprint(src)
    assert killed, "could not catch the import in the middle of a file"

    # (a) Nothing half-visible: every committed file's episodes are whole; rows of the file that
    #     was cut short are only there under a journal entry, for the next writer to undo.
    assert len(journal_entries(data)) <= 1
    assert_consistent(data, allow_journalled=True)
    assert fingerprint(src) == before

    # (b) Re-running completes every file, without duplicates.
    rerun = _memory(data).import_paths([src])
    assert rerun.failed == []
    assert rerun.imported + rerun.skipped == n_files
    assert rerun.skipped >= 1  # the files finished before the kill are not redone
    media = store_rows(data, "media", ["id"])
    assert len(media) == n_files == len({m["id"] for m in media})
    assert_consistent(data)
    ids = [e["id"] for e in store_rows(data, "episodes", ["id"])]
    assert len(ids) == len(set(ids))
    # ... and the result is exactly what an uninterrupted import gives.
    clean = tmp_path / "clean"
    assert _memory(clean).import_paths([src]).imported == n_files
    assert sorted(ids) == sorted(e["id"] for e in store_rows(clean, "episodes", ["id"]))
    assert len(store_rows(data, "frames", ["id"])) == len(store_rows(clean, "frames", ["id"]))

    # (c) The journal is empty afterwards.
    assert journal_entries(data) == []
    assert fingerprint(src) == before


_CRASH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from lifelog.store import db

    data, src, table, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    real_add = db.Store.add
    calls = {"n": 0}

    def add(self, name, rows):
        real_add(self, name, rows)
        if name == table:
            calls["n"] += 1
            if calls["n"] == nth:  # the power goes out right after this write
                os.kill(os.getpid(), signal.SIGKILL)

    db.Store.add = add
    from lifelog.api import Memory
    Memory(data).import_paths([Path(src)])
    """
)


_CRASHED: dict[str, Path] = {}


def _crash_after(lib: Library, tmp_path: Path, table: str) -> Path:
    """Import cat_morning then rocket; the process is SIGKILLed right after rocket's ``table`` write.

    The crashed memory is made once per write point; each test gets its own copy of it.
    """
    if table not in _CRASHED:
        base = Path(str(lib.root) + f"-crashed-{table}")
        src = base / "src"
        copy_to(lib.cat_morning, src / "a_cat.mp4")
        copy_to(lib.rocket, src / "b_rocket.mp4")
        proc = subprocess.run(
            [sys.executable, "-c", _CRASH_SCRIPT, str(base / "memory"), str(src), table, "2"],
            env=cli_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=180,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        _CRASHED[table] = base
    data = tmp_path / "memory"
    shutil.copytree(_CRASHED[table] / "memory", data)
    assert journal_entries(data) == [_hash(lib.rocket)]
    return data


@pytest.mark.parametrize("table", ["frames", "episodes"])
def test_crash_between_writes_is_rolled_back(lib: Library, tmp_path: Path, table: str) -> None:
    data = _crash_after(lib, tmp_path, table)
    assert_consistent(data, allow_journalled=True)
    result = _memory(data).import_paths([lib.cat_morning, lib.rocket])
    assert (result.imported, result.skipped, result.failed) == (1, 1, [])
    assert journal_entries(data) == []
    assert_consistent(data)
    assert len(store_rows(data, "media", ["id"])) == 2
    assert len(store_rows(data, "episodes", ["id"])) == 2


@pytest.mark.parametrize(
    "table",
    [
        pytest.param("frames"),
        pytest.param("episodes"),
    ],
)
def test_unfinished_file_is_invisible_to_readers_before_rollback(lib: Library, tmp_path: Path, table: str) -> None:
    """After a crash and before the next import rolls it back, readers must not show the file
    whose import did not finish (its media row, the commit record, is missing)."""
    from lifelog.recall.answer import ask
    from lifelog.recall.parse import parse_now

    data = _crash_after(lib, tmp_path, table)
    rocket_id = _hash(lib.rocket)
    mem = _memory(data)  # a reader: opens the memory, imports nothing
    listed = [e.id for e in mem.episodes()]
    assert listed and not [i for i in listed if i.startswith(rocket_id)], listed
    ans = ask(mem, "how many times did I see a rocket?", now=parse_now(NOW_EVENING), thumbnails=False)
    assert ans.count == len(ans.hits) == 0, ans.to_json()
    assert journal_entries(data) == [rocket_id], "a reader must not roll back (nor commit) anything"


# ----------------------------------------------------------------------- write lock
def test_second_writer_gets_a_clear_error(lib: Library, tmp_path: Path, data_dir: Path) -> None:
    from lifelog.store.lock import write_lock

    src = copy_to(lib.cat_morning, tmp_path / "src" / "cat.mp4")
    with write_lock(data_dir):
        proc = run_cli(data_dir, "import", str(src), "--json")
    assert proc.returncode not in (0, 3), proc.stdout
    msg = error_line(proc)
    assert "another lifelog process is writing" in msg
    if proc.stdout.strip():
        assert json_doc(proc).get("imported", 0) == 0
    # Nothing was written while the lock was held, and the memory works once it is free.
    assert store_rows(data_dir, "media", ["id"]) == []
    assert _memory(data_dir).import_paths([src]).imported == 1


# ----------------------------------------------------------------------- episodes
def test_two_scenes_back_to_back_make_two_episodes(lib: Library, data_dir: Path) -> None:
    mem = _memory(data_dir)
    result = mem.import_paths([lib.two_scenes, lib.cat_morning])
    assert result.failed == [] and result.imported == 2
    two = sorted(_episodes_of(mem, lib.two_scenes), key=lambda e: e.start)
    assert len(two) == 2, [(e.start, e.labels[:3]) for e in two]
    first, second = two
    assert first.start == TWO_SCENES_AT
    cut = (second.start - TWO_SCENES_AT).total_seconds()
    assert 8.0 <= cut <= 12.0, f"the cut is at {cut} s, the scene changes at 10 s"
    assert first.end == second.start, "no gap and no overlap between the two scenes"
    assert second.end == TWO_SCENES_AT + timedelta(seconds=20)
    assert any(_is_cat(lab) for lab in first.labels), first.labels
    assert not any(_is_cat(lab) for lab in second.labels), second.labels
    # The control: one scene, one episode.
    assert len(_episodes_of(mem, lib.cat_morning)) == 1


def test_clips_an_hour_apart_are_separate_episodes(lib: Library, data_dir: Path) -> None:
    mem = _memory(data_dir)
    result = mem.import_paths([lib.rocket_later, lib.rocket])
    assert result.failed == [] and result.imported == 2
    eps = mem.episodes()
    assert [e.start for e in eps] == [ROCKET_AT, ROCKET_LATER_AT]
    assert eps[0].end <= eps[1].start
    assert eps[0].id != eps[1].id


# -------------------------------------------------------------------------- cancel
@pytest.mark.parametrize("stage", ["hashing", "decoding"])
def test_cancel_keeps_finished_files_and_rerun_completes(lib: Library, data_dir: Path, stage: str) -> None:
    files = list(lib.long_clips[:3])
    cancel = threading.Event()
    reports: list[Any] = []

    def progress(p: Any) -> None:
        reports.append(p)
        if p.files_done >= 1 and p.stage == stage:  # the first file is finished
            cancel.set()

    mem = _memory(data_dir)
    result = mem.import_paths(files, progress=progress, cancel=cancel)
    assert result.cancelled
    assert result.imported == 1 and result.failed == []
    assert [m["id"] for m in store_rows(data_dir, "media", ["id"])] == [_hash(files[0])]
    assert {e.id.split("-")[0] for e in mem.episodes()} == {_hash(files[0])}
    assert [f for f in store_rows(data_dir, "frames", ["media_id"]) if f["media_id"] != _hash(files[0])] == []
    assert journal_entries(data_dir) == []
    assert_consistent(data_dir)
    assert not any(v.exists() for v in (data_dir / "vault" / "blobs").rglob(f"{_hash(files[1])}*"))

    again = mem.import_paths(files)
    assert (again.imported, again.skipped, again.failed, again.cancelled) == (2, 1, [], False)
    assert len(store_rows(data_dir, "media", ["id"])) == 3
    assert_consistent(data_dir)
