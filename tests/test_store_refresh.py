"""A store sees other processes' writes at its next ``refresh`` (what every question starts with),
although it now looks into a table only when its version folder changed (issue #21, ``ask`` at
scale; ``Store.refresh``). The writer is a real second process; a folder "settled" long ago is
made by setting its times back, as a memory untouched for a while has them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from test_store_size import frame_rows

from lifelog.store.db import SETTLED_NS, Store

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def _in_another_process(data_dir: Path, code: str) -> None:
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path[:0] = [{str(REPO)!r}, {str(TESTS)!r}]
        from test_store_size import frame_rows
        from lifelog.store.db import Store
        store = Store(Path({str(data_dir)!r}))
    """) + textwrap.dedent(code)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def _settle(data_dir: Path) -> None:
    """Every table's version folder as if its last commit were a minute old."""
    old = time.time() - 60
    for d in (data_dir / "db").glob("*.lance/_versions"):
        os.utime(d, (old, old))


def _frames(store: Store) -> int:
    return int(store.table("frames").count_rows())


def test_a_commit_after_a_quiet_spell_is_seen(data_dir: Path) -> None:
    store = Store(data_dir)
    store.add("frames", frame_rows(0, 3))
    _settle(data_dir)
    store.refresh()  # up to date, and the folders are settled: the next refresh may skip them
    store.refresh()
    assert _frames(store) == 3
    _in_another_process(data_dir, 'store.add("frames", frame_rows(1, 4))')
    assert _frames(store) == 3  # not seen before a refresh (LanceDB's handle keeps its version)
    store.refresh()
    assert _frames(store) == 7


def test_commits_in_quick_succession_are_each_seen(data_dir: Path) -> None:
    """Within the coarse clock's racy window nothing is trusted: each commit is seen."""
    store = Store(data_dir)
    for k in range(3):
        _in_another_process(data_dir, f'store.add("frames", frame_rows({k}, 2))')
        store.refresh()
        assert _frames(store) == 2 * (k + 1)
    assert SETTLED_NS >= 1_000_000_000  # longer than any file system's timestamp tick


def test_a_deletion_by_another_process_is_seen(data_dir: Path) -> None:
    """A forget elsewhere (the service, the app) must not leave a question answering from rows gone."""
    store = Store(data_dir)
    store.add("frames", frame_rows(0, 3))
    _settle(data_dir)
    store.refresh()
    _in_another_process(data_dir, 'store.delete("frames", "offset_s >= 1")')
    store.refresh()
    assert _frames(store) == 1


def test_an_index_built_by_another_process_is_seen(data_dir: Path) -> None:
    store = Store(data_dir)
    store.add("frames", frame_rows(0, 5))
    _settle(data_dir)
    store.refresh()
    assert "t_idx" not in store.index_names("frames")
    _in_another_process(data_dir, "store.ensure_indexes(scalar_min_rows=1)")
    store.refresh()
    assert "t_idx" in store.index_names("frames")


def test_a_question_whose_version_is_tidied_away_while_it_reads_is_asked_again(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process appends and tidies (every older version's files deleted, as an import's
    end or a forget does) just after this question looked for new versions: the question reads
    files that are gone, and is asked again of the latest version instead of failing."""
    from test_store_size import T0, many_versions

    from lifelog.api import Memory
    from lifelog.recall.answer import ask

    many_versions(data_dir, files=3)
    mem = Memory(data_dir)
    now = T0 + timedelta(days=1)
    assert ask(mem, "when did I last see a cat?", now=now, thumbnails=False).hits
    _in_another_process(data_dir, """
        from datetime import timedelta
        from test_store_size import T0
        rows = frame_rows(40, 3)
        store.add("frames", rows)
        store.add("episodes", [{"id": rows[0]["episode_id"], "media_id": rows[0]["media_id"], "kind": "video",
                                "start": rows[0]["t"], "end": rows[-1]["t"], "n_frames": 3, "labels": ["tabby"]}])
        store.add("media", [{"id": rows[0]["media_id"], "kind": "video", "size": 1, "capture_start": T0}])
        store.compact()
    """)
    real = mem.store.refresh
    calls: list[bool] = []

    def late(force: bool = False) -> None:  # the tidy lands right after the question's own look
        calls.append(force)
        if len(calls) > 1:
            real(force)

    monkeypatch.setattr(mem.store, "refresh", late)
    ans = ask(mem, "when did I last see a cat?", now=now, thumbnails=False)
    assert calls.count(True) == 1  # asked again once, after reading every table's latest version
    assert ans.hits and ans.hits[0].start == T0 + timedelta(minutes=40), ans.answer


def test_tables_opened_by_one_thread_while_another_looks_for_new_versions(data_dir: Path) -> None:
    """A memory whose tables all exist opens each when first read: the app's threads open them
    while another refreshes, compacts or lists them (seen as "dictionary changed size during
    iteration" in the app before)."""
    import threading

    from lifelog.store.db import SCHEMAS

    Store(data_dir)  # makes every table
    store = Store(data_dir)
    assert store._open_tables() == []  # nothing opened yet
    errors: list[BaseException] = []
    stop = threading.Event()

    def refresher() -> None:
        while not stop.is_set():
            try:
                store.refresh(force=True)
                store.table_names()
            except BaseException as e:
                errors.append(e)
                return

    th = threading.Thread(target=refresher)
    th.start()
    try:
        for name in SCHEMAS:
            store.count(name)
    finally:
        stop.set()
        th.join()
    assert not errors, errors
    assert {n for n, _ in store._open_tables()} == set(SCHEMAS)


def test_a_column_another_process_adds_is_read_after_the_next_refresh(data_dir: Path) -> None:
    """A table handle keeps its schema between reads (LanceDB asks for it several times a
    query). A newer lifelog adding a column in another process, then this process's own column:
    each is read (in the schema and in the rows) as soon as the handle is on their version."""
    store = Store(data_dir)
    store.add("frames", frame_rows(0, 3))
    tbl = store.table("frames")
    assert "later" not in tbl.schema.names and tbl.schema is tbl.schema  # kept
    _in_another_process(data_dir, """
        import pyarrow as pa
        store.table("frames").add_columns(pa.schema([pa.field("later", pa.string())]))
    """)
    store.refresh()
    assert "later" in tbl.schema.names
    assert "later" in tbl.search().limit(1).to_arrow().column_names
    tbl.add_columns({"mine": "'x'"})
    assert "mine" in tbl.schema.names
    assert tbl.search().select(["id", "mine"]).limit(3).to_arrow().column("mine").to_pylist() == ["x"] * 3
    tbl.drop_columns(["mine"])
    assert "mine" not in tbl.schema.names
