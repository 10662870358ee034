"""A local read cache of an object-store memory's tables (issue #22, docs/scale.md).

The object store stays the source of truth; the cache is a **mirror**: for each hot table, a real
local Lance dataset in ``<data>/tables-cache/<name>.lance`` holding exactly one version — the
latest one this process has seen on the object store — and reads (``search``, ``count_rows``,
``to_arrow`` …) go to it while it is at the remote table's version. Writes always go to the object
store. Why this is exact: Lance never changes a data, deletion or index file once written (each
is named uniquely), and a version is one manifest naming its files. So a sync

1. asks Lance which files the remote version uses (``tracked_files``),
2. downloads the ones the mirror lacks (each to ``*.part``, fsynced, then renamed),
3. writes the version's manifest **last** (the same way): until then the mirror's previous
   manifest is the only one, so a sync killed half-way leaves the previous version whole (or no
   version), never a half-made one; the next sync reuses what was fully downloaded;
4. removes every file the new version does not use (old manifests first): the mirror holds no
   byte of an older version, so what a forget compacted away on the object store leaves the
   cache at the next sync — and :meth:`ReadCache.settle` syncs right after this process's own
   compaction.

When it syncs: at open (tables whose remote version differs from the mirror's), and at the first
use of a table after :meth:`lifelog.store.db.Store.refresh` (which every question calls) when
the remote table moved on (a write from this process, another process or another machine).
After a write by this process, reads go to the object store until that sync.

If the object store cannot be reached while a memory is open, reads keep being answered from
the mirror at its last version (:attr:`ReadCache.offline` says so); writes fail with the clear
"cannot be reached" error. Opening a memory while the store is down is an error, as without the
cache: the vault, journals and settings are local, but the tables' truth is not.

A size limit (``storage.cache_max_mb``) keeps the mirror within bounds: tables are mirrored in
the order of :data:`HOT`; one that would not fit is read from the object store. ``storage.cache =
false`` turns the cache off (and :func:`clear_cache` removes it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifelog.store.files import fsync_dir
from lifelog.store.location import TableLocation, location_for, storage_failure

log = logging.getLogger("lifelog.store.cache")

CACHE_DIR = "tables-cache"  # under the data dir (private, like the rest of the memory)
STATE_FILE = "state.json"
LOCK_FILE = ".sync.lock"
PART = ".part"
#: what a question reads first; the size limit fills the cache in this order
HOT = ("frames", "episodes", "media", "graph_edges", "graph_nodes", "places", "place_visits", "people",
       "faces", "detections", "utterances", "utterance_terms", "ocr", "ocr_terms", "transcripts", "notes",
       "note_terms", "media_geo", "person_edits")
#: the table methods that only read: answered by the mirror when it is at the remote version
READS = frozenset({"search", "count_rows", "to_arrow", "to_pandas", "list_indices", "schema", "head",
                   "query", "index_stats"})
_CHUNK = 1 << 20
OFFLINE_RETRY_S = 30.0  # while the store is away, asked again at most this often (one probe, all tables)


def cache_root(data_dir: Path) -> Path:
    return data_dir / CACHE_DIR


def clear_cache(data_dir: Path) -> int:
    """Remove the cache folder (waiting for a sync running in another process); the bytes it held."""
    root = cache_root(data_dir)
    if not root.is_dir():
        return 0
    size = 0
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for p in list(root.iterdir()):
            if p.name == LOCK_FILE:
                continue
            if p.is_dir():
                size += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                shutil.rmtree(p, ignore_errors=True)
            else:
                size += p.stat().st_size
                p.unlink()
    finally:
        os.close(fd)
    shutil.rmtree(root, ignore_errors=True)
    return size


@dataclass
class CacheStats:
    syncs: int = 0
    files_fetched: int = 0
    bytes_fetched: int = 0
    mirror_reads: int = 0
    remote_reads: int = 0
    failed_checks: int = 0  # times the object store did not answer a version check
    skipped: dict[str, str] = field(default_factory=dict)  # table → why it is not mirrored


@dataclass(frozen=True)
class CacheInfo:
    enabled: bool
    path: str
    bytes: int
    max_bytes: int
    tables: dict[str, int]  # mirrored table → version
    remote: bool = True  # False: the tables are in a folder, nothing to cache

    def to_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "path": self.path, "bytes": self.bytes, "max_bytes": self.max_bytes,
                "tables": self.tables, "remote": self.remote}


def cache_info(data_dir: Path, loc: TableLocation) -> CacheInfo:
    root = cache_root(data_dir)
    state = _read_state(root)
    tables = {k: int(v.get("version", 0)) for k, v in state.get("tables", {}).items()} \
        if state.get("uri") == loc.uri else {}
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0
    return CacheInfo(loc.remote and loc.cache, str(root), size, loc.cache_max_bytes, tables, loc.remote)


def _read_state(root: Path) -> dict[str, Any]:
    try:
        doc = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def _mkdir_private(path: Path) -> None:
    """``path`` and its missing parents, each made 0700 (whatever the umask)."""
    if path.is_dir():
        return
    _mkdir_private(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)


def _write_private(path: Path, chunks: Iterator[bytes]) -> int:
    """Write ``path`` whole or not at all: ``path.part`` (mode 600), fsync, rename."""
    _mkdir_private(path.parent)
    part = path.with_name(path.name + PART)
    n = 0
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for c in chunks:
            os.write(fd, c)
            n += len(c)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, path)
    return n


def s3_filesystem(loc: TableLocation) -> Any:
    """A pyarrow S3 file system for ``loc`` (its credentials are passed, never logged)."""
    from pyarrow import fs as pafs

    opts = loc.storage_options()
    kw: dict[str, Any] = {"region": opts.get("aws_region") or "us-east-1",
                          "connect_timeout": 5.0, "request_timeout": max(5.0, loc.retry_timeout_s),
                          "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=3)}
    if "aws_access_key_id" in opts:
        kw.update(access_key=opts["aws_access_key_id"], secret_key=opts["aws_secret_access_key"],
                  session_token=opts.get("aws_session_token"))
    if loc.endpoint:
        scheme, _, host = loc.endpoint.partition("://")
        kw.update(endpoint_override=host, scheme=scheme)
    return pafs.S3FileSystem(**kw)


def table_files(loc: TableLocation, name: str) -> tuple[Any, str]:
    """The file system holding table ``name`` at ``loc`` and the table's folder in it."""
    if loc.remote:
        return s3_filesystem(loc), f"{loc.bucket}/{loc.prefix}".rstrip("/") + f"/{name}.lance"
    from pyarrow import fs as pafs

    return pafs.LocalFileSystem(), str(Path(loc.uri) / f"{name}.lance")


