"""Transcription beside the import: speech of the files already imported is transcribed on a
background thread while the visual import of the next file goes on (issue #21).

The import holds the memory's write lock from its first file to its last, and the steps after
it (people, places, the graph, descriptions) take it again briefly. So the worker splits the
job in two (:func:`lifelog.speech.job.prepare_media`, :func:`~lifelog.speech.job.write_prepared`):

* **while the import runs** it only *prepares*: it looks for imported media with audio and no
  transcript (:func:`lifelog.speech.store.pending_media`, through its own :class:`Store`, so it
  never shares table handles with the importer's thread), skips those whose import is still
  journalled as unfinished, and decodes, detects speech, transcribes and embeds them — no lock,
  no table written;
* **at** :meth:`SpeechWorker.finish` (after the import returned) it prepares whatever is still
  pending and writes every prepared transcript under the write lock, waiting for it, exactly
  as ``lifelog transcribe`` would. A media whose import was rolled back meanwhile gets nothing.

Crash guarantees are those of the job: nothing is written before ``finish``, so a process
killed while the worker transcribes leaves those media without a transcript row — pending —
and the next ``lifelog import`` or ``lifelog transcribe`` transcribes them again. A killed
write is rolled back from its journal entry (``journal-speech/``) and pending again too.

On a machine with fewer than :data:`BESIDE_MIN_CPUS` CPUs the worker prepares nothing during
the import (the import's own lanes already keep two cores busy: measured, the overlap only
cost CPU there) and does it all at :meth:`SpeechWorker.finish` — the sequential order, with the
same progress, cancel and writes. ``beside=True`` forces the overlap.

The caller tells the worker when a file may have been committed (:meth:`SpeechWorker.notify`,
e.g. from the import's progress callback whenever a file is done); it also looks by itself
every ``poll_s`` seconds. A missing speech model stops the worker and is raised by
:meth:`~SpeechWorker.finish`, as :func:`~lifelog.speech.job.transcribe_pending` raises it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from lifelog.config import SpeechSettings
from lifelog.speech.job import (
    PreparedTranscript,
    SpeechCancelled,
    SpeechProgress,
    SpeechResult,
    prepare_pending,
    write_pending,
)
from lifelog.speech.transcribe import Transcriber
from lifelog.store.db import Store
from lifelog.store.vault import Vault

CANCEL_CHECK_S = 0.1  # how soon an idle worker sees a cancel
# Speech is prepared *during* the import only with at least this many CPUs: on two, the import's
# own lanes keep both busy and the speech beside them only contends (bench/cancel.py measured
# the same wall time or worse and 15-20 % more CPU); the worker then prepares at finish(), which
# is the sequential order (docs/speech.md, "Beside the import").
BESIDE_MIN_CPUS = 3


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def overlap_pays() -> bool:
    """Whether preparing speech during the import is worth it on this machine."""
    return usable_cpus() >= BESIDE_MIN_CPUS


class SpeechWorker:
    """Prepares transcripts on a background thread while an import runs; writes them at
    :meth:`finish`. Use once: ``start()``, ``notify()`` as files are committed, ``finish()``."""

    def __init__(
        self,
        store: Store,
        vault: Vault,
        settings: SpeechSettings | None = None,
        *,
        progress: Callable[[SpeechProgress], None] | None = None,
        cancel: threading.Event | None = None,
        transcriber: Transcriber | None = None,
        poll_s: float = 2.0,
        beside: bool | None = None,
    ) -> None:
        #: prepare while the import runs (None: when :func:`overlap_pays`); else all at finish()
        self.beside = overlap_pays() if beside is None else beside
        # its own view of the tables: the importer's thread writes through the caller's Store
        self.store = Store(store.data_dir, store.location)
        self.vault = vault
        self.settings = settings
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.transcriber = transcriber
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: set[str] = set()
        self._prepared: list[PreparedTranscript | SpeechResult] = []
        self._error: BaseException | None = None
        #: media prepared while the import was still running (what the overlap gained)
        self.prepared_during_import = 0

    # ------------------------------------------------------------------ the caller's side
    def start(self) -> SpeechWorker:
        if self._thread is not None:
            raise RuntimeError("the speech worker was started already")
        self._thread = threading.Thread(target=self._run, name="lifelog-speech", daemon=True)
        self._thread.start()
        return self

    def notify(self) -> None:
        """A file may have been committed: look for pending media now."""
        self._wake.set()

    def finish(self) -> list[SpeechResult]:
        """The import is over: prepare what is still pending, write everything (waiting for the
        write lock) and return one result per media, in the order they were prepared. Raises
        what stopped the worker (a missing model); after a cancel, writes what was prepared."""
        self._stop_thread()
        if self._error is not None:
            raise self._error
        if not self.cancel.is_set():
            self._prepare_pending()  # what the import committed last, and earlier imports' leftovers
            if self._error is not None:
                raise self._error
        results: list[SpeechResult] = []
        disk_full: str | None = None
        for prep in self._prepared:
            if disk_full is not None and isinstance(prep, PreparedTranscript):
                results.append(SpeechResult(prep.media_id, "failed", error=disk_full, path=prep.result.path))
                continue
            res, full = write_pending(self.store, self.vault, prep)
            disk_full = disk_full or full
            results.append(res)
        self._prepared = []
        return results

    def abandon(self) -> None:
        """Stop without writing anything (the import failed; what was prepared stays pending)."""
        self.cancel.set()
        self._stop_thread()
        self._prepared = []

    # ------------------------------------------------------------------ the worker's side
    def _stop_thread(self) -> None:
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        if not self.beside:
            return  # everything is prepared at finish(), after the import
        while not self._closing.is_set() and not self.cancel.is_set() and self._error is None:
            self._idle()
            self._wake.clear()
            if self._closing.is_set() or self.cancel.is_set():
                break
            n = len(self._prepared)
            self._prepare_pending(skip_unfinished=True)
            self.prepared_during_import += len(self._prepared) - n

    def _idle(self) -> None:
        """Wait for :meth:`notify` or ``poll_s``, seeing a cancel within :data:`CANCEL_CHECK_S`
        (the cancel event is the caller's: it cannot wake this thread)."""
        until = time.monotonic() + self.poll_s
        while not self._wake.wait(min(CANCEL_CHECK_S, max(until - time.monotonic(), 0.0))):
            if self.cancel.is_set() or time.monotonic() >= until:
                return

    def _prepare_pending(self, skip_unfinished: bool = False) -> None:
        from lifelog.ingest.pipeline import unfinished_imports
        from lifelog.speech.store import pending_media

        try:
            self.store.refresh()
            busy = set(unfinished_imports(self.store.data_dir)) if skip_unfinished else set()
            for m in pending_media(self.store):
                if m["id"] in self._seen or m["id"] in busy:
                    continue
                if self.cancel.is_set() or (skip_unfinished and self._closing.is_set()):
                    return  # finish() takes over from here, on the caller's thread
                self._seen.add(m["id"])
                self._prepared.append(prepare_pending(
                    self.store, self.vault, m, self.progress, self.cancel.is_set,
                    settings=self.settings, transcriber=self.transcriber,
                ))
        except SpeechCancelled:
            return
        except BaseException as e:  # a missing model, a store that went away: said by finish()
            self._error = e


def transcribe_beside(
    run_import: Callable[[Callable[[], None]], Any],
    store: Store,
    vault: Vault,
    settings: SpeechSettings | None = None,
    *,
    progress: Callable[[SpeechProgress], None] | None = None,
    cancel: threading.Event | None = None,
    transcriber: Transcriber | None = None,
    beside: bool | None = True,
) -> tuple[Any, list[SpeechResult]]:
    """``run_import(notify)`` with a :class:`SpeechWorker` beside it: ``notify`` is to be called
    whenever a file may have been committed. Returns the import's result and the transcripts.
    If the import raises, nothing of the speech is written (it stays pending) and it re-raises.
    ``beside``: as :class:`SpeechWorker` (here True: always during the import)."""
    worker = SpeechWorker(store, vault, settings, progress=progress, cancel=cancel, transcriber=transcriber,
                          beside=beside)
    worker.start()
    try:
        result = run_import(worker.notify)
    except BaseException:
        worker.abandon()
        raise
    return result, worker.finish()
