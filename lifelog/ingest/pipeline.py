"""Import: files in → episodes, frames and vectors in the store.

Per file the stages run in order (hash → skip if known → decode → skip duplicates → encode →
analyse → cut episodes → write), overlapped across the cores (issue 21): the decoder reads ahead
on a thread of its own, the importing thread encodes batch n+1 while the **analysis lane** runs
the analyzers (OCR, faces), face labels and thumbnails of batch n, and the analyzers that need
no blurred input (the object detector) run on a **side lane** beside them. Every hand-over is
bounded (the decoder is two batches ahead at most, :data:`ANALYSIS_DEPTH` batches wait for the
analysis lane), so memory stays flat; a lane's error is raised on the importing thread, a cancel
stops every lane at its next batch, and a file being undone waits until nothing of it runs any
more. The rows are those of a sequential run (``Importer.pipelined = False``). Crash safety:

* Before anything is written for a file, a **journal entry** ``<data>/journal/<media_id>``
  is created; it is removed after the ``media`` row (the commit record) is written.
* Writes go frames → episodes → media. An episode row is written in one LanceDB append, only
  after all of its frames, so an episode is never visible half-written.
* Whoever next takes the write lock rolls back every journalled file (deletes its rows and
  vault blobs); the file is then imported again from scratch. IDs are derived from the
  content hash, so the redo produces the same IDs and never duplicates.

Only one process writes at a time (``<data>/write.lock``, ``fcntl.flock``); readers never wait.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from io import BytesIO
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from lifelog.config import Settings
from lifelog.encoders import get_visual_encoder
from lifelog.encoders.analyzers import FrameAnalyzer, FrameInput, RegionReporter
from lifelog.encoders.base import ModelMissingError
from lifelog.encoders.visual import VisualBatch, VisualEncoder
from lifelog.ingest import decode, geo
from lifelog.ingest.episodes import CutParams, DuplicateFilter, cut_episodes
from lifelog.ingest.failures import os_reason, other_reason
from lifelog.ingest.media import (
    MediaError,
    MediaKind,
    check_importable,
    content_hash,
    display_path,
    local_tz,
    mtime_of,
    walk,
)
from lifelog.ingest.peaks import peak_labels
from lifelog.ingest.redact import blur_boxes
from lifelog.store.blind_index import INDEX_KEY_BLOB
from lifelog.store.db import JOURNAL_DIR, Store
from lifelog.store.files import atomic_write
from lifelog.store.heap import limit_arenas
from lifelog.store.lock import write_lock
from lifelog.store.sql import sql_str
from lifelog.store.tidy import after_import
from lifelog.store.vault import Vault

THUMB_WIDTH = 160
BATCH = 16
# Files are committed in batches (issue 21): one LanceDB append per table for many short files,
# not one per file. The first file of an import is committed on its own, then batches double
# (1, 2, 4, … up to COMMIT_FILES files); a batch is also committed once it holds COMMIT_FRAMES
# frames (a long video commits on its own) or has been open for COMMIT_AFTER_S seconds. So a
# kill loses little: at most one batch, rolled back by the next writer (its journal entries).
COMMIT_FILES = 64
COMMIT_FRAMES = 2000
COMMIT_AFTER_S = 5.0
# The import runs as a pipeline (issue 21): the decoder reads ahead on a thread of its own, the
# importing thread encodes batch n+1 while the analysis lane runs the analyzers (OCR, faces)
# of batch n, and the object detector (which sees the frames as decoded) runs on a side lane
# beside them. At most ANALYSIS_DEPTH encoded batches wait for the analysis lane.
PIPELINED = True
ANALYSIS_DEPTH = 2


ImportStage = Literal["scanning", "hashing", "decoding", "encoding", "writing", "done"]


class FileOutcome(Enum):
    """What happened to one file of an import that did not fail."""

    IMPORTED = "imported"
    SKIPPED = "skipped"  # its content was already in the memory


class ImportCancelled(Exception):
    pass


@dataclass(frozen=True)
class ImportProgress:
    """Progress as plain data; the CLI prints it, the app shows it."""

    files_done: int
    files_total: int
    current: str | None
    stage: ImportStage
    fraction: float  # 0..1 over the whole import


@dataclass
class ImportFailure:
    path: str
    error: str


@dataclass
class ImportResult:
    imported: int = 0
    skipped: int = 0
    failed: list[ImportFailure] = field(default_factory=list)
    episodes: list[str] = field(default_factory=list)
    ignored: int = 0
    warnings: list[ImportFailure] = field(default_factory=list)
    cancelled: bool = False
    # files whose import an earlier run left unfinished (killed, power cut): rolled back now
    rolled_back: list[str] = field(default_factory=list)
    # measurements, for the benchmark and --json consumers
    frames_decoded: int = 0
    frames_embedded: int = 0
    footage_s: float = 0.0
    # seconds the importing thread spent in each stage ("decode-wait": waiting for the decoder
    # thread; "encode"; each analyzer by name; "thumbnails"; "write"), for the benchmark
    stage_s: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "skipped": self.skipped,
            "failed": [{"path": f.path, "error": f.error} for f in self.failed],
            "episodes": self.episodes,
            "ignored": self.ignored,
            "warnings": [{"path": w.path, "warning": w.error} for w in self.warnings],
            "cancelled": self.cancelled,
            "frames_decoded": self.frames_decoded,
            "frames_embedded": self.frames_embedded,
            "footage_seconds": round(self.footage_s, 3),
            "rolled_back": self.rolled_back,
            "stage_seconds": {k: round(v, 3) for k, v in sorted(self.stage_s.items())},
        }


ProgressFn = Callable[[ImportProgress], None]


# ----------------------------------------------------------------------- journal
def _journal_dir(data_dir: Path) -> Path:
    return data_dir / JOURNAL_DIR


def _is_entry(name: str) -> bool:
    return not name.startswith(".") and all(c in "0123456789abcdef" for c in name)


def unfinished_imports(data_dir: Path) -> dict[str, str]:
    """The files whose import did not finish: media id → the path it was imported from (as
    displayed; the id when the journal entry does not say)."""
    jdir = _journal_dir(data_dir)
    if not jdir.is_dir():
        return {}
    out = {}
    for entry in sorted(jdir.iterdir()):
        if not _is_entry(entry.name):
            continue
        try:
            shown = entry.read_bytes().decode("utf-8", "replace").strip()
        except OSError:
            shown = ""
        out[entry.name] = shown or entry.name
    return out


def rollback_unfinished(store: Store, vault: Vault) -> list[str]:
    """Undo every file whose import did not finish. Call with the write lock held."""
    jdir = _journal_dir(store.data_dir)
    if not jdir.is_dir():
        return []
    undone = []
    for entry in sorted(jdir.iterdir()):
        mid = entry.name
        if not _is_entry(mid):
            continue
        remove_media_rows(store, vault, mid)
        entry.unlink(missing_ok=True)
        undone.append(mid)
    return undone


def remove_media_rows(store: Store, vault: Vault, media_id: str) -> None:
    where = f"media_id = {sql_str(media_id)}"
    store.delete("episodes", where)
    for name in store.tables_with("media_id"):
        if name != "episodes":
            store.delete(name, where)
    from lifelog.encoders.vectors import delete_media_vectors  # optional models' tables (docs/models.md)

    delete_media_vectors(store, media_id)
    store.delete("media", f"id = {sql_str(media_id)}")
    bdir = vault.root / "blobs" / media_id[:2]
    if bdir.is_dir():
        for p in bdir.glob(f"{media_id}-*.bin"):
            vault.delete(p.stem)


# ----------------------------------------------------------------------- import
@dataclass
class _Staged:
    """One file analysed, its rows not yet written: what a batch commit writes. Its journal entry
    exists and its vault blobs (thumbnails, face crops) are written."""

    mid: str
    name: str
    journal: Path
    frame_rows: list[dict[str, Any]]
    extra_rows: dict[str, list[dict[str, Any]]]
    episode_rows: list[dict[str, Any]]
    geo_row: dict[str, Any] | None
    media_row: dict[str, Any]
    episodes: list[str]
    decoded: int
    kept: int
    duration: float
    warnings: list[str]


@dataclass
class _Pending:
    """One file on its way to a batch commit (issue 21): its journal entry exists and it was
    decoded and encoded; its **tail** (the last batches' analyzers, then its rows, episodes and
    thumbnails) may still be running on the analysis lane while the next file is decoded. The
    commit waits for it (:meth:`wait`); a failed tail fails this file alone."""

    mid: str
    name: str
    journal: Path
    geo_row: dict[str, Any] | None
    kept: int  # frames kept: its frame rows, known before the tail has run
    staged: _Staged | None = None
    tail: Future[_Staged] | None = None

    def wait(self) -> _Staged:
        if self.staged is None:
            assert self.tail is not None
            self.staged = self.tail.result()  # the tail's error (cancel included) is raised here
        return self.staged

    def settle(self) -> None:
        """Wait for the tail, whatever it ends in (the file is being undone)."""
        if self.tail is not None:
            with suppress(BaseException):
                self.tail.exception()


@dataclass
class _FrameRec:
    offset_s: float
    rgb: NDArray[Any]


class Importer:
    def __init__(
        self,
        store: Store,
        vault: Vault,
        settings: Settings,
        encoder: VisualEncoder | None = None,
        device: str | None = None,
        analyzers: Sequence[FrameAnalyzer] = (),
        after_commit: Callable[[list[str]], None] | None = None,
    ) -> None:
        """``after_commit``: called (under the write lock, on the importing thread) with the
        media ids of each batch right after it is committed — the seam for work that may start
        on committed files while the next batch is analysed (speech in the background, store
        upkeep). It must be quick or hand the work to a thread of its own; an exception in it
        becomes a warning, never a failed import."""
        limit_arenas()  # a process importing as a library (the command and the app did it first)
        self.after_commit = after_commit
        self._stage_s: dict[str, float] = {}
        self._stage_lock = threading.Lock()
        self.pipelined = PIPELINED
        self._lanes: _Lanes | None = None
        self.analyzers = list(analyzers)
        self.store = store
        self.vault = vault
        self.settings = settings
        self._encoder = encoder
        self.device = device
        self.commit_files = COMMIT_FILES
        self.commit_frames = COMMIT_FRAMES
        self.commit_after_s = COMMIT_AFTER_S

    def _took(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        with self._stage_lock:  # the lanes report their stages too
            self._stage_s[stage] = self._stage_s.get(stage, 0.0) + now - since
        return now

    @property
    def encoder(self) -> VisualEncoder:
        if self._encoder is None:
            self._encoder = get_visual_encoder()
        return self._encoder

    def run(
        self,
        paths: list[Path],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> ImportResult:
        result = ImportResult()
        self._stage_s = {}
        # the lanes' threads live as long as the import: the detector's interpreter (one per
        # thread) is made once, not per file
        self._lanes = _Lanes(ANALYSIS_DEPTH) if self.pipelined and self.analyzers else None
        try:
            return self._run(paths, result, progress, cancel)
        finally:
            if self._lanes is not None:
                self._lanes.close()
                self._lanes = None

    def _run(
        self,
        paths: list[Path],
        result: ImportResult,
        progress: ProgressFn | None,
        cancel: threading.Event | None,
    ) -> ImportResult:

        def should_stop() -> bool:
            return cancel is not None and cancel.is_set()

        report = progress or (lambda p: None)
        report(ImportProgress(0, 0, None, "scanning", 0.0))
        found = walk(paths)
        result.ignored = found.ignored
        for p, why in found.unreadable:
            result.failed.append(ImportFailure(display_path(p), why))
        with write_lock(self.store.data_dir):
            unfinished = unfinished_imports(self.store.data_dir)
            result.rolled_back = [unfinished.get(m, m) for m in rollback_unfinished(self.store, self.vault)]
            # Vault writes of a killed import leave their temporary files; no put is running now.
            self.vault.remove_orphan_temps(unlocked=(INDEX_KEY_BLOB,))
            total = len(found.media)
            staged: list[_Pending] = []
            batch_size = 1
            opened = 0.0

            def commit() -> None:
                nonlocal batch_size
                if staged:
                    report(ImportProgress(min(i, total), total, staged[-1].name, "writing",
                                          min(i, total) / max(total, 1)))
                    ready = self._wait_tails(staged, result)
                    staged.clear()
                    if ready:
                        self._commit(ready, result)
                    batch_size = min(batch_size * 2, max(self.commit_files, 1))

            i = 0
            ahead: _Ahead | None = None
            try:
                for i, path in enumerate(found.media):
                    if should_stop():
                        result.cancelled = True
                        break
                    name = display_path(path)
                    ready = ahead.take() if ahead is not None and ahead.ready.path == path else None
                    ahead = None
                    if i + 1 < total and self.pipelined:  # the next file is made ready meanwhile
                        ahead = _Ahead(found.media[i + 1], self.store, self.settings, should_stop)

                    def sub(stage: ImportStage, frac: float, i: int = i, name: str = name) -> None:
                        report(ImportProgress(i, total, name, stage, (i + min(max(frac, 0.0), 1.0)) / max(total, 1)))

                    sub("hashing", 0.0)
                    try:
                        status, done = self._import_file(path, sub, should_stop, staged, ready)
                    except ImportCancelled:
                        result.cancelled = True
                        break
                    except MediaError as e:
                        result.failed.append(ImportFailure(name, str(e)))
                        continue
                    except OSError as e:
                        self.store.raise_if_storage_failed(e)  # the object store went away: stop (docs/scale.md)
                        result.failed.append(ImportFailure(name, os_reason(e)))
                        continue
                    except ModelMissingError:
                        raise
                    except Exception as e:  # a store or codec error: report it, keep going
                        self.store.raise_if_storage_failed(e)
                        result.failed.append(ImportFailure(name, other_reason(e)))
                        continue
                    if status is FileOutcome.SKIPPED or done is None:
                        result.skipped += 1
                        continue
                    if not staged:
                        opened = time.monotonic()
                    staged.append(done)
                    if (len(staged) >= batch_size
                            or sum(s.kept for s in staged) >= self.commit_frames
                            or time.monotonic() - opened >= self.commit_after_s):
                        commit()
                if ahead is not None:  # a cancel: the next file is not imported
                    ahead.close()
                    ahead = None
                i = total if not result.cancelled else i
                commit()  # files analysed before a cancel are complete: they are kept
            except BaseException:
                # Undo what is staged if we can; if we cannot (disk full, killed), the journal
                # entries make the next writer do it. The tails still queued stop first.
                if ahead is not None:
                    ahead.close()
                    ahead = None
                if self._lanes is not None:
                    self._lanes.abandon()
                self._discard(staged)
                raise
            if result.imported:
                try:
                    self.store.ensure_indexes()
                    # fold new rows into the indexes, merge the small per-file fragments and drop
                    # the older versions (docs/storage.md)
                    after_import(self.store)
                except Exception as e:  # an index is an optimisation: searches stay exact without it
                    result.warnings.append(ImportFailure(str(self.store.data_dir), f"index not updated: {e}"))
            report(ImportProgress(total, total, None, "done", 1.0))
        result.stage_s = dict(self._stage_s)
        return result

    # ..................................................................... one file
    def _import_file(
        self,
        path: Path,
        sub: Callable[[ImportStage, float], None],
        should_stop: Callable[[], bool],
        staged: Sequence[_Pending] = (),
        ready: _Ready | None = None,
    ) -> tuple[FileOutcome, _Pending | None]:
        """Analyse one file: its rows staged for the next batch commit (its journal entry and
        vault blobs written, its tail perhaps still running on the analysis lane), or SKIPPED
        when the memory (or the batch) holds its content. ``ready``: what was made ready of it
        ahead of its turn (:class:`_Ahead`); closed here whatever happens."""
        try:
            return self._import_ready(path, sub, should_stop, staged, ready)
        finally:
            if ready is not None:
                ready.close()

    def _import_ready(
        self,
        path: Path,
        sub: Callable[[ImportStage, float], None],
        should_stop: Callable[[], bool],
        staged: Sequence[_Pending],
        ready: _Ready | None,
    ) -> tuple[FileOutcome, _Pending | None]:
        if ready is not None and ready.error is not None:
            if isinstance(ready.error, InterruptedError):
                raise ImportCancelled from ready.error
            raise ready.error
        kind = ready.kind if ready is not None and ready.kind is not None else check_importable(path)
        try:
            mid = ready.mid if ready is not None and ready.mid is not None else content_hash(path, should_stop)
        except InterruptedError as e:
            raise ImportCancelled from e
        if any(s.mid == mid for s in staged) or self.store.has_media(mid):
            return FileOutcome.SKIPPED, None
        journal = _journal_dir(self.store.data_dir) / mid
        atomic_write(journal, display_path(path).encode())
        try:
            done = self._encode_and_write(path, kind, mid, journal, sub, should_stop,
                                          [s.geo_row for s in staged if s.geo_row is not None], ready)
        except BaseException:
            # Undo now if we can; if we cannot (disk full, killed), the journal makes the next
            # writer do it.
            try:
                remove_media_rows(self.store, self.vault, mid)
                journal.unlink(missing_ok=True)
            except Exception:
                pass
            raise
        return FileOutcome.IMPORTED, done

    def _wait_tails(self, pending: Sequence[_Pending], result: ImportResult) -> list[_Staged]:
        """The batch's files once their tails have finished; a file whose tail failed is undone
        and reported (as its analysis would have been, had it not been deferred), alone."""
        t0 = time.perf_counter()
        ready: list[_Staged] = []
        try:
            for p in pending:
                try:
                    ready.append(p.wait())
                    continue
                except ImportCancelled:
                    result.cancelled = True  # its last batches saw the cancel: it is not whole
                    why = None
                except MediaError as e:
                    why = str(e)
                except OSError as e:
                    self.store.raise_if_storage_failed(e)
                    why = os_reason(e)
                except ModelMissingError:
                    raise
                except Exception as e:
                    self.store.raise_if_storage_failed(e)
                    why = other_reason(e)
                self._discard([p])
                if why is not None:
                    result.failed.append(ImportFailure(p.name, why))
        finally:
            self._took("tail-wait", t0)
        return ready

    def _commit(self, staged: Sequence[_Staged], result: ImportResult) -> None:
        """Write a batch of analysed files: every table in one append for the whole batch, in
        the crash-safe order (frames → analyzers' rows → episodes → places → media, the media
        rows committing the files), then remove their journal entries. A failed write undoes
        the batch (its files are reported failed); a kill leaves the journal entries, and the
        next writer rolls the batch back."""
        frame_rows = [r for s in staged for r in s.frame_rows]
        extra: dict[str, list[dict[str, Any]]] = {}
        for s in staged:
            for table, rows in s.extra_rows.items():
                extra.setdefault(table, []).extend(rows)
        t0 = time.perf_counter()
        try:
            self.store.add("frames", frame_rows)
            for table, rows in extra.items():
                self.store.add(table, rows)
            self.store.add("episodes", [r for s in staged for r in s.episode_rows])
            self.store.add("media_geo", [s.geo_row for s in staged if s.geo_row is not None])
            self.store.add("media", [s.media_row for s in staged])
        except BaseException as e:
            self._discard(staged)
            if not isinstance(e, Exception):
                raise
            self.store.raise_if_storage_failed(e)
            why = os_reason(e) if isinstance(e, OSError) else other_reason(e)
            result.failed.extend(ImportFailure(s.name, why) for s in staged)
            return
        for s in staged:
            s.journal.unlink(missing_ok=True)
        self._took("write", t0)
        if self.after_commit is not None:
            try:
                self.after_commit([s.mid for s in staged])
            except Exception as e:
                result.warnings.append(ImportFailure(str(self.store.data_dir), f"after the import: {other_reason(e)}"))
        for s in staged:
            result.imported += 1
            result.episodes.extend(s.episodes)
            result.frames_decoded += s.decoded
            result.frames_embedded += s.kept
            result.footage_s += s.duration
            for w in s.warnings:
                result.warnings.append(ImportFailure(s.name, w))

    def _discard(self, staged: Sequence[_Staged | _Pending]) -> None:
        """Undo staged files (their rows, if any were written, and their vault blobs); what
        cannot be undone now the journal entries leave to the next writer."""
        for s in staged:
            if isinstance(s, _Pending):
                s.settle()  # nothing of it may still run when its blobs are removed
            try:
                remove_media_rows(self.store, self.vault, s.mid)
                s.journal.unlink(missing_ok=True)
            except Exception:
                pass

    def _encode_and_write(
        self,
        path: Path,
        kind: MediaKind,
        mid: str,
        journal: Path,
        sub: Callable[[ImportStage, float], None],
        should_stop: Callable[[], bool],
        pending_geo: Sequence[dict[str, Any]] = (),
        ready: _Ready | None = None,
    ) -> _Pending:
        """Decode and encode the file here; its tail (the last batches' analysis, then its
        rows) runs on the analysis lane when the import is pipelined, so the next file is
        decoded meanwhile (issue 21), else here."""
        cap = self.settings.capture
        warnings: list[str] = []
        media_row: dict[str, Any] = {
            "id": mid,
            "path": display_path(path.resolve()),
            "size": path.stat().st_size,
            "device": self.device,
            "imported_at": datetime.now(UTC),
        }
        frames: list[_FrameRec] = []
        stats = ready.stats if ready is not None else decode.DecodeStats()
        duration = 0.0
        if kind == "video":
            info = ready.info if ready is not None and ready.info is not None else decode.probe_video(path)
            if not info.has_video:
                if not info.has_audio:
                    raise MediaError("no video or audio stream in the file")
                kind = "audio"
            else:
                duration = info.duration_s
                start, source = (info.creation_time, "creation_time") if info.creation_time else (None, "mtime")
                if start is None:
                    start = mtime_of(path) - timedelta(seconds=duration)
                media_row.update(
                    width=info.width, height=info.height, codec=info.codec, has_audio=info.has_audio
                )
        if kind == "audio":
            ainfo = decode.probe_audio(path)
            duration = ainfo.duration_s
            start, source = (ainfo.creation_time, "creation_time") if ainfo.creation_time else (None, "mtime")
            if start is None:
                start = mtime_of(path) - timedelta(seconds=duration)
            media_row.update(has_audio=True, codec="audio")
        if kind == "photo":
            photo = ready.photo if ready is not None and ready.photo is not None else decode.load_photo(path)
            start, source = (photo.taken, "exif") if photo.taken else (mtime_of(path), "mtime")
            frames.append(_FrameRec(0.0, photo.rgb))
            media_row.update(width=photo.width, height=photo.height, codec="image", has_audio=False)
            stats.decoded = 1
        assert start is not None
        start = start.astimezone(local_tz())
        tz_off = int((start.utcoffset() or timedelta()).total_seconds() // 60)
        media_row.update(kind=kind, time_source=source, tz_offset_min=tz_off)

        # ---- decode + encode, streaming in batches so memory stays flat
        dup = DuplicateFilter(cap.duplicate_threshold)
        kept_t: list[float] = []
        batch_out: list[VisualBatch] = []
        thumbs: list[bytes] = []
        pending: list[_FrameRec] = []
        extra_rows: dict[str, list[dict[str, Any]]] = {}
        rows_lock = threading.Lock()
        failed_analyzers: set[str] = set()
        lanes = self._lanes
        # This file's jobs on the analysis lane: the first error ends the file (later jobs of it
        # are skipped, the importing thread raises it at its next hand-over, the tail raises it
        # to the commit); it never reaches another file's jobs.
        file_error: list[BaseException] = []
        abandoned = threading.Event()
        last_job: list[Future[None]] = []

        def guarded(job: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                if file_error or abandoned.is_set():
                    return
                try:
                    job()
                except BaseException as e:
                    file_error.append(e)
            return run

        def analyze(batch: list[_FrameRec], first_index: int) -> list[NDArray[Any]]:
            """Runs the analyzers; the batch's frames with every region they reported blurred.

            The analyzers before the first one that reports regions to blur (the object
            detector) see the frames as decoded whatever runs after them: they run on a lane of
            their own, beside the others (issue 21)."""
            inputs = [
                FrameInput(f"{mid}-{first_index + k:05d}", start + timedelta(seconds=f.offset_s), f.rgb)
                for k, f in enumerate(batch)
            ]
            side = [] if lanes is None else _leading_independent(self.analyzers)
            side_job = lanes.side(lambda: run_analyzers(side, inputs)) if side and lanes is not None else None
            try:
                shown = run_analyzers(self.analyzers[len(side):] if side_job is not None else self.analyzers, inputs)
            finally:
                if side_job is not None:
                    side_job.result()  # its rows are in extra_rows; it never raises (a failure is a warning)
            return shown

        def run_analyzers(ans: Sequence[FrameAnalyzer], inputs: list[FrameInput]) -> list[NDArray[Any]]:
            for an in ans:
                if an.name in failed_analyzers:
                    continue
                if should_stop():
                    raise ImportCancelled
                t0 = time.perf_counter()
                try:
                    # a cancel is seen between frames inside the analyzer too (OCR reads one
                    # frame at a time, ~50-60 ms each): not only after its whole batch
                    rows = an.analyze(_StopBetweenFrames(inputs, should_stop))
                    hide = an.blur_regions() if isinstance(an, RegionReporter) else {}
                    self._took(an.name, t0)
                except ImportCancelled:
                    raise
                except Exception as e:  # degrade this signal only, visibly
                    failed_analyzers.add(an.name)
                    warnings.append(f"{an.name} analysis failed: {type(e).__name__}: {e}")
                    continue
                with rows_lock:
                    extra_rows.setdefault(an.table, []).extend(rows)
                if hide:  # later analyzers (face crops) and the thumbnail see these blurred
                    inputs = [
                        FrameInput(fi.frame_id, fi.t, blur_boxes(fi.rgb, hide[fi.frame_id]))
                        if hide.get(fi.frame_id) else fi
                        for fi in inputs
                    ]
            return [fi.rgb for fi in inputs]

        def finish(batch: list[_FrameRec], out: VisualBatch, first: int) -> None:
            """The analyzers, face labels and thumbnails of one encoded batch (on the analysis
            lane when the import is pipelined, in batch order)."""
            if should_stop() or (lanes is not None and lanes.aborting):
                raise ImportCancelled
            shown = analyze(batch, first) if self.analyzers else [f.rgb for f in batch]
            ids = [f"{mid}-{first + k:05d}" for k in range(len(batch))]
            t0 = time.perf_counter()
            with rows_lock:
                faces = list(extra_rows.get("faces", []))
            quiet_face_labels(self.encoder, out, [f.rgb for f in batch], ids, faces)
            t0 = self._took("face-labels", t0)
            thumbs.extend(_thumbnail(rgb) for rgb in shown)
            self._took("thumbnails", t0)
            batch_out.append(out)
            kept_t.extend(f.offset_s for f in batch)

        sent = 0  # frames handed to the encoder so far

        def flush() -> None:
            nonlocal sent
            if not pending:
                return
            if should_stop():
                raise ImportCancelled
            sub("encoding", min(pending[-1].offset_s / duration, 0.99) if duration > 0 else 0.5)
            batch = list(pending)
            pending.clear()
            t0 = time.perf_counter()
            out = self.encoder.encode([f.rgb for f in batch])
            self._took("encode", t0)
            first, sent = sent, sent + len(batch)
            if lanes is None:
                finish(batch, out, first)
            else:  # the analyzers of this batch run while the next one is decoded and encoded
                t0 = time.perf_counter()
                last_job[:] = [lanes.analyse(guarded(lambda: finish(batch, out, first)))]
                self._took("analysis-wait", t0)
                if file_error:
                    raise file_error[0]

        try:
            if kind == "video":
                sub("decoding", 0.0)
                frames_in = ready.frames if ready is not None and ready.frames is not None else _ReadAhead(
                    decode.sample_video(
                        path,
                        min_interval=cap.sample_interval_s,
                        max_interval=cap.max_gap_s,
                        stats=stats,
                        should_stop=should_stop,
                    ),
                    BATCH * 2,
                )
                try:
                    # Decoding (FFmpeg) and the models (onnxruntime) release the GIL: the decoder
                    # reads ahead on a thread of its own, the analyzers run on their lanes.
                    waited = time.perf_counter()
                    for fr in frames_in:
                        self._took("decode-wait", waited)
                        waited = time.perf_counter()
                        if dup.keep(fr.rgb, fr.offset_s):
                            pending.append(_FrameRec(fr.offset_s, fr.rgb))
                            if len(pending) >= BATCH:
                                flush()
                                waited = time.perf_counter()
                except InterruptedError as e:
                    raise ImportCancelled from e
                finally:
                    frames_in.close()  # its decoder thread ends with the file, whatever happened
                if stats.decoded == 0:
                    raise MediaError("no decodable video frames (corrupt, truncated or an unsupported codec)")
            else:
                pending.extend(frames)
            flush()
            # Where it was: checked against the device's fixes before and after it, those of the
            # files staged before it included (here: the next file's check needs it).
            geo_row, geo_dropped = geo.media_geo_row(self.store, self.vault, path, kind, mid, start, self.device,
                                                       pending_geo)
        except BaseException:
            if lanes is not None:  # nothing of this file may still run when its rows are undone
                abandoned.set()
                for job in last_job:  # the lane runs in order: its last job is its end
                    with suppress(BaseException):
                        job.result()
            raise
        held = _Pending(mid=mid, name=display_path(path), journal=journal, geo_row=geo_row, kept=sent)

        def tail() -> _Staged:
            if file_error:
                raise file_error[0]
            # Every batch of it was analysed (a cancel is seen there): it is whole, and kept
            # unless this file or the whole import is being undone.
            if abandoned.is_set() or (lanes is not None and lanes.aborting):
                raise ImportCancelled
            return self._rows(mid, kind, path, start, tz_off, duration, frames, kept_t, batch_out, thumbs,
                              extra_rows, media_row, stats, warnings, geo_row, geo_dropped)

        if lanes is None:
            sub("writing", 0.99)
            held.staged = tail()
            return held
        done: Future[_Staged] = Future()

        def run_tail() -> None:
            done.set_running_or_notify_cancel()
            try:
                done.set_result(tail())
            except BaseException as e:
                done.set_exception(e)

        t0 = time.perf_counter()
        lanes.analyse(run_tail)  # after this file's last batches, in order; the next file goes on
        self._took("analysis-wait", t0)
        held.tail = done
        return held

    def _rows(
        self,
        mid: str,
        kind: MediaKind,
        path: Path,
        start: datetime,
        tz_off: int,
        duration: float,
        frames: list[_FrameRec],
        kept_t: list[float],
        batch_out: list[VisualBatch],
        thumbs: list[bytes],
        extra_rows: dict[str, list[dict[str, Any]]],
        media_row: dict[str, Any],
        stats: decode.DecodeStats,
        warnings: list[str],
        geo_row: dict[str, Any] | None,
        geo_dropped: str | None,
    ) -> _Staged:
        """A file's tail, once all its batches are analysed: its episodes cut, its thumbnails in
        the vault and its rows made, ready for the batch commit."""
        warnings.extend(stats.warnings)
        if frames == [] and kind == "video" and kept_t:
            duration = max(duration, kept_t[-1])

        # ---- episodes
        t_rows = time.perf_counter()
        model = f"{self.encoder.name}@{self.encoder.version}"
        if kept_t:
            batch = _concat(batch_out)
            starts = cut_episodes(
                kept_t,
                batch.features,
                CutParams(
                    gap_s=self.settings.episodes.gap_s,
                    scene_threshold=self.settings.episodes.scene_threshold,
                    min_episode_s=self.settings.episodes.min_episode_s,
                ),
            )
        else:
            batch = None
            starts = []

        end_total = max(duration, (kept_t[-1] + 1.0) if kept_t else 1.0)
        frame_rows: list[dict[str, Any]] = []
        episode_rows: list[dict[str, Any]] = []
        ep_ids: list[str] = []
        if batch is None:  # audio: one episode, no frames
            ep_id = f"{mid}-0000"
            episode_rows.append(
                self._episode_row(ep_id, mid, kind, start, start + timedelta(seconds=end_total), tz_off,
                                  [], [], [], None, model, peaks=([], []))
            )
            ep_ids.append(ep_id)
        else:
            bounds = [*starts, len(kept_t)]
            for k, (a, b) in enumerate(itertools.pairwise(bounds)):
                ep_id = f"{mid}-{k:04d}"
                ep_start = start + timedelta(seconds=kept_t[a] if k > 0 else 0.0)
                ep_end = start + timedelta(seconds=kept_t[b] if b < len(kept_t) else end_total)
                thumb_ids = []
                for j in range(a, b):
                    fid = f"{mid}-{j:05d}"
                    self.vault.put(fid, thumbs[j])
                    frame_rows.append(
                        {
                            "id": fid,
                            "episode_id": ep_id,
                            "media_id": mid,
                            "t": start + timedelta(seconds=kept_t[j]),
                            "offset_s": kept_t[j],
                            "tz_offset_min": tz_off,
                            "semantic": batch.semantic[j].tolist(),
                            "features": None,  # used for cutting only, never read back: not stored
                            "labels": [lab for lab, _ in batch.labels[j]],
                            "label_scores": [float(s) for _, s in batch.labels[j]],
                            "thumb_id": fid,
                            "model": model,
                        }
                    )
                picks = sorted({a, (a + b - 1) // 2, b - 1})
                thumb_ids = [f"{mid}-{j:05d}" for j in picks]
                labels, scores = _aggregate_labels(batch.labels[a:b])
                peaks = peak_labels(([lab for lab, _ in ls], [s for _, s in ls]) for ls in batch.labels[a:b])
                sem = batch.semantic[a:b].mean(axis=0)
                sem = sem / (np.linalg.norm(sem) + 1e-9)
                episode_rows.append(
                    self._episode_row(ep_id, mid, kind, ep_start, ep_end, tz_off, thumb_ids, labels, scores,
                                      sem, model, n_frames=b - a, peaks=peaks)
                )
                ep_ids.append(ep_id)
        self._took("episodes+thumbnails-to-vault", t_rows)
        frame_episode = {r["id"]: r["episode_id"] for r in frame_rows}
        for rows in extra_rows.values():
            for r in rows:
                r["media_id"] = mid
                r["episode_id"] = frame_episode.get(r["frame_id"])
        media_row.update(
            capture_start=start,
            capture_end=start + timedelta(seconds=end_total),
            duration_s=duration,
            frames_decoded=stats.decoded,
            frames_kept=len(kept_t),
            warnings=warnings,
        )
        if geo_dropped:
            warnings.append(geo_dropped)
        return _Staged(
            mid=mid, name=display_path(path), journal=_journal_dir(self.store.data_dir) / mid,
            frame_rows=frame_rows, extra_rows=extra_rows, episode_rows=episode_rows, geo_row=geo_row,
            media_row=media_row, episodes=ep_ids, decoded=stats.decoded, kept=len(kept_t), duration=duration,
            warnings=warnings,
        )

    def _episode_row(
        self,
        ep_id: str,
        mid: str,
        kind: str,
        start: datetime,
        end: datetime,
        tz_off: int,
        thumb_ids: list[str],
        labels: list[str],
        scores: list[float],
        semantic: NDArray[Any] | None,
        model: str,
        n_frames: int = 0,
        *,
        peaks: tuple[list[str], list[float]],
    ) -> dict[str, Any]:
        # No clock time in the text: times are shown in the zone of whoever reads them.
        what = ", ".join(labels[:3]) if labels else ("audio recording" if kind == "audio" else "")
        summary = kind.capitalize() + (f": {what}" if what else "")
        return {
            "id": ep_id,
            "media_id": mid,
            "kind": kind,
            "start": start,
            "end": end,
            "tz_offset_min": tz_off,
            "n_frames": n_frames,
            "thumb_ids": thumb_ids,
            "labels": labels,
            "label_scores": scores,
            "summary_enc": self.vault.encrypt_text(summary, f"summary:{ep_id}"),
            "semantic": semantic.astype(np.float32).tolist() if semantic is not None else None,
            "model": model,
            "peak_labels": peaks[0],
            "peak_scores": peaks[1],
        }


class _StopBetweenFrames(Sequence[FrameInput]):
    """A batch's frames as an analyzer sees them: iterating them raises :class:`ImportCancelled`
    before the next frame once ``should_stop()`` is true, so a cancel does not wait for the
    rest of an analyzer's batch (issue #21: every stage stops within a second)."""

    def __init__(self, frames: Sequence[FrameInput], should_stop: Callable[[], bool]) -> None:
        self._frames = frames
        self._should_stop = should_stop

    def __len__(self) -> int:
        return len(self._frames)

    @overload
    def __getitem__(self, i: int) -> FrameInput: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[FrameInput]: ...

    def __getitem__(self, i: int | slice) -> FrameInput | Sequence[FrameInput]:
        return self._frames[i]

    def __iter__(self) -> Iterator[FrameInput]:
        for f in self._frames:
            if self._should_stop():
                raise ImportCancelled
            yield f