def version_files(ds: Any) -> dict[str, str]:
    """The files (relative path → kind) that version ``ds.version`` of a Lance dataset uses:
    data, deletion and index files and its manifest (transaction files are history, left out)."""
    v = int(ds.version)
    return {r["path"]: r["type"] for r in ds.tracked_files(min_version=v).read_all().to_pylist()
            if int(r["version"]) == v and r["type"] != "transaction file"}


def copy_version(src: Any, src_loc: TableLocation, dst_loc: TableLocation, name: str) -> int:
    """Copy the current version of LanceDB table ``src`` (at ``src_loc``) file by file to table
    ``name`` at ``dst_loc`` — its indexes included — the manifest last; the bytes copied."""
    from pyarrow import fs as pafs

    files = version_files(src.to_lance())
    sfs, sbase = table_files(src_loc, name)
    dfs, dbase = table_files(dst_loc, name)
    total = 0
    for rel in sorted(files, key=lambda r: files[r] == "manifest"):  # the manifest last
        if not dst_loc.remote:
            Path(dbase, rel).parent.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(f"{sbase}/{rel}", f"{dbase}/{rel}", source_filesystem=sfs, destination_filesystem=dfs)
        total += int(sfs.get_file_info(f"{sbase}/{rel}").size or 0)
    return total


