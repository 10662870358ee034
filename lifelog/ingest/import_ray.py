"""Bulk import of a folder tree on Ray: the visual half of :mod:`lifelog.ingest.pipeline`, with the
per-file work (hash, probe, keyframe decode, near-duplicate filter, classification and ConSE
vectors, thumbnails) spread over Ray actors. docs/scale.md, "Bulk import on Ray".

One Ray Data pipeline for the whole job:

1. **list and hash**: the media files of the tree (:func:`lifelog.ingest.media.walk`, the local
   import's rules) on the driver, each checked and hashed in Ray tasks (:func:`hash_files`);
   then, in the tree's order as locally, the first file of each content not yet in the memory
   goes on, the others are skipped (so a tree holding a file twice records the same copy as the
   local import), a file that cannot be read fails with the local import's reason;
2. **decode + encode** (workers): ``from_items(files)`` → ``map_batches(ImportActor,
   compute=ActorPoolStrategy(size=N))``. Each actor loads the visual encoder (the same ONNX
   models) once; per file it decodes the keyframes, drops near-duplicates and encodes the kept
   frames in the local import's batches, and makes the local import's thumbnails. A file that
   cannot be decoded fails alone, with the local import's reason in words;
3. **write** (driver): per file, under the memory's write lock, the local import's commit
   protocol — journal entry, encrypted thumbnails, rows frames → episodes → (places) → media,
   journal entry removed — with the same ids, so the tables hold what the local import of the
   same files would write. A file whose content arrived meanwhile (a copy in the tree, another
   import) is skipped at this point, so a batch retried by Ray (its actor was killed) is written
   once.

Resumable (a re-run skips the files already imported: the content hash, as locally),
cancellable between files (files written stay; a file is never half-written), one bulk import
per memory at a time (:class:`lifelog.store.joblock.JobBusy`).

**Local-only steps.** Faces, text in images (OCR) and image-text model vectors are analyzers of
the local import that need the vault (crops, encrypted text) or are not run here: the Ray import
writes frames without them (the result says so, :attr:`RayImportResult.local_only`). The image-
text vectors are added after by the re-index on Ray (:mod:`lifelog.api.scale`), speech by the
transcription that follows an import (``lifelog transcribe``), places, the graph and
descriptions by the steps :mod:`lifelog.api.scale` runs after the job.

The workers see pixels and thumbnails (plain JPEG) only in memory, never the vault's key; the
thumbnails are encrypted by the driver.

Ray is optional (``pip install 'lifelog[scale]'``): importing this module does not import Ray.
"""

from __future__ import annotations

import itertools
import os
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lifelog.config import Settings
from lifelog.ingest.episodes import CutParams, cut_episodes
from lifelog.ingest.peaks import peak_labels
from lifelog.ingest.pipeline import (
    ImportFailure,
    ImportProgress,
    ImportResult,
    aggregate_labels,
    remove_media_rows,
    rollback_unfinished,
    thumbnail,
    unfinished_imports,
)
from lifelog.ingest.reindex_ray import RayUnavailable, connect
from lifelog.store.db import JOURNAL_DIR, Store
from lifelog.store.joblock import job_lock
from lifelog.store.vault import Vault

__all__ = ["JOB_LOCK", "LOCAL_ONLY", "FileWork", "ImportActor", "RayImportResult", "RayUnavailable",
           "import_on_ray"]

JOB_LOCK = "import-ray"
ENCODE_BATCH = 16  # frames per encoder call: the local import's batch (same numbers)
# Files are committed in batches as the local import does (issue 21): the first file alone, then
# batches doubling up to COMMIT_FILES files, or COMMIT_FRAMES frames, or COMMIT_AFTER_S seconds.
COMMIT_FILES = 64
COMMIT_FRAMES = 2000
COMMIT_AFTER_S = 5.0
LOCAL_ONLY = ("faces", "text in images (OCR)", "image-text model vectors")

ProgressFn = Callable[[ImportProgress], None]


