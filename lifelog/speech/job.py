"""The transcription job: one media file's audio → utterances in the memory.

It runs **after** the visual import has committed the file (its ``media`` row exists), so the
file's episodes are searchable by what was seen while its words are still being transcribed;
the transcript joins the episodes when the job writes.

* **Slow part without the lock.** Decoding, VAD, Whisper and the text vectors run without the
  memory's write lock, so an import can run at the same time. Only the write (a few hundred
  ms) takes ``write.lock`` (waiting for it).
* **Idempotent.** Utterance ids are ``<media_id>-u<n>``; a run first deletes the media's
  previous utterances, index rows and transcript record, then writes the new ones.
* **Rollback-safe.** Before writing, a journal entry ``<data>/journal-speech/<media_id>`` is
  made; it is removed after the last row. If the write fails, the rows written so far are
  deleted at once; if the process dies, :func:`rollback_unfinished_speech` (called by the
  next job) deletes them. Either way the media is back to "not transcribed" and is picked up
  again by :func:`lifelog.speech.store.pending_media`.
* **Outcomes** are data, not exceptions: ``done`` (with utterances — maybe none, for silence
  or noise), ``no_audio`` (a video without sound: nothing to do), ``failed`` (the audio stream
  is damaged: the reason is recorded, the visual import stands). A missing speech model raises
  :class:`~lifelog.speech.transcribe.SpeechModelError` instead (nothing is recorded, so the
  media is retried once the model is installed).
* **A failed write is a per-file failure too** in :func:`transcribe_pending` (the queue the CLI
  and the app run): a full disk or a store error while writing becomes a ``failed`` result
  with the reason in words, the same words as the visual import's ("disk full: …"); nothing
  is recorded, so the media stays pending and the next run transcribes it again. After a full
  disk the rest of the queue is reported with the same reason without being transcribed
  (every write would fail the same way, after minutes of work each).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from lifelog.config import SpeechSettings
from lifelog.encoders.base import ModelMissingError
from lifelog.ingest.failures import DISK_FULL, is_disk_full, os_reason, other_reason
from lifelog.speech.audio import AudioDecodeError, AudioError, AudioReport, NoAudioStream
from lifelog.speech.speakers import attribute_speaker, media_faces
from lifelog.speech.store import (
    SPEECH_JOURNAL,
    build_rows,
    delete_media_speech,
    ensure_speech_tables,
    media_episodes,
)
from lifelog.speech.transcribe import Segment, SpeechModelError, Transcriber, TranscribeStats, get_transcriber
from lifelog.store.db import Store
from lifelog.store.files import atomic_write
from lifelog.store.originals import is_kept, kept_copy, plain_original
from lifelog.store.sql import sql_str
from lifelog.store.vault import Vault

SpeechStage = Literal["transcribing", "embedding", "writing", "done"]
SpeechStatus = Literal["done", "no_audio", "failed", "cancelled"]


@dataclass(frozen=True)
class SpeechProgress:
    media_id: str
    stage: SpeechStage
    done_s: float  # seconds of audio processed
    total_s: float  # seconds of audio in the file (0 if unknown)

    @property
    def fraction(self) -> float:
        return min(self.done_s / self.total_s, 1.0) if self.total_s > 0 else 0.0


@dataclass
class SpeechResult:
    media_id: str
    status: SpeechStatus
    utterances: int = 0
    audio_s: float = 0.0
    speech_s: float = 0.0
    wall_s: float = 0.0
    model: str = ""
    vad_s: float = 0.0  # seconds of audio the VAD ran on (the rest was silence to the energy gate)
    model_calls: int = 0  # calls of the speech model (0 for a silent file: the model is not even loaded)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    languages: dict[str, float] = field(default_factory=dict)
    path: str | None = None  # the file, as imported (display form); set by transcribe_pending

    def to_json(self) -> dict[str, Any]:
        return {
            "media_id": self.media_id,
            "status": self.status,
            "utterances": self.utterances,
            "audio_seconds": round(self.audio_s, 3),
            "speech_seconds": round(self.speech_s, 3),
            "wall_seconds": round(self.wall_s, 3),
            "vad_seconds": round(self.vad_s, 3),
            "model_calls": self.model_calls,
            "model": self.model,
            "error": self.error,
            "warnings": self.warnings,
            "languages": {k: round(v, 2) for k, v in self.languages.items()},
            "path": self.path,
        }


class SpeechCancelled(Exception):
    pass


def _journal_dir(store: Store) -> Path:
    return store.data_dir / SPEECH_JOURNAL


def rollback_unfinished_speech(store: Store) -> list[str]:
    """Delete the speech rows of every media whose transcript write did not finish."""
    jdir = _journal_dir(store)
    if not jdir.is_dir():
        return []
    undone = []
    for entry in sorted(jdir.iterdir()):
        mid = entry.name
        if mid.startswith(".") or not all(c in "0123456789abcdef" for c in mid):
            continue
        delete_media_speech(store, mid)
        entry.unlink(missing_ok=True)
        undone.append(mid)
    return undone


@dataclass
class PreparedTranscript:
    """A media's transcript, made without the write lock and not yet written (:func:`write_prepared`)."""

    media_id: str
    segments: list[Segment]
    vectors: Any
    model: str
    vector_model: str
    tz_offset_min: int | None
    result: SpeechResult
    started: float  # time.monotonic() when the work began
    progress: Callable[[SpeechProgress], None] | None = None


