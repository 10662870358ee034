"""Beyond one machine (issue #22): re-index on Ray against the single process, and ``ask`` on an
object-store memory against the local one. Figures for docs/scale.md.

    .venv/bin/python bench/scale.py [--frames 83333] [--workers 2] [--queries 40] [--rebuild]

1. **The generated month** (``bench/query.py``'s generator: real encodings of jittered real
   images, perturbed, 30-frame episodes; ``--frames``, default a twelfth of the year), with
   real encrypted 160-px JPEG thumbnails in the vault (``--real`` distinct pictures, each frame
   pointing at one), so the re-index reads what it reads in a real memory: a vault blob,
   decrypted and decoded per frame.
2. **Re-index** with the tiny CLIP-family model the tests generate (real ONNX, the real
   install path; its network is small, so the figure is the engines' overhead, not a model's
   speed): single process (``lifelog.ingest.reindex``) then Ray (``reindex_on_ray``, a local Ray
   with ``--workers`` actors), same frames, same run. Frames/s of both and the ratio (target ≥ 0.8).
3. **Per-frame costs** on a sample: read (vault get + decrypt + JPEG decode), encode (one actor
   thread), write (a Lance append of 256 vectors, per frame) — the inputs of the projection.
4. **ask p95**: the month's questions (``bench/query.py``'s mix) on the local memory, then on a
   copy whose tables were moved (``lifelog.api.storage.move_tables``) to an S3-compatible server
   on loopback (moto's server, in its own process).

Written to ``bench/results/scale.json``. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))  # the tiny CLIP-family model the tests generate

os.environ.setdefault("LIFELOG_PASSPHRASE", "bench passphrase")

from query import build_store, jittered_images, log, measure  # noqa: E402

MONTH = 1_000_000 // 12


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def add_thumbnails(data: Path, n_real: int) -> None:
    """Real encrypted JPEG thumbnails (160 px, as the importer keeps them); each frame points at one."""
    from PIL import Image

    from lifelog.store.db import Store
    from lifelog.store.vault import Vault

    vault = Vault.open(data)
    imgs = jittered_images(n_real, seed=7)
    for i, a in enumerate(imgs):
        im = Image.fromarray(a)
        im.thumbnail((160, 160))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80)
        vault.put(f"beef{i:028x}", buf.getvalue())
    store = Store(data)
    frames = store.table("frames").to_arrow()
    rng = np.random.default_rng(3)
    pick = rng.integers(0, n_real, frames.num_rows)
    thumbs = pa.array([f"beef{int(k):028x}" for k in pick], pa.string())
    frames = frames.set_column(frames.schema.get_field_index("thumb_id"), "thumb_id", thumbs)
    store.db.drop_table("frames")
    store.db.create_table("frames", data=frames, schema=frames.schema, on_bad_vectors="null")
    Store(data).ensure_indexes()


def install_tiny(data: Path, work: Path) -> Any:
    from helpers_tiny_clip import make_tiny_model, write_manifest

    from lifelog.encoders.install import install_model
    from lifelog.encoders.registry import active_model, spec

    tiny = make_tiny_model(work / "tiny")
    os.environ["LIFELOG_MODELS_MANIFEST"] = str(write_manifest(work / "manifest.json", tiny.entry()))
    if active_model(data) is None:
        install_model(data, spec("tiny-clip"))
    model = active_model(data)
    assert model is not None
    return model


def drop_vectors(data: Path) -> None:
    from lifelog.encoders.vectors import vector_tables
    from lifelog.store.db import Store

    store = Store(data)
    for name in vector_tables(store):
        store.db.drop_table(name)


def per_frame_costs(data: Path, model: Any, n: int = 2000) -> dict[str, float]:
    from PIL import Image

    from lifelog.encoders.clip import ClipEncoder
    from lifelog.encoders.vectors import ModelVectors
    from lifelog.store.db import Store
    from lifelog.store.vault import Vault

    store, vault = Store(data), Vault.open(data)
    rows = store.rows("frames", None, ["id", "media_id", "t", "thumb_id"]).slice(0, n).to_pylist()
    t0 = time.perf_counter()
    pics = []
    for r in rows:
        with Image.open(io.BytesIO(vault.get(r["thumb_id"]))) as im:
            pics.append(np.asarray(im.convert("RGB")))
    read = (time.perf_counter() - t0) / len(rows)
    enc = ClipEncoder(model, threads=1)
    enc.encode_images(pics[:32])  # load the session
    t0 = time.perf_counter()
    vecs = np.concatenate([enc.encode_images(pics[i : i + 32]) for i in range(0, len(pics), 32)])
    encode = (time.perf_counter() - t0) / len(rows)
    vt = ModelVectors(store, "bench-costs", model.spec.dim)
    t0 = time.perf_counter()
    for i in range(0, len(rows), 256):
        vt.add([{"id": r["id"], "media_id": r["media_id"], "t": r["t"], "vector": v.tolist(), "model": "x",
                 "source": "thumbnail"} for r, v in zip(rows[i : i + 256], vecs[i : i + 256], strict=True)])
    write = (time.perf_counter() - t0) / len(rows)
    store.db.drop_table(vt.name)
    return {"read_ms": read * 1000, "encode_ms_one_thread": encode * 1000, "write_ms": write * 1000,
            "frames_sampled": float(len(rows))}


def reindex_both(data: Path, model: Any, workers: int) -> dict[str, Any]:
    from lifelog.api import Memory
    from lifelog.ingest.reindex import reindex
    from lifelog.ingest.reindex_ray import connect, reindex_on_ray

    drop_vectors(data)
    mem = Memory(data)
    t0 = time.perf_counter()
    local = reindex(mem.store, mem.vault, model)
    local_s = time.perf_counter() - t0
    log(f"single process: {local.reindexed:,} frames in {local_s:.1f} s")
    drop_vectors(data)
    t0 = time.perf_counter()
    ray = connect(num_cpus=workers)
    init_s = time.perf_counter() - t0
    mem = Memory(data)
    t0 = time.perf_counter()
    got = reindex_on_ray(mem.store, mem.vault, model, workers=workers)
    ray_s = time.perf_counter() - t0
    log(f"Ray ({workers} actors): {got.reindexed:,} frames in {ray_s:.1f} s (+{init_s:.1f} s to start Ray)")
    ray.shutdown()
    assert got.reindexed == local.reindexed and got.remaining == 0
    return {
        "frames": local.reindexed,
        "single_process_s": local_s, "single_process_fps": local.reindexed / local_s,
        "ray_s": ray_s, "ray_fps": got.reindexed / ray_s, "ray_start_s": init_s, "ray_workers": workers,
        "ratio_ray_over_single": local_s / ray_s,
        "target_ratio": 0.8,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    port = _free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.2)
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                     aws_secret_access_key="bench").create_bucket(Bucket="bench")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)


def ask_local_and_s3(data: Path, work: Path, queries: int) -> dict[str, Any]:
    from lifelog.api.storage import StorageSettings, move_tables

    local = measure(data, queries, ask_only=True)
    log(f"ask on the local month: p95 {local['ask_ms']['p95']:.0f} ms")  # type: ignore[index]
    os.environ["AWS_ACCESS_KEY_ID"] = os.environ["AWS_SECRET_ACCESS_KEY"] = "bench"
    remote_dir = work / "month-s3"
    shutil.rmtree(remote_dir, ignore_errors=True)
    shutil.copytree(data, remote_dir, ignore=shutil.ignore_patterns("db"))
    shutil.copytree(data / "db", remote_dir / "db")
    with moto_server() as endpoint:
        t0 = time.perf_counter()
        move_tables(remote_dir, StorageSettings(tables="s3://bench/month", endpoint=endpoint, region="us-east-1"))
        move_s = time.perf_counter() - t0
        shutil.rmtree(remote_dir / "db")
        log(f"moved the month's tables to S3 in {move_s:.1f} s")
        remote = measure(remote_dir, queries, ask_only=True)
        log(f"ask on the S3 month: p95 {remote['ask_ms']['p95']:.0f} ms")  # type: ignore[index]
    return {
        "local_ask_ms": local["ask_ms"], "s3_ask_ms": remote["ask_ms"],
        "p95_ratio_s3_over_local": remote["ask_ms"]["p95"] / local["ask_ms"]["p95"],  # type: ignore[index]
        "move_to_s3_s": move_s, "queries": queries,
        "server": "moto standalone server on loopback, own process (no network latency; an in-memory store)",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=MONTH)
    ap.add_argument("--real", type=int, default=500, help="distinct jittered real pictures (encodings, thumbnails)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--skip-ask", action="store_true")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".scale")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    args = ap.parse_args()
    load_start = _load()
    data = args.work / f"month-{args.frames}"
    if args.rebuild:
        shutil.rmtree(data, ignore_errors=True)
    built: dict[str, float] = {}
    if not (data / "db" / "frames.lance").exists():
        data.mkdir(parents=True, exist_ok=True)
        built = build_store(data, args.frames, args.real)
        add_thumbnails(data, args.real)
    model = install_tiny(data, args.work)
    costs = per_frame_costs(data, model)
    log(f"per frame: read {costs['read_ms']:.2f} ms, encode {costs['encode_ms_one_thread']:.2f} ms, "
        f"write {costs['write_ms']:.3f} ms")
    reidx = reindex_both(data, model, args.workers)
    asked = {} if args.skip_ask else ask_local_and_s3(data, args.work, args.queries)
    doc = {
        "bench": "scale", "frames": args.frames, "built": built, "model": model.full_name,
        "reindex": reidx, "per_frame": costs, "ask": asked,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_start": load_start, "load_end": _load()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    print(json.dumps({"reindex": reidx, "per_frame": costs,
                      "ask_p95_ms": {k: v["p95"] for k, v in asked.items() if k.endswith("ask_ms")}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
