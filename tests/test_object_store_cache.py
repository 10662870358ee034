"""Issue #22: the local read cache of an object-store memory (lifelog/store/cache.py).

A real S3 server on loopback (moto's, as in tests/test_object_store.py) holds the tables of a
memory made from real media; the memory reads its hot tables from a local mirror in
``<data>/tables-cache``. Checked here: the answers are the uncached answers; a write made by
another process is seen at the next question; the object store going away (an open memory keeps
answering from the cache at its last version, writes and opening fail with the clear error); a
sync killed with SIGKILL half-way is never read, and the next open finishes it. The forget byte
scan of the cache is in tests/test_object_store.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto.server", reason="moto[server] is in the scale extra")

from test_object_store import S3, _ask, on_s3, start_s3

QUESTIONS = ("when did I last see a cat?", "when did I see a rocket?", "did I see a cup of coffee?",
             "how many times did I see a cat?", "what did I see in the morning?")


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    from moto import settings

    srv = start_s3()
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ACCESS_KEY_ID", srv.key_id)
    mp.setenv("AWS_SECRET_ACCESS_KEY", srv.secret)
    mp.delenv("AWS_SESSION_TOKEN", raising=False)
    try:
        yield srv
    finally:
        mp.undo()
        srv.stop()
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Any:
    from helpers import library

    return library(tmp_path_factory, media)


def set_cache(data_dir: Path, on: bool) -> None:
    doc = json.loads((data_dir / "settings.json").read_text())
    doc["storage"]["cache"] = on
    (data_dir / "settings.json").write_text(json.dumps(doc))


def answers(mem: Any) -> list[tuple[str, int | None, list[tuple[str, float]]]]:
    out = []
    for q in QUESTIONS:
        a = _ask(mem, q)
        out.append((a.answer, a.count, [(h.episode_id, round(float(h.score), 6)) for h in a.hits]))
    return out


def remote_versions(data_dir: Path) -> dict[str, int]:
    """The latest version of each table on the object store (read without the cache)."""
    from dataclasses import replace

    from lifelog.store.db import Store
    from lifelog.store.location import location_for

    store = Store(data_dir, replace(location_for(data_dir), cache=False))
    assert store.cache is None
    return {n: int(store.table(n).version) for n in ("frames", "episodes", "media")}


def test_cached_answers_are_the_uncached_answers(models_ready: None, lib: Any, s3: S3, data_dir: Path) -> None:
    from lifelog.api import Memory

    on_s3(data_dir, s3, "cache-same")
    mem = Memory(data_dir)
    assert mem.store.cache is not None  # on by default for an object-store memory
    assert mem.import_paths([lib.cat_morning, lib.rocket, lib.coffee_jpg]).imported == 3
    cached = answers(mem)
    cache = mem.store.cache
    assert {"frames", "episodes", "media"} <= set(cache.mirrored())
    assert cache.mirrored()["frames"] == remote_versions(data_dir)["frames"]
    before = cache.stats.remote_reads
    assert answers(mem) == cached  # the mirror is current: asked again, nothing is read remotely
    assert cache.stats.remote_reads == before and cache.stats.mirror_reads > 0
    frames_cached = mem.store.rows("frames").sort_by("id")

    set_cache(data_dir, False)
    plain = Memory(data_dir)
    assert plain.store.cache is None
    assert answers(plain) == cached
    assert plain.store.rows("frames").sort_by("id").equals(frames_cached)
    assert any(hits for _, _, hits in cached)


def test_a_write_from_another_process_is_seen(models_ready: None, lib: Any, s3: S3, data_dir: Path) -> None:
    from helpers import cli_env, run_cli

    from lifelog.api import Memory

    on_s3(data_dir, s3, "cache-others", cache_check_s=0)  # every question checks
    mem = Memory(data_dir)
    assert mem.import_paths([lib.cat_morning]).imported == 1
    seen_before = {h.episode_id for h in _ask(mem, "when did I see a rocket?").hits}
    v_before = mem.store.cache.mirrored()["frames"] if mem.store.cache else -1
    # another process imports a file into the same memory (its own Store, its own refreshes)
    env = cli_env(AWS_ACCESS_KEY_ID=s3.key_id, AWS_SECRET_ACCESS_KEY=s3.secret)
    proc = run_cli(data_dir, "import", str(lib.rocket), env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    got = _ask(mem, "when did I see a rocket?")  # the open memory notices the new version
    assert mem.store.cache is not None
    assert mem.store.cache.mirrored()["frames"] == remote_versions(data_dir)["frames"] > v_before
    rocket_mid = next(r["id"] for r in mem.store.rows("media", None, ["id", "path"]).to_pylist()
                      if r["path"].endswith("rocket.mp4"))
    assert got.hits and got.hits[0].episode_id.startswith(rocket_mid)
    assert not any(e.startswith(rocket_mid) for e in seen_before)
    assert mem.stats()["media"] == 2


def test_the_store_going_away_answers_from_the_cache_and_refuses_writes(
    models_ready: None, lib: Any, s3: S3, data_dir: Path
) -> None:
    from lifelog.api import Memory
    from lifelog.api.storage import StorageUnreachable

    on_s3(data_dir, s3, "cache-away", cache_check_s=0)
    mem = Memory(data_dir)
    assert mem.import_paths([lib.cat_morning, lib.coffee_jpg]).imported == 2
    before = answers(mem)
    assert mem.store.cache is not None
    mem.store.cache.offline_retry_s = 3600.0  # (30 s by default) no second probe within this test, however slow
    s3.stop()
    try:
        during = answers(mem)  # the open memory: the cache at its last version
        assert mem.store.cache is not None and mem.store.cache.offline
        assert during == before
        # each check of a store that is away waits out its retries: once found away, the
        # questions that follow (several tables each) do not ask it again for a while
        assert mem.store.cache.stats.failed_checks == 1
        assert answers(mem) == before and mem.store.cache.stats.failed_checks == 1
        with pytest.raises(StorageUnreachable, match="cannot be reached"):
            mem.import_paths([lib.rocket])
        with pytest.raises(StorageUnreachable, match="cannot be reached"):
            Memory(data_dir)  # opening a memory needs the tables' truth: a clear error
    finally:
        s3.start()
    mem.store.cache.retry_at = 0.0  # as if the retry interval had passed: the store is asked again
    assert answers(mem) == before
    assert mem.store.cache is not None and not mem.store.cache.offline


_CHILD = textwrap.dedent("""
    import os, sys, time
    import lifelog.store.cache as cache
    real = cache._write_private

    def first_chunk_then_hang(path, chunks):
        if path.name.endswith(".manifest") or path.name == "state.json" or "frames.lance" not in str(path):
            return real(path, chunks)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + cache.PART)
        with open(part, "wb") as f:  # a real piece of the real object, then the kill
            f.write(next(iter(chunks))[:4096])
            f.flush()
            os.fsync(f.fileno())
        print("syncing", flush=True)
        time.sleep(600)

    cache._write_private = first_chunk_then_hang
    from lifelog.store.db import Store
    Store(__import__("pathlib").Path(sys.argv[1]))
    print("not killed", flush=True)
