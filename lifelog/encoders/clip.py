"""A CLIP/SigLIP-family image-text encoder on onnxruntime (an optional, installed model).

Two ONNX graphs and a ``tokenizer.json`` (CLIP byte-level BPE, read by ``tokenizers``), as the
manifest entry describes them (:class:`lifelog.encoders.registry.ModelSpec`):

* image: RGB → shorter side resized to ``image.size`` (bicubic), centre crop, ``/255``,
  ``(x - mean) / std``, (N, 3, S, S) float32 → ``image_output`` (N, dim);
* text: tokens padded/truncated to ``context_length`` with the pad token, int64 or int32
  ``text_input`` (+ ``attention_mask`` when the graph has that input) → ``text_output`` (N, dim).

Both outputs are L2-normalised here, so image and text vectors compare by a dot product. A
model whose outputs do not have the manifest's dimension is refused with a clear error (no
silent zero vectors). Sessions and the tokenizer load on first use; safe to share between threads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lifelog.encoders.base import ModelMissingError, ort_session, require_file
from lifelog.encoders.registry import InstalledModel, IOSpec

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

IMAGE_BATCH = 16
TEXT_BATCH = 32


class ModelSignatureError(ModelMissingError):
    """The installed files load but do not have the input/output signature of the manifest."""


class ClipEncoder:
    """Image and text vectors in one space from an installed CLIP-family model."""

    def __init__(self, model: InstalledModel, threads: int = 2) -> None:
        self.model = model
        self.spec = model.spec
        self.name: str = model.name
        self.version: str = model.version
        self.dim: int = model.spec.dim
        self.threads = threads
        self._visual = require_file(model.file_path("visual"))
        self._textual = require_file(model.file_path("textual"))
        self._tokenizer_path = require_file(model.file_path("tokenizer"))
        self._lock = threading.Lock()
        self._vsession: onnxruntime.InferenceSession | None = None
        self._tsession: onnxruntime.InferenceSession | None = None
        self._tok: Tokenizer | None = None

    @property
    def full_name(self) -> str:
        return f"{self.name}@{self.version}"

    # ------------------------------------------------------------------ loading
    def _visual_session(self) -> onnxruntime.InferenceSession:
        with self._lock:
            if self._vsession is None:
                s = ort_session(self._visual, self.threads)
                _require_io(s, self._visual, [self.spec.io.image_input], self.spec.io.image_output)
                self._vsession = s
            return self._vsession

    def _text(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        with self._lock:
            if self._tsession is None or self._tok is None:
                io = self.spec.io
                tok = load_tokenizer(self._tokenizer_path, io)
                s = ort_session(self._textual, self.threads)
                _require_io(s, self._textual, [io.text_input], io.text_output)
                self._tok, self._tsession = tok, s
            return self._tsession, self._tok

    # ----------------------------------------------------------------- encoding
    def encode_images(self, images: Sequence[npt.NDArray[Any]]) -> npt.NDArray[np.float32]:
        """(N, dim) float32 L2-normalised vectors for RGB uint8 images of any size."""
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        if not len(images):
            return out
        session = self._visual_session()
        io = self.spec.io
        for start in range(0, len(images), IMAGE_BATCH):
            chunk = images[start : start + IMAGE_BATCH]
            x = np.stack([self.preprocess(im) for im in chunk])
            (y,) = session.run([io.image_output], {io.image_input: x})
            out[start : start + len(chunk)] = self._check(np.asarray(y, dtype=np.float32), len(chunk), "image")
        return out

    def encode_texts(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """(N, dim) float32 L2-normalised vectors for texts (truncated at the context length)."""
        if isinstance(texts, str):
            raise TypeError("encode_texts() takes a sequence of strings, not one string")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        session, tok = self._text()
        io = self.spec.io
        dtype = np.int64 if io.text_dtype == "int64" else np.int32
        has_mask = io.text_mask_input in {i.name for i in session.get_inputs()}
        for start in range(0, len(texts), TEXT_BATCH):
            chunk = list(texts[start : start + TEXT_BATCH])
            enc = tok.encode_batch(chunk)
            feeds: dict[str, Any] = {io.text_input: np.asarray([e.ids for e in enc], dtype=dtype)}
            if has_mask:
                feeds[io.text_mask_input] = np.asarray([e.attention_mask for e in enc], dtype=dtype)
            (y,) = session.run([io.text_output], feeds)
            out[start : start + len(chunk)] = self._check(np.asarray(y, dtype=np.float32), len(chunk), "text")
        return out

    def tokenize(self, texts: Sequence[str]) -> npt.NDArray[np.int64]:
        """Token ids as the text model receives them (N, context_length)."""
        _, tok = self._text()
        return np.asarray([e.ids for e in tok.encode_batch(list(texts))], dtype=np.int64)

    def preprocess(self, image: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """RGB → shorter side to S (bicubic or bilinear), centre crop S×S, normalised (3, S, S)."""
        import cv2

        from lifelog.encoders.visual import to_rgb

        im = self.spec.image
        rgb = to_rgb(image)
        h, w = rgb.shape[:2]
        scale = im.size / min(h, w)
        nh, nw = max(im.size, round(h * scale)), max(im.size, round(w * scale))
        interp = cv2.INTER_CUBIC if im.interpolation == "bicubic" else cv2.INTER_LINEAR
        if scale < 1.0:
            interp = cv2.INTER_AREA  # shrinking: area averaging avoids aliasing
        resized = cv2.resize(rgb, (nw, nh), interpolation=interp)
        top, left = (nh - im.size) // 2, (nw - im.size) // 2
        crop = resized[top : top + im.size, left : left + im.size].astype(np.float32) / 255.0
        x = (crop - np.asarray(im.mean, dtype=np.float32)) / np.asarray(im.std, dtype=np.float32)
        chw: npt.NDArray[np.float32] = np.ascontiguousarray(x.transpose(2, 0, 1))
        return chw

    def _check(self, y: npt.NDArray[np.float32], n: int, what: str) -> npt.NDArray[np.float32]:
        if y.ndim != 2 or y.shape != (n, self.dim):
            path = self._visual if what == "image" else self._textual
            raise ModelSignatureError(path, f"gave {what} vectors of shape {y.shape}, expected ({n}, {self.dim})")
        if not np.isfinite(y).all():
            raise ModelSignatureError(self._visual if what == "image" else self._textual,
                                      f"gave non-finite {what} vectors")
        norms = np.linalg.norm(y, axis=1, keepdims=True)
        result: npt.NDArray[np.float32] = (y / np.clip(norms, 1e-12, None)).astype(np.float32)
        return result


def load_tokenizer(path: Path, io: IOSpec) -> Tokenizer:
    """The model's ``tokenizer.json``, set up as its text graph expects: ``context_length`` ids.

    Truncation keeps the special tokens (``<|startoftext|>`` + the first ``context_length - 2``
    tokens + ``<|endoftext|>``, as OpenAI's ``clip.tokenize(truncate=True)``); the rest is padded
    with ``pad_token`` (attention mask 0 there). CLIP's text model reads the first end-of-text
    position under a causal mask, so what follows it does not change the vector (OpenAI pads with
    id 0, Hugging Face with ``<|endoftext|>``). ``models/build.py`` checks this loader, on the
    built ``clip_tokenizer.json``, against open_clip's reference tokenizer.
    """
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises its own exception type for bad JSON
        raise ModelMissingError(path, f"is not a tokenizer.json ({e})") from e
    pad_id = tok.token_to_id(io.pad_token)
    if pad_id is None:
        raise ModelSignatureError(path, f"has no pad token {io.pad_token!r}")
    tok.enable_truncation(max_length=io.context_length)
    tok.enable_padding(length=io.context_length, pad_id=pad_id, pad_token=io.pad_token)
    return tok


def _require_io(session: onnxruntime.InferenceSession, file: Path, inputs: list[str], output: str) -> None:
    have_in = {i.name for i in session.get_inputs()}
    have_out = {o.name for o in session.get_outputs()}
    missing = [n for n in inputs if n not in have_in]
    if missing or output not in have_out:
        raise ModelSignatureError(
            file,
            f"does not have the manifest's signature: inputs {sorted(have_in)} (need {inputs}), "
            f"outputs {sorted(have_out)} (need {output!r})",
        )


_cache: dict[tuple[str, str], ClipEncoder] = {}
_cache_lock = threading.Lock()


def encoder_for(model: InstalledModel) -> ClipEncoder:
    """One :class:`ClipEncoder` per installed model directory and version, made on first use."""
    key = (str(model.path.resolve()), model.version)
    with _cache_lock:
        enc = _cache.get(key)
        if enc is None:
            enc = ClipEncoder(model)
            _cache[key] = enc
        return enc
