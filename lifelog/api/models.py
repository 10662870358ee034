"""Image-text models and the other models a memory uses, for the front ends.

* the registry of optional CLIP/SigLIP-family models (:mod:`lifelog.encoders.registry`): the
  manifest, what is installed in a memory, which one is active, switching it;
* installing one (download, verify, install: :func:`install_model`, cancellable, with progress);
* what each part of the pipeline uses (:func:`models_in_use`): the visual and text encoders,
  the face models, speech and OCR.

Re-indexing existing frames with the active model: :func:`reindex_image_text` (on this process, or
on Ray with ``engine="ray"``; docs/scale.md), or :meth:`lifelog.api.Memory.reindex_image_text`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from lifelog.config import Settings
from lifelog.encoders import get_text_encoder, get_visual_encoder
from lifelog.encoders.base import ModelMissingError
from lifelog.encoders.install import InstallCancelled, InstallError, InstallProgress, install_model
from lifelog.encoders.registry import (
    DEFAULT_DESCRIPTION,
    DEFAULT_NAME,
    InstalledModel,
    ModelFile,
    ModelSpec,
    active_model,
    active_name,
    installed_models,
    manifest,
    read_installed,
    set_active,
    spec,
)
from lifelog.encoders.registry import RegistryError as ModelRegistryError
from lifelog.encoders.vectors import stale_frames
from lifelog.faces.models import FaceModels
from lifelog.ingest.reindex import ReindexProgress, ReindexResult
from lifelog.ingest.reindex_ray import RAY_MISSING, RayUnavailable
from lifelog.ocr.read import MODEL as OCR_MODEL
from lifelog.store.db import Store
from lifelog.store.joblock import JobBusy, job_lock
from lifelog.store.vault import Vault

FACE_MODELS = f"{FaceModels.detector_name} + {FaceModels.descriptor_name}"
"""The face detector and descriptor, as one line."""


@dataclass(frozen=True)
class ModelInUse:
    """One part of the pipeline and the model it uses (or why it has none)."""

    what: str
    name: str


def models_in_use(settings: Settings) -> list[ModelInUse]:
    """Which model does what with these settings. Loads the small encoders (a worker thread's
    job); a missing model says so instead of failing."""
    out: list[ModelInUse] = []
    try:
        enc = get_visual_encoder()
        out.append(ModelInUse("Visual encoder", f"{enc.name}@{enc.version}"))
    except Exception as e:
        out.append(ModelInUse("Visual encoder", f"not available: {_line(e)}"))
    try:
        txt = get_text_encoder()
        out.append(ModelInUse("Text model", f"{txt.name}@{txt.version}"))
    except Exception as e:
        out.append(ModelInUse("Text model", f"not available: {_line(e)}"))
    out.append(ModelInUse("Faces", FACE_MODELS if settings.capture.faces else f"off ({FACE_MODELS} when on)"))
    speech = f"faster-whisper {settings.speech.model}"
    if settings.speech.openai_whisper_checkpoint:
        speech = f"openai-whisper {settings.speech.openai_whisper_checkpoint}"
    out.append(ModelInUse("Speech", speech if settings.speech.enabled else f"off ({speech} when on)"))
    ocr_on = settings.capture.ocr_interval_s > 0
    out.append(ModelInUse("Text in images (OCR)", OCR_MODEL if ocr_on else f"off ({OCR_MODEL} when on)"))
    return out


def frames_to_reindex(data_dir: Path, model: InstalledModel) -> int:
    """Frames of the memory in ``data_dir`` without a vector of ``model`` (read from the store
    alone: the vault's key is not needed to count)."""
    return stale_frames(Store(data_dir), model)


Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")


class _HasStoreAndVault(Protocol):
    @property
    def store(self) -> Store: ...
    @property
    def vault(self) -> Vault: ...


def reindex_image_text(
    memory: _HasStoreAndVault,
    *,
    engine: Engine = "local",
    address: str | None = None,
    workers: int | None = None,
    progress: Callable[[ReindexProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> ReindexResult:
    """Give every frame a vector of the active image-text model, on this process (``local``, the
    default) or on Ray (``ray``: a local Ray, or the cluster at ``address``; docs/scale.md).

    One re-index per memory at a time: a second is refused (:class:`JobBusy`).
    :class:`RayUnavailable` when Ray is asked for and not installed (``lifelog[scale]``)."""
    from lifelog.encoders.registry import RegistryError, active_model

    model = active_model(memory.store.data_dir)
    if model is None:
        raise RegistryError("the offline default is in use: nothing to re-index")
    if engine == "ray":
        from lifelog.ingest.reindex_ray import reindex_on_ray

        return reindex_on_ray(memory.store, memory.vault, model, address=address, workers=workers,
                              progress=progress, cancel=cancel)
    if engine != "local":
        raise ValueError(f"unknown engine {engine!r} (use local or ray)")
    from lifelog.ingest.reindex import reindex
    from lifelog.ingest.reindex_ray import JOB_LOCK

    with job_lock(memory.store.data_dir, JOB_LOCK, "a re-index"):
        return reindex(memory.store, memory.vault, model, progress=progress, cancel=cancel)


def ray_installed() -> bool:
    """Is the optional Ray engine installed (``pip install 'lifelog[scale]'``)?"""
    from lifelog.ingest.reindex_ray import ray_installed as installed

    return installed()


def _line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


__all__ = [
    "DEFAULT_DESCRIPTION",
    "DEFAULT_NAME",
    "ENGINES",
    "FACE_MODELS",
    "OCR_MODEL",
    "RAY_MISSING",
    "FaceModels",
    "InstallCancelled",
    "InstallError",
    "InstallProgress",
    "InstalledModel",
    "JobBusy",
    "ModelFile",
    "ModelInUse",
    "ModelMissingError",
    "ModelRegistryError",
    "ModelSpec",
    "RayUnavailable",
    "ReindexProgress",
    "ReindexResult",
    "active_model",
    "active_name",
    "frames_to_reindex",
    "get_text_encoder",
    "get_visual_encoder",
    "install_model",
    "installed_models",
    "manifest",
    "models_in_use",
    "ray_installed",
    "read_installed",
    "reindex_image_text",
    "set_active",
    "spec",
]


def prepare_question_vocabulary() -> None:
    """Make the table of the vocabulary's text vectors when it is missing or stale, on a daemon
    thread (:mod:`lifelog.encoders.phrases`): a cold ``lifelog ask`` then starts without the text
    model. The app calls it once started; ``lifelog service`` does the same."""
    from lifelog.encoders.text import ensure_in_background

    ensure_in_background()
