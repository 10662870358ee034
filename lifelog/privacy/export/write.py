"""``lifelog export``: the memory (or a time range of it) as open files (docs/export-format.md)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lifelog import __version__
from lifelog.encoders.vectors import vector_tables
from lifelog.graph import archive as graph_archive
from lifelog.objects.timeline import Objects
from lifelog.privacy import audit
from lifelog.privacy.export.container import EncryptedSink, FolderSink, Sink, check_dest
from lifelog.privacy.export.format import (
    DATA,
    FACES,
    FORMAT,
    FORMAT_VERSION,
    GRAPH,
    ORIGINALS,
    TABLES,
    THUMBS,
    VECTORS,
    ArchiveCancelled,
    ArchiveError,
    ArchiveProgress,
    ProgressFn,
    to_json_rows,
)
from lifelog.store.db import SCHEMAS, Store
from lifelog.store.notes import load_profile
from lifelog.store.originals import kept_copy, plain_original
from lifelog.store.sql import and_all, overlap_conditions, sql_in
from lifelog.store.vault import Vault, VaultError

CHUNK = 500  # ids per IN (...) filter
ORIGINALS_DIR = "originals"


@dataclass
class ExportResult:
    dest: Path
    encrypted: bool
    counts: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    missing_blobs: int = 0  # thumbnails or crops the vault did not have (skipped)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"dest": str(self.dest), "encrypted": self.encrypted, "counts": self.counts, "files": self.files,
                "bytes": self.bytes, "missing_blobs": self.missing_blobs, "seconds": round(self.seconds, 3)}


def _dumps(doc: Any) -> bytes:
    import json

    return json.dumps(doc, ensure_ascii=False, indent=None, separators=(",", ":")).encode("utf-8")


def _npy(arr: Any) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _chunks(ids: Iterable[str]) -> list[list[str]]:
    items = sorted(set(ids))
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def _rows_in(store: Store, table: str, column: str, ids: Iterable[str]) -> pa.Table:
    parts = [store.rows(table, sql_in(column, c)) for c in _chunks(ids)]
    return pa.concat_tables(parts) if parts else SCHEMAS[table].empty_table()


def _people_seen(store: Store, faces: pa.Table, utterances: pa.Table) -> pa.Table:
    """The people whose faces or voices are in the exported rows, with the people merged into
    them (and those they were merged into), so names and merges survive the round trip."""
    who = {p for p in faces.column("person_id").to_pylist() if p}
    who |= {p for p in utterances.column("speaker_id").to_pylist() if p}
    people = _rows_in(store, "people", "id", who)
    who |= {p for p in people.column("merged_into").to_pylist() if p}
    merged = [_rows_in(store, "people", "merged_into", who), _rows_in(store, "people", "id", who)]
    keep = sorted(set(pa.concat_tables(merged).column("id").to_pylist()))
    return _rows_in(store, "people", "id", keep)


def _trashed_media(store: Store, trashed: list[str], shown: pa.Table) -> set[str]:
    """Media all of whose episodes are in the trash (they leave the export with them)."""
    if not trashed:
        return set()
    of_trashed = _rows_in(store, "episodes", "id", trashed).column("media_id").to_pylist()
    return {str(m) for m in of_trashed if m} - {str(m) for m in shown.column("media_id").to_pylist() if m}


def _without(table: pa.Table, column: str, ids: set[str]) -> pa.Table:
    """``table`` without the rows whose ``column`` is one of ``ids``."""
    if not ids or table.num_rows == 0:
        return table
    import pyarrow.compute as pc

    hit = pc.is_in(table.column(column), value_set=pa.array(sorted(ids), pa.string()))
    return table.filter(pc.invert(pc.fill_null(hit, False)))


def export_memory(
    store: Store,
    vault: Vault,
    settings: dict[str, Any],
    dest: Path,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    passphrase: str | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Write the export to ``dest`` (a new folder, or with ``passphrase`` one encrypted file)."""
    t0 = time.perf_counter()
    dest = dest.absolute()
    encrypted = passphrase is not None
    check_dest(dest, encrypted)
    try:
        sink: Sink = EncryptedSink(dest, passphrase) if passphrase is not None else FolderSink(dest)
    except OSError as e:
        raise ArchiveError(f"cannot write the export into {dest.parent}: {e.strerror or e}") from e
    try:
        result = _write(store, vault, settings, sink, start, end, progress, cancel)
    except OSError as e:
        sink.abort()
        raise ArchiveError(f"cannot write the export to {dest}: {e.strerror or e} (nothing was left)") from e
    except BaseException:
        sink.abort()
        raise
    result.dest, result.encrypted, result.seconds = dest, encrypted, time.perf_counter() - t0
    audit.record(store.data_dir, "export", result.counts, target="range" if (start or end) else "everything",
                 form="encrypted" if encrypted else "folder")
    return result


