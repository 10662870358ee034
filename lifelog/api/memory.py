"""The small typed facade that the CLI and the desktop app call.

Everything a front end needs goes through :class:`Memory`. Long operations accept a progress
callback (receiving plain dataclasses) and a ``threading.Event`` to cancel; none of them knows
about widgets or terminals.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lifelog import paths
from lifelog.config import RetentionSettings, Settings, load_settings
from lifelog.ingest.failures import is_disk_full
from lifelog.ingest.media import MediaKind, kind_of
from lifelog.privacy.audit import read as read_audit
from lifelog.privacy.forget import (
    ForgetPlan,
    ForgetRequest,
    ForgetResult,
    apply_forget,
    finish_pending,
    pending_plan,
    plan_forget,
)
from lifelog.privacy.retention import RetentionPlan, apply_retention, plan_retention
from lifelog.privacy.trash import TrashKind, move_to_trash
from lifelog.privacy.trash import batches as trash_batches
from lifelog.privacy.trash import expired as expired_trash
from lifelog.privacy.trash import purge as purge_batches
from lifelog.privacy.trash import restore as restore_trash
from lifelog.store.db import Store
from lifelog.store.lock import WriteLockBusy, write_lock
from lifelog.store.modes import ModeRepair, make_private
from lifelog.store.modes import use_private_umask as use_private_umask
from lifelog.store.originals import decrypted_copy, is_kept, kept_copy
from lifelog.store.scratch import private_dir, write_private
from lifelog.store.sql import overlap_conditions, sql_in
from lifelog.store.vault import Vault

if TYPE_CHECKING:
    from lifelog.ingest.pipeline import ImportResult, ProgressFn
    from lifelog.objects.timeline import ObjectInfo, ObjectSighting
    from lifelog.people.service import People
    from lifelog.people.types import AssignReport, FaceInfo, PersonInfo
    from lifelog.people.types import Edit as PeopleEdit
    from lifelog.privacy.export import ArchiveImportResult, ArchiveProgress, ExportResult
    from lifelog.recall.answer import Answer

_T = TypeVar("_T")

# Notices about the memory's privacy (permissions repaired on opening). The ``lifelog`` command
# prints them on stderr; the app logs them.
PRIVACY_LOGGER = "lifelog.permissions"
privacy_log = logging.getLogger(PRIVACY_LOGGER)


@dataclass(frozen=True)
class EpisodeInfo:
    id: str
    start: datetime
    end: datetime
    kind: str
    summary: str
    labels: list[str]
    thumb_ids: list[str]
    n_frames: int
    people: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    # In words a person would write (docs/profile.md): the stored description when the memory
    # has one (lifelog.consolidate.describe), else one made from the people and objects above.
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "kind": self.kind,
            "summary": self.summary,
            "description": self.description,
            "people": self.people,
            "objects": self.objects,
            "labels": self.labels,
            "frames": self.n_frames,
        }


@dataclass(frozen=True)
class DayInfo:
    """A day (in the memory's time zone) that has episodes, with how many."""

    day: date
    episodes: int


@dataclass(frozen=True)
class FrameInfo:
    """One kept frame of an episode: its time, thumbnail blob id and top labels."""

    id: str
    t: datetime
    offset_s: float  # seconds from the start of its file
    thumb_id: str | None
    labels: list[str]


@dataclass(frozen=True)
class UtteranceInfo:
    """One transcribed utterance, decrypted in memory; ``speaker`` is a name when known."""

    start: datetime
    end: datetime
    text: str
    speaker_id: str | None
    speaker: str | None


@dataclass(frozen=True)
class EpisodeMedia:
    """An episode's original file and whether it is still there: the user's own file, or for
    footage kept from a device (encrypted under ``<data>/originals``) a decrypted copy in the
    memory's private scratch folder, swept an hour after it was made and by ``forget``."""

    path: Path
    exists: bool
    kind: MediaKind
    offset_s: float  # where the episode starts in the file, in seconds
    sealed: bool = False  # a kept copy not decrypted yet: ``episode_media(id, decrypt=True)`` before playing


@dataclass(frozen=True)
class TrashEntry:
    """One move to the trash (an episode, or a day's episodes): restorable until it is purged
    ``retention.trash_days`` after ``at``. ``episodes`` are read from the memory (summaries,
    times, thumbnails) though every other reader hides them."""

    id: str
    at: datetime
    kind: str  # episode | day
    episodes: list[EpisodeInfo]
    purge_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "kind": self.kind, "purge_at": self.purge_at.isoformat(),
                "episodes": [e.to_json() for e in self.episodes]}


