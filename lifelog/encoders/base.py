"""Shared pieces of the encoders: the missing-model error and the onnxruntime session factory.

onnxruntime is imported only when a session is made, so importing :mod:`lifelog.encoders` stays
cheap and does no model work.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    import onnxruntime

SETUP_HINT = "run `bash packaging/setup.sh` to build the models"


class ModelMissingError(RuntimeError):
    """A model file that :mod:`models.build` makes is missing or unreadable."""

    def __init__(self, path: Path, detail: str = "is missing") -> None:
        self.path = Path(path)
        super().__init__(f"model file {self.path} {detail}; {SETUP_HINT}")


def require_file(path: Path) -> Path:
    """Return ``path`` if it is a file, else raise :class:`ModelMissingError` naming it."""
    if not path.is_file():
        raise ModelMissingError(path)
    return path


def ort_session(path: Path, threads: int = 2) -> onnxruntime.InferenceSession:
    """Open an ONNX model on the CPU.

    ``threads`` sets the intra-op pool (the parallelism inside one operator); inter-op is 1 and
    execution sequential, because these models are chains. Worker threads do not spin while
    idle, so a lifelog encoding in the background leaves the laptop's cores alone between
    batches. Graph optimisation is at its highest level.
    """
    import onnxruntime as ort

    require_file(path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for corrupt files
        raise ModelMissingError(path, f"could not be loaded ({type(e).__name__}: {e})") from e


_sha_cache: dict[tuple[str, int, int], str] = {}
_sha_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """The sha256 of a file, cached per (path, size, mtime) so versions are cheap to ask again."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _sha_lock:
        cached = _sha_cache.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _sha_lock:
        _sha_cache[key] = digest
    return digest


_T = TypeVar("_T")


class Shared(Generic[_T]):
    """One instance per process, made on first use under a lock (models load lazily, once)."""

    def __init__(self, make: Callable[[], _T]) -> None:
        self._make = make
        self._value: _T | None = None
        self._lock = threading.Lock()

    def get(self) -> _T:
        with self._lock:
            if self._value is None:
                self._value = self._make()
            return self._value