def _leading_independent(analyzers: Sequence[FrameAnalyzer]) -> list[FrameAnalyzer]:
    """The analyzers at the head of the list that report no regions to blur: they see the frames
    as decoded, so they may run beside the ones after them (the object detector)."""
    out: list[FrameAnalyzer] = []
    for an in analyzers[:-1]:  # the last one stays on the analysis lane: it has work to overlap with
        if isinstance(an, RegionReporter):
            break
        out.append(an)
    return out


class _Lanes:
    """The import's worker threads (issue 21): the **analysis lane** runs each encoded batch's
    analyzers, face labels and thumbnails, one batch after the other in order (analyzers keep
    state from batch to batch: gates, OCR's interval), while the importing thread decodes and
    encodes the next; the **side lane** runs the leading analyzers that need no blurred input
    (:func:`_leading_independent`) beside the rest of a batch. At most ``depth`` batches wait
    for the analysis lane, so memory stays bounded. An error on a lane is raised to the
    importing thread at its next hand-over (a file's own jobs record theirs for its tail)."""

    def __init__(self, depth: int) -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self.depth = max(1, depth)
        self._analysis = ThreadPoolExecutor(1, thread_name_prefix="lifelog-analyse")
        self._side = ThreadPoolExecutor(1, thread_name_prefix="lifelog-side")
        self._pending: deque[Future[None]] = deque()
        self.aborting = False  # set while a file's remaining batches are dropped

    def analyse(self, job: Callable[[], None]) -> Future[None]:
        """Queue one job (a batch's analysis, a file's tail); waits while ``depth`` jobs are
        queued or running. Its future."""
        while self._pending and (len(self._pending) >= self.depth or self._pending[0].done()):
            self._pending.popleft().result()  # re-raises the lane's error (cancel included)
        fut = self._analysis.submit(job)
        self._pending.append(fut)
        return fut

    def side(self, job: Callable[[], Any]) -> Any:
        """Run ``job`` on the side lane; its future."""
        return self._side.submit(job)

    def abandon(self) -> None:
        """Drop the batches not started, wait for the one running; errors are swallowed (the
        file is being undone)."""
        self.aborting = True
        try:
            while self._pending:
                with suppress(BaseException):
                    self._pending.popleft().result()
        finally:
            self.aborting = False

    def close(self) -> None:
        self.abandon()
        self._analysis.shutdown(wait=True)
        self._side.shutdown(wait=True)


