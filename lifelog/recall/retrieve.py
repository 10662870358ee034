"""Candidate frames for a subject, from LanceDB, fast at a million frames.

Two candidate sources, both filtered by the question's time window inside LanceDB:

* **vector**: nearest neighbours of the subject's text vector among frame ConSE vectors
  (``semantic``), ``VECTOR_K`` of them — an IVF-PQ index once the table is large
  (``Store.ensure_indexes``), refined with exact distances (``refine_factor``);
* **label**: every frame whose top labels include a label that names the subject
  (``array_has_any`` on a LABEL_LIST scalar index) — exact, so "last"/"count" see every
  labelled sighting, however many more similar-looking frames exist.

The union is scored by :class:`lifelog.recall.score.Scorer` and grouped into episodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from lifelog.store.db import Store, sql_str

VECTOR_K = 400
NPROBES = 24
REFINED_CANDIDATES = 1000  # PQ distances are re-ranked exactly over at least this many rows


def refine_factor(k: int) -> int:
    """IVF-PQ refine factor so that ``k * factor`` >= REFINED_CANDIDATES (recall@10 ≈ 0.95 at 1M)."""
    return max(2, -(-REFINED_CANDIDATES // max(k, 1)))
COLUMNS = ["id", "episode_id", "t", "semantic", "labels", "label_scores", "thumb_id"]


def ts_literal(dt: datetime) -> str:
    from datetime import UTC

    return f"timestamp '{dt.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')}Z'"


def window_filter(start: datetime | None, end: datetime | None, column: str = "t") -> str:
    parts = []
    if start is not None:
        parts.append(f"{column} >= {ts_literal(start)}")
    if end is not None:
        parts.append(f"{column} < {ts_literal(end)}")
    return " AND ".join(parts) if parts else "true"


@dataclass
class Candidates:
    table: pa.Table  # COLUMNS, one row per distinct frame
    from_vector: int
    from_labels: int


def count_label_hits(store: Store, label_names: list[str], start: datetime | None, end: datetime | None) -> int:
    """Frames in the window whose top labels include one of ``label_names`` (LABEL_LIST index)."""
    where = window_filter(start, end)
    hidden = store.committed_filter()
    if hidden:
        where = f"({where}) AND {hidden}"
    names = ", ".join(sql_str(n) for n in label_names[:200])
    return int(store.table("frames").count_rows(f"({where}) AND array_has_any(labels, make_array({names}))"))


def candidate_frames(
    store: Store,
    query_vector: NDArray[np.float32],
    label_names: list[str],
    start: datetime | None,
    end: datetime | None,
    k: int = VECTOR_K,
) -> Candidates:
    tbl = store.table("frames")
    where = window_filter(start, end)
    hidden = store.committed_filter()
    if hidden:
        where = f"({where}) AND {hidden}"
    q: Any = (
        tbl.search(query_vector.astype(np.float32), vector_column_name="semantic")
        .distance_type("cosine")
        .where(where, prefilter=True)
        .select([*COLUMNS, "_distance"])
        .limit(k)
    )
    if store.has_vector_index("frames"):
        q = q.nprobes(NPROBES).refine_factor(refine_factor(k))
    vec = q.to_arrow().select(COLUMNS)
    parts = [vec]
    n_lab = 0
    if label_names:
        names = ", ".join(sql_str(n) for n in label_names[:200])
        light = [c for c in COLUMNS if c != "semantic"]
        lab = (
            tbl.search()
            .where(f"({where}) AND array_has_any(labels, make_array({names}))")
            .select(light)
            .limit(None)
            .to_arrow()
        )
        # Label hits are scored by their labels; their vectors are not read (a year of "cup"
        # sightings would otherwise pull hundreds of MB of vectors).
        sem_type = tbl.schema.field("semantic").type
        lab = lab.append_column(pa.field("semantic", sem_type), pa.nulls(lab.num_rows, sem_type)).select(COLUMNS)
        vec = vec.cast(lab.schema) if vec.schema != lab.schema else vec
        parts[0] = vec
        n_lab = lab.num_rows
        parts.append(lab)
    table = pa.concat_tables(parts, promote_options="none") if len(parts) > 1 else vec
    if table.num_rows:
        ids = table.column("id").to_pylist()
        seen: set[str] = set()
        keep = []
        for i, fid in enumerate(ids):
            if fid not in seen:
                seen.add(fid)
                keep.append(i)
        if len(keep) != table.num_rows:
            table = table.take(pa.array(keep))
    return Candidates(table, vec.num_rows, n_lab)
