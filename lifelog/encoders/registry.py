"""Optional image-text models: the manifest (what can be installed) and what is installed.

The offline default (EfficientNet-Lite0 labels + ConSE over MiniLM, :mod:`lifelog.encoders.visual`)
needs no download and stays the default. A user with internet may install a stronger
CLIP/SigLIP-family ONNX model **on explicit command** (``lifelog models install NAME``); once
installed it is the active image-text model of that memory, until ``lifelog models use default``.

Manifest
    Built-in entries (:func:`builtin_models`) pin every file by URL **and sha256** (and size where
    it is known). An entry whose file has no pinned sha256 cannot be installed: unverified bytes are
    never installed. ``$LIFELOG_MODELS_MANIFEST`` names a JSON file whose entries are added to
    (or replace, by name) the built-in ones — for mirrors, air-gapped machines and tests. Its
    URLs may be ``https://``, ``http://`` to a loopback host, ``file://`` or a plain path.

On disk (everything under the data dir, per the on-disk rules)
    ``<data>/models/<name>/``        the installed files + ``installed.json`` (name, version,
                                     sha256 of each file, the manifest entry it came from)
    ``<data>/models/active.json``    ``{"image_text": "<name>"}``; absent or null = the default
    ``<data>/models/.downloads/``    ``<sha256>.part`` (resumable) and ``<sha256>.ok`` (verified)

Nothing here imports onnxruntime or downloads anything; see :mod:`lifelog.encoders.install`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lifelog.store.files import atomic_write

MODELS_DIR = "models"
ACTIVE_FILE = "active.json"
INSTALLED_FILE = "installed.json"
DOWNLOADS_DIR = ".downloads"
MANIFEST_ENV = "LIFELOG_MODELS_MANIFEST"
DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "EfficientNet-Lite0 labels + ConSE over MiniLM (offline, built at set-up)"


class RegistryError(ValueError):
    """A bad manifest, an unknown model name or an unreadable installed state (a clear message)."""


class ModelFile(BaseModel):
    """One file of a model: where it comes from and how it is verified."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["visual", "textual", "tokenizer"]
    filename: str = Field(pattern=r"^[A-Za-z0-9._-]+$", description="name inside the model's folder")
    url: str = Field(min_length=1, description="https://, http:// to a loopback host, file:// or a path")
    sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="required to install; null = not pinned (refused)"
    )
    size: int | None = Field(None, ge=1, description="bytes, when known (checked, and used for the space check)")


class ImageSpec(BaseModel):
    """Image preprocessing: resize the shorter side to ``size`` and centre-crop, then normalise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(224, ge=8, le=1024)
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
    interpolation: Literal["bicubic", "bilinear"] = "bicubic"


class IOSpec(BaseModel):
    """The ONNX input/output signature the encoder feeds and reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_input: str = "pixel_values"  # float32 (N, 3, size, size)
    image_output: str = "image_embeds"  # float32 (N, dim)
    text_input: str = "input_ids"  # int (N, context_length)
    text_mask_input: str = "attention_mask"  # fed only if the text model has this input
    text_output: str = "text_embeds"  # float32 (N, dim)
    text_dtype: Literal["int64", "int32"] = "int64"
    context_length: int = Field(77, ge=2, le=1024)
    pad_token: str = "<|endoftext|>"  # CLIP pads with its end-of-text token