_DONE = object()


class _ReadAhead(Iterator[decode.SampledFrame]):
    """``source`` iterated on a worker thread of its own, at most ``depth`` items ahead, from the
    moment it is made (the next file's first frames are decoded while the current one is still
    being encoded); its errors are raised to the consumer. :meth:`close` stops the worker and
    waits for it (and is safe to call twice)."""

    def __init__(self, source: Iterator[decode.SampledFrame], depth: int) -> None:
        self._source = source
        self._q: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._work, name="lifelog-decode", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            for item in self._source:
                while not self._stop.is_set():
                    try:
                        self._q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    break
            self._q.put(_DONE)
        except BaseException as e:  # handed to the consumer
            self._q.put(e)
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> _ReadAhead:
        return self

    def __next__(self) -> decode.SampledFrame:
        if self._ended:
            raise StopIteration
        item = self._q.get()
        if item is _DONE:
            self.close()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item  # type: ignore[return-value]

    def close(self) -> None:
        self._ended = True
        self._stop.set()
        while self._thread.is_alive():
            with suppress(queue.Empty):
                self._q.get(timeout=0.05)
        self._thread.join()


@dataclass
class _Ready:
    """What :class:`_Ahead` made ready of a file before its turn: its kind and content hash, and
    for a video not yet in the memory its probe and its decoder, already reading ahead; for a
    photo its pixels. ``error``: what that raised (raised again when the file's turn comes, so
    it is reported as it would have been)."""

    path: Path
    kind: MediaKind | None = None
    mid: str | None = None
    info: decode.VideoInfo | None = None
    photo: decode.Photo | None = None
    frames: _ReadAhead | None = None
    stats: decode.DecodeStats = field(default_factory=decode.DecodeStats)
    error: BaseException | None = None

    def close(self) -> None:
        if self.frames is not None:
            self.frames.close()