class ReadCache:
    """The mirror of one memory's object-store tables (one per :class:`Store`)."""

    def __init__(self, data_dir: Path, loc: TableLocation) -> None:
        self.root = cache_root(data_dir)
        self.loc = loc
        self.stats = CacheStats()
        self.offline = False  # the object store did not answer at the last check
        # while offline, no table asks the store again before this (time.monotonic()): each probe
        # of an unreachable store waits out its retries, and a question reads several tables
        self.retry_at = 0.0
        self.offline_retry_s = OFFLINE_RETRY_S
        self._fs: Any = None
        self._local_db: Any = None
        self._mirrors: dict[str, Any] = {}  # table → local LanceDB table at ``_versions[name]``
        self._versions: dict[str, int] = {}
        self._lock = threading.RLock()
        self._disk_key: tuple[int, int, int] | None = None
        self._disk_state: dict[str, Any] = {}
        _mkdir_private(self.root)
        state = _read_state(self.root)
        if state and (state.get("uri") != loc.uri or state.get("endpoint") != loc.endpoint):
            self._wipe()  # the tables moved: a mirror of another place is of no use (nor kept)
            state = {}
        self._state: dict[str, Any] = state or {"uri": loc.uri, "endpoint": loc.endpoint, "tables": {}}

    # ------------------------------------------------------------ object store
    def _filesystem(self) -> Any:
        if self._fs is None:
            self._fs = s3_filesystem(self.loc)
        return self._fs

    def _key(self, name: str, rel: str) -> str:
        base = f"{self.loc.bucket}/{self.loc.prefix}".rstrip("/")
        return f"{base}/{name}.lance/{rel}"

    def _remote_sizes(self, name: str) -> dict[str, int]:
        from pyarrow import fs as pafs

        base = self._key(name, "").rstrip("/")
        infos = self._filesystem().get_file_info(pafs.FileSelector(base, recursive=True))
        return {i.path[len(base) + 1:]: int(i.size or 0) for i in infos if i.type == pafs.FileType.File}

    def _download(self, name: str, rel: str, dest: Path) -> int:
        def chunks() -> Iterator[bytes]:
            with self._filesystem().open_input_stream(self._key(name, rel)) as src:
                while True:
                    b = src.read(_CHUNK)
                    if not b:
                        return
                    yield bytes(b)

        n = _write_private(dest, chunks())
        self.stats.files_fetched += 1
        self.stats.bytes_fetched += n
        return n

    # ------------------------------------------------------------------ state
    def _save_state(self) -> None:
        data = json.dumps(self._state, sort_keys=True).encode()
        _write_private(self.root / STATE_FILE, iter([data]))

    def _wipe(self) -> None:
        for p in list(self.root.iterdir()) if self.root.is_dir() else []:
            if p.name == LOCK_FILE:
                continue
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()
        self._mirrors.clear()
        self._versions.clear()

    @contextlib.contextmanager
    def _sync_lock(self) -> Iterator[None]:
        """Threads of this process, and other processes on this data dir, sync one at a time."""
        with self._lock:
            fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _used_bytes(self, but: str) -> int:
        return sum(int(v.get("bytes", 0)) for k, v in self._state["tables"].items() if k != but)

    def drop(self, name: str) -> None:
        """Forget the mirror of ``name`` (its files removed)."""
        with self._sync_lock():
            self._mirrors.pop(name, None)
            self._versions.pop(name, None)
            shutil.rmtree(self.root / f"{name}.lance", ignore_errors=True)
            state = _read_state(self.root)
            if state.get("uri") == self.loc.uri:
                self._state = state
            if self._state["tables"].pop(name, None) is not None:
                self._save_state()

    # ------------------------------------------------------------------- sync
    def mirror(self, name: str, remote: Any) -> Any | None:
        """The local table of ``name`` at ``remote``'s version, syncing when it is behind; None when
        the table is not mirrored (too large for the limit) or the sync failed."""
        try:
            version = int(remote.version)
        except Exception:
            return None
        with self._lock:
            got = self._mirrors.get(name)
            if got is not None and self._versions.get(name) == version:
                return got
            try:
                return self._sync(name, remote, version)
            except Exception as e:
                clear = storage_failure(e, self.loc)
                if clear is None:
                    log.warning("the read cache of %s could not be synced (%s); reading the object store",
                                name, type(e).__name__)
                    self.stats.skipped[name] = f"sync failed: {type(e).__name__}"
                return None

    def _open_local(self, name: str) -> Any:
        if self._local_db is None:
            from lifelog.store.lance_import import lancedb

            self._local_db = lancedb.connect(str(self.root))
        return self._local_db.open_table(name)

    def _sync(self, name: str, remote: Any, version: int) -> Any | None:
        tdir = self.root / f"{name}.lance"
        with self._sync_lock():
            state = _read_state(self.root)  # another process may have synced meanwhile
            if state.get("uri") == self.loc.uri:
                self._state = state
            have = self._state["tables"].get(name, {})
            if int(have.get("version", -1)) != version or not (tdir / "_versions").is_dir():
                ds = remote.to_lance()
                if int(ds.version) != version:
                    return None
                files = version_files(ds)
                manifests = [p for p, t in files.items() if t == "manifest"]
                if len(manifests) != 1:
                    return None
                sizes = self._remote_sizes(name)
                total = sum(sizes.get(p, 0) for p in files)
                if total + self._used_bytes(name) > self.loc.cache_max_bytes:
                    self.stats.skipped[name] = "over the cache's size limit"
                    self._mirrors.pop(name, None)
                    self._versions.pop(name, None)
                    shutil.rmtree(tdir, ignore_errors=True)
                    if self._state["tables"].pop(name, None) is not None:
                        self._save_state()
                    return None
                for rel, kind in sorted(files.items()):
                    if kind == "manifest":
                        continue
                    dest = tdir / rel
                    if dest.is_file() and dest.stat().st_size == sizes.get(rel, -1):
                        continue  # immutable and uniquely named: what is there whole is right
                    self._download(name, rel, dest)
                for sub in {(tdir / rel).parent for rel in files}:
                    fsync_dir(sub)
                # the manifest last: from now on this version is what the mirror holds
                self._download(name, manifests[0], tdir / manifests[0])
                fsync_dir(tdir / "_versions")
                self._prune(tdir, set(files))
                self._state["tables"][name] = {"version": version, "bytes": total}
                self._save_state()
                self.stats.syncs += 1
            self.stats.skipped.pop(name, None)
            local = self._open_local(name)
            local.checkout_latest()
            if int(local.version) != version:
                return None
            self._mirrors[name] = local
            self._versions[name] = version
            return local

    @staticmethod
    def _prune(tdir: Path, keep: set[str]) -> None:
        """Remove every file the mirrored version does not use: old manifests first (so the
        mirror never names a file it lost), then data, deletion and index files, leftovers."""
        vdir = tdir / "_versions"
        for p in sorted(vdir.iterdir()) if vdir.is_dir() else []:
            if p.relative_to(tdir).as_posix() not in keep:
                with contextlib.suppress(OSError):
                    p.unlink()
        for p in sorted(tdir.rglob("*"), reverse=True):
            rel = p.relative_to(tdir).as_posix()
            if p.is_file() and rel not in keep:
                with contextlib.suppress(OSError):
                    p.unlink()
            elif p.is_dir() and p != vdir:
                with contextlib.suppress(OSError):
                    p.rmdir()  # empty folders of removed indexes

    def settle(self, tables: Mapping[str, Any]) -> None:
        """Bring every mirror to its remote table's version now (after this process's compaction:
        no byte of a compacted-away version may stay here); a mirror that cannot be synced is
        removed."""
        with self._lock:
            names = set(self._state["tables"]) | set(self._mirrors)
            for name in sorted(names):
                remote = tables.get(name)
                raw = getattr(remote, "remote", remote)
                if raw is None or self.mirror(name, raw) is None:
                    self.drop(name)

    def current(self, name: str, remote: Any) -> Any | None:
        """The mirror of ``name`` if it is at ``remote``'s version (or the store is offline), no sync."""
        got = self._mirrors.get(name)
        if got is None:
            return None
        if self._on_disk(name) != self._versions.get(name):
            # another store (this process or another) synced the mirror on, or cleared it: this
            # handle's files may be gone; read the object store until the next sync
            self._mirrors.pop(name, None)
            self._versions.pop(name, None)
            return None
        if self.offline:
            return got
        try:
            return got if self._versions.get(name) == int(remote.version) else None
        except Exception:
            return None

    def _on_disk(self, name: str) -> int | None:
        """The version of ``name`` the cache folder holds now (its state file, re-read when it changed)."""
        try:
            st = (self.root / STATE_FILE).stat()
        except OSError:
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._disk_key != key:
            self._disk_state = _read_state(self.root)
            self._disk_key = key
        if self._disk_state.get("uri") != self.loc.uri:
            return None
        got = self._disk_state.get("tables", {}).get(name, {}).get("version")
        return int(got) if isinstance(got, int) else None

    def mirrored(self) -> dict[str, int]:
        return dict(self._versions)