class ModelSpec(BaseModel):
    """One installable image-text model (a manifest entry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    version: str = Field(min_length=1, max_length=64)
    family: Literal["clip", "siglip"] = "clip"
    description: str = ""
    licence: str
    source: str = Field(description="where the files and their hashes were published")
    dim: int = Field(ge=2, le=4096)
    files: tuple[ModelFile, ...]
    image: ImageSpec = Field(default_factory=ImageSpec)
    io: IOSpec = Field(default_factory=IOSpec)
    match_floor: float = Field(
        0.20, description="image-text cosine below this carries no evidence (model-specific calibration)"
    )
    match_span: float = Field(0.12, gt=0.0, description="cosine match_floor + match_span counts as a sure match")

    def file(self, role: str) -> ModelFile:
        for f in self.files:
            if f.role == role:
                return f
        raise RegistryError(f"model {self.name} has no {role} file in its manifest entry")

    @property
    def unpinned(self) -> list[str]:
        """Files without a pinned sha256 (the model cannot be installed while this is non-empty)."""
        return [f.filename for f in self.files if not f.sha256]

    @property
    def known_size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return sum(s for s in sizes if s) if all(sizes) else None

    def check(self) -> None:
        roles = sorted(f.role for f in self.files)
        if roles != ["textual", "tokenizer", "visual"]:
            raise RegistryError(f"model {self.name}: needs exactly one visual, textual and tokenizer file, got {roles}")
        names = [f.filename for f in self.files]
        if len(set(names)) != len(names):
            raise RegistryError(f"model {self.name}: file names repeat: {names}")


_XENOVA = "https://huggingface.co/Xenova/clip-vit-base-patch32/resolve"

# CLIP's tokenizer is not downloaded (Hugging Face publishes no hash of its tokenizer.json): the
# set-up (models/build.py, step 5) writes it into the models dir from CLIP's BPE vocabulary in the
# open_clip_torch wheel (pip checks the wheel's sha256), after checking that it gives the same ids
# as open_clip's reference tokenizer. The bytes are deterministic; the build refuses to finish when
# they differ from this pin, and the install checks the pin again like any downloaded file.
CLIP_TOKENIZER_FILE = "clip_tokenizer.json"
CLIP_TOKENIZER_SHA256 = "dd06d4008f733144458e3b3bbba7b95960819694b9b065086a97d8703642f7e0"
CLIP_TOKENIZER_SIZE = 1681972


def builtin_models() -> tuple[ModelSpec, ...]:
    """The built-in manifest entries (local files resolved against the current models dir).

    The two ONNX graphs of clip-vit-b32 are pinned from the Git LFS pointers published on Hugging
    Face (sha256 of the file's bytes); its tokenizer is the set-up's ``clip_tokenizer.json``.
    """
    from lifelog.paths import models_dir

    clip_tokenizer = models_dir() / CLIP_TOKENIZER_FILE
    return (_clip_vit_b32(str(clip_tokenizer)),)


def _clip_vit_b32(tokenizer_path: str) -> ModelSpec:
    return ModelSpec(
        name="clip-vit-b32",
        version="openai-xenova-4c1807b",
        family="clip",
        description="OpenAI CLIP ViT-B/32 (ONNX export by Xenova): 512-d image and text vectors",
        licence="MIT (OpenAI CLIP weights)",
        source="https://huggingface.co/Xenova/clip-vit-base-patch32",
        dim=512,
        files=(
            # first: a local file, so a missing or altered one is refused before ~420 MB of downloads
            ModelFile(
                role="tokenizer",
                filename="tokenizer.json",
                url=tokenizer_path,  # built at set-up from PyPI open_clip_torch 3.3.0 (see above)
                sha256=CLIP_TOKENIZER_SHA256,
                size=CLIP_TOKENIZER_SIZE,
            ),
            ModelFile(
                role="visual",
                filename="vision_model.onnx",
                url=f"{_XENOVA}/4c1807b705b1d015fb032789cc4d221b23025a6f/onnx/vision_model.onnx",
                sha256="fd6e1402a588279d1723c7534d4bcba5bc0b14b47dfab0e46f8c47b8270d7d40",
                size=None,  # ~352 MB; the exact byte count is not published beside the hash
            ),
            ModelFile(
                role="textual",
                filename="text_model_quantized.onnx",
                url=f"{_XENOVA}/b8b103f67eef16b29539311ff78dde6c4a754370/onnx/text_model_quantized.onnx",
                sha256="73baab855d406190da9faa498cfedf65f15cf309f4cc7385b7b032e6d08e5c3a",
                size=None,  # ~64.5 MB
            ),
        ),
    )


class _ManifestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelSpec]


def manifest() -> dict[str, ModelSpec]:
    """Every known model by name: the built-in entries, then ``$LIFELOG_MODELS_MANIFEST``'s."""
    out = {m.name: m for m in builtin_models()}
    path = os.environ.get(MANIFEST_ENV)
    if path:
        p = Path(path).expanduser()
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
            extra = _ManifestFile.model_validate(raw)
        except OSError as e:
            raise RegistryError(f"{MANIFEST_ENV}={path}: cannot read it ({e.strerror or e})") from e
        except json.JSONDecodeError as e:
            raise RegistryError(f"{MANIFEST_ENV}={path}: not JSON ({e})") from e
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise RegistryError(f"{MANIFEST_ENV}={path}: invalid entry at {where}: {first['msg']}") from e
        for m in extra.models:
            out[m.name] = m
    for m in out.values():
        m.check()
    return out


def spec(name: str) -> ModelSpec:
    """The manifest entry called ``name``; :class:`RegistryError` listing the known names otherwise."""
    known = manifest()
    if name not in known:
        names = ", ".join(sorted(known)) or "none"
        raise RegistryError(f"unknown model {name!r}; known models: {names} (see `lifelog models list`)")
    return known[name]


# ------------------------------------------------------------------ installed state
def models_root(data_dir: Path) -> Path:
    return Path(data_dir) / MODELS_DIR


@dataclass(frozen=True)
class InstalledModel:
    """A model installed in a memory's data dir, with the manifest entry it was installed from."""

    spec: ModelSpec
    path: Path
    sha256: dict[str, str]  # filename -> sha256 verified at install time

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        """The version recorded per vector: manifest version + a prefix of each model file's hash."""
        v = self.sha256.get(self.spec.file("visual").filename, "")[:12]
        t = self.sha256.get(self.spec.file("textual").filename, "")[:12]
        return f"{self.spec.version}-v{v}-t{t}"

    @property
    def full_name(self) -> str:
        return f"{self.name}@{self.version}"

    def file_path(self, role: str) -> Path:
        return self.path / self.spec.file(role).filename


def read_installed(data_dir: Path, name: str) -> InstalledModel | None:
    """The model ``name`` if installed whole (record present, every file present), else None."""
    d = models_root(data_dir) / name
    rec = d / INSTALLED_FILE
    if not rec.is_file():
        return None
    try:
        raw: dict[str, Any] = json.loads(rec.read_text(encoding="utf-8"))
        s = ModelSpec.model_validate(raw["spec"])
        sha = {str(k): str(v) for k, v in dict(raw["sha256"]).items()}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RegistryError(f"{rec} is unreadable ({e}); install the model again") from e
    model = InstalledModel(s, d, sha)
    if not all((d / f.filename).is_file() for f in s.files):
        return None
    return model


def write_installed(d: Path, s: ModelSpec, sha: dict[str, str]) -> None:
    doc = {"spec": s.model_dump(mode="json"), "sha256": sha}
    atomic_write(d / INSTALLED_FILE, json.dumps(doc, indent=2).encode("utf-8"))


def installed_models(data_dir: Path) -> list[InstalledModel]:
    root = models_root(data_dir)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        if d.is_dir() and not d.name.startswith("."):
            m = read_installed(data_dir, d.name)
            if m is not None:
                out.append(m)
    return out


def active_name(data_dir: Path) -> str | None:
    """The name of the model chosen with install/use, or None for the offline default."""
    p = models_root(data_dir) / ACTIVE_FILE
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise RegistryError(f"{p} is unreadable ({e}); run `lifelog models use default` or `use NAME`") from e
    name = raw.get("image_text") if isinstance(raw, dict) else None
    return str(name) if name else None


def active_model(data_dir: Path) -> InstalledModel | None:
    """The active installed model, or None when the offline default is in use.

    A chosen model whose files have gone missing is an error (never a silent fall-back: the
    memory's vectors were made with it), naming the command that fixes it.
    """
    name = active_name(data_dir)
    if name is None:
        return None
    m = read_installed(data_dir, name)
    if m is None:
        raise RegistryError(
            f"the active image-text model {name!r} is not installed whole under {models_root(data_dir)}; "
            f"run `lifelog models install {name}` or `lifelog models use default`"
        )
    return m


def set_active(data_dir: Path, name: str | None) -> None:
    """Choose the model new imports and questions use (None = the offline default)."""
    if name is not None and read_installed(data_dir, name) is None:
        raise RegistryError(f"model {name!r} is not installed; run `lifelog models install {name}` first")
    root = models_root(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write(root / ACTIVE_FILE, json.dumps({"image_text": name}).encode("utf-8"))
