"""Candidate frames for a subject, from LanceDB, fast at a million frames.

Two candidate sources, both filtered by the question's time window inside LanceDB:

* **vector**: nearest neighbours of the subject's text vector among frame ConSE vectors
  (``semantic``), ``VECTOR_K`` of them — an IVF-PQ index once the table is large
  (``Store.ensure_indexes``), refined with exact distances (``lifelog.store.search``);
* **label**: every frame whose top labels include a label that names the subject
  (``array_has_any`` on a LABEL_LIST scalar index) — exact, so "last"/"count" see every
  labelled sighting, however many more similar-looking frames exist.

The union is scored by :class:`lifelog.recall.score.Scorer` and grouped into episodes.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from lifelog.recall.strategy import DEFAULT_STRATEGY, RecallStrategy
from lifelog.store.db import Store
from lifelog.store.search import NPROBES, refine_factor
from lifelog.store.sql import sql_in, sql_str, ts_literal, window_filter

if TYPE_CHECKING:
    from lifelog.recall.model_search import ModelQuery

VECTOR_K = 400
# Windows open at the start are searched unfiltered and filtered afterwards up to this many
# neighbours (candidate_frames: the whole-window probe's 50); larger searches filter first.
POSTFILTER_MAX_K = 100
COLUMNS = ["id", "episode_id", "t", "semantic", "labels", "label_scores", "thumb_id"]


@dataclass
class Candidates:
    table: pa.Table  # COLUMNS, one row per distinct frame
    from_vector: int
    from_labels: int


# The label path is exact: a frame's label score is 2 × Σ weight·probability over the labels that
# name the subject, so "score ≥ threshold" is the SQL condition below, evaluated by LanceDB on
# the rows the LABEL_LIST index narrows to. A year of weak "cup 2 %" sightings is then never read.
# (RecallStrategy.label_mass_filter: bench/query.py --compare switches it off to measure its effect.)
# The SQL sum costs LanceDB time per term (~1 ms each at 1M frames, even on few rows), so it is
# used only for a short label list with many sightings; otherwise the sightings are read and
# their mass is computed with numpy (retrieve._mass_ok).
MAX_FILTER_LABELS = 24
FETCH_ALL_BELOW = 3000  # sightings (array_has_any) below this are read and filtered in numpy
# The label mass of an episode's frames is bounded by the same sum over its label peaks (each
# label's highest score in the episode, lifelog.ingest.peaks): the episodes whose peaks clear the
# mass are found in memory (retrieve._peaks), and only their frames are read — when there are at
# most this many of them (else the sightings are scanned as before).
PEAK_EPISODES_MAX = 400
# Episodes are matched to a window with this much room either side: a frame lies inside its
# episode's span, the room only makes that hold whatever an older import or an archive did.
PEAK_WINDOW_ROOM = timedelta(days=1)


def label_filter(weights: dict[str, float] | list[str], min_mass: float = 0.0,
                 strategy: RecallStrategy = DEFAULT_STRATEGY, labels: str = "labels",
                 scores: str = "label_scores") -> str | None:
    """SQL for "the frame's labels naming the subject carry at least ``min_mass``".

    ``weights`` maps label → weight (how well it names the subject); a plain list means weight 1.
    ``min_mass`` ≤ 0 (or the strategy's ``label_mass_filter`` off) keeps every frame that has one
    of the labels. ``None`` when no label names it. ``labels``/``scores``: the columns (an
    episode's ``peak_labels``/``peak_scores`` give the bound of its frames').
    """
    w = weights if isinstance(weights, dict) else dict.fromkeys(weights, 1.0)
    items = sorted(((n, float(v)) for n, v in w.items() if v > 0), key=lambda kv: -kv[1])[:200]
    if not items:
        return None
    names = ", ".join(sql_str(n) for n, _ in items)
    has = f"array_has_any({labels}, make_array({names}))"
    if min_mass <= 0 or not strategy.label_mass_filter:
        return has
    terms = " + ".join(
        f"{v:.6f} * coalesce(array_element({scores}, CAST(array_position({labels}, {sql_str(n)}) AS BIGINT)), 0)"
        for n, v in items
    )
    return f"{has} AND ({terms}) >= {min_mass:.6f}"


def _weights(label_names: dict[str, float] | list[str]) -> dict[str, float]:
    return label_names if isinstance(label_names, dict) else dict.fromkeys(label_names, 1.0)


def count_in(store: Store, start: datetime | None, end: datetime | None, cond: str,
             strategy: RecallStrategy = DEFAULT_STRATEGY) -> int:
    """Frames of the window meeting ``cond``, counted in LanceDB.

    A window open at the start (``t < end``: every memory before the last day, as the probe of
    "last" asks) covers most of the table, and LanceDB spends more on that range than on the
    condition itself (~10 ms at 1M frames, ~20–30 ms with the label-mass sum). Then it is
    counted as all frames meeting ``cond`` less those at or after ``end`` — the same number
    (unless the strategy's ``split_count`` is off: bench/query.py --compare's baseline).
    """
    tbl = store.table("frames")
    if strategy.split_count and start is None and end is not None:
        hidden = store.committed_filter(episode_column="episode_id")
        extra = f" AND {hidden}" if hidden else ""
        total = int(tbl.count_rows(f"({cond}){extra}"))
        if total == 0:
            return 0
        # ``t`` is never null in frames (FRAME_SCHEMA), so this is exactly "not t < end"
        return total - int(tbl.count_rows(f"(t >= {ts_literal(end)}) AND ({cond}){extra}"))
    return int(tbl.count_rows(f"({window_where(store, start, end)}) AND {cond}"))


def _label_where(store: Store, start: datetime | None, end: datetime | None, weights: dict[str, float],
                 min_mass: float, strategy: RecallStrategy) -> tuple[str | None, bool, int | None]:
    """The filter for the label path, whether rows must still be checked for their mass, and the
    number of sightings (array_has_any) when it was counted."""
    has = label_filter(weights, 0.0)
    if has is None or min_mass <= 0 or not strategy.label_mass_filter:
        return has, False, None
    n_has = count_in(store, start, end, has, strategy)
    if n_has <= FETCH_ALL_BELOW or len(weights) > MAX_FILTER_LABELS:
        return has, True, n_has
    return label_filter(weights, min_mass, strategy), False, n_has


def _mass_ok(rows: pa.Table, weights: dict[str, float], min_mass: float) -> pa.Table:
    from lifelog.recall.score import label_mass

    if rows.num_rows == 0:
        return rows
    keep = label_mass(weights, rows.column("labels"), rows.column("label_scores")) >= min_mass
    return rows.filter(pa.array(keep))


@dataclass(frozen=True)
class _Peaks:
    """Every episode's label peaks in memory, by label (~2 MB at a year of memories, ~20 MB at ten)."""

    version: Any
    ids: pa.Array  # episode ids (strings)
    start_us: NDArray[np.int64]
    end_us: NDArray[np.int64]
    n_frames: NDArray[np.int64]
    unknown: NDArray[np.bool_]  # peaks not known yet (an older memory, before the nightly pass)
    postings: dict[str, tuple[NDArray[np.int64], NDArray[np.float32]]]  # label → (episode rows, peak score)


_PEAKS: weakref.WeakKeyDictionary[Any, _Peaks] = weakref.WeakKeyDictionary()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(t: datetime) -> int:
    return (t.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


def _peaks(store: Store) -> _Peaks:
    """The episodes' peaks, read once and kept per store until the episodes table changes (one
    look-up of its version per question; reading them costs ~0.1 s at a year of memories, ~0.9 s
    at ten years)."""
    version: Any = None
    with contextlib.suppress(Exception):  # no version to key on: read every time
        version = store.table("episodes").version
    cached = _PEAKS.get(store) if version is not None else None
    if cached is not None and cached.version == version:
        return cached
    rows = store.rows("episodes", None, columns=["id", "start", "end", "n_frames", "peak_labels", "peak_scores"])
    labels = rows.column("peak_labels").combine_chunks()
    scores = rows.column("peak_scores").combine_chunks()
    lengths = pc.list_value_length(labels).to_numpy(zero_copy_only=False)
    ok = np.asarray(labels.is_valid().to_numpy(zero_copy_only=False), dtype=bool) & np.asarray(
        scores.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    ok &= np.nan_to_num(lengths.astype(np.float64), nan=-1.0) == np.nan_to_num(
        pc.list_value_length(scores).to_numpy(zero_copy_only=False).astype(np.float64), nan=-2.0)
    keep = np.flatnonzero(ok)
    postings: dict[str, tuple[NDArray[np.int64], NDArray[np.float32]]] = {}
    if len(keep):
        whole = len(keep) == len(ok)  # the usual case: no row to leave out, nothing to copy
        lab = labels if whole else labels.take(pa.array(keep))
        sc = scores if whole else scores.take(pa.array(keep))
        parents = np.asarray(pc.list_parent_indices(lab).to_numpy(zero_copy_only=False), dtype=np.int64)
        if not whole:
            parents = keep[parents]
        flat = pc.dictionary_encode(pc.list_flatten(lab))
        values = np.asarray(pc.list_flatten(sc).to_numpy(zero_copy_only=False), dtype=np.float32)
        codes = np.asarray(flat.indices.to_numpy(zero_copy_only=False))
        # a few hundred distinct labels: a stable sort of small integers is a linear radix sort
        order = np.argsort(codes.astype(np.int16 if len(flat.dictionary) < 2**15 else np.int64), kind="stable")
        cuts = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(flat.dictionary)))])
        for k, name in enumerate(flat.dictionary.to_pylist()):
            part = order[cuts[k]:cuts[k + 1]]
            postings[str(name)] = (parents[part], values[part])

    def micros(col: str) -> NDArray[np.int64]:
        return np.asarray(rows.column(col).combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False),
                          dtype=np.int64)

    n_frames = np.asarray(pc.fill_null(rows.column("n_frames"), 0).to_numpy(), dtype=np.int64)
    out = _Peaks(version, rows.column("id").combine_chunks(), micros("start"), micros("end"), n_frames, ~ok, postings)
    if version is not None:
        with contextlib.suppress(TypeError):  # a store that cannot be weakly referenced: not kept
            _PEAKS[store] = out
    return out


