"""Text in images: read signs, screens and labels in kept frames; search them by keyword.

The model is PP-OCRv4 (detection + recognition ONNX models shipped inside the
``rapidocr-onnxruntime`` wheel), run on onnxruntime with 2 threads. See ``docs/ocr.md``.

Two analyzers run inside the import (:func:`ocr_analyzers` makes the pair):

* :class:`OcrAnalyzer` (name ``ocr``, table ``ocr``) reads each frame and returns one row per
  text line: the text as vault ciphertext (aad ``ocr:<id>``), its box, its confidence;
* :class:`OcrTermsAnalyzer` (name ``ocr-terms``, table ``ocr_terms``) returns the blind keyword
  index rows (keyed hashes of the normalised words, :mod:`lifelog.speech.store`) of the lines the
  OCR analyzer just read. It does no work of its own: it hands over what its OCR analyzer kept
  for the same batch, so the importer writes both tables in its crash-safe sequence (before the
  episode rows, after the journal entry) and a rolled-back import removes both (both tables
  have ``media_id``). No post-import step is needed and no text is ever searchable without
  its index rows, or indexed without its text.

Cost: detection runs on every kept frame (≈20–70 ms at 640 px on 2 threads when there is no
text); recognition only runs on the boxes the detector found (a frame with a sign ≈150–250 ms).

Search: :func:`search_ocr` (all words, in one frame) and :func:`ocr_episode_hits` (scored, for
recall) hash the query's words the same way and decrypt only the matched lines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from lifelog.store.sql import window_conditions
from lifelog.store.terms import index_terms, query_terms

if TYPE_CHECKING:
    from lifelog.ingest.analyzers import FrameInput
    from lifelog.store.db import Store
    from lifelog.store.vault import Vault

log = logging.getLogger(__name__)

MODEL = "rapidocr-onnxruntime@1.4.4/PP-OCRv4"
#: Lines the recogniser is less sure of are dropped. Measured on the sample images at 640 px:
#: real sign text scored 0.86–1.0 (one stylised word 0.75); false reads on textless photos
#: ("中", "O", "8", "★", "H政") scored 0.51–0.80 and were all 1–2 characters long.
MIN_SCORE = 0.8
#: A line needs this many letters/digits (drops single-glyph false reads on textures).
MIN_CHARS = 3
DET_SIDE = 640  # the detector's input is scaled so its longer side is at most this
THREADS = 2


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
        return _engine


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


# --------------------------------------------------------------------------- the analyzers
def ocr_id(frame_id: str, line: int) -> str:
    return f"{frame_id}-o{line:02d}"


@dataclass
class OcrStats:
    frames: int = 0
    frames_with_text: int = 0
    lines: int = 0
    seconds: float = 0.0

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.seconds / self.frames if self.frames else 0.0


@dataclass
class _Handover:
    frame_ids: tuple[str, ...] = ()
    ok: bool = False
    terms: list[dict[str, Any]] = field(default_factory=list)


class OcrAnalyzer:
    """The import's OCR stage: rows of :data:`lifelog.store.db.OCR_SCHEMA` (text encrypted)."""

    name = "ocr"
    table = "ocr"

    def __init__(
        self, vault: Vault, engine: Any = None, min_score: float = MIN_SCORE, min_interval_s: float = 0.0
    ) -> None:
        # OCR costs ~200 ms on a frame with text: read at most one frame per ``min_interval_s``
        # (a sign in view for that long is read; the import keeps its speed).
        self.min_interval_s = min_interval_s
        self._last_t: datetime | None = None
        self.vault = vault
        self._engine = engine
        self.min_score = min_score
        self.stats = OcrStats()
        self._handover = _Handover()
        self.terms = OcrTermsAnalyzer(self)

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = get_engine()
        return self._engine

    def analyze(self, frames: Sequence[FrameInput]) -> list[dict[str, Any]]:
        from lifelog.store.blind_index import index_key, term_hash

        self._handover = _Handover(tuple(f.frame_id for f in frames))
        if not frames:
            self._handover.ok = True
            return []
        key = index_key(self.vault)
        rows: list[dict[str, Any]] = []
        terms: list[dict[str, Any]] = []
        engine = self.engine  # loads the models on first use (not counted in the stats)
        for f in frames:
            if self._last_t is not None and 0 <= (f.t - self._last_t).total_seconds() < self.min_interval_s:
                continue
            self._last_t = f.t
            t0 = time.perf_counter()
            lines = read_text(f.rgb, engine, self.min_score)
            self.stats.seconds += time.perf_counter() - t0
            self.stats.frames += 1
            self.stats.frames_with_text += bool(lines)
            self.stats.lines += len(lines)
            for k, line in enumerate(lines):
                oid = ocr_id(f.frame_id, k)
                rows.append(
                    {
                        "id": oid,
                        "frame_id": f.frame_id,
                        "t": f.t,
                        "text_enc": self.vault.encrypt_text(line.text, f"ocr:{oid}"),
                        "box": list(line.box),
                        "score": line.score,
                        "model": MODEL,
                    }
                )
                for term in sorted(index_terms(line.text)):
                    terms.append({"term": term_hash(key, term), "ocr_id": oid, "frame_id": f.frame_id, "t": f.t})
        self._handover.terms = terms
        self._handover.ok = True
        return rows