@dataclass
class RayImportResult(ImportResult):
    """An :class:`ImportResult` and what the Ray import left to local steps."""

    local_only: list[str] = field(default_factory=list)
    workers: int = 0
    image_text_vectors: int = 0  # frames given the active image-text model's vectors after the import

    def to_json(self) -> dict[str, Any]:
        doc = super().to_json()
        doc["engine"] = "ray"
        doc["local_only"] = self.local_only
        doc["image_text_vectors"] = self.image_text_vectors
        return doc


@dataclass
class FileWork:
    """What a worker hands back for one file (pickled): everything the driver writes."""

    path: str  # as given (the driver opens it again for the places step)
    shown: str  # display_path(path)
    media_id: str | None = None
    error: str | None = None
    kind: str = ""
    size: int = 0
    start: datetime | None = None
    time_source: str = ""
    duration: float = 0.0
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    has_audio: bool | None = None
    frames_decoded: int = 0
    offsets: list[float] = field(default_factory=list)
    features: NDArray[np.float32] | None = None
    semantic: NDArray[np.float32] | None = None
    labels: list[list[tuple[str, float]]] = field(default_factory=list)
    thumbs: list[bytes] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    model: str = ""
    pid: int = 0


@dataclass(frozen=True)
class CaptureParams:
    sample_interval_s: float
    max_gap_s: float
    duplicate_threshold: float