def transcribe_media(
    store: Store,
    vault: Vault,
    media_id: str,
    path: Path,
    capture_start: datetime,
    progress: Callable[[SpeechProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    settings: SpeechSettings | None = None,
    transcriber: Transcriber | None = None,
    lock: bool = True,
    tz_offset_min: int | None = None,
) -> SpeechResult:
    """Transcribe ``path`` (the file imported as ``media_id``) and store its utterances.

    ``capture_start`` is the media's ``capture_start`` (offset 0 of its audio). ``lock=True``
    takes the memory's write lock for the write phase (waiting for it): never call it while
    holding that lock in the same process (e.g. from inside ``Importer.run``); pass
    ``lock=False`` if the caller already holds it. Raises
    :class:`~lifelog.speech.transcribe.SpeechModelError` when the model is missing and
    :class:`SpeechCancelled` when ``should_stop`` turned true (nothing is written then).
    """
    prep = prepare_media(media_id, path, capture_start, progress, should_stop, settings=settings,
                         transcriber=transcriber, tz_offset_min=tz_offset_min)
    return write_prepared(store, vault, prep, lock=lock)


def prepare_media(
    media_id: str,
    path: Path,
    capture_start: datetime,
    progress: Callable[[SpeechProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    settings: SpeechSettings | None = None,
    transcriber: Transcriber | None = None,
    tz_offset_min: int | None = None,
) -> PreparedTranscript:
    """The slow part of :func:`transcribe_media` (decode, VAD, Whisper, text vectors): touches
    no table and takes no lock, so it can run while another thread imports."""
    import time

    t_begin = time.monotonic()
    if capture_start.tzinfo is None:
        raise ValueError("capture_start must be timezone-aware")
    tr = transcriber or get_transcriber(settings)
    report = AudioReport()
    stats = TranscribeStats()
    total = 0.0
    with contextlib.suppress(AudioError):
        from lifelog.speech.audio import probe_audio_stream

        total = probe_audio_stream(path).duration_s

    def tell(stage: SpeechStage, done: float) -> None:
        if progress is not None:
            progress(SpeechProgress(media_id, stage, done, total))

    stop = should_stop or (lambda: False)
    segments: list[Segment] = []
    status: SpeechStatus = "done"
    error: str | None = None
    tell("transcribing", 0.0)
    try:
        for seg in tr.transcribe_file(
            path,
            capture_start,
            stats=stats,
            progress=lambda s: tell("transcribing", s),
            should_stop=stop,
            report=report,
        ):
            segments.append(seg)
    except InterruptedError as e:
        raise SpeechCancelled(f"transcription of {media_id} cancelled") from e
    except NoAudioStream:
        status = "no_audio"
        segments = []
    except AudioDecodeError as e:
        status, error = "failed", str(e)
        segments = []
    except AudioError as e:
        status, error = "failed", str(e)
        segments = []
    if stop():
        raise SpeechCancelled(f"transcription of {media_id} cancelled")

    result = SpeechResult(
        media_id,
        status,
        audio_s=report.seconds,
        speech_s=stats.speech_s,
        model=tr.model_id,
        vad_s=stats.vad_s,
        model_calls=stats.model_calls,
        error=error,
        warnings=list(report.warnings),
        languages=dict(stats.languages),
    )
    if status == "done" and report.filled_s > 0.0 and not report.warnings:
        result.warnings.append(f"{report.filled_s:.1f} s of missing audio replaced by silence")

    # ---- text vectors (MiniLM), faces for speaker attribution: still without the lock
    tell("embedding", report.seconds)
    vectors: Any
    vector_model = ""
    if segments:
        from lifelog.encoders import get_text_encoder

        enc = get_text_encoder()
        vectors = enc.encode([s.text for s in segments])
        vector_model = f"{enc.name}@{enc.version}"
    else:
        vectors = []
    if tz_offset_min is None:
        off = capture_start.utcoffset()
        tz_offset_min = int(off.total_seconds() // 60) if off is not None else None
    return PreparedTranscript(media_id, segments, vectors, tr.model_id, vector_model, tz_offset_min, result,
                              t_begin, progress)


def write_prepared(store: Store, vault: Vault, prep: PreparedTranscript, *, lock: bool = True) -> SpeechResult:
    """Write a prepared transcript (the media's earlier speech rows are replaced), under the
    write lock unless the caller holds it (``lock=False``). A media no longer in the memory
    (its import was rolled back meanwhile) gets nothing written: its result says so."""
    import time

    res = prep.result
    seconds = res.audio_s
    total = seconds

    def tell(stage: SpeechStage) -> None:
        if prep.progress is not None:
            prep.progress(SpeechProgress(prep.media_id, stage, seconds, total))

    tell("writing")
    guard = _write_lock(store, lock)
    with guard:
        store.refresh()
        if not store.has_media(prep.media_id):
            res.status, res.error = "failed", "the file was removed from the memory before its transcript was written"
            return res
        ensure_speech_tables(store)
        rollback_unfinished_speech(store)
        _write(store, vault, prep.media_id, prep.segments, prep.vectors, prep.model, prep.vector_model,
               prep.tz_offset_min, res)
    res.wall_s = time.monotonic() - prep.started
    tell("done")
    return res


def _write_lock(store: Store, lock: bool) -> contextlib.AbstractContextManager[Any]:
    if not lock:
        return contextlib.nullcontext()
    from lifelog.store.lock import write_lock

    return write_lock(store.data_dir, wait=True)


def _write(
    store: Store,
    vault: Vault,
    media_id: str,
    segments: Sequence[Segment],
    vectors: Any,
    model: str,
    vector_model: str,
    tz_offset_min: int | None,
    result: SpeechResult,
) -> None:
    episodes = media_episodes(store, media_id)
    faces = media_faces(store, media_id) if segments else []
    speakers = [attribute_speaker(s.start, s.end, faces) for s in segments]
    utt_rows, term_rows = build_rows(
        vault, media_id, segments, episodes, vectors, model, vector_model, tz_offset_min, speakers
    )
    journal = _journal_dir(store) / media_id
    atomic_write(journal, b"")
    try:
        delete_media_speech(store, media_id)
        store.add("utterances", utt_rows)
        store.add("utterance_terms", term_rows)
        store.add(
            "transcripts",
            [
                {
                    "media_id": media_id,
                    "status": result.status,
                    "error": result.error,
                    "model": model,
                    "audio_s": result.audio_s,
                    "speech_s": result.speech_s,
                    "utterances": len(utt_rows),
                    "done_at": datetime.now(UTC),
                }
            ],
        )
    except BaseException:
        with contextlib.suppress(Exception):
            delete_media_speech(store, media_id)
            journal.unlink(missing_ok=True)
        raise
    journal.unlink(missing_ok=True)
    result.utterances = len(utt_rows)


def transcribe_pending(
    store: Store,
    vault: Vault,
    settings: SpeechSettings | None = None,
    progress: Callable[[SpeechProgress], None] | None = None,
    cancel: threading.Event | None = None,
    media_ids: Sequence[str] | None = None,
    transcriber: Transcriber | None = None,
) -> list[SpeechResult]:
    """Transcribe every imported media with audio that has no transcript yet (or those given).

    The queue the CLI and the app run after an import. Files that moved since their import
    are reported as failed with the reason (their visual index stands), and so are files whose
    transcript could not be written (a full disk, a store error): nothing is recorded for
    either, so they stay pending. A missing model raises, as :func:`transcribe_media` does.
    """
    from lifelog.speech.store import pending_media

    store.refresh()
    todo = pending_media(store)
    if media_ids is not None:
        wanted = set(media_ids)
        todo = [m for m in todo if m["id"] in wanted]
    results: list[SpeechResult] = []
    disk_full: str | None = None

    def stop() -> bool:
        return cancel is not None and cancel.is_set()

    for m in todo:
        if stop():
            break
        shown = m["path"] or None
        if disk_full is not None:  # every write would fail the same way: do not transcribe in vain
            results.append(SpeechResult(m["id"], "failed", error=disk_full, path=shown))
            continue
        try:
            prep = prepare_pending(store, vault, m, progress, stop, settings=settings, transcriber=transcriber)
        except SpeechCancelled:
            break
        res, disk_full = write_pending(store, vault, prep)
        results.append(res)
    return results


def prepare_pending(
    store: Store,
    vault: Vault,
    m: dict[str, Any],
    progress: Callable[[SpeechProgress], None] | None,
    stop: Callable[[], bool],
    *,
    settings: SpeechSettings | None = None,
    transcriber: Transcriber | None = None,
) -> PreparedTranscript | SpeechResult:
    """Transcribe one row of :func:`~lifelog.speech.store.pending_media` without writing: the
    prepared transcript, or a ``failed`` result (the file moved, or it could not be read).
    Raises :class:`SpeechCancelled`, and :class:`SpeechModelError` when the model is missing."""
    path = Path(m["path"] or "")
    shown = m["path"] or None
    # A copy kept from a device is encrypted under <data>/originals: decrypted into the
    # private scratch folder while it is transcribed, then removed.
    kept = kept_copy(store.data_dir, path) if is_kept(store.data_dir, path) else path
    if kept is None or not kept.is_file():
        return SpeechResult(m["id"], "failed", error=f"the file is no longer at {path}", path=shown)
    start = m["capture_start"]
    tz = _tz_offset(store, m["id"])
    try:
        with plain_original(store.data_dir, vault, kept, f"speech-{m['id']}{path.suffix}") as plain:
            prep = prepare_media(m["id"], plain, start.astimezone(tz) if tz else start, progress, stop,
                                 settings=settings, transcriber=transcriber)
    except (SpeechCancelled, SpeechModelError, ModelMissingError):
        raise  # nothing to do for any file until the model is there: said once, by the caller
    except Exception as e:  # e.g. the kept copy could not be decrypted: this file failed
        why = os_reason(e) if isinstance(e, OSError) else other_reason(e, "transcribed")
        return SpeechResult(m["id"], "failed", error=why, path=shown)
    prep.result.path = shown
    return prep


def write_pending(
    store: Store, vault: Vault, prep: PreparedTranscript | SpeechResult
) -> tuple[SpeechResult, str | None]:
    """Write what :func:`prepare_pending` made (a failed result is passed through): the result,
    and the reason in words when the disk is full (every later write would fail the same way).
    A write that fails (a full disk, a store error) is this file's failure: nothing is recorded,
    so it stays pending."""
    if isinstance(prep, SpeechResult):  # e.g. a kept copy that could not be decrypted on a full disk
        return prep, (DISK_FULL if prep.error == DISK_FULL else None)
    shown = prep.result.path
    try:
        res = write_prepared(store, vault, prep)
    except Exception as e:  # a full disk or a store error while writing: this file failed
        why = os_reason(e) if isinstance(e, OSError) else other_reason(e, "transcribed")
        return SpeechResult(prep.media_id, "failed", error=why, path=shown), (why if is_disk_full(e) else None)
    res.path = shown
    return res, None


def _tz_offset(store: Store, media_id: str) -> Any:
    from datetime import timezone

    rows = store.rows("media", f"id = {sql_str(media_id)}", columns=["tz_offset_min"]).to_pylist()
    if not rows or rows[0]["tz_offset_min"] is None:
        return None
    return timezone(timedelta(minutes=int(rows[0]["tz_offset_min"])))
