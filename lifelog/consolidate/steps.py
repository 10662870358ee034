"""The steps of the nightly pass (docs/consolidation.md). Each is a function
``step(ctx, now) -> figures`` that is **idempotent** (running it again changes nothing more)
and **resumable** (killed at any point, the next run finishes what it began): a step that
rewrites several tables first writes what it is about to do to a small journal in
``<data>/consolidation/`` and replays that journal before anything else.

The caller (:mod:`lifelog.consolidate.run`) holds the memory's write lock around the steps that
say ``locks=True``; ``reindex`` takes it itself (``lifelog.ingest.reindex``).

A row a step cannot read (a damaged summary, a vector of the wrong length) is skipped and
logged, and the step goes on; the figures count it as ``skipped``.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lifelog.consolidate.context import ConsolidationContext
from lifelog.consolidate.state import STATE_DIR, kill_point
from lifelog.ingest.peaks import merge_peaks
from lifelog.store.db import SCHEMAS, Store
from lifelog.store.files import atomic_write
from lifelog.store.sql import sql_in, sql_str

log = logging.getLogger("lifelog.consolidate")

Figures = dict[str, Any]
StepFn = Callable[[ConsolidationContext, datetime], Figures]

#: Tables whose rows name the episode they belong to (moved along when episodes merge).
EPISODE_CHILDREN = ("frames", "faces", "ocr", "ocr_terms", "utterances", "utterance_terms")
MERGE_JOURNAL = "merge.json"
DEDUP_JOURNAL = "dedup.json"
DEDUP_SEEN = "dedup-seen.json"  # episodes already looked at, with their frame count then
#: A frame kept at least this often (seconds) however alike the frames are: time coverage.
DEDUP_KEEP_EVERY_S = 120.0


@dataclass(frozen=True)
class Step:
    name: str
    fn: StepFn
    locks: bool = True  # run under the memory's write lock (taken by the pass)
    title: str = ""


def _journal(ctx: ConsolidationContext, name: str) -> Path:
    return ctx.data_dir / STATE_DIR / name


def _write_journal(ctx: ConsolidationContext, name: str, doc: Any) -> None:
    atomic_write(_journal(ctx, name), json.dumps(doc, default=str).encode())


def _read_journal(ctx: ConsolidationContext, name: str) -> Any:
    try:
        return json.loads(_journal(ctx, name).read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:  # written atomically: a torn file is not ours
        log.warning("ignoring an unreadable consolidation journal %s", name)
        return None


def _frame_index(frame_id: str) -> int | None:
    """``<media id>-<index>``: frames are numbered in the order the import kept them."""
    try:
        return int(frame_id.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return None


def _unit(v: Any) -> np.ndarray[Any, Any] | None:
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float32)
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all():
        return None
    n = float(np.linalg.norm(a))
    return a / n if n > 0 else None


# =============================================================== 1. merge fragments
def merge_fragments(ctx: ConsolidationContext, now: datetime) -> Figures:
    """Merge episodes of one scene that the import split because it arrived as several files: a
    camera that starts a new file every few minutes, segments or photos a short pause apart (at
    most ``consolidation.merge_gap_s``). Inside one file the import cut at a scene change, and
    that stands. Two episodes merge only when

    * they are the same kind (video with video, photo with photo), neither is in the trash, and
      no episode in the trash lies between them;
    * nothing was between them when they were imported: the first ends its file and the second
      starts the next file of the same device — so a moment the user forgot for good is never
      bridged;
    * the scene goes on across the boundary: the last frame before it and the first after it
      are alike, as are the two episodes' mean vectors (``consolidation.merge_similarity``);
    * the second file's speech is transcribed (or it has none): the transcript finds its
      episodes by file.

    The earlier episode keeps its id and takes the later one's frames, faces, text lines,
    utterances and their index rows; the later row goes. See :func:`_apply_merge` for the
    crash-safe order."""
    fig: Figures = {"merged": 0, "groups": 0, "skipped": 0}
    pending = _read_journal(ctx, MERGE_JOURNAL)
    if pending:
        _apply_merge(ctx, pending)
        fig["resumed"] = 1
    cfg = ctx.settings.consolidation
    store = ctx.store
    store.refresh()
    pending_media = store.uncommitted_media()
    trashed = set(store.trashed_episodes())
    rows = store.rows("episodes", None, columns=[
        "id", "media_id", "kind", "start", "end", "n_frames", "labels", "label_scores", "thumb_ids", "semantic",
        "peak_labels", "peak_scores",
    ]).to_pylist()
    rows = [r for r in rows if r["media_id"] not in pending_media]
    rows.sort(key=lambda r: (r["start"], r["id"]))
    if len(rows) < 2:
        return fig
    media = {m["id"]: m for m in store.rows("media", None, columns=[
        "id", "device", "has_audio", "frames_kept", "capture_start"]).to_pylist()}
    transcribed = set(store.rows("transcripts", None, columns=["media_id"]).column("media_id").to_pylist())
    bounds = _frame_bounds(store)
    trashed_spans = [(r["start"], r["end"]) for r in rows if r["id"] in trashed]

    def frame_vec(frame_id: str) -> np.ndarray[Any, Any] | None:
        got = store.rows("frames", f"id = {sql_str(frame_id)}", columns=["semantic"]).to_pylist()
        return _unit(got[0]["semantic"]) if got else None
    groups: list[list[dict[str, Any]]] = []
    cur: list[dict[str, Any]] = []
    tail_vec: np.ndarray[Any, Any] | None = None
    for r in rows:
        vec = _unit(r.get("semantic"))
        if r["id"] in trashed or (vec is None and r.get("kind") != "audio"):
            if r["id"] not in trashed:
                fig["skipped"] += 1
                log.warning("consolidation: episode %s has no readable vector; left as it is", r["id"])
            if len(cur) > 1:
                groups.append(cur)
            cur, tail_vec = [], None
            continue
        if cur and tail_vec is not None and vec is not None and _joinable(
            cur[-1], r, tail_vec, vec, cfg.merge_gap_s, cfg.merge_similarity, media, transcribed, bounds,
            trashed_spans, frame_vec,
        ):
            cur.append(r)
        else:
            if len(cur) > 1:
                groups.append(cur)
            cur = [r]
        tail_vec = vec
    if len(cur) > 1:
        groups.append(cur)
    for i, group in enumerate(groups):
        if ctx.cancelled():
            break
        ctx.report("merge", i, len(groups))
        try:
            doc = _merged_row(ctx, group)
        except Exception as e:  # a damaged row: leave the group as it is
            fig["skipped"] += 1
            log.warning("consolidation: cannot merge %s: %s", [g["id"] for g in group], e)
            continue
        _write_journal(ctx, MERGE_JOURNAL, doc)
        kill_point("merge:mid")
        _apply_merge(ctx, doc)
        fig["groups"] += 1
        fig["merged"] += len(group) - 1
    ctx.report("merge", len(groups), len(groups))
    return fig


def _frame_bounds(store: Store) -> dict[tuple[str, str], tuple[int, int]]:
    """(episode, media) → (first, last) frame index of that file's frames in the episode."""
    tbl = store.rows("frames", None, columns=["id", "episode_id", "media_id"])
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for fid, ep, mid in zip(tbl.column("id").to_pylist(), tbl.column("episode_id").to_pylist(),
                            tbl.column("media_id").to_pylist(), strict=True):
        k = _frame_index(fid)
        if k is None:
            continue
        lo, hi = out.get((ep, mid), (k, k))
        out[(ep, mid)] = (min(lo, k), max(hi, k))
    return out


