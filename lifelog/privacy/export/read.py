"""``lifelog import-archive``: an export restored into this memory (docs/export-format.md).

Two passes over the archive. The first checks everything before anything is written: the
manifest's format and version, the sha256 and size of every file it lists (and, for an
encrypted archive, that every chunk authenticates and none is missing), and reads the JSON and
vector files. The second writes the thumbnails, face crops and kept originals, then the rows —
every text re-encrypted under this memory's key and indexed under its own blind-index key.

Rows already in the memory (same id) are skipped, so importing twice adds nothing. Files new to
the memory are journalled like an import (``<data>/journal/<media id>``): a crash half-way is
rolled back by the next writer, and readers never see a half-restored file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from lifelog.config import SettingsError, migrate, save_settings
from lifelog.encoders.vectors import TABLE_PREFIX, vector_schema
from lifelog.ingest.peaks import peak_labels
from lifelog.ingest.pipeline import remove_media_rows, rollback_unfinished
from lifelog.privacy import audit
from lifelog.privacy.export.container import Source, open_source
from lifelog.privacy.export.format import (
    FACES,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    ORIGINALS,
    TABLES,
    THUMBS,
    ArchiveCancelled,
    ArchiveProgress,
    ArchiveRefused,
    ProgressFn,
    from_json_rows,
    table_key,
)
from lifelog.store.blind_index import index_key, term_hash
from lifelog.store.db import JOURNAL_DIR, SCHEMAS, Store
from lifelog.store.files import atomic_write
from lifelog.store.originals import keep_encrypted, kept_copy
from lifelog.store.sql import sql_in
from lifelog.store.terms import index_terms
from lifelog.store.vault import Vault

CHUNK = 500
BATCH = 2000
ORIGINALS_DIR = "originals"
_BLOCK = 1 << 20


@dataclass
class ArchiveImportResult:
    source: Path
    encrypted: bool
    added: dict[str, int] = field(default_factory=dict)  # rows added, per table
    skipped: dict[str, int] = field(default_factory=dict)  # rows already in the memory
    blobs: int = 0  # thumbnails and face crops written to the vault
    originals: int = 0
    vectors: str = "carried"  # carried | recomputed from thumbnails | flagged for re-index
    recomputed_frames: int = 0
    settings: str = "kept"  # restored (the memory had none) | kept
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"source": str(self.source), "encrypted": self.encrypted, "added": self.added,
                "skipped": self.skipped, "blobs": self.blobs, "originals": self.originals,
                "vectors": self.vectors, "recomputed_frames": self.recomputed_frames,
                "settings": self.settings, "seconds": round(self.seconds, 3)}


@dataclass
class _Checked:
    manifest: dict[str, Any]
    blobs: dict[str, bytes]  # data/ and vectors/ files


def _read_all(f: IO[bytes], sha: Any) -> tuple[bytes, int]:
    buf = io.BytesIO()
    while block := f.read(_BLOCK):
        sha.update(block)
        buf.write(block)
    data = buf.getvalue()
    return data, len(data)


def _verify(src: Source, progress: ProgressFn | None, cancel: threading.Event | None) -> _Checked:
    seen: dict[str, tuple[str, int]] = {}
    kept: dict[str, bytes] = {}
    manifest: dict[str, Any] | None = None
    n = 0
    for name, f in src.members():
        if cancel is not None and cancel.is_set():
            raise ArchiveCancelled("import cancelled; nothing was imported")
        if name in seen or (manifest is not None):
            raise ArchiveRefused(f"the archive holds {name!r} twice or after its manifest (tampered)")
        sha = hashlib.sha256()
        if name == MANIFEST or not name.startswith("media/"):
            data, size = _read_all(f, sha)
            if name == MANIFEST:
                try:
                    doc = json.loads(data)
                except ValueError as e:
                    raise ArchiveRefused(f"the manifest is damaged ({e})") from e
                if not isinstance(doc, dict):
                    raise ArchiveRefused("the manifest is damaged (not an object)")
                manifest = doc
                continue
            kept[name] = data
        else:
            size = 0
            while block := f.read(_BLOCK):
                sha.update(block)
                size += len(block)
        seen[name] = (sha.hexdigest(), size)
        n += 1
        if progress is not None and n % 50 == 0:
            progress(ArchiveProgress("checking", n, 0, name))
    if manifest is None:
        raise ArchiveRefused("the archive has no manifest (truncated, or not a lifelog export)")
    if manifest.get("format") != FORMAT:
        raise ArchiveRefused(f"not a lifelog export (format {manifest.get('format')!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise ArchiveRefused("the manifest has no format version")
    if version > FORMAT_VERSION:
        raise ArchiveRefused(f"the archive was written by a newer lifelog (format version {version}, this one "
                             f"reads up to {FORMAT_VERSION}); update lifelog to import it")
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise ArchiveRefused("the manifest lists no files")
    for name, want in listed.items():
        got = seen.get(name)
        if got is None:
            raise ArchiveRefused(f"{name} is missing from the archive (truncated or tampered)")
        if not isinstance(want, dict) or got != (want.get("sha256"), want.get("size")):
            raise ArchiveRefused(f"{name} does not match its sha256 in the manifest (tampered or damaged)")
    extra = sorted(set(seen) - set(listed))
    if extra:
        raise ArchiveRefused(f"{extra[0]} is in the archive but not in its manifest (tampered)")
    return _Checked(manifest, kept)


def _load(checked: _Checked, name: str) -> Any:
    try:
        return json.loads(checked.blobs[name])
    except (KeyError, ValueError) as e:
        raise ArchiveRefused(f"{name} is missing or damaged ({e})") from e


def _arrays(checked: _Checked, spec: dict[str, Any], rows: int) -> dict[str, NDArray[Any]]:
    out: dict[str, NDArray[Any]] = {}
    for col, name in (spec.get("vectors") or {}).items():
        try:
            arr = np.load(io.BytesIO(checked.blobs[name]), allow_pickle=False)
        except (KeyError, ValueError, OSError) as e:
            raise ArchiveRefused(f"{name} is missing or damaged ({e})") from e
        if arr.ndim != 2 or arr.shape[0] != rows:
            raise ArchiveRefused(f"{name} does not have one vector per row")
        out[str(col)] = arr
    return out


def _existing(store: Store, table: str, key: str, ids: Iterable[str], tbl: Any = None) -> set[str]:
    items = sorted(set(ids))
    out: set[str] = set()
    for i in range(0, len(items), CHUNK):
        where = sql_in(key, items[i:i + CHUNK])
        if tbl is None:
            got = store.rows(table, where, columns=[key])
        else:
            got = tbl.search().where(where).select([key]).limit(None).to_arrow()
        out.update(str(v) for v in got.column(key).to_pylist())
    return out


def import_archive(
    store: Store,
    vault: Vault,
    path: Path,
    *,
    passphrase: str | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> ArchiveImportResult:
    """Restore the export at ``path`` into this memory. The caller holds the write lock."""
    t0 = time.perf_counter()
    src = open_source(path, passphrase)
    res = ArchiveImportResult(path, src.encrypted)
    checked = _verify(src, progress, cancel)
    m = checked.manifest
    store.refresh()
    rollback_unfinished(store, vault)  # a killed import (or restore) before this one

    # ---------------------------------------------------------------- what is new
    tables = m.get("tables") or {}
    new: dict[str, list[dict[str, Any]]] = {}
    new_arrays: dict[str, dict[str, NDArray[Any]]] = {}
    for t in TABLES:
        spec = tables.get(t) or {"rows": 0, "json": None}
        docs = _load(checked, spec["json"]) if spec.get("json") else []
        if not isinstance(docs, list) or len(docs) != spec.get("rows", len(docs)):
            raise ArchiveRefused(f"{spec.get('json')} does not hold the rows the manifest says")
        arrays = _arrays(checked, spec, len(docs))
        key = table_key(t)
        have = _existing(store, t, key, (str(d[key]) for d in docs))
        keep = [i for i, d in enumerate(docs) if str(d[key]) not in have]
        new[t] = [docs[i] for i in keep]
        new_arrays[t] = {c: a[keep] for c, a in arrays.items()}
        res.skipped[t] = len(docs) - len(keep)
    new_media = [str(d["id"]) for d in new["media"]]
    thumbs = {str(d["thumb_id"]) for d in new["frames"] if d.get("thumb_id")}
    thumbs |= {str(b) for d in new["episodes"] for b in (d.get("thumb_ids") or [])}
    crops = {str(d["crop_id"]) for d in new["faces"] if d.get("crop_id")}
    originals = {str(d["original"]): str(d["id"]) for d in new["media"] if d.get("original")}
    if cancel is not None and cancel.is_set():
        raise ArchiveCancelled("import cancelled; nothing was imported")

    jdir = store.data_dir / JOURNAL_DIR
    for mid in new_media:  # journalled before anything of the file is written
        if not re.fullmatch(r"[0-9a-f]+", mid):
            raise ArchiveRefused(f"the archive has a bad media id {mid!r}")
        atomic_write(jdir / mid, f"archive {path.name}".encode())
    added_people: list[str] = []
    try:
        _write_media(store, vault, src, checked, thumbs | crops, originals, res, progress, cancel)
        _recompute_vectors(vault, new, new_arrays, res)
        added_people = [str(d["id"]) for d in new["people"]]
        _write_rows(store, vault, new, new_arrays, res, progress)
        _write_model_tables(store, vault, checked, m.get("model_tables") or {}, res)
    except BaseException:
        with contextlib.suppress(Exception):
            for mid in new_media:
                remove_media_rows(store, vault, mid)
            for pid in added_people:
                store.delete("people", sql_in("id", [pid]))
            store.delete("places", sql_in("id", [str(d["id"]) for d in new["places"]]))
        raise
    finally:
        for mid in new_media:
            with contextlib.suppress(OSError):
                (jdir / mid).unlink()
    store.ensure_indexes()
    res.settings = _restore_settings(store.data_dir, checked, m)
    res.added["profile_lines"] = _restore_profile_lines(store, vault, checked, m)
    res.added["graph_edges"] = _restore_graph(store, vault, checked, m)
    res.seconds = time.perf_counter() - t0
    audit.record(store.data_dir, "import-archive", {k: v for k, v in res.added.items() if v} | {"blobs": res.blobs,
                 "originals": res.originals}, form="encrypted" if res.encrypted else "folder")
    if progress is not None:
        progress(ArchiveProgress("done", 1, 1))
    return res


def _write_media(
    store: Store, vault: Vault, src: Source, checked: _Checked, blobs: set[str], originals: dict[str, str],
    res: ArchiveImportResult, progress: ProgressFn | None, cancel: threading.Event | None,
) -> None:
    listed = checked.manifest["files"]
    total = len(blobs) + len(originals)
    root = store.data_dir / ORIGINALS_DIR
    done = 0
    if not total:
        return
    for name, f in src.members():
        if cancel is not None and cancel.is_set():
            raise ArchiveCancelled("import cancelled; nothing was imported")
        folder, _, base = name.rpartition("/")
        if folder in (THUMBS, FACES) and base.endswith(".jpg") and base[:-4] in blobs:
            sha = hashlib.sha256()
            data, _size = _read_all(f, sha)
            if sha.hexdigest() != listed[name]["sha256"]:
                raise ArchiveRefused(f"{name} changed while it was being imported")
            blob = base[:-4]
            if not vault.has(blob):
                vault.put(blob, data)
                res.blobs += 1
        elif name in originals:
            rel = name.removeprefix(ORIGINALS + "/")
            target = root / rel
            if kept_copy(store.data_dir, target) is not None:
                continue
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = target.with_name(f".tmp-{target.name}")
            sha = hashlib.sha256()
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while block := f.read(_BLOCK):
                        sha.update(block)
                        out.write(block)
                    out.flush()
                    os.fsync(out.fileno())
                if sha.hexdigest() != listed[name]["sha256"]:
                    raise ArchiveRefused(f"{name} changed while it was being imported")
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            keep_encrypted(store.data_dir, vault, target)  # kept encrypted at rest, like every original
            res.originals += 1
        else:
            continue
        done += 1
        if progress is not None:
            progress(ArchiveProgress("media", done, total, name.rpartition("/")[2][:40]))


def _recompute_vectors(
    vault: Vault, new: dict[str, list[dict[str, Any]]], arrays: dict[str, dict[str, NDArray[Any]]],
    res: ArchiveImportResult,
) -> None:
    """Frames made by another visual model than this memory's: their vectors and labels are
    recomputed from their thumbnails (else they could not be compared with this memory's)."""
    frames = new["frames"]
    if not frames:
        return
    from lifelog.encoders import ModelMissingError, get_visual_encoder

    try:
        enc = get_visual_encoder()
    except ModelMissingError:
        if any(d.get("model") for d in frames):
            res.vectors = "flagged for re-index (no visual model here)"
        return
    current = f"{enc.name}@{enc.version}"
    stale = [i for i, d in enumerate(frames) if d.get("model") != current and d.get("thumb_id")]
    if not stale:
        return
    from PIL import Image

    touched: set[str] = set()
    for start in range(0, len(stale), 64):
        part = stale[start:start + 64]
        images = [np.asarray(Image.open(io.BytesIO(vault.get(frames[i]["thumb_id"]))).convert("RGB")) for i in part]
        batch = enc.encode(images)
        for j, i in enumerate(part):
            d = frames[i]
            arrays["frames"]["semantic"][i] = batch.semantic[j]
            arrays["frames"]["features"][i] = batch.features[j].astype(arrays["frames"]["features"].dtype)
            d["labels"] = [lab for lab, _ in batch.labels[j]]
            d["label_scores"] = [float(s) for _, s in batch.labels[j]]
            d["model"] = current
            touched.add(str(d["episode_id"]))
    res.recomputed_frames = len(stale)
    res.vectors = "recomputed from thumbnails"
    by_ep: dict[str, list[int]] = {}
    for i, d in enumerate(frames):
        by_ep.setdefault(str(d["episode_id"]), []).append(i)
    for k, e in enumerate(new["episodes"]):
        idx = by_ep.get(str(e["id"]))
        if str(e["id"]) not in touched or not idx:
            continue
        sem = arrays["frames"]["semantic"][idx].astype(np.float32).mean(axis=0)
        arrays["episodes"]["semantic"][k] = sem / (np.linalg.norm(sem) + 1e-9)
        acc: dict[str, float] = {}
        for i in idx:
            for lab, p in zip(frames[i]["labels"], frames[i]["label_scores"], strict=True):
                acc[lab] = acc.get(lab, 0.0) + p
        best = sorted(acc.items(), key=lambda kv: -kv[1])[:8]
        e["labels"] = [lab for lab, _ in best]
        e["label_scores"] = [v / len(idx) for _, v in best]
        e["peak_labels"], e["peak_scores"] = peak_labels(
            (frames[i]["labels"], frames[i]["label_scores"]) for i in idx)
        e["model"] = current


def _write_rows(
    store: Store, vault: Vault, new: dict[str, list[dict[str, Any]]], arrays: dict[str, dict[str, NDArray[Any]]],
    res: ArchiveImportResult, progress: ProgressFn | None,
) -> None:
    key = index_key(vault)
    for n, t in enumerate(TABLES):
        rows = from_json_rows(t, SCHEMAS[t], new[t], arrays[t], vault)
        for i in range(0, len(rows), BATCH):
            store.add(t, rows[i:i + BATCH])
        res.added[t] = len(rows)
        terms: list[dict[str, Any]] = []
        if t == "ocr":
            times = {r["id"]: r["t"] for r in rows}
            for d in new[t]:
                for w in sorted(index_terms(d.get("text") or "")):
                    terms.append({"term": term_hash(key, w), "ocr_id": d["id"], "frame_id": d.get("frame_id"),
                                  "episode_id": d.get("episode_id"), "media_id": d.get("media_id"),
                                  "t": times[d["id"]]})
            table = "ocr_terms"
        elif t == "utterances":
            starts = {r["id"]: r["start"] for r in rows}
            for d in new[t]:
                for w in sorted(index_terms(d.get("text") or "")):
                    terms.append({"term": term_hash(key, w), "utterance_id": d["id"],
                                  "episode_id": d.get("episode_id"), "media_id": d.get("media_id"),
                                  "start": starts[d["id"]]})
            table = "utterance_terms"
        for i in range(0, len(terms), BATCH):
            store.add(table, terms[i:i + BATCH])
        if terms:
            res.added[table] = len(terms)
        if progress is not None:
            progress(ArchiveProgress("rows", n + 1, len(TABLES), t))


def _write_model_tables(
    store: Store, vault: Vault, checked: _Checked, specs: dict[str, Any], res: ArchiveImportResult
) -> None:
    """Vectors of optional image-text models: carried as they are (their ``model`` column says
    which version made them; ``lifelog models reindex`` redoes frames whose version differs)."""
    for name, spec in specs.items():
        if not re.fullmatch(TABLE_PREFIX + r"[a-z0-9_]+", name):
            raise ArchiveRefused(f"the archive names a bad model table {name!r}")
        docs = _load(checked, spec["json"])
        arrays = _arrays(checked, spec, len(docs))
        dim = int(arrays["vector"].shape[1])
        schema = vector_schema(dim)
        try:
            tbl = store.db.open_table(name)
        except (ValueError, FileNotFoundError):
            tbl = store.db.create_table(name, schema=schema, exist_ok=True)
        if tbl.schema.field("vector").type.list_size != dim:
            continue  # another model under the same name: its frames get re-indexed
        have = _existing(store, name, "id", (str(d["id"]) for d in docs), tbl)
        keep = [i for i, d in enumerate(docs) if str(d["id"]) not in have]
        rows = from_json_rows(name, schema, [docs[i] for i in keep], {"vector": arrays["vector"][keep]}, vault)
        if rows:
            import pyarrow as pa

            tbl.add(pa.Table.from_pylist(rows, schema=schema))
        res.added[name] = len(rows)
        res.skipped[name] = len(docs) - len(keep)


def _restore_profile_lines(store: Store, vault: Vault, checked: _Checked, m: dict[str, Any]) -> int:
    """The user's own profile lines of the archive join this memory's profile (a line it already
    has, same key and text, is not added twice). Archives made before the profile have none."""
    if not m.get("profile"):
        return 0
    from lifelog.store.notes import ProfileLine, load_profile, save_profile

    doc = load_profile(store, vault)
    have = {(ln.key, ln.text, ln.source) for ln in doc.lines}
    new = []
    for d in (_load(checked, m["profile"]) or {}).get("lines") or []:
        if not isinstance(d, dict):
            continue
        line = ProfileLine.from_json(d)
        if line.source in ("user", "hidden") and line.text.strip() and (line.key, line.text, line.source) not in have:
            have.add((line.key, line.text, line.source))
            new.append(line)
    if new:
        doc.lines.extend(new)
        save_profile(store, vault, doc)
    return len(new)


def _restore_graph(store: Store, vault: Vault, checked: _Checked, m: dict[str, Any]) -> int:
    """The archive's facts and name history join this memory's graph; the rest of the graph is
    derived again from what was imported (places first). Archives before format 2 have none."""
    from lifelog.graph import archive as graph_archive
    from lifelog.graph.build import build_graph
    from lifelog.places import Places

    added = graph_archive.load(store, vault, _load(checked, m["graph"])) if m.get("graph") else 0
    try:  # derived data: the next import or nightly pass derives it if this fails
        Places(store, vault).refresh()
        build_graph(store, vault, None)
    except Exception as e:
        import logging

        logging.getLogger(__name__).warning("places and graph not derived after the import: %s", e)
    return added


def _restore_settings(data_dir: Path, checked: _Checked, m: dict[str, Any]) -> str:
    """The archive's settings become this memory's only when it has none of its own."""
    if (data_dir / "settings.json").exists() or not m.get("settings"):
        return "kept"
    try:
        from lifelog.config import Settings

        raw = _load(checked, m["settings"])
        save_settings(data_dir, Settings.model_validate(migrate(dict(raw))))
    except (SettingsError, ValueError, TypeError, ArchiveRefused):
        return "kept"
    return "restored"