@dataclass(frozen=True)
class PeakEpisodes:
    ids: list[str]  # the episodes where a frame may carry the mass, by id
    frames: int  # their frames (as the episodes count them): at most this many rows to read


def _peak_episodes(store: Store, weights: dict[str, float], min_mass: float, start: datetime | None,
                   end: datetime | None, strategy: RecallStrategy) -> PeakEpisodes | None:
    if not (strategy.episode_peaks and strategy.label_mass_filter) or min_mass <= 0:
        return None
    p = _peaks(store)
    bound = np.zeros(len(p.ids), dtype=np.float64)
    for name, w in weights.items():
        if w > 0 and name in p.postings:
            rows, peak = p.postings[name]
            bound[rows] += float(w) * peak  # one posting per episode and label
    # a hair below the mass: the frames' check sums the same float32 scores in another order
    ok = (bound >= min_mass - 1e-6) | p.unknown
    if start is not None:
        ok &= p.end_us > _us(start - PEAK_WINDOW_ROOM)
    if end is not None:
        ok &= p.start_us < _us(end + PEAK_WINDOW_ROOM)
    sel = np.flatnonzero(ok)
    if len(sel) > PEAK_EPISODES_MAX:
        return None
    return PeakEpisodes(sorted(str(i) for i in p.ids.take(pa.array(sel)).to_pylist()), int(p.n_frames[sel].sum()))


