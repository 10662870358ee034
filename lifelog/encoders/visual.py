"""Images to vectors with EfficientNet-Lite0 (ImageNet-1k, ONNX on onnxruntime; no torch).

Two vectors per image:

* ``features``: the classifier's pooled penultimate layer (1280-d), for image-to-image
  similarity (near duplicates, scene cuts, "moments like this");
* ``semantic``: a ConSE vector (Norouzi et al., ICLR 2014) in the text encoder's space: the
  probability-weighted sum of the MiniLM embeddings of the top-k ImageNet labels' "lemmas: gloss"
  texts, L2-normalised. A text query embedded by :class:`~lifelog.encoders.text.TextEncoder` is
  compared with it by a dot product.

ImageNet has no person, gym or many indoor-scene classes: the semantic vector is one signal
among others (OCR, faces, transcripts), not the whole of recall.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lifelog.encoders.base import ModelMissingError, Shared, file_sha256, ort_session, require_file

if TYPE_CHECKING:
    import onnxruntime

ONNX_FILE = "efficientnet_lite0.onnx"
LABELS_FILE = "imagenet_labels.json"
LABEL_VECTORS_FILE = "imagenet_label_vectors.npy"
SIZE = 224
# Images per model run. onnxruntime's arena keeps the largest run's activations for the life of
# the session: 16 at a time held ~280 MB, 8 hold ~180 MB, and 8 cost no more CPU per image
# (measured, issue 21: 11.5 against 13.8 ms per image on 2 threads).
MAX_BATCH = 8
TOP_LABELS = 5


@dataclass(frozen=True)
class VisualBatch:
    """What :meth:`VisualEncoder.encode` returns for N images (rows in input order)."""

    features: npt.NDArray[np.float32]
    """(N, 1280) float32, L2-normalised penultimate features (image-to-image similarity)."""
    semantic: npt.NDArray[np.float32]
    """(N, 384) float32, L2-normalised ConSE vectors in the TextEncoder space."""
    labels: list[list[tuple[str, float]]]
    """Top-5 (lemma, probability) per image, best first."""


class VisualEncoder:
    """EfficientNet-Lite0 features, ImageNet labels and ConSE vectors for RGB images.

    Construction checks the files, loads the 1000 label names and vectors and computes
    :attr:`version`; the onnxruntime session is made on the first :meth:`encode`.
    Safe to share between threads.
    """

    name: str = "efficientnet-lite0-conse"
    feature_dim: int = 1280
    semantic_dim: int = 384

    def __init__(self, models_dir: Path | None = None, threads: int = 2, top_k: int = 10) -> None:
        """Use the models in ``models_dir`` (default :func:`lifelog.paths.models_dir`).

        ``top_k`` labels make up each ConSE vector. Raises
        :class:`~lifelog.encoders.base.ModelMissingError` if a file is missing.
        """
        if models_dir is None:
            from lifelog.paths import models_dir as default_models_dir

            models_dir = default_models_dir()
        if not 1 <= top_k <= 1000:
            raise ValueError(f"top_k must be within 1..1000, not {top_k}")
        self.models_dir = Path(models_dir)
        self.threads = threads
        self.top_k = top_k
        self._onnx_path = require_file(self.models_dir / ONNX_FILE)
        labels_path = require_file(self.models_dir / LABELS_FILE)
        vectors_path = require_file(self.models_dir / LABEL_VECTORS_FILE)
        try:
            entries = json.loads(labels_path.read_text(encoding="utf-8"))
            self.label_names: list[str] = [str(e["lemma"]) for e in entries]
            self.label_vectors: npt.NDArray[np.float32] = np.load(vectors_path).astype(np.float32, copy=False)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelMissingError(labels_path, f"or {vectors_path.name} is unreadable ({e})") from e
        if len(self.label_names) != 1000 or self.label_vectors.shape != (1000, self.semantic_dim):
            raise ModelMissingError(vectors_path, "does not match the 1000 ImageNet labels")
        self._vectors_path = vectors_path
        self._lock = threading.Lock()
        self._session: onnxruntime.InferenceSession | None = None

    @property
    def version(self) -> str:
        """The model's version (its files' sha256, ``top_k``), recorded with what it made.

        Computed when first asked for (the hashes are cached): hashing the 18 MB model is ~0.02 s
        of CPU that a question, which records no vector, does not pay (issue #18)."""
        return (f"onnx-{file_sha256(self._onnx_path)[:12]}-labels-{file_sha256(self._vectors_path)[:12]}"
                f"-k{self.top_k}")

    def _get_session(self) -> onnxruntime.InferenceSession:
        with self._lock:
            if self._session is None:
                self._session = ort_session(self._onnx_path, self.threads)
            return self._session

    def encode(self, images: Sequence[npt.NDArray[Any]]) -> VisualBatch:
        """Encode RGB uint8 images (H, W, 3) of any size, in batches of up to :data:`MAX_BATCH`.

        Grayscale (H, W) or (H, W, 1) and RGBA (H, W, 4) are converted to RGB (alpha is
        dropped). Raises ValueError for other shapes or dtypes.
        """
        n = len(images)
        features = np.zeros((n, self.feature_dim), dtype=np.float32)
        semantic = np.zeros((n, self.semantic_dim), dtype=np.float32)
        labels: list[list[tuple[str, float]]] = []
        if n == 0:
            return VisualBatch(features, semantic, labels)
        session = self._get_session()
        for start in range(0, n, MAX_BATCH):
            chunk = images[start : start + MAX_BATCH]
            x = np.stack([preprocess(im) for im in chunk])
            logits, feats = session.run(["logits", "features"], {"image": x})
            probs = _softmax(np.asarray(logits, dtype=np.float64))
            end = start + len(chunk)
            features[start:end] = _l2(np.asarray(feats, dtype=np.float32))
            top = np.argsort(-probs, axis=1)[:, : max(self.top_k, TOP_LABELS)]
            for row, (p, order) in enumerate(zip(probs, top, strict=True)):
                k = order[: self.top_k]
                vec = (p[k, None] * self.label_vectors[k]).sum(axis=0)
                semantic[start + row] = vec / max(float(np.linalg.norm(vec)), 1e-12)
                labels.append([(self.label_names[i], float(p[i])) for i in order[:TOP_LABELS]])
        return VisualBatch(features, semantic, labels)


def to_rgb(image: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """Return ``image`` as a contiguous (H, W, 3) uint8 RGB array (grayscale and RGBA converted)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(
            f"expected an RGB (H, W, 3), grayscale (H, W) or RGBA (H, W, 4) image, got {a.shape}"
        )
    return np.ascontiguousarray(a)


def preprocess(image: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """RGB, resize to 224x224, ``(x - 127) / 128`` (TF-lite normalisation), as (3, 224, 224) float32."""
    import cv2

    rgb = to_rgb(image)
    h, w = rgb.shape[:2]
    interp = cv2.INTER_AREA if h > SIZE or w > SIZE else cv2.INTER_LINEAR
    resized = cv2.resize(rgb, (SIZE, SIZE), interpolation=interp)
    x = (resized.astype(np.float32) - 127.0) / 128.0
    chw: npt.NDArray[np.float32] = np.ascontiguousarray(x.transpose(2, 0, 1))
    return chw


def _softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    result: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return result


def _l2(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    result: npt.NDArray[np.float32] = (x / np.clip(norms, 1e-12, None)).astype(np.float32)
    return result


_shared: Shared[VisualEncoder] = Shared(VisualEncoder)


def get_visual_encoder() -> VisualEncoder:
    """The process-wide :class:`VisualEncoder` on the default models dir, made on first use."""
    return _shared.get()
