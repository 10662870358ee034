"""Issue #22, part 2: re-index on Ray (``lifelog models reindex --engine ray``).

One local Ray for the session (``ray.init(num_cpus=2)``), a real small memory made from real
media, the tiny CLIP-family model the tests generate (real ONNX files, installed the real way).
The Ray engine gives the same vectors as the single-process re-index; it reports progress, stops
on cancel and resumes; a Ray worker killed (SIGKILL) mid-batch has its batch retried and no row is
written twice; a second re-index at once is refused; the CLI joins the running cluster with
``--address``; without Ray installed the core still imports and ``--engine ray`` says what to install.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import cli_env, error_line, json_doc, run_cli
from helpers_tiny_clip import TinyModel, make_tiny_model, write_manifest

ray = pytest.importorskip("ray", reason="Ray is in the scale extra")

pytestmark = [pytest.mark.media]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    # Module-scoped: Ray's driver threads stay in this process while it is up, and the Qt tests
    # that follow in the same session must not share the process with them (a LanceDB read in a
    # later UI test never completed while a session-wide Ray was still running).
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "files")


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Any:
    from helpers import library

    return library(tmp_path_factory, media)


@pytest.fixture(scope="module")
def made(
    tmp_path_factory: pytest.TempPathFactory, lib: Any, tiny: TinyModel, models_ready: None
) -> tuple[Path, Path]:
    """A memory of real media with the tiny model installed and every frame still to re-index
    (built once; each test works on a copy). Returns (memory, manifest)."""
    from lifelog.api import Memory
    from lifelog.encoders.install import install_model
    from lifelog.encoders.registry import spec

    root = tmp_path_factory.mktemp("ray-memory")
    data = root / "memory"
    data.mkdir()
    (data / "settings.json").write_text(json.dumps({"capture": {"faces": False, "ocr_interval_s": 0}}))
    mem = Memory(data)
    assert mem.import_paths([lib.cat_morning, lib.rocket, lib.coffee_jpg, lib.astronaut_png]).imported == 4
    manifest = write_manifest(root / "m.json", tiny.entry())
    old = os.environ.get("LIFELOG_MODELS_MANIFEST")
    os.environ["LIFELOG_MODELS_MANIFEST"] = str(manifest)
    try:
        install_model(data, spec("tiny-clip"))
    finally:
        if old is None:
            os.environ.pop("LIFELOG_MODELS_MANIFEST", None)
        else:
            os.environ["LIFELOG_MODELS_MANIFEST"] = old
    assert mem.stale_frames() >= 8
    return data, manifest


@pytest.fixture
def memory(made: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from lifelog.api import Memory

    monkeypatch.setenv("LIFELOG_MODELS_MANIFEST", str(made[1]))
    shutil.copytree(made[0], tmp_path / "memory")
    return Memory(tmp_path / "memory")


def _vectors(mem: Any) -> dict[str, tuple[np.ndarray, str]]:
    from lifelog.encoders.registry import active_model
    from lifelog.encoders.vectors import ModelVectors

    model = active_model(mem.data_dir)
    assert model is not None
    t = ModelVectors(mem.store, model.name, model.spec.dim).fresh().to_arrow().to_pylist()
    ids = [r["id"] for r in t]
    assert len(ids) == len(set(ids)), "a frame has two vector rows"
    return {r["id"]: (np.asarray(r["vector"], np.float32), r["source"]) for r in t}


def _frames(mem: Any) -> set[str]:
    return set(mem.store.rows("frames", None, ["id"]).column("id").to_pylist())


def _model(mem: Any) -> Any:
    from lifelog.encoders.registry import active_model

    return active_model(mem.data_dir)


def test_ray_vectors_equal_the_single_process_reindex(local_ray: Any, memory: Any, tmp_path: Path) -> None:
    from lifelog.api import Memory
    from lifelog.ingest.reindex import reindex
    from lifelog.ingest.reindex_ray import reindex_on_ray

    twin = Memory(Path(shutil.copytree(memory.data_dir, tmp_path / "twin")))
    local = reindex(twin.store, twin.vault, _model(twin))
    seen: list[Any] = []
    got = reindex_on_ray(memory.store, memory.vault, _model(memory), workers=2, batch=4, progress=seen.append)
    assert not got.cancelled and not got.failed and got.remaining == 0
    assert got.reindexed == local.reindexed == len(_frames(memory))
    assert (got.from_media, got.from_thumbnail) == (local.from_media, local.from_thumbnail)
    ray_v, local_v = _vectors(memory), _vectors(twin)
    assert set(ray_v) == set(local_v) == _frames(memory)
    for fid, (v, src) in ray_v.items():
        assert src == local_v[fid][1]
        assert np.allclose(v, local_v[fid][0], atol=1e-5), fid
    assert seen[0].stage == "scanning" and seen[-1].stage == "done" and seen[-1].done == got.reindexed
    assert any(p.stage == "encoding" for p in seen)
    assert memory.stale_frames() == 0
    again = reindex_on_ray(memory.store, memory.vault, _model(memory), workers=2)
    assert again.total == again.reindexed == 0  # nothing left: the rerun does nothing


def test_cancel_then_resume_without_duplicates(local_ray: Any, memory: Any) -> None:
    from lifelog.ingest.reindex_ray import reindex_on_ray

    cancel = threading.Event()

    def progress(p: Any) -> None:
        if p.stage == "encoding":
            cancel.set()

    first = reindex_on_ray(memory.store, memory.vault, _model(memory), workers=1, batch=2, write_every=2,
                           progress=progress, cancel=cancel)
    total = len(_frames(memory))
    assert first.cancelled and 0 < first.reindexed < total
    assert first.remaining == total - first.reindexed == memory.stale_frames()
    assert len(_vectors(memory)) == first.reindexed  # the table is consistent: what was written is whole
    second = reindex_on_ray(memory.store, memory.vault, _model(memory), workers=2, batch=2)
    assert not second.cancelled and first.reindexed + second.reindexed == total
    assert set(_vectors(memory)) == _frames(memory) and memory.stale_frames() == 0


def test_worker_killed_mid_batch_is_retried_without_duplicate_rows(
    local_ray: Any, memory: Any, tmp_path: Path
) -> None:
    from lifelog.ingest.reindex_ray import EncodeActor, reindex_on_ray

    pids = tmp_path / "pids"

    class SlowActor(EncodeActor):  # defined here: Ray ships it by value to the workers
        def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
            with open(pids, "a") as f:
                f.write(f"{os.getpid()}\n")
            time.sleep(1.0)  # the batch is in flight long enough to be killed
            return super().__call__(batch)

    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if pids.exists() and (lines := pids.read_text().split()):
                pid = int(lines[0])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    got = reindex_on_ray(memory.store, memory.vault, _model(memory), workers=1, batch=2, encoder_cls=SlowActor)
    t.join(5)
    assert killed, "no actor was seen working"
    calls = [int(x) for x in pids.read_text().split()]
    assert len(set(calls)) >= 2  # the killed actor was replaced by a new process
    assert not got.cancelled and got.remaining == 0
    vecs = _vectors(memory)  # asserts one row per frame
    assert set(vecs) == _frames(memory) and got.reindexed == len(vecs)


def test_two_reindex_jobs_at_once_the_second_is_refused(
    local_ray: Any, memory: Any, made: tuple[Path, Path]
) -> None:
    from lifelog.api.models import JobBusy
    from lifelog.ingest.reindex_ray import JOB_LOCK, reindex_on_ray
    from lifelog.store.joblock import job_lock

    with job_lock(memory.data_dir, JOB_LOCK, "a re-index"), pytest.raises(JobBusy, match="already running"):
        reindex_on_ray(memory.store, memory.vault, _model(memory), workers=1)  # while the first job runs
    assert _vectors(memory) == {}  # the refused job wrote nothing
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from pathlib import Path; from lifelog.store.joblock import job_lock\n"
         "with job_lock(Path(sys.argv[1]), 'reindex', 'a re-index'):\n print('locked', flush=True); time.sleep(60)",
         str(memory.data_dir)],
        stdout=subprocess.PIPE, text=True, env=cli_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        proc = run_cli(memory.data_dir, "models", "reindex", env=cli_env(LIFELOG_MODELS_MANIFEST=str(made[1])))
        assert proc.returncode == 1 and "a re-index is already running" in error_line(proc)
    finally:
        holder.kill()
        holder.wait()


def test_cli_joins_the_cluster_with_address_and_prints_progress(
    local_ray: Any, memory: Any, made: tuple[Path, Path]
) -> None:
    address = local_ray.get_runtime_context().gcs_address
    env = cli_env(LIFELOG_MODELS_MANIFEST=str(made[1]))
    proc = run_cli(memory.data_dir, "models", "reindex", "--engine", "ray", "--address", address,
                   "--workers", "1", "--json", env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json_doc(proc)
    assert doc["reindexed"] == len(_frames(memory)) and doc["remaining"] == 0 and not doc["cancelled"]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("[")]
    assert lines and lines[-1].endswith("frames done") and f"{doc['reindexed']}/{doc['reindexed']}" in lines[-1]
    memory.store.refresh()
    assert set(_vectors(memory)) == _frames(memory)


def test_usage_errors_and_the_core_without_ray(memory: Any, made: tuple[Path, Path], tmp_path: Path) -> None:
    env = cli_env(LIFELOG_MODELS_MANIFEST=str(made[1]))
    proc = run_cli(memory.data_dir, "models", "reindex", "--address", "127.0.0.1:6379", env=env)
    assert proc.returncode == 2 and "go with --engine ray" in error_line(proc)
    # Ray not installed: the core imports, --engine ray says what to install, nothing is written
    blocked = ("import sys; sys.modules['ray'] = None\n"
               "import lifelog.api, lifelog.api.models, lifelog.ingest.reindex_ray\n"
               "from lifelog.commands.main import main\n"
               "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", blocked, "--data-dir", str(memory.data_dir), "models", "reindex",
                           "--engine", "ray"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "pip install 'lifelog[scale]'" in error_line(proc)
    assert _vectors(memory) == {}
