"""Frame vectors of an optional image-text model: one LanceDB table per model, written at import.

Why a table per model (``<data>/db/imgtext_<model>.lance``) rather than a column of ``frames``:
a CLIP vector has another size (512, 768 …) and another *space* than the default 384-d ConSE
vector, so the two must never be compared with each other. Each row is one frame's vector from
one model version (``model = name@version``), written by the import (an analyzer) or by the
re-index job (:mod:`lifelog.ingest.reindex`). Questions use them through
:mod:`lifelog.recall.model_search`. The default ``frames.semantic`` vectors stay, so:

* a question is embedded by each model's own text encoder and compared only with vectors of
  that model — the MiniLM vector with ``frames.semantic``, the CLIP text vector with this table;
* a frame that has a vector of the active model is scored by it **in place of** its ConSE
  vector; a frame not re-indexed yet keeps its ConSE score. A half-done re-index therefore gives
  correct answers (each frame scored once, in one space), only weaker for frames not yet done;
* ``lifelog models use default`` returns to the offline vectors at once; the table stays, so
  going back to the model needs no re-index.

The rows hold ``media_id`` and ``t`` so an import rollback and the time-window filter work on
this table alone; ``lifelog.ingest.pipeline.remove_media_rows`` deletes a file's rows here too.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from lifelog.store.db import ANN_MIN_ROWS, TS, Store
from lifelog.store.search import NPROBES, refine_factor
from lifelog.store.sql import sql_in, sql_str

if TYPE_CHECKING:
    from lifelog.encoders.analyzers import FrameInput
    from lifelog.encoders.clip import ClipEncoder
    from lifelog.encoders.registry import InstalledModel

TABLE_PREFIX = "imgtext_"
IN_CHUNK = 2000  # ids per ``IN (...)`` filter


def table_name(model_name: str) -> str:
    return TABLE_PREFIX + re.sub(r"[^a-z0-9]+", "_", model_name.lower()).strip("_")


def vector_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),  # the frame id
            pa.field("media_id", pa.string(), nullable=False),
            pa.field("t", TS),
            pa.field("vector", pa.list_(pa.float32(), dim)),
            pa.field("model", pa.string()),  # name@version
            pa.field("source", pa.string()),  # import | media (re-decoded original) | thumbnail
        ]
    )


def vector_tables(store: Store) -> list[str]:
    """Names of every model-vector table in the store (installed or not any more)."""
    names: list[str] = []
    token: str | None = None
    while True:
        resp = store.db.list_tables(page_token=token) if token else store.db.list_tables()
        names += [n for n in resp.tables if n.startswith(TABLE_PREFIX)]
        token = getattr(resp, "page_token", None)
        if not token:
            return sorted(set(names))


class ModelVectors:
    """The vector table of one model (created on first use)."""

    def __init__(self, store: Store, model_name: str, dim: int) -> None:
        self.store = store
        self.name = table_name(model_name)
        self.dim = dim
        self._tbl: Any = None

    @property
    def table(self) -> Any:
        if self._tbl is None:
            try:
                tbl = self.store.db.open_table(self.name)
            except (ValueError, FileNotFoundError):
                tbl = self.store.db.create_table(self.name, schema=vector_schema(self.dim), exist_ok=True)
            size = tbl.schema.field("vector").type.list_size
            if size != self.dim:
                raise ValueError(f"table {self.name} holds {size}-d vectors, the model gives {self.dim}-d")
            self._tbl = tbl
        return self._tbl

    def fresh(self) -> Any:
        """The table at its latest version (other handles and processes write to it too)."""
        tbl = self.table
        with contextlib.suppress(Exception):  # already the latest
            tbl.checkout_latest()
        return tbl

    def exists(self) -> bool:
        return self.name in vector_tables(self.store)

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.table.add(pa.Table.from_pylist([dict(r) for r in rows], schema=vector_schema(self.dim)))

    def count(self, model: str | None = None) -> int:
        if not self.exists():
            return 0
        return int(self.fresh().count_rows(f"model = {sql_str(model)}" if model else None))

    def ids_with(self, model: str, ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        self.fresh()
        for i in range(0, len(ids), IN_CHUNK):
            where = f"model = {sql_str(model)} AND {sql_in('id', ids[i : i + IN_CHUNK])}"
            got = self.table.search().where(where).select(["id"]).limit(None).to_arrow()
            out.update(got.column("id").to_pylist())
        return out

    def vectors(self, model: str, ids: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        out: dict[str, NDArray[np.float32]] = {}
        self.fresh()
        for i in range(0, len(ids), IN_CHUNK):
            where = f"model = {sql_str(model)} AND {sql_in('id', ids[i : i + IN_CHUNK])}"
            got = self.table.search().where(where).select(["id", "vector"]).limit(None).to_arrow()
            if got.num_rows:
                flat = got.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
                mat = np.asarray(flat, dtype=np.float32).reshape(got.num_rows, self.dim)
                out.update(zip(got.column("id").to_pylist(), mat, strict=True))
        return out

    def delete(self, where: str) -> None:
        if self.exists():
            self.table.delete(where)

    def nearest(self, model: str, q: NDArray[np.float32], where: str, k: int) -> pa.Table:
        """(id, _distance) of the ``k`` nearest vectors of ``model`` (cosine), filtered by ``where``."""
        if not self.exists():
            return pa.table({"id": pa.array([], pa.string()), "_distance": pa.array([], pa.float32())})
        flt = f"({where}) AND model = {sql_str(model)}"
        tbl = self.fresh()
        search: Any = (
            tbl.search(q.astype(np.float32), vector_column_name="vector")
            .distance_type("cosine")
            .where(flt, prefilter=True)
            .select(["id"])
            .limit(k)
        )
        if _has_index(tbl):
            search = search.nprobes(NPROBES).refine_factor(refine_factor(k))
        result: pa.Table = search.to_arrow().select(["id", "_distance"])
        return result


def delete_media_vectors(store: Store, media_id: str) -> None:
    """Remove one file's rows from every model-vector table (import rollback, forget)."""
    for name in vector_tables(store):
        store.db.open_table(name).delete(f"media_id = {sql_str(media_id)}")


