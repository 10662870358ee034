"""Questions answered with an installed image-text model (``docs/models.md``).

The import side (the analyzer writing each frame's vector, the tables, the re-index) lives in
:mod:`lifelog.encoders.vectors`; this is the question side: the subject embedded by the model's
text encoder, the model's nearest frames added to the candidates, and their scores put **in
place of** the default semantic score where a frame has a vector of the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from lifelog.encoders.vectors import IN_CHUNK, ModelVectors, active
from lifelog.recall.score import Scorer, frame_scores
from lifelog.store.db import Store
from lifelog.store.sql import sql_in

if TYPE_CHECKING:
    from lifelog.encoders.registry import InstalledModel


@dataclass
class ModelQuery:
    """A question's subject embedded by the active model's text encoder."""

    model: InstalledModel
    vectors: ModelVectors
    q: NDArray[np.float32]

    @property
    def full_name(self) -> str:
        return self.model.full_name

    def score(self, cos: NDArray[Any]) -> NDArray[np.float32]:
        """Image-text cosine → evidence in 0..1 with the model's calibration from the manifest."""
        s = self.model.spec
        out: NDArray[np.float32] = np.clip((cos - s.match_floor) / s.match_span, 0.0, 1.0).astype(np.float32)
        return out


def model_query(store: Store, subject: str) -> ModelQuery | None:
    """The active model's query for ``subject``; None with the offline default (or no vectors yet)."""
    model = active(store)
    if model is None or not subject.strip():
        return None
    from lifelog.encoders.clip import encoder_for

    vectors = ModelVectors(store, model.name, model.spec.dim)
    if not vectors.exists():
        return None
    q = encoder_for(model).encode_texts([subject])[0]
    return ModelQuery(model, vectors, q)


def augment_candidates(
    store: Store, mq: ModelQuery, table: pa.Table, where: str, columns: Sequence[str], k: int
) -> pa.Table:
    """Add the model's ``k`` nearest frames to ``table`` and a ``model_score`` column (null = no vector).

    ``table`` holds the default path's candidates (``columns``); ``where`` is the same time
    window / committed-imports filter, applied here to the model's table.
    """
    near = mq.vectors.nearest(mq.full_name, mq.q, where, k)
    have = set(table.column("id").to_pylist()) if table.num_rows else set()
    extra_ids = [i for i in near.column("id").to_pylist() if i not in have]
    parts = [table]
    trash = store.committed_filter(episode_column="episode_id")  # frames of trashed episodes stay out
    for i in range(0, len(extra_ids), IN_CHUNK):
        where_ids = sql_in("id", extra_ids[i : i + IN_CHUNK])
        rows = store.rows("frames", f"{where_ids} AND {trash}" if trash else where_ids, columns=list(columns))
        parts.append(rows.select(list(columns)).cast(table.schema))
    out = pa.concat_tables(parts) if len(parts) > 1 else table
    ids = out.column("id").to_pylist()
    vecs = mq.vectors.vectors(mq.full_name, ids)
    scores: list[float | None] = []
    for fid in ids:
        v = vecs.get(fid)
        scores.append(None if v is None else float(mq.score(np.asarray([float(v @ mq.q)]))[0]))
    return out.append_column(pa.field("model_score", pa.float32()), pa.array(scores, pa.float32()))


def rescore_frames(scorer: Scorer, table: pa.Table, default_scores: NDArray[Any]) -> NDArray[np.float32]:
    """Frame scores with the model's evidence **in place of** the default semantic score where a
    frame has a vector of the model: ``max(label score, model score)`` there, unchanged elsewhere.

    ``scorer`` is the question's :class:`lifelog.recall.score.Scorer` (for the label score).
    """
    out = np.asarray(default_scores, dtype=np.float32).copy()
    if "model_score" not in table.column_names or not table.num_rows:
        return out
    ms = table.column("model_score")
    has = np.asarray(ms.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if not has.any():
        return out
    labels_only = frame_scores(scorer, np.zeros((0, 1), np.float32), table.column("labels"),
                               table.column("label_scores"))
    model = np.asarray(ms.fill_null(0.0).to_numpy(zero_copy_only=False), dtype=np.float32)
    out[has] = np.maximum(np.asarray(labels_only, dtype=np.float32)[has], model[has])
    return out
