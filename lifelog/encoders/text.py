"""Sentence embeddings with all-MiniLM-L6-v2 (ONNX, run by onnxruntime; no torch).

Queries and the ImageNet label texts are embedded with the same model, so a query can be
compared with an image's ConSE vector (:mod:`lifelog.encoders.visual`) by a dot product.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lifelog.encoders.base import Shared, file_sha256, ort_session, require_file

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

    from lifelog.encoders.phrases import PhraseTable

ONNX_FILE = "minilm_l6_v2.onnx"
TOKENIZER_FILE = "tokenizer.json"
MAX_TOKENS = 256  # the sentence-transformers setting for all-MiniLM-L6-v2
BATCH = 32


class TextEncoder:
    """Embed text into the 384-d all-MiniLM-L6-v2 space (mean pooling, L2-normalised).

    Construction checks the files; :attr:`version` is computed when first asked for, the
    onnxruntime session and the tokenizer on the first :meth:`encode`. Safe to share between
    threads.
    """

    name: str = "all-minilm-l6-v2"
    dim: int = 384

    def __init__(self, models_dir: Path | None = None, threads: int = 2) -> None:
        """Use the models in ``models_dir`` (default :func:`lifelog.paths.models_dir`).

        Raises :class:`~lifelog.encoders.base.ModelMissingError` if a file is missing.
        """
        if models_dir is None:
            from lifelog.paths import models_dir as default_models_dir

            models_dir = default_models_dir()
        self.models_dir = Path(models_dir)
        self.threads = threads
        self._onnx_path = require_file(self.models_dir / ONNX_FILE)
        self._tokenizer_path = require_file(self.models_dir / TOKENIZER_FILE)
        self._lock = threading.Lock()
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._phrases: PhraseTable | None = None

    @property
    def model_files(self) -> list[Path]:
        """The files the model's vectors depend on (what the vocabulary table is keyed on)."""
        return [self._onnx_path, self._tokenizer_path]

    @property
    def version(self) -> str:
        """The model's version (its file's sha256, the token limit), recorded with what it made.

        Computed on first use and cached: hashing the 90 MB file is ~0.07 s of CPU that a
        question, which never records a vector, does not pay (issue #18)."""
        return f"onnx-{file_sha256(self._onnx_path)[:12]}-max{MAX_TOKENS}"

    def _load(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        with self._lock:
            if self._session is None or self._tokenizer is None:
                from tokenizers import Tokenizer

                tok = Tokenizer.from_file(str(self._tokenizer_path))
                tok.enable_truncation(max_length=MAX_TOKENS)
                tok.enable_padding(pad_id=0, pad_token="[PAD]")
                self._tokenizer = tok
                self._session = ort_session(self._onnx_path, self.threads)
            return self._session, self._tokenizer

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return a (N, 384) float32 array of L2-normalised embeddings, one row per text.

        Texts are batched internally (sorted by length to pad little) and truncated at 256
        tokens. An empty sequence gives a (0, 384) array.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not one string")
        if texts and self._session is None:
            # the model not started yet (a one-question process): the vocabulary's vectors, when
            # every text is in it, are the model's own (lifelog.encoders.phrases)
            if self._phrases is None:
                from lifelog.encoders.phrases import PhraseTable, table_path

                self._phrases = PhraseTable(table_path(), self.model_files)
            known = self._phrases.lookup(texts)
            if known is not None:
                return known
        return self.encode_with_model(texts)

    def encode_with_model(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """:meth:`encode` by the model itself, whatever the vocabulary table holds."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        session, tok = self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            enc = tok.encode_batch([texts[i] for i in idx])
            ids = np.asarray([e.ids for e in enc], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
            feeds: dict[str, Any] = {
                "input_ids": ids,
                "attention_mask": mask,
                "token_type_ids": np.zeros_like(ids),
            }
            (hidden,) = session.run(["last_hidden_state"], feeds)
            out[idx] = _mean_pool_normalise(np.asarray(hidden, dtype=np.float32), mask)
        return out


def _mean_pool_normalise(
    hidden: npt.NDArray[np.float32], mask: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    m = mask[..., None].astype(np.float32)
    summed = (hidden * m).sum(axis=1)
    pooled = summed / np.clip(m.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    result: npt.NDArray[np.float32] = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
    return result


_shared: Shared[TextEncoder] = Shared(TextEncoder)


def get_text_encoder() -> TextEncoder:
    """The process-wide :class:`TextEncoder` on the default models dir, made on first use."""
    return _shared.get()


def ensure_phrase_table(encoder: TextEncoder | None = None, stop: threading.Event | None = None) -> Path | None:
    """Make the table of the vocabulary's vectors (:mod:`lifelog.encoders.phrases`) when it is
    missing or stale: a few seconds of the model, in chunks of :data:`PHRASE_CHUNK` with ``stop``
    looked at between them. Its path, or None when it was stopped or cannot be written (a
    read-only cache folder: questions use the model)."""
    from lifelog.encoders.phrases import is_current, table_path, vocabulary, write_table

    enc = encoder or get_text_encoder()
    path = table_path()
    if is_current(path, enc.model_files):
        return path
    texts = vocabulary(enc.models_dir)
    parts = []
    for i in range(0, len(texts), PHRASE_CHUNK):
        if stop is not None and stop.is_set():
            return None
        parts.append(enc.encode_with_model(texts[i:i + PHRASE_CHUNK]))
    vectors = np.concatenate(parts) if parts else np.zeros((0, enc.dim), np.float32)
    try:
        return write_table(path, texts, vectors, enc.model_files)
    except OSError:
        return None


PHRASE_CHUNK = 64  # phrases embedded between two looks at a stop (~0.05-0.1 s of the model)
_BACKGROUND_STOP_S = 5.0


def ensure_in_background() -> threading.Thread:
    """:func:`ensure_phrase_table` on a daemon thread (the service and the app, once started).

    The process's exit stops it and waits for it (an ``atexit`` function, at most a chunk's
    time): a model left running on a thread while the interpreter tears down aborts the
    process ("terminate called without an active exception")."""
    import atexit

    stop = threading.Event()

    def work() -> None:
        with contextlib.suppress(Exception):  # no model, no room: questions use the model as before
            ensure_phrase_table(stop=stop)

    th = threading.Thread(target=work, name="lifelog-phrases", daemon=True)

    def at_exit() -> None:
        stop.set()
        th.join(timeout=_BACKGROUND_STOP_S)

    atexit.register(at_exit)
    th.start()
    return th