def peak_episodes(store: Store, weights: dict[str, float], min_mass: float, start: datetime | None,
                  end: datetime | None, strategy: RecallStrategy = DEFAULT_STRATEGY) -> list[str] | None:
    """The episodes of the window where a frame may carry ``min_mass`` of the labels: those whose
    label peaks clear it (Σ weight·peak, a bound of every frame's mass), and those whose peaks are
    not known yet. None when that cannot narrow the search: more than PEAK_EPISODES_MAX of them,
    or no mass to clear. An empty list: no frame of the window can have it."""
    got = _peak_episodes(store, weights, min_mass, start, end, strategy)
    return None if got is None else got.ids


def label_rows(
    store: Store,
    label_names: dict[str, float] | list[str],
    start: datetime | None,
    end: datetime | None,
    min_mass: float = 0.0,
    cap: int | None = None,
    strategy: RecallStrategy = DEFAULT_STRATEGY,
) -> tuple[pa.Table, bool]:
    """Label-path frames (COLUMNS, ``semantic`` left null) naming the subject with at least
    ``min_mass``, and whether that is all of them.

    With ``cap``, a cheap answer for the probe: all of them when there are at most ``cap``
    sightings, or at most ``cap`` with the mass (none when no sighting has it); otherwise none
    and ``False`` (too many to read here: search slice by slice)."""
    weights = _weights(label_names)
    tbl = store.table("frames")
    where = window_where(store, start, end)
    schema = tbl.schema  # one call: each ``tbl.schema`` is a round trip into LanceDB
    sem_type = schema.field("semantic").type
    light = [c for c in COLUMNS if c != "semantic"]
    empty = pa.table({c: pa.array([], type=schema.field(c).type) for c in COLUMNS})
    has = label_filter(weights, 0.0)
    if has is None:
        return empty, True
    eps = _peak_episodes(store, weights, min_mass, start, end, strategy)
    if eps is not None:
        # Only the episodes whose peaks clear the mass can hold a frame that does: their
        # sightings are read (by the episode_id index) and their mass checked here.
        if not eps.ids:
            return empty, True
        inn = sql_in("episode_id", eps.ids)
        after_only = strategy.split_count and start is None and end is not None
        # A window open at the start is applied to the rows read (as below): most of the table.
        scope = store.committed_filter(episode_column="episode_id") if after_only else where
        scoped = f"({scope}) AND {inn}" if scope else inn
        if cap is not None and eps.frames > cap and len(weights) <= MAX_FILTER_LABELS:
            # more frames than the cap in those episodes: counting the ones with the mass is
            # cheaper than reading them (a superset when the window is applied after)
            mass_where = label_filter(weights, min_mass, strategy)
            if mass_where is not None and tbl.count_rows(f"{scoped} AND {mass_where}") > cap:
                return empty, False
        lab = tbl.search().where(f"{scoped} AND {has}").select(light).limit(None).to_arrow()
        if after_only and lab.num_rows:
            assert end is not None
            lab = lab.filter(pc.less(lab.column("t"), pa.scalar(end, lab.schema.field("t").type)))
        lab = _mass_ok(lab, weights, min_mass)
        if cap is not None and lab.num_rows > cap:
            return empty, False
        lab = lab.append_column(pa.field("semantic", sem_type), pa.nulls(lab.num_rows, sem_type)).select(COLUMNS)
        return lab, True
    lab_where, check, n_has = _label_where(store, start, end, weights, min_mass, strategy)
    if lab_where is None:
        return empty, True
    if cap is not None and n_has is not None and n_has > cap:
        # Many sightings: those with the mass, when there are at most ``cap`` of them (a scan that
        # stops at the cap's next one). A window open at the start is left out of the scan (most
        # of the table: filtering by it costs more than the rows it drops) and applied to the rows.
        mass_where = label_filter(weights, min_mass, strategy) if len(weights) <= MAX_FILTER_LABELS else None
        if mass_where is None:
            return empty, False
        after_only = strategy.split_count and start is None and end is not None
        if after_only:
            hidden = store.committed_filter(episode_column="episode_id")
            scan = f"({mass_where}) AND {hidden}" if hidden else mass_where
        else:
            scan = f"({where}) AND {mass_where}"
        lab = tbl.search().where(scan).select(light).limit(cap + 1).to_arrow()
        if lab.num_rows > cap:
            return empty, False
        if after_only and lab.num_rows:
            lab = lab.filter(pc.less(lab.column("t"), pa.scalar(end, lab.schema.field("t").type)))
        lab = lab.append_column(pa.field("semantic", sem_type), pa.nulls(lab.num_rows, sem_type)).select(COLUMNS)
        return lab, True
    lab = tbl.search().where(f"({where}) AND {lab_where}").select(light).limit(None).to_arrow()
    if check:
        lab = _mass_ok(lab, weights, min_mass)
    # Label hits are scored by their labels; their vectors are not read (a year of "cup"
    # sightings would otherwise pull hundreds of MB of vectors).
    lab = lab.append_column(pa.field("semantic", sem_type), pa.nulls(lab.num_rows, sem_type)).select(COLUMNS)
    return lab, True