def _write(
    store: Store, vault: Vault, settings: dict[str, Any], sink: Sink, start: datetime | None,
    end: datetime | None, progress: ProgressFn | None, cancel: threading.Event | None,
) -> ExportResult:
    res = ExportResult(sink.dest, False)
    ranged = start is not None or end is not None

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise ArchiveCancelled("export cancelled; nothing was left")

    store.refresh()
    committed = store.committed_filter()
    # Episodes in the trash are not exported (nor their frames, faces, words; nor a file all of
    # whose episodes are in the trash): the user deleted them (lifelog.privacy.trash).
    shown = store.committed_filter(episode_column="id")
    trashed = store.trashed_episodes()
    episodes = store.rows("episodes", and_all(" AND ".join(overlap_conditions(start, end)) or None, shown))
    eids = [str(e) for e in episodes.column("id").to_pylist()]
    rows: dict[str, pa.Table] = {"episodes": episodes}
    if ranged:
        mids = {str(m) for m in episodes.column("media_id").to_pylist()}
        for t in ("frames", "faces", "ocr", "detections", "utterances"):
            rows[t] = _rows_in(store, t, "episode_id", eids)
        rows["transcripts"] = _rows_in(store, "transcripts", "media_id", mids)
        rows["media"] = _rows_in(store, "media", "id", mids)
        rows["people"] = _people_seen(store, rows["faces"], rows["utterances"])
    else:
        gone = _trashed_media(store, trashed, episodes)
        for t in ("frames", "faces", "ocr", "detections", "utterances"):
            rows[t] = _without(store.rows(t, store.committed_filter(episode_column="episode_id")), "media_id", gone)
        rows["transcripts"] = _without(store.rows("transcripts", committed), "media_id", gone)
        rows["media"] = _without(store.rows("media", store.committed_filter("id")), "id", gone)
        # with episodes in the trash, a person seen only there leaves the export with them
        rows["people"] = _people_seen(store, rows["faces"], rows["utterances"]) if trashed else store.rows("people")
    # places: the fixes of the exported files, the visits of the exported episodes, their places
    rows["media_geo"] = _rows_in(store, "media_geo", "media_id", rows["media"].column("id").to_pylist())
    rows["place_visits"] = _rows_in(store, "place_visits", "episode_id", eids)
    rows["places"] = _rows_in(store, "places", "id", rows["place_visits"].column("place_id").to_pylist())
    frame_ids = [str(f) for f in rows["frames"].column("id").to_pylist()]
    thumbs = sorted({t for t in rows["frames"].column("thumb_id").to_pylist() if t}
                    | {t for ts in episodes.column("thumb_ids").to_pylist() for t in (ts or [])})
    crops = sorted({c for c in rows["faces"].column("crop_id").to_pylist() if c})
    originals_root = (store.data_dir / ORIGINALS_DIR).resolve()
    originals: dict[str, Path] = {}  # media id -> kept original (as recorded: its plaintext name)
    kept: dict[str, Path] = {}  # media id -> the file keeping it (encrypted, docs/privacy.md)
    for m in rows["media"].select(["id", "path"]).to_pylist():
        k = kept_copy(store.data_dir, m.get("path"))
        if k is not None:
            originals[m["id"]], kept[m["id"]] = Path(m["path"]), k
    total = len(TABLES) + len(thumbs) + len(crops) + len(originals) + 3
    done = 0

    def tick(stage: Any, current: str = "") -> None:
        nonlocal done
        done += 1
        check()
        if progress is not None:
            progress(ArchiveProgress(stage, done, total, current))

    tables: dict[str, Any] = {}
    for t in TABLES:
        docs, arrays = to_json_rows(t, rows[t], vault)
        if t == "media":
            for d in docs:
                if d["id"] in originals:
                    rel = originals[d["id"]].resolve().relative_to(originals_root).as_posix()
                    d["original"] = f"{ORIGINALS}/{rel}"
        sink.add_bytes(f"{DATA}/{t}.json", _dumps(docs))
        vecs = {}
        for col, arr in arrays.items():
            name = f"{VECTORS}/{t}.{col}.npy"
            sink.add_bytes(name, _npy(arr))
            vecs[col] = name
        tables[t] = {"rows": len(docs), "json": f"{DATA}/{t}.json", "vectors": vecs}
        res.counts[t] = len(docs)
        tick("rows", t)
    model_tables: dict[str, Any] = {}
    for vt in vector_tables(store):
        tbl = store.db.open_table(vt)
        got = tbl.to_arrow()
        if ranged or committed or trashed:
            keep_ids = pa.array(frame_ids, pa.string())
            import pyarrow.compute as pc

            got = got.filter(pc.is_in(got.column("id"), value_set=keep_ids))
        docs, arrays = to_json_rows(vt, got, vault)
        sink.add_bytes(f"{DATA}/{vt}.json", _dumps(docs))
        sink.add_bytes(f"{VECTORS}/{vt}.vector.npy", _npy(arrays["vector"]))
        model_tables[vt] = {"rows": len(docs), "json": f"{DATA}/{vt}.json",
                            "vectors": {"vector": f"{VECTORS}/{vt}.vector.npy"},
                            "dim": int(arrays["vector"].shape[1])}
    for kind, ids, folder in (("thumbnail", thumbs, THUMBS), ("face crop", crops, FACES)):
        for b in ids:
            try:
                data = vault.get(b)
            except (VaultError, ValueError):
                res.missing_blobs += 1
                continue
            sink.add_bytes(f"{folder}/{b}.jpg", data)
            tick("media", kind)
    for mid, p in originals.items():
        with plain_original(store.data_dir, vault, kept[mid], f"export-{mid}{p.suffix}") as plain:
            sink.add_file(f"{ORIGINALS}/{p.resolve().relative_to(originals_root).as_posix()}", plain)
        tick("media", mid[:12])
    lo = start.astimezone(UTC) if start else None
    hi = end.astimezone(UTC) if end else None
    objects = [o.to_json() for o in Objects(store).list(lo, hi)]
    sink.add_bytes(f"{DATA}/objects.json", _dumps(objects))
    tick("writing", "objects")
    sink.add_bytes(f"{DATA}/settings.json", _dumps(settings))
    tick("writing", "settings")
    # the user's own lines of the memory profile (docs/profile.md): what the nightly pass cannot
    # infer again. Not in a ranged export (the profile is about the whole memory), and never a
    # line about a person the export leaves out.
    exported_people = {str(x) for x in rows["people"].column("id").to_pylist()}
    mine = [] if ranged else [
        ln.to_json() for ln in load_profile(store, vault).lines
        if ln.source in ("user", "hidden") and set(ln.people) <= exported_people]
    sink.add_bytes(f"{DATA}/profile.json", _dumps({"version": 1, "lines": mine}))
    kept_nodes = {f"person:{p}" for p in exported_people} | {
        f"place:{p}" for p in rows["places"].column("id").to_pylist()}
    graph_doc = graph_archive.dump(store, vault, kept_nodes)
    sink.add_bytes(GRAPH, _dumps(graph_doc))
    res.counts["graph_edges"] = len(graph_doc["edges"])
    res.counts["profile_lines"] = len(mine)
    res.counts.update(originals=len(originals), objects=len(objects))
    res.counts["thumbnails"] = sum(1 for n in sink.files if n.startswith(THUMBS + "/"))
    res.counts["face_crops"] = sum(1 for n in sink.files if n.startswith(FACES + "/"))
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "lifelog_version": __version__,
        "range": {"from": lo.isoformat() if lo else None, "to": hi.isoformat() if hi else None} if ranged else None,
        "counts": res.counts,
        "tables": tables,
        "model_tables": model_tables,
        "objects": f"{DATA}/objects.json",
        "settings": f"{DATA}/settings.json",
        "profile": f"{DATA}/profile.json",
        "graph": GRAPH,
        "files": dict(sorted(sink.files.items())),
    }
    check()
    sink.commit(manifest)
    res.files = len(sink.files) + 1
    res.bytes = sum(int(f["size"]) for f in sink.files.values())
    tick("done")
    return res
