"""LanceDB tables of the memory, with typed Arrow schemas.

Tables (all under ``<data>/db``, or where ``storage.tables`` puts them: another folder or an
S3-compatible object store, :mod:`lifelog.store.location`, docs/scale.md):

``media``      one row per imported source file (content hash). Written **last** for a file: it is
               the import ledger's commit record, so a file without a media row is re-done.
``episodes``   contiguous stretches of footage; the unit that recall answers with.
``frames``     kept (non-duplicate) sampled frames with their vectors, labels and a thumbnail id.
``faces``, ``people``, ``utterances``   created now with their schemas, filled by later stages.

Times are ``timestamp[us, UTC]``; the capture's UTC offset is kept in ``tz_offset_min`` so an
answer can be printed in the local time it was recorded in. Texts the user saw or said
(summaries, transcripts, names, OCR) are stored as vault ciphertext (``*_enc`` binary columns).
Vectors stay plain (see ``docs/privacy.md``). Every vector row records ``model`` (name@version).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from lifelog.store.cache import ReadCache, wrap_tables
from lifelog.store.lance_import import LanceTable, lancedb  # LanceDB without its REST client's import cost
from lifelog.store.location import StorageError, TableLocation, location_for, storage_failure
from lifelog.store.sql import sql_in, sql_str

SCHEMA_VERSION = 1
JOURNAL_DIR = "journal"
TRASH_FILE = "trash.json"  # episodes moved to the trash (lifelog.privacy.trash writes it; readers hide them)
SEMANTIC_DIM = 384
FEATURE_DIM = 1280
FACE_DIM = 128

TS = pa.timestamp("us", tz="UTC")

MEDIA_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # video | photo | audio
        pa.field("path", pa.string()),  # where it was last imported from (informational)
        pa.field("size", pa.int64()),
        pa.field("capture_start", TS),
        pa.field("capture_end", TS),
        pa.field("tz_offset_min", pa.int32()),
        pa.field("time_source", pa.string()),  # creation_time | exif | mtime
        pa.field("duration_s", pa.float64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("codec", pa.string()),
        pa.field("has_audio", pa.bool_()),
        pa.field("frames_decoded", pa.int32()),
        pa.field("frames_kept", pa.int32()),
        pa.field("imported_at", TS),
        pa.field("warnings", pa.list_(pa.string())),
        pa.field("device", pa.string()),
    ]
)

EPISODE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("kind", pa.string()),  # video | photo | audio
        pa.field("start", TS, nullable=False),
        pa.field("end", TS, nullable=False),
        pa.field("tz_offset_min", pa.int32()),
        pa.field("n_frames", pa.int32()),
        pa.field("thumb_ids", pa.list_(pa.string())),
        pa.field("labels", pa.list_(pa.string())),  # aggregated top labels, best first
        pa.field("label_scores", pa.list_(pa.float32())),
        pa.field("summary_enc", pa.binary()),
        pa.field("semantic", pa.list_(pa.float32(), SEMANTIC_DIM)),  # mean of frame vectors
        pa.field("model", pa.string()),
        # Every label any of the episode's frames has, with its highest score there (best first):
        # an upper bound of each frame's label mass, so a question rules out the episodes that
        # cannot clear it without reading their frames (lifelog.recall.retrieve, docs/recall.md).
        # Null: not known (an older memory, before consolidation fills it): the frames are read.
        pa.field("peak_labels", pa.list_(pa.string())),
        pa.field("peak_scores", pa.list_(pa.float32())),
    ]
)

FRAME_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("episode_id", pa.string(), nullable=False),
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("t", TS, nullable=False),
        pa.field("offset_s", pa.float64()),
        pa.field("tz_offset_min", pa.int32()),
        pa.field("semantic", pa.list_(pa.float32(), SEMANTIC_DIM)),
        pa.field("features", pa.list_(pa.float16(), FEATURE_DIM)),
        pa.field("labels", pa.list_(pa.string())),
        pa.field("label_scores", pa.list_(pa.float32())),
        pa.field("thumb_id", pa.string()),
        pa.field("model", pa.string()),
    ]
)

FACE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("frame_id", pa.string()),
        pa.field("media_id", pa.string()),
        pa.field("episode_id", pa.string()),
        pa.field("t", TS),
        pa.field("box", pa.list_(pa.float32(), 4)),
        pa.field("quality", pa.float32()),
        pa.field("embedding", pa.list_(pa.float32(), FACE_DIM)),
        pa.field("person_id", pa.string()),
        pa.field("crop_id", pa.string()),
        pa.field("model", pa.string()),
        # added by lifelog.faces (docs/people.md)
        pa.field("det_score", pa.float32()),  # detector confidence
        pa.field("size_px", pa.float32()),  # face box width in the analysed frame
        pa.field("sharpness", pa.float32()),  # variance of the Laplacian of the aligned chip
        pa.field("frontal", pa.float32()),  # 1 = facing the camera, 0 = profile
        pa.field("visible", pa.float32()),  # fraction of the face box inside the frame
        pa.field("seed", pa.bool_()),  # good enough to help start a new person
        pa.field("landmarks", pa.list_(pa.float32(), 10)),  # dlib 5 points (x, y), fractions of the frame
        pa.field("faces_in_frame", pa.int32()),  # faces detected in the frame (more than were kept if capped)
        pa.field("assigned_by", pa.string()),  # auto | user (locked by a user edit) | null (no person yet)
    ]
)

PEOPLE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("name_enc", pa.binary()),
        pa.field("hidden", pa.bool_()),
        pa.field("user_locked", pa.bool_()),
        pa.field("centroid", pa.list_(pa.float32(), FACE_DIM)),
        pa.field("updated_at", TS),
        # added by lifelog.people (docs/people.md)
        pa.field("created_at", TS),
        pa.field("merged_into", pa.string()),  # set when a user merged this person into another
        pa.field("cannot_link", pa.list_(pa.string())),  # people a user split from this one
        pa.field("model", pa.string()),  # face model of the centroid
    ]
)

# The user's edits of people: an undo log (lifelog.people). ``payload_enc`` is the vault-encrypted
# JSON snapshot (aad "person-edit:<id>") of the people rows and face assignments the edit changed.
PERSON_EDIT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("at", TS),
        pa.field("op", pa.string()),  # name | merge | split | hide | unhide
        pa.field("person_ids", pa.list_(pa.string())),
        pa.field("state", pa.string()),  # applying | done | undone | failed
        pa.field("undone_at", TS),
        pa.field("payload_enc", pa.binary()),
    ]
)

# Speech (lifelog.speech, docs/speech.md). Utterance text and word timings are vault ciphertext;
# keyword search goes through ``utterance_terms``, a blind index of keyed hashes (no plaintext).
UTTERANCE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("episode_id", pa.string()),
        pa.field("media_id", pa.string()),
        pa.field("start", TS),
        pa.field("end", TS),
        pa.field("text_enc", pa.binary()),  # aad "utterance:<id>"
        pa.field("speaker_id", pa.string()),  # a people.id, or null = unknown speaker
        pa.field("language", pa.string()),
        pa.field("vector", pa.list_(pa.float32(), SEMANTIC_DIM)),  # MiniLM of the text
        pa.field("model", pa.string()),  # the speech model; text vectors: ``vector_model``
        pa.field("offset_s", pa.float64()),  # start, in seconds from the media's start
        pa.field("tz_offset_min", pa.int32()),
        pa.field("words_enc", pa.binary()),  # JSON [[start_s, end_s, word], ...], aad "utterance-words:<id>"
        pa.field("avg_logprob", pa.float32()),
        pa.field("no_speech_prob", pa.float32()),
        pa.field("language_prob", pa.float32()),
        pa.field("vector_model", pa.string()),
    ]
)

UTTERANCE_TERM_SCHEMA = pa.schema(
    [
        pa.field("term", pa.string(), nullable=False),  # hex HMAC-SHA256(index key, normalised word)[:16 bytes]
        pa.field("utterance_id", pa.string(), nullable=False),
        pa.field("episode_id", pa.string()),
        pa.field("media_id", pa.string()),
        pa.field("start", TS),
    ]
)

TRANSCRIPT_SCHEMA = pa.schema(  # one row per media whose audio was transcribed (or found to have none)
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("status", pa.string()),  # done | no_audio | failed
        pa.field("error", pa.string()),  # why it failed (no user text in it)
        pa.field("model", pa.string()),
        pa.field("audio_s", pa.float64()),
        pa.field("speech_s", pa.float64()),
        pa.field("utterances", pa.int32()),
        pa.field("done_at", TS),
    ]
)

# Text in images (lifelog.ocr, docs/ocr.md). The text is vault ciphertext; keyword search goes
# through ``ocr_terms``, a blind index of keyed hashes made like ``utterance_terms``.
OCR_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # "<frame id>-o<line>"
        pa.field("frame_id", pa.string()),
        pa.field("media_id", pa.string()),
        pa.field("episode_id", pa.string()),
        pa.field("t", TS),
        pa.field("text_enc", pa.binary()),  # aad "ocr:<id>"
        pa.field("box", pa.list_(pa.float32(), 4)),  # x, y, w, h as fractions of the frame
        pa.field("score", pa.float32()),  # recogniser confidence of the line
        pa.field("model", pa.string()),
    ]
)

# Objects with boxes (lifelog.objects.detect, docs/models.md): class, score and where, no pixels.
DETECTION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # "<frame id>-d<k>"
        pa.field("frame_id", pa.string()),
        pa.field("media_id", pa.string()),
        pa.field("episode_id", pa.string()),
        pa.field("t", TS),
        pa.field("label", pa.string()),  # lower case Open Images class, e.g. "bicycle"
        pa.field("score", pa.float32()),
        pa.field("box", pa.list_(pa.float32(), 4)),  # x, y, w, h as fractions of the frame
        pa.field("model", pa.string()),
    ]
)

OCR_TERM_SCHEMA = pa.schema(
    [
        pa.field("term", pa.string(), nullable=False),  # hex HMAC-SHA256(index key, normalised word)[:16 bytes]
        pa.field("ocr_id", pa.string(), nullable=False),
        pa.field("frame_id", pa.string()),  # words of one frame are matched together (a sign spans lines)
        pa.field("episode_id", pa.string()),
        pa.field("media_id", pa.string()),
        pa.field("t", TS),
    ]
)

# Descriptions of episodes and days, and the memory profile (lifelog.store.notes, docs/profile.md).
# ``text_enc`` is vault ciphertext (aad "note:<id>"); ``note_terms`` is their blind keyword index.
NOTE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # ep:<episode id> | day:<YYYY-MM-DD> | profile | hist:<n>
        pa.field("kind", pa.string()),  # episode | day | profile | history
        pa.field("subject", pa.string()),  # the episode id, the day, or ""
        pa.field("start", TS),
        pa.field("end", TS),
        pa.field("inputs", pa.string()),  # content hash of what the text was made from
        pa.field("people", pa.list_(pa.string())),  # person ids the text mentions
        pa.field("episodes", pa.list_(pa.string())),  # episode ids the text draws on
        pa.field("text_enc", pa.binary()),
        pa.field("updated_at", TS),
    ]
)

NOTE_TERM_SCHEMA = pa.schema(
    [
        pa.field("term", pa.string(), nullable=False),  # hex HMAC-SHA256(index key, normalised word)[:16 bytes]
        pa.field("note_id", pa.string(), nullable=False),
        pa.field("episode_id", pa.string()),
        pa.field("start", TS),
    ]
)

# Places (lifelog.places, docs/places.md). A file's GPS position is vault ciphertext (aad
# "geo:<media id>", JSON {"lat", "lon", "alt"}); a dropped position keeps only why it was dropped.
MEDIA_GEO_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # the media id
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("device", pa.string()),
        pa.field("t", TS),  # the file's capture start
        pa.field("status", pa.string()),  # ok | dropped
        pa.field("reason", pa.string()),  # why a position was dropped (no coordinates in it)
        pa.field("fix_enc", pa.binary()),
    ]
)

PLACE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("kind", pa.string()),  # gps | scene
        pa.field("name_enc", pa.binary()),  # aad "place-name:<id>"
        pa.field("name_source", pa.string()),  # user | sign | geocode | null
        pa.field("user_named", pa.bool_()),  # a user named it: the name and the anchor stay
        pa.field("center_enc", pa.binary()),  # gps: JSON {"lat", "lon"}, aad "place-center:<id>"
        pa.field("vector", pa.list_(pa.float32(), SEMANTIC_DIM)),  # scene: mean episode vector
        pa.field("created_at", TS),
        pa.field("updated_at", TS),
    ]
)

PLACE_VISIT_SCHEMA = pa.schema(  # one row per episode that is at a place
    [
        pa.field("id", pa.string(), nullable=False),  # the episode id
        pa.field("episode_id", pa.string(), nullable=False),
        pa.field("media_id", pa.string()),
        pa.field("place_id", pa.string(), nullable=False),
        pa.field("start", TS),
        pa.field("end", TS),
    ]
)

# The knowledge graph (lifelog.graph, docs/graph.md): bi-temporal edges with their evidence
# episode, and the nodes they link. ``value_enc``: a name in the history or a user's fact, vault
# ciphertext (aad "graph-edge:<id>"); no other text of the user's is in these tables.
GRAPH_EDGE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # seen | seen_with | at | with_thing | said | on | named | …
        pa.field("src", pa.string(), nullable=False),  # node id: person:<id>, place:<id>, thing:<name>, …
        pa.field("dst", pa.string(), nullable=False),  # node id ("" for names and facts)
        pa.field("src_kind", pa.string()),
        pa.field("dst_kind", pa.string()),
        pa.field("episode_id", pa.string()),  # evidence (episode-derived edges)
        pa.field("valid_from", TS),  # when it was true in the world …
        pa.field("valid_to", TS),
        pa.field("learned_at", TS),  # … and when the memory learnt it / let it go (null: current)
        pa.field("expired_at", TS),
        pa.field("weight", pa.float32()),
        pa.field("source", pa.string()),  # names: user | sign | geocode; facts: user
        pa.field("value_enc", pa.binary()),
    ]
)

GRAPH_NODE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # person | place | thing | episode | day
        pa.field("ref", pa.string(), nullable=False),  # the domain id
        pa.field("first", TS),
        pa.field("last", TS),
        pa.field("episodes", pa.int32()),
        pa.field("updated_at", TS),
    ]
)

ANN_MIN_ROWS = 50_000
#: Below this many rows a table gets no scalar index: an exact scan of it takes about a millisecond,
#: and each index costs a few kB of files (on the sample days, 3 % of the store; docs/storage.md).
SCALAR_MIN_ROWS = 4096
SCALAR_INDEXES: tuple[tuple[str, str, str], ...] = (
    ("frames", "id", "BTREE"),  # also keeps the read-back check of an append O(new rows)
    ("frames", "t", "BTREE"),
    ("frames", "episode_id", "BTREE"),
    ("frames", "labels", "LABEL_LIST"),
    ("episodes", "id", "BTREE"),
    ("episodes", "start", "BTREE"),
    ("media", "id", "BTREE"),
)

SCHEMAS: Mapping[str, pa.Schema] = {
    "media": MEDIA_SCHEMA,
    "episodes": EPISODE_SCHEMA,
    "frames": FRAME_SCHEMA,
    "faces": FACE_SCHEMA,
    "people": PEOPLE_SCHEMA,
    "person_edits": PERSON_EDIT_SCHEMA,
    "utterances": UTTERANCE_SCHEMA,
    "utterance_terms": UTTERANCE_TERM_SCHEMA,
    "transcripts": TRANSCRIPT_SCHEMA,
    "ocr": OCR_SCHEMA,
    "ocr_terms": OCR_TERM_SCHEMA,
    "detections": DETECTION_SCHEMA,
    "notes": NOTE_SCHEMA,
    "note_terms": NOTE_TERM_SCHEMA,
    "media_geo": MEDIA_GEO_SCHEMA,
    "places": PLACE_SCHEMA,
    "place_visits": PLACE_VISIT_SCHEMA,
    "graph_edges": GRAPH_EDGE_SCHEMA,
    "graph_nodes": GRAPH_NODE_SCHEMA,
}


# A table's version folder changed less than this long ago is always looked into (Store.refresh):
# file times come from a coarse clock, so two commits in one tick can leave the same mtime.
SETTLED_NS = 2_000_000_000


def schema_key(schema: pa.Schema) -> str:
    """The column that identifies a row (``id`` where there is one)."""
    return "id" if "id" in schema.names else schema.names[0]


class Store:
    """Thin typed wrapper over the LanceDB connection. One writer at a time (see ``ingest.lock``)."""

    def __init__(self, data_dir: Path, location: TableLocation | None = None) -> None:
        self.data_dir = data_dir
        self.location = location or location_for(data_dir)
        self.uri = self.location.uri
        # the local folder of the tables; on an object store, the local folder nothing is written to
        self.path = data_dir / "db" if self.location.remote else Path(self.uri)
        if not self.location.remote:
            self.path.mkdir(parents=True, exist_ok=True)
        self._tables: dict[str, Any] = _Tables(self._open_table)
        self._lock = threading.Lock()
        self._trash_cache: tuple[tuple[int, int, int], list[str]] | None = None
        # table → its version folder's stat when this handle was last brought up to date (refresh)
        self._seen_versions: dict[str, tuple[int, int, int, int]] = {}
        # table → (version folder's stat, index names) (index_names)
        self._index_cache: dict[str, tuple[tuple[int, int, int, int], list[str]]] = {}
        try:
            self.db = lancedb.connect(self.uri, storage_options=self.location.storage_options() or None)
            # A local memory with every table made opens each when first read (a question reads a
            # few of the 19: ~40 ms of a cold `lifelog ask`, issue #18); otherwise all now, so a
            # memory that cannot be opened or completed says so at once.
            if self.location.remote or not all((self.path / f"{n}.lance").is_dir() for n in SCHEMAS):
                self.open_all()
        except Exception as e:
            raise self.storage_error(e) from e
        # an object-store memory reads its hot tables from a local mirror (lifelog.store.cache)
        self.cache: ReadCache | None = wrap_tables(data_dir, self.location, self._tables)

    def raise_if_storage_failed(self, e: BaseException) -> None:
        """Raise the clear :class:`StorageError` when ``e`` is the object store failing (unreachable,
        refused credentials): a job stops then instead of failing item after item."""
        clear = storage_failure(e, self.location)
        if clear is not None:
            raise clear from e

    def storage_error(self, e: BaseException) -> BaseException:
        """``e`` as a clear :class:`StorageError` when it is the object store failing, else ``e``."""
        clear: StorageError | None = storage_failure(e, self.location)
        return clear if clear is not None else e

    def _open_table(self, name: str) -> Any:
        try:
            return self._open_or_migrate(name, SCHEMAS[name])
        except Exception as e:
            raise self.storage_error(e) from e

    def _open_tables(self) -> list[tuple[str, Any]]:
        """The tables open now, as a list (another thread may open one meanwhile)."""
        tables = self._tables
        return tables.snapshot() if isinstance(tables, _Tables) else list(tables.items())

    def open_all(self) -> None:
        """Open (and bring up to the schema) every table that is not open yet."""
        for name in SCHEMAS:
            _ = self._tables[name]  # opened by the lookup

    def _open_or_migrate(self, name: str, schema: pa.Schema) -> Any:
        """Open a table, adding columns that a newer schema introduced (as nulls)."""
        try:
            tbl = self.db.open_table(name)
        except (ValueError, FileNotFoundError):
            return keep_schema(self.db.create_table(name, schema=schema, exist_ok=True))
        missing = [f for f in schema if f.name not in tbl.schema.names]
        if missing:
            if tbl.count_rows() == 0:
                self.db.drop_table(name)
                return keep_schema(self.db.create_table(name, schema=schema))
            tbl.add_columns(pa.schema([f.with_nullable(True) for f in missing]))
        return keep_schema(tbl)

    def tables_with(self, column: str) -> list[str]:
        return [name for name, schema in SCHEMAS.items() if column in schema.names]

    def table(self, name: str) -> Any:
        tbl = self._tables[name]
        return tbl

    def table_names(self) -> list[str]:
        """Every table in the database: the schema's and the image-text models' vector tables."""
        names: list[str] = []
        token: str | None = None
        while True:
            resp = self.db.list_tables(page_token=token) if token else self.db.list_tables()
            names += list(resp.tables)
            token = getattr(resp, "page_token", None)
            if not token:
                return sorted(set(names) | {n for n, _ in self._open_tables()})

    def any_table(self, name: str) -> Any:
        """An open table by name: the schema's (shared handle) or another one in the database."""
        return self._tables[name] if name in self._tables or name in SCHEMAS else self.db.open_table(name)

    def write_guard(self) -> threading.Lock:
        """The lock the store's own writes take (threads of one process); hold it around a write
        made on a table handle directly."""
        return self._lock

    def _versions_stat(self, name: str) -> tuple[int, int, int, int] | None:
        """The stat of a local table's version folder (``<name>.lance/_versions``, where every
        commit of any process adds a manifest and a clean-up removes them), when it is old enough
        to be trusted: None for a table on an object store, a missing folder, or one changed in the
        last :data:`SETTLED_NS` (a commit in the same tick of the file system's coarse clock would
        leave the same mtime: the "racy git" case, so such a folder is always looked into)."""
        if self.location.remote:
            return None
        try:
            st = os.stat(self.path / f"{name}.lance" / "_versions")
        except OSError:
            return None
        if time.time_ns() - st.st_mtime_ns < SETTLED_NS:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size, st.st_nlink)

    def refresh(self, force: bool = False) -> None:
        """See writes made by other processes.

        A local table whose version folder has not changed since this store last brought it up
        to date is left alone: a ``stat`` instead of a round trip into LanceDB (a question read
        all 19 tables' latest versions: ~5 ms of every ``ask``, bench/query.py). ``force``: every
        table, changed or not."""
        for name, tbl in self._open_tables():
            sig = self._versions_stat(name)  # before the checkout: a commit in between is seen next time
            if not force and sig is not None and self._seen_versions.get(name) == sig:
                continue
            with contextlib.suppress(Exception):  # a table at its latest version already
                tbl.checkout_latest()
            if sig is not None:
                self._seen_versions[name] = sig
            else:
                self._seen_versions.pop(name, None)

    # ------------------------------------------------------------------ writes
    def add(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        schema = SCHEMAS[name]
        batch = pa.Table.from_pylist([dict(r) for r in rows], schema=schema)
        with self._lock:
            tbl = self._tables[name]
            before = tbl.version
            tbl.add(batch)
            self._verify_added(name, tbl, batch, before)

    def _verify_added(self, name: str, tbl: Any, batch: pa.Table, before: int) -> None:
        """Read back what was just appended; if it cannot be read whole, undo the append.

        LanceDB can report success for an append whose data file was cut short by a write error
        (seen with a file-size limit: the failing write lands near the end of the file); every
        later read of the table would then fail. Reading the new rows back catches that, and
        restoring the previous version keeps the memory readable.
        """
        key = schema_key(SCHEMAS[name])
        values = batch.column(key).to_pylist()
        try:
            got = tbl.search().where(sql_in(key, [str(v) for v in values])).limit(None).to_arrow()
            ok = got.num_rows >= len(set(values))
            err: Exception | None = None
        except Exception as e:
            ok, err = False, e
        if ok:
            return
        with contextlib.suppress(Exception):
            tbl.restore(before)
        why = err or "rows missing"
        raise OSError(errno.ENOSPC, f"the {name} table could not be written whole (disk full?): {why}")

    def delete(self, name: str, where: str) -> None:
        with self._lock:
            delete_rows(self._tables[name], where)

    # ----------------------------------------------------------------- indexes
    def index_names(self, name: str) -> list[str]:
        """The table's indexes (kept while its version folder is unchanged: an index is a commit)."""
        sig = self._versions_stat(name)
        cached = self._index_cache.get(name)
        if sig is not None and cached is not None and cached[0] == sig:
            return list(cached[1])
        try:
            names = [str(getattr(ix, "name", ix)) for ix in self._tables[name].list_indices()]
        except Exception:
            return []
        if sig is not None:
            self._index_cache[name] = (sig, names)
        return list(names)

    def has_vector_index(self, name: str, column: str = "semantic") -> bool:
        return f"{column}_idx" in self.index_names(name)

    def ensure_indexes(
        self, ann_min_rows: int = ANN_MIN_ROWS, force_ann: bool = False, scalar_min_rows: int = SCALAR_MIN_ROWS
    ) -> list[str]:
        """Create the scalar indexes of the tables with ``scalar_min_rows`` rows or more, and the ANN
        index once ``frames`` is large; returns what was made.

        Below ``ann_min_rows`` an exact (flat) search is fast enough and exact, so no ANN index
        is built. New rows appended after an index was built are searched exactly until the
        next ``optimize`` folds them in (consolidation does that nightly).
        """
        made: list[str] = []
        with self._lock:
            for tname, col, kind in SCALAR_INDEXES:
                tbl = self._tables[tname]
                if tbl.count_rows() < max(scalar_min_rows, 1) or f"{col}_idx" in self.index_names(tname):
                    continue
                with warnings.catch_warnings():
                    # lancedb 0.40 deprecates this in favour of create_index(config=…), whose sync
                    # form still takes the index's column from the vector-only ``metric`` slot.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    tbl.create_scalar_index(col, index_type=kind)
                made.append(f"{tname}.{col}:{kind}")
            frames = self._tables["frames"]
            n = frames.count_rows()
            if (n >= ann_min_rows or (force_ann and n >= 256)) and not self.has_vector_index("frames"):
                partitions = max(1, min(4096, round(n**0.5)))
                frames.create_index(
                    metric="cosine",
                    vector_column_name="semantic",
                    index_type="IVF_PQ",
                    num_partitions=partitions,
                    num_sub_vectors=SEMANTIC_DIM // 8,
                )
                made.append(f"frames.semantic:IVF_PQ({partitions})")
        return made

    def optimize(self) -> None:
        """Fold new rows into existing indexes and compact small fragments (keeps old versions)."""
        self.open_all()
        with self._lock:
            for name, tbl in self._open_tables():
                optimize_checked(tbl, self._local_path(name), cleanup=False)

    def compact(self) -> None:
        """Compact fragments and drop every old version, so deleted rows leave no trace on disk."""
        self.open_all()
        with self._lock:
            for name, tbl in self._open_tables():
                optimize_checked(tbl, self._local_path(name), cleanup=True)
                if not self.location.remote:  # what a cleanup killed part-way left untracked
                    remove_unused_files(tbl, self.path / f"{name}.lance")
            if self.cache is not None:  # no byte of a compacted-away version stays in the cache
                self.cache.settle(dict(self._open_tables()))

    def _local_path(self, name: str) -> Path | None:
        """A table's folder on the local disk (None on an object store)."""
        return None if self.location.remote else self.path / f"{name}.lance"

    # ------------------------------------------------------------------- reads
    def rows(self, name: str, where: str | None = None, columns: Sequence[str] | None = None) -> pa.Table:
        try:
            return self._rows(name, where, columns)
        except (RuntimeError, OSError) as e:
            if not gone_version(e):
                raise
            self.refresh()  # another process compacted (forget, retention): read the latest version
            return self._rows(name, where, columns)

    def _rows(self, name: str, where: str | None, columns: Sequence[str] | None) -> pa.Table:
        tbl = self._tables[name]
        if where is None and columns is None:
            result: pa.Table = tbl.to_arrow()
            return result
        return select_rows(tbl, where, columns)

    def count(self, name: str, where: str | None = None) -> int:
        try:
            return int(self._tables[name].count_rows(where))
        except (RuntimeError, OSError) as e:
            if not gone_version(e):
                raise
            self.refresh()
            return int(self._tables[name].count_rows(where))

    def uncommitted_media(self) -> list[str]:
        """Media whose import has not finished (running now, or killed): readers leave them out.

        The import journal (``<data>/journal/<media id>``) is the source of truth: an entry exists
        from before the first row of a file is written until after its ``media`` commit row.
        """
        jdir = self.data_dir / JOURNAL_DIR
        try:
            return sorted(
                p.name for p in jdir.iterdir() if all(c in "0123456789abcdef" for c in p.name) and p.name
            )
        except FileNotFoundError:
            return []

    def committed_filter(self, column: str = "media_id", episode_column: str | None = None) -> str | None:
        """A filter that hides rows of unfinished imports, or None when there are none. With
        ``episode_column`` (``episode_id``; ``id`` for the episodes table) readers also hide the
        episodes in the trash (:meth:`trashed_episodes`)."""
        pending = self.uncommitted_media()
        conds = [f"{column} NOT IN ({', '.join(sql_str(m) for m in pending)})"] if pending else []
        trashed = self.trashed_episodes() if episode_column else []
        if trashed:
            conds.append(f"({episode_column} IS NULL OR {episode_column} NOT IN "
                         f"({', '.join(sql_str(e) for e in trashed)}))")
        return " AND ".join(conds) if conds else None

    def trashed_episodes(self) -> list[str]:
        """Ids of the episodes in the trash (``<data>/trash.json``, written atomically by
        :mod:`lifelog.privacy.trash`); read again only when the file changed."""
        path = self.data_dir / TRASH_FILE
        try:
            st = path.stat()
        except FileNotFoundError:
            return []
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._trash_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            doc = json.loads(path.read_bytes())
            ids = sorted({str(e) for b in doc.get("batches", []) for e in b.get("episodes", [])})
        except (OSError, ValueError, AttributeError, TypeError):  # not ours: nothing is hidden
            ids = []
        self._trash_cache = (key, ids)
        return ids

    def has_media(self, media_id: str) -> bool:
        return self.count("media", f"id = {sql_str(media_id)}") > 0

    def bytes_on_disk(self) -> int:
        """Bytes of the tables (on an object store: of their latest versions, as LanceDB counts them)."""
        if not self.location.remote:
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        total = 0
        self.open_all()
        for _, tbl in self._open_tables():
            with contextlib.suppress(Exception):
                total += int(tbl.stats()["total_bytes"])
        return total


class _SchemaKeptTable(LanceTable):
    """A LanceDB table handle that keeps its schema between reads (issue 21). LanceDB asks the
    handle for it two or three times per query (for blob columns, for the vector column), each a
    round trip into its event-loop thread: ~0.5 ms, ~19 times in a question at 1M frames. A
    version's schema never changes, so it is kept until the handle moves to another version or
    writes (a generation count makes a read racing with that not keep the old one)."""

    _kept: tuple[int, pa.Schema] | None = None
    _generation = 0

    @property
    def schema(self) -> pa.Schema:
        gen, kept = self._generation, self._kept
        if kept is not None and kept[0] == gen:
            return kept[1]
        fresh: pa.Schema = super().schema
        if self._generation == gen:
            self._kept = (gen, fresh)
        return fresh

    def forget_schema(self) -> None:
        self._generation += 1
        self._kept = None


def _forgets_schema(name: str) -> Callable[..., Any]:
    base = getattr(LanceTable, name)

    def method(self: _SchemaKeptTable, *args: Any, **kwargs: Any) -> Any:
        self.forget_schema()
        try:
            return base(self, *args, **kwargs)
        finally:
            self.forget_schema()

    method.__name__ = name
    method.__doc__ = base.__doc__
    return method


# every LanceTable method that moves the handle to another version or writes a new one
for _name in ("add", "add_columns", "alter_columns", "drop_columns", "merge_insert", "update", "delete",
              "checkout", "checkout_latest", "restore", "optimize", "compact_files", "cleanup_old_versions",
              "create_index", "create_scalar_index", "create_fts_index", "drop_index", "migrate_v2_manifest_paths"):
    if hasattr(LanceTable, _name):
        setattr(_SchemaKeptTable, _name, _forgets_schema(_name))


def keep_schema(tbl: Any) -> Any:
    """``tbl`` made a :class:`_SchemaKeptTable` when it is a plain local or object-store LanceDB
    table (what ``open_table`` and ``create_table`` return); anything else as it is."""
    if type(tbl) is LanceTable:
        tbl.__class__ = _SchemaKeptTable
    return tbl


class _Tables(dict[str, Any]):
    """A store's open tables: one of the schema's is opened (and migrated) by ``opener`` the first
    time it is looked up, once, whatever the threads (iterating lists only the open ones)."""

    def __init__(self, opener: Callable[[str], Any]) -> None:
        super().__init__()
        self._opener = opener
        self._opening = threading.RLock()

    def __setitem__(self, name: str, tbl: Any) -> None:
        with self._opening:
            super().__setitem__(name, tbl)

    def snapshot(self) -> list[tuple[str, Any]]:
        """The open tables as a list, taken while no table is being added."""
        with self._opening:
            return list(dict.items(self))

    def __missing__(self, name: str) -> Any:
        if name not in SCHEMAS:
            raise KeyError(name)
        with self._opening:
            if dict.__contains__(self, name):
                return dict.__getitem__(self, name)
            tbl = self._opener(name)
            self[name] = tbl
            return tbl


DELETE_CHUNK = 10_000


def delete_rows(tbl: Any, where: str) -> int:
    """Delete the rows of ``tbl`` matching ``where`` by their row addresses; returns how many.

    LanceDB keeps a delete's predicate in the new version's manifest and transaction file, and
    the latest version survives compaction; a predicate naming what was forgotten (a file's
    content hash, frame ids) would stay behind. Deleting by ``_rowid`` leaves only row numbers;
    nothing matching writes no version at all. Callers hold the write lock (row addresses
    are stable until the next write)."""
    if where.strip().lower() == "true":
        n = int(tbl.count_rows())
        if n:
            tbl.delete("true")
        return n
    got = tbl.search().where(where).with_row_id(True).select([]).limit(None).to_arrow()
    ids = sorted(int(r) for r in got.column("_rowid").to_pylist())
    for i in range(0, len(ids), DELETE_CHUNK):
        tbl.delete(f"_rowid IN ({', '.join(str(r) for r in ids[i : i + DELETE_CHUNK])})")
    return len(ids)


#: the folders of a LanceDB table whose files belong to a version (data, indexes, deletions)
_VERSIONED = ("data", "_indices", "_deletions")


def unused_files(tbl: Any, path: Path) -> list[Path]:
    """Files under a local table's data, index and deletion folders that its latest version does
    not use: what a compaction killed before its commit, or a cleanup killed part-way, left."""
    try:
        import lance

        ds = lance.dataset(str(path))
        used = {path / "data" / d.path for fr in ds.get_fragments() for d in fr.metadata.files}
        used |= {path / fr.metadata.deletion_file.path(fr.fragment_id)  # "_deletions/<file>"
                 for fr in ds.get_fragments() if fr.metadata.deletion_file is not None}
        with warnings.catch_warnings():  # list_indices: deprecated for describe_indices, which has no uuid
            warnings.simplefilter("ignore", DeprecationWarning)
            indexes = {str(ix["uuid"]) for ix in ds.list_indices()}
    except Exception:
        return []
    unused = []
    for sub in _VERSIONED:
        for p in (path / sub).rglob("*") if (path / sub).is_dir() else ():
            if not p.is_file():
                continue
            if sub == "_indices":
                if p.relative_to(path / sub).parts[0] not in indexes:
                    unused.append(p)
            elif p not in used:
                unused.append(p)
    return unused


_LANCE_MAGIC = b"LANC"  # the last four bytes of every Lance data file
_KEEP_VERSIONS = timedelta(days=36500)  # "keep every older version" for optimize's cleanup


def cut_short_files(path: Path) -> list[Path]:
    """Data files of a local table's latest version that do not end as a Lance file ends: a
    write cut short by a write error that LanceDB did not notice (seen with a file-size limit,
    for appends and for compactions). Empty when the version cannot be read at all."""
    try:
        import lance

        files = [path / "data" / d.path for fr in lance.dataset(str(path)).get_fragments() for d in fr.metadata.files]
    except Exception:
        return []
    bad = []
    for p in files:
        try:
            with p.open("rb") as f:
                f.seek(-len(_LANCE_MAGIC), 2)
                whole = f.read(len(_LANCE_MAGIC)) == _LANCE_MAGIC
        except OSError:
            whole = False
        if not whole:
            bad.append(p)
    return bad


def optimize_checked(tbl: Any, path: Path | None, *, cleanup: bool) -> None:
    """``optimize`` a table (compact fragments, fold new rows into its indexes) and, with
    ``cleanup``, then drop every older version — but only once the compacted version is known to
    be whole: a compaction whose data file a write error cut short is undone (the version before
    is restored) and reported as a full disk, never cleaned up into the only version left.
    ``path``: the table's local folder (None on an object store, which is not checked)."""
    before = tbl.version
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "removes every version except the latest"
        tbl.optimize(cleanup_older_than=_KEEP_VERSIONS)
        if path is not None and (bad := cut_short_files(path)):
            with contextlib.suppress(Exception):
                tbl.restore(before)
            raise OSError(errno.ENOSPC, f"the {path.stem} table could not be compacted whole (disk full?): "
                                        f"{bad[0].name} was cut short; the version before it was kept")
        if cleanup:
            tbl.optimize(cleanup_older_than=timedelta(0), delete_unverified=True)


def remove_unused_files(tbl: Any, path: Path) -> int:
    """Delete the files of a local table that no version uses, once it has only its latest
    version; how many. LanceDB's cleanup finds them through the older versions' manifests: a
    cleanup killed after it deleted those manifests but before their data files leaves files that
    no later cleanup looks at (seen in the kill test). With one version left, a file the latest
    version does not use belongs to no version. Call with the write lock held."""
    try:
        if len(tbl.list_versions()) != 1:
            return 0
    except Exception:
        return 0
    removed = 0
    for p in unused_files(tbl, path):
        try:
            p.unlink()
        except OSError:
            continue
        removed += 1
    return removed


def gone_version(e: BaseException) -> bool:
    """A read of a table version whose files another process removed (``Store.compact`` after a
    forget): reading the latest version instead is right."""
    text = str(e)
    return "Not found" in text and ".lance" in text


def select_rows(tbl: Any, where: str | None, columns: Sequence[str] | None = None) -> pa.Table:
    """All rows of an open LanceDB table matching ``where`` (SQL), only ``columns`` if given."""
    q = tbl.search()
    if where:
        q = q.where(where)
    if columns:
        q = q.select(list(columns))
    out: pa.Table = q.limit(None).to_arrow()
    return out