class _Ahead:
    """The next file of an import made ready on a thread while the current one is imported
    (issue 21: many short clips): hashing, probing and opening a decoder cost about as much per
    file as a few seconds of footage, and the importing thread no longer waits for them. Nothing
    is written for it: its journal entry and everything else wait for its turn."""

    def __init__(self, path: Path, store: Store, settings: Settings, should_stop: Callable[[], bool]) -> None:
        self.ready = _Ready(path)
        self._store = store
        self._settings = settings
        self._should_stop = should_stop
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._work, name="lifelog-ahead", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        r = self.ready
        try:
            r.kind = check_importable(r.path)
            r.mid = content_hash(r.path, self._should_stop)
            if self._store.has_media(r.mid):
                return  # skipped at its turn: nothing to decode
            if r.kind == "video":
                r.info = decode.probe_video(r.path)
                if r.info.has_video and not self._should_stop():
                    cap = self._settings.capture
                    r.frames = _ReadAhead(
                        decode.sample_video(r.path, min_interval=cap.sample_interval_s, max_interval=cap.max_gap_s,
                                            stats=r.stats, should_stop=self._should_stop),
                        BATCH * 2,
                    )
            elif r.kind == "photo":
                r.photo = decode.load_photo(r.path)
        except BaseException as e:  # raised again at the file's turn
            r.error = e
        finally:
            self._done.set()

    def take(self) -> _Ready:
        self._thread.join()
        return self.ready

    def close(self) -> None:
        """Stop it (the file is not imported after all: a cancel, an error)."""
        self._thread.join()
        self.ready.close()


