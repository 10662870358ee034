"""Re-index: give every existing frame a vector of the active image-text model, in the background.

Frames keep only a small thumbnail (160 px), so each frame's picture is taken, best first, from

1. the **original file** (``media.path``) when it is still there with the same size: a photo is
   loaded again, a video is seeked to the frame's ``offset_s`` — the same picture the import saw
   (a copy kept encrypted under ``<data>/originals`` is decrypted into the memory's private
   scratch folder while it is read, then removed);
2. else the frame's **encrypted thumbnail**, decrypted in memory (weaker, but always there).

Each vector row records ``model = name@version`` and ``source`` (``media`` | ``thumbnail``).

The job is **resumable** — its work list is "frames without a vector of this model version", so
a killed or cancelled run continues where it stopped — and **cancellable** (a
``threading.Event`` checked between batches). Encoding runs without the lock; each batch is
written under the memory's write lock, so it never interleaves with an import's writes (an
import holding the lock makes the batch wait). Questions asked meanwhile stay correct: see
:mod:`lifelog.encoders.vectors` (each frame is scored in exactly one vector space).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from lifelog.encoders.registry import InstalledModel
from lifelog.encoders.vectors import ModelVectors, compact_vector_tables
from lifelog.store.db import Store
from lifelog.store.sql import sql_in, sql_str
from lifelog.store.vault import Vault

BATCH = 32


@dataclass(frozen=True)
class ReindexProgress:
    """Progress as plain data."""

    model: str
    done: int
    total: int
    stage: Literal["scanning", "encoding", "done", "cancelled"]
    fraction: float
    current: str | None = None  # media id being read


@dataclass
class ReindexResult:
    model: str
    total: int = 0  # frames that needed a vector when the run started
    reindexed: int = 0
    from_media: int = 0
    from_thumbnail: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (frame id, reason); retried next run
    cancelled: bool = False
    remaining: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "total": self.total,
            "reindexed": self.reindexed,
            "from_media": self.from_media,
            "from_thumbnail": self.from_thumbnail,
            "failed": [{"frame_id": f, "error": e} for f, e in self.failed],
            "cancelled": self.cancelled,
            "remaining": self.remaining,
        }


ProgressFn = Callable[[ReindexProgress], None]


def reindex(
    store: Store,
    vault: Vault,
    model: InstalledModel,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    batch: int = BATCH,
    use_media: bool = True,
) -> ReindexResult:
    """Embed every frame that has no vector of ``model`` yet (see the module docstring)."""
    from lifelog.encoders.clip import encoder_for
    from lifelog.store.lock import write_lock

    report = progress or (lambda p: None)
    enc = encoder_for(model)
    vectors = ModelVectors(store, model.name, model.spec.dim)
    result = ReindexResult(model.full_name)
    report(ReindexProgress(model.full_name, 0, 0, "scanning", 0.0))
    with write_lock(store.data_dir):  # fail fast (WriteLockBusy) when an import is running now
        store.refresh()
    todo = _todo(store, vectors, model.full_name)
    result.total = len(todo)
    media = _media_rows(store, sorted({r["media_id"] for r in todo}))
    pending: list[tuple[dict[str, Any], NDArray[Any], str]] = []

    def flush() -> None:
        if not pending:
            return
        vecs = enc.encode_images([im for _, im, _ in pending])
        with write_lock(store.data_dir, wait=True):
            store.refresh()
            ids = [r["id"] for r, _, _ in pending]
            alive = set(store.rows("frames", sql_in("id", ids), columns=["id"]).column("id").to_pylist())
            done = vectors.ids_with(model.full_name, ids)
            rows = [
                {"id": r["id"], "media_id": r["media_id"], "t": r["t"], "vector": v.tolist(),
                 "model": model.full_name, "source": src}
                for (r, _, src), v in zip(pending, vecs, strict=True)
                if r["id"] in alive and r["id"] not in done
            ]
            vectors.add(rows)
        for r, _, src in pending:
            if r["id"] in alive:
                result.reindexed += 1
                if src == "media":
                    result.from_media += 1
                else:
                    result.from_thumbnail += 1
        pending.clear()

    try:
        for r, im, src, err in _pictures(todo, media, vault, store.data_dir, use_media, cancel):
            if im is None:
                result.failed.append((r["id"], err or "no picture"))
                continue
            pending.append((r, im, src))
            if len(pending) >= batch:
                flush()
                n = result.reindexed + len(result.failed)
                report(ReindexProgress(model.full_name, n, result.total, "encoding", n / max(result.total, 1),
                                       r["media_id"]))
        flush()
    except _Cancelled:
        result.cancelled = True
    compact_vector_tables(store)
    result.remaining = max(0, len(_todo(store, vectors, model.full_name)))
    stage: Literal["cancelled", "done"] = "cancelled" if result.cancelled else "done"
    n = result.reindexed + len(result.failed)
    report(ReindexProgress(model.full_name, n, result.total, stage, 1.0 if not result.cancelled else
                           n / max(result.total, 1)))
    return result


class _Cancelled(Exception):
    pass


def _todo(store: Store, vectors: ModelVectors, full_name: str) -> list[dict[str, Any]]:
    """Committed frames without a vector of ``full_name``, in file order."""
    hidden = store.committed_filter()
    rows = store.rows("frames", hidden, columns=["id", "media_id", "t", "offset_s", "thumb_id"]).to_pylist()
    if not rows:
        return []
    done = vectors.ids_with(full_name, [r["id"] for r in rows]) if vectors.exists() else set()
    todo = [r for r in rows if r["id"] not in done]
    todo.sort(key=lambda r: (r["media_id"], r["offset_s"] or 0.0))
    return todo


def _media_rows(store: Store, ids: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), 1000):
        got = store.rows("media", sql_in("id", ids[i : i + 1000]), columns=["id", "kind", "path", "size"])
        for r in got.to_pylist():
            out[r["id"]] = r
    return out


def _pictures(
    todo: list[dict[str, Any]],
    media: dict[str, dict[str, Any]],
    vault: Vault,
    data_dir: Path,
    use_media: bool,
    cancel: threading.Event | None,
) -> Iterator[tuple[dict[str, Any], NDArray[Any] | None, str, str | None]]:
    """(frame row, RGB picture or None, source, error) for each frame, grouped by file."""
    i = 0
    while i < len(todo):
        mid = todo[i]["media_id"]
        j = i
        while j < len(todo) and todo[j]["media_id"] == mid:
            j += 1
        group = todo[i:j]
        i = j
        if cancel is not None and cancel.is_set():
            raise _Cancelled
        originals: dict[str, NDArray[Any]] = {}
        m = media.get(mid)
        if use_media and m is not None:
            originals = _from_original(m, group, vault, data_dir)
        for r in group:
            if cancel is not None and cancel.is_set():
                raise _Cancelled
            im = originals.get(r["id"])
            if im is not None:
                yield r, im, "media", None
                continue
            try:
                yield r, _from_thumbnail(vault, r["thumb_id"] or r["id"]), "thumbnail", None
            except Exception as e:  # a missing or damaged blob: this frame only, retried next run
                yield r, None, "", f"no original file and no readable thumbnail ({type(e).__name__})"


def _from_original(
    m: dict[str, Any], group: list[dict[str, Any]], vault: Vault, data_dir: Path
) -> dict[str, NDArray[Any]]:
    """Frames re-decoded from the file they were imported from, if it is still there unchanged
    (a copy kept encrypted under ``<data>/originals`` is decrypted into the private scratch
    folder for the time it is read)."""
    from lifelog.store.originals import is_kept, kept_copy, plain_original, plain_size

    path = Path(m["path"]) if m.get("path") else None
    try:
        if path is None:
            return {}
        kept = kept_copy(data_dir, path) if is_kept(data_dir, path) else (path if path.is_file() else None)
        if kept is None or (m.get("size") and plain_size(kept) != m["size"]):
            return {}
        from lifelog.ingest import decode

        with plain_original(data_dir, vault, kept, f"reindex-{m['id']}{path.suffix}") as plain:
            if m.get("kind") == "photo":
                rgb = decode.load_photo(plain).rgb
                return {r["id"]: rgb for r in group}
            if m.get("kind") == "video":
                return _video_frames(plain, group)
    except Exception:  # unreadable now: the thumbnails are used instead
        return {}
    return {}


def _video_frames(path: Path, group: list[dict[str, Any]]) -> dict[str, NDArray[Any]]:
    from lifelog.ingest import decode

    out: dict[str, NDArray[Any]] = {}
    with decode.open_media(path) as c:
        vs = c.streams.video[0]
        tb = float(vs.time_base) if vs.time_base else 1e-6
        for r in group:
            target = float(r["offset_s"] or 0.0)
            c.seek(int(target / tb), stream=vs, backward=True, any_frame=False)
            picked = None
            for frame in c.decode(vs):
                t = float(frame.time) if frame.time is not None else 0.0
                picked = frame
                if t >= target - 0.02:
                    break
            if picked is not None:
                out[r["id"]] = decode.frame_to_rgb(picked)
    return out


def _from_thumbnail(vault: Vault, blob_id: str) -> NDArray[Any]:
    from PIL import Image

    with Image.open(BytesIO(vault.get(blob_id))) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))


def frames_by_model(store: Store, model: InstalledModel) -> dict[str, str]:
    """frame id -> the ``model`` value of its vector of this model's table (for reports and tests)."""
    vectors = ModelVectors(store, model.name, model.spec.dim)
    if not vectors.exists():
        return {}
    t = vectors.table.search().where(f"model = {sql_str(model.full_name)}").select(["id", "model"]).limit(None)
    got = t.to_arrow()
    return dict(zip(got.column("id").to_pylist(), got.column("model").to_pylist(), strict=True))


# The Ray engine (lifelog.ingest.reindex_ray) works on the same list with the same pictures.
todo_frames = _todo
media_rows = _media_rows
frame_pictures = _pictures
ReindexCancelled = _Cancelled
