"""Image-text models and the other models a memory uses, for the front ends.

* the registry of optional CLIP/SigLIP-family models (:mod:`lifelog.encoders.registry`): the
  manifest, what is installed in a memory, which one is active, switching it;
* installing one (download, verify, install: :func:`install_model`, cancellable, with progress);
* what each part of the pipeline uses (:func:`models_in_use`): the visual and text encoders,
  the face models, speech and OCR.

Re-indexing existing frames with the active model is :meth:`lifelog.api.Memory.reindex_image_text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
from lifelog.ocr.read import MODEL as OCR_MODEL
from lifelog.store.db import Store

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


def _line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


__all__ = [
    "DEFAULT_DESCRIPTION",
    "DEFAULT_NAME",
    "FACE_MODELS",
    "OCR_MODEL",
    "FaceModels",
    "InstallCancelled",
    "InstallError",
    "InstallProgress",
    "InstalledModel",
    "ModelFile",
    "ModelInUse",
    "ModelMissingError",
    "ModelRegistryError",
    "ModelSpec",
    "active_model",
    "active_name",
    "frames_to_reindex",
    "get_text_encoder",
    "get_visual_encoder",
    "install_model",
    "installed_models",
    "manifest",
    "models_in_use",
    "read_installed",
    "set_active",
    "spec",
]
