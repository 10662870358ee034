"""Where a memory's tables live, for the front ends (docs/scale.md).

* :func:`storage_info` — the location (a local folder or ``s3://bucket/prefix``), where the
  credentials come from (never the credentials themselves), whether it answers;
* :func:`set_credentials` — keep object-store credentials in the OS keyring;
* :func:`move_tables` — copy a memory's tables to another location (a folder or an object
  store), file by file (each table's latest version with its indexes), verify every row arrived,
  then point the settings at it (resumable: a table already copied whole is not copied again).

The vault's blobs (thumbnails, crops, kept originals) stay in the data dir wherever the tables
are: see docs/scale.md for why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lifelog.config import StorageSettings, load_settings, save_settings
from lifelog.store.cache import CacheInfo, cache_info, clear_cache, copy_version
from lifelog.store.db import Store
from lifelog.store.location import (
    StorageCredentialsRefused,
    StorageError,
    StorageUnreachable,
    TableLocation,
    credentials,
    location_for,
    location_from,
    save_credentials,
)
from lifelog.store.lock import write_lock


@dataclass(frozen=True)
class StorageInfo:
    tables: str
    remote: bool
    endpoint: str | None
    region: str | None
    credentials: str | None  # environment | keyring | None (none found; the store's own chain)
    reachable: bool
    error: str | None
    vault: str  # the vault's blobs stay in the data dir
    bytes: int | None
    cache: CacheInfo | None = None  # the local read cache of an object-store memory

    def to_json(self) -> dict[str, Any]:
        return {
            "tables": self.tables, "remote": self.remote, "endpoint": self.endpoint, "region": self.region,
            "credentials": self.credentials, "reachable": self.reachable, "error": self.error,
            "vault": self.vault, "bytes": self.bytes, "cache": self.cache.to_json() if self.cache else None,
        }


def storage_info(data_dir: Path) -> StorageInfo:
    """The memory's table location and whether it can be opened now (opening it writes nothing
    but the empty tables of a new memory)."""
    loc = location_for(data_dir)
    creds = credentials(loc) if loc.remote else None
    reachable, error, size = True, None, None
    try:
        size = Store(data_dir, loc).bytes_on_disk()
    except StorageError as e:
        reachable, error = False, str(e)
    return StorageInfo(
        tables=loc.uri, remote=loc.remote, endpoint=loc.endpoint, region=loc.region,
        credentials=creds.source if creds else None, reachable=reachable, error=error,
        vault=str(data_dir / "vault"), bytes=size, cache=cache_info(data_dir, loc) if loc.remote else None,
    )


def cache_status(data_dir: Path) -> CacheInfo:
    """The local read cache of the memory's tables: on or off, its folder, size, limit, tables."""
    return cache_info(data_dir, location_for(data_dir))


def configure_cache(data_dir: Path, *, on: bool | None = None, max_mb: int | None = None,
                    clear: bool = False) -> tuple[CacheInfo, int]:
    """Turn the read cache on or off, set its size limit, or empty it; the cache now and the bytes
    removed. Off (or emptied) removes the cached copy at once; on, it is filled at the next open."""
    settings = load_settings(data_dir)
    changes: dict[str, Any] = {}
    if on is not None:
        changes["cache"] = on
    if max_mb is not None:
        changes["cache_max_mb"] = max_mb
    if changes:
        settings.storage = StorageSettings.model_validate({**settings.storage.model_dump(), **changes})
        save_settings(data_dir, settings)
    removed = 0
    if clear or on is False or max_mb is not None:  # a new limit: refilled within it at the next open
        removed = clear_cache(data_dir)
    return cache_status(data_dir), removed


def set_credentials(data_dir: Path, key_id: str, secret: str, token: str | None = None) -> None:
    """Keep credentials for the memory's object store in the OS keyring (:class:`StorageError`
    when there is no usable keyring, or the tables are local)."""
    save_credentials(location_for(data_dir), key_id, secret, token)


@dataclass(frozen=True)
class MoveProgress:
    table: str
    done: int  # tables copied
    total: int
    rows: int  # rows of this table


def move_tables(
    data_dir: Path,
    target: StorageSettings,
    progress: Callable[[MoveProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> TableLocation:
    """Copy every table to ``target``, check each arrived whole, then switch the settings to it.

    Runs under the write lock (nothing else writes meanwhile). Resumable: a table whose copy at
    the target already has every row is not copied again; a half-copied one is copied anew. The
    old tables are left where they were (remove them once the memory works from the new place)."""
    import lancedb

    report = progress or (lambda p: None)
    src_loc = location_for(data_dir)
    dst_loc = location_from(data_dir, target.model_dump())
    if dst_loc.uri == src_loc.uri:
        raise StorageError(f"the tables are already at {dst_loc.uri}")
    with write_lock(data_dir):
        src = Store(data_dir, replace(src_loc, cache=False))  # read what is there, not a mirror
        try:
            if not dst_loc.remote:
                Path(dst_loc.uri).mkdir(parents=True, exist_ok=True)
            dst = lancedb.connect(dst_loc.uri, storage_options=dst_loc.storage_options() or None)
            names = _table_names(src.db)
            existing = set(_table_names(dst))
            for i, name in enumerate(names):
                if cancel is not None and cancel.is_set():
                    raise StorageError("move cancelled; run it again to continue")
                table = src.db.open_table(name)
                rows = int(table.count_rows())
                if name in existing:
                    if dst.open_table(name).count_rows() == rows:
                        report(MoveProgress(name, i + 1, len(names), rows))
                        continue
                    dst.drop_table(name)
                # the latest version's files as they are (indexes included), the manifest last
                copy_version(table, src_loc, dst_loc, name)
                if dst.open_table(name).count_rows() != rows:
                    raise StorageError(f"the {name} table did not arrive whole at {dst_loc.uri}")
                report(MoveProgress(name, i + 1, len(names), rows))
        except StorageError:
            raise
        except Exception as e:
            raise _clear(e, dst_loc if dst_loc.remote else src_loc) from e
        settings = load_settings(data_dir)
        settings.storage = target
        save_settings(data_dir, settings)
    return dst_loc


def _clear(e: Exception, loc: TableLocation) -> BaseException:
    from lifelog.store.location import storage_failure

    return storage_failure(e, loc) or e


def _table_names(db: Any) -> list[str]:
    names: list[str] = []
    token: str | None = None
    while True:
        resp = db.list_tables(page_token=token) if token else db.list_tables()
        names += list(resp.tables)
        token = getattr(resp, "page_token", None)
        if not token:
            return sorted(set(names))


__all__ = [
    "CacheInfo",
    "MoveProgress",
    "StorageCredentialsRefused",
    "StorageError",
    "StorageInfo",
    "StorageSettings",
    "StorageUnreachable",
    "cache_status",
    "configure_cache",
    "move_tables",
    "set_credentials",
    "storage_info",
]