class ImportActor:
    """One Ray actor: loads the visual encoder once; each call does the per-file work of the
    files it is given (:func:`file_work`)."""

    def __init__(self, capture: CaptureParams) -> None:
        from lifelog.encoders import get_visual_encoder

        self.encoder = get_visual_encoder()
        self.capture = capture

    def __call__(self, batch: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        out = [pickle.dumps(file_work(Path(str(p)), str(m), self.encoder, self.capture))
               for p, m in zip(batch["path"], batch["mid"], strict=True)]
        return {"work": np.asarray(out, dtype=object)}


def hash_files(batch: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """Ray tasks, before the actors: each file checked (the local import's reasons) and hashed."""
    from lifelog.ingest.failures import os_reason, other_reason
    from lifelog.ingest.media import MediaError

    mids: list[str] = []
    errors: list[str] = []
    for p in batch["path"]:
        mid, err = "", ""
        try:
            mid = check_and_hash(Path(str(p)))
        except MediaError as e:
            err = str(e)
        except OSError as e:
            err = os_reason(e)
        except Exception as e:
            err = other_reason(e)
        mids.append(mid)
        errors.append(err)
    return {"path": batch["path"], "mid": np.asarray(mids, dtype=object), "error": np.asarray(errors, dtype=object)}


def check_and_hash(path: Path) -> str:
    """The content hash (the media id) of a file the local import would accept; :class:`MediaError`
    with the local import's reason otherwise."""
    from lifelog.ingest.media import check_importable, content_hash

    check_importable(path)
    return content_hash(path)


def file_work(path: Path, media_id: str, encoder: Any, cap: CaptureParams) -> FileWork:
    """The worker's part for one file (hashed before: ``media_id``); a file that cannot be read
    comes back with ``error``."""
    from lifelog.encoders.base import ModelMissingError
    from lifelog.ingest.failures import os_reason, other_reason
    from lifelog.ingest.media import MediaError, display_path

    w = FileWork(str(path), display_path(path), media_id=media_id, pid=os.getpid())
    try:
        _file_work(path, encoder, cap, w)
    except MediaError as e:
        w.error = str(e)
    except OSError as e:
        w.error = os_reason(e)
    except ModelMissingError:
        raise
    except Exception as e:  # a codec error: this file fails alone
        w.error = other_reason(e)
    if w.error is not None:
        w.features = w.semantic = None
        w.thumbs, w.labels, w.offsets = [], [], []
    return w


def _file_work(path: Path, encoder: Any, cap: CaptureParams, w: FileWork) -> None:
    from lifelog.ingest import decode
    from lifelog.ingest.episodes import DuplicateFilter
    from lifelog.ingest.media import MediaError, kind_of, mtime_of

    kind = kind_of(path)
    if kind is None:
        raise MediaError("unsupported file type (not a video, photo or audio file)")
    w.size = path.stat().st_size
    w.model = f"{encoder.name}@{encoder.version}"
    stats = decode.DecodeStats()
    rgbs: list[tuple[float, NDArray[Any]]] = []
    start: datetime | None = None
    if kind == "video":
        info = decode.probe_video(path)
        if not info.has_video:
            if not info.has_audio:
                raise MediaError("no video or audio stream in the file")
            kind = "audio"
        else:
            w.duration = info.duration_s
            start, w.time_source = (info.creation_time, "creation_time") if info.creation_time else (None, "mtime")
            if start is None:
                start = mtime_of(path) - timedelta(seconds=w.duration)
            w.width, w.height, w.codec, w.has_audio = info.width, info.height, info.codec, info.has_audio
    if kind == "audio":
        ainfo = decode.probe_audio(path)
        w.duration = ainfo.duration_s
        start, w.time_source = (ainfo.creation_time, "creation_time") if ainfo.creation_time else (None, "mtime")
        if start is None:
            start = mtime_of(path) - timedelta(seconds=w.duration)
        w.has_audio, w.codec = True, "audio"
    if kind == "photo":
        photo = decode.load_photo(path)
        start, w.time_source = (photo.taken, "exif") if photo.taken else (mtime_of(path), "mtime")
        rgbs.append((0.0, photo.rgb))
        w.width, w.height, w.codec, w.has_audio = photo.width, photo.height, "image", False
        stats.decoded = 1
    assert start is not None
    w.kind, w.start = kind, start
    feats: list[NDArray[Any]] = []
    sems: list[NDArray[Any]] = []
    pending: list[tuple[float, NDArray[Any]]] = []

    def flush() -> None:
        if not pending:
            return
        b = encoder.encode([rgb for _, rgb in pending])
        feats.append(b.features)
        sems.append(b.semantic)
        w.labels.extend(b.labels)
        w.thumbs.extend(thumbnail(rgb) for _, rgb in pending)
        w.offsets.extend(t for t, _ in pending)
        pending.clear()

    if kind == "video":
        dup = DuplicateFilter(cap.duplicate_threshold)
        for fr in decode.sample_video(path, min_interval=cap.sample_interval_s, max_interval=cap.max_gap_s,
                                      stats=stats):
            if dup.keep(fr.rgb, fr.offset_s):
                pending.append((fr.offset_s, fr.rgb))
                if len(pending) >= ENCODE_BATCH:
                    flush()
        if stats.decoded == 0:
            raise MediaError("no decodable video frames (corrupt, truncated or an unsupported codec)")
    else:
        pending.extend(rgbs)
    flush()
    w.warnings.extend(stats.warnings)
    if kind == "video" and w.offsets:
        w.duration = max(w.duration, w.offsets[-1])
    w.frames_decoded = stats.decoded
    if feats:
        w.features = np.concatenate(feats)
        w.semantic = np.concatenate(sems)


def import_on_ray(
    store: Store,
    vault: Vault,
    settings: Settings,
    paths: Sequence[Path],
    *,
    address: str | None = None,
    workers: int | None = None,
    device: str | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    actor_cls: type = ImportActor,
) -> RayImportResult:
    """Import the media files under ``paths`` with the per-file work on Ray (module docstring)."""
    from lifelog.ingest.media import display_path, walk
    from lifelog.store.blind_index import INDEX_KEY_BLOB
    from lifelog.store.lock import write_lock

    report = progress or (lambda p: None)
    with job_lock(store.data_dir, JOB_LOCK, "a bulk import on Ray"):
        ray = connect(address)
        n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        result = RayImportResult(local_only=list(LOCAL_ONLY), workers=n_workers)
        report(ImportProgress(0, 0, None, "scanning", 0.0))
        found = walk(list(paths))
        result.ignored = found.ignored
        for p, why in found.unreadable:
            result.failed.append(ImportFailure(str(p), why))
        with write_lock(store.data_dir):  # fail fast (WriteLockBusy) when a local import runs now
            unfinished = unfinished_imports(store.data_dir)
            result.rolled_back = [unfinished.get(m, m) for m in rollback_unfinished(store, vault)]
            vault.remove_orphan_temps(unlocked=(INDEX_KEY_BLOB,))
            store.refresh()
        known = set(store.rows("media", None, columns=["id"]).column("id").to_pylist()) if found.media else set()
        total = len(found.media)
        cap = settings.capture
        params = CaptureParams(cap.sample_interval_s, cap.max_gap_s, cap.duplicate_threshold)
        done = 0
        try:
            chosen: list[tuple[Path, str]] = []
            if found.media:
                # 1. hash (Ray tasks); then, in the tree's order as locally, the first file of each
                # content not yet in the memory is imported, the others are skipped
                hashed: dict[str, tuple[str, str]] = {}
                ds0 = ray.data.from_items([{"path": str(p)} for p in found.media],
                                          override_num_blocks=min(total, 4 * n_workers))
                for out in ds0.map_batches(hash_files, batch_size=8, num_cpus=1,
                                           batch_format="numpy").iter_batches(batch_size=None, batch_format="numpy"):
                    for p, m, err in zip(out["path"], out["mid"], out["error"], strict=True):
                        hashed[str(p)] = (str(m), str(err))
                    report(ImportProgress(len(hashed), total, None, "hashing", 0.05 * len(hashed) / total))
                    if cancel is not None and cancel.is_set():
                        result.cancelled = True
                        break
                taken: set[str] = set()
                for p in found.media if not result.cancelled else []:
                    m, err = hashed[str(p)]
                    if err:
                        result.failed.append(ImportFailure(display_path(p), err))
                        done += 1
                    elif m in known or m in taken:
                        result.skipped += 1
                        done += 1
                    else:
                        taken.add(m)
                        chosen.append((p, m))
            if chosen:
                # 2. decode + encode (actors), 3. write (here)
                ds = ray.data.from_items([{"path": str(p), "mid": m} for p, m in chosen],
                                         override_num_blocks=len(chosen))
                ds = ds.map_batches(
                    actor_cls, fn_constructor_kwargs={"capture": params},
                    batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(n_workers, len(chosen))),
                    num_cpus=1, batch_format="numpy",
                )  # Ray Data restarts a dead actor and retries its batch (max_restarts/max_task_retries -1)
                report(ImportProgress(done, total, None, "decoding", done / total))
                staged: list[FileWork] = []
                size, opened = 1, 0.0

                def commit() -> None:
                    nonlocal size
                    if staged:
                        report(ImportProgress(done, total, staged[-1].shown, "writing", done / total))
                        _commit(store, vault, settings, staged, device, result)
                        staged.clear()
                        size = min(size * 2, COMMIT_FILES)

                for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
                    for blob in out["work"]:
                        w: FileWork = pickle.loads(blob)  # our own workers' records
                        if not staged:
                            opened = time.monotonic()
                        staged.append(w)
                        done += 1
                        report(ImportProgress(done, total, w.shown, "encoding", done / total))
                    if (len(staged) >= size or sum(len(x.offsets) for x in staged) >= COMMIT_FRAMES
                            or time.monotonic() - opened >= COMMIT_AFTER_S):
                        commit()
                    if cancel is not None and cancel.is_set():
                        result.cancelled = True
                        break
                commit()  # files encoded before a cancel are whole: they are kept
        except Exception as e:
            store.raise_if_storage_failed(e)
            raise
        if result.imported:
            with write_lock(store.data_dir, wait=True):
                try:
                    from lifelog.store.tidy import after_import

                    store.ensure_indexes()
                    after_import(store)  # fold the rows into the indexes, merge fragments, drop old versions
                except Exception as e:  # an index is an optimisation: searches stay exact without it
                    result.warnings.append(ImportFailure(str(store.data_dir), f"index not updated: {e}"))
        report(ImportProgress(done, total, None, "done", 1.0 if not result.cancelled else done / max(total, 1)))
    return result


@dataclass
class _Rows:
    """One file's rows, made under the write lock (its journal entry and thumbnails written)."""

    w: FileWork
    journal: Path
    frames: list[dict[str, Any]]
    episodes: list[dict[str, Any]]
    geo: dict[str, Any] | None
    media: dict[str, Any]
    episode_ids: list[str]


def _commit(store: Store, vault: Vault, settings: Settings, batch: list[FileWork], device: str | None,
            result: RayImportResult) -> None:
    """Write a batch of files as the local import does (issue 21's batch commit): under the write
    lock, per file a journal entry and the encrypted thumbnails; then one append per table for
    the batch, frames → episodes → places → media (the media rows commit the files); then the
    journal entries go. A failed write undoes the batch (its files are reported failed); a kill
    leaves the journal entries and the next writer rolls the batch back."""
    from lifelog.ingest.failures import os_reason, other_reason
    from lifelog.store.files import atomic_write
    from lifelog.store.lock import write_lock

    todo: list[FileWork] = []
    for w in batch:
        if w.error is not None:
            result.failed.append(ImportFailure(w.shown, w.error))
        else:
            todo.append(w)
    if not todo:
        return
    with write_lock(store.data_dir, wait=True):
        store.refresh()
        staged: list[_Rows] = []
        seen: set[str] = set()
        try:
            for w in todo:
                assert w.media_id is not None
                if w.media_id in seen or store.has_media(w.media_id):  # a copy in the tree, another
                    result.skipped += 1  # import, a batch retried by Ray: written once
                    continue
                seen.add(w.media_id)
                journal = store.data_dir / JOURNAL_DIR / w.media_id
                atomic_write(journal, w.shown.encode())
                staged.append(_Rows(w, journal, [], [], None, {}, []))
                _make_rows(vault, settings, w, device, staged[-1], store,
                           [s.geo for s in staged[:-1] if s.geo is not None])
            store.add("frames", [r for s in staged for r in s.frames])
            store.add("episodes", [r for s in staged for r in s.episodes])
            store.add("media_geo", [s.geo for s in staged if s.geo is not None])
            store.add("media", [s.media for s in staged])
        except BaseException as e:
            for s in staged:
                try:  # undo now; if we cannot, the journal entries make the next writer do it
                    remove_media_rows(store, vault, s.w.media_id or "")
                    s.journal.unlink(missing_ok=True)
                except Exception:
                    pass
            if not isinstance(e, Exception):
                raise
            store.raise_if_storage_failed(e)
            why = os_reason(e) if isinstance(e, OSError) else other_reason(e)
            result.failed.extend(ImportFailure(s.w.shown, why) for s in staged)
            return
        for s in staged:
            s.journal.unlink(missing_ok=True)
            result.imported += 1
            result.episodes.extend(s.episode_ids)
            result.frames_decoded += s.w.frames_decoded
            result.frames_embedded += len(s.w.offsets)
            result.footage_s += s.w.duration
            for msg in s.w.warnings:
                result.warnings.append(ImportFailure(s.w.shown, msg))


def _make_rows(vault: Vault, settings: Settings, w: FileWork, device: str | None, out: _Rows, store: Store,
               pending_geo: Sequence[dict[str, Any]] = ()) -> None:
    """The rows of :meth:`lifelog.ingest.pipeline.Importer._encode_and_write`'s second half
    (thumbnails into the vault now; the rows into ``out``)."""
    from lifelog.ingest import geo
    from lifelog.ingest.media import display_path, local_tz

    assert w.media_id is not None and w.start is not None
    mid, kind = w.media_id, w.kind
    path = Path(w.path)
    start = w.start.astimezone(local_tz())
    tz_off = int((start.utcoffset() or timedelta()).total_seconds() // 60)
    kept_t = w.offsets
    media_row: dict[str, Any] = {
        "id": mid, "path": display_path(path.resolve()), "size": w.size, "device": device,
        "imported_at": datetime.now(UTC), "kind": kind, "time_source": w.time_source, "tz_offset_min": tz_off,
    }
    if w.width is not None:
        media_row.update(width=w.width, height=w.height)
    if w.codec is not None:
        media_row.update(codec=w.codec)
    if w.has_audio is not None:
        media_row.update(has_audio=w.has_audio)
    duration = w.duration
    model = w.model
    end_total = max(duration, (kept_t[-1] + 1.0) if kept_t else 1.0)
    if w.features is None or w.semantic is None or not kept_t:  # audio: one episode, no frames
        ep_id = f"{mid}-0000"
        out.episodes.append(_episode_row(vault, ep_id, mid, kind, start, start + timedelta(seconds=end_total),
                                         tz_off, [], [], [], None, model, peaks=([], [])))
        out.episode_ids.append(ep_id)
    else:
        e = settings.episodes
        starts = cut_episodes(kept_t, w.features, CutParams(gap_s=e.gap_s, scene_threshold=e.scene_threshold,
                                                           min_episode_s=e.min_episode_s))
        bounds = [*starts, len(kept_t)]
        for k, (a, b) in enumerate(itertools.pairwise(bounds)):
            ep_id = f"{mid}-{k:04d}"
            ep_start = start + timedelta(seconds=kept_t[a] if k > 0 else 0.0)
            ep_end = start + timedelta(seconds=kept_t[b] if b < len(kept_t) else end_total)
            for j in range(a, b):
                fid = f"{mid}-{j:05d}"
                vault.put(fid, w.thumbs[j])
                out.frames.append({
                    "id": fid, "episode_id": ep_id, "media_id": mid, "t": start + timedelta(seconds=kept_t[j]),
                    "offset_s": kept_t[j], "tz_offset_min": tz_off, "semantic": w.semantic[j].tolist(),
                    "features": None,  # used for cutting only, never read back: not stored (as locally)
                    "labels": [lab for lab, _ in w.labels[j]], "label_scores": [float(s) for _, s in w.labels[j]],
                    "thumb_id": fid, "model": model,
                })
            picks = sorted({a, (a + b - 1) // 2, b - 1})
            labels, scores = aggregate_labels(w.labels[a:b])
            peaks = peak_labels(([lab for lab, _ in ls], [s for _, s in ls]) for ls in w.labels[a:b])
            sem = w.semantic[a:b].mean(axis=0)
            sem = sem / (np.linalg.norm(sem) + 1e-9)
            out.episodes.append(_episode_row(vault, ep_id, mid, kind, ep_start, ep_end, tz_off,
                                             [f"{mid}-{j:05d}" for j in picks], labels, scores, sem, model,
                                             n_frames=b - a, peaks=peaks))
            out.episode_ids.append(ep_id)
    media_row.update(capture_start=start, capture_end=start + timedelta(seconds=end_total), duration_s=duration,
                     frames_decoded=w.frames_decoded, frames_kept=len(kept_t), warnings=w.warnings)
    out.geo, geo_dropped = geo.media_geo_row(store, vault, path, kind, mid, start, device, pending_geo)
    if geo_dropped:
        w.warnings.append(geo_dropped)  # the media row's list too, as locally
    out.media = media_row


def _episode_row(vault: Vault, ep_id: str, mid: str, kind: str, start: datetime, end: datetime, tz_off: int,
                 thumb_ids: list[str], labels: list[str], scores: list[float], semantic: NDArray[Any] | None,
                 model: str, n_frames: int = 0, *, peaks: tuple[list[str], list[float]]) -> dict[str, Any]:
    what = ", ".join(labels[:3]) if labels else ("audio recording" if kind == "audio" else "")
    summary = kind.capitalize() + (f": {what}" if what else "")
    return {
        "id": ep_id, "media_id": mid, "kind": kind, "start": start, "end": end, "tz_offset_min": tz_off,
        "n_frames": n_frames, "thumb_ids": thumb_ids, "labels": labels, "label_scores": scores,
        "summary_enc": vault.encrypt_text(summary, f"summary:{ep_id}"),
        "semantic": semantic.astype(np.float32).tolist() if semantic is not None else None, "model": model,
        "peak_labels": peaks[0], "peak_scores": peaks[1],
    }