""")


def test_a_sync_killed_half_way_is_not_used(models_ready: None, lib: Any, s3: S3, data_dir: Path) -> None:
    import lance
    from helpers import cli_env

    from lifelog.api import Memory

    on_s3(data_dir, s3, "cache-killed")
    mem = Memory(data_dir)
    assert mem.import_paths([lib.cat_morning]).imported == 1
    assert _ask(mem, "when did I last see a cat?").hits
    assert mem.store.cache is not None
    mirror = data_dir / "tables-cache" / "frames.lance"
    v1 = mem.store.cache.mirrored()["frames"]
    assert lance.dataset(str(mirror)).version == v1
    v1_rows = mem.store.count("frames")
    # a new version on the object store, written by a store without the cache (another machine)
    from dataclasses import replace

    from lifelog.store.db import Store
    from lifelog.store.location import location_for

    writer = Store(data_dir, replace(location_for(data_dir), cache=False))
    rows = writer.rows("frames").to_pylist()
    writer.add("frames", [{**r, "id": r["id"] + "-again"} for r in rows])
    v2 = remote_versions(data_dir)["frames"]
    assert v2 > v1
    # a process syncing the cache to it is killed half-way through a download
    env = cli_env(AWS_ACCESS_KEY_ID=s3.key_id, AWS_SECRET_ACCESS_KEY=s3.secret)
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(data_dir)], stdout=subprocess.PIPE, text=True,
                             env=env, cwd=Path(__file__).resolve().parent.parent)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "syncing"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(60)
    assert child.returncode == -signal.SIGKILL
    assert list(mirror.rglob("*.part")), "the kill was not in the middle of a download"
    # what is there is the previous version, whole: the new manifest was never written
    assert lance.dataset(str(mirror)).version == v1
    assert lance.dataset(str(mirror)).count_rows() == v1_rows
    state = json.loads((data_dir / "tables-cache" / "state.json").read_text())
    assert state["tables"]["frames"]["version"] == v1
    # the next open finishes the sync; its answers are the uncached ones
    again = Memory(data_dir)
    assert again.store.cache is not None and again.store.cache.mirrored()["frames"] == v2
    assert not list(mirror.rglob("*.part"))
    assert lance.dataset(str(mirror)).version == v2
    cached = answers(again)
    set_cache(data_dir, False)
    assert answers(Memory(data_dir)) == cached
    assert any(hits for _, _, hits in cached)


def test_cli_turns_the_cache_off_and_on_and_the_size_limit_holds(
    models_ready: None, lib: Any, s3: S3, data_dir: Path
) -> None:
    from helpers import cli_env, json_doc, run_cli

    from lifelog.api import Memory

    on_s3(data_dir, s3, "cache-cli-cache")
    mem = Memory(data_dir)
    assert mem.import_paths([lib.coffee_jpg]).imported == 1
    assert _ask(mem, "did I see a cup of coffee?").hits
    cache_dir = data_dir / "tables-cache"
    assert (cache_dir / "frames.lance").is_dir()
    env = cli_env(AWS_ACCESS_KEY_ID=s3.key_id, AWS_SECRET_ACCESS_KEY=s3.secret)
    shown = json_doc(run_cli(data_dir, "storage", "show", "--json", env=env))
    assert shown["cache"]["enabled"] and "frames" in shown["cache"]["tables"] and shown["cache"]["bytes"] > 0
    assert s3.secret not in json.dumps(shown)

    off = json_doc(run_cli(data_dir, "storage", "cache", "--off", "--json", env=env))
    assert off["enabled"] is False and off["removed_bytes"] > 0 and off["bytes"] == 0
    assert not cache_dir.exists()  # off: the copy is gone at once (no stale copy a forget would miss)
    assert json.loads((data_dir / "settings.json").read_text())["storage"]["cache"] is False
    assert Memory(data_dir).store.cache is None and not cache_dir.exists()

    # on again with a limit of 0 MB: nothing fits, every table is read from the object store
    on = json_doc(run_cli(data_dir, "storage", "cache", "--on", "--max-mb", "0", "--json", env=env))
    assert on["enabled"] is True and on["max_bytes"] == 0
    small = Memory(data_dir)
    assert small.store.cache is not None
    assert _ask(small, "did I see a cup of coffee?").hits
    assert small.store.cache.mirrored() == {}
    assert small.store.cache.stats.skipped.get("frames") == "over the cache's size limit"
    assert not list(cache_dir.rglob("*.lance"))
    run_cli(data_dir, "storage", "cache", "--max-mb", "100", env=env)
    assert "frames" in Memory(data_dir).store.cache.mirrored()  # type: ignore[union-attr]


def test_other_writers_are_checked_for_at_most_every_cache_check_s(
    models_ready: None, lib: Any, s3: S3, data_dir: Path
) -> None:
    """``storage.cache_check_s`` (1 s by default): a question checks for versions other writers made
    at most that often; this process's own writes are seen at once. An hour here, so no check comes."""
    from dataclasses import replace

    from lifelog.api import Memory
    from lifelog.store.db import Store
    from lifelog.store.location import location_for

    on_s3(data_dir, s3, "cache-interval", cache_check_s=3600)
    mem = Memory(data_dir)
    assert mem.import_paths([lib.coffee_jpg]).imported == 1  # its own write: seen by the next question
    assert _ask(mem, "did I see a cup of coffee?").hits
    n = mem.store.count("frames")
    assert mem.store.cache is not None and mem.store.cache.mirrored()["frames"] == remote_versions(data_dir)["frames"]
    other = Store(data_dir, replace(location_for(data_dir), cache=False))  # another machine appends
    rows = other.rows("frames").to_pylist()
    other.add("frames", [{**r, "id": r["id"] + "-other"} for r in rows])
    _ask(mem, "did I see a cup of coffee?")
    assert mem.store.count("frames") == n  # not checked for yet: the cache at the version it had
    assert Memory(data_dir).store.count("frames") == 2 * n  # a memory opened now reads the latest