class CachedTable:
    """A LanceDB table of the object store whose reads go to the local mirror while it is at the
    remote version; everything else (writes, versions, restore …) goes to the object store."""

    def __init__(self, name: str, remote: Any, cache: ReadCache) -> None:
        self.name = name
        self.remote = remote
        self.cache = cache
        self._check = False
        self._checked_at = time.monotonic()  # opening the table read its latest version
        self._may_sync = True  # at open and after a refresh; not after this process's own writes

    def checkout_latest(self) -> None:
        """See other writers' versions: checked at the next use of this table (one request then),
        at most once per ``storage.cache_check_s`` (this process's own writes need no check)."""
        self._may_sync = True  # to this process's own latest version, at least
        if time.monotonic() - self._checked_at >= self.cache.loc.cache_check_s:
            self._check = True

    def _latest(self) -> None:
        if not self._check:
            return
        if self.cache.offline and time.monotonic() < self.cache.retry_at:
            return  # the store was away a moment ago: answer from the mirror without waiting again
        self._check = False
        self._checked_at = time.monotonic()
        try:
            self.remote.checkout_latest()
            self.cache.offline = False
        except Exception as e:
            if storage_failure(e, self.cache.loc) is None:
                raise
            # the object store went away: answer from the mirror at its last version
            if not self.cache.offline:
                log.warning("the object store %s cannot be reached; answering from the local cache",
                            self.cache.loc.describe())
            self.cache.offline = True
            self.cache.stats.failed_checks += 1
            self.cache.retry_at = time.monotonic() + self.cache.offline_retry_s

    def reader(self) -> Any:
        """The table to read from: the mirror when it is (or can be made) current, else the remote."""
        self._latest()
        got = self.cache.current(self.name, self.remote)
        if got is None and self._may_sync and not self.cache.offline:
            self._may_sync = False
            got = self.cache.mirror(self.name, self.remote)
        if got is not None:
            self.cache.stats.mirror_reads += 1
            return got
        self.cache.stats.remote_reads += 1
        return self.remote

    def __getattr__(self, attr: str) -> Any:
        if attr in READS:
            return getattr(self.reader(), attr)
        self._latest()
        return getattr(self.remote, attr)

    def __repr__(self) -> str:
        return f"CachedTable({self.name!r}, mirrored={self.name in self.cache.mirrored()})"


def wrap_tables(data_dir: Path, loc: TableLocation, tables: dict[str, Any]) -> ReadCache | None:
    """Put the hot tables of an object-store memory behind the read cache (in place); the cache,
    or None when it is off or the tables are local. Syncs the mirrors that are behind."""
    if not loc.remote or not loc.cache:
        # a cache the settings turned off (or whose tables moved back to a folder) is kept in step
        # by nobody and would keep what a later forget removes: it goes. (A store opened without
        # the cache on purpose, the settings' cache on, leaves it to the others.)
        if cache_root(data_dir).exists():
            configured = location_for(data_dir)
            if not (configured.remote and configured.cache):
                clear_cache(data_dir)
        return None
    try:
        cache = ReadCache(data_dir, loc)
    except OSError as e:  # a read-only data dir: no cache, read the store
        log.warning("no local read cache: %s", e)
        return None
    order = [n for n in HOT if n in tables] + sorted(n for n in tables if n not in HOT)
    for name in order:
        wrapped = CachedTable(name, tables[name], cache)
        tables[name] = wrapped
        cache.mirror(name, wrapped.remote)  # on open: bring the mirror to the latest version
        wrapped._may_sync = False
    return cache