def _joinable(
    a: dict[str, Any], b: dict[str, Any], va: np.ndarray[Any, Any], vb: np.ndarray[Any, Any],
    gap_s: float, similarity: float, media: dict[str, dict[str, Any]], transcribed: set[str],
    bounds: dict[tuple[str, str], tuple[int, int]], trashed_spans: Sequence[tuple[datetime, datetime]],
    frame_vec: Callable[[str], np.ndarray[Any, Any] | None],
) -> bool:
    if a.get("kind") != b.get("kind") or a.get("kind") == "audio":
        return False
    ma, mb = a["media_id"], b["media_id"]
    if ma == mb:
        return False  # inside one file the import cut at a scene change: that stands
    gap = (b["start"] - a["end"]).total_seconds()
    if gap > gap_s or gap < -5.0:
        return False
    if any(a["end"] <= s and e <= b["start"] for s, e in trashed_spans):
        return False
    if float(va @ vb) < similarity:
        return False
    # the last frame of ``a`` (of whichever file it ends in) and the first frame of ``b``
    def began(m: str) -> datetime:
        return (media.get(m) or {}).get("capture_start") or datetime.min.replace(tzinfo=UTC)

    a_last = max(((m, hi) for (ep, m), (_, hi) in bounds.items() if ep == a["id"]), key=lambda x: began(x[0]),
                 default=None)
    b_first = bounds.get((b["id"], mb))
    if a_last is None or b_first is None or a_last[0] == mb:
        return False
    ra, rb = media.get(a_last[0]), media.get(mb)
    if ra is None or rb is None or (ra.get("device") or "") != (rb.get("device") or ""):
        return False
    if rb.get("has_audio") and mb not in transcribed:
        return False  # its transcript (not made yet) finds its episodes by file
    # nothing between them was forgotten: ``a`` ends its file and ``b`` starts the next
    if a_last[1] + 1 < int(ra.get("frames_kept") or 0) or b_first[0] != 0:
        return False
    # the scene goes on across the boundary: the frames either side look alike
    fa, fb = frame_vec(f"{a_last[0]}-{a_last[1]:05d}"), frame_vec(f"{mb}-{b_first[0]:05d}")
    return fa is not None and fb is not None and float(fa @ fb) >= similarity


