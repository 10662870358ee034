"""CLIP's tokenizer for the optional ``clip-vit-b32`` model, built at set-up (models/build.py step 5).

The built ``clip_tokenizer.json`` (from CLIP's BPE vocabulary in the pinned open_clip_torch wheel)
is loaded the way the model loads it (:func:`lifelog.encoders.clip.load_tokenizer`: 77 ids,
truncated and padded) and compared, id for id, with the reference: open_clip's own
``SimpleTokenizer`` (OpenAI's tokenizer code), executed from the same wheels the build kept in
``models/build/.clip-wheels/``, with ftfy from its pinned wheel. The tests that need the built file
skip, naming the command, only when it is absent.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from helpers import cli_env, json_doc, run_cli

from lifelog.encoders.clip import load_tokenizer
from lifelog.encoders.install import InstallError, install_model
from lifelog.encoders.registry import (
    CLIP_TOKENIZER_FILE,
    CLIP_TOKENIZER_SHA256,
    CLIP_TOKENIZER_SIZE,
    IOSpec,
    active_name,
    manifest,
    models_root,
    read_installed,
    spec,
)
from lifelog.paths import REPO_ROOT, models_dir

SOT, EOT = 49406, 49407


def _build_module() -> ModuleType:
    path = REPO_ROOT / "models" / "build.py"
    mod_spec = importlib.util.spec_from_file_location("lifelog_models_build", path)
    assert mod_spec is not None and mod_spec.loader is not None
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)  # defines functions and constants only
    return module


@pytest.fixture(scope="module")
def build() -> ModuleType:
    return _build_module()


@pytest.fixture(scope="module")
def built() -> Path:
    path = models_dir() / CLIP_TOKENIZER_FILE
    if not path.is_file():
        pytest.skip(f"{path} is not built; run `bash packaging/setup.sh` (models/build.py, step 5)")
    return path


@pytest.fixture(scope="module")
def reference(build: ModuleType, built: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    wheels = built.parent / build.CLIP_WHEELS_DIR
    if not wheels.is_dir():
        pytest.skip(f"{wheels} (the wheels the build read) is missing; run `bash packaging/setup.sh`")
    return build.clip_reference(wheels, tmp_path_factory.mktemp("clip-reference"))


def _random_texts(n: int, seed: int) -> list[str]:
    """Varied texts from a fixed seed: letters, digits, punctuation, accents, Greek, CJK, Hangul,
    emoji (with modifiers and joiners), whitespace runs and curly quotes, mixed within words."""
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        " .,!?'-/():;#@%+*=_\"[]{}<>|~^$",
        "éèêëüñçøåßàíóúÉÜÑÇÅ",
        "αβγδεζηθλμπςσωΑΒΓΔΩ",  # capital sigma is left to the build's fixed texts (see models/README.md)
        "日本語中文字東京",
        "한국어텍스트",
        "😀🎉👍🏽❤️🇫🇷\u200d",
        "   \t\n\u00a0",
        "’‘“”",
    ]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, 60)
        weights = [rng.random() for _ in pools]
        out.append("".join(rng.choice(rng.choices(pools, weights)[0]) for _ in range(k)))
    return out


# ------------------------------------------------------------------ the built file
def test_built_file_is_the_pinned_one(built: Path) -> None:
    data = built.read_bytes()
    assert len(data) == CLIP_TOKENIZER_SIZE
    assert hashlib.sha256(data).hexdigest() == CLIP_TOKENIZER_SHA256
    doc = json.loads(data)
    assert len(doc["model"]["vocab"]) == 49408 and len(doc["model"]["merges"]) == 48894
    assert doc["model"]["vocab"]["<|startoftext|>"] == SOT and doc["model"]["vocab"]["<|endoftext|>"] == EOT


def test_ids_equal_open_clip_on_the_build_texts(build: ModuleType, built: Path, reference: Any) -> None:
    texts, cleaned = build.clip_check_texts()
    assert len(texts) + len(cleaned) >= 200
    assert build.check_clip_tokenizer(built, reference, texts, cleaned) == []


def test_ids_equal_open_clip_on_random_texts(build: ModuleType, built: Path, reference: Any) -> None:
    texts = _random_texts(400, seed=20261122)
    assert build.check_clip_tokenizer(built, reference, texts, []) == []


def test_truncated_and_padded_as_the_text_model_expects(build: ModuleType, built: Path, reference: Any) -> None:
    tok = load_tokenizer(built, IOSpec())
    long_text = "friends at the beach on a sunny afternoon, " * 10
    short = tok.encode("a photo of a cat")
    long = tok.encode(long_text)
    assert short.ids[:7] == [SOT, 320, 1125, 539, 320, 2368, EOT]  # OpenAI CLIP's ids for this prompt
    assert short.ids[7:] == [EOT] * 70 and short.attention_mask == [1] * 7 + [0] * 70
    assert len(long.ids) == 77 and long.ids[0] == SOT and long.ids[-1] == EOT and all(long.attention_mask)
    # open_clip truncates the same way: the first 75 text tokens, then end-of-text
    assert long.ids == build.clip_reference_ids(reference, long_text)


def test_typed_variants_give_the_same_ids(built: Path) -> None:
    """Smart quotes, case, extra whitespace and decomposed accents do not change a query."""
    tok = load_tokenizer(built, IOSpec())

    def ids(text: str) -> list[int]:
        return tok.encode(text).ids

    assert ids("my dad’s “new” car") == ids("my dad's \"new\" car")
    assert ids("  A PHOTO\tof\n a Cat ") == ids("a photo of a cat")
    assert ids("cafe\u0301") == ids("café")
    assert ids("ΟΔΟΣ") == ids("οδος")  # word-final capital sigma lower-cases to ς, as Python's lower()


# ------------------------------------------------------------------ the build refuses wrong output
def _wheels_without_download(build: ModuleType, built: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wheels: Path = built.parent / build.CLIP_WHEELS_DIR
    if not wheels.is_dir():
        pytest.skip(f"{wheels} (the wheels the build read) is missing; run `bash packaging/setup.sh`")
    monkeypatch.setattr(build, "fetch_clip_wheels", lambda dest: wheels)  # the pip download step only
    return wheels


def test_build_fails_loudly_when_ids_differ(
    build: ModuleType, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _wheels_without_download(build, built, monkeypatch)
    monkeypatch.setattr(build, "CLIP_SINGLE_QUOTES", "[\u02bc]")  # forget to straighten ’ and ‘
    with pytest.raises(build.BuildError, match=r"tokenise differently from open_clip's SimpleTokenizer:\n.*’"):
        build.build_clip_tokenizer(tmp_path, tmp_path)


def test_build_fails_loudly_when_the_bytes_are_not_the_pinned_ones(
    build: ModuleType, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lifelog.encoders.registry as registry

    _wheels_without_download(build, built, monkeypatch)
    monkeypatch.setattr(registry, "CLIP_TOKENIZER_SHA256", "0" * 64)
    with pytest.raises(build.BuildError, match=r"is not the one lifelog/encoders/registry.py pins"):
        build.build_clip_tokenizer(tmp_path, tmp_path)


def test_a_wheel_that_is_not_the_pinned_one_is_refused(build: ModuleType, built: Path, tmp_path: Path) -> None:
    src = built.parent / build.CLIP_WHEELS_DIR
    if not src.is_dir():
        pytest.skip(f"{src} is missing; run `bash packaging/setup.sh`")
    wheel = next(src.glob("open_clip_torch-3.3.0-*.whl"))
    copy = tmp_path / wheel.name
    copy.write_bytes(wheel.read_bytes() + b"\0")
    with pytest.raises(build.BuildError, match=r"is not the pinned c549ad5e"):
        build.clip_wheel(tmp_path, "open_clip_torch==3.3.0")


# ------------------------------------------------------------------ the manifest entry and install
def test_clip_vit_b32_is_pinned_and_listed_installable(data_dir: Path) -> None:
    m = manifest()["clip-vit-b32"]
    assert m.unpinned == []
    tok = m.file("tokenizer")
    assert Path(tok.url) == models_dir() / CLIP_TOKENIZER_FILE
    assert (tok.sha256, tok.size) == (CLIP_TOKENIZER_SHA256, CLIP_TOKENIZER_SIZE)
    doc = json_doc(run_cli(data_dir, "models", "list", "--json", env=cli_env()))
    row = {r["name"]: r for r in doc["models"]}["clip-vit-b32"]
    assert row["installable"] and row["unpinned"] == [] and not row["installed"]


def _nothing_installed(data_dir: Path) -> None:
    assert read_installed(data_dir, "clip-vit-b32") is None
    assert not (models_root(data_dir) / "clip-vit-b32").exists()
    assert active_name(data_dir) is None


def test_altered_tokenizer_is_refused_before_any_download(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local tokenizer is checked first: a wrong one stops the install before ~420 MB download."""
    fake_models = tmp_path / "models"
    fake_models.mkdir()
    (fake_models / CLIP_TOKENIZER_FILE).write_bytes(b"{" + b" " * (CLIP_TOKENIZER_SIZE - 2) + b"}")
    monkeypatch.setenv("LIFELOG_MODELS_DIR", str(fake_models))
    with pytest.raises(InstallError, match=r"tokenizer.json: sha256 mismatch"):
        install_model(data_dir, spec("clip-vit-b32"))
    _nothing_installed(data_dir)
    assert (fake_models / CLIP_TOKENIZER_FILE).stat().st_size == CLIP_TOKENIZER_SIZE  # the source is left alone


def test_missing_tokenizer_is_refused_before_any_download(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFELOG_MODELS_DIR", str(tmp_path / "never-built"))
    with pytest.raises(InstallError, match=r"clip_tokenizer.json does not exist"):
        install_model(data_dir, spec("clip-vit-b32"))
    _nothing_installed(data_dir)
