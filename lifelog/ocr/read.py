"""The OCR model (PP-OCRv4 from the rapidocr-onnxruntime wheel) and reading one image."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)



MODEL = "rapidocr-onnxruntime@1.4.4/PP-OCRv4"
#: Lines the recogniser is less sure of are dropped. Measured on the sample images at 640 px:
#: real sign text scored 0.86–1.0 (one stylised word 0.75); false reads on textless photos
#: ("中", "O", "8", "★", "H政") scored 0.51–0.80 and were all 1–2 characters long.
MIN_SCORE = 0.8
#: A line needs this many letters/digits (drops single-glyph false reads on textures).
MIN_CHARS = 3
DET_SIDE = 640  # the detector's input is scaled so its longer side is at most this
# Two onnxruntime threads that never spin while they wait (issue 21): the import runs OCR on its
# analysis lane beside the encoder and the object detector (lifelog.ingest.pipeline). rapidocr's
# own sessions let their pool threads spin: with two such threads OCR burnt ~5 s more CPU on the
# 10-minute bench video than with one, and one thread made OCR, the lane the import waits for,
# slower whenever the other core was free (docs/ocr.md). :func:`_quiet_sessions` rebuilds them.
THREADS = 2
_MODEL_FILES = {"text_det": "ch_PP-OCRv4_det_infer.onnx", "text_cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
                "text_rec": "ch_PP-OCRv4_rec_infer.onnx"}


# --------------------------------------------------------------------------- the model
_engine: Any = None
_engine_lock = threading.Lock()


def get_engine() -> Any:
    """The shared RapidOCR engine (loaded on first use; ~16 MB of ONNX models)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            _engine = RapidOCR(
                intra_op_num_threads=THREADS,
                inter_op_num_threads=1,
                det_limit_side_len=DET_SIDE,
                det_limit_type="max",
                text_score=0.5,  # the library's own floor; MIN_SCORE is applied here
            )
            _quiet_sessions(_engine)
        return _engine


def _quiet_sessions(engine: Any) -> None:
    """Open the engine's three models again with rapidocr's options plus worker threads that
    sleep instead of spinning while they wait (as every other lifelog model,
    ``lifelog.encoders.base.ort_session``). A part this rapidocr version lays out otherwise
    keeps its own session."""
    from pathlib import Path

    import onnxruntime as ort
    import rapidocr_onnxruntime

    models = Path(rapidocr_onnxruntime.__file__).resolve().parent / "models"
    for attr, name in _MODEL_FILES.items():
        part = getattr(engine, attr, None)
        wrapper = getattr(part, "infer", None) or getattr(part, "session", None)  # det: .infer; cls, rec: .session
        if wrapper is None or not isinstance(getattr(wrapper, "session", None), ort.InferenceSession) \
                or not (models / name).is_file():
            continue
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        opts.enable_cpu_mem_arena = False  # as rapidocr: its inputs change size from call to call
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = THREADS
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        wrapper.session = ort.InferenceSession(str(models / name), sess_options=opts,
                                             providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float
    box: tuple[float, float, float, float]  # x, y, w, h as fractions of the image


def _alnum(text: str) -> int:
    return sum(c.isalnum() for c in text)


def read_text(rgb: np.ndarray[Any, Any], engine: Any = None, min_score: float = MIN_SCORE) -> list[TextLine]:
    """The text lines of one RGB uint8 image, top to bottom, that pass the thresholds."""
    import cv2

    eng = engine if engine is not None else get_engine()
    img = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)  # rapidocr takes arrays as OpenCV BGR
    h, w = bgr.shape[:2]
    result, _elapsed = eng(bgr)  # no boxes found → (None, None) and recognition is skipped
    lines: list[TextLine] = []
    for quad, text, score in result or []:
        text = " ".join(str(text).split())
        if float(score) < min_score or _alnum(text) < MIN_CHARS:
            continue
        pts = np.asarray(quad, dtype=np.float32).reshape(-1, 2)
        x0, y0 = max(float(pts[:, 0].min()), 0.0), max(float(pts[:, 1].min()), 0.0)
        x1, y1 = min(float(pts[:, 0].max()), float(w)), min(float(pts[:, 1].max()), float(h))
        lines.append(TextLine(text, float(score), (x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h)))
    return lines