def compact_vector_tables(
    store: Store, drop_old_versions: bool = False, ann_min_rows: int = ANN_MIN_ROWS
) -> list[str]:
    """Merge small fragments, and build an ANN index on a table once it is large (as
    ``Store.ensure_indexes`` does for ``frames``); returns the indexes made. With
    ``drop_old_versions`` deleted rows leave no trace on disk."""
    made = []
    for name in vector_tables(store):
        tbl = store.db.open_table(name)
        n = tbl.count_rows()
        if n >= max(ann_min_rows, 256) and not _has_index(tbl):
            dim = tbl.schema.field("vector").type.list_size
            sub = max([d for d in range(1, dim + 1) if dim % d == 0 and dim // d >= 8] or [1])
            partitions = max(1, min(4096, round(n**0.5)))
            from lancedb.index import IvfPq

            tbl.create_index(
                "vector", config=IvfPq(distance_type="cosine", num_partitions=partitions, num_sub_vectors=sub)
            )
            made.append(f"{name}.vector:IVF_PQ({partitions})")
        with contextlib.suppress(Exception):  # an optimisation only
            if drop_old_versions:
                tbl.optimize(cleanup_older_than=timedelta(0), delete_unverified=True)
            else:
                tbl.optimize()
    return made


def _has_index(tbl: Any) -> bool:
    try:
        return any("vector" in str(getattr(ix, "name", ix)) for ix in tbl.list_indices())
    except Exception:
        return False


# ------------------------------------------------------------------ the active model
def active(store: Store) -> InstalledModel | None:
    from lifelog.encoders.registry import active_model

    return active_model(store.data_dir)


def stale_frames(store: Store, model: InstalledModel) -> int:
    """Frames (of finished imports) without a vector of ``model`` — what a re-index would do."""
    frames = store.count("frames")
    done = ModelVectors(store, model.name, model.spec.dim).count(model.full_name)
    return max(0, frames - done)


class ImageTextAnalyzer:
    """A :class:`~lifelog.encoders.analyzers.FrameAnalyzer` that embeds each kept frame with the
    active model and writes the vectors to the model's table (so new imports need no re-index).

    It writes its rows itself (its table is not one of the store's fixed tables) and returns
    none to the importer; the journal's rollback removes them with the rest of the file.
    """

    name = "image-text model"
    table = "frames"  # returns no rows; the importer writes nothing for it

    def __init__(self, store: Store, model: InstalledModel) -> None:
        from lifelog.encoders.clip import encoder_for

        self.store = store
        self.model = model
        self.encoder: ClipEncoder = encoder_for(model)
        self.vectors = ModelVectors(store, model.name, model.spec.dim)

    def analyze(self, frames: Sequence[FrameInput]) -> list[dict[str, Any]]:
        if not frames:
            return []
        vecs = self.encoder.encode_images([f.rgb for f in frames])
        rows = [
            {
                "id": f.frame_id,
                "media_id": f.frame_id.rsplit("-", 1)[0],
                "t": f.t,
                "vector": v.tolist(),
                "model": self.model.full_name,
                "source": "import",
            }
            for f, v in zip(frames, vecs, strict=True)
        ]
        self.vectors.add(rows)
        return []


def image_text_analyzers(store: Store) -> list[ImageTextAnalyzer]:
    """The analyzer for the active model, or none when the offline default is in use."""
    model = active(store)
    return [ImageTextAnalyzer(store, model)] if model is not None else []
