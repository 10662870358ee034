"""The export format's constants, its tables and the conversions between rows and JSON.

See ``docs/export-format.md`` for the format field by field. A row of the memory becomes one
JSON object: vault ciphertext columns (``*_enc``) are decrypted into plain fields (``summary``,
``name``, ``text``, ``words``), times become ISO 8601 strings in UTC, and the long vectors go
to ``.npy`` files beside the JSON (row ``i`` of the array is object ``i`` of the JSON list).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from lifelog.store.db import SCHEMAS
from lifelog.store.vault import Vault

FORMAT = "lifelog-export"
FORMAT_VERSION = 2  # 2: places (media_geo, places, place_visits) and data/graph.json
MANIFEST = "manifest.json"
GRAPH = "data/graph.json"
DATA = "data"
VECTORS = "vectors"
THUMBS = "media/thumbs"
FACES = "media/faces"
ORIGINALS = "media/originals"
PASSPHRASE_ENV = "LIFELOG_EXPORT_PASSPHRASE"
PARTIAL = ".partial-"

#: The memory's tables an export carries, in the order they are restored (``media`` last: it
#: is the commit record of a file, as in an import). ``person_edits`` (the undo log) and the two
#: blind-index tables are not carried: the index is rebuilt under the target memory's own key.
TABLES: tuple[str, ...] = ("people", "frames", "faces", "ocr", "detections", "utterances", "transcripts", "media_geo",
                           "places", "place_visits", "episodes", "media")

#: Encrypted columns: table -> column -> (JSON field, associated-data prefix, JSON-encoded text).
ENCRYPTED: dict[str, dict[str, tuple[str, str, bool]]] = {
    "episodes": {"summary_enc": ("summary", "summary", False)},
    "people": {"name_enc": ("name", "person-name", False)},
    "utterances": {"text_enc": ("text", "utterance", False), "words_enc": ("words", "utterance-words", True)},
    "ocr": {"text_enc": ("text", "ocr", False)},
    "media_geo": {"fix_enc": ("fix", "geo", True)},
    "places": {"name_enc": ("name", "place-name", False), "center_enc": ("center", "place-center", True)},
}

#: Fixed-size list columns at least this long are vectors (stored as .npy, not JSON).
VECTOR_MIN = 64

Stage = Literal["reading", "checking", "rows", "media", "vectors", "writing", "indexes", "done"]


class ArchiveError(RuntimeError):
    """An export or import failed (the message says why, in one line)."""


class ArchiveUsageError(ArchiveError):
    """Bad arguments: the destination exists, the source is missing, no passphrase."""


class ArchiveRefused(ArchiveError):
    """The archive is tampered with, truncated, of a newer version or not an export: nothing
    was imported."""


class WrongPassphrase(ArchiveRefused):
    """The passphrase does not open the encrypted archive."""


class ArchiveCancelled(ArchiveError):
    """Cancelled; nothing partial was left (export) or kept (import)."""


@dataclass(frozen=True)
class ArchiveProgress:
    """Where an export or import is; the CLI's progress printer reads these fields."""

    stage: Stage
    files_done: int
    files_total: int
    current: str = ""

    @property
    def fraction(self) -> float:
        return self.files_done / self.files_total if self.files_total else 0.0


ProgressFn = Callable[[ArchiveProgress], None]


def table_key(table: str) -> str:
    return "id" if "id" in SCHEMAS[table].names else SCHEMAS[table].names[0]


def vector_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_fixed_size_list(f.type) and f.type.list_size >= VECTOR_MIN]


def npy_dtype(field: pa.Field) -> Any:
    return np.float16 if pa.types.is_float16(field.type.value_type) else np.float32


def _aad(prefix: str, row_id: str) -> str:
    return f"{prefix}:{row_id}"


def to_json_rows(table: str, rows: pa.Table, vault: Vault) -> tuple[list[dict[str, Any]], dict[str, NDArray[Any]]]:
    """(JSON objects, vector arrays by column) of rows of a memory table (or a model table)."""
    schema = rows.schema
    vcols = vector_columns(schema)
    enc = ENCRYPTED.get(table, {})
    key = "id" if "id" in schema.names else schema.names[0]
    out: list[dict[str, Any]] = []
    for r in rows.select([n for n in schema.names if n not in vcols]).to_pylist():
        doc: dict[str, Any] = {}
        for name, value in r.items():
            if name in enc:
                field, prefix, is_json = enc[name]
                text = vault.decrypt_text(value, _aad(prefix, str(r[key]))) if value else None
                doc[field] = json.loads(text) if (is_json and text) else text
            elif isinstance(value, datetime):
                doc[name] = value.isoformat()
            else:
                doc[name] = value
        out.append(doc)
    arrays: dict[str, NDArray[Any]] = {}
    for c in vcols:
        f = schema.field(c)
        dim = f.type.list_size
        col = rows.column(c)
        arr = np.full((rows.num_rows, dim), np.nan, dtype=npy_dtype(f))
        for i, v in enumerate(col.to_pylist()):
            if v is not None:
                arr[i] = np.asarray(v, dtype=arr.dtype)
        arrays[c] = arr
    return out, arrays


def from_json_rows(
    table: str, schema: pa.Schema, docs: list[dict[str, Any]], arrays: dict[str, NDArray[Any]], vault: Vault
) -> list[dict[str, Any]]:
    """Rows for ``store.add`` (or a model table) from the JSON objects and vectors of an export,
    texts encrypted under ``vault`` (the target memory's key)."""
    enc = ENCRYPTED.get(table, {})
    by_field = {field: (col, prefix, is_json) for col, (field, prefix, is_json) in enc.items()}
    key = "id" if "id" in schema.names else schema.names[0]
    ts_cols = {f.name for f in schema if pa.types.is_timestamp(f.type)}
    out: list[dict[str, Any]] = []
    for i, d in enumerate(docs):
        row: dict[str, Any] = {}
        for name, value in d.items():
            if name in by_field:
                col, prefix, is_json = by_field[name]
                if value is None:
                    row[col] = None
                else:
                    text = json.dumps(value, ensure_ascii=False) if is_json else str(value)
                    row[col] = vault.encrypt_text(text, _aad(prefix, str(d[key])))
            elif name in ts_cols:
                row[name] = datetime.fromisoformat(value) if value else None
            elif name in schema.names:
                row[name] = value
        for c, arr in arrays.items():
            v = arr[i]
            row[c] = None if np.isnan(v.astype(np.float32)).any() else v.astype(np.float32).tolist()
        out.append(row)
    return out
