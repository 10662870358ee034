"""Tidying the tables after an import: compact the small fragments and drop the older versions.

Every LanceDB write (an append per file and table, an index update, a delete) adds a *version*: a
manifest, a transaction file and, for appends, a small data file. After an import of short clips
most of the tables' bytes on disk are such older versions and small fragments, not the data:
measured on the composed sample days (``bench/store_size.py``), half of the store. Nothing reads
an older version (readers open the latest; one that held an older version while it was dropped
reads the latest again, :meth:`lifelog.store.db.Store.rows`), so an import batch ends with
:func:`after_import`: each table that has more than one version, or files that no version uses,
is compacted into as few data files as it needs, its indexes take in the new rows, and every
version but the latest is deleted (``optimize(cleanup_older_than=0)``).

Crash guarantees: compaction writes new data files and then commits a new version in one atomic
manifest write; cleanup deletes only files that the latest version does not use. Killed at any
point, the table is at its old latest version or at the compacted one, both whole; the debris a
kill leaves (uncommitted data files, versions not yet deleted) is what the next call finds and
removes (:func:`lifelog.store.db.remove_unused_files` takes the files a killed cleanup left and
LanceDB no longer tracks). The caller holds the memory's write lock: with it no other writer is
committing, which is what makes deleting files that no version uses yet safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifelog.store.db import optimize_checked, remove_unused_files, unused_files

if TYPE_CHECKING:
    from lifelog.store.db import Store

@dataclass
class TidyReport:
    """What :func:`after_import` did: the tables it tidied, the bytes before and after (local
    tables only; 0 on an object store) and the tables it could not tidy, with why."""

    tables: list[str] = field(default_factory=list)
    bytes_before: int = 0
    bytes_after: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def needs_tidy(tbl: Any, path: Path | None) -> bool:
    """Whether a table has versions besides its latest, or (local tables) files no version uses."""
    try:
        if len(tbl.list_versions()) > 1:
            return True
    except Exception:  # cannot tell: tidying an already tidy table is harmless
        return True
    return path is not None and bool(unused_files(tbl, path))


def _size(path: Path | None) -> int:
    if path is None or not path.is_dir():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def tidy_table(tbl: Any, path: Path | None = None) -> None:
    """Compact one table, fold new rows into its indexes and delete every older version, once the
    compacted version is known to be whole (:func:`lifelog.store.db.optimize_checked`; ``path``:
    the table's local folder). Call with the write lock held."""
    optimize_checked(tbl, path, cleanup=True)


def after_import(
    store: Store,
    tables: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> TidyReport:
    """Tidy the tables an import wrote (all of them when ``tables`` is None): see the module
    docstring. Call at the end of an import batch, with the memory's write lock held. A table that
    cannot be tidied now (a full disk) is left as it is, whole, and reported; the next call tries
    again. ``progress`` is called with each table's name before it is tidied."""
    report = TidyReport()
    names = list(tables) if tables is not None else list(store.table_names())
    for name in names:
        tbl = store.any_table(name)
        path = None if store.location.remote else store.path / f"{name}.lance"
        if not needs_tidy(tbl, path):
            continue
        if progress is not None:
            progress(name)
        before = _size(path)
        try:
            with store.write_guard():
                tidy_table(tbl, path)
        except Exception as e:  # the table stays at a whole version; tidied next time
            store.raise_if_storage_failed(e)
            report.failed[name] = f"{type(e).__name__}: {e}"
            continue
        if path is not None:
            remove_unused_files(tbl, path)
        report.tables.append(name)
        report.bytes_before += before
        report.bytes_after += _size(path)
    return report
