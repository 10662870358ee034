"""Re-index on Ray: the same job as :mod:`lifelog.ingest.reindex`, with the encoding spread over
Ray actors (a local Ray, or a cluster at ``address``). docs/scale.md.

One Ray Data pipeline for the whole job:

1. **read** — the driver takes the work list from Lance (committed frames without a vector of
   this model version, the same list as the local engine) and, on a reader thread, the same
   pictures (the original file when it is still there unchanged, else the encrypted thumbnail
   decrypted in memory). The vault's key never leaves the driver; workers get pixels only. The
   reader hands blocks of one batch to a :class:`Feeder` actor, a bounded number ahead;
2. **encode** — ``from_items(block numbers)`` → ``map_batches(EncodeActor, compute=ActorPoolStrategy(size=N))``:
   each actor loads the same ONNX image encoder once, takes block *k* from the feeder and encodes
   it while the driver reads the next ones (the feeder keeps a block until the driver has its
   vectors, so a batch retried after its actor died finds it again);
3. **write** — the driver appends the vectors to the model's Lance table under the memory's
   write lock, skipping frames that got a vector meanwhile or were forgotten (a batch encoded
   twice — a retried batch, a second job — is written once).

Resumable (the work list is "frames without a vector of this version"), cancellable between
batches (what was written stays; the table is consistent), one job per memory at a time (a
second is refused: :class:`lifelog.store.joblock.JobBusy`). A worker killed mid-batch: the
actor is restarted and the batch retried (Ray Data's actor pool defaults: ``max_restarts`` and
``max_task_retries`` -1).

Ray is optional (``pip install 'lifelog[scale]'``): importing this module does not import Ray.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from lifelog.encoders.registry import InstalledModel
from lifelog.encoders.vectors import ModelVectors, compact_vector_tables
from lifelog.ingest.reindex import (
    ReindexCancelled,
    ReindexProgress,
    ReindexResult,
    frame_pictures,
    media_rows,
    todo_frames,
)
from lifelog.store.db import Store
from lifelog.store.joblock import job_lock
from lifelog.store.sql import sql_in
from lifelog.store.vault import Vault

BATCH = 32  # frames per actor call
WRITE_EVERY = 256  # vectors per Lance commit
RAY_MISSING = "the Ray engine needs Ray: pip install 'lifelog[scale]' (or use --engine local)"
JOB_LOCK = "reindex"

ProgressFn = Callable[[ReindexProgress], None]


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster at the address cannot be joined."""


def ray_installed() -> bool:
    """Whether Ray is installed, without importing it (a second of start-up: the app's
    Settings page asks this when it opens; issue #18). A broken install still fails at use,
    in :func:`connect`, with :class:`RayUnavailable`."""
    import importlib.util

    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """The ``ray`` module, joined to ``address`` (a cluster: ``ray://host:10001`` or
    ``host:6379``), or to a local Ray started here; an already initialised Ray is used as is."""
    try:
        import ray
    except ImportError as e:
        raise RayUnavailable(RAY_MISSING) from e
    import logging

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # the CLI prints its own progress lines
    if ray.is_initialized() and address and address not in _joined_addresses(ray):
        ray.shutdown()  # joined elsewhere before (the app re-indexed on a local Ray): join the one asked for
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        except Exception as e:
            raise RayUnavailable(f"cannot start or join Ray at {address or 'a local cluster'}: {e}") from e
        _JOINED[0] = address
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    return ray


_JOINED: list[str | None] = [None]  # the address this process joined (None: a local Ray it started)


def _joined_addresses(ray: Any) -> set[str]:
    """The addresses that name the Ray this process is in: the one it joined, and its GCS's."""
    out = {a for a in _JOINED if a}
    with contextlib.suppress(Exception):
        out.add(str(ray.get_runtime_context().gcs_address))
    return out


