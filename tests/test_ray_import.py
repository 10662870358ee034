"""Issue #22, item 2: a bulk import of a folder tree on Ray (``lifelog import PATH --engine ray``).

One local Ray for this module (``ray.init(num_cpus=2)``, shut down at its end), a tree of real
media with a corrupt file and a copy of a photo in it. The Ray import writes what the local import
of the same tree writes (media, frames with their vectors and labels, episodes, thumbnails), the
corrupt file fails alone and is named; a re-run skips everything; a cancelled job keeps the files
it finished and the next run does the rest; a Ray worker killed (SIGKILL) mid-file has its file
retried and no row is written twice; a second bulk import at once is refused; the CLI joins the
running cluster with ``--address``, prints progress and says which steps stay local.
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

ray = pytest.importorskip("ray", reason="Ray is in the scale extra")

pytestmark = [pytest.mark.media]

SETTINGS = {"capture": {"faces": False, "ocr_interval_s": 0}, "speech": {"enabled": False}}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    # Module-scoped and shut down at the end: a Ray left up hung later Qt tests of the session.
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory, media: Any, models_ready: None) -> Path:
    """Real clips and photos in folders, a copy of a photo, a corrupt video and a note."""
    from helpers import library

    lib = library(tmp_path_factory, media)
    root = tmp_path_factory.mktemp("tree") / "footage"
    (root / "day1").mkdir(parents=True)
    (root / "day2" / "photos").mkdir(parents=True)
    shutil.copy2(lib.cat_morning, root / "day1" / "cat.mp4")
    shutil.copy2(lib.two_scenes, root / "day1" / "two_scenes.mp4")
    shutil.copy2(lib.coffee_jpg, root / "day2" / "photos" / "coffee.jpg")
    shutil.copy2(lib.astronaut_png, root / "day2" / "photos" / "astronaut.png")
    shutil.copy2(lib.coffee_jpg, root / "day2" / "coffee copy.jpg")  # the same content again
    (root / "day2" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    (root / "day2" / "notes.txt").write_text("not media")
    return root


def _memory(path: Path) -> Any:
    from lifelog.api import Memory

    path.mkdir(parents=True)
    (path / "settings.json").write_text(json.dumps(SETTINGS))
    return Memory(path)


def _rows(mem: Any, table: str, cols: list[str]) -> dict[str, dict[str, Any]]:
    mem.store.refresh()
    rows = mem.store.rows(table, None, columns=["id", *cols]).to_pylist()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), f"a row of {table} was written twice"
    return {r["id"]: r for r in rows}


def test_ray_import_writes_what_the_local_import_writes(local_ray: Any, tree: Path, tmp_path: Path) -> None:
    from lifelog.api.scale import import_tree_on_ray

    local_mem = _memory(tmp_path / "local")
    local = local_mem.import_paths([tree])
    mem = _memory(tmp_path / "ray")
    seen: list[Any] = []
    got = import_tree_on_ray(mem, [tree], workers=2, progress=seen.append)

    assert (got.imported, got.skipped, got.ignored) == (local.imported, local.skipped, local.ignored) == (4, 1, 1)
    assert [(Path(f.path).name, f.error) for f in got.failed] == [(Path(f.path).name, f.error) for f in local.failed]
    assert [Path(f.path).name for f in got.failed] == ["broken.mp4"]  # it fails alone, named
    assert sorted(got.episodes) == sorted(local.episodes) and len(got.episodes) >= 5
    assert got.frames_embedded == local.frames_embedded and got.local_only
    assert seen[0].stage == "scanning" and seen[-1].stage == "done"
    assert any(p.stage == "hashing" for p in seen) and any(p.stage == "writing" for p in seen)
    # the copy is skipped after hashing; the other five (the corrupt one too) are decoded, a line each
    assert [p.files_done for p in seen if p.stage == "encoding"] == [2, 3, 4, 5, 6]

    cols = ["media_id", "episode_id", "t", "offset_s", "tz_offset_min", "labels", "label_scores", "semantic",
            "features", "thumb_id", "model"]
    ray_f, local_f = _rows(mem, "frames", cols), _rows(local_mem, "frames", cols)
    assert set(ray_f) == set(local_f) and len(ray_f) == got.frames_embedded
    for fid, r in ray_f.items():
        o = local_f[fid]
        for c in ("media_id", "episode_id", "t", "offset_s", "tz_offset_min", "labels", "thumb_id", "model",
                  "features"):
            assert r[c] == o[c], (fid, c)
        assert np.allclose(r["semantic"], o["semantic"], atol=1e-5)
        assert np.allclose(r["label_scores"], o["label_scores"], atol=1e-5)
        assert mem.vault.get(fid) == local_mem.vault.get(fid)  # the same thumbnail, encrypted here
    ecols = ["media_id", "kind", "start", "end", "n_frames", "thumb_ids", "labels", "semantic", "model"]
    ray_e, local_e = _rows(mem, "episodes", ecols), _rows(local_mem, "episodes", ecols)
    assert set(ray_e) == set(local_e)
    for eid, r in ray_e.items():
        o = local_e[eid]
        for c in ("media_id", "kind", "start", "end", "n_frames", "thumb_ids", "labels", "model"):
            assert r[c] == o[c], (eid, c)
        assert np.allclose(r["semantic"], o["semantic"], atol=1e-5)
    mcols = ["path", "size", "kind", "capture_start", "capture_end", "frames_kept", "time_source", "width", "codec"]
    assert _rows(mem, "media", mcols) == {k: v for k, v in _rows(local_mem, "media", mcols).items()}
    assert mem.episodes()  # the app and the CLI read the Ray import's episodes as any other
    assert not (mem.data_dir / "journal").exists() or not any((mem.data_dir / "journal").iterdir())

    again = import_tree_on_ray(mem, [tree], workers=2)  # resumable: everything is known now
    assert (again.imported, again.skipped, len(again.failed)) == (0, 5, 1)
    assert len(_rows(mem, "frames", [])) == len(ray_f)


def test_cancel_then_a_killed_worker_then_resume_without_duplicates(
    local_ray: Any, tree: Path, tmp_path: Path
) -> None:
    from lifelog.api.scale import import_tree_on_ray
    from lifelog.ingest.import_ray import ImportActor

    mem = _memory(tmp_path / "ray")
    cancel = threading.Event()

    def progress(p: Any) -> None:
        if p.stage == "writing" and p.files_done >= 1:
            cancel.set()

    first = import_tree_on_ray(mem, [tree], workers=1, progress=progress, cancel=cancel)
    assert first.cancelled and first.imported + first.skipped + len(first.failed) < 6
    kept = _rows(mem, "media", [])
    assert len(kept) == first.imported  # what was written is whole: every file committed

    pids = tmp_path / "pids"

    class SlowActor(ImportActor):  # defined here: Ray ships it by value to the workers
        def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
            with open(pids, "a") as f:
                f.write(f"{os.getpid()}\n")
            time.sleep(1.0)  # the file is in flight long enough to be killed
            return super().__call__(batch)

    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if pids.exists() and (lines := pids.read_text().split()):
                os.kill(int(lines[0]), signal.SIGKILL)
                killed.append(int(lines[0]))
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    second = import_tree_on_ray(mem, [tree], workers=1, actor_cls=SlowActor)
    t.join(5)
    assert killed, "no actor was seen working"
    assert len(set(pids.read_text().split())) >= 2  # the killed actor was replaced by a new process
    assert not second.cancelled and first.imported + second.imported == 4
    assert [Path(f.path).name for f in second.failed] == ["broken.mp4"]
    assert len(_rows(mem, "media", [])) == 4
    frames = _rows(mem, "frames", ["media_id"])  # asserts one row per frame id
    assert len(frames) == first.frames_embedded + second.frames_embedded
    assert len(_rows(mem, "episodes", [])) == len(first.episodes) + len(second.episodes)


def test_image_text_vectors_follow_by_the_reindex_on_ray(
    local_ray: Any, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers_tiny_clip import make_tiny_model, write_manifest

    from lifelog.api.scale import import_tree_on_ray
    from lifelog.encoders.install import install_model
    from lifelog.encoders.registry import active_model, spec
    from lifelog.encoders.vectors import ModelVectors

    tiny = make_tiny_model(tmp_path / "tiny")
    monkeypatch.setenv("LIFELOG_MODELS_MANIFEST", str(write_manifest(tmp_path / "m.json", tiny.entry())))
    small = tmp_path / "small"
    small.mkdir()
    shutil.copy2(tree / "day1" / "cat.mp4", small / "cat.mp4")
    shutil.copy2(tree / "day2" / "photos" / "coffee.jpg", small / "coffee.jpg")
    mems = {}
    for name in ("local", "ray"):
        mems[name] = _memory(tmp_path / name)
        install_model(mems[name].data_dir, spec("tiny-clip"))
    assert mems["local"].import_paths([small]).imported == 2
    got = import_tree_on_ray(mems["ray"], [small], workers=2)
    assert got.imported == 2 and got.image_text_vectors == got.frames_embedded > 0
    assert "image-text model vectors" not in got.local_only and "faces" in got.local_only

    def vectors(mem: Any) -> dict[str, tuple[np.ndarray[Any, Any], str]]:
        model = active_model(mem.data_dir)
        assert model is not None
        rows = ModelVectors(mem.store, model.name, model.spec.dim).fresh().to_arrow().to_pylist()
        assert len(rows) == len({r["id"] for r in rows}), "a frame has two vector rows"
        return {r["id"]: (np.asarray(r["vector"], np.float32), r["source"]) for r in rows}

    ray_v, local_v = vectors(mems["ray"]), vectors(mems["local"])
    assert set(ray_v) == set(local_v) == set(_rows(mems["ray"], "frames", []))
    for fid, (v, src) in ray_v.items():
        assert src == "media" and local_v[fid][1] == "import"  # the same pictures, from the files again
        cos = float(v @ local_v[fid][0] / (np.linalg.norm(v) * np.linalg.norm(local_v[fid][0])))
        assert cos > 0.99, (fid, cos)
    assert mems["ray"].stale_frames() == 0


def test_cli_second_job_refused_and_usage(local_ray: Any, tree: Path, tmp_path: Path) -> None:
    mem = _memory(tmp_path / "memory")
    env = cli_env()
    proc = run_cli(mem.data_dir, "import", str(tree), "--address", "127.0.0.1:6379", env=env)
    assert proc.returncode == 2 and "go with --engine ray" in error_line(proc)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from pathlib import Path; from lifelog.store.joblock import job_lock\n"
         "with job_lock(Path(sys.argv[1]), 'import-ray', 'a bulk import on Ray'):\n"
         " print('locked', flush=True); time.sleep(60)",
         str(mem.data_dir)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    address = local_ray.get_runtime_context().gcs_address
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        proc = run_cli(mem.data_dir, "import", str(tree), "--engine", "ray", "--address", address, env=env,
                       timeout=300)
        assert proc.returncode == 1 and "a bulk import on Ray is already running" in error_line(proc)
    finally:
        holder.kill()
        holder.wait()
    assert _rows(mem, "media", []) == {}  # the refused job wrote nothing
    proc = run_cli(mem.data_dir, "import", str(tree), "--engine", "ray", "--address", address, "--workers", "2",
                   "--json", env=env, timeout=600)
    assert proc.returncode == 3, proc.stderr[-3000:]  # partial: the corrupt file failed, the rest imported
    doc = json_doc(proc)
    assert doc["engine"] == "ray" and doc["imported"] == 4 and doc["skipped"] == 1
    assert [Path(f["path"]).name for f in doc["failed"]] == ["broken.mp4"]
    assert "not part of the Ray import" in proc.stderr and "faces" in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("[")]
    assert lines and lines[-1].split()[1] == "6/6" and "done" in lines[-1]
    assert "broken.mp4" in proc.stderr