def _aggregate(group: Sequence[dict[str, Any]], top: int = 8) -> tuple[list[str], list[float]]:
    acc: dict[str, float] = {}
    n = 0
    for r in group:
        w = int(r.get("n_frames") or 0)
        n += w
        for lab, s in zip(r.get("labels") or [], r.get("label_scores") or [], strict=False):
            acc[lab] = acc.get(lab, 0.0) + float(s) * w
    best = sorted(acc.items(), key=lambda kv: -kv[1])[:top]
    return [k for k, _ in best], [v / max(n, 1) for _, v in best]


def _merged_row(ctx: ConsolidationContext, group: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The journal entry of one merge: the merged row (JSON-safe) and the ids it absorbs."""
    first = group[0]
    full = ctx.store.rows("episodes", sql_in("id", [first["id"]])).to_pylist()[0]
    labels, scores = _aggregate(group)
    peak_names, peak_values = merge_peaks((r.get("peak_labels"), r.get("peak_scores")) for r in group)
    weights = np.asarray([max(int(r.get("n_frames") or 0), 1) for r in group], dtype=np.float32)
    vecs = np.stack([np.asarray(r["semantic"], dtype=np.float32) for r in group])
    sem = (vecs * weights[:, None]).sum(axis=0)
    sem = sem / (np.linalg.norm(sem) + 1e-9)
    thumbs = [t for r in group for t in (r.get("thumb_ids") or [])]
    picks = sorted({0, len(thumbs) // 2, len(thumbs) - 1}) if thumbs else []
    kind = first.get("kind") or "video"
    what = ", ".join(labels[:3])
    summary = kind.capitalize() + (f": {what}" if what else "")
    row = dict(full)
    row.update(
        end=max(r["end"] for r in group),
        n_frames=int(sum(int(r.get("n_frames") or 0) for r in group)),
        labels=labels,
        label_scores=scores,
        peak_labels=peak_names,
        peak_scores=peak_values,
        thumb_ids=[thumbs[i] for i in picks],
        semantic=sem.tolist(),
        summary_enc=None,
    )
    row["start"] = row["start"].isoformat()
    row["end"] = row["end"].isoformat()
    return {"into": first["id"], "absorb": [r["id"] for r in group[1:]], "row": row, "summary": summary}


def _apply_merge(ctx: ConsolidationContext, doc: dict[str, Any]) -> None:
    """Carry out one journalled merge; every stage is idempotent, so a replay after a kill
    finishes it: (1) the kept row takes the merged span and figures (one atomic upsert);
    (2) the absorbed episodes' frames, faces, text lines, utterances and index rows move to it,
    table by table; (3) the absorbed rows go; (4) the journal goes."""
    store = ctx.store
    into, absorb = str(doc["into"]), [str(a) for a in doc["absorb"]]
    row = dict(doc["row"])
    if store.count("episodes", f"id = {sql_str(into)}") == 0:  # forgotten meanwhile: nothing to do
        _journal(ctx, MERGE_JOURNAL).unlink(missing_ok=True)
        return
    row["start"] = datetime.fromisoformat(row["start"])
    row["end"] = datetime.fromisoformat(row["end"])
    row["summary_enc"] = ctx.vault.encrypt_text(str(doc.get("summary") or ""), f"summary:{into}")
    batch = pa.Table.from_pylist([row], schema=SCHEMAS["episodes"])
    store.table("episodes").merge_insert("id").when_matched_update_all().execute(batch)
    for name in EPISODE_CHILDREN:
        if store.count(name, sql_in("episode_id", absorb)):
            store.table(name).update(where=sql_in("episode_id", absorb), values={"episode_id": into})
        kill_point(f"merge:{name}")
    store.delete("episodes", sql_in("id", absorb))
    _journal(ctx, MERGE_JOURNAL).unlink(missing_ok=True)


# =================================================================== 2. people
def recluster_people(ctx: ConsolidationContext, now: datetime) -> Figures:
    """Cluster the automatic face assignments again with every face the memory has now
    (:meth:`lifelog.people.service.People.recluster`): faces a user placed (name, merge, split)
    and the people they made stay exactly as the user left them. Who spoke is derived from
    faces, so it is derived again."""
    from lifelog.people.service import People

    ctx.store.refresh()
    if ctx.store.count("faces") == 0:
        return {"faces": 0}
    report = People(ctx.store, ctx.vault).recluster()
    kill_point("people:mid")
    if ctx.store.count("utterances"):
        from lifelog.speech.speakers import reattribute

        reattribute(ctx.store)
    return {"faces": ctx.store.count("faces"), "new_people": len(report.new_people),
            "removed_people": len(report.removed_people)}


# =================================================================== places
def recluster_places(ctx: ConsolidationContext, now: datetime) -> Figures:
    """Derive the places again from every fix and episode (:meth:`lifelog.places.Places.refresh`,
    idempotent: a pass cut short just runs it again); places a user named keep name and anchor."""
    from lifelog.places import Places

    report = Places(ctx.store, ctx.vault).refresh()
    return {"places": report.places, "visits": report.visits, "new_places": len(report.created),
            "removed_places": len(report.removed)}


# ==================================================================== graph
def rebuild_graph(ctx: ConsolidationContext, now: datetime) -> Figures:
    """Complete and repair the knowledge graph (:func:`lifelog.graph.build.build_graph` over every
    episode: merges, renames, re-clustered places expire old edges; idempotent), then drop its
    old versions (docs/graph.md)."""
    from lifelog.graph import tables
    from lifelog.graph.build import build_graph

    report = build_graph(ctx.store, ctx.vault, None)
    tables.prune(ctx.store)
    tables.compact(ctx.store, drop_old_versions=True)
    return report.to_json()


# ================================================================== 3. compact
def compact_store(ctx: ConsolidationContext, now: datetime) -> Figures:
    """Fold small fragments together, drop every old LanceDB version (so nothing deleted
    survives in one) and build or refresh the scalar and vector indexes as tables grow."""
    from lifelog.encoders.vectors import compact_vector_tables

    store = ctx.store
    before = store.bytes_on_disk()
    ctx.report("compact", 0, 3)
    made = store.ensure_indexes()
    ctx.report("compact", 1, 3)
    kill_point("compact:mid")
    with warnings.catch_warnings():
        # LanceDB warns that readers of an old version fail: ours read the latest again (Store.rows)
        warnings.filterwarnings("ignore", message=r"optimize\(cleanup_older_than=0\)")
        store.compact()  # optimize (indexes fold new rows in) + cleanup of every old version
    ctx.report("compact", 2, 3)
    made += compact_vector_tables(store, drop_old_versions=True)
    ctx.report("compact", 3, 3)
    return {"bytes_before": before, "bytes_after": store.bytes_on_disk(), "indexes_made": made}


# ================================================================== 4. reindex
def reindex_frames(ctx: ConsolidationContext, now: datetime) -> Figures:
    """Frames made by an older image-text model get a vector of the model in use (the
    resumable re-index of ``lifelog models``). Frames of an older default encoder are counted
    by model (``frame_models``): they need their originals decoded again, which a re-import does."""
    from lifelog.encoders.registry import active_model

    store = ctx.store
    fig: Figures = {}
    try:
        model = active_model(ctx.data_dir)
    except Exception as e:  # a chosen model whose files went missing: said, not fatal
        log.warning("consolidation: the image-text model in use cannot be loaded: %s", e)
        return {"error": str(e)}
    models = set(store.rows("frames", None, columns=["model"]).column("model").to_pylist())
    fig["frame_models"] = sorted(m for m in models if m)
    if model is None:
        return fig
    from lifelog.encoders.vectors import stale_frames
    from lifelog.ingest.reindex import reindex

    stale = stale_frames(store, model)
    fig["stale"] = stale
    if stale == 0:
        return fig

    def progress(p: Any) -> None:
        ctx.report("reindex", int(getattr(p, "done", 0)), int(getattr(p, "total", 0)))

    result = reindex(store, ctx.vault, model, progress=progress, cancel=ctx.cancel)
    fig.update(reindexed=result.reindexed, failed=len(result.failed), remaining=result.remaining)
    return fig


# ================================================================ 5. retention
def apply_retention_rules(ctx: ConsolidationContext, now: datetime) -> Figures:
    """The user's retention rules, the trash's purge included
    (:func:`lifelog.privacy.retention.apply_retention`, as ``lifelog retention --apply``), after
    removing the vault's orphan ``.tmp-*`` files (``temp_files_removed``)."""
    from lifelog.privacy.retention import apply_retention, plan_retention
    from lifelog.store.blind_index import INDEX_KEY_BLOB

    # The pass's first step tidies too: temporary files a killed vault write left (the pass holds
    # the write lock, so no put is running; the index key is written without it, hence the grace).
    tidied = ctx.vault.remove_orphan_temps(unlocked=(INDEX_KEY_BLOB,))
    ctx.store.refresh()
    plan = plan_retention(ctx.store, ctx.settings.retention, now)
    if plan.is_empty():
        return {"removed": {}, "temp_files_removed": tidied}
    kill_point("retention:mid")
    done = apply_retention(ctx.store, ctx.vault, plan)
    if (plan.forget is not None or plan.trash or plan.faces) and ctx.store.count("utterances"):
        from lifelog.speech.speakers import reattribute

        reattribute(ctx.store)
    return {"removed": done.counts() | {"trash": len(plan.trash)}, "temp_files_removed": tidied}


# ==================================================================== label peaks
def fill_label_peaks(ctx: ConsolidationContext, now: datetime) -> Figures:
    """Episodes without label peaks (a memory made before them) get them from their frames
    (:mod:`lifelog.ingest.peaks`): questions then skip the episodes that cannot match."""
    from lifelog.ingest.peaks import fill_peaks

    filled = fill_peaks(ctx.store, ctx.cancelled, lambda i, n: ctx.report("peaks", i, n))
    return {"filled": filled}


# ==================================================================== 6. dedup
def drop_near_duplicates(ctx: ConsolidationContext, now: datetime) -> Figures:
    """Drop frames of an episode that add nothing for recall: nearly the same vector and the
    same top label as the last frame kept before them, less than two minutes later. Evidence
    stays: the first and last frame of every episode, the episode's cover thumbnails, and any
    frame with a face or a line of text are never dropped. A dropped frame goes for good: its
    row, its image-text vectors and its encrypted thumbnail in the vault (old LanceDB versions
    go in the compact step)."""
    fig: Figures = {"dropped": 0, "episodes": 0, "skipped": 0}
    pending = _read_journal(ctx, DEDUP_JOURNAL)
    if pending:
        _apply_dedup(ctx, pending)
        fig["resumed"] = 1
    store = ctx.store
    store.refresh()
    threshold = ctx.settings.consolidation.duplicate_similarity
    pending_media = set(store.uncommitted_media())
    eps = store.rows("episodes", "n_frames >= 3", columns=["id", "media_id", "thumb_ids", "n_frames"]).to_pylist()
    # episodes looked at by an earlier pass and unchanged since (same frame count, same threshold)
    # are not read again: an unchanged memory's pass stays quick however large the memory is
    seen_doc = _read_journal(ctx, DEDUP_SEEN) or {}
    seen: dict[str, int] = dict(seen_doc.get("episodes") or {}) if seen_doc.get("threshold") == threshold else {}
    eps = [e for e in eps if e["media_id"] not in pending_media and seen.get(e["id"]) != e["n_frames"]]
    fig["looked_at"] = len(eps)
    evidence: set[str] = set()
    for name in ("faces", "ocr"):
        evidence.update(store.rows(name, None, columns=["frame_id"]).column("frame_id").to_pylist())
    drops: dict[str, list[str]] = {}
    for i, ep in enumerate(eps):
        if ctx.cancelled():
            break
        if i % 20 == 0:
            ctx.report("dedup", i, len(eps))
        keep = set(ep.get("thumb_ids") or []) | evidence
        frames = store.rows("frames", f"episode_id = {sql_str(ep['id'])}",
                            columns=["id", "t", "semantic", "labels", "thumb_id"]).to_pylist()
        frames.sort(key=lambda f: (f["t"], f["id"]))
        gone = _duplicates(frames, keep, threshold)
        if gone is None:
            fig["skipped"] += 1
            log.warning("consolidation: episode %s has a frame without a readable vector; kept whole", ep["id"])
            continue
        if gone:
            drops[ep["id"]] = gone
        seen[ep["id"]] = len(frames) - len(gone)
        if len(drops) >= 50:
            fig["dropped"] += _commit_dedup(ctx, drops)
            fig["episodes"] += len(drops)
            drops = {}
    if drops:
        fig["dropped"] += _commit_dedup(ctx, drops)
        fig["episodes"] += len(drops)
    live = set(store.rows("episodes", None, columns=["id"]).column("id").to_pylist())
    _write_journal(ctx, DEDUP_SEEN, {"threshold": threshold, "episodes": {k: v for k, v in seen.items() if k in live}})
    ctx.report("dedup", len(eps), len(eps))
    return fig


def _duplicates(frames: Sequence[dict[str, Any]], keep: set[str], threshold: float) -> list[str] | None:
    if len(frames) < 3:
        return []
    gone: list[str] = []
    last = frames[0]
    last_vec = _unit(last.get("semantic"))
    if last_vec is None:
        return None
    for f in frames[1:-1]:
        vec = _unit(f.get("semantic"))
        if vec is None:
            return None
        same_label = (f.get("labels") or [None])[0] == (last.get("labels") or [None])[0]
        close = (f["t"] - last["t"]).total_seconds() < DEDUP_KEEP_EVERY_S
        if (f["id"] not in keep and f.get("thumb_id") not in keep and same_label and close
                and float(vec @ last_vec) >= threshold):
            gone.append(f["id"])
        else:
            last, last_vec = f, vec
    return gone


def _commit_dedup(ctx: ConsolidationContext, drops: dict[str, list[str]]) -> int:
    _write_journal(ctx, DEDUP_JOURNAL, drops)
    kill_point("dedup:mid")
    _apply_dedup(ctx, drops)
    return sum(len(v) for v in drops.values())


def _apply_dedup(ctx: ConsolidationContext, drops: dict[str, list[str]]) -> None:
    """Idempotent: blobs, model vectors and rows of the listed frames go; each episode's
    ``n_frames`` is counted again from its rows."""
    from lifelog.encoders.vectors import vector_tables
    from lifelog.privacy.forget import delete_blobs

    store = ctx.store
    ids = [f for fs in drops.values() for f in fs]
    for k in range(0, len(ids), 500):
        part = ids[k:k + 500]
        where = sql_in("id", part)
        thumbs = store.rows("frames", where, columns=["thumb_id"]).column("thumb_id").to_pylist()
        delete_blobs(ctx.vault, thumbs)
        for vt in vector_tables(store):
            store.db.open_table(vt).delete(where)
        store.delete("frames", where)
    for ep in drops:
        n = store.count("frames", f"episode_id = {sql_str(ep)}")
        store.table("episodes").update(where=f"id = {sql_str(ep)}", values={"n_frames": n})
    _journal(ctx, DEDUP_JOURNAL).unlink(missing_ok=True)


# ================================================== 7–8. descriptions and profile
def describe_episodes(ctx: ConsolidationContext, now: datetime) -> Figures:
    """Day and episode descriptions in words (:mod:`lifelog.consolidate.describe`)."""
    try:
        from lifelog.consolidate.describe import describe_pending  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.info("consolidation: episode descriptions are not available in this build; step skipped")
        return {"available": False}
    out = describe_pending(ctx, now=now)
    return _as_figures(out)


def refresh_memory_profile(ctx: ConsolidationContext, now: datetime) -> Figures:
    """The plain-text memory profile (:mod:`lifelog.consolidate.profile`)."""
    try:
        from lifelog.consolidate.profile import refresh_profile  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.info("consolidation: the memory profile is not available in this build; step skipped")
        return {"available": False}
    out = refresh_profile(ctx, now=now)
    return _as_figures(out)


def _as_figures(out: Any) -> Figures:
    if out is None:
        return {}
    if isinstance(out, dict):
        return dict(out)
    to_json = getattr(out, "to_json", None)
    if callable(to_json):
        doc = to_json()
        return dict(doc) if isinstance(doc, dict) else {"result": doc}
    return {"result": str(out)}


#: The pass, in order: forget what the rules say first (nothing below works on it), merge
#: before the de-duplication (which then sees whole episodes), people before the words that
#: name them, compaction last (it removes the old versions every earlier step left).
STEPS: tuple[Step, ...] = (
    Step("retention", apply_retention_rules, title="Applying retention rules"),
    Step("merge", merge_fragments, title="Merging episode fragments"),
    Step("dedup", drop_near_duplicates, title="Dropping near-duplicate frames"),
    Step("peaks", fill_label_peaks, title="Summing up episodes' labels"),
    Step("people", recluster_people, title="Grouping faces into people"),
    Step("places", recluster_places, title="Grouping episodes into places"),
    Step("graph", rebuild_graph, title="Linking people, places and things"),
    Step("reindex", reindex_frames, locks=False, title="Re-indexing frames"),
    Step("describe", describe_episodes, title="Describing days and episodes"),
    Step("profile", refresh_memory_profile, title="Refreshing the memory profile"),
    Step("compact", compact_store, title="Compacting the store"),
)
