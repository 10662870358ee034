"""Beyond one machine (issue #22): re-index on Ray against the single process, and ``ask`` on an
object-store memory against the local one. Figures for docs/scale.md.

    .venv/bin/python bench/scale.py [--month | --year | --frames N] [--rounds 2] [--workers 2] [--rebuild]

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
   on loopback (moto's server, in its own process): without the read cache, with it (warm; the
   cold fill timed apart), the local memory again; then the first question after another writer
   made a new version (the cache's sync cost).

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
from datetime import timedelta
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


def _budget(seconds: float | None) -> tuple[Any, Any]:
    """A cancel event set after ``seconds`` (None: never) and its timer."""
    import threading

    ev = threading.Event()
    timer = threading.Timer(seconds, ev.set) if seconds else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    return ev, timer


def reindex_both(
    data: Path, model: Any, workers: int, rounds: int = 1, budget_s: float | None = None
) -> dict[str, Any]:
    """Single process and Ray on the same frames, alternating (local, Ray, local, Ray …) so both
    see the same load; Ray is started once (its start is reported apart). With ``budget_s`` each
    run is cancelled after that long (both engines stop cleanly on cancel) and the rates are the
    frames written over the time taken."""
    from lifelog.api import Memory
    from lifelog.ingest.reindex import reindex
    from lifelog.ingest.reindex_ray import connect, reindex_on_ray

    t0 = time.perf_counter()
    ray = connect(num_cpus=workers)
    init_s = time.perf_counter() - t0
    local_fps: list[float] = []
    ray_fps: list[float] = []
    runs: list[dict[str, Any]] = []
    total = 0
    for r in range(rounds):
        drop_vectors(data)
        mem = Memory(data)
        cancel, timer = _budget(budget_s)
        t0 = time.perf_counter()
        local = reindex(mem.store, mem.vault, model, cancel=cancel)
        took = time.perf_counter() - t0
        if timer is not None:
            timer.cancel()
        total = local.total
        local_fps.append(local.reindexed / took)
        runs.append({"engine": "local", "round": r + 1, "frames": local.reindexed, "s": took, "load": _load()})
        log(f"round {r + 1}: single process: {local.reindexed:,} of {local.total:,} frames in {took:.1f} s "
            f"= {local_fps[-1]:.0f}/s (load {_load()})")
        drop_vectors(data)
        mem = Memory(data)
        cancel, timer = _budget(budget_s)
        t0 = time.perf_counter()
        got = reindex_on_ray(mem.store, mem.vault, model, workers=workers, cancel=cancel)
        took = time.perf_counter() - t0
        if timer is not None:
            timer.cancel()
        ray_fps.append(got.reindexed / took)
        runs.append({"engine": "ray", "round": r + 1, "frames": got.reindexed, "s": took, "load": _load()})
        log(f"round {r + 1}: Ray ({workers} actors): {got.reindexed:,} of {got.total:,} frames in {took:.1f} s "
            f"= {ray_fps[-1]:.0f}/s (load {_load()})")
        if budget_s is None:
            assert got.reindexed == local.reindexed and got.remaining == 0
    ray.shutdown()
    lf, rf = float(np.median(local_fps)), float(np.median(ray_fps))
    return {
        "frames_to_reindex": total, "rounds": rounds, "budget_s": budget_s, "runs": runs,
        "single_process_fps": lf, "ray_fps": rf, "ray_start_s": init_s, "ray_workers": workers,
        "ratio_ray_over_single": rf / lf,
        "ratio_per_round": [b / a for a, b in zip(local_fps, ray_fps, strict=True)],
        "projected_month_s": {"single_process": total / lf, "ray": total / rf},
        "projected_year_s": {"single_process": 1_000_000 / lf, "ray": 1_000_000 / rf},
        "target_ratio": 0.8,
    }


def make_tree(root: Path, n_clips: int) -> Path:
    """A folder tree of real clips (sample pictures panned and zoomed, 20 s, 640×360) and photos."""
    from datetime import UTC, datetime, timedelta

    from lifelog.sample.compose import make_clip
    from lifelog.sample.fetch import sample_media

    media = sample_media()
    srcs = ["chelsea.png", "rocket.jpg", "coffee.png", "astronaut.png", "fruits.jpg", "china.jpg", "flower.jpg",
            "motorcycle_left.png", "box_in_scene.png", "basketball1.png", "camera.png"]
    tree = root / "tree"
    if tree.is_dir() and len(list(tree.rglob("*.mp4"))) == n_clips:
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    start = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
    for i in range(n_clips):
        src = srcs[i % len(srcs)]
        make_clip(tree / f"day{i // 4}" / f"{i:03d}.mp4", media.path(src), 20, start + timedelta(minutes=10 * i),
                  effect=["pan", "zoom_in", "zoom_out"][i % 3], seed=i)
    return tree


def import_both(work: Path, n_clips: int, workers: int, rounds: int) -> dict[str, Any]:
    """The local import and the Ray import of the same tree into fresh memories, alternating.
    Faces and OCR off for both (the Ray import does not run them)."""
    from lifelog.api import Memory
    from lifelog.api.scale import import_tree_on_ray
    from lifelog.ingest.reindex_ray import connect

    tree = make_tree(work, n_clips)
    t0 = time.perf_counter()
    ray = connect(num_cpus=workers)
    init_s = time.perf_counter() - t0

    def fresh(name: str) -> Any:
        d = work / "imports" / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        (d / "settings.json").write_text(json.dumps({"capture": {"faces": False, "ocr_interval_s": 0}}))
        return Memory(d)

    runs: list[dict[str, Any]] = []
    for r in range(rounds):
        for engine in ("local", "ray"):
            mem = fresh(engine)
            t0 = time.perf_counter()
            res = mem.import_paths([tree]) if engine == "local" else import_tree_on_ray(mem, [tree], workers=workers)
            took = time.perf_counter() - t0
            runs.append({"engine": engine, "round": r + 1, "files": res.imported, "frames": res.frames_embedded,
                         "s": took, "load": _load()})
            log(f"import round {r + 1}, {engine}: {res.imported} files, {res.frames_embedded} frames in {took:.1f} s "
                f"(load {_load()})")
    ray.shutdown()
    local = float(np.median([x["s"] for x in runs if x["engine"] == "local"]))
    on_ray = float(np.median([x["s"] for x in runs if x["engine"] == "ray"]))
    return {"clips": n_clips, "footage_s": 20 * n_clips, "runs": runs, "single_process_s": local, "ray_s": on_ray,
            "ratio_ray_over_single": local / on_ray, "ray_start_s": init_s, "ray_workers": workers}


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


def _set_cache(data: Path, on: bool, check_s: float | None = None) -> None:
    doc = json.loads((data / "settings.json").read_text())
    doc.setdefault("storage", {})["cache"] = on
    if check_s is None:
        doc["storage"].pop("cache_check_s", None)  # the default
    else:
        doc["storage"]["cache_check_s"] = check_s
    (data / "settings.json").write_text(json.dumps(doc))


def first_after_new_version(data: Path, rounds: int) -> dict[str, Any]:
    """The sync cost: an open cached memory; another writer (no cache: another machine) appends an
    episode's frames, making a new version; the next question syncs the mirror (fetches the new
    files), the one after reads the mirror as it is. Times of both, and the bytes fetched."""
    from dataclasses import replace

    from query import SUBJECTS, YEAR_START

    from lifelog.api import Memory
    from lifelog.recall.answer import ask
    from lifelog.store.db import Store
    from lifelog.store.location import location_for

    mem = Memory(data)
    assert mem.store.cache is not None
    writer = Store(data, replace(location_for(data), cache=False))
    rows = writer.rows("frames", "episode_id IS NOT NULL").slice(0, 30).to_pylist()
    now = YEAR_START + timedelta(days=365)
    ask(mem, "when did I last see a cat?", now=now, thumbnails=False)  # warm
    first_ms: list[float] = []
    second_ms: list[float] = []
    fetched: list[int] = []
    for r in range(rounds):
        writer.add("frames", [{**row, "id": f"{row['id']}-new{r}"} for row in rows])
        q = f"when did I last see {SUBJECTS[r % len(SUBJECTS)]}?"
        before = mem.store.cache.stats.bytes_fetched
        t0 = time.perf_counter()
        ask(mem, q, now=now, limit=5, thumbnails=False)
        first_ms.append((time.perf_counter() - t0) * 1000)
        fetched.append(mem.store.cache.stats.bytes_fetched - before)
        t0 = time.perf_counter()
        ask(mem, q, now=now, limit=5, thumbnails=False)
        second_ms.append((time.perf_counter() - t0) * 1000)
        log(f"new version {r + 1}: first question {first_ms[-1]:.0f} ms (fetched {fetched[-1]:,} B), "
            f"the next {second_ms[-1]:.0f} ms")
    return {"rounds": rounds, "first_question_ms": first_ms, "next_question_ms": second_ms,
            "bytes_fetched": fetched, "first_p50_ms": float(np.median(first_ms)),
            "next_p50_ms": float(np.median(second_ms)),
            "write": "30 frames appended to frames by another Store without a cache (another machine)"}


def ask_local_and_s3(data: Path, work: Path, queries: int, sync_rounds: int = 5,
                     uncached: bool = True) -> dict[str, Any]:
    """ask on the local month, then on a copy on S3 uncached, cached (warm), local again; and the
    first question after a new version (sync cost). All in one run, for ratios."""
    from lifelog.api.storage import StorageSettings, move_tables
    from lifelog.store.cache import cache_info, clear_cache
    from lifelog.store.db import Store
    from lifelog.store.location import location_for

    loads: dict[str, list[float]] = {"start": _load()}
    local = measure(data, queries, ask_only=True)
    loads["after_local"] = _load()
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
        remote: dict[str, Any] = {}
        if uncached:
            _set_cache(remote_dir, False)
            remote = measure(remote_dir, queries, ask_only=True)
            loads["after_s3_uncached"] = _load()
            log(f"ask on the S3 month, no cache: p95 {remote['ask_ms']['p95']:.0f} ms")  # type: ignore[index]
        _set_cache(remote_dir, True)
        clear_cache(remote_dir)
        t0 = time.perf_counter()
        Store(remote_dir)  # a cold cache: every hot table downloaded
        cold_s = time.perf_counter() - t0
        info = cache_info(remote_dir, location_for(remote_dir))
        log(f"cold cache filled in {cold_s:.1f} s ({info.bytes / 1e6:.1f} MB)")
        cached = measure(remote_dir, queries, ask_only=True)
        loads["after_s3_cached"] = _load()
        log(f"ask on the S3 month, cached: p95 {cached['ask_ms']['p95']:.0f} ms")  # type: ignore[index]
        _set_cache(remote_dir, True, check_s=0)  # every question checks every table it reads
        cached0 = measure(remote_dir, queries, ask_only=True)
        loads["after_s3_cached_check_0"] = _load()
        log(f"ask on the S3 month, cached, checking at every question: p95 "
            f"{cached0['ask_ms']['p95']:.0f} ms")  # type: ignore[index]
        sync = first_after_new_version(remote_dir, sync_rounds)
    local2 = measure(data, queries, ask_only=True)
    loads["end"] = _load()
    log(f"ask on the local month again: p95 {local2['ask_ms']['p95']:.0f} ms")  # type: ignore[index]
    p95_local = float(np.mean([local["ask_ms"]["p95"], local2["ask_ms"]["p95"]]))  # type: ignore[index]
    p50_local = float(np.mean([local["ask_ms"]["p50"], local2["ask_ms"]["p50"]]))  # type: ignore[index]
    return {
        "local_ask_ms": local["ask_ms"], "local_again_ask_ms": local2["ask_ms"],
        **({"s3_ask_ms": remote["ask_ms"], "p95_ratio_s3_over_local": remote["ask_ms"]["p95"] / p95_local}
           if remote else {}),
        "s3_cached_ask_ms": cached["ask_ms"], "s3_cached_check_every_question_ask_ms": cached0["ask_ms"],
        "p95_ratio_s3_cached_over_local": cached["ask_ms"]["p95"] / p95_local,  # type: ignore[index]
        "p50_ratio_s3_cached_over_local": cached["ask_ms"]["p50"] / p50_local,  # type: ignore[index]
        "p95_ratio_s3_cached_check_0_over_local": cached0["ask_ms"]["p95"] / p95_local,  # type: ignore[index]
        "p50_ratio_s3_cached_check_0_over_local": cached0["ask_ms"]["p50"] / p50_local,  # type: ignore[index]
        "cache_check_s": {"s3_cached": "default (1 s)", "s3_cached_check_every_question": 0},
        "cache_cold_fill_s": cold_s, "cache_bytes": info.bytes, "cache_tables": info.tables,
        "first_question_after_new_version": sync,
        "move_to_s3_s": move_s, "queries": queries, "loads": loads,
        "server": "moto standalone server on loopback, own process (no network latency; an in-memory store)",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=MONTH)
    ap.add_argument("--month", action="store_true", help=f"the generated month (--frames {MONTH})")
    ap.add_argument("--year", action="store_true", help="the generated year (--frames 1000000)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds of single process and Ray")
    ap.add_argument("--budget-s", type=float, help="stop each re-index after this long (rates, not the whole set)")
    ap.add_argument("--import-clips", type=int, default=0,
                    help="also: the local and the Ray import of a tree of this many real 20-s clips")
    ap.add_argument("--import-only", action="store_true", help="only the import comparison (--import-clips)")
    ap.add_argument("--real", type=int, default=500, help="distinct jittered real pictures (encodings, thumbnails)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--skip-ask", action="store_true")
    ap.add_argument("--ask-only", action="store_true",
                    help="only ask on the local and the S3 copy; the figures go into --out's \"ask\" (the rest kept)")
    ap.add_argument("--skip-uncached", action="store_true",
                    help="with --ask-only: leave out the uncached S3 asking (minutes on a month); the last "
                         "run's uncached figures are kept in the results")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / ".scale")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    args = ap.parse_args()
    if args.month:
        args.frames = MONTH
    if args.year:
        args.frames = 1_000_000
    load_start = _load()
    if args.import_only:
        imported = import_both(args.work, args.import_clips or 8, args.workers, args.rounds)
        doc = {"bench": "scale-import", "import": imported,
               "machine": {"cpus": os.cpu_count(), "load_start": load_start, "load_end": _load()}}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1))
        print(json.dumps(imported, indent=1))
        return 0
    data = args.work / f"month-{args.frames}"
    if args.rebuild:
        shutil.rmtree(data, ignore_errors=True)
    built: dict[str, float] = {}
    if not (data / "db" / "frames.lance").exists():
        data.mkdir(parents=True, exist_ok=True)
        built = build_store(data, args.frames, args.real)
        add_thumbnails(data, args.real)
    if args.ask_only:
        asked = ask_local_and_s3(data, args.work, args.queries, uncached=not args.skip_uncached)
        out: dict[str, Any] = (json.loads(args.out.read_text()) if args.out.is_file()
                               else {"bench": "scale", "frames": args.frames})
        prev: dict[str, Any] = out.get("ask", {})
        if args.skip_uncached and "s3_ask_ms" in prev:  # the last run's, said so
            asked["previous_run"] = {k: prev[k] for k in ("local_ask_ms", "local_again_ask_ms", "s3_ask_ms",
                                                          "s3_cached_ask_ms", "p95_ratio_s3_over_local",
                                                          "loads") if k in prev}
        out["ask"] = asked
        out["ask_frames"] = args.frames
        out["ask_machine"] = {"cpus": os.cpu_count(), "load_start": load_start, "load_end": _load()}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))
        print(json.dumps({k: v["p95"] for k, v in asked.items() if k.endswith("ask_ms")}, indent=1))
        return 0
    model = install_tiny(data, args.work)
    costs = per_frame_costs(data, model)
    log(f"per frame: read {costs['read_ms']:.2f} ms, encode {costs['encode_ms_one_thread']:.2f} ms, "
        f"write {costs['write_ms']:.3f} ms")
    reidx = reindex_both(data, model, args.workers, args.rounds, args.budget_s)
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
