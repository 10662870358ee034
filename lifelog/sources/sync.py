"""Take what is new from a device: list → partial download → verify → import → ledger.

For every item a source lists:

1. refuse it when its name or declared size cannot be right (:func:`~lifelog.sources.base.check_item`);
2. skip it when the device's ledger already has it (same remote id, size and mtime);
3. download it into ``<data>/devices/<id>/partial/…part`` — resuming from the partial's size
   after an unplug, a lost connection or a crash; transient errors are retried with backoff;
4. verify the size (and the SHA-256 when the device offers one); a device sending more bytes
   than it declared is refused and its partial thrown away;
5. move the verified file to ``<data>/originals/<id>/<name>`` (its mtime set to the device's);
6. hand it to the :class:`~lifelog.sources.base.ImportTarget`'s ``import_paths([...], device=id)``
   and only then record it in the ledger;
7. keep it encrypted at rest (``ImportTarget.keep_original``: ``<name>.lgo``, the plaintext
   shredded), so the app can play the clip later and a new image-text model can re-index it
   (``keep_originals=False`` deletes it after import instead). The media row and the ledger keep
   the path ``…/<name>``; :func:`lifelog.store.originals.kept_copy` finds the encrypted copy.

A crash anywhere leaves either a partial file (resumed next time), or a verified original that
is not yet in the ledger (imported next time without downloading again; the pipeline's own
journal rolls back a half-written import), or an imported one not yet encrypted (encrypted when
the memory is next opened). The device is only ever read.

**Capture paused** (:mod:`lifelog.sources.capture`, checked before listing, before each item and
every chunk, so within about a second): nothing new is taken. An item mid-download stops at the
next chunk and its bytes stay as a partial (the sync after resume continues from there); a
verified item is never imported while paused — its copy waits in ``originals/`` and the next
sync imports it without downloading again. The result says ``paused``; ``sync --watch`` syncs
the volumes it met while paused as soon as capture resumes.

**Private mode** (the settings' ``privacy`` rules, through the same check): during quiet hours
the sync is paused as above (``paused_reason`` says "private mode (quiet hours until 07:00)");
a device in ``excluded_devices`` is never taken from (``excluded``; ``sync --watch`` leaves its
volumes alone). An item whose capture time (read as the importer reads it) lies in a quiet-hours
window is downloaded and verified but not imported: its copy is deleted and the ledger records
it ``skipped-by-rule`` so it is not taken again (``skipped_by_rule`` lists it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lifelog.sources.base import (
    DeviceGone,
    ImportTarget,
    MediaItem,
    RefusedItem,
    Source,
    SourceError,
    check_item,
    local_path,
)
from lifelog.sources.capture import CHECK_INTERVAL_S, CaptureWatch
from lifelog.sources.ledger import Ledger
from lifelog.store.files import shred_file
from lifelog.store.lock import WriteLockBusy, WriterWaitCancelled, when_writer_free, write_lock
from lifelog.store.originals import kept_copy
from lifelog.store.vault import TEMP_PREFIX

if TYPE_CHECKING:
    from lifelog.ingest.pipeline import ImportResult
    from lifelog.sources.registry import PairedDevice

CHUNK = 1 << 20
log = logging.getLogger("lifelog.sync")


class SyncCancelled(Exception):
    pass


class SyncPaused(Exception):
    """Capture was paused (:mod:`lifelog.sources.capture`): nothing more is taken."""


class _ItemFailed(Exception):
    def __init__(self, reason: str, *, keep_partial: bool = False) -> None:
        super().__init__(reason)
        self.keep_partial = keep_partial


SyncStage = Literal["listing", "downloading", "verifying", "importing", "done"]


@dataclass(frozen=True)
class SyncProgress:
    """Progress as plain data (the CLI prints it, the app shows it)."""

    device_id: str
    stage: SyncStage
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    current: str | None

    @property
    def fraction(self) -> float:
        if self.stage == "done":
            return 1.0
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        return self.files_done / self.files_total if self.files_total else 0.0


@dataclass(frozen=True)
class ItemProblem:
    name: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


@dataclass
class SyncOptions:
    keep_originals: bool = True  # keep the verified copy under <data>/originals/<device>/
    retries: int = 3  # attempts without progress before an item is given up (for this sync)
    backoff_s: float = 0.5  # doubled after each attempt without progress
    delete_after: bool = False  # delete from the device after a verified copy was imported
    min_free_bytes: int = 256 * 1024**2  # keep this much free on the data dir's disk


@dataclass
class SyncResult:
    device_id: str
    label: str = ""
    listed: int = 0
    new: int = 0
    already_taken: int = 0  # in the ledger
    imported: int = 0
    skipped: int = 0  # downloaded but the same content was already in memory
    failed: list[ItemProblem] = field(default_factory=list)  # will be tried again next sync
    refused: list[ItemProblem] = field(default_factory=list)  # never taken (hostile or impossible)
    not_media: list[ItemProblem] = field(default_factory=list)  # taken but the import refused it
    bytes_downloaded: int = 0
    resumed: int = 0  # items continued from an earlier partial
    deleted: int = 0
    not_deleted: list[ItemProblem] = field(default_factory=list)
    episodes: list[str] = field(default_factory=list)
    cancelled: bool = False
    error: str | None = None  # the device could not be listed at all
    paused: bool = False  # capture was paused (before or during this sync): the rest waits for resume
    paused_reason: str | None = None  # "capture is paused until 22:30", "private mode (quiet hours until 07:00)"
    excluded: bool = False  # the device is in the privacy settings' excluded_devices: nothing is taken
    skipped_by_rule: list[ItemProblem] = field(default_factory=list)  # recorded during quiet hours

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled and self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device_id,
            "label": self.label,
            "listed": self.listed,
            "new": self.new,
            "already_taken": self.already_taken,
            "imported": self.imported,
            "skipped": self.skipped,
            "failed": [p.to_json() for p in self.failed],
            "refused": [p.to_json() for p in self.refused],
            "not_media": [p.to_json() for p in self.not_media],
            "bytes_downloaded": self.bytes_downloaded,
            "resumed": self.resumed,
            "deleted": self.deleted,
            "not_deleted": [p.to_json() for p in self.not_deleted],
            "episodes": self.episodes,
            "cancelled": self.cancelled,
            "error": self.error,
            "paused": self.paused,
            "paused_reason": self.paused_reason,
            "excluded": self.excluded,
            "skipped_by_rule": [p.to_json() for p in self.skipped_by_rule],
        }


def originals_dir(data_dir: Path, device_id: str) -> Path:
    return Path(data_dir) / "originals" / device_id


def sync_source(
    memory: ImportTarget,
    source: Source,
    *,
    options: SyncOptions | None = None,
    progress: Callable[[SyncProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> SyncResult:
    """Take every new item of ``source`` into ``memory``; see the module docstring."""
    opts = options or SyncOptions()
    cancel = cancel or threading.Event()
    ident = source.identity()
    res = SyncResult(ident.id, ident.label)
    ledger = Ledger(memory.data_dir, ident.id)
    with _device_lock(ledger.dir) as locked:
        if not locked:
            res.error = "another sync of this device is running (lifelog sync or the app); try again later"
            return res
        _remove_orphan_temps(memory.data_dir, ledger.dir, ident.id)
        return _sync_locked(memory, source, ledger, res, opts, progress, cancel)


def _remove_orphan_temps(data_dir: Path, device_dir: Path, device_id: str) -> int:
    """Delete the temporary files (``.tmp-*``) killed writes left for this device: in its folder
    (the ledger and the partial downloads' notes, rewritten atomically) and in its kept originals
    (an encrypted copy cut short: ``keep_original`` writes a temp and renames it). Called with
    this device's sync lock held (no sync of it is writing); the originals only with the memory's
    write lock too (the memory's own encryption of plaintext originals is not running), else
    left for next time. The number deleted."""

    def sweep(root: Path) -> int:
        n = 0
        if not root.is_dir() or root.is_symlink():
            return n
        for tmp in root.rglob(f"{TEMP_PREFIX}*"):
            try:
                if tmp.is_file() and not tmp.is_symlink():
                    shred_file(tmp)
                    n += 1
            except OSError:
                continue
        return n

    removed = sweep(device_dir)
    try:
        with write_lock(data_dir):
            removed += sweep(originals_dir(data_dir, device_id))
    except WriteLockBusy:
        pass
    if removed:
        log.info("removed %d unfinished temporary file(s) of device %s", removed, device_id)
    return removed


@contextlib.contextmanager
def _device_lock(device_dir: Path) -> Iterator[bool]:
    """One sync per device at a time (two would append to the same partial file)."""
    device_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(device_dir / "sync.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _sync_locked(
    memory: ImportTarget,
    source: Source,
    ledger: Ledger,
    res: SyncResult,
    opts: SyncOptions,
    progress: Callable[[SyncProgress], None] | None,
    cancel: threading.Event,
) -> SyncResult:
    ident = source.identity()
    report = progress or (lambda p: None)
    capture = CaptureWatch(memory.data_dir)
    st = capture.state(device=ident.id)
    if st.paused:
        if st.rule == "excluded_device":
            res.excluded = True
        else:
            res.paused = True
        res.paused_reason = st.message()
        return res
    report(SyncProgress(ident.id, "listing", 0, 0, 0, 0, None))
    try:
        listed = list(source.list_media())
    except (SourceError, OSError) as e:
        res.error = f"cannot list the device's media: {e}"
        return res
    res.listed = len(listed)

    todo: list[MediaItem] = []
    seen: set[str] = set()
    for item in listed:
        try:
            check_item(item)
            if item.remote_id in seen:
                raise RefusedItem("listed twice by the device")
        except RefusedItem as e:
            res.refused.append(ItemProblem(_printable(item.name), str(e)))
            continue
        seen.add(item.remote_id)
        if ledger.is_taken(item):
            res.already_taken += 1
        else:
            todo.append(item)
    todo.sort(key=lambda i: (i.mtime, i.name))
    res.new = len(todo)
    total_bytes = sum(i.size for i in todo)
    done_bytes = 0

    for n, item in enumerate(todo):
        if cancel.is_set():
            res.cancelled = True
            break
        if capture.paused(ident.id):
            res.paused = True
            res.paused_reason = capture.state(device=ident.id).message()
            break
        base_done = done_bytes

        def on_bytes(k: int, n: int = n, base_done: int = base_done, name: str = item.name) -> None:
            report(SyncProgress(ident.id, "downloading", n, len(todo), base_done + k, total_bytes, name))

        try:
            _take(memory, source, ledger, item, opts, res, cancel, on_bytes, report, n, len(todo),
                  lambda: capture.paused(ident.id))
        except SyncCancelled:
            res.cancelled = True
            break
        except SyncPaused:
            res.paused = True
            res.paused_reason = capture.state(device=ident.id).message()
            break
        except _ItemFailed as e:
            res.failed.append(ItemProblem(item.name, str(e)))
        done_bytes += item.size
    report(SyncProgress(ident.id, "done", len(todo), len(todo), done_bytes, total_bytes, None))
    return res


def _take(
    memory: ImportTarget,
    source: Source,
    ledger: Ledger,
    item: MediaItem,
    opts: SyncOptions,
    res: SyncResult,
    cancel: threading.Event,
    on_bytes: Callable[[int], None],
    report: Callable[[SyncProgress], None],
    n: int,
    total: int,
    paused: Callable[[], bool] = lambda: False,
) -> None:
    dev = ledger.dir.name
    dest = _destination(memory.data_dir, dev, item, opts, ledger)
    if not _reusable(dest, item):
        part = ledger.open_partial(item)
        _download(source, item, part, opts, res, cancel, on_bytes, memory.data_dir, paused)
        report(SyncProgress(dev, "verifying", n, total, 0, 0, item.name))
        _verify(part, item, ledger)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, dest)
        os.utime(dest, (item.mtime, item.mtime))  # the capture-time fallback for files without metadata
        ledger.drop_partial(item)
    elif item.sha256 is not None:
        _verify(dest, item, ledger)
    else:
        on_bytes(item.size)

    if paused():  # never imported while paused: the verified copy waits in originals/ for the next sync
        raise SyncPaused
    from lifelog.ingest.decode import capture_time
    from lifelog.ingest.media import content_hash
    from lifelog.sources.capture import recorded_in_quiet_hours

    when = capture_time(dest)
    why = recorded_in_quiet_hours(memory.data_dir, when) if when is not None else None
    if why is not None:  # recorded during quiet hours: never imported, never taken again
        ledger.record(item, content_hash(dest), "skipped-by-rule", why)
        dest.unlink(missing_ok=True)
        res.skipped_by_rule.append(ItemProblem(item.name, why))
        return
    report(SyncProgress(dev, "importing", n, total, 0, 0, item.name))
    result = import_when_free(memory, [dest], cancel=cancel, device=dev)
    if result.cancelled:
        raise SyncCancelled

    if result.failed:
        reason = result.failed[0].error
        ledger.record(item, content_hash(dest), "failed", reason)
        dest.unlink(missing_ok=True)
        res.not_media.append(ItemProblem(item.name, reason))
        return
    mid = content_hash(dest)
    res.episodes += result.episodes
    if result.imported:
        res.imported += 1
        keep = opts.keep_originals
        ledger.record(item, mid, "imported", path=dest if keep else None)
        if keep:
            try:
                memory.keep_original(dest)
            except (OSError, ValueError) as e:  # the next open of the memory encrypts it
                log.warning("could not encrypt the kept original %s yet: %s", dest, e)
    else:
        res.skipped += 1
        keep = False  # the memory already holds this content from elsewhere
        ledger.record(item, mid, "skipped", "the same content was already in memory")
    if not keep:
        dest.unlink(missing_ok=True)
    if opts.delete_after:
        deleter = getattr(source, "delete", None)
        if deleter is None:
            res.not_deleted.append(ItemProblem(item.name, "this kind of device cannot delete files"))
            return
        try:
            deleter(item)
            res.deleted += 1
        except (SourceError, OSError) as e:
            res.not_deleted.append(ItemProblem(item.name, str(e)))


def _destination(data_dir: Path, dev: str, item: MediaItem, opts: SyncOptions, ledger: Ledger) -> Path:
    if not opts.keep_originals:
        part = ledger.partial_path(item)
        return part.with_name(part.name.removesuffix(".part"))
    dest = local_path(originals_dir(data_dir, dev), item.name)
    old = ledger.get(item.remote_id)
    if old is not None and old.path and Path(old.path) == dest and kept_copy(data_dir, dest) is not None:
        # Another version of this name was taken before: keep both originals.
        stem, dot, ext = dest.name.rpartition(".")
        dest = dest.with_name(f"{stem}.{int(item.mtime)}-{item.size}{dot}{ext}")
    return dest


def _reusable(dest: Path, item: MediaItem) -> bool:
    """A verified copy left by a sync that stopped before its import finished."""
    try:
        st = dest.stat()
    except OSError:
        return False
    return st.st_size == item.size and abs(st.st_mtime - item.mtime) <= 1.0


def _download(
    source: Source,
    item: MediaItem,
    part: Path,
    opts: SyncOptions,
    res: SyncResult,
    cancel: threading.Event,
    on_bytes: Callable[[int], None],
    data_dir: Path,
    paused: Callable[[], bool] = lambda: False,
) -> None:
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if have:
        res.resumed += 1
    need = item.size - have + opts.min_free_bytes
    free = shutil.disk_usage(part.parent).free
    if free < need:
        raise _ItemFailed(f"not enough free space in {data_dir} ({free // 2**20} MiB free, {need // 2**20} MiB needed)")
    stalls = 0
    attempts = 0
    delay = opts.backoff_s
    last: Exception | None = None
    while have < item.size:
        if cancel.is_set():
            raise SyncCancelled
        before = have
        attempts += 1
        try:
            with source.open(item, have) as stream, open(part, "ab") as out:
                while True:
                    if cancel.is_set():
                        out.flush()
                        raise SyncCancelled
                    if paused():  # stopped within a chunk; the bytes so far stay as a partial
                        out.flush()
                        os.fsync(out.fileno())
                        raise SyncPaused
                    try:
                        chunk = stream.read(CHUNK)
                    except OSError as e:  # an unplugged volume answers reads with EIO
                        raise DeviceGone(f"read failed: {e.strerror or e}") from e
                    if not chunk:
                        break
                    if have + len(chunk) > item.size:
                        raise _ItemFailed(
                            f"the device sent more bytes than it declared ({item.size}); the copy was discarded"
                        )
                    out.write(chunk)
                    have += len(chunk)
                    res.bytes_downloaded += len(chunk)
                    on_bytes(have)
                out.flush()
                os.fsync(out.fileno())
        except _ItemFailed:
            part.unlink(missing_ok=True)
            raise
        except (SourceError, OSError) as e:
            last = e
        if have >= item.size:
            break
        stalls = 0 if have > before else stalls + 1
        if stalls >= opts.retries or attempts >= 8 * max(1, opts.retries) or isinstance(last, RefusedItem):
            why = f": {last}" if last else " (the stream ended early)"
            raise _ItemFailed(
                f"incomplete: got {have} of {item.size} bytes{why}; the next sync resumes from there",
                keep_partial=True,
            )
        if cancel.wait(delay if have == before else 0):
            raise SyncCancelled
        delay = delay * 2 if have == before else opts.backoff_s


def _verify(path: Path, item: MediaItem, ledger: Ledger) -> None:
    size = path.stat().st_size
    if size != item.size:
        raise _ItemFailed(f"size mismatch after download: {size} bytes, the device declared {item.size}")
    if item.sha256 is None:
        return
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    if h.hexdigest() != item.sha256:
        path.unlink(missing_ok=True)
        ledger.drop_partial(item)
        raise _ItemFailed("checksum mismatch (the copy is corrupt); it will be downloaded again next sync")


def _printable(name: object) -> str:
    s = repr(name) if not isinstance(name, str) else name
    s = "".join(c if c.isprintable() else "?" for c in s)
    return s if len(s) <= 120 else s[:117] + "…"


def import_when_free(
    memory: ImportTarget,
    files: list[Path],
    *,
    cancel: threading.Event,
    device: str,
    poll_s: float = 2.0,
    give_up_s: float = 3600.0,
) -> ImportResult:
    """``memory.import_paths`` that waits while another import holds the memory's write lock.

    A device sync or a webcam segment is background work: when the user is importing something
    else at the same moment it waits its turn (cancellable) instead of failing the item.
    """
    try:
        return when_writer_free(
            lambda: memory.import_paths(files, cancel=cancel, device=device),
            cancel,
            poll_s=poll_s,
            give_up_s=give_up_s,
        )
    except WriterWaitCancelled:
        raise SyncCancelled from None


def wait_seconds(seconds: float, cancel: threading.Event) -> bool:
    """Sleep, waking early (returning True) when ``cancel`` is set."""
    deadline = time.monotonic() + seconds
    while not cancel.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        cancel.wait(min(left, 0.5))
    return True


# ------------------------------------------------------------------ paired devices
def source_for(dev: PairedDevice, roots: Sequence[Path] | None = None) -> Source | None:
    """A source for a paired device, or None when it is not reachable now (volume not mounted)."""
    if dev.kind == "usb":
        from lifelog.sources.dcf import DcfVolumeSource, iter_identified

        for vol, ident in iter_identified(roots):
            if ident.id == dev.id:
                return DcfVolumeSource(vol.path, ident)
        return None
    if dev.kind == "gopro":
        from lifelog.sources.gopro import GoProSource

        return GoProSource(dev.details["url"], device_id=dev.id, label=dev.label)
    if dev.kind == "folder":
        from lifelog.sources.base import FolderSource

        root = Path(dev.details["path"])
        return FolderSource(root, device_id=dev.id, label=dev.label) if root.is_dir() else None
    return None


def watch_paired(
    memory: ImportTarget,
    cancel: threading.Event,
    *,
    roots: Sequence[Path] | None = None,
    interval_s: float = 2.0,
    options: SyncOptions | None = None,
    on_result: Callable[[SyncResult], None] | None = None,
    progress: Callable[[SyncProgress], None] | None = None,
) -> None:
    """Sync every paired USB volume as it is mounted, until ``cancel`` is set (``sync --watch``)."""
    from lifelog.sources import registry
    from lifelog.sources.dcf import DcfVolumeSource, Volume, find_volumes, identify_volume

    def on_volume(vol: Volume) -> bool:
        """Sync one volume; False when capture was paused before it finished (try again later)."""
        try:
            ident = identify_volume(vol.path)
        except SourceError:
            return True
        dev = registry.get(memory.data_dir, ident.id)
        if dev is None or dev.kind != "usb":
            return True
        res = sync_source(memory, DcfVolumeSource(vol.path, ident), options=options, progress=progress, cancel=cancel)
        if res.excluded:  # an excluded device's volume is left alone (not waited for)
            return True
        if on_result is not None and (res.imported or res.failed or res.refused or res.skipped or not res.paused):
            on_result(res)
        return not res.paused

    # As dcf.watch_volumes (every volume that appears, once), but obeying the capture pause: a
    # volume met (or cut short) while capture is paused is synced once capture resumes.
    capture = CaptureWatch(memory.data_dir)
    present: set[tuple[str, tuple[int, int]]] = set()
    waiting: set[tuple[str, tuple[int, int]]] = set()
    while not cancel.is_set():
        now = {(str(v.path), v.key): v for v in find_volumes(roots)}
        waiting &= set(now)
        for k, v in now.items():
            if (k in present and k not in waiting) or cancel.is_set():
                continue
            if capture.paused() or not on_volume(v):
                waiting.add(k)
            else:
                waiting.discard(k)
        present = set(now)
        cancel.wait(min(interval_s, CHECK_INTERVAL_S) if waiting else interval_s)


def pull(
    source: Source,
    item: MediaItem,
    part: Path,
    *,
    options: SyncOptions | None = None,
    cancel: threading.Event | None = None,
) -> SyncResult:
    """Download (or resume) ``item`` into ``part`` and verify it — no import, no ledger.

    The transfer step of :func:`sync_source` on its own, for benchmarks and tools. Raises
    :class:`PullFailed` (with the reason) when the item cannot be completed.
    """
    res = SyncResult(source.identity().id)
    opts = options or SyncOptions(min_free_bytes=0)
    try:
        check_item(item)
        _download(source, item, part, opts, res, cancel or threading.Event(), lambda n: None, part.parent)
        size = part.stat().st_size
        if size != item.size:
            raise _ItemFailed(f"size mismatch after download: {size} bytes, the device declared {item.size}")
    except (_ItemFailed, RefusedItem) as e:
        raise PullFailed(str(e)) from e
    return res


class PullFailed(Exception):
    pass