class OcrTermsAnalyzer:
    """Hands the importer the blind-index rows of the batch its :class:`OcrAnalyzer` just read.

    Must come right after its OCR analyzer in the importer's list (:func:`ocr_analyzers`).
    """

    name = "ocr-terms"
    table = "ocr_terms"

    def __init__(self, ocr: OcrAnalyzer) -> None:
        self.ocr = ocr

    def analyze(self, frames: Sequence[FrameInput]) -> list[dict[str, Any]]:
        h = self.ocr._handover
        if h.frame_ids != tuple(f.frame_id for f in frames):
            raise RuntimeError("the ocr-terms analyzer must run right after its ocr analyzer, on the same frames")
        if not h.ok:  # OCR of this batch failed (the importer already warned): nothing to index
            return []
        terms, h.terms = h.terms, []
        return terms


def ocr_analyzers(vault: Vault, engine: Any = None, min_interval_s: float = 0.0) -> list[Any]:
    """``[OcrAnalyzer, OcrTermsAnalyzer]`` — add both to the importer's analyzers, in this order."""
    a = OcrAnalyzer(vault, engine, min_interval_s=min_interval_s)
    return [a, a.terms]


# --------------------------------------------------------------------------- search
Window = tuple[datetime | None, datetime | None]


def _window_where(window: Window | None) -> list[str]:
    return window_conditions(*(window or (None, None)))


@dataclass(frozen=True)
class _FrameMatch:
    frame_id: str
    episode_id: str | None
    t: datetime
    terms: set[str]  # matched term hashes
    lines: dict[str, set[str]]  # ocr id -> matched term hashes


def _match_frames(
    store: Store, vault: Vault, terms: Sequence[str], window: Window | None
) -> tuple[dict[str, str], list[_FrameMatch]]:
    """(hash → term, frames where any of ``terms`` was read)."""
    from lifelog.store.blind_index import index_key, term_hash
    from lifelog.store.sql import sql_in

    if not terms:
        return {}, []
    key = index_key(vault)
    hashes = {term_hash(key, t): t for t in terms}
    where = [sql_in("term", hashes), *_window_where(window)]
    hidden = store.committed_filter()
    if hidden:
        where.append(hidden)
    rows = store.rows(
        "ocr_terms", " AND ".join(where), columns=["term", "ocr_id", "frame_id", "episode_id", "t"]
    ).to_pylist()
    frames: dict[str, _FrameMatch] = {}
    for r in rows:
        fm = frames.get(r["frame_id"])
        if fm is None:
            fm = frames[r["frame_id"]] = _FrameMatch(r["frame_id"], r["episode_id"], r["t"], set(), {})
        fm.terms.add(r["term"])
        fm.lines.setdefault(r["ocr_id"], set()).add(r["term"])
    return hashes, sorted(frames.values(), key=lambda f: (f.t, f.frame_id))


def _load_lines(store: Store, vault: Vault, ids: Sequence[str]) -> dict[str, tuple[str, float]]:
    """ocr id → (decrypted text, score)."""
    from lifelog.store.sql import sql_in

    if not ids:
        return {}
    rows = store.rows("ocr", sql_in("id", ids), columns=["id", "text_enc", "score"]).to_pylist()
    return {r["id"]: (vault.decrypt_text(r["text_enc"], f"ocr:{r['id']}"), float(r["score"] or 0.0)) for r in rows}


def search_ocr(
    store: Store, vault: Vault, words_: str | Sequence[str], window: Window | None = None
) -> list[tuple[str, str | None, datetime, str, float]]:
    """Frames whose text holds **all** the (non-stop) words, in time order.

    One result per frame: ``(ocr id of its first matching line, episode id, time, text of the
    matching lines joined by " / " in reading order, lowest score among them)``. Words are
    normalised like speech (case, accents, plurals, numbers). A sign's words are often on
    separate lines, so the words must be in one frame, not in one line.
    """
    hashes, frames = _match_frames(store, vault, query_terms(words_), window)
    hits = [f for f in frames if len(f.terms) == len(hashes)]
    texts = _load_lines(store, vault, sorted({o for f in hits for o in f.lines}))
    out = []
    for f in hits:
        ids = sorted(o for o in f.lines if o in texts)
        if not ids:
            continue
        out.append((ids[0], f.episode_id, f.t, " / ".join(texts[o][0] for o in ids), min(texts[o][1] for o in ids)))
    return out


def ocr_episode_hits(
    store: Store, vault: Vault, subject: str, window: Window | None = None
) -> list[tuple[str, float, str, datetime]]:
    """For recall: ``(episode id, score 0..1, evidence text, time)``, best first, one per episode.

    Scoring: the question's subject is reduced to its index terms (stop words dropped). A frame
    scores ``coverage × confidence``, where coverage = matched terms / subject terms and
    confidence = mean recogniser score of the lines that matched; a frame counts only if it
    matched at least half of the terms (at least one). An episode takes its best frame (ties:
    the earliest); evidence is that frame's matched lines, and the time is that frame's time.
    """
    terms = query_terms(subject)
    hashes, frames = _match_frames(store, vault, terms, window)
    need = max(1, (len(hashes) + 1) // 2)
    frames = [f for f in frames if len(f.terms) >= need]
    if not frames:
        return []
    texts = _load_lines(store, vault, sorted({o for f in frames for o in f.lines}))
    best: dict[str, tuple[float, str, datetime]] = {}
    for f in frames:
        ids = sorted(o for o in f.lines if o in texts)
        if not ids or f.episode_id is None:
            continue
        conf = float(np.mean([texts[o][1] for o in ids]))
        score = min(1.0, len(f.terms) / len(hashes)) * conf
        cur = best.get(f.episode_id)
        if cur is None or score > cur[0]:
            best[f.episode_id] = (score, " / ".join(texts[o][0] for o in ids), f.t)
    return sorted(((e, s, txt, t) for e, (s, txt, t) in best.items()), key=lambda x: (-x[1], x[3]))