class Memory:
    """One user's memory in one data dir."""

    def __init__(self, data_dir: Path | str | None = None, *, passphrase: str | None = None) -> None:
        self.data_dir = paths.data_dir(data_dir)
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new memory is private
        # Nothing of a memory may be readable by other local users (docs/privacy.md): repair
        # folders and files left open (an older version, a script without the private umask).
        # ``permissions_fixed`` says what was changed, for a front end to tell the user; the
        # ``lifelog.permissions`` logger says it too. Both stay None/quiet for a private memory.
        self.mode_repair: ModeRepair = make_private(self.data_dir)
        self.permissions_fixed: str | None = self.mode_repair.message()
        if self.permissions_fixed:
            privacy_log.warning("%s", self.permissions_fixed)
        self.settings: Settings = load_settings(self.data_dir)
        self.vault = Vault.open(self.data_dir, passphrase=passphrase)
        self.store = Store(self.data_dir)
        self.finished_forget = self._finish_pending_forget()
        # Originals kept in the clear by an older version are encrypted now (docs/privacy.md).
        self.originals_encrypted = self._encrypt_plaintext_originals()

    # ------------------------------------------------------------------ time
    @property
    def tz(self) -> tzinfo:
        if self.settings.timezone:
            from zoneinfo import ZoneInfo

            return ZoneInfo(self.settings.timezone)
        tz = datetime.now().astimezone().tzinfo
        assert tz is not None
        return tz

    # ---------------------------------------------------------------- import
    def import_paths(
        self,
        paths_: list[Path],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        device: str | None = None,
    ) -> ImportResult:
        # imported here, not with the module: a question never imports (PyAV and the decoder
        # cost a cold ``lifelog ask`` ~50 ms, issue #18)
        from lifelog.faces import FaceAnalyzer
        from lifelog.ingest.pipeline import Importer, ImportFailure
        from lifelog.store.heap import limit_arenas

        limit_arenas()  # before the analyzers' threads: two malloc arenas (lifelog.store.heap)
        from lifelog.ocr.analyzers import ocr_analyzers
        from lifelog.people.consent import named_face_matcher

        # OCR first: the regions of sensitive text it reports are blurred before faces are cropped
        # (docs/privacy.md, "Redaction"); faces of people not named are blurred in the thumbnails.
        priv = self.settings.privacy
        analyzers: list[Any] = []
        from lifelog.objects.detect import detection_analyzers  # objects with boxes (docs/models.md)

        analyzers += detection_analyzers()
        if self.settings.capture.ocr_interval_s > 0:
            analyzers += ocr_analyzers(
                self.vault, min_interval_s=self.settings.capture.ocr_interval_s,
                sensitive_words=priv.sensitive_words if priv.redact_sensitive_text else None,
            )
        if self.settings.capture.faces:
            keep_clear = named_face_matcher(self.store) if priv.blur_bystanders else None
            analyzers.append(FaceAnalyzer(self.vault, blur_bystanders=priv.blur_bystanders, keep_clear=keep_clear))
        from lifelog.encoders.vectors import compact_vector_tables, image_text_analyzers

        image_text = image_text_analyzers(self.store)  # the installed model in use, if any (docs/models.md)
        analyzers += image_text
        importer = Importer(self.store, self.vault, self.settings, device=device, analyzers=analyzers)
        result = importer.run(paths_, progress=progress, cancel=cancel)
        if image_text and result.imported:
            compact_vector_tables(self.store)
        if result.imported:
            try:  # new faces join people (or start new ones) once their files are committed
                self._edit_people(lambda p: p.assign_new_faces())
            except Exception as e:  # the faces are stored; the next import or recluster places them
                result.warnings.append(ImportFailure(str(self.data_dir), f"people not updated: {_in_words(e)}"))
            try:  # new episodes join places (or start new ones); docs/places.md
                self.refresh_places()
            except Exception as e:  # the fixes are stored; the next import or the nightly pass places them
                result.warnings.append(ImportFailure(str(self.data_dir), f"places not updated: {_in_words(e)}"))
            try:  # the new episodes join the graph; the nightly pass completes it (docs/graph.md)
                from lifelog.graph.build import build_graph

                with write_lock(self.data_dir):
                    build_graph(self.store, self.vault, result.episodes)
            except Exception as e:
                result.warnings.append(ImportFailure(str(self.data_dir), f"graph not updated: {_in_words(e)}"))
        if result.episodes:
            try:  # new moments get words at once (docs/profile.md), not only after the nightly pass
                self.describe_episodes(result.episodes)
            except Exception as e:  # the nightly pass describes them
                result.warnings.append(ImportFailure(str(self.data_dir),
                                                     f"descriptions not written yet: {_in_words(e)}"))
        if result.imported:
            self._tidy_tables()  # the versions the steps above wrote (docs/storage.md)
        return result

    def refresh_places(self) -> Any:
        """Derive the places again (after an import; idempotent). Returns a
        :class:`lifelog.places.RefreshReport`."""
        from lifelog.places import Places

        with write_lock(self.data_dir):
            return Places(self.store, self.vault).refresh()

    def stored_media(self, media_ids: Iterable[str]) -> set[str]:
        """Which of ``media_ids`` (content hashes) the memory holds, other processes' writes included."""
        self.store.refresh()
        return {m for m in media_ids if self.store.has_media(m)}

    def keep_original(self, plain: Path) -> Path:
        """Keep the imported original ``plain`` (under ``<data>/originals``) encrypted: its kept
        copy ``<name>.lgo``; the plaintext is shredded (:mod:`lifelog.store.originals`)."""
        from lifelog.store.originals import keep_encrypted

        return keep_encrypted(self.data_dir, self.vault, plain)

    def _encrypt_plaintext_originals(self) -> int:
        """Encrypt the originals a memory made before they were kept encrypted (those imported;
        when nobody else is writing, else the next open does it). The number encrypted."""
        from lifelog.ingest.media import display_path
        from lifelog.store.originals import encrypt_plaintext_originals, plaintext_originals

        if not plaintext_originals(self.data_dir):  # the usual case: one scan, no lock, no write
            return 0
        recorded: set[str] | None = None

        def imported(path: Path) -> bool:
            nonlocal recorded
            if recorded is None:
                paths_ = self.store.rows("media", None, columns=["path"]).column("path").to_pylist()
                recorded = {p for p in paths_ if p}
            return display_path(path.resolve()) in recorded

        try:
            with write_lock(self.data_dir):
                return encrypt_plaintext_originals(self.data_dir, self.vault, imported)
        except WriteLockBusy:
            return 0
        except OSError as e:  # (a read-only or full disk) never keeps the memory from opening
            privacy_log.warning("kept originals could not be encrypted yet: %s", e)
            return 0

    def transcribe_pending(
        self,
        progress: Callable[[Any], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Any]:
        """Transcribe every imported file with audio that has no transcript yet.

        Runs after :meth:`import_paths` returns, so footage is searchable visually before its
        transcript is done; the transcript joins the episodes when ready.
        """
        from lifelog.speech.job import transcribe_pending

        done = transcribe_pending(self.store, self.vault, self.settings.speech, progress=progress, cancel=cancel)
        if done:
            self._describe_quietly()  # what was said joins the moments' descriptions
            self._tidy_tables()
        return done

    def import_and_transcribe(
        self,
        paths_: list[Path],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        device: str | None = None,
        speech_progress: Callable[[Any], None] | None = None,
    ) -> tuple[ImportResult, list[Any]]:
        """:meth:`import_paths` then :meth:`transcribe_pending`, overlapped: each imported file's
        speech is transcribed on a background thread while the next file is imported, and written
        when the import is done (docs/speech.md, "Beside the import"). ``speech_progress`` is
        called from that thread. A missing speech model becomes a warning of the import (the
        files stay pending for ``lifelog transcribe``)."""
        from lifelog.encoders.base import ModelMissingError
        from lifelog.ingest.pipeline import ImportFailure
        from lifelog.speech.transcribe import SpeechModelError
        from lifelog.speech.worker import SpeechWorker

        worker = SpeechWorker(self.store, self.vault, self.settings.speech, progress=speech_progress,
                              cancel=cancel).start()
        seen = [-1]

        def tell(p: Any) -> None:
            if p.files_done != seen[0] or p.stage == "done":  # a file may have been committed
                seen[0] = p.files_done
                worker.notify()
            if progress is not None:
                progress(p)

        try:
            result = self.import_paths(paths_, progress=tell, cancel=cancel, device=device)
        except BaseException:
            worker.abandon()  # nothing of the speech was written: it stays pending
            raise
        try:
            speech = worker.finish()
        except (SpeechModelError, ModelMissingError) as e:
            result.warnings.append(ImportFailure(str(self.data_dir), f"speech not transcribed: {e}"))
            return result, []
        if speech:
            self._describe_quietly()
            self._tidy_tables()
        return result, speech

    def _tidy_tables(self) -> None:
        """Compact the tables and drop their older versions after an import (lifelog.store.tidy);
        on failure the tables stay whole and the next import or the nightly pass does it."""
        from lifelog.store.tidy import after_import

        try:
            with write_lock(self.data_dir):
                after_import(self.store)
        except Exception as e:
            logging.getLogger(__name__).warning("tables not tidied after the import: %s", _in_words(e))

    def _describe_quietly(self) -> None:
        """Bring the descriptions up to date (only what changed is written); on failure the
        nightly pass does it."""
        try:
            self.describe_episodes(None)
        except Exception as e:
            _descriptions_later(e)

    # -------------------------------------------------------------- episodes
    def episodes(self, day: date | None = None) -> list[EpisodeInfo]:
        if day is None:
            return self.episodes_between(None, None)
        start = datetime.combine(day, time(0), tzinfo=self.tz)
        return self.episodes_between(start, start + timedelta(days=1))

    def episodes_between(self, start: datetime | None, end: datetime | None) -> list[EpisodeInfo]:
        """Episodes overlapping [start, end), in time order (either bound may be open)."""
        conds = overlap_conditions(start, end)
        hidden = self.store.committed_filter(episode_column="id")  # unfinished imports, the trash
        if hidden:
            conds.append(hidden)
        where = " AND ".join(conds) or None
        self.store.refresh()
        rows = self.store.rows(
            "episodes",
            where,
            columns=["id", "start", "end", "kind", "summary_enc", "labels", "thumb_ids", "n_frames"],
        ).to_pylist()
        rows.sort(key=lambda r: r["start"])
        infos = [self._episode_info(r) for r in rows]
        from lifelog.objects.timeline import objects_in_episodes
        from lifelog.people.service import People

        ids = [e.id for e in infos]
        seen = People(self.store, self.vault).people_in_episodes(ids)
        things = objects_in_episodes(self.store, ids)
        return self._described([replace(e, people=seen.get(e.id, []), objects=things.get(e.id, [])) for e in infos])

    def earliest(self) -> datetime | None:
        """Start of the oldest episode (None for an empty memory)."""
        col = self.store.rows("episodes", None, columns=["start"]).column("start")
        if len(col) == 0:
            return None
        import pyarrow.compute as pc

        value: datetime | None = pc.min(col).as_py()
        return value

    def episode(self, episode_id: str) -> EpisodeInfo | None:
        from lifelog.store.sql import sql_str

        rows = self.store.rows("episodes", f"id = {sql_str(episode_id)}").to_pylist()
        if not rows:
            return None
        from lifelog.people.service import People

        info = self._episode_info(rows[0], with_objects=True)
        info = replace(info, people=People(self.store, self.vault).people_in_episodes([info.id]).get(info.id, []))
        return self._described([info])[0]

    # ---------------------------------------------------- descriptions (docs/profile.md)
    def _described(self, infos: list[EpisodeInfo]) -> list[EpisodeInfo]:
        """Episodes with their description: the stored one, else one made from what they show."""
        from lifelog.consolidate.describe import fallback_description
        from lifelog.store.notes import episode_descriptions

        stored = episode_descriptions(self.store, self.vault, [e.id for e in infos])
        return [replace(e, description=stored.get(e.id) or fallback_description(e.kind, e.start, e.people, e.objects))
                for e in infos]

    def describe_episodes(self, episode_ids: Iterable[str] | None = None) -> int:
        """Write the descriptions of these episodes and their days (all that changed, for None):
        what an import just added gets words at once, without waiting for the nightly pass.
        Takes the write lock; returns how many descriptions were written."""
        from lifelog.consolidate.describe import describe

        with write_lock(self.data_dir):
            return describe(self.store, self.vault, self.tz,
                            episode_ids=list(episode_ids) if episode_ids is not None else None)

    def day_description(self, day: date) -> str | None:
        """A day in words (stored by the describe step), or None before it ran."""
        from lifelog.store.notes import day_descriptions

        return day_descriptions(self.store, self.vault, [day.isoformat()]).get(day.isoformat())

    def _episode_info(self, r: dict[str, Any], with_objects: bool = False) -> EpisodeInfo:
        from lifelog.objects.timeline import objects_in_episodes

        return EpisodeInfo(
            id=r["id"],
            start=r["start"].astimezone(self.tz),
            end=r["end"].astimezone(self.tz),
            kind=r.get("kind") or "",
            summary=self.vault.decrypt_text(r.get("summary_enc"), f"summary:{r['id']}"),
            labels=list(r.get("labels") or []),
            thumb_ids=list(r.get("thumb_ids") or []),
            n_frames=int(r.get("n_frames") or 0),
            objects=objects_in_episodes(self.store, [r["id"]]).get(r["id"], []) if with_objects else [],
        )

    def days(self) -> list[DayInfo]:
        """Days with episodes (a day is judged in the memory's zone), oldest first."""
        hidden = self.store.committed_filter(episode_column="id")  # unfinished imports, the trash
        self.store.refresh()
        col = self.store.rows("episodes", hidden, columns=["start"]).column("start").to_pylist()
        counts: dict[date, int] = {}
        tz = self.tz
        for t in col:
            d = t.astimezone(tz).date()
            counts[d] = counts.get(d, 0) + 1
        return [DayInfo(d, n) for d, n in sorted(counts.items())]

    def episode_frames(self, episode_id: str) -> list[FrameInfo]:
        """The kept frames of an episode in time order (thumbnails via :meth:`thumbnail`)."""
        from lifelog.store.sql import sql_str

        where = f"episode_id = {sql_str(episode_id)}"
        hidden = self.store.committed_filter()  # the trash's frames too: the Trash view shows them
        if hidden:
            where = f"{where} AND {hidden}"
        rows = self.store.rows(
            "frames", where, columns=["id", "t", "offset_s", "thumb_id", "labels"]
        ).to_pylist()
        rows.sort(key=lambda r: r["t"])
        tz = self.tz
        return [
            FrameInfo(
                id=r["id"],
                t=r["t"].astimezone(tz),
                offset_s=float(r.get("offset_s") or 0.0),
                thumb_id=r.get("thumb_id"),
                labels=list(r.get("labels") or [])[:3],
            )
            for r in rows
        ]

    def episode_transcript(self, episode_id: str) -> list[UtteranceInfo]:
        """What was said during an episode, decrypted in memory, in time order (empty when
        nothing was transcribed)."""
        from lifelog.store.sql import sql_str

        if self.store.count("utterances") == 0:
            return []
        from lifelog.speech.store import load_utterances

        ids = self.store.rows(
            "utterances", f"episode_id = {sql_str(episode_id)}", columns=["id"]
        ).column("id").to_pylist()
        utts = load_utterances(self.store, self.vault, ids)
        names: dict[str, str] = {}
        speakers = {u.speaker_id for u in utts if u.speaker_id}
        if speakers:
            from lifelog.people.service import People

            for p in People(self.store, self.vault).list(include_hidden=True):
                if p.id in speakers and p.name:
                    names[p.id] = p.name
        tz = self.tz
        return [
            UtteranceInfo(
                u.start.astimezone(tz),
                u.end.astimezone(tz),
                u.text,
                u.speaker_id,
                names.get(u.speaker_id) if u.speaker_id else None,
            )
            for u in utts
        ]

    def episode_media(self, episode_id: str, *, decrypt: bool = True) -> EpisodeMedia | None:
        """The original file of an episode (None for an unknown episode). A kept copy is decrypted
        into the private scratch folder only with ``decrypt``; without, it is reported as there
        (``sealed``) and nothing is decrypted — what a view showing the episode wants."""
        from lifelog.store.sql import sql_str

        eps = self.store.rows(
            "episodes", f"id = {sql_str(episode_id)}", columns=["media_id", "start"]
        ).to_pylist()
        if not eps:
            return None
        media = self.store.rows(
            "media", f"id = {sql_str(eps[0]['media_id'])}", columns=["path", "kind", "capture_start"]
        ).to_pylist()
        if not media or not media[0].get("path"):
            return None
        m = media[0]
        path = Path(m["path"])
        exists = path.is_file()
        sealed = False
        if is_kept(self.data_dir, path):  # a copy kept (encrypted) under <data>/originals
            kept = kept_copy(self.data_dir, path)
            exists = False
            if kept is not None and not decrypt:
                exists = sealed = True
            elif kept is not None:
                try:  # a decrypted copy in the private scratch folder, for the player
                    path = decrypted_copy(self.data_dir, self.vault, kept, f"{eps[0]['media_id']}{path.suffix}")
                    exists = True
                except Exception as e:  # damaged, or no room for the copy: said as "not there"
                    logging.getLogger("lifelog").warning("cannot decrypt the original of %s: %s", episode_id, e)
        offset = 0.0
        if m.get("capture_start") is not None:
            offset = max((eps[0]["start"] - m["capture_start"]).total_seconds(), 0.0)
        kind = kind_of(path) or "video"  # the store keeps "video" | "photo" | "audio" (MEDIA_SCHEMA)
        stored = m.get("kind")
        if stored in ("video", "photo", "audio"):
            kind = stored
        return EpisodeMedia(path=path, exists=exists, kind=kind, offset_s=offset, sealed=sealed)

    def ask(self, question: str, now: datetime | None = None, limit: int = 5, *, thumbnails: bool = False) -> Answer:
        """Answer a question (``lifelog ask``); :class:`lifelog.recall.parse.QuestionError` when
        it cannot be understood. Recall sees this memory as a
        :class:`lifelog.recall.context.RecallContext`. With ``thumbnails`` each frame's evidence
        names a decrypted copy of its thumbnail in a private temp dir (the CLI, the demo);
        without, no decrypted file is written and evidence has no thumbnail."""
        from lifelog.recall.answer import ask

        return ask(self, question, now=now or datetime.now().astimezone(), limit=limit, thumbnails=thumbnails)

    # --------------------------------------------------------------- objects
    def objects(self, start: datetime | None = None, end: datetime | None = None) -> list[ObjectInfo]:
        """Everyday objects seen in [start, end), most recently seen first (``lifelog objects``)."""
        from lifelog.objects.timeline import Objects

        self.store.refresh()
        tz = self.tz
        return [
            replace(o, first_seen=o.first_seen.astimezone(tz), last_seen=o.last_seen.astimezone(tz))
            for o in Objects(self.store).list(start, end)
        ]

    def object_timeline(
        self, name: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[ObjectSighting]:
        """The episodes in which the object a word names ("mug", "my phone") was seen, in time
        order; empty for a word with no ImageNet class ("keys") or an object never seen."""
        from lifelog.objects.timeline import Objects

        self.store.refresh()
        tz = self.tz
        return [
            replace(s, first=s.first.astimezone(tz), last=s.last.astimezone(tz))
            for s in Objects(self.store).timeline(name, start, end)
        ]

    # ---------------------------------------------------------------- people
    def people(self, include_hidden: bool = False) -> list[PersonInfo]:
        """People seen, most recently seen first (``lifelog people``)."""
        from lifelog.people.service import People

        return [self._local(p) for p in People(self.store, self.vault).list(include_hidden=include_hidden)]

    def person(self, person_id: str) -> PersonInfo:
        from lifelog.people.service import People

        return self._local(People(self.store, self.vault).get(person_id))

    def person_faces(self, person_id: str) -> list[FaceInfo]:
        """A person's faces, best first: their ids are what :meth:`split_person` takes."""
        from lifelog.people.service import People

        tz = self.tz
        return [replace(f, t=f.t.astimezone(tz)) if f.t else f for f in People(self.store, self.vault).faces(person_id)]

    def person_episodes(self, person_id: str) -> list[EpisodeInfo]:
        from lifelog.people.service import People

        ids = People(self.store, self.vault).episodes_with(person_id)
        return [e for e in (self.episode(i) for i in ids) if e is not None]

    def name_person(self, person_id: str, name: str) -> PersonInfo:
        return self._local(self._edit_people(lambda p: p.name(person_id, name), _ids_of_person))

    def merge_people(self, into_id: str, other_id: str) -> PersonInfo:
        return self._local(self._edit_people(lambda p: p.merge(into_id, other_id), _ids_of_person))

    def split_person(self, person_id: str, face_ids: list[str]) -> PersonInfo:
        return self._local(self._edit_people(lambda p: p.split(person_id, face_ids), _ids_of_person))

    def hide_person(self, person_id: str) -> PersonInfo:
        return self._local(self._edit_people(lambda p: p.hide(person_id), _ids_of_person))

    def unhide_person(self, person_id: str) -> PersonInfo:
        return self._local(self._edit_people(lambda p: p.unhide(person_id), _ids_of_person))

    def undo_people_edit(self) -> PeopleEdit:
        return self._edit_people(lambda p: p.undo(), lambda e: list(e.person_ids))

    def recluster_people(self) -> AssignReport:
        """Cluster every automatic face assignment again (nightly consolidation)."""
        return self._edit_people(lambda p: p.recluster())

    def _local(self, p: PersonInfo) -> PersonInfo:
        """Times in the memory's zone, like episodes."""
        return replace(
            p,
            first_seen=p.first_seen.astimezone(self.tz) if p.first_seen else None,
            last_seen=p.last_seen.astimezone(self.tz) if p.last_seen else None,
        )

    def _edit_people(self, op: Callable[[People], _T], affected: Callable[[_T], list[str]] | None = None) -> _T:
        """Run a people operation under the write lock, then re-derive who spoke (speech uses faces).
        ``affected``: the people whose faces now hold every face the edit moved or renamed (the
        named, hidden or merged-into person, the split-off one, an undone edit's people); only the
        episodes they appear in are described again (None: every episode that changed)."""
        from lifelog.people.service import People
        with write_lock(self.data_dir):
            self.store.refresh()
            out = op(People(self.store, self.vault))
            if self.store.count("utterances"):
                from lifelog.speech.speakers import reattribute

                reattribute(self.store)
            try:  # names and merges reach the graph at once, so its history has every name (docs/graph.md)
                from lifelog.graph.build import build_graph

                build_graph(self.store, self.vault, [])
            except Exception as e:  # the nightly pass builds it
                logging.getLogger(__name__).warning("graph not updated after a people edit: %s", _in_words(e))
        if affected is None:
            self._describe_quietly()  # names in the descriptions follow the edit
        else:
            self._describe_people_quietly(affected(out))
        return out

    def _describe_people_quietly(self, person_ids: list[str]) -> None:
        """Describe again the episodes (and their days) where these people's faces are."""
        try:
            ids = [p for p in person_ids if p]
            rows = self.store.rows("faces", f"{sql_in('person_id', ids)} AND episode_id IS NOT NULL",
                                   columns=["episode_id"]) if ids else None
            episodes = sorted(set(rows.column("episode_id").to_pylist())) if rows is not None else []
            if episodes:
                self.describe_episodes(episodes)
        except Exception as e:
            _descriptions_later(e)

    def thumbnail(self, blob_id: str) -> bytes:
        """JPEG bytes of a thumbnail, decrypted in memory."""
        return self.vault.get(blob_id)

    def thumbnail_file(self, blob_id: str | None) -> str | None:
        """The path of a decrypted copy of a thumbnail, for callers that need a file (the CLI's
        ``--json``): in the memory's private folder (:mod:`lifelog.store.scratch`, never a shared
        ``/tmp``), swept after an hour and by ``forget``. None without a blob id or when the
        thumbnail cannot be read. The app never needs this: it shows :meth:`thumbnail` bytes."""
        if not blob_id:
            return None
        folder = private_dir(self.data_dir, "thumbs")
        name = f"{blob_id}.jpg"
        try:
            st = os.lstat(folder / name)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                return str(folder / name)
            os.unlink(folder / name)  # anything else there is not ours: replace it
        except FileNotFoundError:
            pass
        try:
            data = self.vault.get(blob_id)
        except Exception:
            return None
        return str(write_private(folder, name, data))

    def stats(self) -> dict[str, int]:
        return {name: self.store.count(name) for name in ("media", "episodes", "frames")}

    def stale_frames(self) -> int:
        """Frames whose vectors were made by another model than the current one (to re-index).

        With an installed image-text model in use (``lifelog models``): frames without a vector
        of that model's version, which :meth:`reindex_image_text` gives them.
        """
        from lifelog.encoders import get_visual_encoder
        from lifelog.encoders.registry import active_model
        from lifelog.store.sql import sql_str

        model = active_model(self.data_dir)
        if model is not None:
            from lifelog.encoders.vectors import stale_frames

            return stale_frames(self.store, model)
        enc = get_visual_encoder()
        return self.store.count("frames", f"model != {sql_str(f'{enc.name}@{enc.version}')}")

    def reindex_image_text(
        self, progress: Callable[[Any], None] | None = None, cancel: threading.Event | None = None
    ) -> Any:
        """Give every frame a vector of the installed image-text model in use (resumable; run it
        off the UI thread). Returns a :class:`lifelog.ingest.reindex.ReindexResult`."""
        from lifelog.encoders.registry import RegistryError, active_model
        from lifelog.ingest.reindex import reindex

        model = active_model(self.data_dir)
        if model is None:
            raise RegistryError("the offline default is in use: nothing to re-index")
        return reindex(self.store, self.vault, model, progress=progress, cancel=cancel)

    # ---------------------------------------------------------------- forget
    def plan_forget(self, request: ForgetRequest) -> ForgetPlan:
        """What :meth:`forget` would remove, as counts to show before asking (``ForgetError`` for
        an unknown id or a word that names nothing)."""
        return plan_forget(self.store, request)

    def forget(
        self, request: ForgetRequest | ForgetPlan, progress: Callable[[str], None] | None = None
    ) -> ForgetResult:
        """Forget for good (docs/privacy.md): every row, blob, kept original and old version.
        Waits for nothing: ``WriteLockBusy`` when an import holds the memory (callers wait with
        ``when_writer_free``)."""
        with write_lock(self.data_dir):
            self.store.refresh()
            plan = request if isinstance(request, ForgetPlan) else plan_forget(self.store, request)
            result = apply_forget(self.store, self.vault, plan, progress)
            if plan.people or plan.episodes:
                self._edit_people_unlocked()
            return result

    def plan_retention(self, now: datetime | None = None, rules: RetentionSettings | None = None) -> RetentionPlan:
        """What the retention rules in Settings (or ``rules``, e.g. edited but not yet saved)
        would remove now (the preview)."""
        return plan_retention(self.store, rules or self.settings.retention, now or datetime.now().astimezone())

    def apply_retention(self, now: datetime | None = None) -> RetentionPlan:
        """Remove what the retention rules say is due (at start-up and nightly), for good."""
        with write_lock(self.data_dir):
            plan = plan_retention(self.store, self.settings.retention, now or datetime.now().astimezone())
            done = apply_retention(self.store, self.vault, plan)  # expired trash too
            if plan.forget is not None or plan.trash or plan.faces:
                self._edit_people_unlocked()
            return done

    def audit_log(self) -> list[dict[str, Any]]:
        """What was forgotten (or exported, purged) and when: kinds and counts, never what."""
        return read_audit(self.data_dir)

    def _finish_pending_forget(self) -> ForgetResult | None:
        """A forget killed half-way is finished by the next process that opens the memory (when
        nobody else is writing; otherwise by the next one)."""
        if pending_plan(self.data_dir) is None:
            return None
        try:
            with write_lock(self.data_dir):
                return finish_pending(self.store, self.vault)
        except WriteLockBusy:
            return None

    def _edit_people_unlocked(self) -> None:
        """Who spoke is derived from faces: after faces went, derive it again."""
        if self.store.count("utterances"):
            from lifelog.speech.speakers import reattribute

            reattribute(self.store)

    # ------------------------------------------------------- export, re-import
    def export(
        self,
        dest: Path,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        passphrase: str | None = None,
        progress: Callable[[ArchiveProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ExportResult:
        """Write the memory (or the episodes overlapping ``[start, end)``) to ``dest`` in the open
        export format (docs/export-format.md): a new folder, or with ``passphrase`` one encrypted
        file. Decrypted content goes only there; an unfinished export leaves nothing behind."""
        from lifelog.privacy.export import export_memory

        settings = self.settings.model_dump(mode="json")
        return export_memory(self.store, self.vault, settings, Path(dest), start=start, end=end,
                             passphrase=passphrase, progress=progress, cancel=cancel)

    def import_archive(
        self,
        src: Path,
        *,
        passphrase: str | None = None,
        progress: Callable[[ArchiveProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ArchiveImportResult:
        """Restore an export into this memory (idempotent; texts re-encrypted under this memory's
        key). A tampered, truncated or newer archive is refused before anything is written.
        ``WriteLockBusy`` when another writer holds the memory (callers wait with
        ``when_writer_free``)."""
        from lifelog.privacy.export import import_archive

        with write_lock(self.data_dir):
            self.store.refresh()
            result = import_archive(self.store, self.vault, Path(src), passphrase=passphrase,
                                    progress=progress, cancel=cancel)
        if result.settings == "restored":
            self.settings = load_settings(self.data_dir)
        self._describe_quietly()  # descriptions are not in the archive: written again from what it brought
        return result

    # ----------------------------------------------------------------- trash
    def trash_episodes(
        self, episode_ids: Iterable[str], kind: TrashKind = "episode", now: datetime | None = None
    ) -> TrashEntry | None:
        """Move episodes to the trash (the app's everyday delete, docs/privacy.md): hidden from
        every reader at once, restorable for ``retention.trash_days`` days, then forgotten for
        good. None when they were all in the trash already; ``ForgetError`` for an unknown id;
        ``WriteLockBusy`` while an import holds the memory (callers wait with ``when_writer_free``)."""
        with write_lock(self.data_dir):
            batch = move_to_trash(self.store, episode_ids, kind, now or datetime.now().astimezone())
        return self._trash_entry(batch) if batch is not None else None

    def trash_day(self, day: date, now: datetime | None = None) -> TrashEntry | None:
        """Move every (shown) episode of a day, in the memory's zone, to the trash as one batch."""
        from lifelog.privacy.forget import ForgetError

        ids = [e.id for e in self.episodes(day)]
        if not ids:
            raise ForgetError(f"nothing recorded on {day.isoformat()} (or it is in the trash already)")
        return self.trash_episodes(ids, "day", now)

    def restore_from_trash(self, ids: Iterable[str]) -> list[str]:
        """Take trash entries (by their id) or single episodes (by episode id) out of the trash:
        they are back, unchanged. The episode ids restored; ``ForgetError`` for an id not in
        the trash; ``WriteLockBusy`` while another writer holds the memory."""
        with write_lock(self.data_dir):
            return restore_trash(self.store, list(ids))

    def trash(self) -> list[TrashEntry]:
        """What is in the trash, most recently deleted first."""
        return [self._trash_entry(b) for b in reversed(trash_batches(self.store))]

    def purge_trash(self, now: datetime | None = None, *, everything: bool = False) -> ForgetResult | None:
        """Forget for good what has been in the trash longer than ``retention.trash_days`` (or,
        with ``everything``, all of it: "Empty trash"). None when nothing was due. Runs with
        :meth:`apply_retention` too."""
        with write_lock(self.data_dir):
            if everything:
                due = trash_batches(self.store)
            else:
                due = expired_trash(self.store, self.settings.retention.trash_days, now or datetime.now().astimezone())
            result = purge_batches(self.store, self.vault, due)
            if result is not None:
                self._edit_people_unlocked()
            return result

    def empty_trash(self) -> ForgetResult | None:
        """Forget everything in the trash for good, now."""
        return self.purge_trash(everything=True)

    def _trash_entry(self, batch: Any) -> TrashEntry:
        eps = [e for e in (self.episode(i) for i in batch.episodes) if e is not None]
        eps.sort(key=lambda e: e.start)
        at = batch.at.astimezone(self.tz)
        return TrashEntry(batch.id, at, batch.kind, eps, at + timedelta(days=self.settings.retention.trash_days))

    # ------------------------------------------------------------------ keys
    def change_passphrase(self, old: str, new: str) -> None:
        """Protect the memory with passphrase ``new`` instead of ``old`` (the data key is re-wrapped,
        nothing else is rewritten). :class:`VaultLockedError` when ``old`` is wrong, with nothing
        changed; :class:`VaultError` when the key is in the OS keyring. Takes the write lock."""
        from lifelog.store.keys import change_passphrase

        with write_lock(self.data_dir):
            change_passphrase(self.data_dir, old, new)
        self.vault = Vault.open(self.data_dir, passphrase=new, create=False)

    def rotate_key(
        self,
        passphrase: str | None = None,
        progress: Callable[[Any], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Any:
        """A new data key: everything encrypted is encrypted again under it (crash-safe; a run cut
        short is finished by the next). Returns a :class:`lifelog.api.keys.RotateResult`. Takes the
        write lock. ``passphrase`` (passphrase mode; else ``$LIFELOG_PASSPHRASE``) must open it."""
        from lifelog.store.keys import rotate_key

        with write_lock(self.data_dir):
            result = rotate_key(self.data_dir, self.store, passphrase, progress, cancel)
        self.vault = Vault.open(self.data_dir, passphrase=passphrase, create=False)
        return result

    # --------------------------------------------------------- consolidation
    def consolidate(
        self,
        now: datetime | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        cancel: threading.Event | None = None,
        *,
        wait: bool = False,
    ) -> Any:
        """One nightly consolidation pass now (docs/consolidation.md): a
        :class:`lifelog.consolidate.run.PassResult`; ``PassBusy`` when another runs (unless ``wait``)."""
        from lifelog.consolidate.context import ConsolidationContext
        from lifelog.consolidate.run import run_pass

        ctx = ConsolidationContext(self.data_dir, self.settings, self.store, self.vault, self.tz,
                                   cancel or threading.Event(), progress)
        return run_pass(ctx, now=now, wait=wait)


def _ids_of_person(p: PersonInfo) -> list[str]:
    return [p.id]


def _in_words(e: BaseException) -> str:
    """Why a derived step (people, places, graph, descriptions) did not run, in words: a full disk as
    such, otherwise the error's first line, never a storage engine's source location."""
    if is_disk_full(e):
        return "the disk is full"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _descriptions_later(e: BaseException) -> None:
    """Descriptions are derived and rewritten by the nightly pass: a failure here does not fail the caller."""
    logging.getLogger("lifelog").warning("descriptions not brought up to date (%s); the nightly pass will do it",
                                         _in_words(e))