class EncodeActor:
    """One Ray actor: loads the model's ONNX image encoder once; each call takes the blocks of
    pixels it is given the numbers of from the :class:`Feeder` and encodes them."""

    def __init__(self, model: InstalledModel, feeder: Any, threads: int = 1) -> None:
        from lifelog.encoders.clip import ClipEncoder

        self.encoder = ClipEncoder(model, threads=threads)
        self.feeder = feeder

    def take(self, k: int) -> Any:
        import time

        import ray

        while isinstance(t := ray.get(self.feeder.take.remote(k)), str):  # NOT_YET: the driver reads it now
            time.sleep(0.02)
        return t

    def __call__(self, batch: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        ids: list[str] = []
        blocks: list[int] = []
        images: list[NDArray[Any]] = []
        for k in batch["id"]:
            t = self.take(int(k))
            if t is None:  # the reader stopped (cancelled) before this block
                continue
            cols = t.to_pydict()
            for fid, p, h, w in zip(cols["id"], cols["pixels"], cols["h"], cols["w"], strict=True):
                ids.append(fid)
                blocks.append(int(k))
                images.append(np.frombuffer(p, np.uint8).reshape(int(h), int(w), 3))
        dim = int(self.encoder.model.spec.dim)
        vecs = self.encoder.encode_images(images) if images else np.zeros((0, dim), np.float32)
        return {"id": np.asarray(ids, dtype=object), "vector": vecs.astype(np.float32),
                "block": np.asarray(blocks, np.int64), "pid": np.full(len(ids), os.getpid(), np.int64)}


@dataclass(frozen=True)
class _Item:
    row: dict[str, Any]
    source: str


NOT_YET = "not-yet"


class Feeder:
    """A Ray actor on the driver's side (no CPU): blocks of pixels the driver read, handed to the
    pipeline's fetch stage in order (``take`` waits for a block not read yet)."""

    def __init__(self) -> None:
        self.blocks: dict[int, Any] = {}
        self.cv = threading.Condition()
        self.closed = False

    def put(self, k: int, table: Any) -> int:
        with self.cv:
            self.blocks[k] = table
            self.cv.notify_all()
            return len(self.blocks)

    def take(self, k: int) -> Any:
        """Block ``k``; ``NOT_YET`` when the driver has not read it yet (never blocks); None when
        the reader stopped without it. The block stays until :meth:`release`: a batch retried
        after its actor was killed takes it again."""
        with self.cv:
            if k in self.blocks:
                return self.blocks[k]
            return None if self.closed else NOT_YET

    def release(self, ks: list[int]) -> None:
        with self.cv:
            for k in ks:
                self.blocks.pop(k, None)

    def waiting(self) -> int:
        with self.cv:
            return len(self.blocks)

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()


def reindex_on_ray(
    store: Store,
    vault: Vault,
    model: InstalledModel,
    *,
    address: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    batch: int = BATCH,
    write_every: int = WRITE_EVERY,
    use_media: bool = True,
    encoder_cls: type = EncodeActor,
    threads_per_worker: int = 1,
) -> ReindexResult:
    """Give every frame without one a vector of ``model``, encoding on Ray (module docstring)."""
    from lifelog.store.lock import write_lock

    report = progress or (lambda p: None)
    ray = connect(address)
    n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // max(1, threads_per_worker))
    vectors = ModelVectors(store, model.name, model.spec.dim)
    result = ReindexResult(model.full_name)
    with job_lock(store.data_dir, JOB_LOCK, "a re-index"):
        report(ReindexProgress(model.full_name, 0, 0, "scanning", 0.0))
        with write_lock(store.data_dir):  # fail fast (WriteLockBusy) when an import is running now
            store.refresh()
        todo = todo_frames(store, vectors, model.full_name)
        result.total = len(todo)
        media = media_rows(store, sorted({r["media_id"] for r in todo}))
        pending: list[tuple[_Item, NDArray[np.float32]]] = []
        items: dict[str, _Item] = {}

        def write() -> None:
            if not pending:
                return
            with write_lock(store.data_dir, wait=True):
                store.refresh()
                ids = [it.row["id"] for it, _ in pending]
                alive = set(store.rows("frames", sql_in("id", ids), columns=["id"]).column("id").to_pylist())
                done = vectors.ids_with(model.full_name, ids)
                rows: list[dict[str, Any]] = []
                for it, v in pending:
                    fid = it.row["id"]
                    if fid in alive and fid not in done:
                        done.add(fid)  # a batch retried by Ray can bring the same frame twice
                        rows.append({"id": fid, "media_id": it.row["media_id"], "t": it.row["t"],
                                     "vector": v.tolist(), "model": model.full_name, "source": it.source})
                        result.reindexed += 1
                        if it.source == "media":
                            result.from_media += 1
                        else:
                            result.from_thumbnail += 1
                vectors.add(rows)
            pending.clear()

        def tick(current: str | None) -> None:
            n = result.reindexed + len(result.failed)
            report(ReindexProgress(model.full_name, n, result.total, "encoding", n / max(result.total, 1), current))

        n_blocks = -(-len(todo) // batch)
        feeder = ray.remote(num_cpus=0, max_concurrency=4)(Feeder).remote() if n_blocks else None
        reader = _Reader(feeder, todo, media, vault, store, use_media, cancel, batch, n_blocks, items, result)
        try:
            if feeder is not None:
                reader.start()
                # from_items, not range: read tasks would need CPUs the actors hold (a stall)
                blocks = ray.data.from_items([{"id": k} for k in range(n_blocks)], override_num_blocks=n_blocks)
                ds = blocks.map_batches(
                    encoder_cls,
                    fn_constructor_kwargs={"model": model, "feeder": feeder, "threads": threads_per_worker},
                    batch_size=1, compute=ray.data.ActorPoolStrategy(size=n_workers),
                    num_cpus=threads_per_worker, batch_format="numpy",
                )  # Ray Data restarts a dead actor and retries its batch (max_restarts/max_task_retries -1)
                for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
                    last = None
                    for fid, vec in zip(out["id"], out["vector"], strict=True):
                        it = items.get(str(fid))
                        if it is not None:
                            pending.append((it, np.asarray(vec, np.float32)))
                            last = it.row["media_id"]
                    feeder.release.remote(sorted({int(k) for k in out["block"]}))
                    if len(pending) >= write_every:
                        write()
                        tick(last)
                    if cancel is not None and cancel.is_set():
                        raise ReindexCancelled
                if reader.error is not None:
                    raise reader.error
                write()
                tick(None)
        except ReindexCancelled:
            pending.clear()  # encoded but not written: the next run does them again
            result.cancelled = True
        except Exception as e:
            store.raise_if_storage_failed(e)
            raise
        finally:
            reader.stop()
            if feeder is not None:
                ray.kill(feeder)
        if isinstance(reader.error, ReindexCancelled):
            result.cancelled = True
        compact_vector_tables(store)
        result.remaining = len(todo_frames(store, vectors, model.full_name))
    stage: Literal["cancelled", "done"] = "cancelled" if result.cancelled else "done"
    n = result.reindexed + len(result.failed)
    report(ReindexProgress(model.full_name, n, result.total, stage,
                           n / max(result.total, 1) if result.cancelled else 1.0))
    return result


class _Reader(threading.Thread):
    """Reads the pictures on the driver (the vault's key stays here), in file order, and hands
    them to the feeder one block (a batch of frames) at a time, at most ``ahead`` blocks before
    the pipeline takes them. Pictures that cannot be read go to ``result.failed``; a frame
    without a picture leaves its block short (a block may be empty)."""

    ahead = 32

    def __init__(self, feeder: Any, todo: list[dict[str, Any]], media: dict[str, dict[str, Any]], vault: Vault,
                 store: Store, use_media: bool, cancel: threading.Event | None, batch: int, n_blocks: int,
                 items: dict[str, _Item], result: ReindexResult) -> None:
        super().__init__(name="reindex-reader", daemon=True)
        self.feeder, self.todo, self.media, self.vault, self.store = feeder, todo, media, vault, store
        self.use_media, self.cancel, self.batch, self.n_blocks = use_media, cancel, batch, n_blocks
        self.items, self.result = items, result
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(30)

    def run(self) -> None:
        import pyarrow as pa
        import ray

        block: dict[str, list[Any]] = {"id": [], "pixels": [], "h": [], "w": []}
        k = 0
        seen = 0

        def put() -> None:
            nonlocal k
            while not self._halt.is_set() and ray.get(self.feeder.waiting.remote()) >= self.ahead:
                self._halt.wait(0.05)
            table = pa.table({"id": pa.array(block["id"], pa.string()),
                              "pixels": pa.array(block["pixels"], pa.binary()),
                              "h": pa.array(block["h"], pa.int32()), "w": pa.array(block["w"], pa.int32())})
            ray.get(self.feeder.put.remote(k, table))
            k += 1
            for v in block.values():
                v.clear()

        try:
            for r, im, src, err in frame_pictures(self.todo, self.media, self.vault, self.store.data_dir,
                                                  self.use_media, self.cancel):
                if self._halt.is_set():
                    break
                seen += 1
                if im is None:
                    self.result.failed.append((r["id"], err or "no picture"))
                else:
                    rgb = np.ascontiguousarray(im, dtype=np.uint8)
                    self.items[r["id"]] = _Item(r, src)
                    block["id"].append(r["id"])
                    block["pixels"].append(rgb.tobytes())
                    block["h"].append(rgb.shape[0])
                    block["w"].append(rgb.shape[1])
                if seen % self.batch == 0:
                    put()
            if seen % self.batch:
                put()
        except BaseException as e:  # cancelled (ReindexCancelled) or a read error: the driver decides
            self.error = e
        finally:
            with contextlib.suppress(Exception):
                self.feeder.close.remote()