FACE_SURE = 0.8  # a detection this confident is a face (a cat's face scores ~0.5 and keeps its labels)
FACE_MIN_AREA = 0.02  # smaller faces cannot hold a label's evidence
FACE_LABEL_KEEP = 0.25  # a label keeping this share of its probability with the faces hidden was not in them


def quiet_face_labels(encoder: VisualEncoder, batch: VisualBatch, rgbs: Sequence[NDArray[Any]],
                      frame_ids: Sequence[str], faces: Sequence[dict[str, Any]]) -> None:
    """Label noise where a face was detected (issue 16): each frame of ``batch`` with a sure face
    is classified again with its faces covered (the frame's mean colour). A label that hiding the
    faces all but removes (to under :data:`FACE_LABEL_KEEP` of its probability) had its evidence
    in a face and keeps only what is left: a face taken for a "ping-pong ball" or a "bassoon"
    loses the label, a cup held beside the face or the seat belt across a driver's chest keeps it.
    A frame whose labels changed gets its text-comparable (ConSE) vector again from the labels it
    kept, the probability they lost going to the mean label vector ("nothing in particular"), so
    the bassoon is gone from meaning-based search too. Changes ``batch.labels`` and ``batch.semantic`` in place; the
    image features stay as they are (docs/recall.md, "Label noise")."""
    index = {fid: k for k, fid in enumerate(frame_ids)}
    boxes: dict[int, list[list[float]]] = {}
    for r in faces:
        k = index.get(str(r.get("frame_id")))
        box = r.get("box")
        if k is not None and box and (r.get("det_score") or 0.0) >= FACE_SURE and box[2] * box[3] >= FACE_MIN_AREA:
            boxes.setdefault(k, []).append(box)
    if not boxes:
        return
    covered = []
    for k, bs in boxes.items():
        rgb = np.array(rgbs[k], copy=True)
        h, w = rgb.shape[:2]
        fill = rgb.reshape(-1, rgb.shape[-1]).mean(axis=0).astype(rgb.dtype)
        for x, y, bw, bh in bs:
            rgb[max(0, int(y * h)):int((y + bh) * h) + 1, max(0, int(x * w)):int((x + bw) * w) + 1] = fill
        covered.append(rgb)
    hidden = encoder.encode(covered)
    index_of = {name: i for i, name in enumerate(encoder.label_names)}
    anything = encoder.label_vectors.mean(axis=0)
    anything = anything / max(float(np.linalg.norm(anything)), 1e-9)
    for j, k in enumerate(boxes):
        without = dict(hidden.labels[j])
        in_face = {lab for lab, p in batch.labels[k] if without.get(lab, 0.0) < FACE_LABEL_KEEP * p}
        if not in_face:
            continue
        kept = sorted(((lab, without.get(lab, 0.0) if lab in in_face else p) for lab, p in batch.labels[k]),
                      key=lambda x: -x[1])
        kept = [(lab, p) for lab, p in kept if lab not in in_face or p >= 0.01]
        batch.labels[k] = kept
        # The probability the face took with it goes to "nothing in particular" (the mean label
        # vector), not to what is left: a faint leftover must not become the frame's meaning.
        vec = anything * max(0.0, 1.0 - sum(p for _, p in kept))
        for lab, p in kept:
            vec = vec + p * encoder.label_vectors[index_of[lab]]
        batch.semantic[k] = vec / max(float(np.linalg.norm(vec)), 1e-9)