def window_where(store: Store, start: datetime | None, end: datetime | None) -> str:
    """SQL for the rows of the time window [start, end) whose import finished (``t`` and
    ``media_id`` columns: frames, OCR lines)."""
    where = window_filter(start, end)
    hidden = store.committed_filter(episode_column="episode_id")  # unfinished imports, the trash
    return f"({where}) AND {hidden}" if hidden else where


def merge_candidates(vec: pa.Table, lab: pa.Table) -> pa.Table:
    """Vector and label rows as one table, one row per frame (a frame found by both keeps its vector)."""
    if lab.num_rows == 0:
        return vec
    vec = vec.cast(lab.schema) if vec.schema != lab.schema else vec
    table = pa.concat_tables([vec, lab], promote_options="none")
    idx = pa.array(np.arange(table.num_rows))
    firsts = pa.table({"id": table.column("id"), "i": idx}).group_by("id").aggregate([("i", "min")])
    keep = np.sort(firsts.column("i_min").to_numpy())
    return table.take(pa.array(keep)) if len(keep) != table.num_rows else table


def candidate_frames(
    store: Store,
    query_vector: NDArray[np.float32],
    label_names: dict[str, float] | list[str],
    start: datetime | None,
    end: datetime | None,
    k: int = VECTOR_K,
    min_mass: float = 0.0,
    model: ModelQuery | None = None,
    strategy: RecallStrategy = DEFAULT_STRATEGY,
) -> Candidates:
    """Vector neighbours plus label hits (those with at least ``min_mass``, see :func:`label_filter`).

    ``model``: a :class:`lifelog.recall.model_search.ModelQuery` when an installed image-text model
    is in use: its nearest frames are added and the table gets a ``model_score`` column.
    """
    tbl = store.table("frames")
    where = window_where(store, start, end)
    indexed = store.has_vector_index("frames")

    def nearest(limit: int, prefilter: bool) -> pa.Table:
        q: Any = (
            tbl.search(query_vector.astype(np.float32), vector_column_name="semantic")
            .distance_type("cosine")
            .where(where, prefilter=prefilter)
            .select([*COLUMNS, "_distance"])
            .limit(limit)
        )
        if indexed:
            q = q.nprobes(NPROBES).refine_factor(refine_factor(limit))
        return q.to_arrow().select(COLUMNS)

    vec = None
    if indexed and start is None and end is not None and k <= POSTFILTER_MAX_K:
        # Everything before ``end``: most of the table. Filtering a million rows before the index
        # search costs more than the search (~25 ms against ~15 ms at 1M frames, more under load);
        # the nearest ``limit`` of all frames with the few newer ones dropped afterwards are the
        # same nearest frames, as long as ``k`` of them remain (else: filtered first, as before).
        after = int(tbl.count_rows(f"t >= {ts_literal(end)}"))
        got = nearest(k + min(after, k), prefilter=False)
        vec = got.slice(0, k) if got.num_rows >= k else None
    if vec is None:
        vec = nearest(k, prefilter=True)
    lab, _ = label_rows(store, label_names, start, end, min_mass, strategy=strategy)
    table = merge_candidates(vec, lab)
    if model is not None:  # an installed image-text model (lifelog.recall.model_search, docs/models.md)
        from lifelog.recall.model_search import augment_candidates

        # the model's table has no episode column: it gets the window and committed imports; the
        # trash is left out when its frames are read (augment_candidates)
        hidden = store.committed_filter()
        model_where = f"({window_filter(start, end)}) AND {hidden}" if hidden else window_filter(start, end)
        table = augment_candidates(store, model, table, model_where, COLUMNS, k)
    return Candidates(table, vec.num_rows, lab.num_rows)