def _thumbnail(rgb: NDArray[Any]) -> bytes:
    im = Image.fromarray(rgb)
    w, h = im.size
    if w > THUMB_WIDTH:
        im = im.resize((THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), Image.Resampling.BILINEAR)
    buf = BytesIO()
    im.save(buf, format="JPEG", quality=60, optimize=True)  # 14 % smaller than 70, -0.9 dB (docs/storage.md)
    return buf.getvalue()


def _concat(batches: list[VisualBatch]) -> VisualBatch:
    return VisualBatch(
        features=np.concatenate([b.features for b in batches]),
        semantic=np.concatenate([b.semantic for b in batches]),
        labels=[lab for b in batches for lab in b.labels],
    )


def _aggregate_labels(per_frame: list[list[tuple[str, float]]], top: int = 8) -> tuple[list[str], list[float]]:
    acc: dict[str, float] = {}
    for labels in per_frame:
        for lab, p in labels:
            acc[lab] = acc.get(lab, 0.0) + p
    n = max(len(per_frame), 1)
    best = sorted(acc.items(), key=lambda kv: -kv[1])[:top]
    return [k for k, _ in best], [float(v / n) for _, v in best]


# The Ray import (lifelog.ingest.import_ray) makes the same thumbnails and episode labels with these.
thumbnail = _thumbnail
aggregate_labels = _aggregate_labels
